"""The only module that prints: progress to stderr, results to stdout, secrets redacted
(every line goes through `scaffold.redact.redact`)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

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

    # Progress ----------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, *, enabled: bool = True) -> Iterator[Callable[[Any], None]]:
        """A callback for `scaffold.loadtest.Progress` updates: a live bar (rich) on a
        terminal, one line per level otherwise, nothing in --quiet or when not enabled."""
        if self.level < NORMAL or not enabled:
            yield lambda _update: None
            return
        if not self.err.isatty():
            seen: set[int] = set()

            def plain(update: Any) -> None:
                if update.level not in seen:
                    seen.add(update.level)
                    where = (
                        f"Level {update.level}/{update.levels}"
                        if update.level <= update.levels
                        else "Finding the knee"
                    )
                    self.step(f"{where}: concurrency {update.concurrency}")

            yield plain
            return
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sent]} requests"),
            TimeElapsedColumn(),
            console=RichConsole(file=self.err),
            transient=False,
        )
        tasks: dict[int, Any] = {}

        def live(update: Any) -> None:
            if update.level not in tasks:
                where = (
                    f"{update.level}/{update.levels}" if update.level <= update.levels else "knee"
                )
                tasks[update.level] = bar.add_task(
                    f"concurrency {update.concurrency:>4} ({where})",
                    total=1.0,
                    sent=0,
                )
            done = max(update.sent / update.max_requests, update.elapsed / update.seconds)
            bar.update(tasks[update.level], completed=min(1.0, done), sent=update.sent)

        with bar:
            yield live
