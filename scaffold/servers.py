"""The registry of model servers: the one place in scaffold's code that knows them apart.

The template keeps its own table of the same facts (`facts` in templates/copier.yml) so
that it works with plain copier; tests check that both agree. After generation, the
project's deployment.yml is the source of truth, not this registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSpec:
    """What scaffold knows about one model server."""

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


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            name="plumber",
            label="R Plumber",
            port=8000,
            liveness="/live",
            readiness="/ready",
            scoring="/score",
            code_dir="src",
            scoring_script="plumber.R",
            sample="lm(mpg ~ wt + hp, mtcars) as model.rds",
        ),
        ServerSpec(
            name="minimal",
            label="Azure ML minimal inference server (azmlinfsrv, score.py)",
            port=5001,
            liveness="/",
            readiness="/",
            scoring="/score",
            code_dir="src",
            scoring_script="score.py",
            sample="a linear model stored as JSON (no ML library needed)",
        ),
        ServerSpec(
            name="tfserving",
            label="TensorFlow Serving",
            port=8501,
            liveness="/v1/models/half_plus_two",
            readiness="/v1/models/half_plus_two",
            scoring="/v1/models/half_plus_two:predict",
            code_dir="",
            scoring_script="",
            sample="half_plus_two SavedModel (y = 0.5x + 2)",
        ),
        ServerSpec(
            name="torchserve",
            label="TorchServe",
            port=8080,
            liveness="/ping",
            readiness="/ping",
            scoring="/predictions/half_plus_two",
            code_dir="",
            scoring_script="",
            sample="half_plus_two .mar with a custom handler",
        ),
        ServerSpec(
            name="triton",
            label="NVIDIA Triton Inference Server",
            port=8000,
            liveness="/v2/health/live",
            readiness="/v2/health/ready",
            scoring="/v2/models/half_plus_two/infer",
            code_dir="",
            scoring_script="",
            sample="half_plus_two Python-backend model",
        ),
    )
}


def get(name: str) -> ServerSpec:
    """Return the spec for `name`; raise KeyError with the known names otherwise."""
    try:
        return SERVERS[name]
    except KeyError:
        raise KeyError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}") from None
