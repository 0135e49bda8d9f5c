"""The per-model samples of a deployment that serves several models (`samples/<model>/`).

`smoke_test.py` scores each model with its folder's `sample_request.json` and
`sample_response.json`, on its own route (models chosen by path) or on the scoring route
with the request's "model" field (models chosen by the request). So each folder must hold
both files as JSON, name a model the server serves (as far as the contract knows them:
`Context.served_models`), and, for request-chosen models, ask for that model. A served
model without samples is smoke-tested by nobody: a warning (in projects that keep per-model
samples, or that scaffold generated).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaffold.validate.model import Context

SAMPLES = ("sample_request.json", "sample_response.json")


def samples_dir(ctx: Context) -> Path:
    """The deployment's per-model samples folder: in the folder of its model, code and build
    context (the project's, or its own, scaffold.deployments.deployment_folder)."""
    from scaffold.deployments import deployment_folder

    return deployment_folder(ctx.root, ctx.deployment_path, ctx.deployment) / "samples"


def check_model_samples(ctx: Context) -> None:
    """Each samples/<model>/ holds valid samples of a served model; each served model of a
    several-model deployment has samples."""
    folder = samples_dir(ctx)
    models = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    served = ctx.served_models
    chosen_by = ctx.spec.several_models.chosen_by if ctx.spec else ""
    for model in models:
        request = _sample(ctx, model, SAMPLES[0])
        _sample(ctx, model, SAMPLES[1])
        rel = ctx.rel(model)
        if served is not None and model.name not in served:
            shown = ", ".join(sorted(served)) or "none"
            ctx.error(
                "samples.model.not_served",
                rel,
                "",
                f"{rel}/ holds samples of model {model.name}, which the server does not serve "
                f"(it serves {shown})",
                f"Add the model {model.name} to the deployment, or rename or remove {rel}/",
            )
        if chosen_by == "request" and isinstance(request, dict):
            asked = request.get("model")
            if asked != model.name:
                ctx.error(
                    "samples.model.field",
                    f"{rel}/{SAMPLES[0]}",
                    "model",
                    f"{rel}/{SAMPLES[0]} asks for model {json.dumps(asked)}, not {model.name}: "
                    'the request\'s "model" field chooses the model',
                    f'Set "model": "{model.name}" in it',
                )
    _check_listed_models(ctx, served)
    if served is None or len(served) < 2 or not (models or ctx.answers):
        return  # a hand-written project without per-model samples smoke-tests its own way
    missing = sorted(served - {m.name for m in models})
    if missing:
        shown = ", ".join(missing)
        ctx.warn(
            "samples.model.missing",
            ctx.rel(folder) if folder.exists() else "samples",
            "",
            f"the deployment serves {len(served)} models, but {shown} "
            f"{'has' if len(missing) == 1 else 'have'} no samples, so the smoke test never "
            "scores " + ("it" if len(missing) == 1 else "them"),
            f"Add samples/<model>/{SAMPLES[0]} and {SAMPLES[1]} for {shown}",
        )


def _sample(ctx: Context, model: Path, name: str) -> Any:
    path = model / name
    rel = ctx.rel(path)
    if not path.is_file():
        ctx.error(
            "smoke.sample.missing",
            rel,
            "",
            f"{rel} is missing: the smoke test scores model {model.name} with it",
            f"Add {rel} (the model's {'request' if name == SAMPLES[0] else 'expected response'})",
        )
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        ctx.error(
            "smoke.sample.invalid",
            rel,
            "",
            f"{rel} is not valid JSON: {error}",
            "Fix the JSON (the smoke test sends or compares it)",
        )
        return None


def _check_listed_models(ctx: Context, served: set[str] | None) -> None:
    """The models the project's answers list (several models by path) must be served."""
    listed = ctx.answers.get("models")
    if served is None or not isinstance(listed, list):
        return
    for name in listed:
        if isinstance(name, str) and name not in served:
            ctx.error(
                "samples.model.not_served",
                ".copier-answers.yml",
                "models",
                f"the project lists model {name} (models), but the server does not serve it",
                f"Add the model {name} (its folder or archive, and its entry in the server's "
                "model list), or drop it from models with scaffold update --data 'models=[...]'",
            )
