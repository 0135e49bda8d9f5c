"""`scaffold update`, `status` and `template init`: projects and their template versions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scaffold import __version__
from scaffold.cli.common import add_common, parse_data
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError


def add_parsers(sub: Any) -> None:
    """`update`, `status`, `template init`."""
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
    update.add_argument(
        "--deployment",
        metavar="NAME",
        help="update only this deployment (its own answers file); default: each in turn",
    )
    add_common(update)

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
    add_common(status)

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
    add_common(init)
    update.set_defaults(handler=_cmd_update)
    status.set_defaults(handler=_cmd_status)
    template.set_defaults(handler=_cmd_template)


def _cmd_update(args: argparse.Namespace, console: Console) -> int:
    from scaffold.deployments import update_all
    from scaffold.errors import UpdateConflictError
    from scaffold.generate import read_answers
    from scaffold.update import server_change

    data = parse_data(args.data)
    allow = args.change_server
    change = server_change(read_answers(args.project.expanduser().resolve()), data)
    if change and not allow and sys.stdin.isatty():
        reply = input(
            f"Change the server from {change[0]} to {change[1]}? Its files are replaced. [y/N] "
        )
        allow = reply.strip().lower() in {"y", "yes"}
        if not allow:
            raise UsageError("server change not confirmed; nothing was changed")
    results = update_all(
        args.project,
        deployment=args.deployment,
        vcs_ref=args.vcs_ref,
        data=data,
        pretend=args.pretend,
        allow_server_change=allow,
    )
    for result in results:
        move = f"{result.from_version} -> {result.to_version}"
        which = f" ({result.answers_file})" if len(results) > 1 else ""
        for name in result.added:
            console.detail(f"added for the new server: {name}", important=True)
        if result.pretend:
            console.result(f"Would update {result.path}{which}: {move} (nothing written)")
            continue
        if result.conflicts:
            raise UpdateConflictError(
                f"updated {move}{which} with conflicts in {', '.join(result.conflicts)}; "
                "resolve the '<<<<<<< before updating' blocks, then git add and commit"
                + (" and run scaffold update again for the other deployments" if which else "")
            )
        console.result(f"Updated {result.path}{which}: {move}")
    if not args.pretend:
        console.result("Review with `git diff`, then commit")
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
