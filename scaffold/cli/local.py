"""`scaffold run`, `serve`, `loadtest` and `clean`: the project's container on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, number, validate_before_run
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError

#: Bounds of `loadtest`: requests per level or run, seconds of a --deployed run, its rate.
MAX_REQUESTS = 100_000
MAX_DURATION = 3600.0
MAX_RATE = 1000.0


def add_parsers(sub: Any) -> None:
    """`run`, `serve`, `loadtest`, `probe-tune`, `clean`."""
    run = sub.add_parser(
        "run",
        help="build and run a project like Azure ML, then smoke-test it",
        description="Build the project's image, start it with the model and code mounted where "
        "Azure ML mounts them and the same environment variables, wait for liveness and "
        "readiness with the probe settings of deployment.yml, run smoke_test.py, and remove "
        "the container (also on Ctrl-C). Ports are published on random 127.0.0.1 ports.",
    )
    _run_arguments(run)
    run.add_argument("--no-smoke", action="store_true", help="stop after readiness")
    _frontend_argument(run)
    run.add_argument(
        "--serve",
        action="store_true",
        help="keep the container up after readiness (no smoke test): print its URLs and a "
        "curl line, follow its log, remove it on Ctrl-C or SIGTERM",
    )
    _serve_arguments(run)

    serve = sub.add_parser(
        "serve",
        help="run a project like Azure ML and keep it up (= run --serve)",
        description="Build and start the project exactly like `scaffold run`, wait for "
        "readiness, then keep it serving on 127.0.0.1: prints the URL of every route and "
        "ready-to-paste curl and smoke_test.py lines, follows the container log, and stops "
        "and removes the container on Ctrl-C or SIGTERM.",
    )
    _run_arguments(serve)
    _serve_arguments(serve)
    _frontend_argument(serve)

    loadtest = sub.add_parser(
        "loadtest",
        help="size the deployment: drive the scoring route at rising concurrency",
        description="Start the project like `scaffold run` (with the CPU and memory of its "
        "instance type, pinned away from the load client), then POST its sample request "
        "through a local emulation of Azure's front end to the scoring route at rising "
        "concurrency (each level bounded in time and count, 127.0.0.1 only) with wrk, hey or "
        "scaffold's lean client, and report throughput, p50/p95/p99 latency, errors and the "
        "client's and server's CPU per level, with recommended "
        "max_concurrent_requests_per_instance, worker count and instance count. --deployed "
        "sends a fixed rate to the deployed endpoint instead; --export writes the load for "
        "Locust and Azure Load Testing.",
    )
    _run_arguments(loadtest)
    loadtest.add_argument(
        "--levels",
        default="1,2,4,8,16",
        metavar="N,N,...",
        help="concurrency levels, rising (default 1,2,4,8,16)",
    )
    loadtest.add_argument(
        "--seconds", type=number, default=5.0, help="seconds per level at most (default 5)"
    )
    loadtest.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="requests per level at most (default 2000; --deployed: rate x duration)",
    )
    loadtest.add_argument(
        "--rps",
        type=number,
        metavar="TARGET",
        help="target requests/second: instance_count for it (local), the rate sent "
        "(--deployed, --export)",
    )
    loadtest.add_argument(
        "--request", type=Path, help="request body (default: the project's sample_request.json)"
    )
    loadtest.add_argument(
        "--engine",
        choices=["auto", "wrk", "hey", "lean"],
        default="auto",
        help="load engine (default auto: wrk, else hey, else scaffold's lean client)",
    )
    loadtest.add_argument(
        "--no-frontend",
        action="store_true",
        help="drive the container directly, without the Azure front-end emulation",
    )
    loadtest.add_argument(
        "--keep-limit",
        action="store_true",
        help="keep the front end's 429 limit at 2 x max_concurrent_requests_per_instance "
        "(as deployed) instead of lifting it to measure the server",
    )
    loadtest.add_argument(
        "--no-refine",
        action="store_true",
        help="measure only --levels (no bisection towards the knee)",
    )
    loadtest.add_argument("--json", action="store_true", help="print the report as JSON")
    loadtest.add_argument(
        "--plot", type=Path, metavar="PNG", help="also draw latency and throughput per level"
    )
    deployed = loadtest.add_argument_group(
        "deployed endpoint",
        "--deployed sends --rps requests/s for --duration seconds to the endpoint of "
        "endpoint.yml (scoring URI and key through azure-ai-ml; the key is never printed). "
        "Both are required: a load test of a live endpoint costs money and may hit users.",
    )
    deployed.add_argument(
        "--deployed", action="store_true", help="load-test the deployed endpoint, not a container"
    )
    deployed.add_argument(
        "--duration", type=number, metavar="SECONDS", help="seconds to send (--deployed, --export)"
    )
    deployed.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="write the load (--rps, --duration) as a Locust file and an Azure Load Testing "
        "configuration into DIR; runs nothing",
    )
    from scaffold.cli.azure import add_workspace_options

    add_workspace_options(loadtest)

    tune = sub.add_parser(
        "probe-tune",
        help="measure the container's start and recommend probe settings (--apply writes them)",
        description="Build the project, start its container --runs times (each from scratch, "
        "with the CPU and memory of its instance type), measure the seconds to the first 200 "
        "of the liveness and the readiness route and how long the probe routes take to "
        "answer, idle and while the scoring route is busy at the deployment's own limit, and "
        "recommend initial_delay, period, timeout and failure_threshold whose budget covers "
        "--margin times the slowest start. --apply writes them into deployment.yml, changing "
        "nothing else (comments and layout kept).",
    )
    _run_arguments(tune)
    tune.add_argument("--runs", type=int, default=3, help="container starts (default 3, 1-20)")
    tune.add_argument(
        "--margin",
        type=number,
        default=2.0,
        help="budgets and timeouts cover this many times what was measured (default 2, 1-10)",
    )
    tune.add_argument(
        "--load-seconds",
        type=number,
        default=3.0,
        help="seconds of scoring load while the probe answers are timed (default 3; 0: idle only)",
    )
    tune.add_argument("--apply", action="store_true", help="write the settings to deployment.yml")
    tune.add_argument("--json", action="store_true", help="print the report as JSON")
    tune.set_defaults(handler=_cmd_probe_tune)

    clean = sub.add_parser(
        "clean",
        help="remove the containers and images scaffold made for a project",
        description="Remove every container and image labelled as scaffold's for PROJECT "
        "(also those a killed run left behind), or for every project with --all. Nothing "
        "without scaffold's label is touched.",
    )
    clean.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    clean.add_argument("--all", action="store_true", help="every project's, not just PROJECT's")
    clean.add_argument("--keep-images", action="store_true", help="remove containers only")
    add_common(clean)
    run.set_defaults(handler=_cmd_run)
    serve.set_defaults(handler=_cmd_serve)
    loadtest.set_defaults(handler=_cmd_loadtest)
    clean.set_defaults(handler=_cmd_clean)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    parser.add_argument(
        "--deployment",
        metavar="NAME",
        help="which of the project's deployments (its name or file; default: the only one, "
        "else deployment.yml; scaffold deployment list shows them); loadtest --deployed and "
        "--export also send the azureml-model-deployment header",
    )
    parser.add_argument(
        "--no-validate", action="store_true", help="skip `scaffold validate` before building"
    )
    parser.add_argument(
        "--platform",
        default=None,
        metavar="OS/ARCH",
        help="platform to build and run (default linux/amd64, what Azure ML runs; emulated on "
        "arm64 machines such as Apple Silicon); `native` for the engine's own",
    )
    add_common(parser)


def _frontend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--frontend",
        action="store_true",
        help="put a local emulation of Azure's front end before the scoring route: a key "
        "(auth_mode), routing by azureml-model-deployment, 429 beyond 2 x "
        "max_concurrent_requests_per_instance in flight, 408 past request_timeout_ms, 424 "
        "with ms-azureml-model-error-* on model errors",
    )


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        metavar="HOST_PORT",
        help="publish the scoring route on 127.0.0.1:HOST_PORT (default: a free port)",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        help="while serving, restart the container when a mounted folder (code, model) "
        "changes, and rebuild first when the build context changes",
    )


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from scaffold.localrun import run_project

    if args.serve or args.port is not None or args.reload:
        return _cmd_serve(args, console)
    joined = validate_before_run(args, console)
    result = run_project(
        args.project,
        console,
        smoke=not args.no_smoke,
        platform=args.platform,
        before_start=joined,
        frontend=args.frontend,
        deployment_name=args.deployment,
    )
    verdict = "smoke test passed" if not args.no_smoke else "container ready"
    through = (
        " through the front-end emulation" if result.frontend_url and not args.no_smoke else ""
    )
    console.result(
        f"OK: {verdict}{through} (ready after {result.ready_after:.1f}s, image {result.image})"
    )
    return ExitCode.OK


def _check_port(port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port; choose 1-65535 (or omit it for a free one)")


def _cmd_serve(args: argparse.Namespace, console: Console) -> int:
    import shlex

    from scaffold.errors import Interrupted
    from scaffold.localrun import LocalDeployment, serve_project, smoke_command

    _check_port(args.port)
    joined = validate_before_run(args, console)
    if joined is not None:
        joined()
    serving = False

    def on_ready(deployment: LocalDeployment) -> None:
        nonlocal serving
        serving = True
        plan = deployment.plan
        console.result(f"Serving {plan.project} (Ctrl-C stops and removes the container)")
        for label, route, method in (
            ("liveness", plan.liveness, "GET"),
            ("readiness", plan.readiness, "GET"),
            ("scoring", plan.scoring, "POST"),
        ):
            console.result(f"  {label:<10} {method:<4} {deployment.url(route)}")
        front = deployment.front
        scoring = deployment.url(plan.scoring)
        auth = ""
        if front is not None:
            scoring = front.url + plan.scoring.path
            console.result(f"  endpoint   POST {scoring}  (Azure front-end emulation)")
            if deployment.front_key:
                # A key for this local session only (never the endpoint's real key).
                console.result(f"  local key  export AZUREML_ENDPOINT_KEY={deployment.front_key}")
                auth = ' -H "Authorization: Bearer $AZUREML_ENDPOINT_KEY"'
        sample = plan.sample_request
        console.result("Try:")
        console.result(
            f"  curl -sS -X POST {scoring} "
            f"-H 'Content-Type: application/json'{auth} -d @{shlex.quote(str(sample))}"
        )
        if plan.smoke_script is not None:
            command = ["python", *smoke_command(deployment)[1:]]
            console.result(f"  {shlex.join(command)}")

    try:
        result = serve_project(
            args.project,
            console,
            on_ready=on_ready,
            platform=args.platform,
            host_port=args.port,
            reload=args.reload,
            frontend=args.frontend,
            deployment_name=args.deployment,
        )
    except KeyboardInterrupt as stopped:
        if not serving:
            raise
        how = "SIGTERM" if isinstance(stopped, Interrupted) and stopped.signum == 15 else "Ctrl-C"
        console.result(f"Stopped ({how}); container removed")
        return ExitCode.OK
    console.result(f"Stopped; container removed (restarts: {result.restarts})")
    return ExitCode.OK


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or any(n < 1 or n > 1024 for n in levels) or levels != sorted(set(levels)):
        raise UsageError(
            f"--levels {text!r} is not a rising list of concurrencies 1-1024; e.g. --levels 1,2,4,8"
        )
    return levels


def _check_loadtest(args: argparse.Namespace) -> list[int]:
    """Every flag checked before anything runs (one line naming the fix, exit 2)."""
    levels = _levels(args.levels)
    if args.seconds <= 0 or args.seconds > 600:
        raise UsageError(f"--seconds {args.seconds:g} must be between 0 and 600")
    if args.max_requests is not None and not 1 <= args.max_requests <= MAX_REQUESTS:
        raise UsageError(f"--max-requests {args.max_requests} must be between 1 and {MAX_REQUESTS}")
    if args.rps is not None and args.rps <= 0:
        raise UsageError(f"--rps {args.rps:g} must be a positive rate of requests per second")
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION:
        raise UsageError(f"--duration {args.duration:g} must be between 0 and {MAX_DURATION:g}")
    _check_remote(args)
    if args.plot is not None:
        if args.deployed or args.export is not None:
            raise UsageError("--plot draws the levels of a local load test; drop it here")
        require_matplotlib()
        if not args.plot.expanduser().resolve().parent.is_dir():
            raise UsageError(f"--plot {args.plot}: its folder does not exist; create it first")
    return levels


def _check_remote(args: argparse.Namespace) -> None:
    """--deployed and --export: an explicit rate and duration, within bounds."""
    remote = args.deployed or args.export is not None
    if args.deployed and args.export is not None:
        raise UsageError("--deployed and --export are separate runs; choose one")
    if remote and (args.rps is None or args.duration is None):
        what = "--deployed" if args.deployed else "--export"
        raise UsageError(
            f"{what} needs an explicit rate and duration: add --rps REQ_PER_S --duration SECONDS"
        )
    if args.deployed and args.rps > MAX_RATE:
        raise UsageError(
            f"--rps {args.rps:g} is above {MAX_RATE}; one machine cannot send more: "
            "use --export and run the test from several machines"
        )
    if args.deployed and args.rps * args.duration > (args.max_requests or MAX_REQUESTS):
        raise UsageError(
            f"--rps {args.rps:g} x --duration {args.duration:g} is more than "
            f"{args.max_requests or MAX_REQUESTS} requests; lower one, or raise --max-requests"
        )


def require_matplotlib() -> None:
    """--plot needs matplotlib (checked before the run)."""
    from scaffold.loadtest import require_matplotlib as check

    check()


def _cmd_loadtest(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.loadtest import format_table, loadtest_project, plot

    levels = _check_loadtest(args)
    if args.export is not None:
        return _export(args, console)
    if args.deployed:
        return _deployed(args, console)
    joined = validate_before_run(args, console)
    if joined is not None:
        joined()
    with console.progress(enabled=not args.json) as progress:
        report = loadtest_project(
            args.project,
            console,
            levels=levels,
            seconds_per_level=args.seconds,
            max_requests_per_level=args.max_requests or 2000,
            target_rps=args.rps,
            platform=args.platform,
            request=args.request,
            progress=progress,
            engine=args.engine,
            frontend=not args.no_frontend,
            keep_limit=args.keep_limit,
            refine=not args.no_refine,
            deployment_name=args.deployment,
        )
    if args.plot is not None:
        plot(report, args.plot)
        console.step(f"Plot written to {args.plot}")
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        console.result(format_table(report))
    return ExitCode.OK


def _export(args: argparse.Namespace, console: Console) -> int:
    from scaffold.deployments import local_deployment
    from scaffold.loadexport import LoadDefinition, export
    from scaffold.loadtest import request_body
    from scaffold.project import load_endpoint, load_plan

    plan = load_plan(args.project, local_deployment(args.project, args.deployment))
    endpoint = load_endpoint(plan.project, plan.endpoint_name)
    load = LoadDefinition(
        endpoint=endpoint.name,
        scoring_path="/score",
        rate=args.rps,
        seconds=args.duration,
        request_timeout_ms=plan.requests.request_timeout_ms,
        deployment=args.deployment,
    )
    body = request_body(plan.project, args.request, plan.sample_request)
    written = export(args.export, load, body)
    for path in written:
        console.detail(f"wrote {path}", important=True)
    console.result(
        f"Exported {args.rps:g} req/s for {args.duration:g}s ({load.users} Locust users, "
        f"{load.engine_instances} Azure Load Testing engine(s)) to {args.export}; see "
        f"{args.export / 'LOADTEST.md'}"
    )
    return ExitCode.OK


def _deployed(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold import deploy
    from scaffold.cli.azure import client_for
    from scaffold.deployments import local_deployment
    from scaffold.loadtest import format_deployed, loadtest_deployed, request_body
    from scaffold.project import load_names, load_plan

    plan = load_plan(args.project, local_deployment(args.project, args.deployment))
    body = request_body(plan.project, args.request, plan.sample_request)
    endpoint, _ = load_names(args.project)
    client = client_for(args, console)
    access = deploy.endpoint_access(client, endpoint)
    if not access.scoring_uri:
        raise UsageError(f"endpoint {endpoint} has no scoring URI yet; wait for scaffold deploy")
    target = f" (deployment {args.deployment})" if args.deployment else ""
    console.step(
        f"Sending {args.rps:g} req/s for {args.duration:g}s to {access.scoring_uri}{target} "
        "(lean engine, TLS verified; the key is not shown)"
    )
    report = loadtest_deployed(
        access.scoring_uri,
        access.key,
        body,
        rate=args.rps,
        seconds=args.duration,
        max_requests=args.max_requests or MAX_REQUESTS,
        request_timeout_ms=plan.requests.request_timeout_ms,
        deployment=args.deployment,
    )
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        console.result(format_deployed(report))
    return ExitCode.OK


def _cmd_probe_tune(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.probetune import apply_probes, format_report, probe_tune

    if not 1 <= args.runs <= 20:
        raise UsageError(f"--runs {args.runs} must be between 1 and 20")
    if not 1.0 <= args.margin <= 10.0:
        raise UsageError(f"--margin {args.margin:g} must be between 1 and 10")
    if not 0 <= args.load_seconds <= 60:
        raise UsageError(f"--load-seconds {args.load_seconds:g} must be between 0 and 60")
    joined = validate_before_run(args, console)
    if joined is not None:
        joined()
    report = probe_tune(
        args.project,
        console,
        runs=args.runs,
        margin=args.margin,
        load_seconds=args.load_seconds,
        platform=args.platform,
    )
    if args.apply:
        apply_probes(report.project / "deployment.yml", report)
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        console.result(format_report(report))
    return ExitCode.OK


def _cmd_clean(args: argparse.Namespace, console: Console) -> int:
    from scaffold.localrun import clean

    result = clean(None if args.all else args.project, images=not args.keep_images)
    for name in result.containers:
        console.detail(f"removed container {name}", important=True)
    for image in result.images:
        console.detail(f"removed image {image}", important=True)
    for image in result.kept:
        console.detail(
            f"kept image {image} (in use by a container scaffold did not start)", important=True
        )
    what = "every project" if args.all else str(args.project.expanduser().resolve())
    console.result(
        f"Removed {len(result.containers)} container(s) and {len(result.images)} image(s) of {what}"
    )
    return ExitCode.OK
