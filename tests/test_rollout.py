"""`scaffold rollout` end to end against the ARM stand-in (tests/standins/arm_standin.py:
traffic rules, routing by the azureml-model-deployment header, RequestsPerMinute metrics,
409 while an operation runs), through the real azure-ai-ml: success, a failure at every
phase and step with automatic rollback, Ctrl-C and resume, --rollback."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode, UsageError
from scaffold.rollout import parse_steps, shifted

FAST = ["--step-wait", "0"]


def _cli(*argv: str, azure: dict[str, Any]) -> int:  # noqa: F811
    return main([*argv, *WS_FLAGS], azure=azure)


def _traffic_puts(arm: ArmStandin, endpoint: str) -> list[tuple[dict[str, int], dict[str, int]]]:  # noqa: F811
    """(traffic, mirror) of every endpoint update, in order."""
    result = []
    for record in arm.seen("PUT", rf"/onlineEndpoints/{endpoint}$"):
        props = json.loads(record.body).get("properties", {})
        live = {k: int(v) for k, v in (props.get("traffic") or {}).items() if int(v)}
        mirror = {k: int(v) for k, v in (props.get("mirrorTraffic") or {}).items() if int(v)}
        result.append((live, mirror))
    return result


@pytest.fixture
def live(render: Render, arm: ArmStandin, azure: dict[str, Any]) -> Path:  # noqa: F811
    """A project deployed as blue with all the traffic (the starting point of a rollout)."""
    project = render("minimal", name="roll-ep")
    assert _cli("deploy", str(project), azure=azure) == ExitCode.OK
    assert arm.traffic("roll-ep") == {"blue": 100}
    arm.scenario.response = (project / "sample_response.json").read_bytes()
    return project


def _state(project: Path) -> Path:
    return project / ".scaffold" / "rollout-roll-ep.json"


def test_steps_and_traffic_arithmetic() -> None:
    assert parse_steps("10,50,100") == (10, 50, 100)
    assert parse_steps("100") == (100,)
    for bad in ("50,10,100", "10,50", "0,100", "10,x,100", "", "10,10,100"):
        with pytest.raises(UsageError):
            parse_steps(bad)
    assert shifted({"blue": 100}, "green", 10) == {"blue": 90, "green": 10}
    # several live deployments keep their proportions; the total stays exactly 100
    split = shifted({"blue": 70, "red": 30, "old": 0}, "green", 25)
    assert split == {"blue": 52, "red": 23, "old": 0, "green": 25} and sum(split.values()) == 100
    assert shifted({"blue": 100}, "green", 100) == {"blue": 0, "green": 100}


def test_a_rollout_shifts_step_by_step_and_retires_the_old_deployment(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    before = len(_traffic_puts(arm, "roll-ep"))
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.OK
    shown = capsys.readouterr()
    updates = [t for t, _ in _traffic_puts(arm, "roll-ep")[before:]]
    assert {"blue": 90, "green": 10} in updates and {"blue": 50, "green": 50} in updates
    assert updates[-1] == {"green": 100}
    assert arm.traffic("roll-ep") == {"blue": 0, "green": 100} or arm.traffic("roll-ep") == {
        "green": 100
    }
    assert set(arm.deployments("roll-ep")) == {"green"}  # blue retired
    # the smoke test reached green through the header at 0% and after every step
    header = [
        r for r in arm.seen("POST", r"^/score/roll-ep$") if r.header("azureml-model-deployment")
    ]
    assert len(header) >= 4 and {r.header("azureml-model-deployment") for r in header} == {"green"}
    err = shown.err
    for line in ("Traffic of roll-ep: blue=90, green=10", "blue=50, green=50", "green=100"):
        assert line in err
    assert "failed (0.0%; limit 1%)" in err  # the error rate from the metrics was read
    assert "Rolled out roll-ep/green (traffic green=100)" in shown.out
    assert "Retired: blue" in shown.out and "next time: scaffold rollout --to blue" in shown.out
    assert not _state(live).exists()


def test_a_traffic_update_not_yet_visible_is_waited_for(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Azure may read an endpoint back with its old traffic just after a traffic update
    finished (Azure/azure-dev#3881): a rollout reads until the new split shows, so retiring
    blue is not refused for the traffic it no longer has."""
    arm.scenario.stale_reads = 6
    capsys.readouterr()
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.OK
    assert set(arm.deployments("roll-ep")) == {"green"}  # blue retired
    assert not _state(live).exists()


def test_mirroring_first_copies_traffic_to_the_new_deployment(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
) -> None:
    before = len(_traffic_puts(arm, "roll-ep"))
    argv = ["rollout", str(live), "--to", "green", "--mirror", "20", "--steps", "100"]
    assert _cli(*argv, *FAST, azure=azure) == ExitCode.OK
    updates = _traffic_puts(arm, "roll-ep")[before:]
    assert ({"blue": 100}, {"green": 20}) in updates  # mirrored while blue serves
    index = updates.index(({"blue": 100}, {"green": 20}))
    assert updates[index + 1] == ({"blue": 100}, {})  # mirror off before live traffic moves
    assert updates[-1] == ({"green": 100}, {})


@pytest.mark.parametrize("cleanup", [False, True])
def test_a_failed_deployment_rolls_back(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    cleanup: bool,
) -> None:
    arm.scenario.deployment_errors = {"green": ("ResourceNotReady", "")}
    argv = ["rollout", str(live), "--to", "green", *FAST, *(["--cleanup"] if cleanup else [])]
    assert _cli(*argv, azure=azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert "rollout of green rolled back at deploy" in err
    assert "ResourceNotReady" in err and "readiness_probe.initial_delay" in err
    assert "traffic restored to blue=100" in err
    assert arm.traffic("roll-ep").get("blue") == 100 and not arm.traffic("roll-ep").get("green")
    assert ("green" in arm.deployments("roll-ep")) is not cleanup
    assert ("deleted (--cleanup)" in err) is cleanup and ("kept for its logs" in err) is not cleanup
    assert not _state(live).exists()


def test_a_failed_smoke_test_rolls_back_before_any_traffic_moves(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    arm.scenario.scoring_status = {"green": 500}
    before = len(_traffic_puts(arm, "roll-ep"))
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.DEPLOY_FAILED
    assert "rolled back at smoke" in capsys.readouterr().err
    assert all(t == {"blue": 100} for t, _ in _traffic_puts(arm, "roll-ep")[before:])


@pytest.mark.parametrize("breaks_at", [10, 50, 100])
def test_a_failure_at_each_step_rolls_back(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    breaks_at: int,
) -> None:
    """green breaks once it carries `breaks_at` percent of the traffic: the check after
    that step fails, and the traffic goes back to blue."""
    arm.scenario.fail_from_traffic = {"green": breaks_at}
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert f"rolled back at {breaks_at}% of the traffic" in err
    assert "traffic restored to blue=100" in err
    assert arm.traffic("roll-ep")["blue"] == 100 and not arm.traffic("roll-ep").get("green")
    assert "blue" in arm.deployments("roll-ep")  # never retired
    assert not _state(live).exists()


@pytest.fixture
def users(arm: ArmStandin) -> Iterator[None]:  # noqa: F811
    """Real users' traffic: requests without the deployment header, routed by weight."""
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            request = urllib.request.Request(
                f"{arm.base_url}/score/roll-ep",
                data=b"{}",
                headers={"Authorization": f"Bearer {arm.keys['primaryKey']}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5, context=_tls(arm)):
                    pass
            except OSError:
                pass
            stop.wait(0.02)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def _tls(arm: ArmStandin) -> Any:  # noqa: F811
    import ssl

    return ssl.create_default_context(cafile=str(arm.ca))


def test_the_error_rate_of_real_traffic_rolls_back_even_when_the_smoke_test_passes(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    users: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """green answers the smoke test (header) but fails users' requests: Azure Monitor's
    RequestsPerMinute by status code shows it, and the rollout goes back."""
    arm.scenario.traffic_status = {"green": 503}
    argv = ["rollout", str(live), "--to", "green", "--step-wait", "1"]
    assert _cli(*argv, azure=azure) == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert "more than --max-error-rate 1%" in err and "rolled back at 10% of the traffic" in err
    assert arm.traffic("roll-ep")["blue"] == 100
    assert arm.seen("GET", r"/onlineEndpoints/roll-ep/providers/Microsoft\.Insights/metrics$")


def test_without_metrics_the_smoke_test_decides(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    arm.scenario.metrics_forbidden = True
    argv = ["rollout", str(live), "--to", "green", "--steps", "50,100", *FAST]
    assert _cli(*argv, azure=azure) == ExitCode.OK
    assert "no scoring metrics from Azure Monitor" in capsys.readouterr().err


def test_ctrl_c_keeps_the_record_and_a_second_run_resumes(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Ctrl-C while Azure applies the 50% step (operations run about 2 s here, so the update
    # is still under way when the second run starts).
    arm.scenario.polls = 10_000
    arm.scenario.interrupt_on = ("PUT", r"/onlineEndpoints/roll-ep$", r'"green": 50')
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == 130
    err = capsys.readouterr().err
    assert "stopped at shift, step 10% done" in err
    assert "scaffold rollout --to green again to resume" in err and "--rollback" in err
    state = json.loads(_state(live).read_text())
    assert (state["phase"], state["done_step"], state["previous_traffic"]) == (
        "shift",
        0,
        {"blue": 100},
    )
    # The second run waits for the operation Azure still runs, then carries on.
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.OK
    shown = capsys.readouterr()
    assert "Resuming the rollout of roll-ep to green at shift" in shown.err
    assert "Waiting for Azure to finish the operation under way (Updating)" in shown.err
    assert "Rolled out roll-ep/green" in shown.out
    assert set(arm.deployments("roll-ep")) == {"green"}
    assert not _state(live).exists()


def test_ctrl_c_then_rollback_restores_the_traffic(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    arm.scenario.interrupt_on = ("PUT", r"/onlineEndpoints/roll-ep$", r'"green": 10')
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == 130
    assert _state(live).exists()
    capsys.readouterr()
    # another target while one is under way: refused, nothing sent
    assert _cli("rollout", str(live), "--to", "red", *FAST, azure=azure) == ExitCode.USAGE
    assert "a rollout of roll-ep to green is under way" in capsys.readouterr().err
    assert _cli("rollout", str(live), "--rollback", "--cleanup", azure=azure) == ExitCode.OK
    assert "Rolled back roll-ep: traffic blue=100" in capsys.readouterr().out
    assert arm.traffic("roll-ep")["blue"] == 100
    assert set(arm.deployments("roll-ep")) == {"blue"}
    assert not _state(live).exists()
    assert _cli("rollout", str(live), "--rollback", azure=azure) == ExitCode.USAGE


def test_what_cannot_be_rolled_out_is_refused_with_the_fix(
    render: Render,
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _cli("rollout", str(live), "--to", "blue", *FAST, azure=azure) == ExitCode.USAGE
    assert "blue already receives 100%" in capsys.readouterr().err
    requests = len(arm.requests)
    for bad in (["--steps", "50,20"], ["--mirror", "60"], [], ["--to", "Green_2"]):
        to = [] if not bad or bad[0] == "--to" else ["--to", "green"]
        assert _cli("rollout", str(live), *to, *bad, azure=azure) == ExitCode.USAGE
    assert len(arm.requests) == requests  # checked before contacting Azure
    fresh = render("minimal", name="fresh-ep")
    assert _cli("rollout", str(fresh), "--to", "green", *FAST, azure=azure) == ExitCode.USAGE
    assert "no deployment with traffic to roll out from" in capsys.readouterr().err
    # not enough quota for the new deployment: refused before anything is created
    arm.scenario.quota = {"standardDSv2Family": 10}
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.AZURE
    assert "not enough VM quota" in capsys.readouterr().err
    assert "green" not in arm.deployments("roll-ep") and not _state(live).exists()


def test_a_rollout_is_also_recorded_in_the_endpoint_tags_for_another_checkout(
    live: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CI job cancelled mid-rollout leaves no local record on the next job's fresh
    checkout: the traffic update itself wrote the rollout into the endpoint's tags."""
    arm.scenario.interrupt_on = ("PUT", r"/onlineEndpoints/roll-ep$", r'"green": 50')
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == 130
    tag = json.loads(arm.endpoint("roll-ep")["tags"]["scaffold-rollout"])
    assert (tag["to"], tag["prev"], tag["phase"], tag["steps"]) == (
        "green",
        {"blue": 100},
        "shift",
        [10, 50, 100],
    )
    (live / ".scaffold" / "rollout-roll-ep.json").unlink()  # a fresh checkout
    capsys.readouterr()
    assert _cli("rollout", str(live), "--to", "green", *FAST, azure=azure) == ExitCode.OK
    assert "Resuming the rollout of roll-ep to green at shift" in capsys.readouterr().err
    assert "scaffold-rollout" not in (arm.endpoint("roll-ep").get("tags") or {})
    assert set(arm.deployments("roll-ep")) == {"green"}
