"""Updates with real git and real copier: edits kept, template changes applied, conflicts caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATES, git
from scaffold import template_source
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.update import update_project, verify


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A copy of the bundled template as its own git repository, tagged v1.0.0."""
    repo = tmp_path / "team-template"
    shutil.copytree(TEMPLATES, repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1.0.0")
    git(repo, "tag", "v1.0.0")
    return repo


def _release(repo: Path, tag: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", tag)
    git(repo, "tag", tag)


@pytest.fixture
def project(tmp_path: Path, template_repo: Path) -> Path:
    result = new_project(tmp_path / "team-ep", {"server": "plumber"}, template=str(template_repo))
    assert result.template_version == "v1.0.0"
    return result.path


def test_update_keeps_edits_and_applies_template_changes(
    project: Path, template_repo: Path
) -> None:
    # The user customises a template-owned file and a user-owned one.
    _replace(
        project / "deployment.yml",
        'instance_type: "Standard_DS3_v2"',
        'instance_type: "Standard_F4s_v2"',
    )
    _replace(project / "src" / "plumber.R", "#* Liveness", "# my own note\n#* Liveness")
    git(project, "commit", "-qam", "customise")
    # The team improves the template: new key, new file, and a change to plumber.R.
    _replace(
        template_repo / "_shared" / "deployment.yml.jinja",
        "endpoint_name: {{ endpoint_name | tojson }}",
        "endpoint_name: {{ endpoint_name | tojson }}\napp_insights_enabled: true",
    )
    (template_repo / "plumber" / "CONTRIBUTING.md").write_text("# How we work\n")
    _replace(
        template_repo / "plumber" / "src" / "plumber.R",
        "#* Liveness",
        "# template v1.1\n#* Liveness",
    )
    _release(template_repo, "v1.1.0")

    result = update_project(project)

    assert (result.from_version, result.to_version, result.conflicts) == ("v1.0.0", "v1.1.0", [])
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["instance_type"] == "Standard_F4s_v2"  # user edit kept
    assert deployment["app_insights_enabled"] is True  # template change applied
    assert (project / "CONTRIBUTING.md").is_file()  # new template file
    plumber_r = (project / "src" / "plumber.R").read_text()
    assert "# my own note" in plumber_r and "template v1.1" not in plumber_r  # user-owned


def test_conflict_is_reported_with_exit_code(
    project: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _replace(project / "deployment.yml", "request_timeout_ms: 5000", "request_timeout_ms: 9000")
    git(project, "commit", "-qam", "slower model")
    _replace(
        template_repo / "_shared" / "deployment.yml.jinja",
        "request_timeout_ms: {{ request_timeout_ms | tojson }}",
        "request_timeout_ms: 60000",
    )
    _release(template_repo, "v1.1.0")

    assert main(["update", str(project)]) == ExitCode.UPDATE_CONFLICT
    err = capsys.readouterr().err
    assert "with conflicts in deployment.yml" in err
    assert "<<<<<<< before updating" in (project / "deployment.yml").read_text()


def test_dirty_and_non_git_projects_are_refused(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "notes.txt").write_text("untracked")
    assert main(["update", str(project)]) == ExitCode.GIT
    assert "uncommitted changes (notes.txt); commit or stash them" in capsys.readouterr().err
    plain = tmp_path / "plain"
    new_project(plain, {"server": "minimal"}, git_init=False)
    assert main(["update", str(plain)]) == ExitCode.GIT
    assert "is not a git repository; run `git init" in capsys.readouterr().err


def test_pin_version_and_pretend(
    project: Path, template_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for tag in ("v1.1.0", "v1.2.0"):
        (template_repo / "plumber" / f"{tag}.txt").write_text(tag)
        _release(template_repo, tag)
    assert main(["update", str(project), "--pretend"]) == ExitCode.OK
    assert "Would update" in capsys.readouterr().out
    assert git(project, "status", "--porcelain") == ""
    assert update_project(project, vcs_ref="v1.1.0").to_version == "v1.1.0"
    assert (project / "v1.1.0.txt").is_file() and not (project / "v1.2.0.txt").exists()


def test_plain_copier_update_on_a_bundled_project(tmp_path: Path) -> None:
    """Projects from the bundled template update with the copier CLI alone."""
    project = new_project(tmp_path / "bundled-ep", {"server": "minimal"}).path
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == template_source.CANONICAL_URL
    # A later scaffold release ships a changed template: materialise it as v0.2.0.
    newer = tmp_path / "newer-templates"
    shutil.copytree(TEMPLATES, newer)
    _replace(newer / "_shared" / "gitignore.jinja", "*.orig\n", "*.orig\n.scaffold-local/\n")
    template_source.materialise_bundled(version="0.2.0", source=newer)

    proc = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert ".scaffold-local/" in (project / ".gitignore").read_text()
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"


def test_bundled_repository_is_reused_and_refreshed(tmp_path: Path) -> None:
    repo = template_source.bundled_repo_path()
    first = template_source.materialise_bundled()
    head = git(repo, "rev-parse", first.ref or "HEAD")
    again = template_source.materialise_bundled()
    assert git(repo, "rev-parse", again.ref or "HEAD") == head  # no new commit
    edited = tmp_path / "edited"
    shutil.copytree(TEMPLATES, edited)
    (edited / "plumber" / "EXTRA.md").write_text("x\n")
    moved = template_source.materialise_bundled(source=edited)  # same version, new content
    assert git(repo, "rev-parse", moved.ref or "HEAD") != head
    template_source.materialise_bundled()  # back to the installed files


# More scenarios: each asserts that no user edit is lost.


def test_user_added_file_and_user_owned_model_survive(project: Path, template_repo: Path) -> None:
    (project / "NOTES.md").write_text("ours\n")
    (project / "model" / "model.rds").write_bytes(b"our own model bytes")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "our model and notes")
    (template_repo / "plumber" / "model" / "model.rds").write_bytes(b"template's new sample")
    _replace(template_repo / "_shared" / "gitignore.jinja", "*.orig\n", "*.orig\n*.tmp\n")
    _release(template_repo, "v1.1.0")
    assert update_project(project).conflicts == []
    assert (project / "NOTES.md").read_text() == "ours\n"
    assert (project / "model" / "model.rds").read_bytes() == b"our own model bytes"
    assert "*.tmp" in (project / ".gitignore").read_text()


def test_user_deleted_files_stay_deleted(project: Path, template_repo: Path) -> None:
    (project / "docker-context" / ".dockerignore").unlink()
    (project / "sample_response.json").unlink()
    git(project, "commit", "-qam", "we do not want these")
    _replace(template_repo / "_shared" / "README.md.jinja", "## Deploy", "## Deploy to Azure")
    _release(template_repo, "v1.1.0")
    result = update_project(project)
    assert result.conflicts == []
    assert not (project / "docker-context" / ".dockerignore").exists()
    assert not (project / "sample_response.json").exists()
    assert "## Deploy to Azure" in (project / "README.md").read_text()


def test_template_removes_a_file(project: Path, template_repo: Path) -> None:
    (template_repo / "plumber" / ".gitattributes.jinja").unlink()
    _release(template_repo, "v1.1.0")
    assert update_project(project).conflicts == []
    assert not (project / ".gitattributes").exists()


def test_changed_answer_rerenders_and_keeps_edits(project: Path, template_repo: Path) -> None:
    _replace(project / "deployment.yml", "instance_count: 1", "instance_count: 3")
    git(project, "commit", "-qam", "three instances")
    result = update_project(project, data={"endpoint_name": "renamed-ep"})
    assert result.conflicts == []
    assert yaml.safe_load((project / "endpoint.yml").read_text())["name"] == "renamed-ep"
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["endpoint_name"] == "renamed-ep"
    assert deployment["instance_count"] == 3
    assert (
        yaml.safe_load((project / ".copier-answers.yml").read_text())["endpoint_name"]
        == "renamed-ep"
    )


def test_server_change_needs_confirmation_then_adds_the_new_servers_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["update", str(project), "--data", "server=minimal"])
    assert code == ExitCode.USAGE
    assert "pass --change-server to confirm" in capsys.readouterr().err
    assert git(project, "status", "--porcelain") == ""
    assert main(["update", str(project), "--data", "server=minimal", "--change-server"]) == 0
    assert "added for the new server: src/score.py" in capsys.readouterr().err
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["environment"]["inference_config"]["scoring_route"]["port"] == 5001
    assert (project / "src" / "score.py").is_file() and (project / "model" / "model.json").is_file()
    assert (project / "src" / "plumber.R").is_file()  # user-owned: never deleted by scaffold
    assert not (project / "docker-context" / "start_plumber.R").exists()


def test_global_redirect_replaces_stale_cache_entries(tmp_path: Path) -> None:
    """Only one global insteadOf for the canonical URL: git would use the first of several."""
    home = Path.home()
    stale = f"url.{(tmp_path / 'old-cache').as_uri()}.insteadOf"
    git(home, "config", "--global", "--add", stale, template_source.CANONICAL_URL)
    template_source.materialise_bundled()
    entries = git(home, "config", "--global", "--get-regexp", r"^url\..*\.insteadof$")
    matching = [
        line for line in entries.splitlines() if line.endswith(template_source.CANONICAL_URL)
    ]
    assert matching == [
        f"url.{template_source.bundled_repo_path().as_uri()}.insteadof "
        f"{template_source.CANONICAL_URL}"
    ]


# --- Broken projects: one line each, nothing written ----------------------------------------
def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("==>")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("not-yaml", "is not valid YAML at line 3; fix it or restore it with `git -C"),
        ("not-mapping", "is not a mapping of answers; restore it with"),
        ("deleted", "was deleted; restore it with `git -C"),
        ("no-source", "has no _src_path, so the template is unknown"),
        ("missing-project", "does not exist; pass the folder of a generated project"),
    ],
)
def test_broken_answers_and_missing_projects_are_one_line(
    project: Path, capsys: pytest.CaptureFixture[str], breakage: str, expected: str
) -> None:
    answers = project / ".copier-answers.yml"
    target = project
    if breakage == "not-yaml":
        answers.write_text("_commit: v1.0.0\n_src_path: [unclosed\n")
    elif breakage == "not-mapping":
        answers.write_text("- just\n- a list\n")
    elif breakage == "deleted":
        answers.unlink()
    elif breakage == "no-source":
        answers.write_text("_commit: v1.0.0\nserver: plumber\n")
    else:
        target = project.parent / "no-such-project"
    if breakage != "missing-project":
        git(project, "add", "-A")
        if breakage != "deleted":
            git(project, "commit", "-qm", "broken answers")
    for command in (["update"], ["update", "--pretend"], ["update", "--verify", "--since", "HEAD"]):
        code = main([*command, str(target)])
        line = _one_line(capsys.readouterr().err)
        assert expected in line, line
        assert code == ExitCode.PROJECT, line


def test_the_bundled_template_gets_the_same_checks(tmp_path: Path) -> None:
    """A later scaffold release moves the sizing block of the bundled template: the update
    from the bundled template is checked like a team template's (pinned commits, conflicts
    predicted side by side, --verify after the resolution)."""
    project = new_project(tmp_path / "bundled-ep", {"server": "minimal"}).path
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    pinned = answers["_scaffold_commit"]
    assert pinned == git(template_source.bundled_repo_path(), "rev-parse", "v0.1.0").strip()
    _replace(project / "deployment.yml", "instance_count: 1", "instance_count: 3")
    git(project, "commit", "-qam", "three instances")
    newer = tmp_path / "newer-templates"
    shutil.copytree(TEMPLATES, newer)
    shared = newer / "_shared" / "deployment.yml.jinja"
    text = shared.read_text()
    line = "instance_count: {{ instance_count | tojson }}\n"
    shared.write_text(
        text.replace(line, "").replace(
            "name: {{ deployment_name | tojson }}\n",
            "name: {{ deployment_name | tojson }}\n" + line,
        )
    )
    template_source.materialise_bundled(version="0.2.0", source=newer)
    try:
        result = update_project(project, vcs_ref="v0.2.0")
        assert result.conflicts == ["deployment.yml"]
        predicted = result.check.predicted["deployment.yml"]
        assert [(e.key, e.yours, e.now) for e in predicted["template"]] == [
            ("instance_count", "3", "1")
        ]
        assert [e.key for e in predicted["yours"]] == ["instance_count"]  # twice, as duplicates
        git(project, "checkout", "--theirs", "--", "deployment.yml")
        git(project, "add", "deployment.yml")
        assert [e.key for e in verify(project).check.lost] == ["instance_count"]
        _replace(project / "deployment.yml", "instance_count: 1", "instance_count: 3")
        assert verify(project).check.lost == []
        after = yaml.safe_load((project / ".copier-answers.yml").read_text())
        assert after["_commit"] == "v0.2.0" and after["_scaffold_commit"] != pinned
    finally:
        git(template_source.bundled_repo_path(), "tag", "-d", "v0.2.0")
