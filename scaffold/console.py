"""The only module that prints: progress to stderr, results to stdout, secrets redacted
(every line goes through `scaffold.redact.redact`)."""

from __future__ import annotations

import sys
from typing import TextIO

from scaffold.errors import ScaffoldError
from scaffold.redact import redact

QUIET, NORMAL, VERBOSE = 0, 1, 2


class Console:
    """Renders progress (a Reporter for the core) and results at a verbosity level."""

    def __init__(
        self, level: int = NORMAL, out: TextIO | None = None, err: TextIO | None = None
    ) -> None:
        self.level = level
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    # Reporter protocol -------------------------------------------------------------
    def step(self, message: str) -> None:
        """Show a new phase (not in --quiet)."""
        if self.level >= NORMAL:
            print(redact(f"==> {message}"), file=self.err, flush=True)

    def detail(self, line: str, *, important: bool = False) -> None:
        """Show tool output: condensed by default, all of it with --verbose."""
        if self.level >= VERBOSE or (important and self.level >= NORMAL):
            print(redact(f"    {line}"), file=self.err, flush=True)

    # Results -----------------------------------------------------------------------
    def result(self, message: str) -> None:
        """Print the outcome (always, also in --quiet)."""
        print(redact(message), file=self.out, flush=True)

    def error(self, error: ScaffoldError) -> None:
        """Print a user error: one line, then its details (logs) unless --quiet."""
        print(redact(f"error: {error.message}"), file=self.err, flush=True)
        if error.details and self.level >= NORMAL:
            print(redact(error.details.rstrip()), file=self.err, flush=True)
