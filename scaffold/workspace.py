"""The Azure ML workspace a project deploys to, and the azure-ai-ml client for it.

Where the workspace comes from, per value (subscription, resource group, workspace name):
1. the command line (`--subscription`, `--resource-group`, `--workspace`);
2. a `config.json` found the way azure-ai-ml's `MLClient.from_config` finds it (in
   `.azureml/`, `aml_config/` or the folder itself, `config.json` then `project.json`,
   searched upwards from the project folder, then from the working directory);
3. the environment: AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZUREML_WORKSPACE_NAME.

Signing in uses azure-identity's DefaultAzureCredential (environment, workload identity,
managed identity, Azure CLI, ...). azure-ai-ml is imported only inside `connect`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaffold.errors import AzureError, UsageError

ENV_VARS = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "resource_group": "AZURE_RESOURCE_GROUP",
    "workspace_name": "AZUREML_WORKSPACE_NAME",
}
FLAGS = {
    "subscription_id": "--subscription",
    "resource_group": "--resource-group",
    "workspace_name": "--workspace",
}
#: azure-ai-ml's search order (MLClient.from_config): folder, then file name.
_CONFIG_DIRS = (".azureml", "aml_config", None)
_CONFIG_FILES = ("config.json", "project.json")
_LEVELS = 20


@dataclass(frozen=True)
class WorkspaceRef:
    """Which workspace, and where each value came from (for messages)."""

    subscription_id: str
    resource_group: str
    workspace_name: str
    source: str


def find_config(start: Path) -> Path | None:
    """The config.json azure-ai-ml's `MLClient.from_config(path=start)` would read."""
    start = start.expanduser().resolve()
    if start.is_file():
        return start
    for folder, name in itertools.product(_CONFIG_DIRS, _CONFIG_FILES):
        current = start
        for _ in range(_LEVELS):
            candidate = (current / folder / name) if folder else (current / name)
            if candidate.is_file():
                return candidate
            if current.parent == current:
                break
            current = current.parent
    return None


def _read_config(path: Path) -> dict[str, str]:
    from scaffold import limits

    try:  # bounded in size and depth (limits.InputRejected is a ValueError)
        config = limits.load_json(limits.read_bytes(path))
    except (OSError, ValueError) as error:
        raise UsageError(
            f"cannot read workspace config {path}: {error}; fix or remove it"
        ) from None
    if not isinstance(config, dict):
        raise UsageError(f"workspace config {path} must be a JSON object; fix or remove it")
    scope = config.get("Scope")
    if isinstance(scope, str) and scope.count("/") >= 8:
        pieces = scope.split("/")
        return {
            "subscription_id": pieces[2],
            "resource_group": pieces[4],
            "workspace_name": pieces[8],
        }
    return {key: str(config[key]) for key in ENV_VARS if isinstance(config.get(key), str)}


def find_workspace(
    project: Path,
    *,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    workspace_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> WorkspaceRef:
    """Resolve the workspace for `project` (flags, then config.json, then environment)."""
    environ = os.environ if environ is None else environ
    given = {
        "subscription_id": subscription_id,
        "resource_group": resource_group,
        "workspace_name": workspace_name,
    }
    config_path = find_config(project) or find_config(cwd or Path.cwd())
    config = _read_config(config_path) if config_path else {}
    values: dict[str, str] = {}
    sources: set[str] = set()
    for key in ENV_VARS:
        for source, value in (
            ("command line", given[key]),
            (str(config_path), config.get(key)),
            ("environment", environ.get(ENV_VARS[key])),
        ):
            if value:
                values[key] = value
                sources.add(source)
                break
    missing = [key for key in ENV_VARS if key not in values]
    if missing:
        flags = ", ".join(FLAGS[key] for key in missing)
        env = ", ".join(ENV_VARS[key] for key in missing)
        raise UsageError(
            f"no Azure ML workspace given: pass {flags}, or put a config.json (from the "
            f"workspace's portal page) in the project, or set {env}"
        )
    return WorkspaceRef(
        values["subscription_id"],
        values["resource_group"],
        values["workspace_name"],
        " + ".join(sorted(sources)),
    )


def require_sdk() -> None:
    """Raise AzureError naming the install command when azure-ai-ml is missing."""
    try:
        import azure.ai.ml  # noqa: F401
    except ImportError:
        raise AzureError(
            "azure-ai-ml is not installed; pip install 'aml-scaffold[azure]'"
        ) from None


def connect(ref: WorkspaceRef, *, credential: Any = None, **client_options: Any) -> Any:
    """An azure-ai-ml `MLClient` for the workspace.

    `credential` defaults to DefaultAzureCredential. `client_options` go to MLClient as is
    (e.g. `cloud` and `cloud_metadata` for a sovereign or custom cloud, `connection_verify`
    for a corporate TLS proxy's CA bundle). The SDK's own upload progress bars are off.
    """
    require_sdk()
    from azure.ai.ml import MLClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return MLClient(
        credential,
        ref.subscription_id,
        ref.resource_group,
        ref.workspace_name,
        show_progress=False,
        **client_options,
    )
