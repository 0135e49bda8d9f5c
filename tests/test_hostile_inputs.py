"""Hostile and careless inputs to every command: one line naming the fix and a documented
exit code, never a traceback (the case list comes from sweeping each command with broken,
huge, deep, non-UTF-8, looping and misplaced files and arguments)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_limits import laughs

from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project

DOCUMENTED = {int(code) for code in ExitCode}


def _one_line(code: int, err: str) -> str:
    """The one error line (progress lines such as `==> Building` may precede it)."""
    assert code in DOCUMENTED, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert err.rstrip().endswith(errors[0]), err
    return errors[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path / "hostile-ep", {"server": "minimal"}, git_init=False).path


def _replace(path: Path, content: bytes) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    path.write_bytes(content)


MUTATIONS: dict[str, Callable[[Path], None]] = {
    "not-utf8": lambda p: _replace(p / "deployment.yml", b"name: blue\nx: \xff\xfe\n"),
    "binary": lambda p: _replace(p / "deployment.yml", bytes(range(256)) * 8),
    "billion-laughs": lambda p: _replace(p / "deployment.yml", laughs(9).encode()),
    "deep": lambda p: _replace(p / "deployment.yml", b"a: " + b"[" * 3000 + b"]" * 3000),
    "huge-number": lambda p: _replace(p / "deployment.yml", b"instance_count: " + b"9" * 5000),
    "huge-file": lambda p: _replace(p / "deployment.yml", b"a: " + b"x" * (3 << 20)),
    "a-list": lambda p: _replace(p / "deployment.yml", b"- name\n- blue\n"),
    "a-folder": lambda p: ((p / "deployment.yml").unlink(), (p / "deployment.yml").mkdir()),
    "link-loop": lambda p: (
        (p / "deployment.yml").unlink(),
        (p / "deployment.yml").symlink_to("deployment.yml"),
    ),
    "fifo": lambda p: ((p / "deployment.yml").unlink(), os.mkfifo(p / "deployment.yml")),
    "endpoint-bomb": lambda p: _replace(p / "endpoint.yml", laughs(9).encode()),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_run_and_deploy_refuse_bad_project_files_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], mutation: str
) -> None:
    """`run` reads deployment.yml before it needs Docker, `deploy --dry-run` before Azure:
    both refuse a broken file with one line (exit 4, or 11 through validation)."""
    MUTATIONS[mutation](project)
    if mutation != "endpoint-bomb":
        code = main(["run", "--no-validate", str(project)])
        line = _one_line(code, capsys.readouterr().err)
        assert code == ExitCode.PROJECT, line
    code = main(["deploy", "--dry-run", "--no-validate", str(project)])
    line = _one_line(code, capsys.readouterr().err)
    assert code in (ExitCode.PROJECT, ExitCode.AZURE), line


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_validate_reports_bad_project_files_as_problems(
    project: Path, capsys: pytest.CaptureFixture[str], mutation: str
) -> None:
    MUTATIONS[mutation](project)
    assert main(["validate", "--no-schema", "--json", str(project)]) == ExitCode.INVALID
    assert capsys.readouterr().err == ""


def test_a_deeply_nested_sample_request_is_a_problem_not_a_crash(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "sample_request.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.INVALID
    assert "nests deeper than 64 levels [smoke.sample.invalid]" in capsys.readouterr().out


def test_an_unreachable_template_is_a_template_error_not_a_full_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """copier's git failures are OSErrors (plumbum's ProcessExecutionError): they were told
    as "cannot write ...; check the disk" with three lines of raw git output."""
    url = "https://127.0.0.1:1/team/template.git"  # nothing listens on port 1
    code = main(
        ["new", "--server", "plumber", "--defaults", "--template", url, str(tmp_path / "t-ep")]
    )
    line = _one_line(code, capsys.readouterr().err)
    assert code == ExitCode.TEMPLATE and "template" in line
    assert "Failed to connect to 127.0.0.1" in line and "check the disk" not in line
    assert not (tmp_path / "t-ep").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["loadtest", "--seconds", "nan"],
        ["loadtest", "--rps", "nan", "--duration", "5", "--export", "out"],
        ["loadtest", "--rps", "inf", "--duration", "5", "--export", "out"],
        ["loadtest", "--rps", "10", "--duration=-inf", "--export", "out"],
        ["rollout", "--to", "green", "--step-wait", "nan"],
        ["deploy", "--dry-run", "--timeout", "inf"],
    ],
    ids=["seconds-nan", "rps-nan", "rps-inf", "duration-minus-inf", "step-wait-nan", "timeout-inf"],
)
def test_numbers_that_are_not_finite_are_refused_by_the_parser(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """`nan` passes every range check (comparisons with NaN are false) and `inf` overflows
    int(): --rps nan/inf with --export was a ValueError/OverflowError traceback."""
    with pytest.raises(SystemExit) as stopped:
        main([*argv, str(project)])
    err = capsys.readouterr().err
    assert stopped.value.code == ExitCode.USAGE and "is not a finite number" in err, err
    assert "Traceback" not in err and not (project / "out").exists()


def test_a_gitignore_that_is_not_utf8_is_read_as_it_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .gitignore written on Windows in Latin-1 (`# caf\xe9`) is the user's file: validate
    reads it (for the large files scaffold kept out of git) without failing on it."""
    with (project / ".gitignore").open("ab") as handle:
        handle.write(b"# caf\xe9 cr\xe8me\n")
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "UTF-8" not in captured.err, captured.err


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / ("a" * 300), "File name too long"),
        (lambda d: d / "/".join(["b" * 200] * 25), "File name too long"),
        (lambda d: (d / "a-file").write_text("x") and d / "a-file" / "new-ep", "is a file"),
        (lambda d: (d / "loop").symlink_to("loop") or d / "loop", "looping symbolic link"),
        (lambda _: Path("/proc/new-ep"), "cannot create /proc/new-ep"),
    ],
    ids=["long-name", "long-path", "under-a-file", "link-loop", "proc"],
)
def test_new_refuses_destinations_it_cannot_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], expected: str
) -> None:
    dest = make(tmp_path)
    code = main(["new", "--server", "plumber", "--defaults", str(dest)])
    line = _one_line(code, capsys.readouterr().err)
    assert expected in line and code in (ExitCode.USAGE, ExitCode.WRITE)
    assert not [p for p in tmp_path.iterdir() if ".scaffold-" in p.name]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: (d / "a-file").write_text("x") and d / "a-file", "Not a directory"),
        (lambda d: d / ("t" * 300), "File name too long"),
    ],
    ids=["a-file", "long-name"],
)
def test_template_init_refuses_folders_it_cannot_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], expected: str
) -> None:
    code = main(["template", "init", str(make(tmp_path))])
    assert expected in _one_line(code, capsys.readouterr().err)


def test_a_destination_name_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Linux names are bytes: a project can live in one that is not UTF-8. The endpoint name
    derived from it keeps only valid characters (plus the path's suffix), and printing the
    folder's name never fails (it once turned a finished project into exit 2)."""
    dest = tmp_path / "\udcff-ep"
    assert main(["new", "--server", "plumber", "--defaults", str(dest)]) == ExitCode.OK
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Created plumber project" in out.out
    text = (dest / "deployment.yml").read_text(encoding="utf-8")
    endpoint = re.search(r'endpoint_name: "?([^"\s]+)', text)
    assert endpoint and re.fullmatch(r"[a-z][a-z0-9-]{2,31}", endpoint.group(1)), text
    other = tmp_path / "\udcfe-ep"
    argv = ["new", "--server", "plumber", "--defaults", "--endpoint-name", "named-ep", str(other)]
    assert main(argv) == ExitCode.OK and (other / "deployment.yml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([dest.name, other.name])


def test_an_undecodable_answer_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["new", "--server", "plumber", "--defaults", "--data", "endpoint_name=\udcff\udcfe"]
    code = main([*argv, str(tmp_path / "x-ep")])
    assert code == ExitCode.USAGE
    _one_line(code, capsys.readouterr().err)


@pytest.mark.docker
def test_a_dockerignore_that_is_not_utf8_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Docker SDK reads .dockerignore with the default codec and crashed."""
    (project / "docker-context" / ".dockerignore").write_bytes(b"\xff\xfe**\n")
    code = main(["run", "--no-validate", str(project)])
    line = _one_line(code, capsys.readouterr().err)
    assert code == ExitCode.DOCKER and ".dockerignore is not UTF-8 text" in line


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (laughs(9), "billion laughs"),
        ("a: " + "[" * 2000 + "]" * 2000, "nests deeper than"),
        ("name: {{placeholder}}\na: " + "[" * 2000 + "]" * 2000, "nests deeper than"),
        ("instance_count: " + "9" * 5000, "number longer than"),
    ],
    ids=["billion-laughs", "deep", "deep-with-placeholder", "huge-number"],
)
def test_layout_discovery_reads_yaml_within_bounds(
    tmp_path: Path, content: str, error: str
) -> None:
    """scaffold.layout classifies every YAML file of a repository: each read is bounded."""
    from scaffold import layout

    path = tmp_path / "deployment.yml"
    path.write_text(content)
    found = layout.read_yaml(path)
    assert found.data is None and error in found.error


def test_layout_discovery_does_not_hang_on_a_pipe(tmp_path: Path) -> None:
    from scaffold import layout

    os.mkfifo(tmp_path / "endpoint.yml")
    assert layout.read_yaml(tmp_path / "endpoint.yml").data is None
