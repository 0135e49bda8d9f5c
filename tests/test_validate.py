"""scaffold validate: a catalogue of broken projects, each with the exact problem it must
report; generated and hand-written projects; the schema step with and without azure-ai-ml;
speed of the SDK-free path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, SERVERS, Render
from scaffold.servers import SERVERS as REGISTRY
from scaffold.validate import ValidationReport, schema, validate_project
from scaffold.validate import model as v

CASES = Path(__file__).parent / "validate_cases"
D, E = "deployment.yml", "endpoint.yml"
IC = "environment.inference_config"
ROUTES = ("liveness_route", "readiness_route", "scoring_route")
R_DEP, R_EP = "r-deployment.yml", "r-endpoint.yml"
TS_DEP, TF_DEP, TR_DEP = (
    "torchserve-deployment.yml",
    "tfserving-deployment.yml",
    "triton-cc-deployment.yml",
)

#: Warnings a freshly generated project may carry, with the reason.
#: None today: the TF Serving and TorchServe templates probe readiness on model-aware routes
#: (/v1/models/<m>/metadata, /predictions/<m>), so `probe.same_route` no longer applies.
#: Warnings a default project carries on purpose, from the facts: a documented tag that is
#: `latest` (the Azure ML images: pin its digest), and an end-of-life server (TorchServe).
ALLOWED_WARNINGS: dict[str, set[str]] = {
    name: {
        code
        for code, applies in (
            ("image.latest", spec.base_image.endswith(":latest")),
            ("image.end_of_life", bool(spec.base_image_lifecycle.end_of_life)),
        )
        if applies
    }
    for name, spec in REGISTRY.items()
}

Edit = Callable[[Path], None]
Expected = tuple[str, str, str, str]  # severity, code, file, key


# --- Editing helpers ---------------------------------------------------------------------------
def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _parent(data: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    *parts, leaf = dotted.split(".")
    for part in parts:
        data = data.setdefault(part, {})
    return data, leaf


def set_key(file: str, dotted: str, value: Any) -> Edit:
    def edit(project: Path) -> None:
        data = _load(project / file)
        node, leaf = _parent(data, dotted)
        node[leaf] = value
        _dump(project / file, data)

    return edit


def del_key(file: str, dotted: str) -> Edit:
    def edit(project: Path) -> None:
        data = _load(project / file)
        node, leaf = _parent(data, dotted)
        del node[leaf]
        _dump(project / file, data)

    return edit


def rename_key(file: str, dotted: str, new: str) -> Edit:
    def edit(project: Path) -> None:
        data = _load(project / file)
        node, leaf = _parent(data, dotted)
        items = [(new if k == leaf else k, val) for k, val in node.items()]
        node.clear()
        node.update(items)
        _dump(project / file, data)

    return edit


def sub(file: str, old: str, new: str) -> Edit:
    def edit(project: Path) -> None:
        text = (project / file).read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {file}"
        (project / file).write_text(text.replace(old, new), encoding="utf-8")

    return edit


def write(file: str, text: str) -> Edit:
    def edit(project: Path) -> None:
        (project / file).parent.mkdir(parents=True, exist_ok=True)
        (project / file).write_text(textwrap.dedent(text), encoding="utf-8")

    return edit


def remove(file: str) -> Edit:
    def edit(project: Path) -> None:
        target = project / file
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return edit


def move(old: str, new: str) -> Edit:
    def edit(project: Path) -> None:
        (project / old).rename(project / new)

    return edit


def both_endpoint_names(name: str) -> list[Edit]:
    return [set_key(E, "name", name), set_key(D, "endpoint_name", name)]


def all_ports(file: str, port: int) -> list[Edit]:
    return [set_key(file, f"{IC}.{r}.port", port) for r in ROUTES]


def errors(code: str, file: str, *keys: str) -> list[Expected]:
    return [("error", code, file, key) for key in keys]


def port_keys(*routes: str) -> list[str]:
    return [f"{IC}.{r}.port" for r in routes or ROUTES]


# --- Fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """pristine(server) -> a project rendered once per module (copy it before editing)."""
    from scaffold.generate import new_project

    cache: dict[str, Path] = {}

    def _get(server: str) -> Path:
        if server not in cache:
            dest = tmp_path_factory.mktemp("pristine") / f"{server}-ep"
            answers = {"server": server, "endpoint_name": dest.name}  # no unique suffix
            cache[server] = new_project(dest, answers, git_init=False).path
        return cache[server]

    return _get


@pytest.fixture(scope="module")
def baseline(pristine: Callable[[str], Path]) -> Callable[[str], set[Expected]]:
    """baseline(base) -> the problems of the unedited project (fixtures carry some warnings)."""
    cache: dict[str, set[Expected]] = {}

    def _get(base: str) -> set[Expected]:
        if base not in cache:
            source = CASES / base if (CASES / base).is_dir() else pristine(base)
            cache[base] = found(validate_project(source, schema=False))
        return cache[base]

    return _get


@pytest.fixture
def project(pristine: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """project(server or validate_cases folder) -> an editable copy."""

    def _copy(base: str) -> Path:
        source = CASES / base if (CASES / base).is_dir() else pristine(base)
        target = tmp_path / source.name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git"))
        return target

    return _copy


def found(report: ValidationReport) -> set[Expected]:
    return {(p.severity, p.code, p.file, p.key) for p in report.problems}


def show(report: ValidationReport) -> str:
    return "\n".join(
        f"{p.severity} {p.code} {p.file} [{p.key}] {p.message}" for p in report.problems
    )


# --- The catalogue: one broken project per check -----------------------------------------------
CATALOGUE: list[tuple[str, str, list[Edit], list[Expected]]] = [
    # Keys the schema does not know, required keys, types (own checks; the SDK agrees).
    (
        "unknown-top-level-key",
        "plumber",
        [rename_key(D, "instance_type", "instance_typ")],
        errors("schema.unknown_field", D, "instance_typ"),
    ),
    (
        "unknown-route-key",
        "plumber",
        [rename_key(D, f"{IC}.scoring_route", "scoring_rout")],
        errors("schema.unknown_field", D, f"{IC}.scoring_rout"),
    ),
    (
        "unknown-probe-key",
        "plumber",
        [rename_key(D, "liveness_probe.initial_delay", "initial_dely")],
        errors("schema.unknown_field", D, "liveness_probe.initial_dely"),
    ),
    (
        "unknown-endpoint-key",
        "plumber",
        [rename_key(E, "auth_mode", "auth_mod")],
        errors("schema.unknown_field", E, "auth_mod"),
    ),
    (
        "missing-name",
        "plumber",
        [del_key(D, "name")],
        [("warning", "name.deployment.missing", D, "name")],
    ),
    (
        "missing-route-port",
        "plumber",
        [del_key(D, f"{IC}.liveness_route.port")],
        errors("schema.missing_field", D, f"{IC}.liveness_route.port"),
    ),
    (
        "missing-route",
        "plumber",
        [del_key(D, f"{IC}.readiness_route")],
        errors("schema.missing_field", D, f"{IC}.readiness_route"),
    ),
    (
        "port-not-a-number",
        "plumber",
        [set_key(D, f"{IC}.scoring_route.port", "abc")],
        errors("schema.type", D, f"{IC}.scoring_route.port"),
    ),
    (
        "count-not-a-number",
        "plumber",
        [set_key(D, "instance_count", "two")],
        errors("schema.type", D, "instance_count"),
    ),
    (
        "auth-mode",
        "plumber",
        [set_key(E, "auth_mode", "password")],
        errors("schema.choice", E, "auth_mode"),
    ),
    # Names (the SDK checks only the endpoint pattern; none of the rest).
    (
        "endpoint-name-long",
        "plumber",
        both_endpoint_names("e" * 40),
        errors("name.endpoint.length", E, "name"),
    ),
    (
        "endpoint-name-short",
        "plumber",
        both_endpoint_names("ep"),
        errors("name.endpoint.length", E, "name"),
    ),
    (
        "endpoint-name-pattern",
        "plumber",
        both_endpoint_names("1endpoint"),
        errors("name.endpoint.pattern", E, "name"),
    ),
    (
        "endpoint-name-underscore",
        "plumber",
        both_endpoint_names("my_endpoint"),
        errors("name.endpoint.pattern", E, "name"),
    ),
    (
        "endpoint-name-trailing-dash",
        "plumber",
        both_endpoint_names("endpoint-"),
        errors("name.endpoint.trailing_dash", E, "name"),
    ),
    (
        "endpoint-name-uppercase",
        "plumber",
        both_endpoint_names("MyEndpoint"),
        errors("name.endpoint.case", E, "name"),
    ),
    (
        "deployment-name-pattern",
        "plumber",
        [set_key(D, "name", "my_dep")],
        errors("name.deployment.pattern", D, "name"),
    ),
    (
        "deployment-name-long",
        "plumber",
        [set_key(D, "name", "d" * 40)],
        errors("name.deployment.length", D, "name"),
    ),
    (
        "deployment-name-trailing-dash",
        "plumber",
        [set_key(D, "name", "blue-")],
        errors("name.deployment.trailing_dash", D, "name"),
    ),
    (
        "deployment-name-uppercase",
        "plumber",
        [set_key(D, "name", "Blue")],
        errors("name.deployment.case", D, "name"),
    ),
    (
        "endpoint-name-mismatch",
        "plumber",
        [set_key(D, "endpoint_name", "other-ep")],
        errors("name.endpoint.mismatch", D, "endpoint_name"),
    ),
    (
        "endpoint-name-no-endpoint-file",
        "plumber",
        [remove(E), set_key(D, "endpoint_name", "Bad_Name")],
        errors("name.endpoint.pattern", D, "endpoint_name")
        + errors("name.endpoint.case", D, "endpoint_name")
        + [("info", "endpoint.file.none", D, "")],
    ),
    # Names YAML reads as another type (`name: null`, `yes`, `1e3`): caught without the SDK.
    (
        "endpoint-name-null",
        "plumber",
        [sub(E, 'name: "plumber-ep"', "name: null")],
        errors("name.null", E, "name"),
    ),
    (
        "endpoint-names-yaml-bool",
        "plumber",
        [
            sub(E, 'name: "plumber-ep"', "name: yes"),
            sub(D, 'endpoint_name: "plumber-ep"', "endpoint_name: true"),
        ],
        errors("schema.type", E, "name") + errors("schema.type", D, "endpoint_name"),
    ),
    (
        "deployment-name-number",
        "plumber",
        [sub(D, 'name: "blue"', "name: 1.0e+3")],
        errors("schema.type", D, "name"),
    ),
    (
        "deployment-name-hex",
        "plumber",
        [sub(D, 'name: "blue"', "name: 0x10")],
        errors("schema.type", D, "name"),
    ),
    (
        "deployment-name-empty",
        "plumber",
        [sub(D, 'name: "blue"', "name:")],
        errors("name.null", D, "name"),
    ),
    (
        "deployment-endpoint-name-null",
        "plumber",
        [sub(D, 'endpoint_name: "plumber-ep"', "endpoint_name: ~")],
        errors("name.null", D, "endpoint_name"),
    ),
    (
        "deployment-name-missing-given-by-deploy-script",
        "plumber",
        [
            del_key(D, "name"),
            write("deploy.sh", "az ml online-deployment create --name blue -f deployment.yml\n"),
        ],
        [],
    ),
    (
        "endpoint-name-missing",
        "plumber",
        [del_key(E, "name")],
        [("warning", "endpoint.name.missing", E, "name")],
    ),
    # Environment and routes.
    ("no-inference-config", "plumber", [del_key(D, IC)], errors("routes.missing", D, IC)),
    (
        "port-out-of-range",
        "plumber",
        [set_key(D, f"{IC}.scoring_route.port", 70000)],
        errors("route.port.invalid", D, f"{IC}.scoring_route.port"),
    ),
    (
        "path-without-slash",
        "plumber",
        [set_key(D, f"{IC}.scoring_route.path", "score")],
        errors("route.path.slash", D, f"{IC}.scoring_route.path"),
    ),
    (
        "image-and-build",
        "plumber",
        [set_key(D, "environment.image", "myacr.azurecr.io/p:1")],
        errors("environment.image_and_build", D, "environment"),
    ),
    (
        "neither-image-nor-build",
        "plumber",
        [del_key(D, "environment.build")],
        errors("environment.no_image_or_build", D, "environment"),
    ),
    (
        "no-environment",
        "plumber",
        [del_key(D, "environment")],
        errors("environment.missing", D, "environment"),
    ),
    (
        "image-invalid",
        "plumber",
        [del_key(D, "environment.build"), set_key(D, "environment.image", "not a valid image")],
        errors("image.invalid", D, "environment.image"),
    ),
    (
        "image-placeholder",
        "azure-r-multimodel-plumber",
        [set_key(R_DEP, "environment.image", "{{ACR_NAME}}.azurecr.io/r_server")],
        # A template a deploy script fills in (Microsoft's examples): a warning, not an error.
        [("warning", "placeholder", R_DEP, "environment.image")],
    ),
    (
        "image-invalid",
        "azure-r-multimodel-plumber",
        [set_key(R_DEP, "environment.image", "myacr.azurecr.io/R Server")],
        errors("image.invalid", R_DEP, "environment.image"),
    ),
    (
        "image-untagged",
        "plumber",
        [del_key(D, "environment.build"), set_key(D, "environment.image", "myacr.azurecr.io/pl")],
        [("warning", "image.latest", D, "environment.image")],
    ),
    (
        "image-latest",
        "plumber",
        [del_key(D, "environment.build"), set_key(D, "environment.image", "myacr.io/pl:latest")],
        [("warning", "image.latest", D, "environment.image")],
    ),
    (
        "from-latest",
        "plumber",
        [sub("docker-context/Dockerfile", "FROM rstudio/plumber:v1.3.0", "FROM rstudio/plumber")],
        [("warning", "image.latest", "docker-context/Dockerfile", "FROM (line 6)")],
    ),
    (
        "build-path-missing",
        "plumber",
        [set_key(D, "environment.build.path", "./nope")],
        errors("path.build.not_found", D, "environment.build.path"),
    ),
    (
        "build-without-path",
        "plumber",
        [del_key(D, "environment.build.path")],
        errors("schema.missing_field", D, "environment.build.path"),
    ),
    (
        "dockerfile-missing",
        "plumber",
        [set_key(D, "environment.build.dockerfile_path", "X")],
        errors("path.dockerfile.not_found", D, "environment.build.dockerfile_path"),
    ),
    # Model and code.
    (
        "model-path-missing",
        "plumber",
        [set_key(D, "model.path", "./nope")],
        errors("path.model.not_found", D, "model.path"),
    ),
    (
        "model-without-path",
        "plumber",
        [del_key(D, "model.path")],
        errors("model.path.missing", D, "model.path"),
    ),
    (
        "mount-path-relative",
        "plumber",
        [set_key(D, "model_mount_path", "models")],
        errors("model_mount_path.relative", D, "model_mount_path"),
    ),
    (
        "model-ref-no-version",
        "plumber",
        [set_key(D, "model", "azureml:mymodel")],
        errors("reference.malformed", D, "model"),
    ),
    (
        "model-ref-empty",
        "plumber",
        [set_key(D, "model", "azureml:")],
        errors("reference.malformed", D, "model"),
    ),
    (
        "environment-ref-no-prefix",
        "plumber",
        [set_key(D, "environment", "myenv:1")],
        errors("reference.malformed", D, "environment"),
    ),
    (
        "code-missing",
        "plumber",
        [set_key(D, "code_configuration.code", "./nope")],
        errors("path.code.not_found", D, "code_configuration.code"),
    ),
    (
        "scoring-script-missing",
        "plumber",
        [set_key(D, "code_configuration.scoring_script", "nope.R")],
        errors("path.scoring_script.not_found", D, "code_configuration.scoring_script"),
    ),
    (
        "code-without-scoring-script",
        "plumber",
        [del_key(D, "code_configuration.scoring_script")],
        errors("code.scoring_script.missing", D, "code_configuration.scoring_script"),
    ),
    (
        "model-file-outside-model",
        "plumber",
        [set_key(D, "environment_variables", {"MODEL_FILE": "model/nope.rds"})],
        errors("model.file.not_found", D, "environment_variables.MODEL_FILE"),
    ),
    # Settings.
    (
        "env-nested",
        "plumber",
        [set_key(D, "environment_variables", {"A": {"b": 1}})],
        errors("env.value.nested", D, "environment_variables.A"),
    ),
    (
        "env-list",
        "plumber",
        [set_key(D, "environment_variables", {"A": [1, 2]})],
        errors("env.value.nested", D, "environment_variables.A"),
    ),
    (
        "env-not-string",
        "plumber",
        [set_key(D, "environment_variables", {"DEBUG": True})],
        [("warning", "env.value.not_string", D, "environment_variables.DEBUG")],
    ),
    (
        "instance-count-zero",
        "plumber",
        [set_key(D, "instance_count", 0)],
        errors("instance_count.range", D, "instance_count"),
    ),
    (
        "instance-count-over-limit",
        "plumber",
        [set_key(D, "instance_count", 51)],
        errors("instance_count.range", D, "instance_count"),
    ),
    (
        "instance-type-unknown",
        "plumber",
        [set_key(D, "instance_type", "Standard_Bogus")],
        [("warning", "instance_type.unknown", D, "instance_type")],
    ),
    (
        "timeout-over-limit",
        "plumber",
        [set_key(D, "request_settings.request_timeout_ms", 180001)],
        errors("request_timeout.range", D, "request_settings.request_timeout_ms"),
    ),
    (
        "timeout-zero",
        "plumber",
        [set_key(D, "request_settings.request_timeout_ms", 0)],
        errors("request_timeout.range", D, "request_settings.request_timeout_ms"),
    ),
    (
        "concurrency-zero",
        "plumber",
        [set_key(D, "request_settings.max_concurrent_requests_per_instance", 0)],
        errors("max_concurrent.range", D, "request_settings.max_concurrent_requests_per_instance"),
    ),
    (
        "probe-values",
        "plumber",
        [
            set_key(D, "liveness_probe.initial_delay", -5),
            set_key(D, "readiness_probe.period", 0),
            set_key(D, "readiness_probe.timeout", 0),
        ],
        errors(
            "probe.range",
            D,
            "liveness_probe.initial_delay",
            "readiness_probe.period",
            "readiness_probe.timeout",
        ),
    ),
    (
        "liveness-success-threshold",
        "plumber",
        [set_key(D, "liveness_probe.success_threshold", 3)],
        [("warning", "probe.success_threshold", D, "liveness_probe.success_threshold")],
    ),
    (
        "traffic-at-creation",
        "plumber",
        [set_key(E, "traffic", {"blue": 100})],
        errors("endpoint.traffic", E, "traffic"),
    ),
    # Files.
    (
        "yaml-syntax",
        "plumber",
        [write(D, "name: [blue\nendpoint_name: x\n")],
        errors("yaml.syntax", D, ""),
    ),
    ("yaml-empty", "plumber", [write(D, "")], errors("yaml.not_mapping", D, "")),
    ("no-deployment-file", "plumber", [remove(D)], errors("file.missing", D, "")),
    (
        "sample-request-missing",
        "plumber",
        [remove("sample_request.json")],
        errors("smoke.sample.missing", "sample_request.json", ""),
    ),
    (
        "sample-request-invalid",
        "plumber",
        [write("sample_request.json", "{bad json")],
        errors("smoke.sample.invalid", "sample_request.json", ""),
    ),
    (
        "deployment-file-not-utf8",
        "plumber",
        [lambda root: (root / D).write_bytes(b"name: \xff\xfe blue\n")],
        errors("file.unreadable", D, ""),
    ),
    (
        "second-deployment-file-half-written",
        "azure-r-multimodel-plumber",
        [lambda root: (root / "green-deployment.yml").write_text("name: green\n")],
        errors("schema.missing_field", "green-deployment.yml", "instance_type")
        + errors("environment.missing", "green-deployment.yml", "environment")
        + [("warning", "name.endpoint.missing", "green-deployment.yml", "endpoint_name")],
    ),
    # Plumber contract.
    (
        "plumber-port",
        "plumber",
        [sub("docker-context/start_plumber.R", "port <- 8000", "port <- 8001")],
        errors("route.port.mismatch", D, *port_keys()),
    ),
    (
        "plumber-loopback",
        "plumber",
        [sub("docker-context/start_plumber.R", 'host = "0.0.0.0"', 'host = "127.0.0.1"')],
        errors("server.bind.loopback", "docker-context/start_plumber.R", ""),
    ),
    (
        "plumber-default-host",
        "plumber",
        [sub("docker-context/start_plumber.R", 'host = "0.0.0.0", ', "")],
        errors("server.bind.loopback", "docker-context/start_plumber.R", ""),
    ),
    (
        "plumber-no-port",
        "plumber",
        [
            write(
                "docker-context/start_plumber.R",
                """\
         entry <- file.path(Sys.getenv("AML_APP_ROOT"), Sys.getenv("AZUREML_ENTRY_SCRIPT"))
         pr <- plumber::plumb(entry)
         pr$run(host = "0.0.0.0")  # no port = ... here
         """,
            )
        ],
        errors("plumber.port.missing", "docker-context/start_plumber.R", ""),
    ),
    (
        "plumber-route-not-served",
        "plumber",
        [set_key(D, f"{IC}.liveness_route.path", "/health")],
        errors("route.path.not_served", D, f"{IC}.liveness_route.path"),
    ),
    (
        "plumber-scoring-method",
        "plumber",
        [sub("src/plumber.R", "#* @post /score", "#* @get /score")],
        [("warning", "route.method.mismatch", "src/plumber.R", "")],
    ),
    (
        "plumber-probe-method",
        "plumber",
        [sub("src/plumber.R", "#* @get /ready", "#* @post /ready")],
        errors("route.method.mismatch", "src/plumber.R", ""),
    ),
    (
        "plumber-no-code-configuration",
        "plumber",
        [del_key(D, "code_configuration")],
        errors("plumber.entry.unset", D, "code_configuration"),
    ),
    (
        "exec-form-variables",
        "plumber",
        [
            sub(
                "docker-context/Dockerfile",
                'ENTRYPOINT ["Rscript", "/opt/scaffold/start_plumber.R"]',
                'ENTRYPOINT ["Rscript", "$START_SCRIPT"]',
            )
        ],
        errors("dockerfile.exec_vars", "docker-context/Dockerfile", "ENTRYPOINT (line 15)"),
    ),
    (
        "expose-differs",
        "plumber",
        [sub("docker-context/Dockerfile", "EXPOSE 8000", "EXPOSE 9000")],
        [("warning", "dockerfile.expose", "docker-context/Dockerfile", "EXPOSE")],
    ),
    # azmlinfsrv contract.
    ("minimal-port", "minimal", all_ports(D, 5002), errors("route.port.mismatch", D, *port_keys())),
    (
        "minimal-port-flag",
        "minimal",
        [
            sub(
                "docker-context/Dockerfile",
                "EXPOSE 5001",
                'EXPOSE 5001\nCMD ["azmlinfsrv", "--entry_script", "/app/score.py", '
                '"--port", "5002"]',
            )
        ],
        errors("route.port.mismatch", D, *port_keys()),
    ),
    (
        "minimal-scoring-path",
        "minimal",
        [set_key(D, f"{IC}.scoring_route.path", "/predict")],
        errors("route.path.not_served", D, f"{IC}.scoring_route.path"),
    ),
    (
        "minimal-no-run",
        "minimal",
        [sub("src/score.py", "def run(", "def score(")],
        errors("minimal.score.entry", "src/score.py", ""),
    ),
    (
        "minimal-syntax",
        "minimal",
        [sub("src/score.py", "def init() -> None:", "def init( -> None:")],
        errors("minimal.score.syntax", "src/score.py", ""),
    ),
    (
        "minimal-no-code-configuration",
        "minimal",
        [del_key(D, "code_configuration")],
        errors("minimal.entry.missing", D, "code_configuration"),
    ),
    (
        "minimal-workers",
        "minimal",
        [set_key(D, "environment_variables.WORKER_COUNT", "4")],
        [
            (
                "warning",
                "concurrency.workers",
                D,
                "request_settings.max_concurrent_requests_per_instance",
            )
        ],
    ),
    # Hand-written R (Azure multimodel-plumber layout).
    (
        "r-loopback",
        "azure-r-multimodel-plumber",
        [sub("scripts/start_plumber.R", "host = '0.0.0.0'", "host = '127.0.0.1'")],
        errors("server.bind.loopback", "scripts/start_plumber.R", ""),
    ),
    (
        "r-port",
        "azure-r-multimodel-plumber",
        all_ports(R_DEP, 8080),
        errors("route.port.mismatch", R_DEP, *port_keys()),
    ),
    (
        "r-readiness-not-served",
        "azure-r-multimodel-plumber",
        [set_key(R_DEP, f"{IC}.readiness_route.path", "/readyz")],
        errors("route.path.not_served", R_DEP, f"{IC}.readiness_route.path"),
    ),
    # Hand-written TorchServe (Azure densenet layout).
    (
        "ts-model-not-registered",
        "azure-torchserve-densenet",
        [set_key(TS_DEP, "environment_variables.TORCHSERVE_MODELS", "resnet=resnet.mar")],
        errors("route.model.mismatch", TS_DEP, f"{IC}.scoring_route.path")
        + errors("torchserve.mar.not_found", TS_DEP, "environment_variables.TORCHSERVE_MODELS"),
    ),
    (
        "ts-models-unset",
        "azure-torchserve-densenet",
        [del_key(TS_DEP, "environment_variables")],
        errors("torchserve.models.missing", TS_DEP, "environment_variables.TORCHSERVE_MODELS"),
    ),
    (
        "ts-entrypoint-replaced",
        "azure-torchserve-densenet",
        [sub("torchserve.dockerfile", "\nCMD", "\nENTRYPOINT []\nCMD")],
        [
            *errors("dockerfile.exec_vars", "torchserve.dockerfile", "CMD (line 4)"),
            (
                "warning",
                "dockerfile.entrypoint_empty",
                "torchserve.dockerfile",
                "ENTRYPOINT (line 3)",
            ),
        ],
    ),
    (
        "ts-model-store",
        "azure-torchserve-densenet",
        [move("torchserve", "archives"), set_key(TS_DEP, "model.path", "archives")],
        errors("torchserve.model_store", "torchserve.dockerfile", ""),
    ),
    (
        "ts-probe-path",
        "azure-torchserve-densenet",
        [set_key(TS_DEP, f"{IC}.liveness_route.path", "/health")],
        errors("route.path.not_served", TS_DEP, f"{IC}.liveness_route.path"),
    ),
    # TorchServe layout of scaffold's template.
    (
        "ts-loopback",
        "scaffold-torchserve",
        [sub("docker-context/config.properties", "http://0.0.0.0:8080", "http://127.0.0.1:8080")],
        errors("server.bind.loopback", "docker-context/config.properties", "inference_address"),
    ),
    (
        "ts-no-inference-address",
        "scaffold-torchserve",
        [sub("docker-context/config.properties", "inference_address=http://0.0.0.0:8080\n", "")],
        errors("server.bind.loopback", "docker-context/config.properties", "inference_address"),
    ),
    (
        "ts-port",
        "scaffold-torchserve",
        [sub("docker-context/config.properties", "0.0.0.0:8080", "0.0.0.0:8085")],
        errors("route.port.mismatch", D, *port_keys()),
    ),
    (
        "ts-mar-missing",
        "scaffold-torchserve",
        [remove("model/half_plus_two.mar")],
        errors("torchserve.mar.not_found", D, "environment_variables.TORCHSERVE_MODELS"),
    ),
    (
        "ts-workers",
        "scaffold-torchserve",
        [
            sub(
                "docker-context/config.properties",
                "default_workers_per_model=1",
                "default_workers_per_model=4",
            )
        ],
        [
            (
                "warning",
                "concurrency.workers",
                D,
                "request_settings.max_concurrent_requests_per_instance",
            )
        ],
    ),
    (
        "ts-no-model-store",
        "scaffold-torchserve",
        [sub("docker-context/start-torchserve.sh", '--model-store "$MODEL_STORE" \\\n', "")],
        errors("torchserve.model_store.missing", "docker-context/Dockerfile", ""),
    ),
    # TF Serving (Azure half-plus-two layout).
    (
        "tf-base-path-with-folder",
        "azure-tfserving-half-plus-two",
        [
            set_key(
                TF_DEP,
                "environment_variables.MODEL_BASE_PATH",
                "/var/azureml-app/azureml-models/tfserving-mounted/1/half_plus_two",
            )
        ],
        errors("tfserving.model_base_path", TF_DEP, "environment_variables.MODEL_BASE_PATH"),
    ),
    (
        "tf-base-path-unset",
        "azure-tfserving-half-plus-two",
        [del_key(TF_DEP, "environment_variables.MODEL_BASE_PATH")],
        errors("tfserving.model_base_path", TF_DEP, "environment_variables.MODEL_BASE_PATH"),
    ),
    (
        "tf-model-name",
        "azure-tfserving-half-plus-two",
        [set_key(TF_DEP, "environment_variables.MODEL_NAME", "hpt")],
        errors("tfserving.model_name", TF_DEP, "environment_variables.MODEL_NAME")
        + errors("route.model.mismatch", TF_DEP, *(f"{IC}.{r}.path" for r in ROUTES)),
    ),
    (
        "tf-no-version-folder",
        "azure-tfserving-half-plus-two",
        [move("half_plus_two/00000123", "half_plus_two/v1")],
        errors("tfserving.version.missing", "half_plus_two", ""),
    ),
    (
        "tf-scoring-path",
        "azure-tfserving-half-plus-two",
        [set_key(TF_DEP, f"{IC}.scoring_route.path", "/v1/models/half_plus_two/predict")],
        errors("route.path.not_served", TF_DEP, f"{IC}.scoring_route.path"),
    ),
    (
        "tf-port",
        "azure-tfserving-half-plus-two",
        all_ports(TF_DEP, 8500),
        errors("route.port.mismatch", TF_DEP, *port_keys()),
    ),
    # Triton (Azure single-model layout).
    (
        "triton-mount-path",
        "azure-triton-single-model",
        [set_key(TR_DEP, "model_mount_path", "/mnt/models")],
        errors("triton.repository.mismatch", "triton-cc.dockerfile", ""),
    ),
    (
        "triton-port",
        "azure-triton-single-model",
        [
            sub(
                "triton-cc.dockerfile",
                "--model-repository=/models",
                "--model-repository=/models --http-port=8005",
            )
        ],
        errors("route.port.mismatch", TR_DEP, *port_keys()),
    ),
    (
        "triton-model-route",
        "azure-triton-single-model",
        [set_key(TR_DEP, f"{IC}.scoring_route.path", "/v2/models/other/infer")],
        errors("route.model.mismatch", TR_DEP, f"{IC}.scoring_route.path"),
    ),
    (
        "triton-probe-path",
        "azure-triton-single-model",
        [set_key(TR_DEP, f"{IC}.liveness_route.path", "/healthz")],
        errors("route.path.not_served", TR_DEP, f"{IC}.liveness_route.path"),
    ),
    (
        "triton-no-model",
        "azure-triton-single-model",
        [remove("models/model_1/1/model.onnx")],
        errors("triton.config.missing", "models/model_1", ""),
    ),
    (
        "triton-config-name",
        "azure-triton-single-model",
        [
            write(
                "models/model_1/config.pbtxt",
                'name: "other"\nplatform: "onnxruntime_onnx"\ninput [ { name: "data_0" } ]\n',
            )
        ],
        errors("triton.config.name", "models/model_1/config.pbtxt", "name"),
    ),
    (
        "triton-model-file",
        "azure-triton-single-model",
        [write("models/model_1/config.pbtxt", 'backend: "python"\n')],
        errors("triton.model_file.missing", "models/model_1", ""),
    ),
    # A server scaffold does not know: EXPOSE is the evidence for the port.
    (
        "generic-expose",
        "handwritten-generic",
        all_ports(D, 8080),
        errors("route.port.mismatch", D, f"{IC}.liveness_route.port"),
    ),
]


@pytest.mark.parametrize(
    ("base", "edits", "expected"), [pytest.param(b, e, x, id=i) for i, b, e, x in CATALOGUE]
)
def test_catalogue(
    project: Callable[[str], Path],
    baseline: Callable[[str], set[Expected]],
    base: str,
    edits: list[Edit],
    expected: list[Expected],
) -> None:
    """Each broken project reports exactly the expected problems on top of its baseline."""
    root = project(base)
    for edit in edits:
        edit(root)
    report = validate_project(root, schema=False)
    assert found(report) - baseline(base) == set(expected), show(report)
    for problem in report.problems:
        assert problem.message and problem.fix, problem
        assert "\n" not in problem.message + problem.fix, problem


@pytest.mark.parametrize(
    ("base", "edits", "expected"), [pytest.param(b, e, x, id=i) for i, b, e, x in CATALOGUE]
)
def test_catalogue_with_schema(
    project: Callable[[str], Path], base: str, edits: list[Edit], expected: list[Expected]
) -> None:
    """The SDK step adds no second problem for an issue an own check already reported."""
    root = project(base)
    for edit in edits:
        edit(root)
    report = validate_project(root, schema=True)
    assert report.schema_checked, report.schema_note
    assert set(expected) <= found(report), show(report)
    own = validate_project(root, schema=False)
    extra = [p for p in report.problems if p not in own.problems]
    assert all(p.code.startswith("schema.") for p in extra), extra
    assert not {(p.file, p.key) for p in extra} & {(p.file, p.key) for p in own.problems}


# --- Clean projects ----------------------------------------------------------------------------
@pytest.mark.parametrize("server", SERVERS)
def test_generated_project_is_clean(render: Render, server: str) -> None:
    report = validate_project(render(server), schema=True)
    assert report.schema_checked, report.schema_note
    assert report.server == server
    assert not report.errors, show(report)
    allowed = ALLOWED_WARNINGS.get(server, set())
    assert {p.code for p in report.warnings} <= allowed, show(report)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"server": "plumber", "port": 9000, "instance_count": 3, "auth_mode": "aml_token"}, set()),
        (
            {"server": "minimal", "multi_model": True, "max_concurrent_requests_per_instance": 4},
            {("warning", "image.latest", "docker-context/Dockerfile", "FROM (line 11)")},
        ),
        ({"server": "tfserving", "model_in_image": True}, set()),
        (
            {"server": "torchserve", "max_concurrent_requests_per_instance": 4},
            {("warning", "image.end_of_life", "docker-context/Dockerfile", "FROM (line 10)")},
        ),
        # The ONNX variant ships no model file: until the user adds one, a deploy would fail.
        (
            {"server": "triton", "triton_model_format": "onnx"},
            {("error", "triton.model_file.missing", "models/half_plus_two", "")},
        ),
    ],
    ids=[
        "plumber-port-9000",
        "minimal-multi-model",
        "tfserving-model-in-image",
        "torchserve-concurrency-4",
        "triton-onnx-without-model",
    ],
)
def test_generated_variants(
    render: Render, answers: dict[str, Any], expected: set[Expected]
) -> None:
    report = validate_project(render(**answers), schema=False)
    assert found(report) == expected, show(report)


HANDWRITTEN = {
    # folder: (detected server, expected problems)
    "azure-r-multimodel-plumber": (
        "plumber",
        {
            ("warning", "image.latest", R_DEP, "environment.image"),  # image with no tag
            ("warning", "image.latest", "r.dockerfile", "FROM (line 1)"),  # rstudio/plumber:latest
            # Azure's own R sample clears the entrypoint: every build starts from scratch.
            ("warning", "dockerfile.entrypoint_empty", "r.dockerfile", "ENTRYPOINT (line 3)"),
        },
    ),
    "azure-torchserve-densenet": (
        "torchserve",
        {
            ("warning", "image.latest", "torchserve.dockerfile", "FROM (line 1)"),  # latest-cpu
            ("warning", "image.end_of_life", "torchserve.dockerfile", "FROM (line 1)"),
            ("warning", "probe.same_route", TS_DEP, f"{IC}.readiness_route.path"),
        },
    ),
    "azure-tfserving-half-plus-two": (
        "tfserving",
        {
            ("warning", "image.latest", TF_DEP, "environment.image"),
            ("warning", "probe.same_route", TF_DEP, f"{IC}.readiness_route.path"),
        },
    ),
    "azure-triton-single-model": (
        "triton",
        {
            ("warning", "image.latest", TR_DEP, "environment.image"),
        },
    ),
    "scaffold-torchserve": (
        "torchserve",
        {
            ("warning", "probe.same_route", D, f"{IC}.readiness_route.path"),
            ("warning", "image.end_of_life", "docker-context/Dockerfile", "FROM (line 1)"),
        },
    ),
    "handwritten-generic": (None, set()),
}


@pytest.mark.parametrize("case", sorted(HANDWRITTEN))
def test_handwritten_projects(case: str) -> None:
    server, expected = HANDWRITTEN[case]
    report = validate_project(CASES / case, schema=True)
    assert report.server == server
    assert found(report) == expected, show(report)


def test_answers_file_wins_over_heuristics(project: Callable[[str], Path]) -> None:
    root = project("azure-torchserve-densenet")
    (root / ".copier-answers.yml").write_text("server: triton\n", encoding="utf-8")
    assert validate_project(root, schema=False).server == "triton"


# --- Schema step -------------------------------------------------------------------------------
def test_schema_typo_in_union_is_one_problem(project: Callable[[str], Path]) -> None:
    """The environment union repeats each error per branch; one problem comes out."""
    root = project("plumber")
    rename_key(D, f"{IC}.scoring_route", "scoring_rout")(root)
    loaders, _ = schema._sdk_loaders()
    error = schema._sdk_load(loaders["deployment"], root / D)
    assert error is not None
    problems = schema.sdk_problems(error, D, v.DEPLOYMENT_SECTIONS)
    assert [(p.code, p.key) for p in problems] == [("schema.unknown_field", f"{IC}.scoring_rout")]
    assert "scoring_route" in problems[0].message and "scoring_route" in problems[0].fix
    report = validate_project(root, schema=True)
    assert [p.key for p in report.problems if p.key.startswith(IC)] == [f"{IC}.scoring_rout"]


def test_schema_only_problems_come_from_the_sdk(project: Callable[[str], Path]) -> None:
    root = project("plumber")
    set_key(E, "identity", {"type": "bogus"})(root)
    set_key(D, "egress_public_network_access", "sometimes")(root)
    assert not validate_project(root, schema=False).problems
    report = validate_project(root, schema=True)
    assert found(report) == {
        ("error", "schema.choice", E, "identity.type"),
        ("error", "schema.choice", D, "egress_public_network_access"),
    }


def test_schema_did_you_mean_for_misspelt_top_level_key(project: Callable[[str], Path]) -> None:
    root = project("plumber")
    set_key(D, "environment_variable", {"A": "1"})(root)
    (problem,) = validate_project(root, schema=True).problems
    assert (problem.code, problem.key) == ("schema.unknown_field", "environment_variable")
    assert "Did you mean `environment_variables`?" in problem.fix


@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_schema_step_does_not_read_the_model(project: Callable[[str], Path]) -> None:
    """azure-ai-ml hashes model.path and build.path while loading; validate must not let it
    (a multi-GB model would take minutes). A FIFO would block that hash forever."""
    root = project("plumber")
    os.mkfifo(root / "model" / "pipe")
    os.mkfifo(root / "docker-context" / "pipe")
    start = time.perf_counter()
    report = validate_project(root, schema=True)
    assert report.schema_checked and not report.problems, show(report)
    assert time.perf_counter() - start < 60


@pytest.mark.filterwarnings("ignore")
def test_known_keys_match_the_sdk_schemas() -> None:
    from azure.ai.ml._schema._deployment.online.online_deployment import (
        ManagedOnlineDeploymentSchema,
    )
    from azure.ai.ml._schema._endpoint.online.online_endpoint import ManagedOnlineEndpointSchema
    from azure.ai.ml._schema.assets.environment import AnonymousEnvironmentSchema

    def keys(schema: Any) -> set[str]:
        return {f.data_key or n for n, f in schema.fields.items() if not f.dump_only}

    context = {"base_path": "."}
    deployment = ManagedOnlineDeploymentSchema(context=context)
    assert keys(deployment) | {"$schema"} == set(v.DEPLOYMENT_KEYS)
    assert keys(ManagedOnlineEndpointSchema(context=context)) | {"$schema"} == set(v.ENDPOINT_KEYS)
    environment = AnonymousEnvironmentSchema(context=context)
    assert keys(environment) | {"$schema"} == set(v.ENVIRONMENT_KEYS)
    for section in ("code_configuration", "request_settings", "liveness_probe"):
        assert keys(deployment.fields[section].schema) == v.DEPLOYMENT_SECTIONS[section][0]
    config = environment.fields["inference_config"].schema
    assert keys(config) == v.DEPLOYMENT_SECTIONS[IC][0]
    assert (
        keys(config.fields["scoring_route"].schema)
        == v.DEPLOYMENT_SECTIONS[f"{IC}.scoring_route"][0]
    )
    assert keys(environment.fields["build"].schema) == v.DEPLOYMENT_SECTIONS["environment.build"][0]


SDK_BLOCKED = """\
import json, sys, time
sys.modules["azure.ai.ml"] = None  # `import azure.ai.ml` now raises ImportError
from pathlib import Path
from scaffold.validate import validate_project
start = time.perf_counter()
report = validate_project(Path(sys.argv[1]))
print(json.dumps({**report.to_json(), "seconds": time.perf_counter() - start}))
"""


def test_without_azure_ai_ml_contract_checks_still_run(project: Callable[[str], Path]) -> None:
    root = project("plumber")
    sub("docker-context/start_plumber.R", "port <- 8000", "port <- 8001")(root)
    result = subprocess.run(
        [sys.executable, "-c", SDK_BLOCKED, str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["schema_checked"] is False
    assert report["schema_note"] == v.SCHEMA_MISSING_NOTE
    assert "pip install 'aml-scaffold[azure]'" in report["schema_note"]
    assert {p["code"] for p in report["problems"]} == {"route.port.mismatch"}
    assert report["errors"] == 3 and not report["ok"]
    assert report["seconds"] < 1.0


def test_sdk_free_path_is_fast(render: Render) -> None:
    root = render("plumber")
    start = time.perf_counter()
    report = validate_project(root, schema=False)
    elapsed = time.perf_counter() - start
    assert not report.problems
    assert elapsed < 1.0, f"validate without the SDK took {elapsed:.2f}s"


# --- Report shape, parser, registry ------------------------------------------------------------
def test_report_groups_by_file_and_serialises(project: Callable[[str], Path]) -> None:
    root = project("plumber")
    for edit in [
        set_key(E, "traffic", {"blue": 100}),
        set_key(D, "instance_count", 0),
        write("sample_request.json", "{"),
        set_key(D, "instance_type", "Standard_X"),
    ]:
        edit(root)
    report = validate_project(root, schema=False)
    files = [p.file for p in report.problems]
    assert files == sorted(files)
    assert [p.code for p in report.problems if p.file == D] == [
        "instance_count.range",
        "instance_type.unknown",
    ]  # order found within a file
    data = json.loads(json.dumps(report.to_json()))
    assert data["errors"] == len(report.errors) == 3
    assert data["warnings"] == len(report.warnings) == 1
    assert data["problems"][0].keys() == {"severity", "code", "file", "key", "message", "fix"}
    assert data["server"] == "plumber" and data["ok"] is False


def test_dockerfile_parser(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "run.sh").write_text("#!/bin/sh\n")
    text = textwrap.dedent("""\
        ARG BASE=python:3.12-slim
        FROM ${BASE} AS build
        RUN echo build
        FROM build
        # a comment
        ENV A=1 B="two words" \\
            C=3
        ENV LEGACY value here
        WORKDIR /srv
        COPY --from=build /x /y
        COPY app/ ./app/
        EXPOSE 8000/tcp 9000
        ENTRYPOINT ["/srv/app/run.sh"]
        CMD serve --port 8000
        """)
    docker = v.parse_dockerfile(text, tmp_path / "Dockerfile", "Dockerfile", tmp_path)
    assert docker.images == [("python:3.12-slim", 2)]
    assert docker.env == {"A": "1", "B": "two words", "C": "3", "LEGACY": "value here"}
    assert docker.expose == [8000, 9000]
    assert docker.entrypoint is not None and docker.entrypoint.exec_form
    assert docker.cmd is not None and not docker.cmd.exec_form
    assert docker.command == ("/srv/app/run.sh", "serve", "--port", "8000")
    assert docker.local_path("/srv/app/run.sh") == (tmp_path / "app" / "run.sh").resolve()
    assert docker.local_path("/y") is None


def test_every_server_has_a_contract_and_hints() -> None:
    import importlib

    for spec in REGISTRY.values():
        module = importlib.import_module(f"scaffold.validate.contracts.{spec.contract}")
        assert callable(getattr(module, "check", None)), spec.name
        # A server started by another's command (mlflow runs azmlinfsrv) may have no command
        # hints of its own; its image and file hints still name it.
        assert spec.image_hints and spec.file_hints, spec.name
