"""The ARM stand-in enforces the REST specification's rules by itself, whoever calls it: here
azure-ai-ml directly, without scaffold's own checks in front (what a plain `az ml` user would
meet), and scaffold's smoke test against an endpoint without traffic."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode


@pytest.fixture
def two(render: Render, arm: ArmStandin, azure: dict[str, Any]) -> Any:  # noqa: F811
    """An endpoint with blue (100%) and green (0%), and an MLClient for it."""
    from scaffold.workspace import WorkspaceRef, connect

    project = render("minimal", name="rules-ep")
    argv = [str(project), *WS_FLAGS]
    assert main(["deploy", *argv], azure=azure) == ExitCode.OK
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace('name: "blue"', 'name: "green"'))
    assert main(["deploy", *argv], azure=azure) == ExitCode.OK
    client = connect(WorkspaceRef(WS_FLAGS[1], WS_FLAGS[3], WS_FLAGS[5], "test"), **azure)
    client.project = project  # for the smoke test below
    return client


@pytest.mark.parametrize(
    ("traffic", "mirror", "message"),
    [
        ({"blue": 90, "green": 0}, {}, "need to sum to 100 (got 90)"),
        ({"blue": 100, "green": 0}, {"green": 60}, "at most 50 (got 60)"),
        ({"blue": 50, "green": 50}, {"green": 10}, "while they receive live traffic"),
        ({"blue": 50, "nosuch": 50}, {}, "nosuch that do not exist"),
    ],
)
def test_traffic_rules_are_the_services_not_scaffolds(
    two: Any, traffic: dict[str, int], mirror: dict[str, int], message: str
) -> None:
    from azure.core.exceptions import HttpResponseError

    endpoint = two.online_endpoints.get("rules-ep")
    endpoint.traffic, endpoint.mirror_traffic = traffic, mirror
    with pytest.raises(HttpResponseError) as refused:
        two.online_endpoints.begin_create_or_update(endpoint).result()
    assert refused.value.status_code == 400 and message in str(refused.value)


def test_a_deployment_with_traffic_cannot_be_deleted(two: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as refused:
        two.online_deployments.begin_delete(name="blue", endpoint_name="rules-ep").result()
    assert "set its traffic to 0 before deleting it" in str(refused.value)


def test_routing_by_header_and_404_without_traffic(
    two: Any,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(arm.ca))

    def score(header: str = "") -> tuple[int, str]:
        request = urllib.request.Request(
            f"{arm.base_url}/score/rules-ep",
            data=b"{}",
            headers={
                "Authorization": f"Bearer {arm.keys['primaryKey']}",
                **({"azureml-model-deployment": header} if header else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as answer:
                return answer.status, answer.headers["azureml-model-deployment"]
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    assert {score()[1] for _ in range(5)} == {"blue"}  # green has 0%
    assert score("green") == (200, "green")  # the header reaches it anyway
    status, body = score("nosuch")
    assert status == 404 and "nosuch" in body
    endpoint = two.online_endpoints.get("rules-ep")
    endpoint.traffic = {"blue": 0, "green": 0}  # the spec allows 0 in all
    two.online_endpoints.begin_create_or_update(endpoint).result()
    status, body = score()
    assert status == 404 and "No valid deployments to route to" in body
    # and scaffold's smoke test names the fix for it
    capsys.readouterr()
    argv = ["smoke", str(two.project), *WS_FLAGS]
    assert main(argv, azure=azure) == ExitCode.SMOKE
    assert "HTTP 404" in (err := capsys.readouterr().err) and "--traffic" in err
