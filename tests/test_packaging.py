"""The bundled template across two real package builds: 0.1.0 generates, 0.2.0 updates.

Builds two wheels of scaffold from a throwaway copy of this repository (the second with a
changed template and version), installs each into its own folder, and runs them as two
machines that share nothing but the project: a project generated on machine 1 with 0.1.0
updates on machine 2, which only ever had 0.2.0, with `scaffold update` and with plain
`copier update`, offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, git

pytestmark = pytest.mark.timeout(600)


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _build(repo: Path, version: str, out: Path) -> Path:
    for path, old in (
        (repo / "pyproject.toml", 'version = "'),
        (repo / "scaffold/__init__.py", '__version__ = "'),
    ):
        text = path.read_text()
        start = text.index(old) + len(old)
        path.write_text(text[:start] + version + text[text.index('"', start) :])
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"release {version}")
    git(repo, "tag", f"v{version}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(repo),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(out.glob(f"aml_scaffold-{version}-*.whl"))
    target = out / f"site-{version}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def _machine(tmp: Path, name: str, site: Path) -> dict[str, str]:
    home = tmp / name
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = U\n\temail = u@example.invalid\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        SCAFFOLD_CACHE_DIR=str(home / "cache"),
        XDG_CACHE_HOME=str(home / "xdg"),
        PYTHONPATH=str(site),
    )
    return env


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_project_from_old_release_updates_on_a_machine_with_only_the_new_one(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "scaffold-src"
    repo.mkdir()
    _copy_repo(repo)
    git(repo, "init", "-q")
    old_site = _build(repo, "0.1.0", tmp_path / "dist")
    gitignore = repo / "templates" / "_shared" / "gitignore.jinja"
    gitignore.write_text(gitignore.read_text() + "# added in 0.2.0\n")
    new_site = _build(repo, "0.2.0", tmp_path / "dist")

    machine1 = _machine(tmp_path, "machine1", old_site)
    made = _run(
        machine1,
        tmp_path,
        "-m",
        "scaffold",
        "new",
        "--server",
        "minimal",
        "--defaults",
        str(tmp_path / "old-ep"),
    )
    assert made.returncode == 0, made.stderr
    project = tmp_path / "old-ep"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.1.0"
    assert answers["_src_path"] == "https://aml-scaffold.invalid/bundled/templates.git"
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace("instance_count: 1", "instance_count: 4"))
    git(project, "commit", "-qam", "scale out")
    copy_for_copier = tmp_path / "old-ep-copy"
    shutil.copytree(project, copy_for_copier)

    machine2 = _machine(tmp_path, "machine2", new_site)
    version = _run(machine2, tmp_path, "-c", "import scaffold; print(scaffold.__version__)")
    assert version.stdout.strip() == "0.2.0"
    updated = _run(machine2, tmp_path, "-m", "scaffold", "update", str(project))
    assert updated.returncode == 0, updated.stderr
    assert "v0.1.0 -> v0.2.0" in updated.stdout
    assert "# added in 0.2.0" in (project / ".gitignore").read_text()
    assert "instance_count: 4" in deployment.read_text()

    # Plain copier on machine 2 (scaffold has run there once, so git knows the redirect).
    plain = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults"],
        cwd=copy_for_copier,
        env=machine2,
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 0, plain.stderr
    assert "# added in 0.2.0" in (copy_for_copier / ".gitignore").read_text()
    assert "instance_count: 4" in (copy_for_copier / "deployment.yml").read_text()
    assert (
        yaml.safe_load((copy_for_copier / ".copier-answers.yml").read_text())["_commit"] == "v0.2.0"
    )


def test_old_pip_resolves_the_extras(tmp_path: Path) -> None:
    """pip 23.2 (what a Python 3.11 venv starts with) resolves `aml-scaffold[azure,models,
    plot]` without crashing: with mlflow-skinny in [models] its resolver died with
    InconsistentCandidate on opentelemetry-sdk (azure-monitor-opentelemetry pins it)."""
    import tomllib

    venv = tmp_path / "old-pip"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "pip==23.2.1"], check=True, capture_output=True)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    wheel = next(wheels.glob("aml_scaffold-*.whl"))
    proc = subprocess.run(
        [*pip, "install", "--dry-run", "--ignore-installed", "--report", str(tmp_path / "r.json"),
         f"aml-scaffold[azure,models,plot] @ {wheel.as_uri()}"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "23.2.1" in subprocess.run([*pip, "--version"], capture_output=True, text=True).stdout
    installed = {
        item["metadata"]["name"].lower()
        for item in json.loads((tmp_path / "r.json").read_text())["install"]
    }
    assert {"azure-ai-ml", "onnx", "onnxruntime", "matplotlib"} <= installed
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "mlflow-skinny" not in " ".join(extras["optional-dependencies"]["models"])
