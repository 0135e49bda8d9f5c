"""Team starter templates and drift across many projects (`template init`, `status`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import git
from scaffold.cli import main
from scaffold.errors import ExitCode


@pytest.fixture
def team_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    dest = tmp_path / "team-template"
    assert main(["template", "init", str(dest)]) == ExitCode.OK
    assert "Team template written" in capsys.readouterr().out
    return dest


def test_template_init_is_a_tagged_repo_copier_can_use(team_template: Path) -> None:
    assert (team_template / "copier.yml").is_file()
    assert (team_template / "_facts.json").is_file()  # copier.yml's !include
    assert git(team_template, "tag").split() == ["v0.1.0"]
    assert git(team_template, "status", "--porcelain") == ""
    assert main(["template", "init", str(team_template)]) == ExitCode.TEMPLATE  # not empty


def test_team_workflow_customise_tag_roll_out(
    team_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The team pins its registry mirror as the default base image, and releases v0.2.0.
    facts = team_template / "_facts.json"  # the template's one table of server facts
    facts.write_text(
        facts.read_text().replace(
            '"base_image": "rstudio/plumber:v1.3.0"',
            '"base_image": "acr.example.com/mirror/plumber:v1.3.0"',
        )
    )
    git(team_template, "commit", "-qam", "use our mirror")
    git(team_template, "tag", "v0.2.0")
    # Projects are generated from the team template via the environment default.
    os.environ["SCAFFOLD_TEMPLATE"] = str(team_template)
    try:
        for name in ("team-a", "team-b"):
            assert main(["new", "-q", str(tmp_path / "fleet" / name), "--server", "plumber"]) == 0
    finally:
        del os.environ["SCAFFOLD_TEMPLATE"]
    project = tmp_path / "fleet" / "team-a"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(team_template) and answers["_commit"] == "v0.2.0"
    assert (
        "FROM acr.example.com/mirror/plumber:v1.3.0"
        in (project / "docker-context" / "Dockerfile").read_text()
    )
    capsys.readouterr()

    # Everything is current.
    assert main(["status", str(tmp_path / "fleet")]) == ExitCode.OK
    assert capsys.readouterr().out.count("up to date") == 2

    # The team releases v0.3.0; team-a has an edit that will conflict, team-b has none.
    deployment = project / "deployment.yml"
    deployment.write_text(
        deployment.read_text().replace("request_timeout_ms: 5000", "request_timeout_ms: 7000")
    )
    git(project, "commit", "-qam", "slower")
    shared = team_template / "_shared" / "deployment.yml.jinja"
    shared.write_text(
        shared.read_text().replace(
            "request_timeout_ms: {{ request_timeout_ms | tojson }}", "request_timeout_ms: 90000"
        )
    )
    git(team_template, "commit", "-qam", "longer timeouts")
    git(team_template, "tag", "v0.3.0")

    assert main(["status", "--json", str(tmp_path / "fleet")]) == ExitCode.OUTDATED
    rows = {Path(row["path"]).name: row for row in json.loads(capsys.readouterr().out)}
    assert rows["team-a"]["behind"] and rows["team-a"]["conflicts"] == ["deployment.yml"]
    assert rows["team-b"]["behind"] and rows["team-b"]["conflicts"] == []
    assert (rows["team-b"]["current"], rows["team-b"]["latest"]) == ("v0.2.0", "v0.3.0")
    assert git(project, "status", "--porcelain") == ""  # the trial ran in a clone

    assert main(["update", str(tmp_path / "fleet" / "team-b")]) == ExitCode.OK
    assert main(["status", "--no-conflicts", str(tmp_path / "fleet" / "team-b")]) == ExitCode.OK


def test_status_without_projects_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["status", str(tmp_path)]) == ExitCode.USAGE
