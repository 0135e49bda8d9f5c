"""The `served_model_name` question: every route, env var, folder, archive and sample follows it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, TEMPLATES, Render, files_of, git
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.generate import new_project
from scaffold.servers import SERVERS
from scaffold.update import update_project
from scaffold.validate import validate_project

NAME = "my-model.v2"
NAMED = [name for name, spec in SERVERS.items() if spec.served_model_name]
#: Files of the model, per server and variant, that carry the name in their path.
NAMED_FILES: dict[tuple[str, str], set[str]] = {
    ("tfserving", "mounted"): {f"{NAME}/1/saved_model.pb"},
    ("tfserving", "in_image"): {f"docker-context/models/{NAME}/1/saved_model.pb"},
    ("torchserve", ""): {f"model/{NAME}.mar"},
    ("triton", "python"): {f"models/{NAME}/config.pbtxt", f"models/{NAME}/1/model.py"},
    ("triton", "onnx"): {f"models/{NAME}/config.pbtxt", f"models/{NAME}/1/README.md"},
}
VARIANTS: dict[tuple[str, str], dict[str, Any]] = {
    ("tfserving", "mounted"): {},
    ("tfserving", "in_image"): {"model_in_image": True},
    ("torchserve", ""): {},
    ("triton", "python"): {},
    ("triton", "onnx"): {"triton_model_format": "onnx"},
}


def _routes(project: Path) -> dict[str, str]:
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    config = deployment["environment"]["inference_config"]
    return {key: config[key]["path"] for key in config}


def test_the_named_servers_come_from_the_registry() -> None:
    assert sorted(NAMED) == ["tfserving", "torchserve", "triton", "vllm"]
    for name in NAMED:
        spec = SERVERS[name]
        assert "{model}" not in spec.scoring + spec.model_dir  # defaults filled in
        if name == "vllm":  # the name is in the request body ("model"), not in the routes
            assert spec.served_model_name == "tiny-llama"
            assert spec.served_model_name not in spec.scoring
            continue
        assert spec.served_model_name == "half_plus_two"
        assert "half_plus_two" in spec.scoring


@pytest.mark.parametrize("variant", list(VARIANTS), ids=lambda v: "-".join(filter(None, v)))
def test_a_renamed_model_agrees_everywhere(render: Render, variant: tuple[str, str]) -> None:
    server = variant[0]
    project = render(server, served_model_name=NAME, **VARIANTS[variant])
    files = files_of(project)
    assert NAMED_FILES[variant] <= files
    assert not [f for f in files if "half_plus_two" in f]
    for path in _routes(project).values():
        assert NAME in path or path in ("/ping", "/v2/health/live", "/v2/health/ready"), path
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    env = deployment.get("environment_variables", {})
    text = "\n".join(
        (project / f).read_text()
        for f in ("deployment.yml", "docker-context/Dockerfile", "sample_response.json")
    )
    assert "half_plus_two" not in text
    if server == "tfserving" and variant[1] == "mounted":
        assert env["MODEL_NAME"] == NAME
        assert deployment["model"]["path"] == f"./{NAME}"
    if server == "torchserve":
        assert env["TORCHSERVE_MODELS"] == f"{NAME}={NAME}.mar"
    if server == "triton":
        assert f'name: "{NAME}"' in (project / "models" / NAME / "config.pbtxt").read_text()
        assert json.loads((project / "sample_response.json").read_text())["model_name"] == NAME
        assert deployment["model"]["path"] == f"./models/{NAME}"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["served_model_name"] == NAME
    report = validate_project(project, schema=False)
    # The ONNX variant ships no model.onnx (the user brings it): the one expected finding.
    expected = ["triton.model_file.missing"] if variant[1] == "onnx" else []
    if server == "torchserve":
        expected = ["image.end_of_life"]  # the default base image, on purpose
    assert [p.code for p in report.problems] == expected


@pytest.mark.parametrize("server", ["plumber", "minimal"])
def test_servers_without_a_model_name_are_not_asked(render: Render, server: str) -> None:
    project = render(server)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert "served_model_name" not in answers


@pytest.mark.parametrize("bad", ["1model", "my/model", "a b", "m" * 65, ""])
def test_unsafe_names_are_refused_and_nothing_is_written(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError, match="served model name must start with a letter"):
        new_project(tmp_path / "ep", {"server": "triton", "served_model_name": bad})
    assert not (tmp_path / "ep").exists()


def test_flag_sets_the_name_and_servers_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "flag-ep"
    code = main(["new", "--server", "torchserve", "--served-model-name", NAME, str(dest)])
    assert code == ExitCode.OK
    assert (dest / "model" / f"{NAME}.mar").is_file()
    assert (
        main(["new", "--server", "triton", "--served-model-name", "9x", str(tmp_path / "x")]) == 2
    )
    capsys.readouterr()
    assert main(["servers"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "/predictions/half_plus_two (model name half_plus_two: --served-model-name)" in out


#: The template before the question existed (the commit this work started from).
OLD_TEMPLATE_COMMIT = "7c93a68"


@pytest.mark.parametrize("server", ["triton", "torchserve", "tfserving"])
def test_a_project_from_the_old_template_still_updates(tmp_path: Path, server: str) -> None:
    repo = tmp_path / "team-template"
    repo.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", OLD_TEMPLATE_COMMIT, "templates"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(
        ["tar", "-x", "--strip-components=1", "-C", str(repo)], input=archive, check=True
    )
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old")
    git(repo, "tag", "v1.0.0")
    project = new_project(tmp_path / "old-ep", {"server": server}, template=str(repo)).path
    before = {f: (project / f).read_bytes() for f in files_of(project)}
    assert "served_model_name" not in (project / ".copier-answers.yml").read_text()
    # The new template replaces the old one as v1.1.0.
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(TEMPLATES, repo, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "new")
    git(repo, "tag", "v1.1.0")

    result = update_project(project)

    assert (result.from_version, result.to_version, result.conflicts) == ("v1.0.0", "v1.1.0", [])
    after = files_of(project)
    assert set(before) <= after  # model folders, archive, samples all kept where they were
    assert _routes(project) == {
        key: getattr(SERVERS[server], key.removesuffix("_route")) for key in _routes(project)
    }
    assert validate_project(project, schema=False).errors == []


@pytest.mark.docker
def test_renamed_torchserve_model_is_green_in_docker(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render(
        "torchserve", name="renamed-e2e", served_model_name=NAME, base_image=standin("torchserve")
    )
    assert main(["run", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "OK: smoke test passed" in captured.out
    assert f"/predictions/{NAME}" in captured.err
