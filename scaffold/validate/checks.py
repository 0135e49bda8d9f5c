"""The checks of `scaffold validate` that need no SDK: everything azure-ai-ml's loaders
accept silently, Dockerfile and sample checks, and the dispatch to the server's contract."""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from scaffold import instances, layout
from scaffold.servers import SERVERS
from scaffold.validate import pins, weights
from scaffold.validate.buildcontext import check_build_context
from scaffold.validate.dockerfile import VARIABLE, Command, Dockerfile
from scaffold.validate.model import (
    AUTH_MODES,
    DEPLOYMENT_SECTIONS,
    ENDPOINT_SECTIONS,
    HIDDEN_KEYS,
    IMAGE_PATTERN,
    INSTANCE_TYPES,
    NAME_PATTERN,
    PROBE_KEYS,
    REFERENCE_PATTERN,
    ROUTE_NAMES,
    Context,
    Mapping,
    Problem,
    Sections,
    _whole,
)
from scaffold.validate.samples import check_model_samples


# --- SDK-independent checks --------------------------------------------------------------------
def _unknown_keys(ctx: Context, file: str, data: Mapping, sections: Sections) -> None:
    skip = _preview_keys(ctx, file, data)
    for section, (known, required) in sections.items():
        node = _at(data, section)
        if isinstance(node, dict):
            for problem in key_problems(file, section, node.keys(), known, required):
                if problem.key not in skip:
                    ctx.problems.append(problem)


#: Keys of the az ml CLI v2 *preview* (2021 to early 2022), which the GA CLI and azure-ai-ml
#: reject as unknown fields: (key path, what it became).
PREVIEW_KEYS = {
    "model.local_path": "model.path",
    "code_configuration.code.local_path": "code_configuration.code (the folder itself)",
    "environment.docker": "environment.image / environment.build",
    "environment.path": "environment.build.path",
    "scale_settings.scale_type": "instance_count at the top level (scale_settings.type: default)",
    "scale_settings.instance_count": "instance_count at the top level",
    "scale_settings.min_instances": "autoscale settings in Azure Monitor",
    "scale_settings.max_instances": "autoscale settings in Azure Monitor",
    "deployments": "one deployment file per deployment",
}


def _preview_keys(ctx: Context, file: str, data: Mapping) -> set[str]:
    """One error per key of the 2021 CLI v2 preview (`model.local_path`, an endpoint file
    holding its `deployments:`), naming what replaced it; returns the keys it reported (and
    the keys they make unknown) so they are not reported again as unknown fields."""
    found = [key for key in PREVIEW_KEYS if _present(data, key)]
    if not found:
        return set()
    if "deployments" in found:
        ctx.error(
            "schema.preview_format",
            file,
            "deployments",
            f"{file} holds its deployments (`deployments:`): the format of the az ml v2 "
            "preview, which the GA CLI rejects",
            "Move each deployment into its own deployment file (name, endpoint_name, "
            "model.path, environment.image, instance_type, instance_count) and remove "
            "deployments, traffic and type from the endpoint file",
        )
        return {"deployments", "traffic", "type"}
    for key in found:
        ctx.error(
            "schema.preview_key",
            file,
            key.removesuffix(".local_path") if key.startswith("code_") else key,
            f"`{key}` is a key of the az ml v2 preview (2021 to early 2022), which the GA "
            "CLI rejects",
            f"Use {PREVIEW_KEYS[key]} instead",
        )
    return set(found)


def _present(data: Mapping, dotted: str) -> bool:
    parent, _, leaf = dotted.rpartition(".")
    node = _at(data, parent) if parent else data
    return isinstance(node, dict) and leaf in node


def _at(data: Mapping, dotted: str) -> Any:
    node: Any = data
    for part in filter(None, dotted.split(".")):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def key_problems(
    file: str,
    section: str,
    present: Iterable[Any],
    known: Iterable[str],
    required: Iterable[str],
    missing: Iterable[str] | None = None,
) -> list[Problem]:
    """Problems for unknown and missing keys of one mapping, one per underlying issue.

    A misspelt key and the required key it should have been (`scoring_rout` and
    `scoring_route`) make one problem, not two.
    """
    keys = [str(k) for k in present]
    known = sorted(known)
    absent = [r for r in required if r not in keys] if missing is None else list(missing)
    prefix = f"{section}." if section else ""
    problems = []
    for key in (k for k in keys if k not in known):
        guess = difflib.get_close_matches(key, absent, 1, 0.6) or difflib.get_close_matches(
            key, known, 1, 0.75
        )
        if guess and guess[0] in absent:
            absent.remove(guess[0])
            message = f"Unknown field `{key}`; the required `{guess[0]}` is missing"
        else:
            message = f"Unknown field `{key}`"
        shown = ", ".join(k for k in known if k not in HIDDEN_KEYS)
        fix = (
            f"Did you mean `{guess[0]}`? Rename `{key}` to `{guess[0]}`"
            if guess
            else f"Remove `{key}`; valid keys here: {shown}"
        )
        problems.append(Problem("error", "schema.unknown_field", file, prefix + key, message, fix))
    for key in absent:
        problems.append(
            Problem(
                "error",
                "schema.missing_field",
                file,
                prefix + key,
                f"Required field `{prefix + key}` is missing",
                f"Add `{key}` " + (f"under `{section}`" if section else "at the top level"),
            )
        )
    return problems


def _name_is_string(ctx: Context, file: str, key: str, value: Any, kind: str) -> bool:
    """A name YAML read as null, a boolean or a number (`name: null`, `yes`, `1e3`) is an
    error here, without the SDK: the service would get no name or another one."""
    if isinstance(value, str):
        return True
    if value is None:
        ctx.error(
            "name.null",
            file,
            key,
            f"`{key}` is empty or null: the {kind} has no name",
            f'Write the {kind} name as a quoted string, e.g. {key}: "my-{kind}"',
        )
    else:
        ctx.error(
            "schema.type",
            file,
            key,
            f"`{key}` must be a string, not {value!r} (YAML read it as {type(value).__name__})",
            f'Quote the {kind} name, e.g. {key}: "{value}"',
        )
    return False


def _check_name(ctx: Context, file: str, key: str, value: Any, kind: str) -> None:
    if ctx.is_placeholder(value) or not _name_is_string(ctx, file, key, value, kind):
        return
    code, rule = f"name.{kind}", "3-32 characters: a letter first, then letters, digits, dashes"
    dns = " (it becomes part of the endpoint's DNS name)" if kind == "endpoint" else ""
    if not 3 <= len(value) <= 32:
        ctx.error(
            f"{code}.length",
            file,
            key,
            f"{kind} name `{value}` has {len(value)} characters; Azure allows 3-32",
            f"Use a name of {rule}",
        )
    if not NAME_PATTERN.fullmatch(value):
        ctx.error(
            f"{code}.pattern",
            file,
            key,
            f"{kind} name `{value}` must start with a letter and contain only letters, "
            "digits and dashes",
            f"Use a name of {rule}, e.g. my-{kind}",
        )
    elif value.endswith("-"):
        ctx.error(
            f"{code}.trailing_dash",
            file,
            key,
            f"{kind} name `{value}` ends with a dash",
            f"Remove the trailing dash: {value.rstrip('-')}",
        )
    if value != value.lower():
        ctx.error(
            f"{code}.case",
            file,
            key,
            f"{kind} name `{value}` has uppercase letters{dns}",
            f"Use lowercase: {value.lower()}",
        )


def check_endpoint(ctx: Context) -> None:
    """endpoint.yml: keys, name, auth_mode, traffic at creation."""
    data, file = ctx.endpoint, ctx.endpoint_file
    if data is None:
        return
    _unknown_keys(ctx, file, data, ENDPOINT_SECTIONS)
    if "name" in data:
        _check_name(ctx, file, "name", data["name"], "endpoint")
    elif "name" not in ctx.command_line["endpoint"]:
        ctx.warn(
            "endpoint.name.missing",
            file,
            "name",
            f"{file} has no name: the endpoint can only be created with its name on the "
            "command line",
            f"Add name: <endpoint name>, or create it with `az ml online-endpoint create "
            f"--name NAME -f {PurePosixPath(file).name}`",
        )
    auth = data.get("auth_mode")
    if auth is not None and auth not in AUTH_MODES:
        ctx.error(
            "schema.choice",
            file,
            "auth_mode",
            f"auth_mode `{auth}` is not one of {', '.join(AUTH_MODES)}",
            "Set auth_mode to key, aml_token or aad_token",
        )
    traffic = data.get("traffic")
    if traffic and "deployments" not in data:  # else the preview format, reported as such
        ctx.error(
            "endpoint.traffic",
            file,
            "traffic",
            "traffic cannot be set when the endpoint is created (it has no deployments yet)",
            "Remove traffic; create the deployment with --all-traffic or set it later with "
            "`az ml online-endpoint update --traffic`",
        )


def check_names(ctx: Context) -> None:
    """Deployment keys and names, and the endpoint name both files must share."""
    data, file = ctx.deployment, ctx.deployment_file
    if data is None:
        return
    _unknown_keys(ctx, file, data, DEPLOYMENT_SECTIONS)
    given = ctx.command_line["deployment"]
    if "name" in data:
        _check_name(ctx, file, "name", data["name"], "deployment")
    elif "name" not in given:
        ctx.warn(
            "name.deployment.missing",
            file,
            "name",
            "No name: the deployment can only be created with its name on the command line",
            f"Add name: <deployment name> (e.g. blue), or deploy with `az ml "
            f"online-deployment create --name NAME -f {PurePosixPath(file).name}`",
        )
    if "endpoint_name" not in data:
        if "endpoint_name" not in given:
            _no_endpoint_name(ctx)
        return
    endpoint_name = data["endpoint_name"]
    if ctx.endpoint is None or "endpoint_name" in given:
        # no endpoint file, or the deploy command names the endpoint (-e), overriding it
        _check_name(ctx, file, "endpoint_name", endpoint_name, "endpoint")
        return
    if ctx.is_placeholder(endpoint_name) or not _name_is_string(
        ctx, file, "endpoint_name", endpoint_name, "endpoint"
    ):
        return
    expected = ctx.endpoint.get("name")
    if (
        isinstance(endpoint_name, str)
        and isinstance(expected, str)
        and endpoint_name != expected
        and not ctx.is_placeholder(expected)
    ):
        ctx.error(
            "name.endpoint.mismatch",
            file,
            "endpoint_name",
            f"endpoint_name `{endpoint_name}` differs from the name `{expected}` in "
            f"{ctx.endpoint_file}",
            "Use the same endpoint name in both files",
        )


def _no_endpoint_name(ctx: Context) -> None:
    """No endpoint_name: real deploy scripts pass it on the command line
    (`az ml online-deployment create --endpoint-name E -f ...`), so a warning."""
    named = (ctx.endpoint or {}).get("name")
    name = named if isinstance(named, str) else "NAME"
    ctx.warn(
        "name.endpoint.missing",
        ctx.deployment_file,
        "endpoint_name",
        "No endpoint_name: the deployment can only be created with the endpoint named on "
        "the command line",
        f"Add endpoint_name: {name}, or deploy with `az ml online-deployment create "
        f"--endpoint-name {name}`",
    )


def check_placeholders(ctx: Context) -> None:
    """Values a deploy script fills in ({{NAME}}, <NAME>, ${NAME}, $NAME): one warning per
    file naming them; the checks of names, images and paths skip them."""
    for file, data in ((ctx.deployment_file, ctx.deployment), (ctx.endpoint_file, ctx.endpoint)):
        found = [
            (key, value)
            for key, value in scalars(data or {}, "")
            if key.split(".")[0] not in ("description", "tags") and ctx.is_placeholder(value)
        ]
        if not found:
            continue
        shown = ", ".join(f"{key} ({value})" for key, value in found[:4])
        more = f" and {len(found) - 4} more" if len(found) > 4 else ""
        ctx.warn(
            "placeholder",
            file,
            found[0][0],
            f"{file} is a template: placeholders filled in before deploying in {shown}{more}; "
            "they are not checked",
            "Fill them in (or pass the values to az ml with --set / --endpoint-name), and "
            "validate the filled file too",
        )


def scalars(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key path, value) of every scalar of a YAML mapping."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from scalars(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from scalars(value, f"{prefix}{index}.")
    else:
        yield prefix.rstrip("."), node


def _check_reference(ctx: Context, key: str, value: str) -> None:
    if REFERENCE_PATTERN.fullmatch(value) or ctx.is_placeholder(value):
        return
    if value.startswith("azureml:") and not value[len("azureml:") :]:
        why = "is empty"
    elif value.startswith("azureml:"):
        why = "has no version or label"
    else:
        why = "is neither an inline mapping nor an `azureml:` reference"
    ctx.error(
        "reference.malformed",
        ctx.deployment_file,
        key,
        f"{key} `{value}` {why}",
        f"Use azureml:<name>:<version> or azureml:<name>@latest, or an inline {key}",
    )


def check_environment(ctx: Context) -> None:
    """The environment: exactly one of image/build, a valid image, routes for custom images;
    for an `azureml:` reference, the project's environment file it names, if there is one."""
    if ctx.deployment is None:
        return
    env, file = ctx.deployment.get("environment"), ctx.deployment_file
    if env is None:
        _no_environment(ctx)
    elif isinstance(env, str):
        if not ctx.is_placeholder(env):
            _check_reference(ctx, "environment", env)
        source = ctx.environment_source
        if source is not None and ctx.env_file is not None:
            _check_image_or_build(ctx, source[2], source[0], source[1])
            _check_conda_file(ctx, source[2], source[0], source[1], ctx.env_file[0].parent)
            _check_inference_config(ctx, source[2], source[0], source[1])
    elif isinstance(env, dict):
        _check_image_or_build(ctx, env, file, "environment.")
        _check_conda_file(ctx, env, file, "environment.", ctx.base)
        _check_inference_config(ctx, env, file, "environment.")


def _check_conda_file(ctx: Context, env: Mapping, file: str, prefix: str, base: Path) -> None:
    """conda_file is read when the deployment (or environment) is created: it must exist."""
    value = env.get("conda_file")
    if not isinstance(value, str) or not value or "://" in value or ctx.is_placeholder(value):
        return
    if value.startswith("azureml:"):
        return
    path = (base / value.removeprefix("file:")).resolve()
    if not path.is_file():
        ctx.error(
            "path.conda_file.not_found",
            file,
            f"{prefix}conda_file",
            f"conda file {value} does not exist",
            f"Fix conda_file (relative to {PurePosixPath(file).name}) or add the file",
        )


def _no_environment(ctx: Context) -> None:
    """No environment: right for a no-code deployment (an MLflow or Triton model, whose
    server Azure supplies), and possibly for a registered model (if it is one of them)."""
    if ctx.no_code or ctx.overridden("environment"):
        return
    file = ctx.deployment_file
    registered = isinstance(ctx.deployment and ctx.deployment.get("model"), str)
    if registered or ctx.overridden("model"):
        given = " (given on the command line)" if not registered else ""
        ctx.info(
            "environment.none",
            file,
            "environment",
            f"No environment: Azure deploys a registered model{given} without one when it is "
            "an MLflow or Triton model or comes from a registry's model catalog with an "
            "environment of its own; any other model needs an environment",
            "Add environment (image or build, and inference_config) unless the model is one "
            "of those",
        )
        return
    ctx.error(
        "environment.missing",
        file,
        "environment",
        "No environment: a custom-container deployment needs its image and routes",
        "Add environment with image (or build) and inference_config (only MLflow and "
        "Triton models, model.type mlflow_model / triton_model, deploy without one)",
    )


def _check_image_or_build(ctx: Context, env: Mapping, file: str, prefix: str) -> None:
    image, build = env.get("image"), env.get("build")
    where = prefix.rstrip(".") or "the environment"
    if image is not None and build is not None:
        ctx.error(
            "environment.image_and_build",
            file,
            prefix.rstrip(".") or "build",
            f"{where} has both image and build",
            "Keep one: image (pre-built) or build",
        )
    elif image is None and build is None:
        ctx.error(
            "environment.no_image_or_build",
            file,
            prefix.rstrip(".") or "image",
            f"{where} has neither image nor build",
            "Add image: <registry>/<name>:<tag> or build: {path: ./docker-context}",
        )
    overridden = file == ctx.deployment_file and ctx.overridden(f"{prefix}image")
    if isinstance(image, str) and not ctx.is_placeholder(image) and not overridden:
        check_image(ctx, file, f"{prefix}image", image)
    if isinstance(build, dict) and file == ctx.deployment_file:
        _check_build(ctx, build)


def check_image(ctx: Context, file: str, key: str, image: str) -> None:
    """Report an invalid image reference (error) or an unpinned one (warning)."""
    match = IMAGE_PATTERN.fullmatch(image)
    if match is None:
        ctx.error(
            "image.invalid",
            file,
            key,
            f"`{image}` is not a valid image reference",
            "Use <registry>/<repository>:<tag> in lowercase, with no placeholders or spaces",
        )
        return
    tag = match.group("tag")
    _check_lifecycle(ctx, file, key, image, tag)
    if match.group("digest"):
        return
    if tag is None or tag == "latest" or tag.startswith("latest-") or tag.endswith("-latest"):
        what = "has no tag (means latest)" if tag is None else f"uses the moving tag `{tag}`"
        domain = match.group("domain")
        repository = f"{domain}/{match.group('path')}" if domain else match.group("path")
        ctx.warn(
            "image.latest",
            file,
            key,
            f"image `{image}` {what}: deployments are not reproducible and may change under you",
            f"Pin a version tag or a digest: {repository}@sha256:<digest> (`docker "
            "buildx imagetools inspect IMAGE` or `docker inspect --format "
            "'{{index .RepoDigests 0}}' IMAGE` shows it)",
        )


def _check_lifecycle(ctx: Context, file: str, key: str, image: str, tag: str | None) -> None:
    """Warn on base images that are end-of-life or older than their support window (the
    facts in the server registry's `base_image_lifecycle`)."""
    for spec in SERVERS.values():
        life = spec.base_image_lifecycle
        if not life.repository or life.repository not in image:
            continue
        if life.end_of_life:
            ctx.warn(
                "image.end_of_life",
                file,
                key,
                f"image `{image}` is end-of-life: {life.end_of_life}",
                f"Plan a move: {life.alternative}",
            )
        dated = re.fullmatch(life.date_tag, tag) if life.date_tag and tag else None
        if dated is None or not life.support_window_days:
            continue
        try:
            built = datetime.datetime.strptime(dated.group("date"), "%Y%m%d").date()
        except ValueError:
            continue
        age = (datetime.date.today() - built).days
        if age > life.support_window_days:
            ctx.warn(
                "image.unsupported",
                file,
                key,
                f"image `{image}` is dated {built.isoformat()}, {age} days ago, outside the "
                f"support window of {life.support_window_days} days: {life.support}",
                "Move to a tag from the support window, or to the documented tag pinned by "
                "digest (image@sha256:<digest>), and rebuild",
            )


def _check_build(ctx: Context, build: Mapping) -> None:
    file = ctx.deployment_file
    context = ctx.local(build.get("path"))
    if context is None:
        return
    if not context.is_dir():
        ctx.error(
            "path.build.not_found",
            file,
            "environment.build.path",
            f"build context {build.get('path')} does not exist",
            "Fix environment.build.path (relative to the deployment file)",
        )
        return
    name = build.get("dockerfile_path")
    if name is None and ((context / "Dockerfile").is_file() or (context / "dockerfile").is_file()):
        return  # Docker takes a lowercase `dockerfile` when there is no `Dockerfile`
    name = name or "Dockerfile"
    if isinstance(name, str) and not (context / name).is_file():
        ctx.error(
            "path.dockerfile.not_found",
            file,
            "environment.build.dockerfile_path",
            f"Dockerfile {name} not found in {ctx.rel(context)}",
            "Fix dockerfile_path (relative to build.path) or add the Dockerfile",
        )


def image_kind(ctx: Context) -> str:
    """What the container image is, for the inference_config rule.

    - "azureml": an Azure ML inference image (or one built FROM it that keeps its start
      command): Azure runs azureml-inference-server-http on 5001 with the scoring script;
    - "custom": known not to be one: a Dockerfile FROM another base, a command of its own, a
      server the registry knows, or a vendor's public image;
    - "unknown": a pre-built image in the project's own registry whose Dockerfile is not in
      the project.
    """
    docker = ctx.dockerfile
    images = [image for image, _, _ in ctx.images]
    effective = [image for image, _ in docker.bases[:1]] if docker is not None else images[:1]
    spec = next((SERVERS[n] for n in [_server_of(effective)] if n), None)
    if spec is not None and spec.azureml_inference:
        if docker is not None and docker.command and not _azureml_command(docker.command):
            return "custom"  # an Azure ML base image running a server of its own
        return "azureml"
    if spec is not None or docker is not None:
        return "custom"
    if effective and not layout.builds_here(effective[0]):
        return "custom"
    return "unknown"


def _server_of(images: list[str]) -> str | None:
    matched = max(
        (
            (len(hint), spec.name)
            for image in images
            for spec in SERVERS.values()
            for hint in spec.image_hints
            if hint in image
        ),
        default=None,
    )
    return matched[1] if matched else None


def _azureml_command(command: tuple[str, ...]) -> bool:
    """Whether a container command starts Azure ML's inference server (runsvdir, azmlinfsrv)."""
    text = " ".join(command)
    return any(
        hint in text
        for spec in SERVERS.values()
        if spec.azureml_inference
        for hint in spec.command_hints
    )


def _python_scoring_script(ctx: Context) -> bool:
    script = ctx.scoring_script
    text = ctx.read(script) if script is not None and script.suffix == ".py" else None
    return text is not None and all(
        re.search(rf"^(?:async\s+)?def\s+{name}\s*\(", text, re.M) for name in ("init", "run")
    )


def _check_inference_config(ctx: Context, env: Mapping, file: str, prefix: str) -> None:
    key = f"{prefix}inference_config"
    config = env.get("inference_config")
    if config is None:
        if not (env.get("image") or env.get("build")):
            return
        kind = image_kind(ctx)
        if kind == "azureml":
            return
        if kind == "unknown" and _python_scoring_script(ctx):
            image = env.get("image")
            ctx.warn(
                "routes.unknown_image",
                file,
                key,
                f"No inference_config, and `{image}` is not known to be an Azure ML inference "
                "image: Azure runs it as one (azureml-inference-server-http on port 5001 "
                f"loading {ctx.rel(ctx.scoring_script) if ctx.scoring_script else 'the script'})",
                "If the image runs a server of its own, add inference_config with its routes; "
                "else build it FROM an Azure ML inference image "
                "(mcr.microsoft.com/azureml/minimal-py312-inference)",
            )
            return
        ctx.error(
            "routes.missing",
            file,
            key,
            "No inference_config: Azure treats the image as an Azure ML inference "
            "image and never probes or forwards to your server",
            "Add inference_config with liveness_route, readiness_route and "
            "scoring_route (port and path each)",
        )
        return
    if not isinstance(config, dict):
        ctx.error(
            "schema.type",
            file,
            key,
            "inference_config must be a mapping of routes",
            "Give liveness_route, readiness_route and scoring_route their port and path",
        )
        return
    for name in ROUTE_NAMES:
        route = config.get(name)
        if isinstance(route, dict):
            _check_route(ctx, f"{key}.{name}", route, file)


def _check_route(ctx: Context, key: str, route: Mapping, file: str) -> None:
    port, path = route.get("port"), route.get("path")
    number = _number(ctx, file, f"{key}.port", port)
    if number is not None and not 1 <= number <= 65535:
        ctx.error(
            "route.port.invalid",
            file,
            f"{key}.port",
            f"port {number} is not 1-65535",
            "Use the port the server listens on inside the container",
        )
    if path is None:
        return
    if not isinstance(path, str) or not path:
        ctx.error(
            "schema.type",
            file,
            f"{key}.path",
            "path must be a non-empty string",
            "Use an absolute URL path such as /score",
        )
    elif not path.startswith("/"):
        ctx.error(
            "route.path.slash",
            file,
            f"{key}.path",
            f"path `{path}` does not start with /",
            f"Use /{path}",
        )


def _number(ctx: Context, file: str, key: str, value: Any) -> int | None:
    """A whole number from YAML, reporting schema.type when it is something else."""
    if value is None:
        return None
    number = _whole(value)
    if number is None:
        ctx.error(
            "schema.type",
            file,
            key,
            f"`{key}` must be a whole number, not {value!r}",
            "Write a plain integer",
        )
    return number


def check_model_and_code(ctx: Context) -> None:
    """model (reference or local path), model_mount_path, code_configuration paths."""
    data = ctx.deployment
    if data is None:
        return
    model = data.get("model")
    if isinstance(model, str):
        _check_reference(ctx, "model", model)
    elif isinstance(model, dict):
        _check_local_model(ctx, model)
    mount = data.get("model_mount_path")
    if mount is not None and not (isinstance(mount, str) and mount.startswith("/")):
        ctx.error(
            "model_mount_path.relative",
            ctx.deployment_file,
            "model_mount_path",
            f"model_mount_path `{mount}` is not an absolute path",
            "Use an absolute container path such as /models",
        )
    code = data.get("code_configuration")
    if isinstance(code, dict):
        _check_code(ctx, code)


def _check_local_model(ctx: Context, model: Mapping) -> None:
    file, path = ctx.deployment_file, model.get("path")
    if path is None and "local_path" in model:
        return  # the preview key, reported as such
    if path is None:
        ctx.error(
            "model.path.missing",
            file,
            "model.path",
            "inline model has no path",
            "Add model.path (a local folder) or use model: azureml:<name>:<version>",
        )
        return
    local = ctx.local(path)
    if local is not None and not local.exists():
        ctx.error(
            "path.model.not_found",
            file,
            "model.path",
            f"model path {path} does not exist",
            "Fix model.path (relative to the deployment file) or add the model files",
        )


def _check_code(ctx: Context, code: Mapping) -> None:
    file, folder, script = ctx.deployment_file, code.get("code"), code.get("scoring_script")
    local = ctx.local(folder)
    if local is not None and not local.is_dir():
        ctx.error(
            "path.code.not_found",
            file,
            "code_configuration.code",
            f"code folder {folder} does not exist",
            "Fix code_configuration.code (relative to the deployment file)",
        )
    if script is None:
        ctx.error(
            "code.scoring_script.missing",
            file,
            "code_configuration.scoring_script",
            "code_configuration has no scoring_script",
            "Add scoring_script: the file in the code folder the server runs",
        )
    elif (
        local is not None
        and local.is_dir()
        and not ctx.is_placeholder(script)
        and not (local / str(script)).is_file()
    ):
        ctx.error(
            "path.scoring_script.not_found",
            file,
            "code_configuration.scoring_script",
            f"scoring script {script} not found in {folder}",
            "Fix scoring_script (relative to the code folder) or add the file",
        )


def check_settings(ctx: Context) -> None:
    """environment_variables, instance count/type, request settings, probes."""
    data = ctx.deployment
    if data is None:
        return
    _check_env_vars(ctx, data.get("environment_variables"))
    _check_instances(ctx, data)
    settings = data.get("request_settings")
    if isinstance(settings, dict):
        _check_request_settings(ctx, settings)
    for probe in ("liveness_probe", "readiness_probe"):
        if isinstance(data.get(probe), dict):
            _check_probe(ctx, probe, data[probe])


def _check_env_vars(ctx: Context, env: Any) -> None:
    if env is None:
        return
    file = ctx.deployment_file
    if not isinstance(env, dict):
        ctx.error(
            "schema.type",
            file,
            "environment_variables",
            "environment_variables must be a mapping",
            'Write NAME: "value" lines',
        )
        return
    for name, value in env.items():
        key = f"environment_variables.{name}"
        if isinstance(value, dict | list):
            ctx.error(
                "env.value.nested",
                file,
                key,
                f"{name} is a nested {type(value).__name__}",
                "Give it a string value (JSON-encode structured values yourself)",
            )
        elif not isinstance(value, str):
            shown = "" if value is None else str(value)
            ctx.warn(
                "env.value.not_string",
                file,
                key,
                f"{name} is {value!r}, which the container receives as the string '{shown}'",
                f'Quote it: {name}: "{shown}"',
            )


def _check_instances(ctx: Context, data: Mapping) -> None:
    file = ctx.deployment_file
    count = _number(ctx, file, "instance_count", data.get("instance_count"))
    if count is not None and not 1 <= count <= 50:
        ctx.error(
            "instance_count.range",
            file,
            "instance_count",
            f"instance_count {count} is outside 1-50 (Azure's per-deployment limit)",
            "Use 1-50 instances (3 or more for production)",
        )
    kind = data.get("instance_type")
    if isinstance(kind, str) and kind.upper() not in INSTANCE_TYPES:
        guess = difflib.get_close_matches(kind.upper(), sorted(INSTANCE_TYPES), 1, 0.8)
        hint = f"Did you mean {_sku(guess[0])}? " if guess else ""
        ctx.warn(
            "instance_type.unknown",
            file,
            "instance_type",
            f"instance_type `{kind}` is not in the managed online endpoint VM list",
            f"{hint}Check the SKU list (e.g. Standard_DS3_v2, Standard_F4s_v2, "
            "Standard_NC4as_T4_v3)",
        )
    elif kind is not None and not isinstance(kind, str):
        ctx.error(
            "schema.type",
            file,
            "instance_type",
            "instance_type must be a string",
            "Use a VM size such as Standard_DS3_v2",
        )


def _sku(upper: str) -> str:
    head, _, rest = upper.partition("_")
    return f"{head.title()}_{rest.replace('_V', '_v')}"


def _check_request_settings(ctx: Context, settings: Mapping) -> None:
    file, key = ctx.deployment_file, "request_settings"
    timeout = _number(ctx, file, f"{key}.request_timeout_ms", settings.get("request_timeout_ms"))
    if timeout is not None and not 1 <= timeout <= 180000:
        ctx.error(
            "request_timeout.range",
            file,
            f"{key}.request_timeout_ms",
            f"request_timeout_ms {timeout} is outside 1-180000 (managed endpoints allow "
            "at most 180 s)",
            "Use 1-180000 milliseconds (default 5000)",
        )
    concurrency = _number(
        ctx,
        file,
        f"{key}.max_concurrent_requests_per_instance",
        settings.get("max_concurrent_requests_per_instance"),
    )
    if concurrency is not None and concurrency < 1:
        ctx.error(
            "max_concurrent.range",
            file,
            f"{key}.max_concurrent_requests_per_instance",
            f"max_concurrent_requests_per_instance {concurrency} is below 1",
            "Use 1 or more (default 1)",
        )


def _check_probe(ctx: Context, probe: str, values: Mapping) -> None:
    file = ctx.deployment_file
    for name in sorted(PROBE_KEYS):
        number = _number(ctx, file, f"{probe}.{name}", values.get(name))
        if number is not None and number < 1:
            ctx.error(
                "probe.range",
                file,
                f"{probe}.{name}",
                f"{probe}.{name} is {number}; Azure needs at least 1",
                f"Set {name} to 1 or more (defaults: initial_delay 10, period 10, "
                "timeout 2, success_threshold 1, failure_threshold 30)",
            )
    success = _whole(values.get("success_threshold"))
    if probe == "liveness_probe" and success is not None and success > 1:
        ctx.warn(
            "probe.success_threshold",
            file,
            f"{probe}.success_threshold",
            f"liveness_probe.success_threshold is {success}; Azure fixes it at 1",
            "Remove it or set it to 1",
        )


def check_dockerfile(ctx: Context) -> None:
    """Dockerfile: pinned base images, and $VARS in exec-form commands that never expand."""
    docker = ctx.dockerfile
    if docker is None:
        return
    for image, line in docker.images:
        if "$" not in image:
            check_image(ctx, docker.rel, f"FROM (line {line})", image)
    entry, cmd = docker.entrypoint, docker.cmd
    if entry is not None and entry.exec_form and not entry.args:
        start = list(cmd.args) if cmd is not None and cmd.exec_form and cmd.args else []
        example = f"ENTRYPOINT {json.dumps(start)}" if start else 'ENTRYPOINT ["your", "command"]'
        ctx.warn(
            "dockerfile.entrypoint_empty",
            docker.rel,
            f"ENTRYPOINT (line {entry.line})",
            "`ENTRYPOINT []` makes every later build step a cache miss with the classic builder "
            "(the Docker SDK's, so `scaffold run` and Azure's image build): each build starts "
            "from scratch",
            f"Set the start command as the entrypoint instead of clearing it, e.g. {example} "
            "(and drop the CMD)",
        )
    if entry is not None and entry.exec_form and _has_variable(entry.args) and not _is_shell(entry):
        _exec_vars(ctx, docker, entry, "ENTRYPOINT", certain=True)
    if cmd is None or not cmd.exec_form or not _has_variable(cmd.args) or _is_shell(cmd):
        return
    expands = _cmd_expands(ctx, docker)
    if expands is not True:
        _exec_vars(ctx, docker, cmd, "CMD", certain=expands is False)


def _cmd_expands(ctx: Context, docker: Dockerfile) -> bool | None:
    """Whether the entrypoint evaluates an exec-form CMD with a shell (None: unknown)."""
    entry = docker.entrypoint
    if entry is None:
        return ctx.spec.base_entrypoint_evals if ctx.spec is not None else None
    if not entry.args:
        return False  # ENTRYPOINT []: the CMD runs as is
    if _is_shell(entry):
        return True
    script = docker.local_path(entry.args[0]) if entry.args[0].startswith("/") else None
    text = ctx.read(script) if script is not None else None
    if text is None:
        return None
    return bool(re.search(r"^\s*eval\b", text, re.M))


def _has_variable(args: Iterable[str]) -> bool:
    return any(VARIABLE.search(a) for a in args)


def _is_shell(command: Command) -> bool:
    return (
        bool(command.args)
        and PurePosixPath(command.args[0]).name in ("sh", "bash")
        and ("-c" in command.args)
    )


def _exec_vars(
    ctx: Context, docker: Dockerfile, command: Command, keyword: str, *, certain: bool
) -> None:
    report = ctx.error if certain else ctx.warn
    why = "" if certain else " unless the base image's entrypoint evaluates its arguments"
    report(
        "dockerfile.exec_vars",
        docker.rel,
        f"{keyword} (line {command.line})",
        f"exec-form {keyword} uses $VARIABLES, which are not expanded without a shell{why}",
        'Use the shell form, or ["sh", "-c", "..."], or an entrypoint script',
    )


def check_expose(ctx: Context) -> None:
    """Route ports against the Dockerfile's EXPOSE (the only evidence for unknown servers)."""
    docker = ctx.dockerfile
    if docker is None or not docker.expose:
        return
    reported = {p.key for p in ctx.problems if p.code == "route.port.mismatch"}
    seen: set[int] = set()
    for route in ctx.routes.values():
        key = f"{route.key}.port"
        if (
            route.port is None
            or route.port in docker.expose
            or route.port in seen
            or (key in reported)
        ):
            continue
        seen.add(route.port)
        exposed = ", ".join(map(str, docker.expose))
        if ctx.listen_port is None:
            ctx.error(
                "route.port.mismatch",
                route.file,
                key,
                f"{route.name}.port is {route.port} but {docker.rel} EXPOSEs {exposed}",
                f"Use the port the server listens on, or fix EXPOSE in {docker.rel}",
            )
        else:
            ctx.warn(
                "dockerfile.expose",
                docker.rel,
                "EXPOSE",
                f"{docker.rel} EXPOSEs {exposed} but the routes use {route.port}",
                f"EXPOSE {route.port} so local runs publish the port the routes use",
            )


def check_samples(ctx: Context) -> None:
    """The smoke test's sample request exists and parses (the deployment's own, when it has
    its own folder: scaffold.deployments.deployment_folder)."""
    from scaffold.deployments import deployment_folder

    smoke = ctx.root / "smoke_test.py"
    folder = deployment_folder(ctx.root, ctx.deployment_path, ctx.deployment)
    names = set(re.findall(r"sample_request\.\w+", ctx.read(smoke) or ""))
    if (folder / "sample_request.json").is_file():
        names.add("sample_request.json")
    for name in sorted(names):
        path = folder / name
        shown = ctx.rel(path)
        if not path.is_file():
            ctx.error(
                "smoke.sample.missing",
                shown,
                "",
                f"{shown} (used by smoke_test.py) is missing",
                f"Add {shown} with a request the model accepts",
            )
        elif name.endswith(".json"):
            _check_json(ctx, path, shown)
    expected = set(re.findall(r"sample_response\.\w+", ctx.read(smoke) or ""))
    for name in sorted(expected):
        shown = ctx.rel(folder / name)
        if not (folder / name).is_file():
            ctx.warn(
                "smoke.response.missing",
                shown,
                "",
                f"{shown} (the response smoke_test.py expects) is missing: the smoke test "
                "will fail after the request succeeds",
                f"Save the response the model should give to {shown} (the smoke test shows "
                "what the server answered), or run it with --expect none",
            )


def _check_json(ctx: Context, path: Path, name: str) -> None:
    from scaffold import limits

    try:
        limits.load_json(limits.read_bytes(path, limit=limits.MAX_FILE_BYTES * 16))
    except (ValueError, OSError) as error:  # limits.InputRejected is a ValueError
        ctx.error(
            "smoke.sample.invalid",
            name,
            "",
            f"{name} is not valid JSON: {error}",
            "Fix the JSON (the smoke test and `az ml online-endpoint invoke` send it)",
        )


def check_model_file(ctx: Context) -> None:
    """MODEL_FILE (read by the generated scoring scripts) points into the mounted model."""
    value = ctx.container_env.get("MODEL_FILE")
    model = ctx.model
    if not value or model is None or model.local is None:
        return
    container = value if value.startswith("/") else f"{model.model_dir}/{value}"
    local = ctx.resolve_container_path(container)
    if local is None or not local.exists():
        file, key = ctx.env_source("MODEL_FILE")
        ctx.error(
            "model.file.not_found",
            file,
            key,
            f"MODEL_FILE {value} is not in the mounted model (Azure mounts "
            f"{ctx.rel(model.local)} at {model.container_path})",
            f"Point MODEL_FILE at a file under {model.local.name}/ (relative to AZUREML_MODEL_DIR)",
        )


def check_gpu_image(ctx: Context) -> None:
    """An image that only runs with a GPU (the `gpu_only_images` facts) on a size without
    one (the instance facts) never starts: vLLM's CUDA image, NIM, TGI, CUDA/-gpu tags."""
    kind = (ctx.deployment or {}).get("instance_type")
    size = instances.lookup(kind) if isinstance(kind, str) else None
    if size is None or size.has_gpu or ctx.overridden("instance_type"):
        return  # no known size, a GPU size, or the deploy command picks the size
    candidates = [(image, file, key) for image, file, key in ctx.images]
    env = (ctx.deployment or {}).get("environment")
    if isinstance(env, str):
        candidates.append((env, ctx.deployment_file, "environment"))
    for image, file, key in candidates:
        found = instances.gpu_only_image(image)
        if found is None:
            continue
        gpu = instances.smallest_gpu_size()
        ctx.error(
            "image.gpu_only",
            file,
            key,
            f"`{image}` is {found.what}, but instance_type {size.name} has no GPU: the "
            "container cannot start",
            f"Use a GPU size for instance_type (e.g. {gpu.name}, 1 {gpu.gpu_model}) or, to "
            f"stay on CPU, {found.alternative}",
        )
        return


#: The generic checks, in order; the runner runs the server's contract between the two.
BEFORE_CONTRACT = (
    check_placeholders,
    check_endpoint,
    check_names,
    check_environment,
    check_model_and_code,
    check_settings,
    check_dockerfile,
    check_gpu_image,
)
AFTER_CONTRACT = (
    check_expose,
    check_model_file,
    check_samples,
    check_build_context,
    check_model_samples,
    pins.check_requirements,
    weights.check_weights,
)
