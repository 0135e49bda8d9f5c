"""A fleet of projects: `scaffold status DIR` never crashes and never lies, and
`scaffold update --all DIR` updates each project on its own branch.

Real git repositories (one per project, and one holding two projects), a real template
with several releases, broken and half-updated projects among healthy ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from templatekit import TemplateRepo, commit_all, edit, git, mini_template


@pytest.fixture
def template(tmp_path: Path) -> TemplateRepo:
    return mini_template(tmp_path / "team-template")


@pytest.fixture
def fleet(tmp_path: Path, template: TemplateRepo) -> Path:
    """Three projects from v1.0.0: `clean` (no edits), `edited` (an edit that will
    conflict with v1.1.0) and `tuned` (an edit that merges cleanly)."""
    root = tmp_path / "endpoints"
    for name in ("clean", "edited", "tuned"):
        new_project(root / name, {"endpoint_name": f"{name}-ep"}, template=str(template.path))
    edit(root / "edited" / "deployment.yml", "request_timeout_ms: 5000", "request_timeout_ms: 9000")
    commit_all(root / "edited", "slower model")
    edit(root / "tuned" / "deployment.yml", "instance_count: 1", "instance_count: 4")
    commit_all(root / "tuned", "more instances")
    template.replace(
        "project/deployment.yml.jinja",
        "request_timeout_ms: {{ request_timeout_ms | tojson }}",
        "request_timeout_ms: 60000",
    )
    template.release("v1.1.0")
    return root


def _rows(out: str) -> dict[str, dict[str, object]]:
    return {Path(str(row["path"])).name: row for row in json.loads(out)}


def test_status_reports_broken_projects_and_goes_on(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 5: a broken answers file, a deleted template, a half-finished
    update and a hostile source are rows with the reason, the rest is still checked, and
    the exit code says some projects could not be checked."""
    (fleet / "broken").mkdir()
    (fleet / "broken" / ".copier-answers.yml").write_text("_src_path: [unclosed\n")
    gone = mini_template(tmp_path / "moved-away")
    new_project(fleet / "orphan", {}, template=str(gone.path))
    gone.path.rename(tmp_path / "elsewhere")
    assert main(["status", "--json", str(fleet)]) == ExitCode.UNCHECKED
    rows = _rows(capsys.readouterr().out)
    assert set(rows) == {"broken", "clean", "edited", "tuned", "orphan"}
    assert rows["broken"]["state"] == "error" and "not valid YAML" in str(rows["broken"]["error"])
    assert "not found" in str(rows["orphan"]["error"])
    assert rows["edited"]["conflicts"] == ["deployment.yml"] and rows["edited"]["behind"]
    lost = " ".join(map(str, rows["edited"]["lost"]))  # what taking the template's side loses
    assert "request_settings.request_timeout_ms: yours 9000" in lost
    assert rows["tuned"]["conflicts"] == [] and rows["tuned"]["lost"] == []
    assert rows["clean"]["latest_commit"] == rows["tuned"]["latest_commit"]
    assert rows["clean"]["current_commit"] != rows["clean"]["latest_commit"]
    assert git(fleet / "edited", "status", "--porcelain") == ""  # trials ran in clones

    # The table: one line per project, the reason for the broken ones.
    assert main(["status", str(fleet)]) == ExitCode.UNCHECKED
    out = capsys.readouterr().out
    assert "cannot check: " in out and "would conflict in deployment.yml" in out
    assert "updates cleanly" in out


def test_status_shows_half_finished_updates(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Conflict markers committed by mistake are a half-finished update, not "up to date";
    `validate` names them too, before and after they were committed."""
    project = fleet / "edited"
    assert main(["update", str(project)]) == ExitCode.UPDATE_CONFLICT
    capsys.readouterr()
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.INVALID
    assert "deployment.yml has unresolved conflict markers at line" in capsys.readouterr().out
    git(project, "add", "-A")
    git(project, "commit", "-qm", "oops, committed with markers")
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.INVALID
    assert "deployment.yml has unresolved conflict markers at line" in capsys.readouterr().out
    assert main(["status", "--json", str(project)]) == ExitCode.UPDATE_CONFLICT
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "unresolved" and not row["behind"]
    assert "deployment.yml (conflict markers at line" in row["unresolved"][0]
    assert main(["update", str(project)]) == ExitCode.UPDATE_CONFLICT  # not on top of them
    assert "unresolved conflicts from an earlier update" in capsys.readouterr().err


def test_update_all_makes_one_branch_and_commit_per_project(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fleet / "tuned" / "notes.txt").write_text("work in progress\n")  # dirty: skipped
    heads = {name: git(fleet / name, "rev-parse", "HEAD") for name in ("clean", "edited", "tuned")}
    assert main(["update", "--all", "--json", str(fleet)]) == ExitCode.UPDATE_CONFLICT
    rows = _rows(capsys.readouterr().out)
    assert rows["clean"]["outcome"] == "updated"
    assert rows["edited"]["outcome"] == "conflicts" and rows["edited"]["conflicts"] == [
        "deployment.yml"
    ]
    assert rows["tuned"]["outcome"] == "skipped" and "uncommitted" in str(rows["tuned"]["detail"])
    for name in ("clean", "edited"):
        project = fleet / name
        assert rows[name]["branch"] == "scaffold/update-v1.1.0"
        assert git(project, "rev-parse", "HEAD") == heads[name]  # back where it was
        assert git(project, "status", "--porcelain") == ""
        assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
        branch = git(project, "show", "scaffold/update-v1.1.0:.copier-answers.yml")
        assert yaml.safe_load(branch)["_commit"] == "v1.1.0"
    message = git(fleet / "edited", "log", "-1", "--format=%B", "scaffold/update-v1.1.0")
    assert "Conflicts to resolve" in message and "deployment.yml" in message
    assert "<<<<<<< before updating" in git(
        fleet / "edited", "show", "scaffold/update-v1.1.0:deployment.yml"
    )
    # Again: the branches exist, so nothing is redone.
    assert main(["update", "--all", str(fleet)]) == ExitCode.UNCHECKED
    assert "exists; merge or delete it" in capsys.readouterr().out


def test_update_all_in_a_repository_holding_several_projects(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A monorepo with two endpoint projects: each gets its own branch, named after its
    folder, holding only its own update."""
    repo = tmp_path / "mono"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name in ("svc-a", "svc-b"):
        new_project(repo / "endpoints" / name, {}, template=str(template.path))
    commit_all(repo, "two endpoints")
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    template.release("v1.1.0")
    assert main(["update", "--all", "--json", str(repo)]) == ExitCode.OK
    rows = _rows(capsys.readouterr().out)
    assert rows["svc-a"]["branch"] == "scaffold/update-v1.1.0/endpoints/svc-a"
    changed = git(repo, "diff", "--name-only", "main", str(rows["svc-b"]["branch"])).split()
    assert changed and all(path.startswith("endpoints/svc-b/") for path in changed)
    assert git(repo, "status", "--porcelain") == ""


def test_update_all_needs_folders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["update", "--all"]) == ExitCode.USAGE
    assert "--all needs the folders" in capsys.readouterr().err


def test_a_project_inside_a_larger_repository_leaves_the_rest_alone(
    tmp_path: Path, template: TemplateRepo
) -> None:
    """Uncommitted work elsewhere in the repository neither blocks the project's update
    (as for copier, only the project's folder must be clean) nor is touched when scaffold
    puts the project back (`restore_folder` replaces `reset --hard`)."""
    from scaffold.gitutil import restore_folder
    from scaffold.update import update_project

    repo = tmp_path / "mono"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    project = new_project(repo / "svc", {}, template=str(template.path)).path
    (repo / "notes").mkdir()
    (repo / "notes" / "todo.md").write_text("committed\n")
    commit_all(repo, "project and notes")
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "notes" / "todo.md").write_text("my uncommitted work\n")
    (repo / "notes" / "draft.md").write_text("untracked draft\n")
    git(repo, "add", "notes/draft.md")
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    template.release("v1.1.0")
    assert update_project(project).conflicts == []
    assert "aml_token" in (project / "endpoint.yml").read_text()
    restore_folder(project, head)
    assert "auth_mode: key" in (project / "endpoint.yml").read_text()
    assert git(project, "status", "--porcelain", "--", ".") == ""
    assert (repo / "notes" / "todo.md").read_text() == "my uncommitted work\n"
    assert git(repo, "diff", "--cached", "--name-only").split() == ["notes/draft.md"]
