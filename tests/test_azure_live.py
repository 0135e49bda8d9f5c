"""Opt-in: the same flow against a REAL Azure ML workspace (costs money; ~15-30 minutes).

Deselected by default (tests/conftest.py deselects `azure`-marked tests unless the -m
expression names `azure`), so they are never counted as passing when they did not run.

    export AZURE_SUBSCRIPTION_ID=... AZURE_RESOURCE_GROUP=... AZUREML_WORKSPACE_NAME=...
    az login            # or any DefaultAzureCredential source
    pytest -m azure tests/test_azure_live.py

Without the variables the tests fail (they do not skip). The endpoint is always deleted.
"""

from __future__ import annotations

import os
import uuid

import pytest

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode

pytestmark = pytest.mark.azure

NEEDED = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME")


@pytest.mark.parametrize("server", ["minimal", "plumber"])
def test_deploy_smoke_logs_delete_on_azure(
    render: Render, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    assert not missing, f"set {', '.join(missing)} to run the live Azure tests"
    name = f"scf-{server[:4]}-{uuid.uuid4().hex[:8]}"
    project = render(server, name=name)
    try:
        assert main(["deploy", str(project)]) == ExitCode.OK
        assert "Scoring URI: https://" in capsys.readouterr().out
        assert main(["smoke", str(project)]) == ExitCode.OK
        assert main(["smoke", str(project), "--deployment", "blue"]) == ExitCode.OK
        assert main(["logs", str(project), "--lines", "20"]) == ExitCode.OK
        # a second deploy of a changed model registers version 2 (no asset conflict)
        (project / "model" / "NOTE.txt").write_text("second version\n")
        assert main(["deploy", str(project)]) == ExitCode.OK
        # the next version as green, step by step, blue retired
        argv = ["rollout", str(project), "--to", "green", "--steps", "50,100"]
        assert main(argv) == ExitCode.OK
        assert main(["smoke", str(project), "--deployment", "green"]) == ExitCode.OK
    finally:
        assert main(["delete", str(project), "--yes"]) == ExitCode.OK
