"""Second deploys: asset versions from content (scaffold.assets), through the real
azure-ai-ml against the ARM stand-in (tests/standins/arm_standin.py), which refuses to
change a registered version's files the way Azure does (`Asset paths cannot be updated.`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import SERVERS, Render
from scaffold.cli import main
from scaffold.errors import ExitCode


def _deploy(project: Path, azure: dict[str, Any], *extra: str) -> int:  # noqa: F811
    return main(["deploy", str(project), *WS_FLAGS, *extra], azure=azure)


def _model_puts(arm: ArmStandin) -> list[str]:  # noqa: F811
    return [r.path.rsplit("/", 1)[1] for r in arm.seen("PUT", r"/models/[^/]+/versions/[^/]+$")]


def _last_deployment(arm: ArmStandin) -> dict[str, Any]:  # noqa: F811
    body = json.loads(arm.seen("PUT", r"/deployments/[^/]+$")[-1].body)
    return body["properties"]  # type: ignore[no-any-return]


def _blob_puts(arm: ArmStandin) -> list[str]:  # noqa: F811
    return [r.path for r in arm.seen("PUT", r"^/azureml-blobstore") if not r.query.get("comp")]


def test_template_writes_no_model_version_and_run_mounts_it_as_1(render: Render) -> None:
    from scaffold.project import load_plan

    project = render("minimal", name="nover-ep")
    model = yaml.safe_load((project / "deployment.yml").read_text())["model"]
    assert "version" not in model and model["name"] == "nover-ep-model"
    plan = load_plan(project)
    assert any(
        str(m.target).startswith("/var/azureml-app/azureml-models/nover-ep-model/1/")
        for m in plan.mounts
    )
    pinned = render("minimal", name="pin-ep", model_version="4")
    assert yaml.safe_load((pinned / "deployment.yml").read_text())["model"]["version"] == "4"


def test_second_deploy_after_a_model_change_registers_the_next_version(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="again-ep")
    before = (project / "deployment.yml").read_text()
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["1"]
    assert "/models/again-ep-model/versions/1" in _last_deployment(arm)["model"]
    capsys.readouterr()

    model_file = next((project / "model").iterdir())
    model_file.write_text(model_file.read_text().replace("2.0", "3.0").replace("0.5", "0.25"))
    uploads = len(_blob_puts(arm))
    assert _deploy(project, azure) == ExitCode.OK
    shown = capsys.readouterr()
    out = shown.out + shown.err
    assert _model_puts(arm) == ["1", "2"]
    assert "/models/again-ep-model/versions/2" in _last_deployment(arm)["model"]
    assert "model again-ep-model:2 new (the model changed since version 1)" in out
    # Only the changed model went up: code and build context were already in storage.
    new_uploads = _blob_puts(arm)[uploads:]
    assert new_uploads and all(f"/{model_file.parent.name}/" in p for p in new_uploads)
    assert (project / "deployment.yml").read_text() == before  # nothing to edit by hand
    record = json.loads((project / ".scaffold" / "assets.json").read_text())
    assert set(next(iter(record.values()))) == {
        "model:again-ep-model:1",
        "model:again-ep-model:2",
    }
    assert (project / ".scaffold" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_an_unchanged_redeploy_uploads_nothing_and_a_revert_reuses_the_old_version(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("plumber", name="same-ep")
    assert _deploy(project, azure) == ExitCode.OK
    uploads, environments = len(_blob_puts(arm)), len(arm.seen("PUT", r"/environments/"))
    capsys.readouterr()
    assert _deploy(project, azure) == ExitCode.OK
    shown = capsys.readouterr()
    out = shown.out + shown.err
    assert len(_blob_puts(arm)) == uploads  # not one file uploaded again
    assert _model_puts(arm) == ["1"]  # the model referenced, not registered again
    assert "model same-ep-model:1 reused (same content, nothing uploaded)" in out
    assert "build context unchanged, image reused" in out
    # the environment version is the same hash: Azure keeps its image
    puts = arm.seen("PUT", r"/environments/[^/]+/versions/[^/]+$")
    assert len(puts) == environments or len({p.path for p in puts}) == 1

    model = project / "model" / "model.rds"
    original = model.read_bytes()
    model.write_bytes(original + b"\n")
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["1", "2"]
    model.write_bytes(original)  # back to the first model: version 1 again, no upload
    uploads = len(_blob_puts(arm))
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["1", "2"]
    assert "/models/same-ep-model/versions/1" in _last_deployment(arm)["model"]
    assert len(_blob_puts(arm)) == uploads


def test_archived_versions_keep_their_numbers(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An archived version is hidden from azure-ai-ml's default listing (listViewType
    ActiveOnly) but still holds its number and files: the next version is counted over all
    of them, and an archived version with this content is still referenced (archived models
    stay usable by explicit version)."""
    from scaffold.workspace import WorkspaceRef, connect

    project = render("minimal", name="arch-ep")
    model_file = next((project / "model").iterdir())
    first = model_file.read_text()
    assert _deploy(project, azure) == ExitCode.OK
    model_file.write_text(first.replace("2.0", "3.0"))
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["1", "2"]
    client = connect(WorkspaceRef(WS_FLAGS[1], "rg-standin", "ws-standin", "test"), **azure)
    client.models.archive(name="arch-ep-model", version="2")
    assert [m.version for m in client.models.list(name="arch-ep-model")] == ["1"]
    capsys.readouterr()

    model_file.write_text(first.replace("2.0", "4.0"))  # new content: 3, not the archived 2
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm)[-1] == "3"
    assert "/models/arch-ep-model/versions/3" in _last_deployment(arm)["model"]

    model_file.write_text(first.replace("2.0", "3.0"))  # version 2's content: reused
    capsys.readouterr()
    assert _deploy(project, azure) == ExitCode.OK
    out = "".join(capsys.readouterr())
    assert "/models/arch-ep-model/versions/2" in _last_deployment(arm)["model"]
    assert "model arch-ep-model:2 reused" in out and "archived" in out


def test_a_pinned_version_with_changed_content_is_refused_before_contacting_azure(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="pin-ep", model_version="3")
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["3"]
    model_file = next((project / "model").iterdir())
    model_file.write_text(model_file.read_text() + " ")
    capsys.readouterr()
    arm.requests.clear()
    assert _deploy(project, azure) == ExitCode.INVALID
    err = capsys.readouterr().err
    assert "model pin-ep-model:3 was registered by this project with other files" in err
    assert "remove `version:` under model in deployment.yml" in err and "above 3" in err
    assert not arm.requests  # refused before contacting Azure

    # Without the local record (another machine, CI): refused after one read of the
    # registry, before anything is uploaded or created.
    shutil.rmtree(project / ".scaffold")
    assert _deploy(project, azure) == ExitCode.INVALID
    assert "is registered with other files" in capsys.readouterr().err
    assert not _blob_puts(arm) and len(_model_puts(arm)) == 0
    assert not arm.seen("PUT", r"/onlineEndpoints/")

    # The fix named: raise the version.
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace('version: "3"', 'version: "4"'))
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["4"]


def test_tf_serving_model_base_path_follows_the_registered_version(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
) -> None:
    project = render("tfserving", name="tfv-ep")
    assert _deploy(project, azure) == ExitCode.OK
    base = "/var/azureml-app/azureml-models/tfv-ep-model"
    assert _last_deployment(arm)["environmentVariables"]["MODEL_BASE_PATH"] == f"{base}/1"
    variables = next((project / "half_plus_two").rglob("variables.index"))
    variables.write_bytes(variables.read_bytes() + b"\0")
    assert _deploy(project, azure) == ExitCode.OK
    assert _last_deployment(arm)["environmentVariables"]["MODEL_BASE_PATH"] == f"{base}/2"
    # the file itself still says 1: `scaffold run` mounts the model there
    assert f"{base}/1" in (project / "deployment.yml").read_text()


def test_the_stand_in_refuses_new_files_under_an_existing_version_like_azure(
    tmp_path: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
) -> None:
    """What a deploy without scaffold's versioning meets (plain `az ml`), and its diagnosis."""
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import HttpResponseError

    from scaffold.diagnose import diagnose
    from scaffold.workspace import WorkspaceRef, connect

    client = connect(WorkspaceRef(WS_FLAGS[1], WS_FLAGS[3], WS_FLAGS[5], "test"), **azure)
    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder, content in ((first, "1"), (second, "2")):
        folder.mkdir(parents=True)
        (folder / "weights.txt").write_text(content)
    client.models.create_or_update(Model(name="m", version="1", path=str(first)))
    client.models.create_or_update(Model(name="m", version="1", path=str(first)))  # same: ok
    with pytest.raises(HttpResponseError) as refused:
        client.models.create_or_update(Model(name="m", version="1", path=str(second)))
    text = str(refused.value)
    assert text.startswith("(UserError) Asset paths cannot be updated.")
    assert diagnose(text, {})[0].code == "asset-conflict"


@pytest.mark.parametrize("server", SERVERS)
def test_every_server_deploys_again_after_a_model_change(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    server: str,
) -> None:
    project = render(server, name=f"{server[:8]}-again")
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    model = deployment.get("model")
    # GPU sizes (vLLM's default) get the quota a GPU subscription has; about versions here
    from arm_standin import VM_SIZES  # on the path once test_azure is imported

    family = VM_SIZES[deployment["instance_type"]]["family"]
    arm.scenario.quota = {**arm.scenario.quota, family: 200}
    assert _deploy(project, azure) == ExitCode.OK
    assert _deploy(project, azure) == ExitCode.OK  # unchanged: nothing registered again
    if not isinstance(model, dict):  # no model folder of its own (e.g. baked into the image)
        assert not _model_puts(arm)
        return
    assert _model_puts(arm) == ["1"]
    folder = project / str(model["path"])
    (folder / "NOTE.txt").write_text("retrained\n")
    assert _deploy(project, azure) == ExitCode.OK
    assert _model_puts(arm) == ["1", "2"]
    assert f"/models/{model['name']}/versions/2" in _last_deployment(arm)["model"]
