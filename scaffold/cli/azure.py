"""The Azure commands: `scaffold deploy`, `smoke`, `logs` and `delete` (azure-ai-ml, imported
only when one of them runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, number
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError


def _workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    add_workspace_options(parser)
    add_common(parser)


def add_workspace_options(parser: argparse.ArgumentParser) -> None:
    """--subscription, --resource-group, --workspace (also for `loadtest --deployed`)."""
    group = parser.add_argument_group(
        "workspace",
        "default: a config.json found like azure-ai-ml's MLClient.from_config (from the "
        "project upwards, then the working directory), else AZURE_SUBSCRIPTION_ID, "
        "AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME; sign-in: DefaultAzureCredential",
    )
    group.add_argument("--subscription", metavar="ID", help="Azure subscription id")
    group.add_argument("--resource-group", metavar="NAME", help="resource group of the workspace")
    group.add_argument("--workspace", metavar="NAME", help="Azure ML workspace name")


def _deploy_guards(parser: argparse.ArgumentParser, *, timeout: str) -> None:
    """--timeout, --no-validate, --no-quota-check (deploy and rollout)."""
    parser.add_argument("--timeout", type=number, default=1800.0, help=timeout)
    parser.add_argument("--no-validate", action="store_true", help="skip scaffold validate")
    parser.add_argument(
        "--no-quota-check",
        action="store_true",
        help="do not check the VM quota before creating anything (Azure checks it anyway)",
    )


def add_parsers(sub: Any) -> None:
    """`deploy`, `smoke`, `logs`, `delete`, `rollout`."""
    deploy = sub.add_parser(
        "deploy",
        help="deploy the project to an Azure ML managed online endpoint",
        description="Validate, then create or update the endpoint (endpoint.yml) and the "
        "deployment (deployment.yml) with azure-ai-ml, wait with progress, set traffic (100% "
        "to the first deployment) and print the scoring URI. On failure: the deployment logs "
        "and the likely cause with the setting to change. Needs pip install "
        "'aml-scaffold[azure]'.",
    )
    _workspace_arguments(deploy)
    deploy.add_argument(
        "--dry-run",
        action="store_true",
        help="print the azure-ai-ml entities as YAML; send nothing",
    )
    deploy.add_argument(
        "--traffic",
        metavar="DEP=PCT,...",
        help="live traffic split after deploying, e.g. blue=90,green=10 (default: 100 to the "
        "first deployment of an endpoint, else unchanged)",
    )
    deploy.add_argument(
        "--mirror", metavar="DEP=PCT", help="copy this share of live traffic to a deployment"
    )
    deploy.add_argument(
        "--push",
        action="store_true",
        help="build the image locally (linux/amd64) and push it to the workspace's registry, "
        "deploying it as environment.image instead of letting Azure build environment.build",
    )
    _deploy_guards(deploy, timeout="seconds to wait (default 1800)")
    deploy.add_argument(
        "--deployment",
        metavar="NAME",
        help="which of the project's deployments to create or update (its name or file; "
        "default: the only one, else deployment.yml)",
    )

    smoke = sub.add_parser(
        "smoke",
        help="run the project's smoke_test.py against the deployed endpoint",
        description="Get the scoring URI and key (or token) with azure-ai-ml and run the "
        "project's own smoke_test.py against it; the key is passed only in the "
        "AZUREML_ENDPOINT_KEY environment variable and never printed.",
    )
    _workspace_arguments(smoke)
    smoke.add_argument(
        "--deployment",
        help="test this deployment (azureml-model-deployment header), with its own samples "
        "when the project has it",
    )

    logs = sub.add_parser("logs", help="show a deployment's container log from Azure")
    _workspace_arguments(logs)
    logs.add_argument("--deployment", help="deployment (default: deployment.yml's name)")
    logs.add_argument(
        "--container",
        choices=["inference-server", "storage-initializer"],
        default="inference-server",
        help="which container (storage-initializer: model and code download)",
    )
    logs.add_argument("--lines", type=int, default=100, help="last N lines (default 100)")

    delete = sub.add_parser(
        "delete",
        help="delete the deployed endpoint (or one deployment)",
        description="Delete the endpoint of endpoint.yml with all its deployments, or only "
        "--deployment. Asks for confirmation on a terminal; without one, needs --yes.",
    )
    _workspace_arguments(delete)
    delete.add_argument("--deployment", help="delete only this deployment")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    rollout = sub.add_parser(
        "rollout",
        help="roll the project out as a new deployment, step by step, rolling back on failure",
        description="Deploy the project as deployment --to next to the live one with 0% "
        "traffic, smoke-test it through the azureml-model-deployment header, optionally mirror "
        "live traffic to it, then shift the traffic in --steps, checking the smoke test and "
        "the scoring error rate (Azure Monitor) after each; any failure restores the traffic "
        "the endpoint had (the new deployment is kept for its logs, or deleted with "
        "--cleanup); success retires the old deployment. Progress is recorded in the "
        "project's .scaffold/ folder: after Ctrl-C, run the same command again to resume, or "
        "--rollback to restore the traffic.",
    )
    _workspace_arguments(rollout)
    rollout.add_argument(
        "--to", metavar="DEPLOYMENT", help="name of the new deployment (e.g. green)"
    )
    rollout.add_argument(
        "--steps",
        default="10,50,100",
        metavar="PCT,...",
        help="traffic percents for the new deployment, ending at 100 (default 10,50,100)",
    )
    rollout.add_argument(
        "--mirror",
        type=int,
        default=0,
        metavar="PCT",
        help="first copy this percent of live traffic to it (answers dropped; at most 50)",
    )
    rollout.add_argument(
        "--step-wait",
        type=number,
        default=60.0,
        metavar="SECONDS",
        help="how long each step runs before it is checked (default 60; Azure Monitor "
        "collects metrics per minute)",
    )
    rollout.add_argument(
        "--max-error-rate",
        type=number,
        default=1.0,
        metavar="PCT",
        help="roll back when more than this percent of the new deployment's scoring "
        "requests fail (5xx, 408, 424, 429; default 1)",
    )
    rollout.add_argument(
        "--cleanup", action="store_true", help="on rollback, delete the new deployment too"
    )
    rollout.add_argument(
        "--keep-old", action="store_true", help="on success, keep the old deployment (0%%)"
    )
    rollout.add_argument(
        "--rollback",
        action="store_true",
        help="restore the traffic of a rollout that was interrupted (with --cleanup: and "
        "delete its new deployment)",
    )
    _deploy_guards(rollout, timeout="seconds to wait in all (default 1800)")
    rollout.set_defaults(handler=_cmd_rollout)

    deploy.set_defaults(handler=_cmd_deploy)
    smoke.set_defaults(handler=_cmd_smoke)
    logs.set_defaults(handler=_cmd_logs)
    delete.set_defaults(handler=_cmd_delete)


def client_for(args: argparse.Namespace, console: Console) -> Any:
    """An MLClient for the workspace the flags, config.json or environment name."""
    return _client(args, console)


def _workspace(args: argparse.Namespace, console: Console) -> Any:
    from scaffold.workspace import find_workspace

    ref = find_workspace(
        args.project,
        subscription_id=args.subscription,
        resource_group=args.resource_group,
        workspace_name=args.workspace,
    )
    console.step(
        f"Workspace {ref.workspace_name} (resource group {ref.resource_group}, "
        f"subscription {ref.subscription_id}; from {ref.source})"
    )
    return ref


def _connect(ref: Any, args: argparse.Namespace) -> Any:
    from scaffold.workspace import connect

    return connect(ref, **args.azure_options)


def _client(args: argparse.Namespace, console: Console) -> Any:
    return _connect(_workspace(args, console), args)


def _names(project: Path) -> tuple[str, str]:
    """(endpoint name, deployment name) from the project's YAML."""
    from scaffold.project import load_names

    return load_names(project)


def _smoke_arguments(project: Path, deployment: str | None) -> list[str]:
    """The samples of the project's deployment `deployment` (a deployment only on Azure,
    or none given: the main deployment's)."""
    from scaffold import deployments, layout

    root = project.expanduser().resolve()
    if not layout.deployment_files(root):
        return []
    chosen = deployments.local_deployment(root, deployment)
    return deployments.smoke_arguments(deployments.select(root, chosen), root)


def _cmd_deploy(args: argparse.Namespace, console: Console) -> int:
    from scaffold import deploy

    traffic = deploy.parse_traffic(args.traffic) if args.traffic else None
    mirror = deploy.parse_traffic(args.mirror, option="--mirror") if args.mirror else None
    deploy.check_split(traffic, mirror)
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    console.step("Validating and loading the project with azure-ai-ml")
    plan = deploy.load_deploy_plan(
        args.project, validate=not args.no_validate, deployment=args.deployment
    )
    if args.push and args.dry_run:
        from scaffold.push import image_name, use_image

        use_image(plan, image_name(plan, "<workspace-registry>.azurecr.io"))
    if args.dry_run:
        console.result(deploy.dump_plan(plan, traffic=traffic, mirror=mirror).rstrip())
        console.step("Dry run: nothing was sent to Azure")
        return ExitCode.OK
    ref = _workspace(args, console)
    from scaffold.assets import check_pinned_locally, workspace_key

    check_pinned_locally(  # before contacting Azure
        plan, workspace_key(ref.subscription_id, ref.resource_group, ref.workspace_name)
    )
    client = _connect(ref, args)
    if args.push:
        from scaffold.push import push_image, use_image

        use_image(plan, push_image(plan, client, console))
    result = deploy.deploy(
        plan,
        client,
        console,
        traffic=traffic,
        mirror=mirror,
        timeout=args.timeout,
        check_quota=not args.no_quota_check,
    )
    split = ", ".join(f"{k}={v}" for k, v in result.traffic.items()) or "none"
    console.result(f"Deployed {result.endpoint}/{result.deployment} (traffic {split})")
    if result.mirror_traffic:
        console.result("Mirror: " + ", ".join(f"{k}={v}" for k, v in result.mirror_traffic.items()))
    console.result(f"Scoring URI: {result.scoring_uri}")
    which = f" --deployment {result.deployment}" if args.deployment else ""
    console.result(f"Next: scaffold smoke{which} {args.project}")
    return ExitCode.OK


def _cmd_smoke(args: argparse.Namespace, console: Console) -> int:
    from scaffold import deploy

    endpoint, _ = _names(args.project)
    arguments = _smoke_arguments(args.project, args.deployment)
    client = _client(args, console)
    access = deploy.endpoint_access(client, endpoint)
    deploy.smoke_endpoint(
        args.project, access, console, deployment=args.deployment, arguments=arguments
    )
    console.result(f"OK: smoke test passed against {access.scoring_uri}")
    return ExitCode.OK


def _cmd_logs(args: argparse.Namespace, console: Console) -> int:
    from scaffold import deploy

    if args.lines < 1:
        raise UsageError(f"--lines {args.lines} must be at least 1")
    endpoint, deployment = _names(args.project)
    client = _client(args, console)
    name = args.deployment or deployment
    deploy.register_endpoint_keys(client, endpoint)  # masked if the log echoes one
    console.step(f"{args.container} log of {endpoint}/{name}")
    text = deploy.deployment_logs(
        client, endpoint, name, lines=args.lines, container=args.container
    )
    console.result(text.rstrip())
    return ExitCode.OK


def _cmd_delete(args: argparse.Namespace, console: Console) -> int:
    from scaffold import deploy

    endpoint, _ = _names(args.project)
    what = (
        f"deployment {endpoint}/{args.deployment}"
        if args.deployment
        else (f"endpoint {endpoint} and all its deployments")
    )
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not deleting {what} without confirmation: pass --yes")
        reply = input(f"Delete {what} from Azure? [y/N] ")
        if reply.strip().lower() not in {"y", "yes"}:
            raise UsageError("deletion not confirmed; nothing was deleted")
    client = _client(args, console)
    if deploy.delete(client, endpoint, console, deployment=args.deployment):
        console.result(f"Deleted {what}")
    else:
        console.result(f"Nothing to delete: {what} does not exist")
    return ExitCode.OK


def _cmd_rollout(args: argparse.Namespace, console: Console) -> int:
    from scaffold import deploy, rollout

    if args.rollback:
        if args.to:
            raise UsageError("--rollback restores the recorded rollout; leave --to out")
        endpoint, _ = _names(args.project)
        plan = deploy.load_deploy_plan(args.project, validate=False)
        restored = rollout.rollback(plan, _client(args, console), console, cleanup=args.cleanup)
        split = ", ".join(f"{k}={v}" for k, v in sorted(restored.items()))
        console.result(f"Rolled back {endpoint}: traffic {split}")
        return ExitCode.OK
    if not args.to:
        raise UsageError("name the new deployment: scaffold rollout --to green")
    deploy.check_name(args.to, option="--to")
    deploy.check_split(None, {args.to: args.mirror} if args.mirror else None)
    if args.mirror < 0 or args.step_wait < 0 or args.max_error_rate < 0 or args.timeout <= 0:
        raise UsageError("--mirror, --step-wait, --max-error-rate and --timeout must be positive")
    options = rollout.RolloutOptions(
        to=args.to,
        steps=rollout.parse_steps(args.steps),
        mirror=args.mirror,
        step_wait=args.step_wait,
        max_error_rate=args.max_error_rate,
        cleanup=args.cleanup,
        keep_old=args.keep_old,
        timeout=args.timeout,
        check_quota=not args.no_quota_check,
    )
    console.step("Validating and loading the project with azure-ai-ml")
    from scaffold.deployments import local_deployment

    # The project's own deployment of that name (scaffold deployment add) when it has one,
    # else its main deployment, deployed under the new name.
    plan = deploy.load_deploy_plan(
        args.project,
        validate=not args.no_validate,
        deployment=local_deployment(args.project, args.to),
    )
    result = rollout.rollout(plan, _client(args, console), options, console)
    split = ", ".join(f"{k}={v}" for k, v in sorted(result.traffic.items()) if v)
    console.result(f"Rolled out {result.endpoint}/{result.deployment} (traffic {split})")
    if result.retired:
        console.result(f"Retired: {', '.join(result.retired)}")
    if plan.settings.deployment_name and plan.settings.deployment_name != result.deployment:
        console.result(
            f"Note: deployment.yml names {plan.settings.deployment_name!r}; the live deployment "
            f"is now {result.deployment!r} (next time: scaffold rollout --to "
            f"{plan.settings.deployment_name})"
        )
    return ExitCode.OK
