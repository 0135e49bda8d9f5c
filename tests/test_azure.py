"""`scaffold deploy/smoke/logs/delete` through the REAL azure-ai-ml code against a local
stand-in of Azure (tests/standins/arm_standin.py: ARM, workspace, Blob Storage on 127.0.0.1;
it is **not Azure**).

The SDK is reached through its own configuration only: a custom cloud (`cloud` +
`cloud_metadata`, resource manager = the stand-in), a static test credential implementing
`get_token`, `connection_verify` / REQUESTS_CA_BUNDLE with a CA generated here, and an
HTTPS proxy that ends every tunnel at the stand-in (for the blob host names the SDK derives).
So the SDK's real request building, uploads, LRO polling and error handling run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, SERVERS, Render
from scaffold.cli import main
from scaffold.errors import ExitCode

sys.path.insert(0, str(REPO / "tests" / "standins"))
from arm_standin import ArmStandin, StaticCredential

SUB = "00000000-0000-0000-0000-000000000001"
WS_FLAGS = ["--subscription", SUB, "--resource-group", "rg-standin", "--workspace", "ws-standin"]


@pytest.fixture(scope="module")
def arm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArmStandin]:
    saved = dict(os.environ)
    with ArmStandin(tmp_path_factory.mktemp("tls")) as standin:
        os.environ.update(
            {
                "HTTPS_PROXY": standin.proxy_url,
                "https_proxy": standin.proxy_url,
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "REQUESTS_CA_BUNDLE": str(standin.ca),
                "SSL_CERT_FILE": str(standin.ca),  # smoke_test.py (urllib) trusts it too
            }
        )
        try:
            yield standin
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def azure(arm: ArmStandin) -> dict[str, Any]:
    """The `azure=` options of scaffold.cli.main: credential and the stand-in cloud."""
    arm.reset()
    return arm.client_options()


def _run(argv: list[str], azure: dict[str, Any] | None = None) -> int:
    return main(argv, azure=azure)


def _deployment_puts(arm: ArmStandin) -> list[Any]:
    return arm.seen("PUT", r"/onlineEndpoints/[^/]+/deployments/[^/]+$")


def _endpoint_puts(arm: ArmStandin) -> list[Any]:
    return arm.seen("PUT", r"/onlineEndpoints/[^/]+$")


# -- dry run ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
def test_dry_run_prints_the_sdk_entities_and_sends_nothing(
    render: Render, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scaffold.servers import SERVERS as REGISTRY

    project = render(server, name=f"{server}-dry")
    assert _run(["deploy", "--dry-run", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    endpoint, deployment, traffic = yaml.safe_load_all(out)
    assert endpoint["name"] == f"{server}-dry" and endpoint["auth_mode"] == "key"
    assert deployment["name"] == "blue" and deployment["endpoint_name"] == f"{server}-dry"
    routes = deployment["environment"]["inference_config"]
    assert routes["scoring_route"]["path"] == REGISTRY[server].scoring
    assert deployment["environment"]["build"]["path"].endswith("docker-context")
    facts = json.loads((REPO / "templates" / "_facts.json").read_text())[server]
    assert deployment["instance_type"] == facts.get("instance_type", "Standard_DS3_v2")
    assert traffic == {"traffic": {"blue": 100}}
    flag = f"skip_script_validation={REGISTRY[server].skip_script_validation}"
    assert flag in out


def test_dry_run_with_push_switches_to_an_image(
    render: Render, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("minimal", name="push-dry")
    assert _run(["deploy", "--dry-run", "--push", str(project)]) == ExitCode.OK
    _, deployment, _ = yaml.safe_load_all(capsys.readouterr().out)
    environment = deployment["environment"]
    assert "build" not in environment
    assert environment["image"].startswith("<workspace-registry>.azurecr.io/push-dry-blue:")
    assert environment["inference_config"]["scoring_route"]["port"] == 5001


def test_dry_run_refuses_an_invalid_project(
    render: Render, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="bad-dry")
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace("instance_count: 1", "instance_count: 0"))
    assert _run(["deploy", "--dry-run", str(project)]) == ExitCode.INVALID
    assert "instance_count" in capsys.readouterr().err


# -- deploy, traffic, smoke, logs, delete through the SDK ------------------------------------


def test_deploy_smoke_logs_delete_through_the_sdk(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="flow-ep")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"Scoring URI: {arm.base_url}/score/flow-ep" in out
    assert "traffic blue=100" in out
    # The SDK uploaded code, build context and model to the (stand-in) blob store...
    uploaded = {r.path.split("/", 4)[-1] for r in arm.seen("PUT", r"^/azureml-blobstore")}
    assert {"src/plumber.R", "docker-context/Dockerfile", "model/model.rds"} <= uploaded
    # ... registered them, and sent the deployment referencing them.
    body = json.loads(_deployment_puts(arm)[0].body)["properties"]
    assert "/codes/" in body["codeConfiguration"]["codeId"]
    assert body["codeConfiguration"]["scoringScript"] == "plumber.R"
    assert "/models/flow-ep-model/versions/1" in body["model"]
    assert "/environments/" in body["environmentId"]
    assert body["readinessProbe"]["initialDelay"] == "PT10S"
    # traffic: the endpoint PUT before the deployment has none, the one after blue=100
    traffic = [json.loads(r.body)["properties"].get("traffic") for r in _endpoint_puts(arm)]
    assert traffic[-1] == {"blue": 100}

    # a second deployment, green, at 10% (edit deployment.yml's name like a user would)
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace('name: "blue"', 'name: "green"'))
    argv_green = [*argv, "--traffic", "blue=90,green=10"]
    assert _run(["deploy", *argv_green], azure) == ExitCode.OK
    assert "traffic blue=90, green=10" in capsys.readouterr().out
    assert (
        _run(["deploy", *argv, "--traffic", "blue=100,green=0", "--mirror", "green=10"], azure) == 0
    )
    last = json.loads(_endpoint_puts(arm)[-1].body)["properties"]
    assert last["traffic"]["blue"] == 100 and not last["traffic"].get("green")
    assert last["mirrorTraffic"] == {"green": 10}
    capsys.readouterr()

    # smoke: key through get_keys, Bearer header sent, never printed; one deployment by header
    arm.scenario.response = (project / "sample_response.json").read_bytes()
    assert _run(["smoke", *argv, "--deployment", "green"], azure) == ExitCode.OK
    shown = capsys.readouterr()
    scored = {k.lower(): v for k, v in arm.seen("POST", r"^/score/flow-ep$")[-1].headers.items()}
    assert scored["authorization"] == f"Bearer {arm.keys['primaryKey']}"
    assert scored["azureml-model-deployment"] == "green"
    assert arm.seen("POST", r"/onlineEndpoints/flow-ep/listKeys$")
    assert "smoke test passed" in shown.out
    assert arm.keys["primaryKey"] not in shown.out + shown.err

    # logs of the inference server and the storage initializer
    arm.scenario.logs = {
        "inference-server": "plumber up on 0.0.0.0:8000",
        "storage-initializer": "model copied",
    }
    assert _run(["logs", *argv], azure) == ExitCode.OK
    assert "plumber up on 0.0.0.0:8000" in capsys.readouterr().out
    assert _run(["logs", *argv, "--container", "storage-initializer"], azure) == ExitCode.OK
    assert "model copied" in capsys.readouterr().out

    # delete: refused without a terminal and without --yes; nothing sent
    assert _run(["delete", *argv], azure) == ExitCode.USAGE
    assert "--yes" in capsys.readouterr().err
    assert not arm.seen("DELETE", r"onlineEndpoints")
    assert _run(["delete", *argv, "--yes"], azure) == ExitCode.OK
    assert "Deleted endpoint flow-ep" in capsys.readouterr().out
    assert arm.seen("DELETE", r"/onlineEndpoints/flow-ep$")
    assert _run(["delete", *argv, "--yes"], azure) == ExitCode.OK
    assert "Nothing to delete" in capsys.readouterr().out


def test_smoke_fails_on_a_wrong_answer_and_keeps_the_key_secret(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("minimal", name="smoke-bad")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    capsys.readouterr()
    arm.scenario.response = json.dumps({"echo": arm.keys["primaryKey"]}).encode()
    assert _run(["smoke", *argv], azure) == ExitCode.SMOKE
    shown = capsys.readouterr()
    assert "FAIL" in shown.err
    assert arm.keys["primaryKey"] not in shown.out + shown.err


def test_traffic_must_name_deployments_and_add_up(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("tfserving", name="traffic-ep")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv, "--traffic", "blue=90"], azure) == ExitCode.USAGE
    assert "add up to 100" in capsys.readouterr().err
    assert not arm.requests  # checked before contacting Azure
    assert _run(["deploy", *argv, "--mirror", "blue=60"], azure) == ExitCode.USAGE
    assert "at most 50" in capsys.readouterr().err
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    assert _run(["deploy", *argv, "--mirror", "blue=10"], azure) == ExitCode.USAGE
    assert "must get no live traffic" in capsys.readouterr().err
    assert _run(["deploy", *argv, "--traffic", "blue=100,nosuch=0"], azure) == ExitCode.USAGE
    assert "no deployment nosuch" in capsys.readouterr().err
    assert _run(["deploy", *argv, "--traffic", "blue=x"], azure) == ExitCode.USAGE


# -- failure paths --------------------------------------------------------------------------


def test_unauthorized_names_the_sign_in_fix(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("triton", name="auth-ep")
    azure["credential"] = StaticCredential("expired-token")
    assert _run(["deploy", str(project), *WS_FLAGS], azure) == ExitCode.AZURE
    err = capsys.readouterr().err
    assert "401" in err and "az login" in err
    assert not _endpoint_puts(arm)


def test_endpoint_errors_name_their_cause_too(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """An endpoint-level refusal (here a name another workspace took) gets the cause and the
    fix, not only Azure's message: the diagnosis runs on every Azure error, not on the
    deployment's alone."""
    project = render("minimal", name="taken-ep")
    arm.scenario.taken_endpoint_names = {"taken-ep"}
    assert _run(["deploy", str(project), *WS_FLAGS], azure) == ExitCode.AZURE
    err = capsys.readouterr().err
    assert "creating endpoint taken-ep failed" in err
    assert "An endpoint with this name already exists" in err
    assert "unique per Azure region" in err and "choose another name" in err
    assert not _deployment_puts(arm)


def test_image_pull_denied(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("minimal", name="pull-ep")
    arm.scenario.deployment_error = "BadArgument"
    arm.scenario.deployment_message = (
        "Endpoint identity does not have pull permission on the registry."
    )
    assert _run(["deploy", str(project), *WS_FLAGS], azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    # the failed operation's real shape: code None, the code inside the message
    assert "BadArgument: Endpoint identity does not have pull permission" in err
    assert "AcrPull" in err and "UserContainerImagePull: Failed" in err
    # logs of both containers were fetched
    bodies = [json.loads(r.body) for r in arm.seen("POST", r"/getLogs$")]
    assert {b.get("containerType") for b in bodies} == {"InferenceServer", "StorageInitializer"}


def test_probe_failure_shows_logs_and_the_initial_delay_fix(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="probe-ep")
    arm.scenario.deployment_error = "ResourceNotReady"
    arm.scenario.deployment_message = "User container has crashed or terminated (stand-in)"
    arm.scenario.logs = {
        "inference-server": "Loading model.rds ...\n"
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    }
    assert _run(["deploy", str(project), *WS_FLAGS], azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert "deployment probe-ep/blue failed: ResourceNotReady: User container has crashed" in err
    assert "raise readiness_probe.initial_delay (now 10)" in err
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in err
    # getLogs begins with the status block: `UserContainerImagePull: Succeeded` is no pull
    # failure, so the registry is not blamed.
    assert "UserContainerImagePull: Succeeded" in err and "AcrPull" not in err


def test_model_path_not_found(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("tfserving", name="model-ep")
    arm.scenario.deployment_error = "ResourceNotReady"
    arm.scenario.logs = {
        "inference-server": "No versions of servable half_plus_two found under base path "
        "/var/azureml-app/azureml-models/model-ep-model/1/half_plus_two",
    }
    assert _run(["deploy", str(project), *WS_FLAGS], azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert "model.path (now './half_plus_two')" in err, err


def test_timeout(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("triton", name="slow-ep")
    arm.scenario.deployment_error = "hang"
    argv = ["deploy", str(project), *WS_FLAGS, "--timeout", "3"]
    started = time.monotonic()
    assert _run(argv, azure) == ExitCode.DEPLOY_FAILED
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err
    assert "not finished after" in err and "--push" in err


# -- workspace ------------------------------------------------------------------------------


def test_workspace_from_flags_config_json_and_environment(tmp_path: Path) -> None:
    from scaffold.errors import UsageError
    from scaffold.workspace import find_workspace

    project = tmp_path / "team" / "proj"
    project.mkdir(parents=True)
    env = {
        "AZURE_SUBSCRIPTION_ID": "env-sub",
        "AZURE_RESOURCE_GROUP": "env-rg",
        "AZUREML_WORKSPACE_NAME": "env-ws",
    }
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    ref = find_workspace(project, environ=env, cwd=outside)
    assert (ref.subscription_id, ref.workspace_name, ref.source) == (
        "env-sub",
        "env-ws",
        "environment",
    )
    (tmp_path / "team" / ".azureml").mkdir()
    (tmp_path / "team" / ".azureml" / "config.json").write_text(
        json.dumps(
            {"subscription_id": "cfg-sub", "resource_group": "cfg-rg", "workspace_name": "cfg-ws"}
        )
    )
    ref = find_workspace(project, environ=env, cwd=outside, workspace_name="flag-ws")
    assert (ref.subscription_id, ref.resource_group, ref.workspace_name) == (
        "cfg-sub",
        "cfg-rg",
        "flag-ws",
    )
    # azure-ai-ml looks for .azureml/config.json in every parent before a plain config.json
    (project / ".azureml").mkdir()
    (project / ".azureml" / "config.json").write_text(
        json.dumps(
            {
                "Scope": "/subscriptions/s1/resourceGroups/r1/providers/"
                "Microsoft.MachineLearningServices/workspaces/w1"
            }
        )
    )
    ref = find_workspace(project, environ={}, cwd=outside)
    assert (ref.subscription_id, ref.resource_group, ref.workspace_name) == ("s1", "r1", "w1")
    with pytest.raises(UsageError, match="--subscription, --resource-group, --workspace"):
        find_workspace(outside, environ={}, cwd=outside)


def test_no_workspace_is_a_usage_error(
    render: Render, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="nows-ep")
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(project)
    assert main(["logs", str(project)]) == ExitCode.USAGE
    assert "AZUREML_WORKSPACE_NAME" in capsys.readouterr().err


def _client(azure: dict[str, Any]) -> Any:
    from scaffold.workspace import WorkspaceRef, connect

    return connect(WorkspaceRef(SUB, "rg-standin", "ws-standin", "test"), **azure)


def test_sdk_invoke_reaches_the_deployment(
    render: Render, arm: ArmStandin, azure: dict[str, Any]
) -> None:
    """The SDK's own invoke (az ml online-endpoint invoke) against the same scoring URI and
    key that `scaffold smoke` uses."""
    from scaffold.deploy import deploy, load_deploy_plan

    project = render("minimal", name="invoke-ep")
    client = _client(azure)
    result = deploy(load_deploy_plan(project), client)
    arm.scenario.response = b"[5.5]"
    answer = client.online_endpoints.invoke(
        endpoint_name="invoke-ep",
        request_file=str(project / "sample_request.json"),
        deployment_name="blue",
    )
    assert json.loads(answer) == [5.5]
    scored = {k.lower(): v for k, v in arm.seen("POST", r"^/score/invoke-ep$")[-1].headers.items()}
    assert scored["azureml-model-deployment"] == "blue"
    assert scored["authorization"] == f"Bearer {arm.keys['primaryKey']}"
    assert result.scoring_uri.endswith("/score/invoke-ep")


def test_delete_one_deployment_only_without_traffic(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("triton", name="two-deps")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace('name: "blue"', 'name: "green"'))
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    assert "traffic blue=100" in capsys.readouterr().out  # unchanged for the second one
    assert _run(["delete", *argv, "--yes", "--deployment", "blue"], azure) == ExitCode.USAGE
    assert "still gets 100%" in capsys.readouterr().err
    assert _run(["delete", *argv, "--yes", "--deployment", "green"], azure) == ExitCode.OK
    assert arm.seen("DELETE", r"/deployments/green$")
    assert not arm.seen("DELETE", r"/onlineEndpoints/two-deps$")


def test_push_finds_the_workspace_registry_and_exchanges_a_token(
    arm: ArmStandin, azure: dict[str, Any]
) -> None:
    """--push's Azure half: the registry from the workspace, ACR's token exchange. The
    docker login and push themselves are proven only against a real registry."""
    from arm_standin import ACR_LOGIN_SERVER

    from scaffold.push import acr_refresh_token, workspace_registry
    from scaffold.redact import redact

    client = _client(azure)
    assert workspace_registry(client) == ACR_LOGIN_SERVER
    token = acr_refresh_token(client, ACR_LOGIN_SERVER)
    assert token == arm.acr_token
    assert redact(f"token {token}") == "token ***"


def test_smoke_passes_the_key_only_in_the_environment(
    render: Render, arm: ArmStandin, azure: dict[str, Any], tmp_path: Path
) -> None:
    """smoke_test.py gets the key in AZUREML_ENDPOINT_KEY, never in its arguments."""
    project = render("plumber", name="argv-ep")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    report = tmp_path / "seen.json"
    (project / "smoke_test.py").write_text(
        "import json, os, sys\n"
        f"open({str(report)!r}, 'w').write(json.dumps("
        "{'argv': sys.argv, 'key': os.environ.get('AZUREML_ENDPOINT_KEY')}))\n"
    )
    assert _run(["smoke", *argv, "--deployment", "blue"], azure) == ExitCode.OK
    seen = json.loads(report.read_text())
    assert seen["key"] == arm.keys["primaryKey"]
    assert arm.keys["primaryKey"] not in " ".join(seen["argv"])
    assert seen["argv"][1:3] == ["--scoring-uri", f"{arm.base_url}/score/argv-ep"]
    assert seen["argv"][-2:] == ["--deployment", "blue"]


def test_logs_never_show_keys_the_server_wrote(
    render: Render, arm: ArmStandin, azure: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`scaffold logs` fetches no key, yet a server that logs its callers' headers must not
    put one on screen (nor the endpoint's own key, JSON-escaped)."""
    project = render("minimal", name="keylog-ep")
    argv = [str(project), *WS_FLAGS]
    assert _run(["deploy", *argv], azure) == ExitCode.OK
    arm.scenario.response = (project / "sample_response.json").read_bytes()
    key = arm.keys["primaryKey"]
    escaped = json.dumps({"k": key.replace("-", "/")}).replace("/", "\\u002f")
    arm.keys["primaryKey"] = key.replace("-", "/")
    arm.scenario.logs = {
        "inference-server": "\n".join(
            [
                "INFO request from 10.0.0.4 x-api-key=Zm9vYmFyYmF6cXV4MTIzNDU2 path=/score",
                'INFO headers {"Authorization": "Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"}',
                f"DEBUG echo {escaped}",
                "INFO scored 3 rows",
            ]
        )
    }
    capsys.readouterr()
    from scaffold import redact

    redact._registered.clear()  # as in a new process: logs fetches the keys itself
    assert _run(["logs", *argv], azure) == ExitCode.OK
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "INFO scored 3 rows" in text and "x-api-key=***" in text
    for secret in ("Zm9vYmFyYmF6", "eyJzdWIiOi", key.split("-")[1][:8]):
        assert secret not in text, text
