"""`scaffold run`, `serve`, `loadtest` and `clean`: the project's container on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, validate_before_run
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError


def add_parsers(sub: Any) -> None:
    """`run`, `serve`, `loadtest`, `clean`."""
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

    loadtest = sub.add_parser(
        "loadtest",
        help="size the deployment: drive the scoring route at rising concurrency",
        description="Start the project like `scaffold run`, then POST its sample request to "
        "the scoring route at rising concurrency (each level bounded in time and count, "
        "127.0.0.1 only) and report throughput, p50/p95/p99 latency and errors per level, "
        "compared with the deployment's request_timeout_ms, with recommended "
        "max_concurrent_requests_per_instance, worker count and instance count.",
    )
    _run_arguments(loadtest)
    loadtest.add_argument(
        "--levels",
        default="1,2,4,8,16",
        metavar="N,N,...",
        help="concurrency levels, rising (default 1,2,4,8,16)",
    )
    loadtest.add_argument(
        "--seconds", type=float, default=5.0, help="seconds per level at most (default 5)"
    )
    loadtest.add_argument(
        "--max-requests",
        type=int,
        default=2000,
        help="requests per level at most (default 2000)",
    )
    loadtest.add_argument(
        "--rps", type=float, metavar="TARGET", help="target requests/second, for instance_count"
    )
    loadtest.add_argument(
        "--request", type=Path, help="request body (default: the project's sample_request.json)"
    )
    loadtest.add_argument("--json", action="store_true", help="print the report as JSON")
    loadtest.add_argument(
        "--plot", type=Path, metavar="PNG", help="also draw latency and throughput per level"
    )

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
        "else deployment.yml); scaffold deployment list shows them",
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
        deployment_name=args.deployment,
    )
    verdict = "smoke test passed" if not args.no_smoke else "container ready"
    console.result(f"OK: {verdict} (ready after {result.ready_after:.1f}s, image {result.image})")
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
        sample = plan.sample_request
        console.result("Try:")
        console.result(
            f"  curl -sS -X POST {deployment.url(plan.scoring)} "
            f"-H 'Content-Type: application/json' -d @{shlex.quote(str(sample))}"
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


def _cmd_loadtest(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.loadtest import format_table, loadtest_project, plot, require_matplotlib

    levels = _levels(args.levels)
    if args.seconds <= 0 or args.seconds > 600:
        raise UsageError(f"--seconds {args.seconds:g} must be between 0 and 600")
    if args.max_requests < 1 or args.max_requests > 100_000:
        raise UsageError(f"--max-requests {args.max_requests} must be between 1 and 100000")
    if args.rps is not None and args.rps <= 0:
        raise UsageError(f"--rps {args.rps:g} must be a positive rate of requests per second")
    if args.plot is not None:
        require_matplotlib()
        if not args.plot.expanduser().resolve().parent.is_dir():
            raise UsageError(f"--plot {args.plot}: its folder does not exist; create it first")
    joined = validate_before_run(args, console)
    if joined is not None:
        joined()
    with console.progress(enabled=not args.json) as progress:
        report = loadtest_project(
            args.project,
            console,
            levels=levels,
            seconds_per_level=args.seconds,
            max_requests_per_level=args.max_requests,
            target_rps=args.rps,
            platform=args.platform,
            request=args.request,
            progress=progress,
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
