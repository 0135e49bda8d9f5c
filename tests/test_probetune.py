"""`scaffold probe-tune`: the rule (budgets cover the margin times the slowest start), the
minimal text edit of deployment.yml (values replaced, comments and layout kept, refused when
the result would differ elsewhere), and (Docker) real starts of a container whose model loads
slowly, measured and written back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode, ProjectError
from scaffold.probetune import ProbeReport, Start, advise, apply_probes, edit_block
from scaffold.project import Probe

DEFAULT = Probe(10, 10, 2, 1, 30)


def test_budgets_cover_the_margin_times_the_slowest_start() -> None:
    advice = advise("readiness_probe", [40.0, 55.5, 48.0], [12.0, 900.0], DEFAULT, 2.0)
    values = advice.values
    assert values["initial_delay"] == 40  # the fastest start: no point probing earlier
    assert values["timeout"] == 2  # 2 x 0.9 s rounds up to Azure's default 2
    assert values["period"] == 10
    assert values["success_threshold"] == 1
    assert advice.budget >= 2.0 * 55.5  # covers the margin
    assert advice.budget - values["period"] < 2.0 * 55.5  # and not a period more
    assert advice.current_budget == 310

    fast = advise("liveness_probe", [0.4, 0.6], [3.0], DEFAULT, 2.0).values
    assert fast["initial_delay"] == 1 and fast["failure_threshold"] == 3  # the floors
    slow_answers = advise("liveness_probe", [2.0], [2600.0], Probe(10, 3, 2, 1, 30), 2.0).values
    assert slow_answers["timeout"] == 6  # 2 x 2.6 s: a busy health route must not time out
    assert slow_answers["period"] == 6  # never probing more often than one probe lasts


DEPLOYMENT = """\
# my deployment
name: blue  # the deployment
liveness_probe:
  # keep this comment
  initial_delay: 10   # seconds
  period: 10
  timeout: 2
  failure_threshold: 30
readiness_probe: {initial_delay: 10, period: 10}  # flow style
request_settings:
  request_timeout_ms: 5000
"""

VALUES = {
    "initial_delay": 3,
    "period": 10,
    "timeout": 4,
    "success_threshold": 1,
    "failure_threshold": 5,
}


def test_the_edit_changes_only_the_values() -> None:
    edited = edit_block(DEPLOYMENT, "liveness_probe", VALUES)
    edited = edit_block(edited, "readiness_probe", VALUES)
    lines = edited.splitlines()
    assert lines[0] == "# my deployment" and lines[1] == "name: blue  # the deployment"
    assert "  # keep this comment" in lines
    assert "  initial_delay: 3   # seconds" in lines
    assert "  timeout: 4" in lines and "  failure_threshold: 5" in lines
    assert "  success_threshold: 1" in lines  # a missing key joins the block
    assert lines[
        lines.index(
            "readiness_probe: {initial_delay: 3, period: 10, timeout: 4, "
            "success_threshold: 1, failure_threshold: 5}  # flow style"
        )
    ]
    data = yaml.safe_load(edited)
    assert data["liveness_probe"] == VALUES and data["readiness_probe"] == VALUES
    assert data["request_settings"] == {"request_timeout_ms": 5000}


def test_a_missing_block_is_appended_and_line_endings_are_kept() -> None:
    text = "name: blue\r\ninstance_count: 1"
    edited = edit_block(text, "readiness_probe", VALUES)
    assert edited.startswith("name: blue\r\ninstance_count: 1\r\nreadiness_probe:\r\n")
    assert "\n" not in edited.replace("\r\n", "")
    assert yaml.safe_load(edited)["readiness_probe"] == VALUES


def test_nested_keys_of_the_same_name_are_left_alone() -> None:
    text = "liveness_probe:\n  period: 5\n  extra:\n    period: 99\n"
    edited = edit_block(text, "liveness_probe", {"period": 10})
    assert yaml.safe_load(edited)["liveness_probe"] == {"period": 10, "extra": {"period": 99}}


def _report(tmp_path: Path) -> ProbeReport:
    advice_live = advise("liveness_probe", [1.0], [5.0], DEFAULT, 2.0)
    advice_ready = advise("readiness_probe", [2.0], [5.0], DEFAULT, 2.0)
    return ProbeReport(tmp_path, 2.0, [Start(1.0, 2.0)], advice_live, advice_ready, 2)


def test_apply_refuses_layouts_it_cannot_edit_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "deployment.yml"
    text = "name: blue\nliveness_probe: &probe\n  period: 10\nreadiness_probe: *probe\n"
    path.write_text(text)
    with pytest.raises(ProjectError, match=r"can edit|by hand"):
        apply_probes(path, _report(tmp_path))
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["deployment.yml"]  # no temporary left


def test_apply_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "deployment.yml"
    path.write_text(DEPLOYMENT)
    path.chmod(0o640)
    report = _report(tmp_path)
    apply_probes(path, report)
    assert report.applied and path.stat().st_mode & 0o777 == 0o640
    assert yaml.safe_load(path.read_text())["readiness_probe"] == report.readiness.values


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        (["--runs", "0"], "--runs"),
        (["--margin", "0.5"], "--margin"),
        (["--load-seconds", "-1"], "--load"),
    ],
)
def test_bad_flags_fail_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], fix: str
) -> None:
    assert main(["probe-tune", str(tmp_path), *flags]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fix in err[0]


SLOW_INIT = """
import time as _time

_original_init = init


def init():
    _time.sleep(3)  # a model that takes three seconds to load
    _original_init()
"""


@pytest.mark.docker
def test_probe_tune_measures_real_starts_and_writes_them(
    render: Render,
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import subprocess

    from scaffold.localrun import clean

    project = render("minimal", name="probe-slow", base_image=standin("minimal"))
    score = project / "src" / "score.py"
    score.write_text(score.read_text() + SLOW_INIT)
    subprocess.run(["git", "-C", str(project), "commit", "-qam", "slow init"], check=True)
    before = (project / "deployment.yml").read_text()
    try:
        argv = ["probe-tune", str(project), "--runs", "2", "--load-seconds", "1", "--apply"]
        assert main(argv) == ExitCode.OK
    finally:
        clean(project)
    out = capsys.readouterr().out
    assert "Written to deployment.yml (margin 2x)" in out
    data = yaml.safe_load((project / "deployment.yml").read_text())
    readiness = data["readiness_probe"]
    assert readiness["initial_delay"] >= 3  # init() sleeps 3 s: never ready before
    budget = readiness["initial_delay"] + readiness["failure_threshold"] * readiness["period"]
    assert budget >= 2 * 3
    # only probe value lines changed: the rest of the file, comments included, is as it was
    diff = subprocess.run(
        ["git", "-C", str(project), "diff", "-U0", "deployment.yml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed and all(
        line[1:].strip().split(":")[0]
        in ("initial_delay", "period", "timeout", "success_threshold", "failure_threshold")
        for line in changed
    )
    assert len(before.splitlines()) == len((project / "deployment.yml").read_text().splitlines())
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.OK
