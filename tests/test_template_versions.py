"""Template versions as git has them: moved and duplicated tags, branches, unknown refs,
untagged templates, file:// and remote URLs, and the transports git may use.

Real template repositories (local, and bare ones reached through file:// URLs, which go
through scaffold's mirror cache like a hosted template), real copier runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaffold import answersfile
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.update import update_project
from templatekit import TemplateRepo, commit_all, edit, git, mini_template


@pytest.fixture
def template(tmp_path: Path) -> TemplateRepo:
    return mini_template(tmp_path / "team-template")


def _answers(project: Path) -> dict[str, object]:
    loaded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("==>")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_projects_pin_the_commit_they_were_made_from(
    tmp_path: Path, template: TemplateRepo
) -> None:
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    answers = _answers(project)
    assert answers["_commit"] == "v1.0.0"
    assert answers[answersfile.PIN_KEY] == git(template.path, "rev-parse", "v1.0.0").strip()
    assert git(project, "status", "--porcelain") == ""  # the pin is in the first commit


def test_a_moved_tag_is_named_and_the_pinned_commit_is_the_base(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The team fixes v1.0.0 in place (`git tag --force`), then releases v1.1.0. copier
    would diff against the moved tag and take the fix for a user edit to keep, silently
    reverting it; scaffold names the move and diffs against the commit the project
    pinned, so the fix arrives and the user's own edit stays."""
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    edit(project / "deployment.yml", "instance_count: 1", "instance_count: 3")
    commit_all(project, "three instances")
    template.replace(
        "project/deployment.yml.jinja",
        "liveness_probe:\n  initial_delay: 10",
        "liveness_probe:\n  initial_delay: 30",
    )
    template.commit("fix the probe delay")
    template.tag("v1.0.0", force=True)
    template.replace("project/README.md.jinja", "## Local run", "## Run locally")
    template.release("v1.1.0")

    twin = tmp_path / "twin"  # what plain copier does with the same project
    git(tmp_path, "clone", "-q", str(project), str(twin))
    proc = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--skip-answered"],
        cwd=twin,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    copier_delay = yaml.safe_load((twin / "deployment.yml").read_text())["liveness_probe"]

    assert main(["status", "--json", str(project)]) == ExitCode.OUTDATED
    (row,) = json.loads(capsys.readouterr().out)
    assert any("tag v1.0.0 was moved" in note for note in row["notes"])
    assert main(["update", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "tag v1.0.0 was moved since this project was made" in err
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    assert deployment["instance_count"] == 3  # the user's edit
    assert deployment["liveness_probe"]["initial_delay"] == 30  # the fix in the moved tag
    assert copier_delay["initial_delay"] == 10  # plain copier reverted it
    assert (
        _answers(project)[answersfile.PIN_KEY] == git(template.path, "rev-parse", "v1.1.0").strip()
    )
    assert git(project, "log", "--format=%s", "-1") == "three instances\n"  # no commit left


def test_a_pinned_commit_the_template_lost_is_named(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    pinned = _answers(project)[answersfile.PIN_KEY]
    git(template.path, "commit", "-q", "--amend", "-m", "rewritten history")
    template.tag("v1.0.0", force=True)
    git(template.path, "reflog", "expire", "--expire=now", "--all")
    git(template.path, "gc", "-q", "--prune=now")
    template.release("v1.1.0")
    assert main(["update", str(project)]) == ExitCode.TEMPLATE
    line = _one_line(capsys.readouterr().err)
    assert f"made from commit {str(pinned)[:12]}" in line and "no longer has" in line
    assert "_scaffold_commit" in line


@pytest.mark.parametrize("same_commit", [False, True], ids=["different-commits", "same-commit"])
def test_two_tags_for_one_version(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str], same_commit: bool
) -> None:
    """`v2.1.0` and `2.1.0` mean the same version to copier, which installs whichever it
    sorts first. On different commits scaffold refuses to guess and names both; on one
    commit nothing is ambiguous."""
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    wanted = template.release("v2.1.0")
    if not same_commit:
        template.replace("project/README.md.jinja", "## Local run", "## Stray commit")
        template.commit("a stray commit")
    template.tag("2.1.0")
    if same_commit:
        assert update_project(project).to_version in {"v2.1.0", "2.1.0"}
        return
    assert main(["status", str(project)]) == ExitCode.UNCHECKED
    out = capsys.readouterr().out
    assert "v2.1.0" in out and "2.1.0 (" in out and "different commits" in out
    assert main(["update", str(project)]) == ExitCode.TEMPLATE
    line = _one_line(capsys.readouterr().err)
    assert "tags v2.1.0" in line or "tags 2.1.0" in line
    assert git(project, "status", "--porcelain") == ""
    assert main(["update", "--vcs-ref", "v2.1.0", str(project)]) == ExitCode.OK
    assert _answers(project)[answersfile.PIN_KEY] == wanted
    assert "Stray commit" not in (project / "README.md").read_text()


def test_updating_to_a_branch_does_not_leave_the_project_stuck(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 6: after `--vcs-ref main` (unreleased commits after v1.1.0) the
    project was "behind" for status and "downgrading" for update. Now status and update
    agree it is ahead of the newest release until the next one, which then updates it."""
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    template.release("v1.1.0")
    template.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    template.commit("unreleased: tokens")
    assert main(["update", "--vcs-ref", "main", str(project)]) == ExitCode.OK
    assert "is a branch, not a release" in capsys.readouterr().err
    assert str(_answers(project)["_commit"]).startswith("v1.1.0-1-g")
    commit_all(project, "on main")
    assert main(["status", str(project)]) == ExitCode.OK
    assert "up to date" in capsys.readouterr().out
    assert main(["update", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "newer than the newest release v1.1.0" in captured.err
    assert "nothing to update" in captured.out
    template.replace("project/README.md.jinja", "## Local run", "## Run locally")
    template.release("v1.2.0")
    assert main(["status", str(project)]) == ExitCode.OUTDATED
    assert main(["update", str(project)]) == ExitCode.OK
    assert _answers(project)["_commit"] == "v1.2.0"


def test_unknown_vcs_ref_names_the_tags(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    template.release("v1.1.0")
    dest = tmp_path / "p"
    argv = ["new", str(dest), "--template", str(template.path), "--defaults", "--vcs-ref", "v9.9.9"]
    assert main(argv) == ExitCode.USAGE
    line = _one_line(capsys.readouterr().err)
    assert "--vcs-ref v9.9.9 is not a tag, branch or commit" in line
    assert "v1.0.0, v1.1.0" in line and "128" not in line
    assert not dest.exists()
    project = new_project(dest, {}, template=str(template.path)).path
    assert main(["update", "--vcs-ref", "v9.9.9", str(project)]) == ExitCode.USAGE
    assert "v1.0.0, v1.1.0" in _one_line(capsys.readouterr().err)


def test_file_urls_and_remote_mirrors(tmp_path: Path, template: TemplateRepo) -> None:
    """A file:// URL to a work-tree repository works like its path; a file:// URL to a
    bare repository is read like a hosted template (scaffold's mirror, copier's cache), and
    a tag moved there is seen on the next run."""
    work_tree = new_project(tmp_path / "a", {}, template=template.path.as_uri()).path
    assert _answers(work_tree)["_src_path"] == str(template.path)
    hosted = tmp_path / "hosted.git"
    git(tmp_path, "clone", "-q", "--bare", str(template.path), str(hosted))
    url = hosted.as_uri()
    project = new_project(tmp_path / "b", {}, template=url).path
    assert _answers(project)["_src_path"] == str(hosted)
    push = TemplateRepo(template.path)
    push.replace("project/endpoint.yml.jinja", "auth_mode: key", "auth_mode: aml_token")
    push.release("v1.1.0")
    git(template.path, "push", "-q", str(hosted), "v1.1.0")
    assert update_project(project).to_version == "v1.1.0"
    assert "aml_token" in (project / "endpoint.yml").read_text()


def test_template_without_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = TemplateRepo(tmp_path / "untagged")
    mini = mini_template(tmp_path / "source")
    for path in mini.path.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            repo.write(str(path.relative_to(mini.path)), path.read_text())
    repo.commit("no tags yet")
    project = new_project(tmp_path / "p", {}, template=str(repo.path)).path
    assert main(["update", str(project)]) == ExitCode.TEMPLATE
    assert "no release tags" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% {mark}",
        "fd::3",
        "EXT::sh -c touch% {mark}",
        "svn+ssh://example.invalid/repo",
        "-uhelp",
    ],
)
def test_dangerous_template_urls_are_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    mark = tmp_path / "pwned"
    argv = ["new", str(tmp_path / "p"), "--server", "minimal", "--defaults"]
    assert main([*argv, f"--template={url.format(mark=mark)}"]) == ExitCode.USAGE
    line = _one_line(capsys.readouterr().err)
    assert "fatal" not in line and not mark.exists()


def test_recorded_ext_source_and_git_config_cannot_enable_other_transports(
    tmp_path: Path, template: TemplateRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile answers file (`_src_path: ext::...`) is refused before git runs; a user's
    git config that allows ext:: or rewrites an https URL into one changes nothing,
    because scaffold gives git its own transport allowlist."""
    mark = tmp_path / "pwned"
    project = new_project(tmp_path / "p", {}, template=str(template.path)).path
    answers = (project / ".copier-answers.yml").read_text()
    (project / ".copier-answers.yml").write_text(
        answers.replace(f"_src_path: {template.path}", f"_src_path: 'ext::sh -c touch% {mark}'")
    )
    commit_all(project, "hostile source")
    assert main(["update", str(project)]) == ExitCode.USAGE
    assert "ext:: transport" in _one_line(capsys.readouterr().err)
    assert main(["status", str(project)]) == ExitCode.UNCHECKED
    assert "ext:: transport" in capsys.readouterr().out
    home = Path(os.environ["GIT_CONFIG_GLOBAL"])
    saved = home.read_text()
    try:
        with home.open("a") as config:
            config.write(
                '[protocol]\n\tallow = always\n[protocol "ext"]\n\tallow = always\n'
                f'[url "ext::sh -c touch% {mark}% "]\n\tinsteadOf = https://evil.example.invalid/\n'
            )
        (project / ".copier-answers.yml").write_text(
            answers.replace(
                f"_src_path: {template.path}", "_src_path: https://evil.example.invalid/t.git"
            )
        )
        commit_all(project, "redirected source")
        assert main(["update", str(project)]) == ExitCode.TEMPLATE
        line = _one_line(capsys.readouterr().err)
        assert "cannot read template https://evil.example.invalid/t.git" in line
        assert "not allowed" in line
    finally:
        home.write_text(saved)
    assert not mark.exists()


def test_the_transport_policy_is_scoped_to_template_operations(
    tmp_path: Path, template: TemplateRepo
) -> None:
    """The allowlist applies while scaffold reads a template, and is the caller's own
    setting again afterwards (a library caller's later `git clone` of a local path works)."""
    before = os.environ.get("GIT_ALLOW_PROTOCOL")
    hosted = tmp_path / "hosted.git"
    git(tmp_path, "clone", "-q", "--bare", str(template.path), str(hosted))
    with pytest.raises(Exception, match="cannot read template"):
        from scaffold.template_repo import TemplateRepo as Repo

        Repo.open("https://127.0.0.1:9/not-there.git")  # refused at once, no network
    assert os.environ.get("GIT_ALLOW_PROTOCOL") == before
    git(tmp_path, "clone", "-q", str(hosted), str(tmp_path / "plain-clone"))
