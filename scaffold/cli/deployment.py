"""`scaffold deployment add` and `scaffold deployment list`: several deployments of one
project (scaffold.deployments)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, parse_data
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError


def add_parsers(sub: Any) -> None:
    """`deployment add`, `deployment list`."""
    group = sub.add_parser(
        "deployment",
        help="several deployments of one project (add, list)",
        description="A project holds one endpoint and any number of deployments, each with "
        "its own deployment file (deployment.yml, green-deployment.yml, ...), deployed, run "
        "and validated on its own (--deployment NAME) and updated with its own copier answers "
        "file (.copier-answers.NAME.yml).",
    )
    actions = group.add_subparsers(dest="deployment_command", metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="add a deployment to a project",
        description="Add the deployment NAME to a project scaffold generated: NAME-deployment.yml "
        "(and .copier-answers.NAME.yml, for updates) with the settings of --from (default: the "
        "project's main deployment), your edits to its YAML included. It uses the same model, "
        "code and build context unless --model or --own-folders gives it its own folder NAME/ "
        "(model, src, docker-context, samples). Writes nothing when anything is wrong.",
    )
    add.add_argument("name", help="deployment name (3-32 characters, e.g. green)")
    add.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    add.add_argument(
        "--model",
        metavar="PATH",
        action="append",
        default=[],
        help="serve this model (as scaffold new --model; repeat it for several models in the "
        "deployment); gives the deployment its own folders",
    )
    add.add_argument(
        "--model-python",
        metavar="PATH",
        help="the Python of the model's own environment, to record its sample response (as "
        "scaffold new --model-python)",
    )
    add.add_argument(
        "--model-inspect",
        choices=("auto", "here", "none"),
        default="auto",
        help="where the model may run to record its sample response: auto (default), here, or none",
    )
    add.add_argument(
        "--from",
        dest="source",
        metavar="DEPLOYMENT",
        help="start from this deployment's settings (its name or file; default: the main one)",
    )
    add.add_argument(
        "--own-folders",
        action="store_true",
        help="give the deployment its own model, code and build context in NAME/ (copies of "
        "the source's), e.g. for other requirements",
    )
    add.add_argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an answer for this deployment, e.g. --data instance_type=Standard_DS4_v2",
    )
    add_common(add)
    listing = actions.add_parser("list", help="list a project's deployments")
    listing.add_argument("project", type=Path, nargs="?", default=Path(), help="project folder")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument(
        "--names", action="store_true", help="print the names only, one a line (for scripts)"
    )
    listing.add_argument(
        "--others",
        action="store_true",
        help="leave out the project's main deployment (the one commands pick by default)",
    )
    add_common(listing)
    group.set_defaults(handler=_cmd_group)
    add.set_defaults(handler=_cmd_add)
    listing.set_defaults(handler=_cmd_list)


def _cmd_group(_args: argparse.Namespace, _console: Console) -> int:
    raise UsageError("choose an action: scaffold deployment add NAME, or scaffold deployment list")


def _cmd_add(args: argparse.Namespace, console: Console) -> int:
    from scaffold.deployments import add_deployment

    python = None
    if args.model_python:
        if not args.model:
            raise UsageError("--model-python needs --model PATH")
        from scaffold.usermodel.modelenv import check_python

        python = check_python(args.model_python)
    result = add_deployment(
        args.project,
        args.name,
        models=args.model,
        source=args.source,
        own_folders=args.own_folders,
        data=parse_data(args.data),
        model_python=python,
        model_inspect=args.model_inspect,
    )
    added = result.deployment
    for note in result.notes:
        console.result(f"note: {note}")
    console.step(f"Wrote {len(result.files)} files")
    for name in result.files:
        console.detail(name)
    root = args.project.expanduser().resolve()
    where = (
        f"its own folder {added.folder.relative_to(root).as_posix()}/"
        if added.own_folders
        else "the model, code and build context of "
        + (
            added.folder.relative_to(root).as_posix() + "/"
            if added.folder != root
            else "the project"
        )
    )
    console.result(f"Added deployment {added.name} ({added.file.name}), using {where}")
    console.result(
        f"Next: scaffold run --deployment {added.name} {args.project}; commit; then "
        f"scaffold deploy --deployment {added.name} --traffic <main>=90,{added.name}=10"
    )
    return ExitCode.OK


def _cmd_list(args: argparse.Namespace, console: Console) -> int:
    import json

    from scaffold.deployments import list_deployments

    root = args.project.expanduser().resolve()
    found = list_deployments(root)
    if not found:
        raise UsageError(f"{root} has no deployment file; pass a project folder")
    if args.others:
        main = _main_file(root)
        found = [d for d in found if d.file != main]
    if args.names:
        for deployment in found:
            console.result(deployment.name)
        return ExitCode.OK

    def rel(path: Path) -> str:
        try:
            return path.relative_to(root).as_posix() or "."
        except ValueError:
            return str(path)

    rows = [
        {
            "name": d.name,
            "file": rel(d.file),
            "endpoint": d.endpoint,
            "folder": rel(d.folder),
            "own_folders": d.own_folders,
            "answers_file": rel(d.answers_file) if d.answers_file else None,
        }
        for d in found
    ]
    if args.json:
        console.result(json.dumps(rows, indent=2))
        return ExitCode.OK
    console.result(f"{'deployment':<20} {'file':<28} {'endpoint':<24} {'folder':<12} answers")
    for row in rows:
        console.result(
            f"{row['name']:<20} {row['file']:<28} {row['endpoint'] or '?':<24} "
            f"{row['folder']:<12} {row['answers_file'] or '(written by hand)'}"
        )
    return ExitCode.OK


def _main_file(root: Path) -> Path | None:
    """The deployment commands pick without --deployment (None when they would ask)."""
    from scaffold import layout
    from scaffold.errors import ProjectError

    try:
        return layout.deployment_file_for(root, None)
    except ProjectError:
        return None
