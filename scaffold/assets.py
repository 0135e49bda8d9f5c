"""Versions of the assets a deployment registers (model, environment; the code snapshot),
derived from their content, so a second deploy after a change works and an unchanged asset
is reused, not uploaded again.

Azure ML asset versions are immutable: registering other files under an existing version is
refused (`(UserError) Asset paths cannot be updated.`), and model versions are integers.
azure-ai-ml stores a local folder under `LocalUpload/<content hash>/<folder name>` in the
workspace's blob store (skipping the upload when that exact content is already there), so a
registered version's path says which content it holds. Per asset:

- **model without `version:`** (what scaffold's template writes): the version that already
  holds this content is reused (the deployment references it; nothing is uploaded);
  otherwise the next free integer is registered. Environment variables that name the
  model's mount folder (`/var/azureml-app/azureml-models/<name>/<version>`, e.g. TF
  Serving's MODEL_BASE_PATH) follow the version chosen. `scaffold run` mounts such a model
  as version LOCAL_MODEL_VERSION.
- **model with `version:`** (pinned by the user): reused when it holds this content,
  registered when it does not exist, and refused with the fix when it holds other content,
  before anything is uploaded; when this project already registered that version with
  other content (the record in `.scaffold/assets.json`), before Azure is contacted at all.
- **environment built from docker-context/** (anonymous, as scaffold writes it): azure-ai-ml
  names it `CliV2AnonymousEnvironment` with a version hashed from the build context, so an
  unchanged context reuses the registered environment and its image (Azure does not build
  again); a named environment with a pinned `version:` is checked like a pinned model.
- **code**: an anonymous snapshot whose upload azure-ai-ml skips when the same content is
  already in the workspace's storage.

The SDK is imported lazily, in these functions only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import AzureError, ValidationFailed

if TYPE_CHECKING:
    from scaffold.deploy import DeployPlan
    from scaffold.localrun import Reporter

#: The version `scaffold run` gives a model whose deployment.yml has no `version:`.
LOCAL_MODEL_VERSION = "1"
#: Where a project remembers what it registered (per workspace), beside its own `.gitignore`.
STATE_DIR = ".scaffold"
RECORD_FILE = "assets.json"
MODELS_ROOT = "/var/azureml-app/azureml-models"


@dataclass(frozen=True)
class AssetDecision:
    """What a deploy does with one asset."""

    kind: str
    name: str
    version: str
    #: "reuse" (registered, same content: nothing uploaded), "register" (new version).
    action: str
    #: The content key (`LocalUpload/<hash>/<folder>`).
    key: str = ""
    note: str = ""

    def describe(self) -> str:
        """One line for the console."""
        verb = "reused (same content, nothing uploaded)" if self.action == "reuse" else "new"
        return f"{self.kind} {self.name}:{self.version} {verb}{self.note}"


def state_dir(project: Path) -> Path:
    """The project's `.scaffold/` folder, created with a `.gitignore` that ignores it all
    (so the record never dirties the git tree of an old or new project)."""
    folder = project / STATE_DIR
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# scaffold's local state (deploy records, rollouts): not versioned\n*\n")
    return folder


def content_key(path: Path) -> str:
    """`LocalUpload/<hash>/<name>`: where azure-ai-ml uploads this file or folder (its own
    content hash, .amlignore/.gitignore honoured), i.e. what a registered version holds."""
    try:
        from azure.ai.ml._utils._asset_utils import get_ignore_file, get_object_hash
    except ImportError:  # the SDK moved its helpers: say so instead of a traceback
        raise AzureError(
            "this azure-ai-ml version hashes uploads differently from the one scaffold knows; "
            "pip install 'aml-scaffold[azure]' for a supported azure-ai-ml"
        ) from None
    return f"LocalUpload/{get_object_hash(path, get_ignore_file(path))}/{path.name}"


def _holds(registered_path: str | None, key: str) -> bool:
    """Whether a registered asset's path is this content: `…/<hash>/<name>` under
    `LocalUpload/` or the SDK's older `az-ml-artifacts/` folder (both are reused by it)."""
    tail = key.split("/", 1)[1] if "/" in key else key
    return bool(registered_path) and str(registered_path).rstrip("/").endswith("/" + tail)


# -- the local record --------------------------------------------------------------------------


def _record_path(project: Path) -> Path:
    return project / STATE_DIR / RECORD_FILE


def read_record(project: Path, workspace: str) -> dict[str, str]:
    """`kind:name:version` -> content key this project registered in `workspace`."""
    path = _record_path(project)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get(workspace) if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}


def write_record(project: Path, workspace: str, decisions: list[AssetDecision]) -> None:
    """Remember what was registered (after a successful deploy). A project folder that
    cannot be written (a read-only checkout) keeps no record: Azure's registry is then the
    only check, which still runs before any upload."""
    try:
        _write_record(project, workspace, decisions)
    except OSError:
        return


def _write_record(project: Path, workspace: str, decisions: list[AssetDecision]) -> None:
    path = _record_path(project)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    entries = data.setdefault(workspace, {})
    for decision in decisions:
        if decision.key:
            entries[f"{decision.kind}:{decision.name}:{decision.version}"] = decision.key
    state_dir(project)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- the plan's assets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Local:
    """A model or environment of the plan with local files."""

    kind: str
    name: str
    #: The version written in deployment.yml ("" = scaffold picks).
    pinned: str
    path: Path
    key: str


def _local_model(plan: DeployPlan) -> _Local | None:
    from azure.ai.ml.entities import Model

    model = plan.deployment.model
    if not isinstance(model, Model) or not model.path or str(model.path).startswith("azureml"):
        return None
    path = Path(str(model.path))
    if not path.is_absolute():
        path = (plan.project / path).resolve()
    if not path.exists():
        return None
    pinned = plan.settings.model_version if plan.settings.model_version else ""
    return _Local("model", str(model.name), pinned, path, content_key(path))


def _local_environment(plan: DeployPlan) -> _Local | None:
    environment = plan.deployment.environment
    build = getattr(environment, "build", None)
    if build is None or not getattr(build, "path", None):
        return None
    if getattr(environment, "_is_anonymous", True):
        return None  # content-versioned by azure-ai-ml itself
    path = Path(str(build.path))
    if not path.is_absolute():
        path = (plan.project / path).resolve()
    if not path.is_dir() or not environment.version:
        return None
    key = content_key(path)
    return _Local("environment", str(environment.name), str(environment.version), path, key)


def _pinned_refusal(local: _Local, why: str) -> ValidationFailed:
    if local.kind == "model":
        fix = (
            f"remove `version:` under model in deployment.yml (scaffold deploy then picks the "
            f"version from the content) or raise it above {local.pinned}"
        )
    else:
        fix = f"raise environment.version in deployment.yml above {local.pinned}"
    return ValidationFailed(
        f"{local.kind} {local.name}:{local.pinned} {why}, and Azure never changes the files of "
        f"a registered version ('Asset paths cannot be updated'); {fix}"
    )


def check_pinned_locally(plan: DeployPlan, workspace: str) -> None:
    """Refuse, before contacting Azure, a pinned version this project already registered in
    `workspace` with other content (ValidationFailed naming the fix)."""
    record = read_record(plan.project, workspace)
    for local in (_local_model(plan), _local_environment(plan)):
        if local is None or not local.pinned:
            continue
        key = record.get(f"{local.kind}:{local.name}:{local.pinned}")
        if key and key != local.key:
            raise _pinned_refusal(local, "was registered by this project with other files")


# -- deciding with Azure's registry --------------------------------------------------------------


def _versions(client: Any, local: _Local) -> dict[str, tuple[Any, bool]]:
    """version -> (asset, archived), archived versions included: azure-ai-ml lists only
    active ones by default, but an archived version keeps its number and files (and stays
    usable by explicit version), so "the next" number past the active ones would collide
    with it. (The SDK's entities do not carry the archived flag: two listings.)"""
    from azure.ai.ml.constants import ListViewType
    from azure.core.exceptions import ResourceNotFoundError

    from scaffold.deploy import azure_errors, sdk_quiet

    operations = client.models if local.kind == "model" else client.environments
    found: dict[str, tuple[Any, bool]] = {}
    with sdk_quiet(), azure_errors(f"listing the versions of {local.kind} {local.name}"):
        for view, archived in (
            (ListViewType.ARCHIVED_ONLY, True),
            (ListViewType.ACTIVE_ONLY, False),
        ):
            try:
                for asset in operations.list(name=local.name, list_view_type=view):
                    found[str(asset.version)] = (asset, archived)
            except ResourceNotFoundError:
                continue
    return found


def _registered_path(asset: Any) -> str:
    build = getattr(asset, "build", None)
    if build is not None:
        return str(getattr(build, "path", "") or "")
    return str(getattr(asset, "path", "") or "")


def _decide(client: Any, local: _Local) -> AssetDecision:
    listed = _versions(client, local)
    versions = {version: asset for version, (asset, _) in listed.items()}
    if local.pinned:
        existing = versions.get(local.pinned)
        if existing is None:
            return AssetDecision(local.kind, local.name, local.pinned, "register", local.key)
        if _holds(_registered_path(existing), local.key):
            return AssetDecision(local.kind, local.name, local.pinned, "reuse", local.key)
        raise _pinned_refusal(local, "is registered with other files")

    def _archived(version: str) -> bool:
        return listed[version][1]

    same = [v for v, asset in versions.items() if _holds(_registered_path(asset), local.key)]
    if same:
        # An active version first; an archived one still serves by its explicit version.
        version = max(
            same,
            key=lambda v: (
                not _archived(v),
                v.isdigit(),
                int(v) if v.isdigit() else 0,
                v,
            ),
        )
        note = " (an archived version)" if _archived(version) else ""
        return AssetDecision(local.kind, local.name, version, "reuse", local.key, note)
    numbers = [int(v) for v in versions if v.isdigit()]
    version = str(max(numbers) + 1) if numbers else LOCAL_MODEL_VERSION
    note = f" (the model changed since version {max(numbers)})" if numbers else ""
    return AssetDecision(local.kind, local.name, version, "register", local.key, note)


def _follow_version(plan: DeployPlan, name: str, version: str) -> list[str]:
    """Point environment variables that name the model's mount folder at `version`."""
    local_version = plan.settings.model_version or LOCAL_MODEL_VERSION
    old = f"{MODELS_ROOT}/{name}/{local_version}"
    pattern = re.compile(re.escape(old) + r"(?=/|$)")
    changed = []
    variables = plan.deployment.environment_variables or {}
    for key, value in list(variables.items()):
        if isinstance(value, str) and pattern.search(value):
            variables[key] = pattern.sub(f"{MODELS_ROOT}/{name}/{version}", value)
            changed.append(key)
    return changed


def resolve_assets(plan: DeployPlan, client: Any, reporter: Reporter) -> list[AssetDecision]:
    """Decide each asset's version with Azure's registry (reads only) and change the plan
    to match: a reused model becomes a reference (nothing uploaded), a new one gets its
    version. Raises ValidationFailed for a pinned version with other content."""
    decisions: list[AssetDecision] = []
    model = _local_model(plan)
    if model is not None:
        decision = _decide(client, model)
        decisions.append(decision)
        if decision.action == "reuse":
            plan.deployment.model = f"azureml:{model.name}:{decision.version}"
        else:
            plan.deployment.model.version = decision.version
        moved = _follow_version(plan, model.name, decision.version)
        note = f"; {', '.join(moved)} follow version {decision.version}" if moved else ""
        reporter.detail(decision.describe() + note, important=True)
    environment = _local_environment(plan)
    if environment is not None:
        decision = _decide(client, environment)
        decisions.append(decision)
        reporter.detail(decision.describe(), important=True)
    else:
        _report_anonymous_environment(plan, client, reporter)
    return decisions


def _report_anonymous_environment(plan: DeployPlan, client: Any, reporter: Reporter) -> None:
    """Say whether Azure already has the image of an unchanged build context (a report
    only: a failed read changes nothing)."""
    from azure.core.exceptions import AzureError as CoreError
    from azure.core.exceptions import ResourceNotFoundError

    from scaffold.deploy import sdk_quiet

    environment = plan.deployment.environment
    if getattr(environment, "build", None) is None or not getattr(environment, "version", None):
        return
    short = str(environment.version)[:12]
    try:
        with sdk_quiet():
            client.environments.get(environment.name, environment.version)
    except ResourceNotFoundError:
        reporter.detail(f"environment {short}: new build context, Azure builds the image")
        return
    except CoreError:
        return
    reporter.detail(f"environment {short}: build context unchanged, image reused", important=True)


def workspace_key(subscription_id: str, resource_group: str, workspace_name: str) -> str:
    """The record's key for a workspace."""
    return f"{subscription_id}/{resource_group}/{workspace_name}".lower()
