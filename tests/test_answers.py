"""Answer checks before copier (scaffold/answers.py): regression tests for what the
hypothesis fuzz (test_fuzz_answers.py) found. Each bad answer is refused with exit 2, one
line naming the question, and nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import git
from scaffold.answers import check_answers
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.generate import new_project
from scaffold.template_source import load_questions

QUESTIONS = load_questions()


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *data: str) -> str:
    argv = ["new", str(tmp_path / "demo-ep"), "--defaults"]
    for item in data:
        argv += ["--data", item]
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert [p.name for p in tmp_path.iterdir()] == [], "a refused answer left files"
    return err


@pytest.mark.parametrize(
    ("data", "names"),
    [
        # Rendered into deployment.yml but not recorded, while the server kept its port.
        (["server=minimal", "port=1234"], "port does not apply to server minimal"),
        # Dropped the model block from a plumber deployment.yml.
        (["server=plumber", "model_in_image=true"], "model_in_image does not apply"),
        # Replaced the server facts: copier crashed with a Jinja error (exit 3).
        (["server=plumber", "facts={}"], "facts is computed by the template"),
        # A typo was silently ignored.
        (["server=plumber", "endpoint-name=demo"], "'endpoint-name' is not a question"),
    ],
)
def test_answers_that_do_not_apply_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: list[str], names: str
) -> None:
    assert names in _refused(tmp_path, capsys, *data)


@pytest.mark.parametrize("value", ["1e3", "8_000", "٨٠٠٠", " 8000", "010", "0x10", "+80", "8.0"])
def test_whole_numbers_must_be_plain_digits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """copier's int() took 8_000, Arabic-Indic digits and spaces; 1e3 crashed it (exit 3)."""
    err = _refused(tmp_path, capsys, "server=plumber", f"port={value}")
    assert "port must be a whole number written in digits" in err


def test_yes_no_answers_must_be_booleans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """copier reads any unknown string (`maybe`) as yes."""
    err = _refused(tmp_path, capsys, "server=tfserving", "model_in_image=maybe")
    assert "model_in_image must be true or false" in err
    project = new_project(
        tmp_path / "demo-ep", {"server": "tfserving", "model_in_image": "yes"}, git_init=False
    ).path
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["model_in_image"] is True


def test_invalid_yaml_answer_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NUL in a YAML answer made copier fail while rendering (exit 3, 'template')."""
    err = _refused(tmp_path, capsys, "server=plumber", "r_packages=[ab, 'c\x00d']")
    assert "r_packages is not valid YAML" in err and "\x00" not in err


def test_bad_cran_name_is_named_once_and_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The validator listed every bad name run together, newlines included."""
    err = _refused(tmp_path, capsys, "server=plumber", 'r_packages=["a\\nb", x, forecast]')
    assert '"a\\nb" is not a CRAN package name' in err and "'x'" not in err


@pytest.mark.parametrize(
    "image",
    [
        "fbn3mu_p:87/team/image:1",  # hadolint: a host cannot hold '_'
        "Registry.io/a:1",
        "a-/b:1",
        "host:port/a:1",
        "localhost:5000/a:1",  # Docker takes it, hadolint does not: 127.0.0.1:5000 works
    ],
)
def test_base_image_follows_dockers_reference_grammar(image: str) -> None:
    with pytest.raises(UsageError, match="base_image: base image must be a lowercase"):
        check_answers(QUESTIONS, {"server": "plumber", "base_image": image})


@pytest.mark.parametrize(
    "image",
    [
        "rstudio/plumber:v1.2.0",
        "127.0.0.1:5000/a/b:1",
        "registry.local:5000/team/plumber:v1",
        "a_b/c:1",
        "my.registry.io/team/x__y--z:2",
        "mcr.microsoft.com/azureml/minimal-py312-inference:20250929.v1",
    ],
)
def test_base_image_references_docker_accepts_pass_hadolint(tmp_path: Path, image: str) -> None:
    check_answers(QUESTIONS, {"server": "plumber", "base_image": image})
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {image}\n")
    hadolint = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_update_refuses_an_answer_that_does_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = new_project(tmp_path / "demo-ep", {"server": "minimal"}).path
    head = git(project, "rev-parse", "HEAD")
    assert main(["update", str(project), "--data", "port=1234"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "port does not apply to server minimal" in err
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain") == ""


def test_a_choice_outside_the_list_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """copier's 'Invalid choice' came out as exit 3 on update (found by the update fuzz)."""
    err = _refused(tmp_path, capsys, "server=triton", "ci_provider=\r\nnone")
    assert "ci_provider must be one of github, azure-pipelines, none" in err


def test_tf_serving_mounts_a_registered_model_under_its_own_name_and_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MODEL_BASE_PATH must name where Azure mounts the referenced model, and @latest
    cannot be written into it (the version is only known at deploy time)."""
    project = new_project(
        tmp_path / "tf-ref", {"server": "tfserving", "model_asset": "azureml:my-tf:7"}
    ).path
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["model"] == "azureml:my-tf:7"
    base = deployment["environment_variables"]["MODEL_BASE_PATH"]
    assert base == "/var/azureml-app/azureml-models/my-tf/7"
    (tmp_path / "latest").mkdir()
    err = _refused(
        tmp_path / "latest", capsys, "server=tfserving", "model_asset=azureml:my-tf@latest"
    )
    assert "not @latest" in err
