"""The Docker adapter against a real engine: layer caching for every server's image."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import SERVERS, Render
from scaffold.localrun import LocalDeployment

pytestmark = pytest.mark.docker

#: Base image per server for the build: the stand-in with the real server where one
#: exists; TF Serving's binary cannot be had here, and its Dockerfile only sets ENV,
#: COPY and EXPOSE on top of the base, so the plain Debian stand-in shows its caching.
_BASE = {"tfserving": "base"}


@pytest.mark.parametrize("server", SERVERS)
def test_second_build_comes_from_the_layer_cache(
    render: Render, standin: Callable[[str], str], server: str
) -> None:
    """Rebuilding an unchanged project rebuilds no layer (the plumber image's old
    `ENTRYPOINT []` made every build start from scratch with the classic builder)."""
    project = render(server, name=f"{server}-cache", base_image=standin(_BASE.get(server, server)))
    deployment = LocalDeployment(project)
    first = deployment.build()
    assert first.steps >= 2
    second = deployment.build()
    assert second.fully_cached, f"{second.cached} of {second.steps} steps cached"
    assert second.image_id == first.image_id
    # Editing mounted code (or anything outside the build context) rebuilds nothing either.
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")
    assert deployment.build().fully_cached
