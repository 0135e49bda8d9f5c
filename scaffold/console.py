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


def printable(text: str, stream: TextIO) -> str:
    """`text` as `stream` can encode it: bytes of a file name that are not UTF-8 (kept by
    Python as surrogates) shown as U+FFFD, other characters the stream's encoding lacks as
    escapes, so printing never fails after the work is done."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text


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
            print(printable(redact(f"==> {message}"), self.err), file=self.err, flush=True)

    def detail(self, line: str, *, important: bool = False) -> None:
        """Show tool output: condensed by default, all of it with --verbose."""
        if self.level >= VERBOSE or (important and self.level >= NORMAL):
            print(printable(redact(f"    {line}"), self.err), file=self.err, flush=True)

    # Results -----------------------------------------------------------------------
    def result(self, message: str) -> None:
        """Print the outcome (always, also in --quiet)."""
        print(printable(redact(message), self.out), file=self.out, flush=True)

    def error(self, error: ScaffoldError) -> None:
        """Print a user error: one line, then its details (logs) unless --quiet."""
        print(printable(redact(f"error: {error.message}"), self.err), file=self.err, flush=True)
        if error.details and self.level >= NORMAL:
            print(printable(redact(error.details.rstrip()), self.err), file=self.err, flush=True)

    # Questions (`scaffold new` on a terminal) --------------------------------------------
    def _width(self) -> int:
        """The terminal's width (asked of the terminal itself: a COLUMNS variable left over
        from another program must not decide it)."""
        import os
        import shutil

        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = shutil.get_terminal_size((80, 24)).columns
        return max(30, columns - 1)

    def _wrapped(self, text: str, indent: str = "") -> None:
        import textwrap

        for line in textwrap.wrap(text, self._width(), initial_indent=indent,
                                  subsequent_indent=" " * len(indent)):  # fmt: skip
            print(redact(line), file=self.out, flush=True)

    def ask(self, question: Any, *, again: bool = False) -> Any:
        """Show a question's help wrapped to the terminal's width (never cut; not again
        after a refused answer), then prompt for it with a short message; returns what was
        typed or chosen. Ctrl-C raises KeyboardInterrupt."""
        import questionary

        default = question.default
        if not again:
            print(file=self.out, flush=True)
            self._wrapped(question.help)
        if question.kind == "choice":
            choices = [
                questionary.Choice(title=self._fit(label), value=value)
                for label, value in question.choices
            ]
            chosen = next((c for c in choices if c.value == default), None)
            return questionary.select(question.name, choices=choices, default=chosen).unsafe_ask()
        if question.kind == "bool":
            return questionary.confirm(question.name, default=bool(default)).unsafe_ask()
        if default not in (None, "") and not again:
            self._wrapped(f"(Enter keeps {default})", "  ")
        return questionary.text(f"{question.name}:").unsafe_ask()

    def _fit(self, label: str) -> str:
        room = self._width() - 6
        return label if len(label) <= room else label[: max(1, room - 1)] + "…"

    def ask_error(self, message: str) -> None:
        """Show why an answer was refused, right under the prompt, wrapped (never cut)."""
        self._wrapped(message, "  ✗ ")

    # Progress ----------------------------------------------------------------------
    @contextlib.contextmanager
    def progress(self, *, enabled: bool = True) -> Iterator[Callable[[Any], None]]:
        """A callback for `scaffold.loadengine.Progress` updates: a live bar (rich) on a
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
