"""Command line: parse, call one core function, render its result, map errors to exit codes.

Exit codes: 0 ok, 2 usage/bad answers, 3 template, 4 project files, 5 Docker, 6 container
not ready, 7 smoke test failed, 8 update conflicts, 9 git, 10 behind template (status),
11 validation errors, 12 cannot write (disk full, read-only), 13 Azure (SDK missing,
sign-in, request refused), 14 Azure deployment failed or timed out, 130 interrupted
(SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scaffold import __version__, signals
from scaffold.console import NORMAL, QUIET, VERBOSE, Console
from scaffold.errors import ExitCode, Interrupted, ScaffoldError, UsageError
from scaffold.servers import SERVERS

EPILOG = """\
exit codes: 0 ok, 2 usage or invalid answers, 3 template problem, 4 project files,
  5 Docker unavailable or build failed, 6 container not ready, 7 smoke test failed,
  8 update left conflicts, 9 git problem, 10 a project is behind its template (status),
  11 validation found errors, 12 cannot write (disk full, read-only),
  13 Azure problem (SDK, sign-in, refused request), 14 Azure deployment failed or timed out,
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM)

examples:
  scaffold new my-endpoint                               # asks the questions
  scaffold new --server plumber --defaults my-endpoint   # no questions
  scaffold validate my-endpoint                          # find deploy-time failures now
  scaffold run my-endpoint                               # build, run like Azure, smoke-test
  scaffold serve --reload my-endpoint                    # keep it up, restart on edits
  scaffold loadtest --rps 50 my-endpoint                 # size concurrency and instances
  scaffold deploy --dry-run my-endpoint                  # the azure-ai-ml entities, as YAML
  scaffold deploy my-endpoint                            # deploy to Azure ML, then smoke
  scaffold update my-endpoint                            # newer template, edits kept
  scaffold status ~/endpoints --json                     # template drift of many projects
  scaffold template init ~/team-template                 # start a team starter template
"""

SERVER_HELP = "; ".join(f"{s.name}: {s.label}" for s in SERVERS.values())
MODEL_HELP = ", ".join(f"{s.name}: {s.model_formats}" for s in SERVERS.values() if s.model_adapter)


def _add_common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help="show all tool output")
    group.add_argument("-q", "--quiet", action="store_true", help="show only the result")


def _question_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Add one --flag per template question (full parity with the questionnaire)."""
    from scaffold.template_source import load_questions

    group = parser.add_argument_group(
        "template questions",
        "each answers one question; unanswered ones are asked on a "
        "terminal or take their defaults (--defaults, or no terminal)",
    )
    names = []
    for name, spec in load_questions().items():
        if spec.get("when") is False:
            continue  # computed values, never asked
        choices = spec.get("choices")
        values = list(choices.values()) if isinstance(choices, dict) else choices
        help_text = str(spec.get("help", name))
        if name == "server":
            help_text = f"{help_text} ({SERVER_HELP})"
        elif "default" in spec and "{{" not in str(spec["default"]):
            help_text += f" (default: {spec['default']})"
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"q_{name}",
            metavar=None if values else "VALUE",
            choices=values,
            help=help_text,
        )
        names.append(name)
    return names


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
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
    _add_common(parser)


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


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The argument parser; template-question flags are loaded only for `new`."""
    parser = argparse.ArgumentParser(
        prog="scaffold",
        description="Generate, validate, run, smoke-test and update Azure ML managed online "
        "endpoint projects that serve a model from a custom container.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scaffold {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    new = sub.add_parser(
        "new",
        help="generate a project from the template",
        description="Generate a project (Dockerfile, endpoint.yml, deployment.yml, smoke test, "
        "sample model and request, README). Asks on a terminal only what has no answer; "
        "never asks without a terminal.",
    )
    new.add_argument("dest", type=Path, help="folder to create")
    new.add_argument(
        "--defaults",
        action="store_true",
        help="use defaults for every unanswered question instead of asking",
    )
    new.add_argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer a question (repeatable), e.g. --data endpoint_name=demo-ep",
    )
    new.add_argument("--data-file", type=Path, help="YAML file of answers")
    new.add_argument(
        "--model",
        metavar="PATH_OR_REF",
        help="serve your own model instead of the sample, configured from the model itself "
        f"(needs --server; {MODEL_HELP}), or reference a "
        "registered model: azureml:NAME:VERSION or azureml:NAME@latest (not copied)",
    )
    new.add_argument(
        "--template",
        help="template path or git URL (default: bundled template; or set SCAFFOLD_TEMPLATE)",
    )
    new.add_argument("--vcs-ref", help="template version (git tag) to use")
    new.add_argument(
        "--overwrite",
        action="store_true",
        help="allow a non-empty destination (same-named files are replaced)",
    )
    new.add_argument(
        "--no-git",
        action="store_true",
        help="do not make the project a git repository (updates need one)",
    )
    _add_common(new)
    is_new = any(arg == "new" for arg in argv[:1]) or (
        len(argv) > 1 and argv[0].startswith("-") and "new" in argv
    )
    questions = _question_flags(new) if is_new else []
    if not is_new:
        new.add_argument("--server", help=SERVER_HELP)

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
    _add_common(clean)

    validate = sub.add_parser(
        "validate",
        help="find problems that would only fail at deploy time",
        description="Check endpoint.yml and deployment.yml with azure-ai-ml's own schema "
        "(if installed), everything the schema accepts but Azure or the container rejects, "
        "and the cross-file contract (ports, routes, model paths) against the server in the "
        "image. Also works on projects scaffold did not generate. All problems at once, "
        "grouped by file, each with a fix. Exit 0 when clean (warnings alone too), 11 on "
        "errors (or warnings with --strict).",
    )
    validate.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.add_argument(
        "--no-schema", action="store_true", help="skip the azure-ai-ml schema step (seconds faster)"
    )
    _add_common(validate)

    update = sub.add_parser(
        "update",
        help="move a project to a newer template version, keeping your edits",
        description="Run copier's 3-way update on a clean git project, then report conflicts "
        "(exit 8) instead of leaving them silently.",
    )
    update.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    update.add_argument("--vcs-ref", help="template version to move to (default: newest)")
    update.add_argument("--pretend", action="store_true", help="show what would happen only")
    update.add_argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an answer while updating",
    )
    update.add_argument(
        "--change-server",
        action="store_true",
        help="confirm a change of the server answer (asked on a terminal)",
    )
    _add_common(update)

    status = sub.add_parser(
        "status",
        help="template version and drift of one project or a folder of many",
        description="For each project (a folder with .copier-answers.yml, searched up to 3 "
        "levels deep): template source, current and latest version, and whether updating "
        "would conflict with local edits (a trial update in a throwaway clone). Exits 10 "
        "when a project is behind.",
    )
    status.add_argument(
        "paths", type=Path, nargs="*", default=[Path()], help="projects or folders of projects"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.add_argument(
        "--no-conflicts", action="store_true", help="skip the trial update (faster)"
    )
    _add_common(status)

    template = sub.add_parser("template", help="team starter templates")
    template_sub = template.add_subparsers(dest="template_command", metavar="ACTION")
    init = template_sub.add_parser(
        "init",
        help="write the bundled template as a standalone, tagged git repository",
        description="Write scaffold's template into DIR as a git repository (copier.yml at "
        "its root, one commit, tag v<scaffold version>) for a team to customise, tag and "
        "host; then `scaffold new --template DIR_OR_URL`.",
    )
    init.add_argument("dir", type=Path, help="folder to create")
    _add_common(init)

    _azure_parsers(sub)

    servers = sub.add_parser("servers", help="list the supported model servers")
    _add_common(servers)
    return parser, questions


def _workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    group = parser.add_argument_group(
        "workspace",
        "default: a config.json found like azure-ai-ml's MLClient.from_config (from the "
        "project upwards, then the working directory), else AZURE_SUBSCRIPTION_ID, "
        "AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME; sign-in: DefaultAzureCredential",
    )
    group.add_argument("--subscription", metavar="ID", help="Azure subscription id")
    group.add_argument("--resource-group", metavar="NAME", help="resource group of the workspace")
    group.add_argument("--workspace", metavar="NAME", help="Azure ML workspace name")
    _add_common(parser)


def _azure_parsers(sub: Any) -> None:
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
    deploy.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait (default 1800)"
    )
    deploy.add_argument("--no-validate", action="store_true", help="skip scaffold validate")

    smoke = sub.add_parser(
        "smoke",
        help="run the project's smoke_test.py against the deployed endpoint",
        description="Get the scoring URI and key (or token) with azure-ai-ml and run the "
        "project's own smoke_test.py against it; the key is passed only in the "
        "AZUREML_ENDPOINT_KEY environment variable and never printed.",
    )
    _workspace_arguments(smoke)
    smoke.add_argument(
        "--deployment", help="test this deployment (azureml-model-deployment header)"
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


def _parse_data(items: list[str]) -> dict[str, str]:
    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data {item!r} is not KEY=VALUE; e.g. --data endpoint_name=demo-ep")
        data[key.strip()] = value
    return data


def _answers(args: argparse.Namespace, questions: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.data_file is not None:
        import yaml

        try:
            loaded = yaml.safe_load(args.data_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise UsageError(f"cannot read --data-file {args.data_file}: {error}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--data-file {args.data_file} must be a YAML mapping of answers")
        data.update(loaded)
    data.update(_parse_data(args.data))
    for name in questions:
        value = getattr(args, f"q_{name}", None)
        if value is not None:
            data[name] = value
    return data


def _cmd_new(args: argparse.Namespace, console: Console, questions: list[str]) -> int:
    import os

    from scaffold.generate import new_project

    interactive = not args.defaults and sys.stdin.isatty() and sys.stdout.isatty()
    result = new_project(
        args.dest,
        _answers(args, questions),
        template=args.template or os.environ.get("SCAFFOLD_TEMPLATE") or None,
        vcs_ref=args.vcs_ref,
        interactive=interactive,
        overwrite=args.overwrite,
        git_init=not args.no_git,
        model=args.model,
    )
    server = result.answers.get("server", "?")
    for note in result.notes:
        console.result(f"note: {note}")
    console.step(f"Wrote {len(result.files)} files from template {result.template_version}")
    for name in result.files:
        console.detail(name)
    console.result(f"Created {server} project {result.path}")
    console.result(f"Next: scaffold run {result.path}")
    return ExitCode.OK


def _print_report(report: Any, console: Console) -> None:
    current = None
    for problem in report.problems:
        if problem.file != current:
            current = problem.file
            console.result(f"{current}:")
        where = f"{problem.key}: " if problem.key else ""
        console.result(f"  {problem.severity}: {where}{problem.message} [{problem.code}]")
        console.result(f"    fix: {problem.fix}")
    if not report.schema_checked and report.schema_note:
        console.result(f"note: {report.schema_note}")


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.validate import validate_project

    report = validate_project(args.project, schema=not args.no_schema)
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report, console)
        console.result(
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in {report.project}"
        )
    failed = report.errors or (args.strict and report.warnings)
    return ExitCode.INVALID if failed else ExitCode.OK


def _validate_before_run(args: argparse.Namespace, console: Console) -> Callable[[], None] | None:
    """Validate before anything runs: the SDK-free checks now (well under a second), the
    azure-ai-ml schema step in a thread alongside the build. Returns the join to call
    before the container starts (None with --no-validate)."""
    import threading

    from scaffold.validate import validate_project

    if args.no_validate:
        return None
    from scaffold import schemacache

    console.step("Validating the project (scaffold validate)")
    quick = validate_project(args.project, schema=False)
    _raise_on_errors(quick, console, warn=schemacache.is_clean(args.project))
    if schemacache.is_clean(args.project):
        return None  # the schema accepted these very YAML files before
    outcome: dict[str, Any] = {}

    def full() -> None:
        try:
            outcome["report"] = report = validate_project(args.project)
            if report.schema_checked and not report.errors:
                schemacache.remember_clean(args.project)
        except BaseException as error:  # re-raised in the main thread by join()
            outcome["error"] = error

    worker = threading.Thread(target=full, name="validate", daemon=True)
    worker.start()

    def join() -> None:
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        _raise_on_errors(outcome["report"], console, warn=True)

    return join


def _raise_on_errors(report: Any, console: Console, *, warn: bool = False) -> None:
    from scaffold.errors import ValidationFailed

    if report.errors:
        _print_report(report, console)
        raise ValidationFailed(
            f"{len(report.errors)} problem(s) would fail the deployment; fix them or "
            "pass --no-validate"
        )
    for problem in report.warnings if warn else ():
        console.detail(f"warning: {problem.file}: {problem.message}", important=True)


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from scaffold.localrun import run_project

    if args.serve or args.port is not None or args.reload:
        return _cmd_serve(args, console)
    joined = _validate_before_run(args, console)
    result = run_project(
        args.project,
        console,
        smoke=not args.no_smoke,
        platform=args.platform,
        before_start=joined,
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
    joined = _validate_before_run(args, console)
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
        sample = plan.project / "sample_request.json"
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
    joined = _validate_before_run(args, console)
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


def _cmd_update(args: argparse.Namespace, console: Console) -> int:
    from scaffold.errors import UpdateConflictError
    from scaffold.generate import read_answers
    from scaffold.update import server_change, update_project

    data = _parse_data(args.data)
    allow = args.change_server
    change = server_change(read_answers(args.project.expanduser().resolve()), data)
    if change and not allow and sys.stdin.isatty():
        reply = input(
            f"Change the server from {change[0]} to {change[1]}? Its files are replaced. [y/N] "
        )
        allow = reply.strip().lower() in {"y", "yes"}
        if not allow:
            raise UsageError("server change not confirmed; nothing was changed")
    result = update_project(
        args.project,
        vcs_ref=args.vcs_ref,
        data=data,
        pretend=args.pretend,
        allow_server_change=allow,
    )
    move = f"{result.from_version} -> {result.to_version}"
    for name in result.added:
        console.detail(f"added for the new server: {name}", important=True)
    if result.pretend:
        console.result(f"Would update {result.path}: {move} (nothing written)")
        return ExitCode.OK
    if result.conflicts:
        raise UpdateConflictError(
            f"updated {move} with conflicts in {', '.join(result.conflicts)}; resolve the "
            "'<<<<<<< before updating' blocks, then git add and commit"
        )
    console.result(f"Updated {result.path}: {move}; review with `git diff`, then commit")
    return ExitCode.OK


def _cmd_status(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.status import find_projects, project_status

    projects = find_projects(args.paths)
    if not projects:
        raise UsageError("no project found (no .copier-answers.yml); pass project folders")
    rows = [project_status(p, check_conflicts=not args.no_conflicts) for p in projects]
    if args.json:
        console.result(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        console.result(f"{'project':<40} {'server':<10} {'current':<10} {'latest':<10} state")
        for row in rows:
            state = "behind" if row.behind else "up to date" if row.latest else "unknown"
            if row.conflicts:
                state += f", conflicts: {', '.join(row.conflicts)}"
            elif row.behind and not args.no_conflicts and not row.note:
                state += ", updates cleanly"
            if row.note:
                state += f" ({row.note})"
            console.result(
                f"{row.path:<40} {row.server or '?':<10} {row.current or '?':<10} "
                f"{row.latest or '?':<10} {state}"
            )
    return ExitCode.OUTDATED if any(row.behind for row in rows) else ExitCode.OK


def _cmd_template(args: argparse.Namespace, console: Console) -> int:
    from scaffold.template_source import init_team_template

    if args.template_command != "init":
        raise UsageError("choose an action: scaffold template init DIR")
    path = init_team_template(args.dir)
    console.result(f"Team template written to {path} (tagged v{__version__})")
    console.result(
        f"Next: customise, commit, tag a new version, then "
        f"scaffold new --template {path} NEW_PROJECT"
    )
    return ExitCode.OK


def _cmd_servers(console: Console) -> int:
    for spec in SERVERS.values():
        console.result(
            f"{spec.name:<10} {spec.label} — port {spec.port}, liveness {spec.liveness}, "
            f"readiness {spec.readiness}, scoring {spec.scoring}"
            + (
                f" (model name {spec.served_model_name}: --served-model-name)"
                if spec.served_model_name
                else ""
            )
        )
    return ExitCode.OK


def _client(args: argparse.Namespace, console: Console, azure: dict[str, Any]) -> Any:
    from scaffold.workspace import connect, find_workspace

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
    return connect(ref, **azure)


def _names(project: Path) -> tuple[str, str]:
    """(endpoint name, deployment name) from the project's YAML."""
    from scaffold.project import load_names

    return load_names(project)


def _cmd_deploy(args: argparse.Namespace, console: Console, azure: dict[str, Any]) -> int:
    from scaffold import deploy

    traffic = deploy.parse_traffic(args.traffic) if args.traffic else None
    mirror = deploy.parse_traffic(args.mirror, option="--mirror") if args.mirror else None
    deploy.check_split(traffic, mirror)
    if args.timeout <= 0:
        raise UsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    console.step("Validating and loading the project with azure-ai-ml")
    plan = deploy.load_deploy_plan(args.project, validate=not args.no_validate)
    if args.push and args.dry_run:
        from scaffold.push import image_name, use_image

        use_image(plan, image_name(plan, "<workspace-registry>.azurecr.io"))
    if args.dry_run:
        console.result(deploy.dump_plan(plan, traffic=traffic, mirror=mirror).rstrip())
        console.step("Dry run: nothing was sent to Azure")
        return ExitCode.OK
    client = _client(args, console, azure)
    if args.push:
        from scaffold.push import push_image, use_image

        use_image(plan, push_image(plan, client, console))
    result = deploy.deploy(
        plan, client, console, traffic=traffic, mirror=mirror, timeout=args.timeout
    )
    split = ", ".join(f"{k}={v}" for k, v in result.traffic.items()) or "none"
    console.result(f"Deployed {result.endpoint}/{result.deployment} (traffic {split})")
    if result.mirror_traffic:
        console.result("Mirror: " + ", ".join(f"{k}={v}" for k, v in result.mirror_traffic.items()))
    console.result(f"Scoring URI: {result.scoring_uri}")
    console.result(f"Next: scaffold smoke {args.project}")
    return ExitCode.OK


def _cmd_smoke(args: argparse.Namespace, console: Console, azure: dict[str, Any]) -> int:
    from scaffold import deploy

    endpoint, _ = _names(args.project)
    client = _client(args, console, azure)
    access = deploy.endpoint_access(client, endpoint)
    deploy.smoke_endpoint(args.project, access, console, deployment=args.deployment)
    console.result(f"OK: smoke test passed against {access.scoring_uri}")
    return ExitCode.OK


def _cmd_logs(args: argparse.Namespace, console: Console, azure: dict[str, Any]) -> int:
    from scaffold import deploy

    if args.lines < 1:
        raise UsageError(f"--lines {args.lines} must be at least 1")
    endpoint, deployment = _names(args.project)
    client = _client(args, console, azure)
    name = args.deployment or deployment
    console.step(f"{args.container} log of {endpoint}/{name}")
    text = deploy.deployment_logs(
        client, endpoint, name, lines=args.lines, container=args.container
    )
    console.result(text.rstrip())
    return ExitCode.OK


def _cmd_delete(args: argparse.Namespace, console: Console, azure: dict[str, Any]) -> int:
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
    client = _client(args, console, azure)
    if deploy.delete(client, endpoint, console, deployment=args.deployment):
        console.result(f"Deleted {what}")
    else:
        console.result(f"Nothing to delete: {what} does not exist")
    return ExitCode.OK


def main(argv: Sequence[str] | None = None, *, azure: dict[str, Any] | None = None) -> int:
    """Entry point of the `scaffold` command; returns the exit code.

    `azure`: keyword arguments for `scaffold.workspace.connect` (a credential, MLClient
    options such as a custom cloud), for library callers and tests.
    """
    azure = dict(azure or {})
    arguments = list(sys.argv[1:] if argv is None else argv)
    console = Console()
    signals.install()
    try:
        parser, questions = build_parser(arguments)
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE
        console.level = QUIET if args.quiet else VERBOSE if args.verbose else NORMAL
        commands: dict[str, Callable[[], int]] = {
            "new": lambda: _cmd_new(args, console, questions),
            "run": lambda: _cmd_run(args, console),
            "serve": lambda: _cmd_serve(args, console),
            "clean": lambda: _cmd_clean(args, console),
            "loadtest": lambda: _cmd_loadtest(args, console),
            "update": lambda: _cmd_update(args, console),
            "servers": lambda: _cmd_servers(console),
            "status": lambda: _cmd_status(args, console),
            "validate": lambda: _cmd_validate(args, console),
            "template": lambda: _cmd_template(args, console),
            "deploy": lambda: _cmd_deploy(args, console, azure),
            "smoke": lambda: _cmd_smoke(args, console, azure),
            "logs": lambda: _cmd_logs(args, console, azure),
            "delete": lambda: _cmd_delete(args, console, azure),
        }
        return commands[args.command]()
    except ScaffoldError as error:
        console.error(error)
        return error.exit_code
    except KeyboardInterrupt as stopped:
        code = stopped.exit_code if isinstance(stopped, Interrupted) else ExitCode.INTERRUPTED
        why = "terminated (SIGTERM)" if code == ExitCode.TERMINATED else "interrupted"
        note = stopped.note if isinstance(stopped, Interrupted) and stopped.note else ""
        console.error(
            UsageError(f"{why}; {note or 'every container scaffold started was removed'}")
        )
        return code
