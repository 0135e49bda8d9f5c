"""No update loses a user value without saying so: real template repositories, several
versions made in each test, real copier updates, real git conflict resolutions.

Each test asserts the invariant of `scaffold update`: every value the user had changed
relative to the old template version is in the result, or the update exits non-zero
(8 with conflicts, 15 otherwise) naming its file, key and the user's old value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import templatekit as kit
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.update import update_project, verify
from templatekit import TemplateRepo, commit_all, edit, git, mini_template


@pytest.fixture
def template(tmp_path: Path) -> TemplateRepo:
    return mini_template(tmp_path / "team-template")


@pytest.fixture
def project(tmp_path: Path, template: TemplateRepo) -> Path:
    result = new_project(tmp_path / "proj", {"instance_count": 2}, template=str(template.path))
    return result.path


def _sized(project: Path) -> None:
    """The user's edits: sizing, timeout, probe, one more variable, a README note."""
    deployment = project / "deployment.yml"
    edit(deployment, 'instance_type: "Standard_DS3_v2"', 'instance_type: "Standard_NC6s_v3"')
    edit(deployment, "instance_count: 2", "instance_count: 3")
    edit(deployment, "request_timeout_ms: 5000", "request_timeout_ms: 9000")
    edit(deployment, "liveness_probe:\n  initial_delay: 10", "liveness_probe:\n  initial_delay: 60")
    edit(deployment, 'WORKER_COUNT: "1"', 'WORKER_COUNT: "4"\n  MY_FLAG: "on"')
    edit(project / "README.md", "## Local run", "Owner: team-blue\n\n## Local run")
    commit_all(project, "our sizing")


USER_VALUES = {
    ("instance_type",): "Standard_NC6s_v3",
    ("instance_count",): 3,
    ("request_settings", "request_timeout_ms"): 9000,
    ("liveness_probe", "initial_delay"): 60,
    ("environment_variables", "WORKER_COUNT"): "4",
    ("environment_variables", "MY_FLAG"): "on",
}


def assert_kept_or_reported(project: Path, reported: set[str]) -> None:
    """The invariant, checked independently of scaffold's own check."""
    kit.assert_kept_or_reported(project, "deployment.yml", USER_VALUES, reported)


def _move_sizing_up_in_flow_style(template: TemplateRepo) -> None:
    """Template v2.0.0: the sizing block moves to the top, request_settings in flow style,
    probe periods change (the issue's measured case)."""
    name = "project/deployment.yml.jinja"
    template.replace(
        name,
        "instance_type: {{ instance_type | tojson }}\n"
        "instance_count: {{ instance_count | tojson }}\n"
        "request_settings:\n"
        "  request_timeout_ms: {{ request_timeout_ms | tojson }}\n"
        "  max_concurrent_requests_per_instance: 1\n",
        "",
    )
    template.replace(
        name,
        "endpoint_name: {{ endpoint_name | tojson }}\n",
        "endpoint_name: {{ endpoint_name | tojson }}\n"
        "# sizing first (2.0.0)\n"
        "instance_type: {{ instance_type | tojson }}\n"
        "instance_count: {{ instance_count | tojson }}\n"
        "request_settings: {request_timeout_ms: {{ request_timeout_ms | tojson }}, "
        "max_concurrent_requests_per_instance: 1}\n",
    )
    text = (template.path / name).read_text().replace("  period: 10", "  period: 15")
    (template.path / name).write_text(text)
    template.write(
        "CHANGELOG.md",
        """
        # Changelog
        ## [Unreleased]
        ## [2.0.0] - 2026-12-01
        ### Changed
        - Sizing moved to the top of deployment.yml, request_settings in flow style.
        ## [1.0.0] - 2026-11-01
        - First release.
        """,
    )
    template.release("v2.0.0")


def test_moved_block_every_way_of_resolving_is_checked(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 2: the template moves the block the user edited. The update says
    which of the user's values each side of the conflict loses; "take theirs" and "take
    ours" are then caught by --verify, and only a resolution with every value passes."""
    _sized(project)
    _move_sizing_up_in_flow_style(template)
    assert main(["update", str(project)]) == ExitCode.UPDATE_CONFLICT
    err = capsys.readouterr().err
    assert "crosses a major version" in err and "Sizing moved to the top" in err
    for key in (
        "instance_count: yours 3",
        "request_timeout_ms: yours 9000",
        "initial_delay: yours 60",
    ):
        assert f"keeping the template's side everywhere: deployment.yml: {key}" in err.replace(
            "request_settings.", ""
        ).replace("liveness_probe.", ""), err
    assert "keeping your side everywhere: deployment.yml: instance_count" in err
    assert "duplicate key" in err

    # Take theirs: the user's values are gone, and --verify names them.
    git(project, "checkout", "--theirs", "--", "deployment.yml")
    git(project, "add", "deployment.yml")
    assert main(["update", "--verify", str(project)]) == ExitCode.EDITS_LOST
    err = capsys.readouterr().err
    reported = {
        line.split(": ")[2] for line in err.splitlines() if "not kept: deployment.yml" in line
    }
    assert_kept_or_reported(project, reported)
    assert {"instance_count", "request_settings.request_timeout_ms"} <= reported

    # Take ours: duplicate keys, reported too.
    ours = git(project, "show", "HEAD:deployment.yml")
    after_theirs = (project / "deployment.yml").read_text()
    (project / "deployment.yml").write_text(
        after_theirs.replace("# sizing first (2.0.0)\n", "") + ours
    )
    assert main(["update", "--verify", str(project)]) == ExitCode.EDITS_LOST
    assert "duplicate key" in capsys.readouterr().err

    # The right resolution: the template's layout with every value of the user's.
    fixed = (
        after_theirs.replace(
            'instance_type: "Standard_DS3_v2"', 'instance_type: "Standard_NC6s_v3"'
        )
        .replace("instance_count: 2", "instance_count: 3")
        .replace("request_timeout_ms: 5000", "request_timeout_ms: 9000")
        .replace("liveness_probe:\n  initial_delay: 10", "liveness_probe:\n  initial_delay: 60")
        .replace('WORKER_COUNT: "1"', 'WORKER_COUNT: "4"\n  MY_FLAG: "on"')
    )
    (project / "deployment.yml").write_text(fixed)
    assert main(["update", "--verify", str(project)]) == ExitCode.OK
    assert_kept_or_reported(project, set())
    assert yaml.safe_load(fixed)["liveness_probe"]["period"] == 15  # the template's change


def test_rej_mode_reports_the_rej_files_and_the_values_they_hold(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 3: with --conflict rej the file gets the template's values and the
    user's go to .rej; copier exits 0, scaffold exits 8 naming both, and validate and
    status see the .rej file afterwards."""
    _sized(project)
    _move_sizing_up_in_flow_style(template)
    assert main(["update", "--conflict", "rej", str(project)]) == ExitCode.UPDATE_CONFLICT
    err = capsys.readouterr().err
    assert "deployment.yml.rej" in err
    reported = {
        line.split(": ")[2] for line in err.splitlines() if "not kept: deployment.yml" in line
    }
    assert_kept_or_reported(project, reported)
    assert (project / "deployment.yml.rej").is_file()
    git(project, "add", "-A")
    git(project, "commit", "-qm", "update (rej left)")
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.INVALID
    assert "deployment.yml.rej" in capsys.readouterr().out
    assert main(["status", "--json", str(project)]) == ExitCode.UPDATE_CONFLICT
    assert "deployment.yml.rej" in capsys.readouterr().out


def test_clean_merge_with_a_duplicate_key_is_caught(project: Path, template: TemplateRepo) -> None:
    """No conflict at all, yet the user's value is lost: the user added a key near the top,
    the template adds the same key at the end; git merges cleanly, YAML keeps the last."""
    edit(
        project / "deployment.yml",
        "name: blue\n",
        "name: blue\negress_public_network_access: disabled\n",
    )
    commit_all(project, "no public egress")
    template.write(
        "project/deployment.yml.jinja",
        (template.path / "project/deployment.yml.jinja").read_text()
        + "egress_public_network_access: enabled\n",
    )
    template.release("v1.1.0")
    result = update_project(project)
    assert result.conflicts == []
    lost = {(e.key, e.reason.split(":")[0]) for e in result.lost}
    assert ("egress_public_network_access", "duplicate key") in lost
    assert ("egress_public_network_access", "changed by the update") in lost


def test_template_deleting_the_block_the_user_extended(
    project: Path, template: TemplateRepo
) -> None:
    """The template drops the variables block the user added a variable to: whichever way
    copier merges it, the user's variable is kept, predicted lost on one side of the
    conflict, or reported."""
    edit(project / "deployment.yml", 'WORKER_COUNT: "1"', 'WORKER_COUNT: "1"\n  MY_FLAG: "on"')
    commit_all(project, "flag")
    template.replace(
        "project/deployment.yml.jinja",
        'environment_variables:\n  WORKER_COUNT: "1"\n  AZUREML_ENTRY_SCRIPT: score.py\n',
        "",
    )
    template.release("v1.1.0")
    result = update_project(project)
    if result.conflicts:
        predicted = result.check.predicted["deployment.yml"]["template"]
        assert "environment_variables.MY_FLAG" in {e.key for e in predicted}
    elif "MY_FLAG" not in (project / "deployment.yml").read_text():
        assert "environment_variables.MY_FLAG" in {e.key for e in result.lost}


@pytest.mark.parametrize(
    ("question", "tightened"),
    [
        (
            "instance_count:\n  type: int\n  default: 1\n",
            "instance_count:\n  type: int\n  default: 3\n"
            '  validator: "{% if instance_count < 3 %}at least 3 instances{% endif %}"\n',
        ),
        (
            "instance_type:\n  type: str\n  default: Standard_DS3_v2\n",
            "instance_type:\n  type: str\n  default: Standard_DS3_v2\n"
            "  choices: [Standard_DS3_v2, Standard_F4s_v2]\n",
        ),
    ],
    ids=["validator", "choices"],
)
def test_recorded_answer_the_new_version_refuses_is_named_before_anything_is_written(
    tmp_path: Path,
    template: TemplateRepo,
    capsys: pytest.CaptureFixture[str],
    question: str,
    tightened: str,
) -> None:
    """copier replaces a recorded answer that the new version no longer accepts by the
    default (silently) or stops with its own error; scaffold names the answer and how to
    choose another, and writes nothing."""
    data = {"instance_count": 2, "instance_type": "Standard_NC6s_v3"}
    project = new_project(tmp_path / "p", data, template=str(template.path)).path
    head = git(project, "rev-parse", "HEAD")
    template.replace("copier.yml", question, tightened)
    template.release("v1.1.0")
    assert main(["update", str(project)]) == ExitCode.USAGE
    err = capsys.readouterr().err.splitlines()[-1]
    name = question.split(":")[0]
    assert (
        err.startswith(f"error: your recorded answer {name} = ") and f"--data {name}=VALUE" in err
    )
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain") == ""
    fixed = "3" if name == "instance_count" else "Standard_F4s_v2"
    assert main(["update", str(project), "--data", f"{name}={fixed}"]) == ExitCode.OK


# --- Renamed and new questions -------------------------------------------------------------
def _rename_instance_type(template: TemplateRepo, *, declare: bool, bridge: bool = False) -> None:
    """v1.1.0 renames the question instance_type to vm_size."""
    text = (template.path / "copier.yml").read_text()
    old = "instance_type:\n  type: str\n  default: Standard_DS3_v2\n"
    new = "vm_size:\n  type: str\n  default: Standard_DS3_v2\n"
    if bridge:  # the documented plain-copier pattern: old question kept, never asked
        new = (  # exactly as the README shows it
            "instance_type:\n  type: str\n  default: ''\n  ask: false\n"
            "  when: \"{{ instance_type is defined and instance_type != '' }}\"\n"
            "vm_size:\n  type: str\n  default: \"{{ instance_type or 'Standard_DS3_v2' }}\"\n"
        )
    text = text.replace(old, new)
    if declare:
        text += "_scaffold:\n  renames:\n    - {version: 1.1.0, from: instance_type, to: vm_size}\n"
    (template.path / "copier.yml").write_text(text)
    template.replace(
        "project/deployment.yml.jinja",
        "instance_type: {{ instance_type | tojson }}",
        "instance_type: {{ vm_size | tojson }}",
    )
    template.release("v1.1.0")


@pytest.fixture
def answered(tmp_path: Path, template: TemplateRepo) -> Path:
    """A project that answered instance_type (no file edits)."""
    data = {"instance_type": "Standard_F4s_v2"}
    return new_project(tmp_path / "answered", data, template=str(template.path)).path


def test_declared_rename_keeps_the_answer(
    answered: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _rename_instance_type(template, declare=True)
    assert main(["update", str(answered)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "answer instance_type carried over as vm_size = 'Standard_F4s_v2'" in err
    answers = yaml.safe_load((answered / ".copier-answers.yml").read_text())
    assert answers["vm_size"] == "Standard_F4s_v2" and "instance_type" not in answers
    deployment = yaml.safe_load((answered / "deployment.yml").read_text())
    assert deployment["instance_type"] == "Standard_F4s_v2"


def test_undeclared_rename_is_reported_with_the_old_answer(
    answered: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 1 without a declaration: copier resets the answer to the default;
    scaffold exits 15 naming the answer and its old value."""
    _rename_instance_type(template, declare=False)
    assert main(["update", str(answered)]) == ExitCode.EDITS_LOST
    err = capsys.readouterr().err
    assert '.copier-answers.yml: instance_type: yours "Standard_F4s_v2", now (missing)' in err
    assert "renamed without a declared rename" in err


def test_plain_copier_rename_bridge_keeps_the_answer(
    answered: Path, template: TemplateRepo, tmp_path: Path
) -> None:
    """The documented equivalent for plain `copier update`: the old question stays, never
    asked (`ask: false`), and feeds the new question's default."""
    _rename_instance_type(template, declare=False, bridge=True)
    twin = tmp_path / "twin"
    git(tmp_path, "clone", "-q", str(answered), str(twin))
    proc = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--skip-answered"],
        cwd=twin,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        yaml.safe_load((twin / ".copier-answers.yml").read_text())["vm_size"] == "Standard_F4s_v2"
    )
    assert (
        yaml.safe_load((twin / "deployment.yml").read_text())["instance_type"] == "Standard_F4s_v2"
    )
    # scaffold update agrees, and has nothing to report.
    result = update_project(answered)
    assert result.lost == [] and result.conflicts == []
    answers = yaml.safe_load((answered / ".copier-answers.yml").read_text())
    assert answers["vm_size"] == "Standard_F4s_v2"
    # New projects do not store the old question.
    fresh = new_project(tmp_path / "fresh", {}, template=str(template.path)).path
    answers = yaml.safe_load((fresh / ".copier-answers.yml").read_text())
    assert "instance_type" not in answers and answers["vm_size"] == "Standard_DS3_v2"


def test_when_false_does_not_carry_an_answer_over(answered: Path, template: TemplateRepo) -> None:
    """Why the README recommends `ask: false`: with `when: false` copier discards the
    recorded answer (copier 9.19), and scaffold reports the loss."""
    text = (
        (template.path / "copier.yml")
        .read_text()
        .replace(
            "instance_type:\n  type: str\n  default: Standard_DS3_v2\n",
            "instance_type:\n  type: str\n  default: ''\n  when: false\n"
            "vm_size:\n  type: str\n  default: \"{{ instance_type or 'Standard_DS3_v2' }}\"\n",
        )
    )
    (template.path / "copier.yml").write_text(text)
    template.replace(
        "project/deployment.yml.jinja",
        "instance_type: {{ instance_type | tojson }}",
        "instance_type: {{ vm_size | tojson }}",
    )
    template.release("v1.1.0")
    result = update_project(answered)
    assert (
        yaml.safe_load((answered / ".copier-answers.yml").read_text())["vm_size"]
        == "Standard_DS3_v2"
    )
    assert [e.key for e in result.lost] == ["instance_type"]


def test_split_question_with_declared_expressions(tmp_path: Path, template: TemplateRepo) -> None:
    """v2.0.0 splits instance_type into family and size; the declared Jinja expressions
    compute both from the old answer (trust-free: sandboxed, no program runs)."""
    project = new_project(
        tmp_path / "split", {"instance_type": "Standard_NC6s_v3"}, template=str(template.path)
    ).path
    text = (
        (template.path / "copier.yml")
        .read_text()
        .replace(
            "instance_type:\n  type: str\n  default: Standard_DS3_v2\n",
            "vm_family:\n  type: str\n  default: Standard\n"
            "vm_size:\n  type: str\n  default: DS3_v2\n",
        )
    )
    text += (
        "_scaffold:\n  renames:\n    - version: 2.0.0\n      from: instance_type\n      to:\n"
        "        vm_family: \"{{ instance_type.split('_', 1)[0] }}\"\n"
        "        vm_size: \"{{ instance_type.split('_', 1)[1] }}\"\n"
    )
    (template.path / "copier.yml").write_text(text)
    template.replace(
        "project/deployment.yml.jinja",
        "instance_type: {{ instance_type | tojson }}",
        "instance_type: {{ (vm_family ~ '_' ~ vm_size) | tojson }}",
    )
    template.release("v2.0.0")
    result = update_project(project)
    assert result.lost == []
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["vm_family"], answers["vm_size"]) == ("Standard", "NC6s_v3")
    assert (
        yaml.safe_load((project / "deployment.yml").read_text())["instance_type"]
        == "Standard_NC6s_v3"
    )


def test_new_questions_take_defaults_without_a_terminal_and_are_listed(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    template.replace(
        "copier.yml",
        "request_timeout_ms:",
        "app_insights:\n  type: bool\n  default: true\n  help: Send logs to Application Insights\n"
        "request_timeout_ms:",
    )
    template.replace(
        "project/deployment.yml.jinja",
        "name: blue\n",
        "name: blue\napp_insights_enabled: {{ app_insights | tojson }}\n",
    )
    template.release("v1.1.0")
    assert main(["update", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "new question app_insights = true (its default" in err
    assert "--data app_insights=VALUE" in err


def test_new_questions_are_asked_on_a_terminal(
    project: Path, template: TemplateRepo, tmp_path: Path
) -> None:
    """On a terminal, `scaffold update` asks the questions new in the target version (and
    only those): a real pseudo-terminal, the answer typed, the answer recorded."""
    import pty
    import select
    import time

    template.replace(
        "copier.yml",
        "request_timeout_ms:",
        "cost_center:\n  type: str\n  default: none\n  help: Cost center for the billing tags\n"
        "request_timeout_ms:",
    )
    template.replace(
        "project/endpoint.yml.jinja",
        "auth_mode: key\n",
        "auth_mode: key\ntags:\n  cost_center: {{ cost_center | tojson }}\n",
    )
    template.release("v1.1.0")
    pid, fd = pty.fork()
    if pid == 0:  # the child: scaffold on a terminal
        os.execvpe(
            sys.executable,
            [sys.executable, "-m", "scaffold", "update", str(project)],
            {**os.environ, "TERM": "dumb", "COLUMNS": "120", "LINES": "40"},
        )
    seen = b""
    answered = False
    deadline = time.monotonic() + 240  # generous: a loaded machine renders slowly
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if not answered and b"Cost center for the billing tags" in seen:
                    time.sleep(0.5)
                    os.write(fd, b"\x15cc-4711\r")  # Ctrl-U clears the pre-filled default
                    answered = True
            finished, status = os.waitpid(pid, os.WNOHANG)
            if finished:
                break
        else:
            pytest.fail(f"no answer within the budget; output: {seen[-2000:]!r}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0) if not finished else (pid, status)
    assert answered, seen[-2000:]
    assert os.waitstatus_to_exitcode(status) == 0, seen[-3000:]
    assert b"instance_count" not in seen.split(b"cost_center")[0][-200:]  # nothing re-asked
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["cost_center"] == "cc-4711"


# --- Pretend, changelog --------------------------------------------------------------------
def test_pretend_shows_the_real_diff_and_writes_nothing(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _sized(project)
    head = git(project, "rev-parse", "HEAD")
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    template.write("project/CONTRIBUTING.md", "Ask team-platform.\n")
    template.release("v1.1.0")
    assert main(["update", "--pretend", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "+auth_mode: aml_token" in out and "-auth_mode: key" in out
    assert "+Ask team-platform." in out and "Would update" in out
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    # A conflict the update would leave: shown in the diff, and the same exit code.
    template.replace("project/README.md.jinja", "## Local run", "## Run it locally")
    template.release("v1.2.0")
    assert main(["update", "--pretend", str(project)]) == ExitCode.UPDATE_CONFLICT
    captured = capsys.readouterr()
    assert "+<<<<<<< before updating" in captured.out
    assert "would leave conflicts in README.md" in captured.err
    assert "your line is gone" in captured.err  # what taking the template's side loses
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""


def test_changelog_from_tag_annotations_then_commits(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    template.replace("project/README.md.jinja", "## Local run", "## Run it locally")
    template.release("v1.1.0", annotated="Release 1.1.0\n\nREADME wording.")
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    template.commit("Switch endpoints to Azure ML tokens")
    template.tag("v1.2.0")  # lightweight: no annotation
    assert main(["update", "--vcs-ref", "v1.1.0", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "(tag annotations)" in err and "README wording." in err
    commit_all(project, "to 1.1.0")
    assert main(["update", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "(commit messages)" in err and "Switch endpoints to Azure ML tokens" in err


def test_verify_after_a_plain_copier_update(
    project: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Renovate or a user ran plain `copier update`: `scaffold update --verify --since
    HEAD` checks its result all the same."""
    _sized(project)
    _move_sizing_up_in_flow_style(template)
    proc = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--skip-answered"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr  # copier says nothing about the conflicts
    git(project, "checkout", "--theirs", "--", "deployment.yml")
    done = verify(project, since="HEAD")
    keys = {edit.key for edit in done.check.lost}
    assert_kept_or_reported(project, keys)
    assert "instance_count" in keys
