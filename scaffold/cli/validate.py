"""`scaffold validate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, print_report
from scaffold.console import Console
from scaffold.errors import ExitCode


def add_parsers(sub: Any) -> None:
    """`validate`."""
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
    validate.add_argument(
        "--deployment",
        metavar="NAME",
        help="validate this deployment of the project only (its name or file; as -f its file)",
    )
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.add_argument(
        "--no-schema", action="store_true", help="skip the azure-ai-ml schema step (seconds faster)"
    )
    add_common(validate)
    validate.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.validate import validate_project

    if args.deployment is not None:
        from scaffold.deployments import validate_one

        report = validate_one(args.project, args.deployment, schema=not args.no_schema)
    else:
        report = validate_project(args.project, schema=not args.no_schema)
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, console)
        console.result(
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in {report.project}"
        )
    failed = report.errors or (args.strict and report.warnings)
    return ExitCode.INVALID if failed else ExitCode.OK
