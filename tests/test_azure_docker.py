"""`scaffold smoke` against a real local container through the same code path as a deployed
endpoint, and the image build of `scaffold deploy --push` (real Docker, stand-in base images).

The ARM stand-in (tests/standins/arm_standin.py, not Azure) hands out the scoring URI and the
key through azure-ai-ml's `get` and `get_keys`; its scoring URI checks the Bearer key and
forwards the request to the running container, the way Azure's front end forwards to the
deployment. So `scaffold smoke` runs exactly as against Azure: SDK, key only in
AZUREML_ENDPOINT_KEY, the project's own smoke_test.py, a real server answering.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode

pytestmark = pytest.mark.docker


def test_smoke_against_a_local_container_through_the_sdk(
    render: Render,
    standin: Callable[[str], str],
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scaffold.localrun import LocalDeployment

    project = render("minimal", name="smoke-local", base_image=standin("minimal"))
    argv = [str(project), *WS_FLAGS]
    assert main(["deploy", *argv], azure=azure) == ExitCode.OK
    capsys.readouterr()
    with LocalDeployment(project).ready() as local:
        plan = local.plan
        arm.scenario.upstream = local.url(plan.scoring).removesuffix(plan.scoring.path)
        arm.scenario.upstream_path = plan.scoring.path
        assert main(["smoke", *argv, "--deployment", "blue"], azure=azure) == ExitCode.OK
        shown = capsys.readouterr()
        assert "PASS scoring" in shown.err and "smoke test passed" in shown.out
        # the container's real answer came back through the stand-in's front end
        assert json.loads((project / "sample_response.json").read_text())
        scored = arm.seen("POST", r"^/score/smoke-local$")
        assert scored and scored[-1].headers["Authorization"].startswith("Bearer pk-")
        assert arm.keys["primaryKey"] not in shown.out + shown.err

        # a wrong sample makes the real server's answer differ: the smoke test fails (exit 7)
        (project / "sample_response.json").write_text("[123456.0]")
        assert main(["smoke", *argv], azure=azure) == ExitCode.SMOKE
        assert "FAIL $: expected [123456.0], got {'predictions'" in capsys.readouterr().err


def test_push_builds_the_image_and_switches_the_deployment_to_it(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """What --push can prove without a registry: the linux/amd64 build of the project's
    build context and the deployment entity moved from environment.build to image."""
    import docker

    from scaffold.deploy import dump_plan, load_deploy_plan
    from scaffold.localrun import SilentReporter
    from scaffold.push import PLATFORM, build_image, image_name, use_image

    project = render("plumber", name="push-build", base_image=standin("plumber"))
    plan = load_deploy_plan(project)
    image = image_name(plan, "standinacr.azurecr.io")
    # the same build context gives the same tag (a content hash)
    assert image_name(plan, "x.azurecr.io").split(":")[-1] == image.split(":")[-1]
    client = docker.from_env()
    try:
        image_id = build_image(plan, image, SilentReporter())
        built = client.images.get(image)
        assert built.id == image_id or image_id.startswith(built.id[:19])
        assert built.attrs["Architecture"] == PLATFORM.split("/")[1]
        use_image(plan, image)
        environment = next(yaml.safe_load_all(dump_plan(plan).split("---\n", 1)[1]))["environment"]
        assert environment["image"] == image and "build" not in environment
        assert environment["inference_config"]["liveness_route"]["path"] == "/live"
    finally:
        client.images.remove(image, force=True)
