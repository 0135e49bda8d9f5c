"""`scaffold update`, `status` and `template init`: projects and their template versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scaffold import __version__
from scaffold.cli.common import add_common, parse_data
from scaffold.console import Console
from scaffold.errors import EditsLost, ExitCode, UpdateConflictError, UsageError


def add_parsers(sub: Any) -> None:
    """`update`, `status`, `template init`."""
    _add_update(sub)
    status = sub.add_parser(
        "status",
        help="template version and drift of one project or a folder of many",
        description="For each project (a folder with a copier answers file, searched up to 3 "
        "levels deep): template, current and newest version with their commits, "
        "half-finished updates (conflict markers, .rej files), and whether updating would "
        "conflict or lose an edit (a trial update in a throwaway clone). A project that "
        "cannot be checked is reported and the others still are. Exit 16 when a project "
        "could not be checked, else 8 when one has unresolved conflicts, else 10 when one "
        "is behind.",
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
    status.set_defaults(handler=_cmd_status)
    template.set_defaults(handler=_cmd_template)


def _add_update(sub: Any) -> None:
    update = sub.add_parser(
        "update",
        help="move a project to a newer template version, keeping your edits",
        description="Show the template's changelog, apply its declared renames, run "
        "copier's 3-way update on a clean git project, then check the result: conflicts "
        "(exit 8) and every edit of yours relative to the old template version that the "
        "result does not keep, by file and key with your value (exit 15). Questions new in "
        "the target version are asked on a terminal (defaults otherwise, listed).",
    )
    update.add_argument(
        "project", type=Path, nargs="*", help="project folder (with --all: folders of projects)"
    )
    update.add_argument("--vcs-ref", help="template version to move to (default: newest)")
    update.add_argument(
        "--pretend",
        action="store_true",
        help="show the diff the update would make, with its conflicts and lost edits, and "
        "write nothing",
    )
    update.add_argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an answer while updating",
    )
    update.add_argument(
        "--defaults",
        action="store_true",
        help="give questions new in the target version their defaults instead of asking",
    )
    update.add_argument(
        "--conflict",
        choices=["inline", "rej"],
        default="inline",
        help="inline conflict markers (default) or .rej files beside the template's version",
    )
    update.add_argument(
        "--change-server",
        action="store_true",
        help="confirm a change of the server answer (asked on a terminal)",
    )
    update.add_argument(
        "--answers-file",
        default=".copier-answers.yml",
        metavar="NAME",
        help="the answers file of the template to update (default .copier-answers.yml)",
    )
    update.add_argument(
        "--deployment",
        metavar="NAME",
        help="update only this deployment of the project (its own answers file, "
        ".copier-answers.NAME.yml); default: each deployment in turn",
    )
    update.add_argument(
        "--verify",
        action="store_true",
        help="update nothing: check that the project (e.g. after you resolved the "
        "conflicts) still has every edit it had before the last update",
    )
    update.add_argument(
        "--since",
        metavar="COMMIT",
        help="with --verify: the commit before the update (default: recorded by the last "
        "scaffold update; HEAD after an uncommitted `copier update`)",
    )
    update.add_argument(
        "--all",
        action="store_true",
        help="update every project under the given folders, each on its own git branch "
        "with one commit (conflicts left on that branch), and print a summary",
    )
    update.add_argument(
        "--branch-prefix",
        default="scaffold/update",
        help="with --all: branch name prefix (default scaffold/update, e.g. "
        "scaffold/update-v1.2.0)",
    )
    update.add_argument("--json", action="store_true", help="print the outcome as JSON")
    add_common(update)
    update.set_defaults(handler=_cmd_update)


# --- update --------------------------------------------------------------------------------
def _one_project(args: argparse.Namespace) -> Path:
    if len(args.project) > 1:
        raise UsageError("give one project folder (or --all FOLDERS to update many)")
    return (args.project[0] if args.project else Path()).expanduser().resolve()


def _cmd_update(args: argparse.Namespace, console: Console) -> int:
    if args.all:
        if args.deployment:
            raise UsageError(
                "--all updates every deployment of every project; leave out --deployment"
            )
        return _cmd_update_all(args, console)
    if args.verify:
        if args.deployment:
            args.answers_file = _deployment_answers(_one_project(args), args)
        return _cmd_verify(args, console)
    if args.since:
        raise UsageError("--since goes with --verify")
    from scaffold.update import apply_update, check_updatable, plan_update, server_change

    project = _one_project(args)
    data = parse_data(args.data)
    if args.deployment or args.answers_file == ".copier-answers.yml":
        chosen = _deployment_answers(project, args)
        if chosen is None:  # several deployments: each in turn
            return _cmd_update_deployments(project, data, args, console)
        args.answers_file = chosen
    answers = check_updatable(project, args.answers_file)
    allow = args.change_server
    change = server_change(answers, data)
    if change and not allow and sys.stdin.isatty():
        reply = input(
            f"Change the server from {change[0]} to {change[1]}? Its files are replaced. [y/N] "
        )
        allow = reply.strip().lower() in {"y", "yes"}
        if not allow:
            raise UsageError("server change not confirmed; nothing was changed")
    plan = plan_update(project, vcs_ref=args.vcs_ref, data=data, answers_file=args.answers_file)
    _show_plan(plan, console)
    interactive = not args.defaults and sys.stdin.isatty() and sys.stdout.isatty()
    result = apply_update(
        plan,
        data=data,
        pretend=args.pretend,
        allow_server_change=allow,
        conflict=args.conflict,
        interactive=interactive and not args.pretend,
        final=True,
    )
    return _report_update(result, args, console)


def _deployment_answers(project: Path, args: argparse.Namespace) -> str | None:
    """The answers file to update: the one of --deployment, the project's only one, or None
    when the project has several deployments and each is to be updated in turn."""
    from scaffold.deployments import answers_files, select

    if args.deployment:
        if args.answers_file != ".copier-answers.yml":
            raise UsageError("give --deployment or --answers-file, not both")
        chosen = select(project, args.deployment)
        if chosen.answers_file is None:
            raise UsageError(
                f"the deployment {chosen.name} was written by hand (no copier answers file); "
                "only deployments scaffold made are updated"
            )
        return chosen.answers_file.name
    if len(answers_files(project)) > 1:
        return None
    return str(args.answers_file)


def _cmd_update_deployments(
    project: Path, data: dict[str, Any], args: argparse.Namespace, console: Console
) -> int:
    """Every deployment's answers file in turn (scaffold.deployments.update_all); each
    result reported as one update's, naming its answers file."""
    from scaffold.deployments import update_all
    from scaffold.errors import ScaffoldError

    results = update_all(
        project,
        vcs_ref=args.vcs_ref,
        data=data,
        pretend=args.pretend,
        allow_server_change=args.change_server,
    )
    first: ScaffoldError | None = None
    for result in results:
        which = f" ({result.plan.answers_file})" if result.plan is not None else ""
        try:
            _report_update(result, args, console, which=which)
        except ScaffoldError as error:
            first = first or error
    if first is not None:
        raise first
    return ExitCode.OK


def _show_plan(plan: Any, console: Console) -> None:
    move = f"{plan.from_ref} -> {plan.to_ref}"
    console.step(f"Updating {plan.project} ({plan.template}): {move}")
    for note in plan.notes:
        console.detail(f"note: {note}", important=True)
    if plan.up_to_date:
        return
    log = plan.changelog
    if log.lines:
        console.detail(f"Template changes {move} ({log.source}):", important=True)
        for line in log.lines:
            console.detail(f"  {line}", important=True)
        if log.more:
            console.detail(f"  ... and {log.more} more lines", important=True)
    if plan.major:
        console.detail(
            f"warning: {move} crosses a major version ({plan.from_version} -> "
            f"{plan.to_version}): expect breaking changes, read the changes above",
            important=True,
        )
    for note in plan.renames.notes:
        console.detail(note, important=True)


def _report_update(
    result: Any, args: argparse.Namespace, console: Console, *, which: str = ""
) -> int:
    plan = result.plan
    move = f"{result.from_version} -> {result.to_version}"
    if args.json:
        console.result(json.dumps(_result_json(result), indent=2))
    if plan is not None and plan.up_to_date:
        if not args.json:
            console.result(f"{result.path}{which} is already at {plan.to_ref}; nothing to update")
        return ExitCode.OK
    _show_outcome_notes(result, console)
    if result.pretend and not args.json:
        console.result(result.diff.rstrip() or "(no file would change)")
    details = _problems(result)
    what = "would update" if result.pretend else "updated"
    verify = f"scaffold update --verify {result.path}"
    if result.conflicts and result.pretend:
        raise UpdateConflictError(
            f"the update {move}{which} would leave conflicts in {', '.join(result.conflicts)} "
            "(nothing written; the diff above shows them)",
            details="\n".join(details),
        )
    if result.conflicts:
        raise UpdateConflictError(
            f"updated {move}{which} with conflicts in {', '.join(result.conflicts)}; resolve them "
            f"(keep your values: see below), check with `{verify}`, then git add and commit",
            details="\n".join(details),
        )
    if result.check.lost or not result.check.ran:
        raise EditsLost(_lost_message(result, what, move), details="\n".join(details))
    if not args.json:
        if result.pretend:
            console.result(f"Would update {result.path}{which}: {move} (nothing written)")
        else:
            console.result(
                f"Updated {result.path}{which}: {move}; review with `git diff`, then commit"
            )
    return ExitCode.OK


def _show_outcome_notes(result: Any, console: Console) -> None:
    for name in result.added:
        console.detail(f"added for the new server: {name}", important=True)
    for name, value in result.defaulted.items():
        console.detail(
            f"new question {name} = {json.dumps(value, default=str)} (its default; change it "
            f"with scaffold update --data {name}=VALUE)",
            important=True,
        )
    for note in result.check.notes:
        console.detail(note, important=True)


def _lost_message(result: Any, what: str, move: str) -> str:
    if not result.check.ran:
        return (
            f"{what} {move} but could not check that every edit of yours was kept "
            f"({result.check.error}); review `git diff` before committing"
        )
    count = len(result.check.lost)
    if result.pretend:
        return (
            f"the update {move} would not keep {count} of your edits or answers (listed "
            "with your values; nothing written)"
        )
    return (
        f"{what} {move} but {count} of your edits or answers are not in the result (listed "
        f"with your values); put them back, check with `scaffold update --verify "
        f"{result.path}`, then commit"
    )


def _problems(result: Any) -> list[str]:
    lines = []
    for conflict in result.conflict_details:
        lines.append(f"  conflict: {conflict.describe()}")
        sides = result.check.predicted.get(conflict.path, {})
        for side, label in (("template", "the template's side"), ("yours", "your side")):
            for edit in sides.get(side, []):
                lines.append(f"    keeping {label} everywhere: {edit.describe()}")
    for edit in result.check.lost:
        lines.append(f"  not kept: {edit.describe()}")
    return lines


def _result_json(result: Any) -> dict[str, Any]:
    plan = result.plan
    return {
        "project": str(result.path),
        "from": result.from_version,
        "to": result.to_version,
        "from_commit": plan.from_commit if plan else None,
        "to_commit": plan.to_commit if plan else None,
        "up_to_date": bool(plan and plan.up_to_date),
        "pretend": result.pretend,
        "notes": list(plan.notes) if plan else [],
        "changelog": list(plan.changelog.lines) if plan else [],
        "major": bool(plan and plan.major),
        "renamed": dict(plan.renames.renamed) if plan else {},
        "defaulted": result.defaulted,
        "conflicts": [c.describe() for c in result.conflict_details],
        "predicted": {
            path: {side: [e.to_json() for e in edits] for side, edits in sides.items()}
            for path, sides in result.check.predicted.items()
        },
        "lost": [e.to_json() for e in result.check.lost],
        "checked": result.check.ran,
        "check_error": result.check.error,
        "diff": result.diff,
    }


def _cmd_verify(args: argparse.Namespace, console: Console) -> int:
    from scaffold.update import verify

    project = _one_project(args)
    done = verify(project, since=args.since, answers_file=args.answers_file)
    check = done.check
    if args.json:
        console.result(
            json.dumps(
                {
                    "project": str(project),
                    "since": done.since,
                    "conflicts": [c.describe() for c in done.conflicts],
                    "lost": [e.to_json() for e in check.lost],
                    "checked": check.ran,
                    "check_error": check.error,
                    "notes": check.notes,
                },
                indent=2,
            )
        )
    for note in check.notes:
        console.detail(note, important=True)
    if done.conflicts:
        raise UpdateConflictError(
            f"{project} still has unresolved conflicts: "
            f"{', '.join(c.describe() for c in done.conflicts)}",
            details="\n".join(f"  not kept: {e.describe()}" for e in check.lost),
        )
    if not check.ran:
        raise EditsLost(f"could not check {project}: {check.error}")
    if check.lost:
        raise EditsLost(
            f"{len(check.lost)} of your edits since {done.since[:12]} are not in {project} "
            "(listed with your values); put them back, then check again",
            details="\n".join(f"  not kept: {e.describe()}" for e in check.lost),
        )
    if not args.json:
        console.result(
            f"Every edit of yours from before the update ({done.since[:12]}) is in {project}"
        )
    return ExitCode.OK


def _cmd_update_all(args: argparse.Namespace, console: Console) -> int:
    from scaffold.fleet import update_all

    if args.verify or args.pretend or args.since:
        raise UsageError(
            "--all updates on branches; --verify, --since and --pretend are per project"
        )
    if not args.project:
        raise UsageError("--all needs the folders holding the projects, e.g. --all ~/endpoints")
    rows = update_all(
        args.project,
        vcs_ref=args.vcs_ref,
        data=parse_data(args.data),
        conflict=args.conflict,
        branch_prefix=args.branch_prefix,
    )
    if not rows:
        raise UsageError("no project found (no .copier-answers.yml); pass folders of projects")
    if args.json:
        console.result(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        console.result(f"{'project':<40} {'from':<10} {'to':<10} {'outcome':<10} branch / detail")
        for row in rows:
            where = row.branch or row.detail
            console.result(
                f"{_shown_path(row.path, row.answers_file):<40} {row.from_version or '?':<10} "
                f"{row.to_version or '?':<10} {row.outcome:<10} {where}"
            )
            for path in row.conflicts:
                console.result(f"{'':<40} conflict: {path}")
            for line in row.lost:
                console.result(f"{'':<40} not kept: {line}")
    outcomes = {row.outcome for row in rows}
    if "error" in outcomes:
        return ExitCode.UNCHECKED
    if "conflicts" in outcomes:
        return ExitCode.UPDATE_CONFLICT
    if "lost" in outcomes:
        return ExitCode.EDITS_LOST
    return ExitCode.OK


def _shown_path(path: str, answers_file: str) -> str:
    return path if answers_file == ".copier-answers.yml" else f"{path} [{answers_file}]"


# --- status --------------------------------------------------------------------------------
def _cmd_status(args: argparse.Namespace, console: Console) -> int:
    from scaffold.status import fleet_status

    rows = fleet_status(args.paths, check_conflicts=not args.no_conflicts)
    if not rows:
        raise UsageError("no project found (no .copier-answers.yml); pass project folders")
    if args.json:
        console.result(json.dumps([row.to_json() for row in rows], indent=2))
    else:
        console.result(f"{'project':<40} {'server':<10} {'current':<10} {'latest':<10} state")
        for row in rows:
            console.result(
                f"{_shown_path(row.path, row.answers_file):<40} {row.server or '?':<10} "
                f"{row.current or '?':<10} {row.latest or '?':<10} {_state(row)}"
            )
            for line in [*row.unresolved, *row.lost, *row.notes]:
                console.result(f"{'':<40} {line}")
    states = {row.state for row in rows}
    if "error" in states:
        return ExitCode.UNCHECKED
    if "unresolved" in states:
        return ExitCode.UPDATE_CONFLICT
    return ExitCode.OUTDATED if "behind" in states else ExitCode.OK


def _state(row: Any) -> str:
    if row.error:
        return f"cannot check: {row.error}"
    if row.unresolved:
        return "half-finished update: unresolved conflicts"
    if not row.behind:
        return "up to date"
    state = "behind"
    if row.conflicts:
        state += f", would conflict in {', '.join(row.conflicts)}"
    if row.lost:
        state += f", would lose {len(row.lost)} edit(s)"
    if row.trial and not row.conflicts and not row.lost:
        state += ", updates cleanly"
    return state


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
