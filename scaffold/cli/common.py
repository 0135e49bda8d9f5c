"""Helpers the command modules share: common flags, --data parsing, the validation report
and the validation that runs before a container starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from scaffold.console import Console
from scaffold.errors import UsageError


def number(text: str) -> float:
    """argparse type for a finite number: `nan` and `inf` parse as floats, pass every range
    check (comparisons with NaN are false) and ended in a traceback further on."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_common(parser: argparse.ArgumentParser) -> None:
    """-v/--verbose and -q/--quiet."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help="show all tool output")
    group.add_argument("-q", "--quiet", action="store_true", help="show only the result")


def parse_data(items: list[str]) -> dict[str, str]:
    """KEY=VALUE items of --data as a mapping (UsageError naming the bad item)."""
    data = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--data {item!r} is not KEY=VALUE; e.g. --data endpoint_name=demo-ep")
        data[key.strip()] = value
    return data


def print_report(report: Any, console: Console) -> None:
    """A validation report, grouped by file, each problem with its fix; then, when several
    deployments were validated, one verdict line each."""
    current = None
    for problem in report.problems:
        if problem.file != current:
            current = problem.file
            console.result(f"{current}:")
        where = f"{problem.key}: " if problem.key else ""
        console.result(f"  {problem.severity}: {where}{problem.message} [{problem.code}]")
        console.result(f"    fix: {problem.fix}")
    deployments = getattr(report, "deployments", [])
    if len(deployments) > 1:
        console.result(f"{len(deployments)} deployments:")
        for verdict in deployments:
            console.result(f"  {_verdict(verdict)}")
    if not report.schema_checked and report.schema_note:
        console.result(f"note: {report.schema_note}")


def _verdict(verdict: Any) -> str:
    errors = sum(p.severity == "error" for p in verdict.problems)
    warnings = sum(p.severity == "warning" for p in verdict.problems)
    endpoint = f"with {verdict.endpoint_file}" if verdict.endpoint_file else "no endpoint file"
    server = f", {verdict.server}" if verdict.server else ""
    outcome = f"{errors} error(s), {warnings} warning(s)" if errors or warnings else "ok"
    name = verdict.name or "(no name)"
    return f"{name} ({verdict.file}, {endpoint}{server}): {outcome}"


def validate_before_run(args: argparse.Namespace, console: Console) -> Callable[[], None] | None:
    """Validate before anything runs: the SDK-free checks now (well under a second), the
    azure-ai-ml schema step in a thread alongside the build. Returns the join to call
    before the container starts (None with --no-validate)."""
    import threading

    from scaffold.validate import validate_project

    if args.no_validate:
        return None
    from scaffold import schemacache

    console.step("Validating the project (scaffold validate)")
    files = _run_deployment(args)
    quick = validate_project(args.project, schema=False, files=files, index=False)
    raise_on_errors(quick, console, warn=schemacache.is_clean(args.project))
    if schemacache.is_clean(args.project):
        return None  # the schema accepted these very YAML files before
    outcome: dict[str, Any] = {}

    def full() -> None:
        try:
            outcome["report"] = report = validate_project(args.project, files=files)
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
        raise_on_errors(outcome["report"], console, warn=True)

    return join


def _run_deployment(args: argparse.Namespace) -> list[Any] | None:
    """The deployment file a run uses (`--deployment NAME`, else the project's only one or
    deployment.yml), so another deployment's problems do not stop it; None (validate, and
    report) when the project has no deployment file. An unknown name, or several deployments
    and none chosen, is refused here (UsageError listing them), before any validation."""
    from scaffold.deployments import select
    from scaffold.errors import ProjectError

    try:
        return [select(args.project, getattr(args, "deployment", None)).file]
    except ProjectError:
        return None


def raise_on_errors(report: Any, console: Console, *, warn: bool = False) -> None:
    """Print the report and raise ValidationFailed when it has errors (warnings shown)."""
    from scaffold.errors import ValidationFailed

    if report.errors:
        print_report(report, console)
        raise ValidationFailed(
            f"{len(report.errors)} problem(s) would fail the deployment; fix them or "
            "pass --no-validate"
        )
    for problem in report.warnings if warn else ():
        console.detail(f"warning: {problem.file}: {problem.message}", important=True)
