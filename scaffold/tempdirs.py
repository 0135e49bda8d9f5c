"""Temporary folders that are gone afterwards, also after Ctrl-C or SIGTERM.

An interrupt raised while copier waits for a git process leaves that process running and
writing into the temporary folder being removed, so a plain `rmtree` in a `finally` loses
the race and leaves the folder behind. `scratch_dir` waits for those processes first when
the block ends by an interrupt. `copier_temp` gives copier's own temporary folders (old
and new renderings, template clones) a private parent folder removed the same way, so an
interrupted update leaves nothing in the shared temporary folder and nothing of another
process's is ever touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def wait_for_children(seconds: float) -> None:
    """Let the processes this one started finish (an interrupt leaves git running, holding
    its index lock or writing files), reaping them; give up after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            time.sleep(0.02)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A new temporary folder, removed when the block ends however it ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    except KeyboardInterrupt:
        wait_for_children(10.0)
        raise
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def copier_temp() -> Iterator[Path]:
    """While the block runs, Python's temporary files (copier's renderings and clones) go
    to a private folder, removed afterwards."""
    with scratch_dir("scaffold-copier-") as private:
        saved = tempfile.tempdir
        tempfile.tempdir = str(private)
        try:
            yield private
        finally:
            tempfile.tempdir = saved
