"""Signal handling for long runs: SIGINT and SIGTERM unwind the stack like Ctrl-C.

`install()` (called by the CLI) makes both signals raise `errors.Interrupted`, so the
`finally` blocks that stop and remove containers run whether the user pressed Ctrl-C or
CI, `timeout` or an IDE sent SIGTERM. Cleanup code runs inside `shielded()`: a signal that
arrives meanwhile is held back and raised when the cleanup is done, so a second Ctrl-C
cannot leave a container half-removed.
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


def _handler(signum: int, _frame: FrameType | None) -> None:
    global _pending
    with _lock:
        if _shield_depth:
            _pending = _pending or signum
            return
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to `Interrupted` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _handler)


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
