"""Helpers the command modules share: common flags, --data parsing, the validation report
and the validation that runs before a container starts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from scaffold.console import Console
from scaffold.errors import UsageError


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
    """A validation report, grouped by file, each problem with its fix."""
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


def validate_before_run(args: argparse.Namespace, console: Console) -> Callable[[], None] | None:
    """Validate before anything runs: the SDK-free checks now (well under a second), the
    azure-ai-ml schema step in a thread alongside the build. Returns the join to call
    before the container starts (None with --no-validate)."""
    import threading

    from scaffold.deployments import validate_one

    if args.no_validate:
        return None
    from scaffold import schemacache

    deployment = getattr(args, "deployment", None)

    def validate_project(project: Any, schema: bool = True) -> Any:
        return validate_one(project, deployment, schema=schema)

    console.step("Validating the project (scaffold validate)")
    quick = validate_project(args.project, schema=False)
    raise_on_errors(quick, console, warn=schemacache.is_clean(args.project))
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
        raise_on_errors(outcome["report"], console, warn=True)

    return join


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
