"""`scaffold loadtest --deployed` against the repository's ARM stand-in (tests/standins/
arm_standin.py, **not Azure**) in front of a real local container: the scoring URI and the key
come through the real azure-ai-ml code (`get`, `get_keys`), the lean engine sends a fixed rate
over TLS it verifies (the stand-in's test CA), the stand-in checks the key and forwards to the
container. The key never appears in what is printed, and nothing is sent without an explicit
rate and duration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode

pytestmark = pytest.mark.docker


def test_a_fixed_rate_reaches_the_deployed_endpoint_with_the_key_and_never_shows_it(
    render: Render,
    standin: Callable[[str], str],
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scaffold.localrun import LocalDeployment, clean

    project = render("minimal", name="load-deployed", base_image=standin("minimal"))
    argv = [str(project), *WS_FLAGS]
    # nothing at all is sent without an explicit rate and duration
    assert main(["loadtest", "--deployed", *argv], azure=azure) == ExitCode.USAGE
    assert "explicit rate and duration" in capsys.readouterr().err
    assert arm.requests == []

    assert main(["deploy", *argv], azure=azure) == ExitCode.OK
    capsys.readouterr()
    try:
        with LocalDeployment(project).ready() as local:
            plan = local.plan
            arm.scenario.upstream = local.url(plan.scoring).removesuffix(plan.scoring.path)
            arm.scenario.upstream_path = plan.scoring.path
            flags = ["--rps", "20", "--duration", "2", "--deployment", "blue", "--json"]
            assert main(["loadtest", "--deployed", *flags, *argv], azure=azure) == ExitCode.OK
    finally:
        clean(project)
    shown = capsys.readouterr()
    report = json.loads(shown.out)
    level = report["level"]
    assert report["scoring_uri"].endswith("/score/load-deployed")
    assert report["target_rps"] == 20 and report["deployment"] == "blue"
    # 20/s for 2 s: about 40 requests, every one answered by the real container
    assert 30 <= level["requests"] <= 41
    assert level["ok"] == level["requests"] and level["errors"] == {}
    assert level["p50_ms"] > 0
    scored = arm.seen("POST", r"^/score/load-deployed$")
    assert len(scored) >= level["requests"]
    assert {r.headers["Authorization"] for r in scored} == {f"Bearer {arm.keys['primaryKey']}"}
    assert {r.headers.get("azureml-model-deployment") for r in scored} == {"blue"}
    for secret in arm.keys.values():
        assert secret not in shown.out + shown.err
