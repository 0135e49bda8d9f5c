"""`scaffold update`: move a project to another template version, never losing an edit silently.

An update is planned first (`plan_update`, which writes nothing): the template's tags are
read with the commits they point to, the target version chosen as copier would (newest
PEP 440 release) but with tags for one version on different commits named instead of
guessed between, a tag moved since the project was generated noticed through the commit
the project pinned (`answersfile.PIN_KEY`), the template's changelog between the versions
collected, its declared renames applied to the answers (`scaffold.renames`), and the
questions new in the target version listed.

Then `apply_update` runs copier's 3-way update on the clean git project (the old version
rendered from the pinned commit, so a moved tag cannot corrupt the diff), pins the new
commit, and checks the result: conflicts copier left (it exits 0 with them) and every edit
of the user's that is not in the result any more (`scaffold.edits`), by file and key with
the user's value. An update interrupted by SIGINT or SIGTERM is undone: the project goes
back to the clean commit it started from. `verify` runs the same check later, e.g. after
the user resolved the conflicts, against the commit the update started from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from scaffold import __version__, answersfile, signals, template_source
from scaffold.changelog import Changelog, between, crosses_major
from scaffold.conflicts import Conflict, scan_conflicts, sides
from scaffold.edits import AnswerChanges, LostEdit, compare_answers, compare_file
from scaffold.errors import (
    GitError,
    Interrupted,
    ProjectError,
    ScaffoldError,
    TemplateError,
    UpdateConflictError,
    UsageError,
)
from scaffold.gitutil import BOT_ENV, dirty_paths, git, is_inside_repo, restore_folder, show
from scaffold.renames import Applied, apply, load_rules
from scaffold.tempdirs import copier_temp, scratch_dir, wait_for_children

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.template_repo import TemplateRepo

ConflictMode = Literal["inline", "rej"]
#: Where the last update of each project is recorded, inside the git directory.
RECORD_DIR = "scaffold/updates"


@dataclass(frozen=True)
class UpdatePlan:
    """What an update would do, decided before anything is written."""

    project: Path
    answers_file: str
    #: The template location as recorded (`_src_path`).
    template: str
    #: The version recorded (`_commit`: a tag or `git describe` string).
    from_ref: str
    #: The commit the project was made from (the pin, else what `from_ref` names now).
    from_commit: str
    from_version: str
    #: The version to move to, as named (a tag, or the --vcs-ref given).
    to_ref: str
    to_commit: str
    to_version: str
    up_to_date: bool
    #: Things the user should know (moved tags, unreleased versions, ...).
    notes: list[str] = field(default_factory=list)
    changelog: Changelog = field(default_factory=Changelog)
    #: The update crosses a major version (e.g. 1.x -> 2.x).
    major: bool = False
    #: Answers computed by the template's declared renames.
    renames: Applied = field(default_factory=Applied)
    #: Questions new in the target version, with the answer they would get by default.
    new_questions: dict[str, Any] = field(default_factory=dict)
    #: The recorded answers.
    answers: dict[str, Any] = field(default_factory=dict)
    #: The questions of the old and the new version.
    old_questions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    new_questions_spec: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class EditCheck:
    """The result of the lost-edit check."""

    #: False when the check could not run (`error` says why): nothing is proven then.
    ran: bool = True
    lost: list[LostEdit] = field(default_factory=list)
    #: For each file left with conflict markers: what keeping the template's side
    #: ("template") or the user's side ("yours") of every conflict would lose.
    predicted: dict[str, dict[str, list[LostEdit]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class UpdateResult:
    """What an update did."""

    path: Path
    from_version: str | None
    to_version: str | None
    conflicts: list[str] = field(default_factory=list)
    pretend: bool = False
    #: Files the new server needs that a server change added (user-owned files are never
    #: touched by updates, so they are copied from a fresh rendering instead).
    added: list[str] = field(default_factory=list)
    plan: UpdatePlan | None = None
    #: The unresolved conflicts, described.
    conflict_details: list[Conflict] = field(default_factory=list)
    check: EditCheck = field(default_factory=EditCheck)
    #: Answers the new questions got without being asked (no terminal, or --defaults).
    defaulted: dict[str, Any] = field(default_factory=dict)
    #: `--pretend`: the diff the update would make (git's patch format).
    diff: str = ""

    @property
    def lost(self) -> list[LostEdit]:
        """Edits of the user's that are not in the result."""
        return self.check.lost


# --- Preconditions -------------------------------------------------------------------------
def check_updatable(project: Path, answers_file: str = answersfile.DEFAULT) -> dict[str, Any]:
    """Return the project's answers; raise with the fix if it cannot be updated now."""
    answers = answersfile.load(project, answers_file)
    if not is_inside_repo(project):
        raise GitError(
            f"{project} is not a git repository; run `git init && git add -A && "
            "git commit -m 'initial'` there, then retry"
        )
    dirty = dirty_paths(project)
    if dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise GitError(
            f"{project} has uncommitted changes ({shown}); commit or stash them, then retry"
        )
    left = scan_conflicts(project)
    if left:
        raise UpdateConflictError(
            f"{project} has unresolved conflicts from an earlier update "
            f"({', '.join(c.describe() for c in left[:5])}); resolve them, check with "
            f"`scaffold update --verify {project}`, commit, then retry"
        )
    return answers


def find_conflicts(project: Path) -> list[str]:
    """Paths an update left unresolved: unmerged in git, `.rej` files, conflict markers."""
    return [conflict.path for conflict in scan_conflicts(project)]


def server_change(answers: Mapping[str, Any], data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(old, new) server if `data` changes it, else None."""
    old, new = answers.get("server"), data.get("server")
    if new is None or new == old:
        return None
    return str(old), str(new)


# --- Planning ------------------------------------------------------------------------------
def _questions(repo: TemplateRepo, commit: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(copier.yml as a mapping, its questions) at `commit`."""
    with repo.checkout(commit, repo.config_files(commit)) as tree:
        config = template_source.load_copier_yml(tree)
        questions = template_source.load_questions(tree)
    return config, questions


def _base_commit(repo: TemplateRepo, from_ref: str, pinned: str | None) -> tuple[str, list[str]]:
    """The commit the project was made from, and notes on moved or duplicated tags."""
    notes: list[str] = []
    now = repo.resolve(from_ref)
    if pinned and repo.bundled and now and not repo.has_commit(pinned):
        # The bundled template's commits are made on each machine (from the installed
        # files and the wheel's history bundle), so another machine's pin names nothing
        # here; its release tags are not moved.
        pinned = None
    if pinned:
        if not repo.has_commit(pinned):
            moved = f" (tag {from_ref} now points to {now[:12]})" if now else ""
            raise TemplateError(
                f"the project was made from commit {pinned[:12]} of {repo.url}, which the "
                f"template repository no longer has{moved}; push that commit back (or restore "
                f"the tag), or delete the {answersfile.PIN_KEY} line of the answers file and "
                "commit to diff against the tag as it is now"
            )
        if now and now != pinned and not repo.same_tree(now, pinned):
            notes.append(
                f"tag {from_ref} was moved since this project was made (from {pinned[:12]} to "
                f"{now[:12]}); the update starts from {pinned[:12]}, the commit the project "
                "pinned"
            )
        return pinned, notes
    if now is None:
        raise TemplateError(
            f"the template {repo.url} has no tag or commit {from_ref} (the version this "
            f"project was made from); {repo.describe_tags()}. Restore the tag, or set "
            "_commit in the answers file to the commit the project came from"
        )
    tag = repo.tag(from_ref)
    if tag is not None:
        twins = [t for t in repo.same_version(tag) if t.commit != tag.commit]
        if twins:
            notes.append(
                f"tags {', '.join(t.name for t in twins)} mean the same version as {from_ref} "
                f"but point elsewhere; the update starts from {from_ref} ({now[:12]})"
            )
    return now, notes


def _target(repo: TemplateRepo, vcs_ref: str | None) -> tuple[str, str, list[str]]:
    """(name, commit, notes) of the version to move to."""
    if vcs_ref:
        commit = repo.require(vcs_ref)
        if repo.is_branch(vcs_ref):
            return (
                vcs_ref,
                commit,
                [
                    f"{vcs_ref} is a branch, not a release: the project will record an unreleased "
                    "version; the next release updates it again (or pass --vcs-ref "
                    f"{vcs_ref} again)"
                ],
            )
        return vcs_ref, commit, []
    if repo.bundled:
        name = f"v{__version__}"
        return name, repo.require(name), []
    newest = repo.latest()
    if newest is None:
        raise TemplateError(
            f"the template {repo.url} has no release tags, so there is no version to update "
            "to; tag its releases (git tag v1.0.0) or pass --vcs-ref"
        )
    return newest.name, newest.commit, []


#: Answers that choose the files of the user's models: set by `scaffold new --model`,
#: never changed by an update (the model folders they name are excluded from updates).
FIXED_AT_NEW = ("models",)


def plan_update(
    project: Path,
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    answers_file: str = answersfile.DEFAULT,
    flags: set[str] | None = None,
) -> UpdatePlan:
    """Decide what updating `project` to `vcs_ref` (default: the newest release) does,
    without writing anything. `data`: answers to change (checked here, one line on error).
    """
    from scaffold.answers import check_answers, computed_context
    from scaffold.template_repo import TemplateRepo

    project = project.expanduser().resolve()
    answers = answersfile.load(project, answers_file)
    src, from_ref, pinned = answersfile.template_of(answers, project / answers_file)
    if from_ref is None:
        raise ProjectError(
            f"{project / answers_file} has no _commit: the project was generated from a "
            "template that is not a git repository, so it cannot be updated"
        )
    repo = TemplateRepo.open(src)
    from_commit, notes = _base_commit(repo, from_ref, pinned)
    to_ref, to_commit, more = _target(repo, vcs_ref)
    notes += more
    old_version = repo.version_of(from_ref)
    new_version = repo.version_of(to_ref)
    given = dict(data or {})
    for name in FIXED_AT_NEW:
        if name in given and (given[name] or []) != (answers.get(name) or []):
            raise UsageError(
                f"--data {name}: the models of a project are chosen when it is made (scaffold "
                "new --model A --model B); an update never writes model folders, which are "
                "yours: generate a new project, or add one with scaffold deployment add"
            )
    if old_version is not None and new_version is not None and new_version < old_version:
        if vcs_ref is not None:
            raise UsageError(
                f"{to_ref} ({new_version}) is older than the project's version {from_ref} "
                f"({old_version}); copier cannot downgrade a project"
            )
        notes.append(
            f"the project is on {from_ref} ({old_version}), newer than the newest release "
            f"{to_ref}: nothing to update until the next release"
        )
        to_ref, to_commit, new_version = from_ref, from_commit, old_version
    up_to_date = to_commit == from_commit and not given
    config, new_questions = _questions(repo, to_commit)
    old_questions = new_questions if to_commit == from_commit else _questions(repo, from_commit)[1]
    renamed = apply(load_rules(config, repo.url), answers, old_version, new_version, new_questions)
    previous = {k: v for k, v in answers.items() if not k.startswith("_")}
    for old in (*renamed.renamed, *renamed.removed):
        previous.pop(old, None)
    check_answers(new_questions, given, previous={**previous, **renamed.data}, flags=flags)
    context = computed_context(new_questions, {**previous, **renamed.data, **given})
    from scaffold.answers import applies

    _check_recorded(new_questions, {**previous, **renamed.data}, given, context, to_ref)

    fresh = {
        name: context.get(name)
        for name, spec in new_questions.items()
        if spec.get("when") is not False
        and name not in previous
        and name not in renamed.data
        and name not in given
        and applies(spec, context)
    }
    changes = (
        Changelog()
        if to_commit == from_commit
        else between(repo, from_commit, old_version, to_commit, new_version)
    )
    return UpdatePlan(
        project=project,
        answers_file=answers_file,
        template=repo.url,
        from_ref=from_ref,
        from_commit=from_commit,
        from_version=str(old_version),
        to_ref=to_ref,
        to_commit=to_commit,
        to_version=str(new_version),
        up_to_date=up_to_date,
        notes=notes,
        changelog=changes,
        major=crosses_major(old_version, new_version),
        renames=renamed,
        new_questions=fresh,
        answers=answers,
        old_questions=old_questions,
        new_questions_spec=new_questions,
    )


def _check_recorded(
    questions: Mapping[str, Mapping[str, Any]],
    recorded: Mapping[str, Any],
    given: Mapping[str, Any],
    context: Mapping[str, Any],
    version: str,
) -> None:
    """Refuse, before anything is written, a recorded answer the target version's
    questions no longer accept (copier would replace it by the default without a word,
    or stop with a traceback-like error): the user chooses the new value."""
    from scaffold.answers import applies, check_answers

    for name, value in recorded.items():
        spec = questions.get(name)
        if name in given or spec is None or spec.get("when") is False:
            continue
        if not applies(spec, context):
            continue
        try:
            check_answers(questions, {name: value}, previous=recorded)
        except UsageError as error:
            raise UsageError(
                f"your recorded answer {name} = {value!r} is refused by the template at "
                f"{version} ({error.message}); choose one with --data {name}=VALUE"
            ) from None


# --- Applying ------------------------------------------------------------------------------
def update_project(
    project: Path,
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    pretend: bool = False,
    allow_server_change: bool = False,
    conflict: ConflictMode = "inline",
    interactive: bool = False,
    answers_file: str = answersfile.DEFAULT,
) -> UpdateResult:
    """Plan and apply an update of `project` (see `plan_update` and `apply_update`)."""
    project = project.expanduser().resolve()
    check_updatable(project, answers_file)
    plan = plan_update(project, vcs_ref=vcs_ref, data=data, answers_file=answers_file)
    return apply_update(
        plan,
        data=data,
        pretend=pretend,
        allow_server_change=allow_server_change,
        conflict=conflict,
        interactive=interactive,
    )


def apply_update(
    plan: UpdatePlan,
    *,
    data: Mapping[str, Any] | None = None,
    pretend: bool = False,
    allow_server_change: bool = False,
    conflict: ConflictMode = "inline",
    interactive: bool = False,
    final: bool = False,
) -> UpdateResult:
    """Run the planned update, then check it. `pretend`: in a throwaway clone, returning
    the diff it made; the project is not touched. Changing the `server` answer needs
    `allow_server_change`. `final`: this update is the command's last change, so once it
    is written and checked a signal no longer interrupts the program (`signals.finish`):
    an interrupt either undoes the update or comes too late to matter, never both."""
    from scaffold.answers import check_bounds

    given = dict(data or {})
    check_bounds(given)  # before copier renders (or parses as YAML) any answer
    change = server_change(plan.answers, given)
    if change and not allow_server_change:
        raise UsageError(
            f"changing the server from {change[0]} to {change[1]} replaces the project's "
            "server files; pass --change-server to confirm"
        )
    if plan.up_to_date:
        return UpdateResult(plan.project, plan.from_ref, plan.to_ref, plan=plan, pretend=pretend)
    check_updatable(plan.project, plan.answers_file)
    if pretend:
        return _trial(plan, given, conflict)
    head = git("rev-parse", "HEAD", cwd=plan.project).strip()
    try:
        result = _apply(plan, given, conflict, interactive, head, change is not None)
        if final:
            signals.finish()  # inside the try: a signal before this still undoes the update
        return result
    except KeyboardInterrupt as stopped:
        raise restore_after_interrupt(plan.project, head, stopped) from None
    except Exception:
        # copier (or an import) interrupted by the signal may fail with another error:
        # the update is still interrupted, and undone.
        signum = signals.received()
        if signum is None:
            raise
        raise restore_after_interrupt(plan.project, head, Interrupted(signum)) from None


def _apply(
    plan: UpdatePlan,
    given: dict[str, Any],
    conflict: ConflictMode,
    interactive: bool,
    head: str,
    server_changed: bool,
) -> UpdateResult:
    project = plan.project
    with _base_pinned(plan, head):
        _run_copier(plan, {**plan.renames.data, **given}, conflict, interactive)
    after = answersfile.load(project, plan.answers_file)
    answersfile.pin(project, plan.answers_file, plan.to_commit)
    added = _add_missing_files(project, after, plan) if server_changed else []
    left = scan_conflicts(project)
    check = check_edits(project, head, plan, after, given, left)
    _record(project, plan, head, given)
    defaulted = {k: after[k] for k in plan.new_questions if k in after}
    return UpdateResult(
        path=project,
        from_version=plan.from_ref,
        to_version=str(after.get("_commit", plan.to_ref)),
        conflicts=[c.path for c in left],
        added=added,
        plan=plan,
        conflict_details=left,
        check=check,
        defaulted={} if interactive else defaulted,
    )


@contextlib.contextmanager
def _base_pinned(plan: UpdatePlan, head: str) -> Iterator[None]:
    """While copier runs, make the answers file name the pinned commit when the recorded
    tag no longer points to it (copier renders the old version from `_commit`).

    copier refuses a dirty tree, so the change is committed for the duration and the
    commit dropped afterwards (`reset --soft`: the update's changes stay as they are)."""
    from scaffold.template_repo import TemplateRepo

    repo = TemplateRepo.open(plan.template, refresh=False)
    if repo.resolve(plan.from_ref) == plan.from_commit:
        yield
        return
    path = plan.project / plan.answers_file
    text = path.read_text(encoding="utf-8")
    lines = [
        f"_commit: {plan.from_commit}\n" if line.startswith("_commit:") else line
        for line in text.splitlines(keepends=True)
    ]
    path.write_text("".join(lines), encoding="utf-8")
    git("add", "--", plan.answers_file, cwd=plan.project)
    git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        "scaffold: pin the template commit",
        "--",
        plan.answers_file,
        cwd=plan.project,
        env=BOT_ENV,
    )
    try:
        yield
    finally:
        with signals.shielded():
            git("reset", "--quiet", "--soft", head, cwd=plan.project)


def _run_copier(
    plan: UpdatePlan, data: dict[str, Any], conflict: ConflictMode, interactive: bool
) -> None:
    if plan.template == template_source.CANONICAL_URL:
        template_source.redirect_git_to_cache()
    from copier import run_update

    try:
        with template_source.git_policy(plan.template), copier_temp():
            run_update(
                str(plan.project),
                data=data,
                vcs_ref=plan.to_commit,
                answers_file=plan.answers_file,
                defaults=not interactive,
                overwrite=True,
                unsafe=False,
                quiet=True,
                conflict=conflict,
                skip_answered=True,
            )
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:
        raise _copier_error(error) from error


def _copier_error(error: Exception) -> ScaffoldError:
    from scaffold.generate import write_error

    if isinstance(error, OSError):
        return write_error(Path(getattr(error, "filename", "") or "."), error)
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if "Validation error for question" in text or "Invalid choice" in text:
        import re

        match = re.search(r"question '(\w+)'|for '(\w+)'", text)
        name = next((g for g in (match.groups() if match else ()) if g), "NAME")
        return UsageError(f"update refused: {text} (set it with --data {name}=VALUE)")
    return TemplateError(f"update failed: {text}")


def _trial(plan: UpdatePlan, given: dict[str, Any], conflict: ConflictMode) -> UpdateResult:
    """The update run in a throwaway clone of the project's repository: what it would do,
    with the diff; the project is not touched."""
    top = Path(git("rev-parse", "--show-toplevel", cwd=plan.project).strip())
    prefix = plan.project.relative_to(top.resolve()) if plan.project != top.resolve() else Path()
    with scratch_dir("scaffold-trial-") as work:
        clone = work / top.name
        git(
            "clone",
            "--quiet",
            str(top),
            str(clone),
            cwd=work,
            env={"GIT_ALLOW_PROTOCOL": "file"},
        )
        project = clone / prefix
        head = git("rev-parse", "HEAD", cwd=project).strip()
        moved = replace(plan, project=project.resolve())
        result = _apply(moved, given, conflict, False, head, False)
        git("add", "--all", "--", ".", cwd=project)
        diff = git("diff", "--cached", "--relative", head, cwd=project, check=False)
        return replace(result, path=plan.project, plan=plan, pretend=True, diff=diff)


# --- The lost-edit check -------------------------------------------------------------------
@contextlib.contextmanager
def _base_rendering(
    template: str, commit: str, answers: Mapping[str, Any], name: str
) -> Iterator[Path]:
    """The old template version rendered with the old answers, in a temporary folder."""
    from copier import run_copy

    with scratch_dir("scaffold-base-") as work:
        dest = work / name
        with template_source.git_policy(template), copier_temp():
            run_copy(
                template,
                str(dest),
                data={k: v for k, v in answers.items() if not k.startswith("_")},
                vcs_ref=commit,
                defaults=True,
                unsafe=False,
                quiet=True,
                overwrite=True,
            )
        yield dest


def _changed_paths(project: Path, since: str) -> list[str]:
    """Paths (relative to `project`) that differ between commit `since` and the work tree."""
    tracked = git("diff", "--name-only", "-z", "--relative", since, "--", ".", cwd=project)
    untracked = git("ls-files", "-z", "--others", "--exclude-standard", cwd=project)
    return sorted({p for p in (tracked + untracked).split("\0") if p})


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def check_edits(
    project: Path,
    since: str,
    plan: UpdatePlan,
    after_answers: Mapping[str, Any],
    given: Mapping[str, Any],
    left: list[Conflict],
) -> EditCheck:
    """Compare the project at commit `since` (before the update) and now with the old
    template version rendered from the answers it had: every user edit must be kept."""
    before_answers = plan.answers
    changed = [
        p
        for p in _changed_paths(project, since)
        if not answersfile.PATTERN.match(Path(p).name) and not p.endswith(".rej")
    ]
    marked = {c.path for c in left if c.kind == "markers"}
    lost: list[LostEdit] = []
    predicted: dict[str, dict[str, list[LostEdit]]] = {}
    try:
        if changed:
            with _base_rendering(
                plan.template, plan.from_commit, before_answers, project.name
            ) as base:
                for path in changed:
                    old = _read(base / path)
                    before = show(project, since, path)
                    after = _read(project / path)
                    if path in marked and after is not None:
                        predicted[path] = _predict(path, old, before, after)
                        continue
                    lost += compare_file(path, old, before, after)
    except (KeyboardInterrupt, ScaffoldError):
        raise
    except Exception as error:
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return EditCheck(ran=False, error=f"the old template version could not be rendered: {text}")
    answer_lost, notes = _check_answers(plan, before_answers, after_answers, given)
    return EditCheck(lost=answer_lost + lost, predicted=predicted, notes=notes)


def _predict(
    path: str, base: bytes | None, before: bytes | None, after: bytes
) -> dict[str, list[LostEdit]]:
    text = after.decode("utf-8", errors="replace")
    yours, theirs = sides(text)
    return {
        "template": compare_file(path, base, before, theirs.encode()),
        "yours": compare_file(path, base, before, yours.encode()),
    }


def _check_answers(
    plan: UpdatePlan,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    given: Mapping[str, Any],
) -> tuple[list[LostEdit], list[str]]:
    from scaffold.answers import computed_context

    questions = plan.new_questions_spec
    # A question that no longer applies to the project (its `when` is false for these
    # answers) drops its answer by design; one made `when: false` for good (a computed
    # value now) discards what the user answered, so that counts as lost.
    not_applicable = [
        k
        for k in before
        if k in questions and k not in after and questions[k].get("when") is not False
    ]
    dropped = [
        k
        for k in before
        if not k.startswith("_")
        and k not in after
        and k not in questions
        and k not in plan.renames.renamed
        and k not in plan.renames.removed
    ]
    # Answers the update dropped or changed without being told to: an old default there
    # was never the user's choice (e.g. a default that follows another answer given now).
    changed = [
        k
        for k in before
        if not k.startswith("_") and k in after and k not in given and after[k] != before[k]
    ]
    defaults = {}
    for key in [*dropped, *changed]:
        others = {k: v for k, v in before.items() if k != key and not k.startswith("_")}
        context = computed_context(plan.old_questions, others)
        if key in context:
            defaults[key] = context[key]
    changes = AnswerChanges(
        given={**plan.renames.data, **given},
        renamed=plan.renames.renamed,
        removed=plan.renames.removed,
        not_applicable=not_applicable,
        old_defaults=defaults,
    )
    return compare_answers(plan.answers_file, before, after, changes)


# --- Record and verify ----------------------------------------------------------------------
def _record_path(project: Path, answers_file: str) -> Path:
    prefix = git("rev-parse", "--show-prefix", cwd=project).strip()
    folder = git("rev-parse", "--git-path", RECORD_DIR, cwd=project).strip()
    key = hashlib.sha256(f"{prefix}{answers_file}".encode()).hexdigest()[:16]
    return (project / folder / f"{key}.json").resolve()


def _record(project: Path, plan: UpdatePlan, head: str, given: Mapping[str, Any]) -> None:
    """Remember where the update started (and which answers it was told to change), for
    `verify` after the conflicts are resolved."""
    path = _record_path(project, plan.answers_file)
    with contextlib.suppress(OSError, TypeError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "before": head,
                    "answers_file": plan.answers_file,
                    "from": plan.from_ref,
                    "to": plan.to_ref,
                    "to_commit": plan.to_commit,
                    "given": sorted(given),
                }
            ),
            encoding="utf-8",
        )


def _recorded(project: Path, answers_file: str) -> dict[str, Any]:
    try:
        loaded = json.loads(_record_path(project, answers_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


@dataclass(frozen=True)
class Verified:
    """The lost-edit check of a finished (or hand-resolved) update."""

    project: Path
    since: str
    conflicts: list[Conflict]
    check: EditCheck


def verify(
    project: Path, *, since: str | None = None, answers_file: str = answersfile.DEFAULT
) -> Verified:
    """Check the project as it is now against the commit an update started from (`since`,
    default: the one the last `scaffold update` recorded): unresolved conflicts, and every
    edit of the user's relative to the template version recorded at that commit."""
    from scaffold.template_repo import TemplateRepo

    project = project.expanduser().resolve()
    answersfile.load(project, answers_file)
    if not is_inside_repo(project):
        raise GitError(f"{project} is not a git repository; there is no earlier state to compare")
    record = _recorded(project, answers_file)
    if since is None:
        if "before" not in record:
            raise UsageError(
                f"no update of {project} recorded here; pass --since COMMIT (the commit "
                "before the update, e.g. HEAD for an uncommitted `copier update`)"
            )
        since = str(record["before"])
    resolved = git(
        "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}", cwd=project, check=False
    ).strip()
    if not resolved:
        raise UsageError(f"--since {since} is not a commit of {project}")
    since = resolved
    intended = record.get("given", []) if record.get("before") == since else []
    raw = show(project, since, answers_file)
    if raw is None:
        raise UsageError(f"{project} had no {answers_file} at {since[:12]}; pass another --since")
    import yaml

    from scaffold import limits

    try:
        text = raw.decode("utf-8")
        limits.check_yaml(text)  # depth and alias expansion, before PyYAML builds it
        before = yaml.safe_load(text) or {}
    except (yaml.YAMLError, UnicodeDecodeError, limits.InputRejected):
        raise ProjectError(f"{answers_file} at {since[:12]} is not valid YAML") from None
    if not isinstance(before, dict):
        raise ProjectError(f"{answers_file} at {since[:12]} is not a mapping of answers")
    after = answersfile.load(project, answers_file)
    src, from_ref, pinned = answersfile.template_of(before, project / answers_file)
    repo = TemplateRepo.open(src)
    from_commit, notes = _base_commit(repo, str(from_ref), pinned)
    to_ref = str(after.get("_commit") or from_ref)
    to_commit = str(after.get(answersfile.PIN_KEY) or repo.resolve(to_ref) or from_commit)
    config, new_questions = _questions(repo, to_commit)
    old_questions = _questions(repo, from_commit)[1]
    old_version, new_version = repo.version_of(str(from_ref)), repo.version_of(to_ref)
    renamed = apply(load_rules(config, repo.url), before, old_version, new_version, new_questions)
    given = {k: after.get(k) for k in intended if isinstance(k, str)}
    plan = UpdatePlan(
        project=project,
        answers_file=answers_file,
        template=repo.url,
        from_ref=str(from_ref),
        from_commit=from_commit,
        from_version=str(old_version),
        to_ref=to_ref,
        to_commit=to_commit,
        to_version=str(new_version),
        up_to_date=False,
        notes=notes,
        renames=renamed,
        answers=before,
        old_questions=old_questions,
        new_questions_spec=new_questions,
    )
    left = scan_conflicts(project)
    check = check_edits(project, since, plan, after, given, left)
    if before.get("_commit") == after.get("_commit") and before.get(
        answersfile.PIN_KEY
    ) == after.get(answersfile.PIN_KEY):
        check = replace(
            check,
            notes=[
                *check.notes,
                f"the answers file records the same template version at {since[:12]} as now: "
                "if the update was committed since, pass --since with the commit before it",
            ],
        )
    return Verified(project, since, left, check)


# --- Interrupts and server changes ---------------------------------------------------------
def restore_after_interrupt(project: Path, head: str, stopped: KeyboardInterrupt) -> Interrupted:
    """Put `project` back as it was before an interrupted update and return the interrupt
    to raise, saying what was done. The update started from a clean work tree at `head`
    (check_updatable), so resetting to it and removing untracked files loses nothing."""
    import signal

    signum = stopped.signum if isinstance(stopped, Interrupted) else int(signal.SIGINT)
    restored = False
    try:
        with signals.shielded():  # a second Ctrl-C must not stop the restore half-way
            wait_for_children(10.0)
            restore_folder(project, head)
            restored = not dirty_paths(project) and (
                git("rev-parse", "HEAD", cwd=project).strip() == head
            )
    except (GitError, Interrupted):
        restored = False
    if restored:
        note = f"the update was undone: {project} is as it was (HEAD {head[:12]}, clean)"
    else:
        top = git("rev-parse", "--show-toplevel", cwd=project, check=False).strip()
        if top and Path(top).resolve() == project:
            how = f"git -C {project} reset --hard {head[:12]} && git -C {project} clean -fd"
        else:  # a project inside a larger repository: only its own folder
            how = (
                f"git -C {project} reset --soft {head[:12]} && git -C {project} reset "
                f"{head[:12]} -- . && git -C {project} checkout {head[:12]} -- . && "
                f"git -C {project} clean -fd -- ."
            )
        note = (
            f"the update may be half-applied; restore it with `{how}` (the update started "
            "from a clean project folder, so this loses nothing)"
        )
    return Interrupted(signum, note=note)


def _add_missing_files(project: Path, answers: Mapping[str, Any], plan: UpdatePlan) -> list[str]:
    """Copy files a fresh rendering with `answers` has and the project lacks."""
    from scaffold.generate import new_project

    with scratch_dir("scaffold-server-change-") as work:
        data = {k: v for k, v in answers.items() if not k.startswith("_")}
        fresh = new_project(
            work / project.name,
            data,
            template=plan.template,
            vcs_ref=plan.to_commit,
            git_init=False,
        )
        added = [name for name in fresh.files if not (project / name).exists()]
        for name in added:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(fresh.path / name, project / name)
        return added
