"""`scaffold new --model A --model B ...`: several models served by one deployment.

Each model is read by the server's own adapter exactly as a single model would be
(`scaffold.usermodel.<adapter>.prepare`, every check included, all before anything is
written). After rendering, each adapter's finishing step runs on a scratch copy of the
rendered project with that model as its only one, and what it made is moved into the project
in the server's several-models layout (`several_models` in the facts):

- chosen by path (Triton, TorchServe, TF Serving): the template rendered the sample model
  under each name of the `models` answer; each is replaced by the user's model of that name;
- chosen by the request's "model" field (plumber, minimal): every model file goes into the
  one model folder, named after its model; the scoring code serves each by that name.

Each model's samples go to `samples/<name>/` ("model" added to both for request-chosen
models) and the top-level sample files are the default model's (the first). Files an adapter
writes for the whole project (minimal's `src/score.py` and `requirements.txt`) are combined
by the adapter's `combine_several(project, files)`; the sample model's own sources
(`model-src/`) make way for what the adapters wrote there, per model (`model-src/<name>/`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import UsageError
from scaffold.servers import SERVERS, ServerSpec, model_dir_for
from scaffold.usermodel import Prepared, adapter_of, check_fit, prepare_file

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.usermodel.modelenv import ModelEnv

#: A served model name (routes, folders, archive names), as copier.yml's validator has it.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
SAMPLES = ("sample_request.json", "sample_response.json")
#: File names that say nothing about the model: a model so named is named by its folder.
GENERIC = frozenset({"model", "saved_model", "crate", "weights", "export", "exported"})
#: The most models one `scaffold new` takes (copier.yml's `models` allows as many).
MAX_MODELS = 100


@dataclass(frozen=True)
class Part:
    """One of the models: its served name, where it comes from, what its adapter read."""

    name: str
    source: Path
    prepared: Prepared


def split_named(item: str) -> tuple[str | None, str]:
    """`NAME=PATH` -> (NAME, PATH); a plain path, or one that exists as written, -> (None, it)."""
    name, sep, rest = item.partition("=")
    if sep and rest and NAME.fullmatch(name) and not Path(item).expanduser().exists():
        return name, rest
    return None, item


def default_name(prepared: Prepared, path: Path) -> str:
    """The name a model is served under unless NAME=PATH names it: the one the model itself
    carries (a .mar's modelName), else its file or folder name, made a valid name."""
    served = prepared.defaults.get("served_model_name")
    if isinstance(served, str) and NAME.fullmatch(served) and served.lower() not in GENERIC:
        return served
    stem = path.name if path.is_dir() else path.stem
    while (stem.isdigit() or stem.lower() in GENERIC) and path.parent != path:
        # a version folder (models/iris/1/model.onnx) or a generic file name (model.pkl):
        # the model is the folder's
        path = path.parent
        stem = path.name
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"model_{cleaned}".rstrip("_")
    return cleaned[:64]


def prepare(models: Sequence[str], data: Mapping[str, Any]) -> Prepared:
    """Read several models for the server in `data`; the answers and the finishing step.

    UsageError (nothing written yet) when the server serves one model per deployment, a
    model is refused by its adapter, two models would have the same name, or the models
    need different answers.
    """
    server = data.get("server")
    if not isinstance(server, str) or server not in SERVERS:
        raise UsageError("--model needs --server (one of " + ", ".join(SERVERS) + ")")
    spec = SERVERS[server]
    several = spec.several_models
    if not several.supported:
        why = several.note or "its deployments serve one model each"
        raise UsageError(
            f"--model is given {len(models)} times, but {server} serves one model per "
            f"deployment: {why}"
        )
    if len(models) > MAX_MODELS:
        raise UsageError(f"--model is given {len(models)} times; at most {MAX_MODELS} models")
    parts = [_part(item, spec) for item in models]
    _check_names(parts)
    answers = _answers(spec, parts)
    check_fit({k: v for k, v in answers.items() if k != "models"}, data)
    given = _as_list(data.get("models"))
    if given is not None and given != answers.get("models", given):
        raise UsageError(
            f"--models {given} does not fit the --model flags (they serve "
            f"{answers['models']}); leave --models out"
        )
    notes = [f"{part.name}: {note}" for part in parts for note in part.prepared.notes]

    def finish(project: Path, final: Mapping[str, Any], env: ModelEnv) -> list[str]:
        return notes_of_finish(spec, parts, project, final, env)

    return Prepared(answers=answers, finish=finish, notes=notes)


def _part(item: str, spec: ServerSpec) -> Part:
    explicit, model = split_named(item)
    if model.startswith("azureml:"):
        raise UsageError(
            f"--model {model}: several models are local files or folders; a registered model "
            "is one asset, so register the whole model folder and answer --model-asset once"
        )
    prepared = prepare_file(model, spec)
    path = Path(model).expanduser().resolve()
    return Part(explicit or default_name(prepared, path), path, prepared)


def _check_names(parts: list[Part]) -> None:
    seen: dict[str, Path] = {}
    for part in parts:
        if part.name in seen:
            raise UsageError(
                f"--model {seen[part.name].name} and --model {part.source.name} would both be "
                f"served as {part.name!r}; name them apart with --model NAME=PATH"
            )
        seen[part.name] = part.source


def _answers(spec: ServerSpec, parts: list[Part]) -> dict[str, Any]:
    """The adapters' answers (they must agree), and the names of the models."""
    adapter = adapter_of(spec)
    answers: dict[str, Any] = {}
    first: dict[str, str] = {}
    for part in parts:
        for key, value in part.prepared.answers.items():
            if key in getattr(adapter, "SINGLE_ANSWERS", {}):
                continue  # an answer that only a one-model project has
            if key in answers and answers[key] != value:
                raise UsageError(
                    f"--model {first[key]} and --model {part.source.name} need different "
                    f"{key} ({answers[key]} and {value}); one deployment serves both only "
                    "if they agree: add a deployment for one of them (scaffold deployment add)"
                )
            answers.setdefault(key, value)
            first.setdefault(key, part.source.name)
    answers.update(getattr(adapter, "SEVERAL_ANSWERS", {}))
    names = [part.name for part in parts]
    if spec.several_models.chosen_by == "path":
        answers["models"] = names
    if spec.served_model_name:
        answers["served_model_name"] = names[0]
    return answers


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return None  # the answer check reports it
    return value if isinstance(value, list) else None


# --- Finishing: run each adapter on a scratch copy, then move what it made --------------------
def notes_of_finish(
    spec: ServerSpec,
    parts: list[Part],
    project: Path,
    answers: Mapping[str, Any],
    env: ModelEnv,
) -> list[str]:
    """Finish the rendered `project` (in its staging folder) with every model, each run
    where `env` allows to record its samples; the notes."""
    adapter = adapter_of(spec)
    original = _tree(project)
    scratch_root = Path(tempfile.mkdtemp(prefix=".several-models-", dir=project.parent))
    try:
        notes: list[str] = []
        made: list[tuple[Part, Path, dict[str, Any]]] = []
        for index, part in enumerate(parts):
            scratch = scratch_root / str(index) / project.name
            shutil.copytree(project, scratch)
            single = {**answers, "served_model_name": part.name, "models": []}
            single.update(getattr(adapter, "SINGLE_ANSWERS", {}))
            if part.prepared.finish is not None:  # its notes describe a one-model project
                part.prepared.finish(scratch, single, env)
            made.append((part, scratch, single))
        _apply_removals(project, original, [scratch for _, scratch, _ in made])
        shared = _clear_model_area(spec, project, answers)
        extra: dict[str, dict[str, bytes]] = {}
        for part, scratch, single in made:
            _place_model(spec, part.name, scratch, project, single, shared, adapter)
            _place_samples(spec, part.name, scratch, project, original)
            _collect(scratch, original, part.name, extra, spec, single)
        notes += _combine(adapter, project, extra)
        _top_samples(project, parts[0].name)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    missing = [p.name for p in parts if not (project / "samples" / p.name / SAMPLES[0]).is_file()]
    how = (
        "each on its own route"
        if spec.several_models.chosen_by == "path"
        else 'chosen by the request\'s "model" field'
    )
    summary = (
        f"{len(parts)} models in one deployment, {how}: "
        + ", ".join(f"{p.name} ({p.source.name})" for p in parts)
        + f"; the default is {parts[0].name}"
    )
    if missing:
        summary += f"; write samples/<model>/{SAMPLES[0]} and {SAMPLES[1]} for {', '.join(missing)}"
    return [summary, *notes]


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative POSIX path -> content); rendered projects are small."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _remove(project: Path, relative: str) -> None:
    path = project / relative
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    parent = path.parent
    while parent != project and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _apply_removals(project: Path, original: Mapping[str, bytes], scratches: list[Path]) -> None:
    """Sample files an adapter removed (its model replaces them) go in the project too; the
    sample model's sources (`model-src/`) and samples (`samples/`) make way for the models'
    own, placed per model."""
    removed = {rel for rel in original for s in scratches if not (s / rel).exists()}
    removed |= {rel for rel in original if rel.startswith(("model-src/", "samples/"))}
    for relative in sorted(removed):
        _remove(project, relative)


def _layout(spec: ServerSpec, name: str, answers: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(where the adapter puts model `name` alone, where it goes among several, per model)."""
    per_model = "{model}" in spec.model_dir_pattern
    if answers.get("model_in_image"):  # baked into the image: the same folder either way
        return f"docker-context/models/{name}", f"docker-context/models/{name}", True
    several = spec.several_models.model_dir
    alone = model_dir_for(spec, name)
    return alone, f"{several}/{name}" if per_model else several, per_model


def _clear_model_area(spec: ServerSpec, project: Path, answers: Mapping[str, Any]) -> bool:
    """Empty the shared model folder of the sample (request-chosen models, .mar archives);
    True when the models share one folder."""
    alone, _, per_model = _layout(spec, "x", answers)
    if per_model:
        return False
    folder = project / alone
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return True


def _place_model(
    spec: ServerSpec,
    name: str,
    scratch: Path,
    project: Path,
    single: Mapping[str, Any],
    shared: bool,
    adapter: Any,
) -> None:
    alone, target, _ = _layout(spec, name, single)
    source = scratch / alone
    if not shared:
        _remove(project, target)
        shutil.copytree(source, project / target)
        return
    entries = sorted(source.iterdir()) if source.is_dir() else []
    rename = getattr(adapter, "several_file_name", None)
    if len(entries) == 1 and entries[0].is_file():
        new = rename(entries[0], name) if rename else name + entries[0].suffix
        shutil.copyfile(entries[0], project / target / new)
    else:  # a model of several files keeps them, in its own folder
        shutil.copytree(source, project / target / name, dirs_exist_ok=True)


def _place_samples(
    spec: ServerSpec, name: str, scratch: Path, project: Path, original: Mapping[str, bytes]
) -> None:
    """The samples the adapter wrote for this model (not the template's) to samples/<name>/."""
    folder = project / "samples" / name
    _remove(project, f"samples/{name}")
    written = {
        sample: (scratch / sample).read_bytes()
        for sample in SAMPLES
        if (scratch / sample).is_file() and (scratch / sample).read_bytes() != original.get(sample)
    }
    if len(written) != len(SAMPLES):
        return  # left to the user (the note and `scaffold validate` say so)
    folder.mkdir(parents=True, exist_ok=True)
    for sample, content in written.items():
        if spec.several_models.chosen_by == "request":
            content = _with_model(content, name)
        (folder / sample).write_bytes(content)


def _with_model(content: bytes, name: str) -> bytes:
    """A JSON object with "model": name first (the request chooses the model, the response
    names it); anything else unchanged."""
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if not isinstance(value, dict):
        return content
    rest = {key: item for key, item in value.items() if key != "model"}
    return (json.dumps({"model": name, **rest}) + "\n").encode()


def _collect(
    scratch: Path,
    original: Mapping[str, bytes],
    name: str,
    extra: dict[str, dict[str, bytes]],
    spec: ServerSpec,
    single: Mapping[str, Any],
) -> None:
    """Other files the adapter wrote: model-src/ per model now; the rest for combining."""
    alone, _, _ = _layout(spec, name, single)
    for path in sorted(p for p in scratch.rglob("*") if p.is_file()):
        relative = path.relative_to(scratch).as_posix()
        if relative in SAMPLES or relative.startswith((alone + "/", "samples/")):
            continue  # the model (never read here: it may be large) and its samples
        content = path.read_bytes()
        if original.get(relative) == content:
            continue
        if relative.startswith("model-src/"):  # e.g. a generated handler: this model's own
            relative = f"model-src/{name}/{relative.removeprefix('model-src/')}"
        extra.setdefault(relative, {})[name] = content


def _combine(adapter: Any, project: Path, extra: dict[str, dict[str, bytes]]) -> list[str]:
    """Write the files every adapter wrote alike; hand the others to the adapter."""
    differing: dict[str, dict[str, bytes]] = {}
    for relative, by_model in sorted(extra.items()):
        if len(set(by_model.values())) == 1:
            target = project / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(next(iter(by_model.values())))
        else:
            differing[relative] = by_model
    if not differing:
        return []
    combine = getattr(adapter, "combine_several", None)
    if combine is None:  # pragma: no cover - every adapter that writes such files has one
        raise UsageError(
            f"the models need different {', '.join(differing)}; serve them in separate "
            "deployments (scaffold deployment add)"
        )
    notes: list[str] = combine(project, differing)
    return notes


def _top_samples(project: Path, default: str) -> None:
    """The top-level samples are the default model's (what `az ml online-endpoint invoke`
    and `scaffold loadtest` send), or none when it has none."""
    for sample in SAMPLES:
        source = project / "samples" / default / sample
        if source.is_file():
            shutil.copyfile(source, project / sample)
        else:
            _remove(project, sample)
