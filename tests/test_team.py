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


# --- Team templates get the bundled template's answer checks -------------------------------
def _team_question(team_template: Path, spec: str) -> None:
    copier_yml = team_template / "copier.yml"
    copier_yml.write_text(copier_yml.read_text() + spec)
    shared = team_template / "_shared" / "endpoint.yml.jinja"
    shared.write_text(shared.read_text() + "tags:\n  cost_center: {{ cost_center | tojson }}\n")
    git(team_template, "add", "-A")
    git(team_template, "commit", "-qm", "cost center tag")
    git(team_template, "tag", "v0.2.0")


COST_CENTER = """
cost_center:
  type: str
  help: Cost center for the billing tags (cc-NNNN)
  default: cc-0000
  validator: >-
    {% if not (cost_center | regex_search('^cc-[0-9]{4}$')) %}cost center must look
    like cc-1234{% endif %}
"""


def test_team_template_answers_are_checked_like_the_bundled_ones(
    team_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case 6/7: unknown --data keys were accepted silently with a team
    template, and a team question's error suggested a flag that does not exist."""
    _team_question(team_template, COST_CENTER)
    base = ["new", "--template", str(team_template), "--server", "minimal", "--defaults"]
    dest = tmp_path / "team-ep"
    assert main([*base, str(dest), "--data", "cost_centre=cc-1234"]) == ExitCode.USAGE
    assert "'cost_centre' is not a question of the template" in capsys.readouterr().err
    assert main([*base, str(dest), "--data", "cost_center=marketing"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "cost center must look like cc-1234 (set it with --data cost_center=VALUE)" in err
    assert "--cost-center" not in err
    assert not dest.exists()
    assert main([*base, str(dest), "--data", "cost_center=cc-1234"]) == ExitCode.OK
    endpoint = yaml.safe_load((dest / "endpoint.yml").read_text())
    assert endpoint["tags"]["cost_center"] == "cc-1234"
    # The same on update, where no question has a flag.
    assert main(["update", str(dest), "--data", "cost_centre=x"]) == ExitCode.USAGE
    assert "'cost_centre' is not a question" in capsys.readouterr().err
    assert main(["update", str(dest), "--data", "endpoint_name=Bad_Name"]) == ExitCode.USAGE
    assert "(set it with --data endpoint_name=VALUE)" in capsys.readouterr().err


def test_team_question_without_default_names_the_data_flag(
    team_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _team_question(team_template, "\ncost_center:\n  type: str\n  help: Cost center\n")
    argv = ["new", "--template", str(team_template), "--server", "minimal", str(tmp_path / "p")]
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert (
        "cost_center has no default and there is no terminal to ask: pass --data cost_center=VALUE"
        in err
    )


# --- The measured rollout, end to end ------------------------------------------------
def _edit_template(team: Path, name: str, old: str, new: str) -> None:
    path = team / name
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1))


def _release(team: Path, tag: str, changelog: str) -> None:
    log = team / "CHANGELOG.md"
    previous = log.read_text() if log.is_file() else "# Changelog\n"
    head, _, rest = previous.partition("\n")
    log.write_text(f"{head}\n\n{changelog.strip()}\n{rest}")
    git(team, "add", "-A")
    git(team, "commit", "-qm", f"release {tag}")
    git(team, "tag", "-a", tag, "-m", f"Release {tag}")


def _reported(err: str) -> set[str]:
    """Dotted keys the update or --verify reported for deployment.yml."""
    keys = set()
    for line in err.splitlines():
        if "deployment.yml: " in line and ("not kept" in line or "keeping the template" in line):
            keys.add(line.split("deployment.yml: ", 1)[1].split(": ", 1)[0])
    return keys


def test_platform_team_rollout_never_loses_an_answer_or_an_edit(
    team_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rollout the issue measured, on the bundled template made a team template: three
    projects customised like real users, then v1.1.0 (a template edit on the users' lines, a
    new file, a renamed question with a declared rename, a removed file, a changed default)
    and v2.0.0 (the sizing block moved, in flow style), rolled out with `update` and with
    `update --all`. Every user value is in the result or reported with its old value."""
    from templatekit import assert_kept_or_reported

    fleet = tmp_path / "endpoints"
    new = ["new", "-q", "--template", str(team_template), "--defaults"]
    assert (
        main(
            [
                *new,
                "--server",
                "plumber",
                "--instance-type",
                "Standard_F4s_v2",
                str(fleet / "alpha-ep"),
            ]
        )
        == 0
    )
    assert (
        main([*new, "--server", "minimal", "--auth-mode", "aml_token", str(fleet / "beta-ep")]) == 0
    )
    assert main([*new, "--server", "minimal", str(fleet / "gamma-ep")]) == 0
    alpha, beta, gamma = (fleet / n for n in ("alpha-ep", "beta-ep", "gamma-ep"))
    _edit_template(alpha, "deployment.yml", "instance_count: 1", "instance_count: 3")
    _edit_template(alpha, "deployment.yml", "request_timeout_ms: 5000", "request_timeout_ms: 9000")
    git(alpha, "commit", "-qam", "alpha sizing")
    _edit_template(
        beta,
        "deployment.yml",
        "liveness_probe:\n  initial_delay: 10",
        "liveness_probe:\n  initial_delay: 60",
    )
    _edit_template(
        beta, "deployment.yml", '  WORKER_COUNT: "1"', '  WORKER_COUNT: "1"\n  MY_FLAG: "on"'
    )
    git(beta, "commit", "-qam", "beta probes")
    alpha_values = {
        ("instance_count",): 3,
        ("request_settings", "request_timeout_ms"): 9000,
        ("instance_type",): "Standard_F4s_v2",
    }
    beta_values = {
        ("liveness_probe", "initial_delay"): 60,
        ("environment_variables", "MY_FLAG"): "on",
    }
    capsys.readouterr()

    # v1.1.0: rename instance_type -> vm_size (declared), probe timeout on the users' lines,
    # a new file, a removed file, a changed default.
    _edit_template(team_template, "copier.yml", "\ninstance_type:\n", "\nvm_size:\n")
    _edit_template(team_template, "copier.yml", "if not (instance_type |", "if not (vm_size |")
    _edit_template(  # the vLLM questions' defaults read the size too
        team_template, "copier.yml", "lower == instance_type | lower", "lower == vm_size | lower"
    )
    help_line = (
        "  help: Requests an instance handles at once (Azure returns 429 beyond twice this "
        "per instance)\n"
    )
    _edit_template(
        team_template,
        "copier.yml",
        "max_concurrent_requests_per_instance:\n  type: int\n"
        + help_line
        + '  default: "{{ facts.max_concurrent_requests_per_instance | default(1) }}"',
        "max_concurrent_requests_per_instance:\n  type: int\n" + help_line + "  default: 2",
    )
    (team_template / "copier.yml").write_text(
        (team_template / "copier.yml").read_text()
        + "\n_scaffold:\n  renames:\n    - {version: 1.1.0, from: instance_type, to: vm_size}\n"
    )
    _edit_template(
        team_template,
        "_shared/deployment.yml.jinja",
        "instance_type: {{ instance_type | tojson }}",
        "instance_type: {{ vm_size | tojson }}",
    )
    _edit_template(
        team_template,
        "_shared/deployment.yml.jinja",
        "  period: 10\n  timeout: 2\n",
        "  period: 10\n  timeout: 5\n",
    )
    _edit_template(  # the very line beta edited
        team_template,
        "_shared/deployment.yml.jinja",
        "liveness_probe:\n  initial_delay: {{ probe_initial_delay | tojson }}",
        "liveness_probe:\n  initial_delay: {{ (probe_initial_delay + 5) | tojson }}",
    )
    for server in ("plumber", "minimal"):
        (team_template / server / "SECURITY.md").write_text("Report issues to platform-security.\n")
        (team_template / server / "{{ '.gitattributes' }}.jinja").unlink(missing_ok=True)
    gitattributes = [p for p in team_template.rglob("*gitattributes*") if "_shared" not in p.parts]
    for path in gitattributes:
        path.unlink()
    _release(
        team_template,
        "v1.1.0",
        "## [1.1.0]\n### Changed\n- instance_type is now vm_size.\n- Probe timeout 5 s.",
    )

    assert main(["update", str(alpha)]) == ExitCode.OK, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "answer instance_type carried over as vm_size = 'Standard_F4s_v2'" in err
    assert "instance_type is now vm_size." in err  # the template's changelog, before updating
    answers = yaml.safe_load((alpha / ".copier-answers.yml").read_text())
    assert (
        answers["vm_size"] == "Standard_F4s_v2"
        and answers["max_concurrent_requests_per_instance"] == 1
    )
    assert (alpha / "SECURITY.md").is_file() and not (alpha / ".gitattributes").exists()
    assert_kept_or_reported(alpha, "deployment.yml", alpha_values, set())
    git(alpha, "add", "-A")
    git(alpha, "commit", "-qm", "template v1.1.0")

    assert main(["update", str(beta)]) == ExitCode.UPDATE_CONFLICT
    err = capsys.readouterr().err
    assert "liveness_probe.initial_delay: yours 60, now 15" in err  # the template's side
    git(beta, "checkout", "--theirs", "--", "deployment.yml")
    git(beta, "add", "deployment.yml")
    assert main(["update", "--verify", str(beta)]) == ExitCode.EDITS_LOST
    reported = _reported(capsys.readouterr().err)
    assert "liveness_probe.initial_delay" in reported
    assert_kept_or_reported(beta, "deployment.yml", beta_values, reported)
    _edit_template(
        beta,
        "deployment.yml",
        "liveness_probe:\n  initial_delay: 15",
        "liveness_probe:\n  initial_delay: 60",
    )
    if "MY_FLAG" not in (beta / "deployment.yml").read_text():
        _edit_template(
            beta, "deployment.yml", '  WORKER_COUNT: "1"', '  WORKER_COUNT: "1"\n  MY_FLAG: "on"'
        )
    assert main(["update", "--verify", str(beta)]) == ExitCode.OK
    assert "Every edit of yours from before the update" in capsys.readouterr().out
    assert_kept_or_reported(beta, "deployment.yml", beta_values, set())
    assert yaml.safe_load((beta / "deployment.yml").read_text())["liveness_probe"]["timeout"] == 5
    git(beta, "add", "-A")
    git(beta, "commit", "-qm", "template v1.1.0")

    # v2.0.0: the sizing block moves to the top, request_settings in flow style.
    shared = team_template / "_shared" / "deployment.yml.jinja"
    text = shared.read_text()
    block = (
        "instance_type: {{ vm_size | tojson }}\n"
        "instance_count: {{ instance_count | tojson }}\n"
        "request_settings:\n"
        "  request_timeout_ms: {{ request_timeout_ms | tojson }}\n"
        "  max_concurrent_requests_per_instance: "
        "{{ max_concurrent_requests_per_instance | tojson }}\n"
    )
    assert block in text
    text = text.replace(block, "").replace(
        "endpoint_name: {{ endpoint_name | tojson }}\n",
        "endpoint_name: {{ endpoint_name | tojson }}\n"
        "instance_type: {{ vm_size | tojson }}\n"
        "instance_count: {{ instance_count | tojson }}\n"
        "request_settings: {request_timeout_ms: {{ request_timeout_ms | tojson }}, "
        "max_concurrent_requests_per_instance: "
        "{{ max_concurrent_requests_per_instance | tojson }}}\n",
        1,
    )
    shared.write_text(text)
    _release(team_template, "v2.0.0", "## [2.0.0]\n### Changed\n- Sizing first, flow style.")

    assert main(["status", "--json", str(fleet)]) == ExitCode.OUTDATED
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert {r["latest"] for r in rows.values()} == {"v2.0.0"}
    assert rows["gamma-ep"]["current"] == "v0.1.0" and rows["gamma-ep"]["lost"] == []
    predicted_alpha = " ".join(rows["alpha-ep"]["lost"])
    assert rows["alpha-ep"]["conflicts"] == [] or "instance_count: yours 3" in predicted_alpha

    assert main(["update", "--all", "--json", str(fleet)]) == ExitCode.UPDATE_CONFLICT
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    for name, values in (("alpha-ep", alpha_values), ("beta-ep", beta_values)):
        project = fleet / name
        assert rows[name]["outcome"] == "conflicts" and rows[name]["conflicts"] == [
            "deployment.yml"
        ]
        assert rows[name]["branch"] == "scaffold/update-v2.0.0"
        predicted = {line.split(": ")[1] for line in rows[name]["predicted"]}
        git(project, "checkout", "-q", "scaffold/update-v2.0.0")
        assert "Conflicts to resolve" in git(project, "log", "-1", "--format=%B")
        assert main(["update", "--verify", str(project)]) == ExitCode.UPDATE_CONFLICT
        capsys.readouterr()
        (project / "deployment.yml").write_text(_sides(project / "deployment.yml")[1])  # theirs
        assert main(["update", "--verify", str(project)]) == ExitCode.EDITS_LOST
        reported = _reported(capsys.readouterr().err)
        assert reported <= predicted | {"instance_type"}, (reported, predicted)
        assert_kept_or_reported(project, "deployment.yml", values, reported)
        git(project, "checkout", "-q", "--", ".")
        git(project, "checkout", "-q", "main")
    assert "instance_count" in {line.split(": ")[1] for line in rows["alpha-ep"]["predicted"]}
    gamma_answers = yaml.safe_load(git(gamma, "show", "scaffold/update-v2.0.0:.copier-answers.yml"))
    assert gamma_answers["_commit"] == "v2.0.0" and gamma_answers["vm_size"] == "Standard_DS3_v2"
    assert rows["gamma-ep"]["outcome"] == "updated"


def _sides(path: Path) -> tuple[str, str]:
    from scaffold.conflicts import sides

    return sides(path.read_text())
