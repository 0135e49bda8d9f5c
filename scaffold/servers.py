"""The registry of model servers: the one place in scaffold's code that knows them apart.

The facts themselves live in one data file inside the template, `templates/_facts.json`:
copier.yml pulls it in with copier's `!include` (so plain copier works), and this module
reads the same file with the standard json module (cheap enough for `scaffold --help`).
Fields the template does not use (label, sample, hints, contract) live there too, so no fact
is kept in two places. After generation, the project's deployment.yml is the source of
truth, not this registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

FACTS_FILE = "_facts.json"
#: Placeholder in the facts' routes and model folder for the served model name (the
#: `served_model_name` answer; copier.yml replaces it when rendering).
MODEL_PLACEHOLDER = "{model}"


class ImageLifecycle(NamedTuple):
    """What is known about the support of a server's base images (`base_image_lifecycle` in
    the facts), for `scaffold validate`'s warnings."""

    #: Substring of an image reference naming these images (mirrors keep the path).
    repository: str = ""
    #: The vendor supports tags at most this many days older than its newest; 0: no window.
    support_window_days: int = 0
    #: Regular expression of dated tags, with a `date` group (YYYYMMDD).
    date_tag: str = ""
    #: The support policy in words, with its source.
    support: str = ""
    #: Why the images are end-of-life (no more security patches); "" while maintained.
    end_of_life: str = ""
    #: What to use instead of end-of-life images.
    alternative: str = ""
    #: Why the tags move (the same tag is rebuilt), so only a digest pins the image.
    moving_tags: str = ""


class SeveralModels(NamedTuple):
    """How one deployment of a server serves several models (`several_models` in the facts).

    The scoring route of a deployment names one path; the other models are reached the way
    the server's own clients and Microsoft's samples reach them: by the request's `"model"`
    field on that same route (`chosen_by` "request": plumber, minimal), or by their own
    route on the same port, the served model name in the path (`chosen_by` "path": Triton
    `/v2/models/<m>/infer`, TorchServe `/predictions/<m>`, TF Serving `/v1/models/<m>:predict`).
    """

    #: "request", "path", or "" when the server serves one model per deployment.
    chosen_by: str = ""
    #: Project folder registered as the deployment's model when it holds several models.
    model_dir: str = ""
    #: model_mount_path for several models ("" for Azure's default mount).
    model_mount_path: str = ""
    #: Why the server serves one model per deployment, and what to do instead.
    note: str = ""

    @property
    def supported(self) -> bool:
        """Whether one deployment of this server can serve several models."""
        return bool(self.chosen_by)


class ServerSpec(NamedTuple):
    """What scaffold knows about one model server (a NamedTuple: `--help` imports this
    module, and dataclasses alone would cost it about 10 ms)."""

    name: str
    label: str
    port: int
    liveness: str
    readiness: str
    scoring: str
    #: Folder of the scoring code (code_configuration.code), or "" when the image holds it.
    code_dir: str
    scoring_script: str
    #: What the sample model is, for `scaffold new --help` and the README table.
    sample: str
    #: The template's default base image (a question default).
    base_image: str = ""
    #: Default name the server serves the model under (routes, model folder, archive);
    #: "" when the routes carry no model name (then the question is not asked).
    served_model_name: str = ""
    #: Module scaffold.usermodel.<name> that configures a project from the user's own model
    #: (`scaffold new --model`); "" when the server has none yet.
    model_adapter: str = ""
    #: What `scaffold new --model PATH` takes for this server, for its help text.
    model_formats: str = ""
    #: model_dir with the served-model-name placeholder left in (see model_dir_for).
    model_dir_pattern: str = ""
    #: The scoring route with the served-model-name placeholder left in (see model_route).
    scoring_pattern: str = ""
    #: Support window and end-of-life facts of the base images.
    base_image_lifecycle: ImageLifecycle = ImageLifecycle()
    #: Project folder of the sample model (deployment.yml model.path without "./").
    model_dir: str = ""
    #: model_mount_path of the deployment, or "" for Azure's default mount.
    model_mount_path: str = ""
    # For `scaffold validate` on projects without an answers file (hand-written ones):
    #: Substrings of base image names (Dockerfile FROM, environment.image) naming this server.
    image_hints: tuple[str, ...] = ()
    #: Substrings of the container command (ENTRYPOINT + CMD) naming this server.
    command_hints: tuple[str, ...] = ()
    #: File name patterns in the model folder or build context naming this server.
    file_hints: tuple[str, ...] = ()
    #: Azure ML model types (`model.type`) deployed with this server without an environment
    #: (a no-code deployment: Azure supplies the server).
    model_types: tuple[str, ...] = ()
    #: The server runs on Azure ML's inference images (azureml-inference-server-http): a
    #: deployment whose image is one of them needs no inference_config.
    azureml_inference: bool = False
    #: Ports the server listens on behind its image's own front server, which the probes do
    #: not reach (azmlinfsrv on 31311 behind nginx on 5001 in Azure ML's curated inference
    #: images): a log line "Listening at: http://127.0.0.1:31311" is no wrong port or bind.
    internal_ports: tuple[int, ...] = ()
    #: The base image's ENTRYPOINT evaluates its arguments, so $VARS in an exec-form CMD expand.
    base_entrypoint_evals: bool = False
    #: The official base image's own ENTRYPOINT, which runs when a Dockerfile FROM it sets
    #: none (rstudio/plumber: plumb the file given as CMD, on 0.0.0.0:8000); () if unknown.
    base_entrypoint: tuple[str, ...] = ()
    #: The server's cross-file contract module, scaffold.validate.contracts.<contract>, run
    #: by `scaffold validate` (a name, so importing the registry stays cheap).
    contract: str = ""
    #: Environment variable setting the server's worker processes (azmlinfsrv's
    #: WORKER_COUNT), which `scaffold loadtest` sizes; "" when the server has none.
    worker_env: str = ""
    #: How `scaffold loadtest` drives the scoring route: a name in scaffold.loadtest.PROFILES
    #: ("json": POST the sample request as JSON and time whole answers).
    load_profile: str = "json"
    #: The scoring script is not Python (plumber.R): azure-ai-ml's pre-deploy syntax check
    #: of it must be skipped (`az ml online-deployment create --skip-script-validation`).
    skip_script_validation: bool = False
    #: /dev/shm size the container needs (Docker's --shm-size, e.g. "2g"), "" for Docker's
    #: default 64 MB; `scaffold run`/`serve`/`loadtest` start the container with it.
    shm_size: str = ""
    #: Log lines that mean the server cannot start although its process lives on (vLLM's API
    #: server can hang after its engine failed): `run` stops waiting for the probes at once.
    fatal_log: tuple[str, ...] = ()
    #: The CPython version (e.g. "3.12") of the default base image, for checking the wheels
    #: its pip requirements need; "" when unknown or the image has no Python.
    image_python: str = ""
    #: How several models are served by one deployment of this server.
    several_models: SeveralModels = SeveralModels()
    #: The user the default base image runs as (its Dockerfile switches back to it after
    #: installing system packages as root); "" when it runs as root.
    image_user: str = ""


def model_dir_for(spec: ServerSpec, served_model_name: str) -> str:
    """The project folder of the model when it is served under `served_model_name`."""
    return spec.model_dir_pattern.replace(MODEL_PLACEHOLDER, served_model_name)


def model_route(spec: ServerSpec, name: str) -> str:
    """The scoring path of model `name` when a deployment serves several models: its own
    route (chosen by path), else the one scoring route (chosen by the request)."""
    return spec.scoring_pattern.replace(MODEL_PLACEHOLDER, name)


def facts_file() -> Path:
    """The template's server facts table (`_facts.json` beside copier.yml), the one copy.

    The installed wheel carries the templates as `scaffold/_templates`; a checkout has them
    in `templates/` beside the package (the same search as `template_source.bundled_dir`).
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates" / FACTS_FILE, here.parent / "templates" / FACTS_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"scaffold's template facts ({FACTS_FILE}) are missing from this installation; "
        "reinstall scaffold"
    )


def _spec(name: str, facts: dict[str, Any]) -> ServerSpec:
    fields = {key: facts[key] for key in ServerSpec._fields if key in facts and key != "name"}
    served = str(facts.get("served_model_name", ""))
    for key, value in fields.items():
        if isinstance(value, str) and MODEL_PLACEHOLDER in value:
            fields[key] = value.replace(MODEL_PLACEHOLDER, served)
    fields["model_dir_pattern"] = str(facts.get("model_dir", ""))
    fields["scoring_pattern"] = str(facts.get("scoring", ""))
    for key in (
        "image_hints",
        "command_hints",
        "file_hints",
        "model_types",
        "base_entrypoint",
        "internal_ports",
        "fatal_log",
    ):
        fields[key] = tuple(fields.get(key, ()))
    fields["base_image_lifecycle"] = ImageLifecycle(**fields.get("base_image_lifecycle", {}))
    fields["several_models"] = SeveralModels(**fields.get("several_models", {}))
    return ServerSpec(name=name, **fields)


def _load() -> dict[str, ServerSpec]:
    table = json.loads(facts_file().read_text(encoding="utf-8"))
    return {name: _spec(name, facts) for name, facts in table.items()}


SERVERS: dict[str, ServerSpec] = _load()


def get(name: str) -> ServerSpec:
    """Return the spec for `name`; raise KeyError with the known names otherwise."""
    try:
        return SERVERS[name]
    except KeyError:
        raise KeyError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}") from None
