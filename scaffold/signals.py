"""Signal handling for long runs: SIGINT and SIGTERM unwind the stack like Ctrl-C.

`install()` (called by the CLI) makes both signals raise `errors.Interrupted`, so the
`finally` blocks that stop and remove containers run whether the user pressed Ctrl-C or
CI, `timeout` or an IDE sent SIGTERM. Cleanup code runs inside `shielded()`: a signal that
arrives meanwhile is held back and raised when the cleanup is done, so a second Ctrl-C
cannot leave a container half-removed.

`hold_until_exit()` (called by the CLI when it runs as the program, once the command has
finished) closes the window between the command's end and the process exit: Python's
finalisation resets Python-level handlers to the default action (terminate) before it tears
the modules down, about 0.1 s for a process that imported copier, so a Ctrl-C or SIGTERM
landing there killed a process whose work was done (exit -2/-15 instead of its own code).
Signals ignored at the OS level stay ignored through finalisation.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from scaffold.errors import Interrupted

_lock = threading.Lock()
_shield_depth = 0
_pending: int | None = None
#: Set once the command has finished (hold_until_exit, or finish() in the program):
#: signals no longer interrupt.
_exiting = False
#: True when the scaffold program itself installed the handlers (main() without argv).
_program = False
#: The first SIGINT/SIGTERM since `install()`, or None.
_received: int | None = None


def received() -> int | None:
    """The signal that arrived since `install()` (None if none did). An exception raised
    while Python was importing a module or inside a library that caught the interrupt and
    failed otherwise (e.g. `TypeError: expected a message argument` out of an interrupted
    `import`) is the interrupt's doing when this is set."""
    return _received


def _handler(signum: int, _frame: FrameType | None) -> None:
    global _pending, _received
    if _exiting:
        return
    _received = _received or signum
    with _lock:
        if _shield_depth:
            _pending = _pending or signum
            return
    raise Interrupted(signum)


def install(*, program: bool = False) -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only; a no-op elsewhere).
    `program`: the scaffold program runs (the process exits when the command is done), so
    `finish()` takes effect."""
    global _received, _exiting, _program
    if threading.current_thread() is not threading.main_thread():
        return
    _received, _exiting, _program = None, False, program
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handler)


def finish() -> None:
    """The command's work is done and written (only its report is left): in the scaffold
    program, SIGINT and SIGTERM no longer interrupt it from here on, so a signal landing
    while the outcome is printed cannot report "interrupted" for a finished change (an
    update in place but exit 130/143). Call it as the last step of the protected block: a
    signal that arrives before it is raised inside that block, at this call, and is handled
    there (the update is undone). A no-op for library callers (`install()` without
    `program`) and outside the main thread."""
    global _exiting
    if _program and threading.current_thread() is threading.main_thread():
        _exiting = True


def hold_until_exit() -> None:
    """Ignore SIGINT and SIGTERM from now until the process exits (main thread only).

    For the program's entry point once its command has finished and its exit code is
    known: a signal arriving later must not turn a finished run into a killed one. The
    Python handler stops raising first (a signal already caught but not yet handled is
    dropped), then the OS-level disposition becomes "ignore", which Python's finalisation
    keeps (it resets only Python-level handlers, to the default action).
    """
    global _exiting
    _exiting = True
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the block runs; raise the held one afterwards."""
    global _shield_depth, _pending
    with _lock:
        _shield_depth += 1
    try:
        yield
    finally:
        with _lock:
            _shield_depth -= 1
            held = _pending if _shield_depth == 0 else None
            if held is not None:
                _pending = None
        if held is not None:
            raise Interrupted(held)
