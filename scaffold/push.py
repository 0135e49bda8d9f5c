"""`scaffold deploy --push`: build the image locally for the platform Azure runs
(linux/amd64), push it to the workspace's container registry, and deploy it as
`environment.image` instead of letting Azure build `environment.build`.

The registry is the workspace's own (its ARM id from `workspaces.get`); docker logs in with
an ACR refresh token exchanged for the signed-in identity's ARM token (ACR's documented
`/oauth2/exchange`, the same as `az acr login --expose-token`). The token goes to the
Docker SDK's `login` only, never to output or files.

Proven here: the build and the switch of the deployment entity to `image:`. Pushing to a
real registry is proven only against Azure (no registry is reachable from the test machines).
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.errors import AzureError, DockerError
from scaffold.redact import register_secret

if TYPE_CHECKING:
    from scaffold.deploy import DeployPlan
    from scaffold.localrun import Reporter

#: Azure ML runs linux/amd64 containers.
PLATFORM = "linux/amd64"
#: The user name ACR expects with a refresh token.
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"


def use_image(plan: DeployPlan, image: str) -> None:
    """Switch the deployment entity from `environment.build` to `environment.image`,
    keeping its routes (inference_config) and OS type."""
    from azure.ai.ml.entities import Environment

    old = plan.deployment.environment
    plan.deployment.environment = Environment(
        image=image,
        inference_config=getattr(old, "inference_config", None),
        os_type=getattr(old, "os_type", None) or "linux",
    )


def _build_context(plan: DeployPlan) -> tuple[Path, str]:
    build = getattr(plan.deployment.environment, "build", None)
    path = getattr(build, "path", None)
    if not path:
        raise AzureError(
            "--push needs environment.build.path in deployment.yml (the image is already an "
            "environment.image: deploy without --push)"
        )
    context = Path(str(path))
    if not context.is_absolute():
        context = (plan.project / context).resolve()
    return context, str(getattr(build, "dockerfile_path", None) or "Dockerfile")


def context_digest(context: Path) -> str:
    """A short content hash of the build context (the image tag: same files, same tag)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def image_name(plan: DeployPlan, registry: str) -> str:
    """`<registry>/<endpoint>-<deployment>:<context hash>`."""
    context, _ = _build_context(plan)
    return f"{registry}/{plan.endpoint_name}-{plan.deployment_name}:{context_digest(context)}"


def build_image(plan: DeployPlan, tag: str, reporter: Reporter, *, client: Any = None) -> str:
    """Build the project's build context into `tag` for linux/amd64 with the Docker SDK."""
    from scaffold import container

    context, dockerfile = _build_context(plan)
    docker = client or container.connect()
    reporter.step(f"Building {tag} ({PLATFORM})")
    result = container.build(
        docker,
        context,
        dockerfile,
        tag,
        lambda line, step: reporter.detail(line, important=step),
        platform=PLATFORM,
        labels={"scaffold.project": str(plan.project)},
    )
    return result.image_id


def workspace_registry(ml_client: Any) -> str:
    """The login server of the workspace's container registry (`<name>.azurecr.io`)."""
    from scaffold.deploy import azure_errors, sdk_quiet

    with sdk_quiet(), azure_errors("reading the workspace"):
        workspace = ml_client.workspaces.get(ml_client.workspace_name)
    registry = str(getattr(workspace, "container_registry", "") or "")
    if not registry:
        raise AzureError(
            "the workspace has no container registry yet (Azure creates it with the first "
            "image build); deploy once without --push, or attach a registry to the workspace"
        )
    return registry.rstrip("/").split("/")[-1].lower() + ".azurecr.io"


def acr_refresh_token(ml_client: Any, login_server: str) -> str:
    """Exchange the signed-in identity's ARM token for an ACR refresh token."""
    credential = ml_client._credential
    resource_manager = str(getattr(ml_client, "_base_url", "") or "https://management.azure.com")
    arm = credential.get_token(resource_manager.rstrip("/") + "/.default").token
    register_secret(arm)
    body = urllib.parse.urlencode(
        {"grant_type": "access_token", "service": login_server, "access_token": arm}
    ).encode()
    request = urllib.request.Request(
        f"https://{login_server}/oauth2/exchange",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        # A fresh opener: proxy settings are read now, not when urllib was first used.
        with urllib.request.build_opener().open(request, timeout=60) as response:
            token = str(json.loads(response.read())["refresh_token"])
    except (OSError, ValueError, KeyError) as error:
        raise AzureError(
            f"could not get a token for {login_server}: {error}; the identity needs AcrPush "
            "on the workspace's registry"
        ) from None
    register_secret(token)
    return token


def push_image(plan: DeployPlan, ml_client: Any, reporter: Reporter) -> str:
    """Build and push the image to the workspace registry; return its reference."""
    from docker.errors import APIError

    from scaffold import container

    registry = workspace_registry(ml_client)
    image = image_name(plan, registry)
    docker = container.connect()
    build_image(plan, image, reporter, client=docker)
    token = acr_refresh_token(ml_client, registry)
    reporter.step(f"Pushing {image}")
    try:
        docker.login(username=ACR_TOKEN_USER, password=token, registry=registry)
        for chunk in docker.images.push(image, stream=True, decode=True):
            if "error" in chunk:
                raise DockerError(f"docker push of {image} failed: {chunk['error']}")
            status = chunk.get("status")
            if status and not chunk.get("progressDetail"):
                reporter.detail(str(status))
    except APIError as error:
        raise DockerError(f"docker push of {image} failed: {error}") from None
    return image
