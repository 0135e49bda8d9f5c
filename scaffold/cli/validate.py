"""`scaffold validate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, print_report
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError


def add_parsers(sub: Any) -> None:
    """`validate`."""
    validate = sub.add_parser(
        "validate",
        help="find problems that would only fail at deploy time",
        description="Check a project's deployment and endpoint YAML with azure-ai-ml's own "
        "schema (if installed), everything the schema accepts but Azure or the container "
        "rejects, and the cross-file contract (ports, routes, model paths) against the server "
        "in the image. Also works on projects scaffold did not generate: every deployment "
        "file in the folder is validated (deployment.yml, blue-deployment.yml + "
        "green-deployment.yml, any YAML with the managedOnlineDeployment $schema), each with "
        "the endpoint file that names its endpoint, if there is one. All problems at once, "
        "grouped by file, each with a fix. Exit 0 when clean (warnings and notes alone too), "
        "11 on errors (or warnings with --strict).",
    )
    validate.add_argument(
        "project",
        type=Path,
        nargs="?",
        default=Path(),
        help="project folder (or a deployment file)",
    )
    validate.add_argument(
        "-f",
        "--file",
        dest="files",
        type=Path,
        action="append",
        metavar="DEPLOYMENT_FILE",
        help="validate this deployment file only (repeatable; default: every deployment file "
        "found in the project)",
    )
    validate.add_argument(
        "--endpoint-file",
        type=Path,
        metavar="FILE",
        help="the endpoint file to check each deployment with (default: the one whose name "
        "is the deployment's endpoint_name)",
    )
    validate.add_argument(
        "--deployment",
        dest="deployments",
        action="append",
        metavar="NAME",
        help="validate this deployment of the project only, by its name (repeatable; as -f "
        "its file; scaffold deployment list shows them)",
    )
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.add_argument(
        "--no-schema", action="store_true", help="skip the azure-ai-ml schema step (seconds faster)"
    )
    validate.add_argument(
        "--offline",
        action="store_true",
        help="do not ask the package index about the image's pip requirements (the offline "
        "rules still run; SCAFFOLD_OFFLINE=1 does the same)",
    )
    add_common(validate)
    validate.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.validate import validate_project

    project, files = _targets(args.project, args.files or [])
    if args.deployments:
        from scaffold.deployments import select

        files += [select(project, name).file for name in args.deployments]
    if args.endpoint_file is not None and not args.endpoint_file.is_file():
        raise UsageError(f"--endpoint-file {args.endpoint_file}: no such file; name the file")
    report = validate_project(
        project,
        schema=not args.no_schema,
        files=files or None,
        endpoint_file=args.endpoint_file,
        index=not args.offline,
    )
    if args.json:
        console.result(json.dumps(report.to_json(), indent=2))
    else:
        print_report(report, console)
        infos = f", {len(report.infos)} note(s)" if report.infos else ""
        console.result(
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s){infos} in "
            f"{report.project}"
        )
    failed = report.errors or (args.strict and report.warnings)
    return ExitCode.INVALID if failed else ExitCode.OK


def _targets(project: Path, files: list[Path]) -> tuple[Path, list[Path]]:
    """The project folder and the deployment files named (PROJECT may be a file itself)."""
    if project.is_file():
        files = [project, *files]
        project = project.parent
    elif not project.is_dir():
        raise UsageError(f"{project}: no such project folder; pass the folder (or a file)")
    for file in files:
        if not file.is_file():
            raise UsageError(f"-f {file}: no such deployment file; name an existing file")
    return project, files
