"""`scaffold rollout`: Azure's "safe rollout" as one command, with automatic rollback.

The project is deployed as a new deployment (`to`) next to the live one(s) with 0% of the
traffic, smoke-tested through the `azureml-model-deployment` header (which reaches one
deployment whatever the traffic), optionally mirrored (a copy of live requests, answers
dropped), then given traffic step by step (`steps`, e.g. 10, 50, 100 percent; the live
deployments keep the rest in their old proportions). Between steps the smoke test runs again
and, when Azure Monitor answers, the new deployment's scoring error rate (`RequestsPerMinute`
by `statusCode`: 5xx, 408, 424, 429) must stay at or under `max_error_rate`. Any failure
restores the traffic and mirror the endpoint had before (the new deployment is kept for its
logs, or deleted with `cleanup`); success retires the old deployments.

Every phase is recorded before it starts, in `.scaffold/rollout-<endpoint>.json` of the
project, so a run interrupted by Ctrl-C (or a lost connection) resumes where it stopped: the
next `scaffold rollout --to <name>` waits for Azure's pending operation and repeats the phase
that was under way (each is idempotent); `--rollback` restores the traffic instead.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import (
    AzureError,
    DeploymentFailed,
    Interrupted,
    ScaffoldError,
    UsageError,
    ValidationFailed,
    WriteError,
)
from scaffold.localrun import Reporter, SilentReporter

if TYPE_CHECKING:
    from scaffold.deploy import DeployPlan

DEFAULT_STEPS = (10, 50, 100)
DEFAULT_STEP_WAIT = 60.0
DEFAULT_MAX_ERROR_RATE = 1.0
#: Statuses that count as scoring errors of a deployment (the troubleshooting article's
#: scoring codes that are the deployment's fault, not the caller's).
ERROR_STATUSES = frozenset({408, 424, 429})
#: Seconds to wait for an operation Azure still runs (after an interrupted run).
SETTLE_TIMEOUT = 1800.0
TRANSITIONAL = frozenset({"creating", "updating", "deleting", "scaling"})


@dataclass(frozen=True)
class RolloutOptions:
    """What `scaffold rollout` was asked for."""

    to: str
    steps: tuple[int, ...] = DEFAULT_STEPS
    mirror: int = 0
    step_wait: float = DEFAULT_STEP_WAIT
    #: Percent of the new deployment's requests that may fail between steps.
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    cleanup: bool = False
    keep_old: bool = False
    timeout: float = 1800.0
    check_quota: bool = True


@dataclass
class RolloutState:
    """The rollout's progress, recorded before each phase (see the module docstring)."""

    endpoint: str
    to: str
    workspace: str
    previous_traffic: dict[str, int]
    previous_mirror: dict[str, int]
    steps: list[int]
    mirror: int
    phase: str = "deploy"
    #: Index in `steps` of the last step fully applied and checked (-1: none yet).
    done_step: int = -1
    started: str = field(default_factory=lambda: _now())
    log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout ended."""

    endpoint: str
    deployment: str
    traffic: dict[str, int]
    retired: list[str]
    resumed: bool


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _split(split: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(split.items())) or "none"


def parse_steps(text: str) -> tuple[int, ...]:
    """'10,50,100' -> (10, 50, 100): increasing percents ending at 100."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--steps {text!r}: write increasing percents, e.g. 10,50,100") from None
    if not steps or steps[-1] != 100 or any(b <= a for a, b in itertools.pairwise(steps)):
        raise UsageError(f"--steps {text!r}: increasing percents from 1 to 100 ending at 100")
    if steps[0] < 1:
        raise UsageError(f"--steps {text!r}: the first step must be at least 1 percent")
    return steps


def shifted(previous: Mapping[str, int], to: str, percent: int) -> dict[str, int]:
    """Traffic with `percent` to `to` and the rest to the previous deployments in their old
    proportions (largest remainder, so the total is exactly 100)."""
    live = {k: int(v) for k, v in previous.items() if int(v) > 0 and k != to}
    rest = 100 - percent
    total = sum(live.values())
    result = dict.fromkeys(previous, 0)
    if not live or total <= 0:
        result[to] = 100
        return result
    shares = {k: v * rest / total for k, v in live.items()}
    floors = {k: int(v) for k, v in shares.items()}
    left = rest - sum(floors.values())
    for name in sorted(shares, key=lambda k: (shares[k] - floors[k], k), reverse=True)[:left]:
        floors[name] += 1
    result.update(floors)
    result[to] = percent
    return result


# -- state ---------------------------------------------------------------------------------------


def state_path(project: Path, endpoint: str) -> Path:
    """Where a rollout of `endpoint` records its progress."""
    from scaffold.assets import STATE_DIR

    return project / STATE_DIR / f"rollout-{endpoint}.json"


def load_state(project: Path, endpoint: str) -> RolloutState | None:
    """The recorded rollout of `endpoint`, if one is under way."""
    path = state_path(project, endpoint)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RolloutState(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(
            f"cannot read the rollout record {path} ({error}); delete it if no rollout runs"
        ) from None


def _save(project: Path, state: RolloutState) -> None:
    from scaffold import signals
    from scaffold.assets import state_dir

    path = state_path(project, state.endpoint)
    with signals.shielded():
        try:
            state_dir(project)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError as error:
            raise WriteError(
                f"cannot record the rollout in {path} ({error.strerror or error}); a rollout "
                "must be resumable: make the project folder writable"
            ) from None


def _clear(project: Path, endpoint: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(project, endpoint).unlink()


#: The endpoint tag that records a rollout in Azure too (a run from another checkout, e.g. a
#: re-run CI job, finds it). Azure limits tag values to 256 characters.
TAG = "scaffold-rollout"
TAG_LIMIT = 256


def _tag_value(state: RolloutState) -> str:
    """The rollout in a tag value ("" when it does not fit)."""
    value = json.dumps(
        {
            "to": state.to,
            "prev": state.previous_traffic,
            "prevm": state.previous_mirror,
            "m": state.mirror,
            "steps": state.steps,
            "phase": state.phase,
            "done": state.done_step,
        },
        separators=(",", ":"),
    )
    return value if len(value) <= TAG_LIMIT else ""


def state_from_tags(endpoint: Any, workspace: str) -> RolloutState | None:
    """The rollout recorded in an endpoint's tags, if any."""
    value = (getattr(endpoint, "tags", None) or {}).get(TAG)
    if not value:
        return None
    try:
        data = json.loads(value)
        return RolloutState(
            endpoint=str(endpoint.name),
            to=str(data["to"]),
            workspace=workspace,
            previous_traffic={str(k): int(v) for k, v in data["prev"].items()},
            previous_mirror={str(k): int(v) for k, v in (data.get("prevm") or {}).items()},
            steps=[int(x) for x in data["steps"]],
            mirror=int(data.get("m") or 0),
            phase=str(data["phase"]),
            done_step=int(data["done"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# -- Azure --------------------------------------------------------------------------------------


def _endpoint(client: Any, name: str) -> Any:
    from scaffold.deploy import _get_endpoint

    return _get_endpoint(client, name)


def _state_of(entity: Any) -> str:
    """An entity's provisioning state as Azure spells it (the SDK may hand an enum)."""
    value = getattr(entity, "provisioning_state", None)
    return str(getattr(value, "value", value) or "")


def _settle(client: Any, endpoint: str, to: str, reporter: Reporter, deadline: float) -> None:
    """Wait while Azure still runs an operation on the endpoint or the new deployment
    (after an interrupted run: another update would be refused with 409)."""
    from azure.core.exceptions import ResourceNotFoundError

    from scaffold.deploy import azure_errors, sdk_quiet

    noted = False
    while True:
        with sdk_quiet(), azure_errors(f"reading {endpoint}"):
            states = [_state_of(client.online_endpoints.get(endpoint))]
            try:
                deployment = client.online_deployments.get(name=to, endpoint_name=endpoint)
                states.append(_state_of(deployment))
            except ResourceNotFoundError:
                pass
        busy = [s for s in states if s.lower() in TRANSITIONAL]
        if not busy:
            return
        if not noted:
            reporter.step(f"Waiting for Azure to finish the operation under way ({busy[0]})")
            noted = True
        if time.monotonic() >= deadline:
            raise AzureError(
                f"{endpoint} is still {busy[0].lower()} after waiting; try again later"
            )
        time.sleep(2.0)


def set_traffic(
    client: Any,
    endpoint: str,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    reporter: Reporter,
    deadline: float,
    *,
    record: RolloutState | None = None,
) -> None:
    """Set the endpoint's live and mirrored traffic (every other deployment to 0). The same
    update writes the rollout's record into the endpoint's tags (`record`), or removes it
    (None): so the traffic and the record of why it is so change together."""
    from scaffold.deploy import _wait, azure_errors, sdk_quiet

    found = _endpoint(client, endpoint)
    if found is None:
        raise AzureError(f"endpoint {endpoint} does not exist any more")
    current = {k: int(v) for k, v in (found.traffic or {}).items()}
    found.traffic = {**dict.fromkeys(current, 0), **{k: int(v) for k, v in traffic.items()}}
    found.mirror_traffic = {k: int(v) for k, v in mirror.items() if int(v)}
    tags = dict(found.tags or {})
    tags.pop(TAG, None)
    value = _tag_value(record) if record is not None else ""
    if value:
        tags[TAG] = value
    found.tags = tags
    shown = _split({k: v for k, v in found.traffic.items() if v})
    reporter.step(
        f"Traffic of {endpoint}: {shown}"
        + (f"; mirror {_split(found.mirror_traffic)}" if found.mirror_traffic else "")
    )
    with sdk_quiet(), azure_errors(f"setting the traffic of {endpoint}"):
        poller = client.online_endpoints.begin_create_or_update(found)
        try:
            _wait(poller, reporter, f"traffic of {endpoint}", deadline)
        except TimeoutError:
            raise AzureError(f"the traffic update of {endpoint} did not finish in time") from None
    _until_visible(client, endpoint, found.traffic, found.mirror_traffic, reporter, deadline)


#: How long to read an endpoint back until a finished traffic update shows.
VISIBLE_TIMEOUT = 120.0


def _until_visible(
    client: Any,
    endpoint: str,
    traffic: Mapping[str, int],
    mirror: Mapping[str, int],
    reporter: Reporter,
    deadline: float,
) -> None:
    """Read the endpoint back until it shows the traffic just set. Azure can answer with the
    old split for a while after the update finished (Azure/azure-dev#3881); what follows
    (retiring a deployment, which is refused while it has traffic; resuming from the tags)
    must see the new one. Gives up quietly after VISIBLE_TIMEOUT: the update itself did
    succeed."""
    wanted = ({k: v for k, v in traffic.items() if v}, {k: v for k, v in mirror.items() if v})
    until = min(deadline, time.monotonic() + VISIBLE_TIMEOUT)
    noted = False
    while True:
        found = _endpoint(client, endpoint)
        if found is None:
            return
        seen = (
            {k: int(v) for k, v in (found.traffic or {}).items() if int(v)},
            {k: int(v) for k, v in (found.mirror_traffic or {}).items() if int(v)},
        )
        if seen == wanted or time.monotonic() >= until:
            return
        if not noted:
            reporter.detail(f"waiting for Azure to show the new traffic of {endpoint}")
            noted = True
        time.sleep(1.0)


def error_rate(
    client: Any, endpoint_id: str, deployment: str, since: float
) -> tuple[int, int] | None:
    """(errors, requests) of `deployment` since `since` (epoch seconds) from Azure Monitor's
    `RequestsPerMinute` metric of the endpoint, split by status code; None when the metrics
    cannot be read (no Monitoring Reader role, another cloud, not yet collected)."""
    from azure.core import PipelineClient
    from azure.core.exceptions import AzureError as CoreError
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest

    base = str(getattr(client, "_base_url", "") or "https://management.azure.com").rstrip("/")
    options = dict(getattr(client, "_kwargs", {}) or {})
    start = datetime.datetime.fromtimestamp(since - 60, datetime.UTC)
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
    span = f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}"
    url = f"{base}{endpoint_id}/providers/Microsoft.Insights/metrics"
    params = {
        "api-version": "2018-01-01",
        "metricnames": "RequestsPerMinute",
        # The metric's documented aggregation: each PT1M point is that minute's requests.
        "aggregation": "Average",
        "interval": "PT1M",
        "timespan": span,
        "$filter": f"deployment eq '{deployment}' and statusCode eq '*'",
    }
    pipeline: PipelineClient[Any, Any] = PipelineClient(
        base,
        policies=[BearerTokenCredentialPolicy(client._credential, f"{base}/.default")],
        transport=RequestsTransport(connection_verify=options.get("connection_verify", True)),
    )
    try:
        with pipeline:
            response = pipeline.send_request(HttpRequest("GET", url, params=params))
            if response.status_code != 200:
                return None
            body = response.json()
    except (CoreError, ValueError, OSError):
        return None
    errors = requests = 0
    for metric in body.get("value") or []:
        for series in metric.get("timeseries") or []:
            status = next(
                (
                    str(m.get("value"))
                    for m in series.get("metadatavalues") or []
                    if str((m.get("name") or {}).get("value", "")).lower() == "statuscode"
                ),
                "",
            )
            count = round(
                sum(
                    float(p.get("average") or p.get("total") or 0) for p in series.get("data") or []
                )
            )
            requests += count
            if status.isdigit() and (int(status) >= 500 or int(status) in ERROR_STATUSES):
                errors += count
    return errors, requests


# -- the rollout --------------------------------------------------------------------------------


@dataclass
class _Run:
    plan: DeployPlan
    client: Any
    reporter: Reporter
    options: RolloutOptions
    state: RolloutState
    deadline: float
    #: Called before each phase with its name (tests; a hook for CI annotations).
    on_phase: Callable[[str], None] | None = None

    @property
    def endpoint(self) -> str:
        return self.state.endpoint

    @property
    def to(self) -> str:
        return self.state.to

    def save(self, phase: str | None = None, note: str = "") -> None:
        if phase is not None:
            self.state.phase = phase
        if note:
            self.state.log.append(f"{_now()} {note}")
        _save(self.plan.project, self.state)
        if phase is not None and self.on_phase is not None:
            self.on_phase(phase)


def _check_health(run: _Run, since: float, what: str) -> None:
    """Smoke-test the new deployment through its header, then read its error rate."""
    from scaffold.deploy import endpoint_access, smoke_endpoint

    access = endpoint_access(run.client, run.endpoint)
    smoke_endpoint(run.plan.project, access, run.reporter, deployment=run.to)
    found = _endpoint(run.client, run.endpoint)
    rate = error_rate(run.client, str(getattr(found, "id", "") or ""), run.to, since)
    if rate is None:
        run.reporter.detail(
            f"{what}: no scoring metrics from Azure Monitor (role Monitoring Reader, or not "
            "collected yet); the smoke test decides",
            important=True,
        )
        return
    errors, requests = rate
    percent = 100.0 * errors / requests if requests else 0.0
    run.reporter.detail(
        f"{what}: {run.to} answered {requests} request(s), {errors} failed ({percent:.1f}%; "
        f"limit {run.options.max_error_rate:g}%)",
        important=True,
    )
    if requests and percent > run.options.max_error_rate:
        raise DeploymentFailed(
            f"{run.to} failed {errors} of {requests} scoring requests ({percent:.1f}%, more "
            f"than --max-error-rate {run.options.max_error_rate:g}%) at {what}"
        )


def _pause(run: _Run) -> float:
    """Let traffic flow for step_wait seconds; return when the window started."""
    started = time.time()
    if run.options.step_wait > 0:
        run.reporter.detail(f"watching for {run.options.step_wait:g}s", important=True)
        time.sleep(run.options.step_wait)
    return started


def _deploy_new(run: _Run) -> None:
    from scaffold.deploy import deploy

    run.plan.deployment.name = run.to
    run.reporter.step(
        f"Deploying {run.endpoint}/{run.to} next to {_split(run.state.previous_traffic)} "
        "with 0% traffic"
    )
    deploy(
        run.plan,
        run.client,
        run.reporter,
        timeout=max(1.0, run.deadline - time.monotonic()),
        check_quota=run.options.check_quota,
        keep_traffic=True,
    )


def _phases(run: _Run) -> None:
    state = run.state
    if state.phase == "deploy":
        _deploy_new(run)
        run.save("smoke", f"deployed {run.to}")
    if state.phase == "smoke":
        run.reporter.step(f"Smoke test of {run.to} through the azureml-model-deployment header")
        _check_health(run, time.time(), "smoke test at 0%")
        run.save("mirror" if state.mirror else "shift", "smoke test passed")
    if state.phase == "mirror":
        set_traffic(
            run.client,
            run.endpoint,
            state.previous_traffic,
            {run.to: state.mirror},
            run.reporter,
            run.deadline,
            record=state,
        )
        since = _pause(run)
        _check_health(run, since, f"mirror {state.mirror}%")
        state.phase = "shift"
        set_traffic(
            run.client,
            run.endpoint,
            state.previous_traffic,
            state.previous_mirror,
            run.reporter,
            run.deadline,
            record=state,
        )
        run.save("shift", f"mirrored {state.mirror}%")
    if state.phase == "shift":
        for index in range(state.done_step + 1, len(state.steps)):
            percent = state.steps[index]
            run.save(note=f"step {percent}%")
            if run.on_phase is not None:
                run.on_phase(f"step-{percent}")
            traffic = shifted(state.previous_traffic, run.to, percent)
            set_traffic(
                run.client, run.endpoint, traffic, {}, run.reporter, run.deadline, record=state
            )
            since = _pause(run)
            _check_health(run, since, f"{percent}% of the traffic")
            state.done_step = index
            run.save(note=f"step {percent}% healthy")
        run.save("retire", "all traffic on the new deployment")


def _retire(run: _Run) -> list[str]:
    from scaffold.deploy import delete

    old = [k for k, v in run.state.previous_traffic.items() if k != run.to and int(v) > 0]
    old += [k for k in run.state.previous_mirror if k != run.to and k not in old]
    if run.options.keep_old:
        run.reporter.detail(f"kept {', '.join(old)} (0% traffic; --keep-old)", important=True)
        return []
    retired = []
    for name in old:
        if delete(
            run.client,
            run.endpoint,
            run.reporter,
            deployment=name,
            timeout=max(1.0, run.deadline - time.monotonic()),
        ):
            retired.append(name)
    return retired


def _finish(run: _Run) -> None:
    """Remove the rollout's record from the endpoint's tags (the traffic stays)."""
    found = _endpoint(run.client, run.endpoint)
    if found is None or TAG not in (found.tags or {}):
        return
    traffic = {k: int(v) for k, v in (found.traffic or {}).items()}
    mirror = {k: int(v) for k, v in (found.mirror_traffic or {}).items()}
    set_traffic(run.client, run.endpoint, traffic, mirror, run.reporter, run.deadline)


def rollback(
    plan: DeployPlan,
    client: Any,
    reporter: Reporter | None = None,
    *,
    state: RolloutState | None = None,
    cleanup: bool = False,
    timeout: float = 900.0,
) -> dict[str, int]:
    """Restore the traffic and mirror the endpoint had before the rollout; delete the new
    deployment with `cleanup`. Returns the restored traffic."""
    from scaffold.deploy import delete

    reporter = reporter or SilentReporter()
    state = state or load_state(plan.project, plan.endpoint_name) or _tagged(plan, client)
    if state is None:
        raise UsageError(
            f"no rollout of {plan.endpoint_name} is recorded (in this project or the endpoint's "
            "tags); nothing to roll back"
        )
    deadline = time.monotonic() + timeout
    _settle(client, state.endpoint, state.to, reporter, deadline)
    reporter.step(f"Rolling back: traffic of {state.endpoint} to {_split(state.previous_traffic)}")
    set_traffic(
        client, state.endpoint, state.previous_traffic, state.previous_mirror, reporter, deadline
    )
    if cleanup:
        delete(
            client,
            state.endpoint,
            reporter,
            deployment=state.to,
            timeout=max(1.0, deadline - time.monotonic()),
        )
    _clear(plan.project, state.endpoint)
    return dict(state.previous_traffic)


def _new_state(plan: DeployPlan, client: Any, options: RolloutOptions) -> RolloutState:
    from scaffold.deploy import workspace_of

    found = _endpoint(client, plan.endpoint_name)
    traffic = {k: int(v) for k, v in ((found.traffic or {}) if found else {}).items()}
    live = {k: v for k, v in traffic.items() if v > 0}
    if found is None or not live:
        raise UsageError(
            f"endpoint {plan.endpoint_name} has no deployment with traffic to roll out from; "
            "deploy the first version with scaffold deploy"
        )
    if live.get(options.to):
        raise UsageError(
            f"{options.to} already receives {live[options.to]}% of {plan.endpoint_name}'s "
            f"traffic ({_split(live)}); roll out to another name, e.g. --to "
            f"{'blue' if options.to != 'blue' else 'green'}"
        )
    mirror = {k: int(v) for k, v in (found.mirror_traffic or {}).items() if int(v)}
    return RolloutState(
        endpoint=plan.endpoint_name,
        to=options.to,
        workspace=workspace_of(client),
        previous_traffic=traffic,
        previous_mirror={k: v for k, v in mirror.items() if k != options.to},
        steps=list(options.steps),
        mirror=options.mirror,
    )


def _tagged(plan: DeployPlan, client: Any) -> RolloutState | None:
    """A rollout recorded only in the endpoint's tags (started from another checkout)."""
    from scaffold.deploy import workspace_of

    found = _endpoint(client, plan.endpoint_name)
    return state_from_tags(found, workspace_of(client)) if found is not None else None


def _resumable(state: RolloutState, options: RolloutOptions, reporter: Reporter) -> None:
    if state.to != options.to:
        raise UsageError(
            f"a rollout of {state.endpoint} to {state.to} is under way ({state.phase}); resume "
            f"it with --to {state.to} or restore the traffic with --rollback"
        )
    if list(options.steps) != state.steps or options.mirror != state.mirror:
        reporter.detail(
            f"resuming with the recorded steps {','.join(map(str, state.steps))}"
            + (f" and mirror {state.mirror}%" if state.mirror else ""),
            important=True,
        )


@contextlib.contextmanager
def _interrupt_note(project: Path, state: RolloutState) -> Iterator[None]:
    """Ctrl-C: the record stays; the message says how to resume or roll back."""
    try:
        yield
    except KeyboardInterrupt as stop:
        where = f"{state.phase}" + (
            f", step {state.steps[state.done_step]}% done" if state.done_step >= 0 else ""
        )
        note = (
            f"the rollout of {state.to} stopped at {where} (recorded in "
            f"{state_path(project, state.endpoint).relative_to(project)}); run scaffold rollout "
            f"--to {state.to} again to resume, or scaffold rollout --rollback to restore "
            f"{_split(state.previous_traffic)}"
        )
        signum = stop.signum if isinstance(stop, Interrupted) else 2
        raise Interrupted(signum, note) from None


def rollout(
    plan: DeployPlan,
    client: Any,
    options: RolloutOptions,
    reporter: Reporter | None = None,
    *,
    on_phase: Callable[[str], None] | None = None,
) -> RolloutResult:
    """Roll the project out as deployment `options.to` (see the module docstring).

    `plan` is the deployment to roll out (its name is replaced by `options.to`). Raises
    DeploymentFailed after rolling back when a phase fails, Interrupted (with how to
    resume) on Ctrl-C, UsageError when there is nothing to roll out from.
    """
    reporter = reporter or SilentReporter()
    deadline = time.monotonic() + options.timeout
    state = load_state(plan.project, plan.endpoint_name) or _tagged(plan, client)
    resumed = state is not None
    if state is not None:
        _resumable(state, options, reporter)
        reporter.step(
            f"Resuming the rollout of {state.endpoint} to {state.to} at {state.phase} "
            f"(started {state.started})"
        )
        _settle(client, state.endpoint, state.to, reporter, deadline)
    else:
        state = _new_state(plan, client, options)
        reporter.step(
            f"Rolling out {plan.endpoint_name}/{state.to}: {_split(state.previous_traffic)} "
            f"now; steps {', '.join(f'{s}%' for s in state.steps)}"
            + (f", mirror {state.mirror}% first" if state.mirror else "")
        )
    run = _Run(plan, client, reporter, options, state, deadline, on_phase)
    run.save(note="started" if not resumed else "resumed")
    with _interrupt_note(plan.project, state):
        try:
            if state.phase != "retire":
                _phases(run)
        except (ValidationFailed, UsageError):
            if state.phase == "deploy":  # refused before anything was created
                _clear(plan.project, state.endpoint)
            raise
        except ScaffoldError as failure:
            if state.phase == "deploy" and isinstance(failure, AzureError):
                _clear(plan.project, state.endpoint)  # e.g. quota: nothing was created
                raise
            raise _rolled_back(run, failure) from None
        retired = _retire(run)
        _finish(run)
    _clear(plan.project, state.endpoint)
    final = shifted(state.previous_traffic, state.to, 100)
    return RolloutResult(state.endpoint, state.to, final, retired, resumed)


def _rolled_back(run: _Run, failure: ScaffoldError) -> ScaffoldError:
    """Roll back after `failure`; the error to raise (with what was restored)."""
    state = run.state
    where = (
        state.phase
        if state.phase != "shift"
        else (
            f"{state.steps[state.done_step + 1]}% of the traffic"
            if state.done_step + 1 < len(state.steps)
            else "the last step"
        )
    )
    try:
        restored = rollback(
            run.plan,
            run.client,
            run.reporter,
            state=state,
            cleanup=run.options.cleanup,
            timeout=max(60.0, run.deadline - time.monotonic()),
        )
    except ScaffoldError as error:
        return DeploymentFailed(
            f"rollout of {state.to} failed at {where} ({failure.message}) and the rollback "
            f"failed too ({error.message}); run scaffold rollout --rollback",
            details=failure.details,
        )
    kept = (
        f"{state.to} deleted (--cleanup)"
        if run.options.cleanup
        else f"{state.to} kept for its logs (scaffold logs --deployment {state.to}; "
        f"scaffold delete --deployment {state.to} removes it)"
    )
    return DeploymentFailed(
        f"rollout of {state.to} rolled back at {where}: {failure.message}; traffic restored "
        f"to {_split(restored)}, {kept}",
        details=failure.details,
    )
