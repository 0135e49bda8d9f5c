"""Signals after the command has finished: the process still exits with the command's code.

Python's finalisation resets Python-level signal handlers to the default action before it
tears the modules down (about 0.1 s once copier is imported). A SIGINT or SIGTERM landing
there used to kill a finished `scaffold update` (exit -2/-15 instead of 0), which once
failed CI. These tests land the signal in exactly that window, deterministically and
without timing: the child process sends the signal to itself from an object's `__del__`
that runs while the `builtins` module is torn down, the last phase of finalisation (a
`sitecustomize` module on the child's PYTHONPATH creates the object; nothing in scaffold
knows about it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, git
from scaffold.generate import new_project

SITECUSTOMIZE = '''\
import builtins, os


class _SignalAtTeardown:
    """Sends the signal named by SCAFFOLD_TEST_TEARDOWN_SIGNAL to this process when the
    interpreter destroys it: while `builtins` is torn down, after every handler reset. It
    keeps what it needs itself, since modules and builtins are being cleared by then."""

    def __init__(self):
        self.signum = int(os.environ["SCAFFOLD_TEST_TEARDOWN_SIGNAL"])
        self.mark = os.environ["SCAFFOLD_TEST_TEARDOWN_MARK"]
        self.os = os

    def __del__(self):
        fd = self.os.open(self.mark, self.os.O_WRONLY | self.os.O_CREAT, 0o644)
        self.os.write(fd, str(self.signum).encode())
        self.os.close(fd)
        self.os.kill(self.os.getpid(), self.signum)


builtins._scaffold_test_teardown = _SignalAtTeardown()
'''

#: The code pip writes into the `scaffold` console script (`scaffold = "scaffold.cli:main"`).
CONSOLE_SCRIPT = """\
import sys
from scaffold.cli import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


#: Sends the signal when the update's report starts: the update is written and checked.
SIGNAL_AT_REPORT = """\
import os
import scaffold.cli.template as template

_report = template._report_update


def _signal_then_report(result, args, console):
    signum = int(os.environ["SCAFFOLD_TEST_TEARDOWN_SIGNAL"])
    with open(os.environ["SCAFFOLD_TEST_TEARDOWN_MARK"], "w") as mark:
        mark.write(str(signum))
    os.kill(os.getpid(), signum)  # Python runs its handler right after this call
    return _report(result, args, console)


template._report_update = _signal_then_report
"""


def _run_with_teardown_signal(
    tmp_path: Path, signum: int, argv: list[str], hook: str = SITECUSTOMIZE
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run `argv` (a Python command line) with the signal armed (at teardown unless `hook`
    is another sitecustomize); return the process and the mark file the sender writes."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(hook)
    mark = tmp_path / f"sent-{signum}"
    mark.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(hooks), str(REPO)]),
        "SCAFFOLD_TEST_TEARDOWN_SIGNAL": str(int(signum)),
        "SCAFFOLD_TEST_TEARDOWN_MARK": str(mark),
    }
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    return proc, mark


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_teardown_signal_kills_a_process_that_does_not_hold_it(
    tmp_path: Path, signum: int
) -> None:
    """The probe itself: without `hold_until_exit` (main() called as a library, with argv)
    the signal lands after main() returned and the default action kills the process. If
    this ever stops failing that way, the tests below prove nothing."""
    code = "import sys; from scaffold.cli import main; sys.exit(main(['servers']))"
    proc, mark = _run_with_teardown_signal(tmp_path, signum, [sys.executable, "-c", code])
    assert mark.read_text() == str(int(signum))
    assert proc.returncode == -signum, proc.stderr
    assert "plumber" in proc.stdout  # main() had finished its work


@pytest.mark.parametrize(
    ("signum", "entry"),
    [(signal.SIGINT, "python -m scaffold"), (signal.SIGTERM, "console script")],
)
def test_a_finished_update_is_not_killed_by_a_signal_during_shutdown(
    tmp_path: Path, signum: int, entry: str
) -> None:
    """A real update finishes, then the signal lands during the interpreter's shutdown:
    exit 0, the update is in place, nothing printed on stderr."""
    project = new_project(tmp_path / "demo-ep", {"server": "minimal"}).path
    if entry == "console script":
        script = tmp_path / "scaffold"
        script.write_text(CONSOLE_SCRIPT)
        prefix = [sys.executable, str(script)]
    else:
        prefix = [sys.executable, "-m", "scaffold"]
    argv = [*prefix, "update", str(project), "--data", "deployment_name=green"]
    proc, mark = _run_with_teardown_signal(tmp_path, signum, argv)
    assert mark.read_text() == str(int(signum)), "the signal was never sent"
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted" not in proc.stderr
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["name"] == "green"
    assert "deployment.yml" in git(project, "status", "--porcelain")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_finished_update_reports_does_not_undo_or_misreport_it(
    tmp_path: Path, signum: int
) -> None:
    """The signal lands after the update was written and checked, as its report begins
    (sent by the process itself from a hook around the report: no timing). The update is
    kept and the exit code is the update's (0), not 130/143 for a project that was in fact
    updated: an interrupt either undoes the update or comes too late to matter."""
    project = new_project(tmp_path / "demo-ep", {"server": "minimal"}).path
    argv = [sys.executable, "-m", "scaffold", "update", str(project), "--data"]
    proc, mark = _run_with_teardown_signal(
        tmp_path, signum, [*argv, "deployment_name=green"], hook=SIGNAL_AT_REPORT
    )
    assert mark.read_text() == str(int(signum)), "the signal was never sent"
    assert proc.returncode == 0, proc.stderr
    assert "interrupted" not in proc.stderr and "terminated" not in proc.stderr
    assert "Updated" in proc.stdout
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["name"] == "green"
