"""`scaffold new --model`: a project that serves the user's own model, configured from it.

`prepare()` runs before anything is rendered: it checks the model (a local file or folder,
or a registered `azureml:NAME:VERSION` / `azureml:NAME@latest` reference, never copied) and
asks the server's model adapter, `scaffold.usermodel.<model_adapter>` as named by the server
registry, to read it. Every problem is a UsageError (exit 2) raised before a file is
written. The returned `Prepared.finish` then copies the model into the rendered project
(still in its staging folder) and writes what the adapter derived from the model.

Models are copied with streaming copies, never read whole; adapters inspect a model (load it
with onnx, joblib, ...) only when it is at most `inspect_limit()` bytes.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import UsageError
from scaffold.servers import SERVERS, ServerSpec, model_dir_for
from scaffold.usermodel import libraries

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.usermodel.modelenv import ModelEnv

#: Environment variable overriding the inspection limit, in bytes.
LIMIT_ENV = "SCAFFOLD_MODEL_INSPECT_LIMIT"
DEFAULT_LIMIT = 1 << 30  # 1 GiB
REFERENCE = re.compile(r"azureml:[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(?::[1-9][0-9]{0,8}|@latest)")

#: finish(project, answers, env) -> notes for the user: copies the model into the rendered
#: project, writes what was derived from it and records the samples where `env` allows.
Finish = Callable[[Path, Mapping[str, Any], "ModelEnv"], list[str]]


@dataclass(frozen=True)
class ModelFile:
    """The user's model as an adapter sees it."""

    path: Path
    size: int
    #: The model may be loaded for inspection (its size is within the limit).
    inspect: bool
    #: The answers given so far (e.g. the instance type the model is sized for).
    answers: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What an adapter derived from a model: answers to render with, and the finishing step."""

    answers: dict[str, Any] = field(default_factory=dict)
    #: Answers derived from the model that the user's own answers override.
    defaults: dict[str, Any] = field(default_factory=dict)
    finish: Finish | None = None
    notes: list[str] = field(default_factory=list)
    #: The model file or folder (None for a registered reference).
    source: Path | None = None
    #: Copy the model in the background while the template renders (the adapter places it
    #: with `env.place`); off when the adapter only reads it (e.g. packs it into an archive).
    prefetch: bool = True


def inspect_limit() -> int:
    """Largest model (bytes) that is loaded for inspection; larger ones are only copied."""
    raw = os.environ.get(LIMIT_ENV, "")
    if not raw:
        return DEFAULT_LIMIT
    try:
        return max(0, int(raw))
    except ValueError:
        raise UsageError(
            f"{LIMIT_ENV}={raw!r} is not a number of bytes; unset it or fix it"
        ) from None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def need(module: str, package: str) -> Any:
    """Import an optional heavy library, or fail with the line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"reading this model needs {package}: pip install 'aml-scaffold[models]' "
            f"(or pip install {package})"
        ) from None


def copy_model(source: Path, target: Path) -> None:
    """Copy a model file or folder, streaming (never whole in memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)


def remove(project: Path, *relative: str) -> None:
    """Remove sample files the user's model replaces (missing ones are fine), and the folders
    they leave empty."""
    for name in relative:
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        parent = path.parent
        while parent != project and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


#: The Dockerfile line system packages are installed before (the generated images copy
#: their pip requirements next).
_REQUIREMENTS_COPY = "COPY requirements.txt"


def add_system_packages(project: Path, answers: Mapping[str, Any], requirements: str) -> str:
    """Install the system packages the requirements' wheels need (libraries.system_packages)
    in docker-context/Dockerfile, before the pip layer; returns a note, or "" for none."""
    from scaffold.requirements import parse

    dists = [req.name for req in parse(requirements).requirements]
    packages = libraries.system_packages(dists)
    dockerfile = project / "docker-context" / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8") if dockerfile.is_file() else ""
    if not packages or _REQUIREMENTS_COPY not in text:
        return ""
    user = SERVERS[str(answers["server"])].image_user
    block = [
        "# System libraries the model's Python packages load but do not bundle (written by",
        "# `scaffold new --model` from requirements.txt). apt needs root"
        + (";\n# the image's own user is restored after." if user else "."),
    ]
    block += ["USER root"] if user else []
    block += [
        "# hadolint ignore=DL3008",
        "RUN apt-get update \\",
        f"    && apt-get install -y --no-install-recommends {' '.join(packages)} \\",
        "    && rm -rf /var/lib/apt/lists/*",
    ]
    block += [f"USER {user}"] if user else []
    index = text.index(_REQUIREMENTS_COPY)
    while text.rfind("\n#", 0, index) == text.rfind("\n", 0, index - 1):  # its comment
        index = text.rfind("\n", 0, index - 1) + 1
    dockerfile.write_text(text[:index] + "\n".join(block) + "\n\n" + text[index:], encoding="utf-8")
    needing = ", ".join(d for d in dists if libraries.system_packages([d]))
    return f"docker-context/Dockerfile installs {', '.join(packages)} (needed by {needing})"


def model_dir(project: Path, answers: Mapping[str, Any]) -> Path:
    """The rendered project's model folder for these answers."""
    spec = SERVERS[str(answers["server"])]
    served = str(answers.get("served_model_name") or spec.served_model_name)
    return project / model_dir_for(spec, served)


def prepare(model: str, data: Mapping[str, Any]) -> Prepared:
    """Check `model` for the server in `data` and return the answers and finishing step.

    Raises UsageError (nothing written yet) for a missing server, a missing or unreadable
    model, a format the server cannot serve, or a missing optional library.
    """
    server = data.get("server")
    if not isinstance(server, str) or server not in SERVERS:
        raise UsageError("--model needs --server (one of " + ", ".join(SERVERS) + ")")
    spec = SERVERS[server]
    if model.startswith("azureml:"):
        return _reference(model, spec)
    prepared = prepare_file(model, spec, data)
    check_fit(prepared.answers, data)
    return prepared


def check_fit(answers: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """UsageError when an answer given conflicts with what the model needs."""
    for key, value in answers.items():
        if key in data and data[key] != value:
            raise UsageError(
                f"--{key.replace('_', '-')} {data[key]} does not fit this model "
                f"(it needs {value}); leave the flag out"
            )


def adapter_of(spec: ServerSpec) -> Any:
    """The server's model adapter module, scaffold.usermodel.<model_adapter>."""
    return importlib.import_module(f"scaffold.usermodel.{spec.model_adapter}")


def prepare_file(model: str, spec: ServerSpec, data: Mapping[str, Any] | None = None) -> Prepared:
    """Check a local model file or folder and read it with the server's adapter (`data`:
    the answers given, which some adapters read)."""
    path = Path(model).expanduser()
    if not path.exists():
        raise UsageError(f"--model {model}: no such file or folder")
    if not (path.is_file() or path.is_dir()):
        raise UsageError(f"--model {model}: not a regular file or folder")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise UsageError(f"--model {model}: not readable (check its permissions)")
    if not spec.model_adapter:
        supported = ", ".join(name for name, s in SERVERS.items() if s.model_adapter)
        raise UsageError(
            f"--model PATH is not supported for {spec.name} yet (supported: {supported}); "
            "generate the sample project and replace its model, or use --model azureml:NAME:VERSION"
        )
    size = _size(path)
    prepared: Prepared = adapter_of(spec).prepare(
        ModelFile(
            path=path.resolve(),
            size=size,
            inspect=size <= inspect_limit(),
            answers=dict(data or {}),
        )
    )
    prepared.source = path.resolve()
    return prepared


def _reference(model: str, spec: ServerSpec) -> Prepared:
    if not REFERENCE.fullmatch(model):
        raise UsageError(
            f"--model {model}: a registered model is azureml:NAME:VERSION or azureml:NAME@latest"
        )
    if not spec.model_dir:
        raise UsageError(f"{spec.name} projects have no model to reference; leave --model out")
    name, _, version = model.removeprefix("azureml:").replace("@", ":@").partition(":")
    answers: dict[str, Any] = {"model_asset": model, "model_name": name}
    if not version.startswith("@"):
        answers["model_version"] = version
    note = (
        f"deployment.yml references the registered model {model} (nothing copied); "
        f"register it with the layout of ./{spec.model_dir}. `scaffold run` needs a local model."
    )
    return Prepared(answers=answers, notes=[note])
