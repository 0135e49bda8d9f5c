"""deployment.yml -> RunPlan: Azure's mounts and variables, user edits, clear errors."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from conftest import Render
from scaffold.errors import ProjectError
from scaffold.project import load_plan


def _edit(project: Path, **changes: object) -> None:
    path = project / "deployment.yml"
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = data
        for key in keys[:-1]:
            node = node[key]
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    path.write_text(yaml.safe_dump(data))


def test_plan_mirrors_azure(render: Render) -> None:
    plan = load_plan(render("plumber", name="plan-ep", model_version="3"))
    model_dir = "/var/azureml-app/azureml-models/plan-ep-model/3"
    assert plan.environment == {
        "AZUREML_MODEL_DIR": model_dir,
        "AML_APP_ROOT": "/var/azureml-app/src",
        "AZUREML_ENTRY_SCRIPT": "plumber.R",
    }
    assert [(m.source.name, m.target) for m in plan.mounts] == [
        ("model", PurePosixPath(model_dir) / "model"),
        ("src", PurePosixPath("/var/azureml-app/src")),
    ]
    assert plan.ports == [8000]
    assert (plan.readiness.path, plan.readiness_probe.budget) == ("/ready", 310)
    assert plan.context.name == "docker-context" and plan.dockerfile == "Dockerfile"
    assert (plan.endpoint_name, plan.deployment_name) == ("plan-ep", "blue")


def test_user_env_wins_and_model_mount_path(render: Render) -> None:
    project = render("minimal")
    _edit(
        project,
        environment_variables={"AZUREML_MODEL_DIR": "/custom", "N": 3},
        model_mount_path="/models",
    )
    plan = load_plan(project)
    assert plan.environment["AZUREML_MODEL_DIR"] == "/custom"
    assert plan.environment["N"] == "3"
    assert plan.mounts[0].target == PurePosixPath("/models/model")


def test_probe_defaults_when_absent(render: Render) -> None:
    project = render("minimal")
    _edit(project, liveness_probe=None, readiness_probe={"period": 2})
    plan = load_plan(project)
    assert plan.liveness_probe.budget == 10 + 10 * 30
    assert plan.readiness_probe.budget == 10 + 2 * 30


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"environment__inference_config": None}, "inference_config is missing"),
        ({"environment__inference_config__scoring_route": None}, "scoring_route is missing"),
        ({"environment__inference_config__scoring_route__path": "score"}, "must start with '/'"),
        ({"environment__inference_config__liveness_route__port": 70000}, "must be 1..65535"),
        ({"environment__inference_config__liveness_route__port": "abc"}, "whole number"),
        ({"model": "azureml:my-model:1"}, "is a registered model"),
        ({"model__path": "./nowhere"}, "'./nowhere' does not exist"),
        ({"code_configuration__scoring_script": "missing.py"}, "scoring script 'missing.py'"),
        ({"environment__build": None}, "no build.path"),
        ({"model_mount_path": "models"}, "must be an absolute path"),
        ({"liveness_probe__period": 0}, "liveness_probe.period must be >= 1"),
        ({"environment_variables": {"X": {"nested": 1}}}, "must be a scalar"),
    ],
)
def test_errors_name_the_key(render: Render, changes: dict[str, object], message: str) -> None:
    project = render("minimal")
    _edit(project, **changes)
    with pytest.raises(ProjectError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_plan(project)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no deployment file in .*deployment\.yml"):
        load_plan(tmp_path)
    (tmp_path / "deployment.yml").write_text("name: [unclosed\n")
    with pytest.raises(ProjectError, match="not valid YAML at line"):
        load_plan(tmp_path)
