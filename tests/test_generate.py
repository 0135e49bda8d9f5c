"""`scaffold new`: answers, flags, non-interactive rules, destination safety, git."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SERVERS, git
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.generate import new_project


def _answers(project: Path) -> dict[str, object]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_defaults_and_name_derived_endpoint(tmp_path: Path) -> None:
    result = new_project(tmp_path / "My_Fancy Endpoint", {"server": "minimal"})
    answers = _answers(result.path)
    # the folder's name and a short unique suffix (endpoint names are unique per region)
    assert re.fullmatch(r"my-fancy-endpoint-[0-9a-f]{4}", str(answers["endpoint_name"]))
    assert answers["model_name"] == f"{answers['endpoint_name']}-model"
    assert answers["_commit"] == "v0.1.0"
    assert result.git_initialised
    assert git(result.path, "status", "--porcelain") == ""
    assert "deployment.yml" in result.files


def test_flags_data_and_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text("instance_count: 3\nauth_mode: aml_token\n")
    code = main(
        [
            "new",
            str(tmp_path / "p"),
            "--server",
            "plumber",
            "--defaults",
            "--data",
            "endpoint_name=flag-ep",
            "--data-file",
            str(data_file),
            "--instance-type",
            "Standard_DS4_v2",
            "--deployment-name",
            "green",
        ]
    )
    assert code == ExitCode.OK, capsys.readouterr().err
    answers = _answers(tmp_path / "p")
    assert answers["endpoint_name"] == "flag-ep"
    assert answers["instance_count"] == 3
    assert answers["auth_mode"] == "aml_token"
    assert answers["instance_type"] == "Standard_DS4_v2"
    assert answers["deployment_name"] == "green"
    assert "Created plumber project" in capsys.readouterr().out


def test_every_question_has_a_flag() -> None:
    from scaffold.cli import build_parser
    from scaffold.template_source import load_questions

    _, flags = build_parser(["new", "x"])
    asked = [name for name, spec in load_questions().items() if spec.get("when") is not False]
    assert sorted(flags) == sorted(asked)


def test_missing_server_without_terminal_names_the_flag(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scaffold", "new", str(tmp_path / "p")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == ExitCode.USAGE
    assert proc.stderr.strip().splitlines() == [
        "error: server has no default and there is no terminal to ask: pass --server VALUE "
        f"(one of {', '.join(SERVERS)})"
    ]
    assert not (tmp_path / "p").exists()


def test_invalid_choice_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["new", str(tmp_path / "p"), "--server", "kserve", "--defaults"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'kserve'" in capsys.readouterr().err


def test_bad_data_syntax(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["new", str(tmp_path / "p"), "--server", "plumber", "-d", "novalue"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


def test_non_empty_destination_refused_then_overwrite(tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty; choose another folder or pass --overwrite"):
        new_project(dest, {"server": "plumber"})
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    new_project(dest, {"server": "plumber"}, overwrite=True)
    assert (dest / "keep.txt").read_text() == "mine"
    assert (dest / "deployment.yml").is_file()


def test_failed_render_leaves_destination_untouched(tmp_path: Path) -> None:
    dest = tmp_path / "existing"
    dest.mkdir()
    (dest / "deployment.yml").write_text("mine: true\n")
    with pytest.raises(UsageError):
        new_project(dest, {"server": "plumber", "instance_count": "0"}, overwrite=True)
    assert (dest / "deployment.yml").read_text() == "mine: true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_inside_a_git_repo_no_nested_repo(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    result = new_project(tmp_path / "sub", {"server": "minimal"})
    assert not (result.path / ".git").exists()
    assert not result.git_initialised


def test_no_git(tmp_path: Path) -> None:
    assert main(["new", "-q", str(tmp_path / "nogit"), "--server", "minimal", "--no-git"]) == 0
    assert not (tmp_path / "nogit" / ".git").exists()


def test_short_folder_name_error_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (a short folder name itself is fine now: the default endpoint name has a suffix)
    argv = ["new", str(tmp_path / "p"), "--server", "minimal", "--endpoint-name", "ab"]
    assert main(argv) == ExitCode.USAGE
    assert "(set it with --endpoint-name)" in capsys.readouterr().err


def test_template_must_be_git_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["new", str(tmp_path / "p"), "--server", "plumber", "--template", str(REPO / "templates")]
    )
    assert code == ExitCode.TEMPLATE
    assert "is not the root of a git repository" in capsys.readouterr().err


def test_help_lists_questions_and_exit_codes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scaffold", "new", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for flag in (
        f"--server {{{','.join(SERVERS)}}}",
        "--endpoint-name",
        "--base-image",
        "--r-packages",
    ):
        assert flag in proc.stdout
    top = subprocess.run(
        [sys.executable, "-m", "scaffold", "--help"], capture_output=True, text=True
    ).stdout
    assert "exit codes:" in top and "6 container not ready" in top


def test_help_imports_no_heavy_modules() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scaffold", "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    for heavy in ("copier", "docker", "azure", "questionary", "yaml"):
        assert not any(name == heavy or name.startswith(heavy + ".") for name in imported), heavy


def _read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {needle!r}; screen: {seen[-800:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def _drain(fd: int) -> bytes:
    seen = b""
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_interactive_questionnaire_on_a_terminal(tmp_path: Path) -> None:
    """With a TTY, scaffold asks (questionary prompts) only what --flags did not answer."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on a pseudo-terminal
        os.environ["TERM"] = "xterm"
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "scaffold",
                "new",
                str(tmp_path / "tty-ep"),
                "--server",
                "minimal",
                "--deployment-name",
                "green",
            ],
        )
    status = None
    try:
        _read_until(fd, b"model:")  # scaffold's own question: the sample model
        os.write(fd, b"\r")
        _read_until(fd, b"endpoint_name:")  # the default is shown, not pre-filled
        os.write(fd, b"tty-endpoint\r")
        screen = b""
        for _ in range(20):  # accept every other default, however many questions there are
            screen = (
                _read_until(fd, b"?", timeout=30) if b"Next: scaffold" not in screen else screen
            )
            if b"Next: scaffold run" in screen:
                break
            os.write(fd, b"\r")
            time.sleep(0.3)
            screen = _drain(fd)
        _, status = os.waitpid(pid, 0)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    answers = _answers(tmp_path / "tty-ep")
    assert answers["endpoint_name"] == "tty-endpoint"
    assert answers["deployment_name"] == "green"


@pytest.mark.parametrize("folder", ["ab", "x", "123", "é", "A" * 60, "--x--"])
def test_default_endpoint_names_are_valid_unique_and_stable(tmp_path: Path, folder: str) -> None:
    """Any destination folder gives a valid endpoint name with --defaults (a two-letter
    folder used to fail), at most 32 characters; two projects of the same folder name get
    different names; the name is recorded, so an update keeps it."""
    pattern = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
    names = []
    for parent in ("one", "two"):
        dest = tmp_path / parent / folder
        assert main(["new", str(dest), "--server", "minimal", "--defaults", "--no-git", "-q"]) == 0
        name = str(_answers(dest)["endpoint_name"])
        deployment = yaml.safe_load((dest / "deployment.yml").read_text())
        assert deployment["endpoint_name"] == name
        assert yaml.safe_load((dest / "endpoint.yml").read_text())["name"] == name
        assert pattern.fullmatch(name) and 6 <= len(name) <= 32, name
        names.append(name)
    assert names[0] != names[1]
