"""The registry of model servers: the one place in scaffold's code that knows them apart.

The template keeps its own table of the same facts (`facts` in templates/copier.yml) so
that it works with plain copier; tests check that both agree. After generation, the
project's deployment.yml is the source of truth, not this registry.
"""

from __future__ import annotations

from typing import NamedTuple


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
    # For `scaffold validate` on projects without an answers file (hand-written ones):
    #: Substrings of base image names (Dockerfile FROM, environment.image) naming this server.
    image_hints: tuple[str, ...] = ()
    #: Substrings of the container command (ENTRYPOINT + CMD) naming this server.
    command_hints: tuple[str, ...] = ()
    #: File name patterns in the model, build context or code folders naming this server.
    file_hints: tuple[str, ...] = ()
    #: The base image's ENTRYPOINT evaluates its arguments, so $VARS in an exec-form CMD expand.
    base_entrypoint_evals: bool = False
    #: Name of the server's cross-file contract check in scaffold.contracts, run by
    #: `scaffold validate` (a name, so importing the registry stays cheap).
    contract: str = ""
    #: Environment variable setting the server's worker processes (azmlinfsrv's
    #: WORKER_COUNT), which `scaffold loadtest` sizes; "" when the server has none.
    worker_env: str = ""


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
            image_hints=("rstudio/plumber", "rocker/"),
            command_hints=("plumber", "Rscript"),
            file_hints=("*.R",),
            contract="check_plumber",
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
            image_hints=(
                "mcr.microsoft.com/azureml/minimal",
                "mcr.microsoft.com/azureml/curated",
                "-inference",
            ),
            command_hints=("azmlinfsrv", "runsvdir"),
            file_hints=("score.py",),
            contract="check_minimal",
            worker_env="WORKER_COUNT",
        ),
        ServerSpec(
            name="tfserving",
            label="TensorFlow Serving",
            port=8501,
            liveness="/v1/models/half_plus_two",
            # The status route answers 200 while a version is still LOADING; metadata needs
            # a loaded servable, so readiness waits for the model.
            readiness="/v1/models/half_plus_two/metadata",
            scoring="/v1/models/half_plus_two:predict",
            code_dir="",
            scoring_script="",
            sample="half_plus_two SavedModel (y = 0.5x + 2)",
            image_hints=("tensorflow/serving",),
            command_hints=("tensorflow_model_server", "tf_serving_entrypoint"),
            file_hints=("saved_model.pb",),
            contract="check_tfserving",
        ),
        ServerSpec(
            name="torchserve",
            label="TorchServe",
            port=8080,
            liveness="/ping",
            # /ping answers 200 before the model's worker is loaded (and for minutes when it
            # never loads); a GET on the predictions route queues until the worker is ready.
            readiness="/predictions/half_plus_two",
            scoring="/predictions/half_plus_two",
            code_dir="",
            scoring_script="",
            sample="half_plus_two .mar with a custom handler",
            image_hints=("pytorch/torchserve",),
            command_hints=("torchserve",),
            file_hints=("*.mar",),
            base_entrypoint_evals=True,  # dockerd-entrypoint.sh runs `eval "$@"`
            contract="check_torchserve",
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
            image_hints=("tritonserver",),
            command_hints=("tritonserver",),
            file_hints=("config.pbtxt",),
            contract="check_triton",
        ),
    )
}


def get(name: str) -> ServerSpec:
    """Return the spec for `name`; raise KeyError with the known names otherwise."""
    try:
        return SERVERS[name]
    except KeyError:
        raise KeyError(f"unknown server {name!r}; choose one of {', '.join(SERVERS)}") from None
