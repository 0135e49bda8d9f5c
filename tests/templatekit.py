"""Real template repositories for update tests: git repos with copier.yml, tagged releases.

`TemplateRepo` writes files, commits and tags releases (lightweight or annotated, moved
with --force), the way a platform team evolves its template. `mini_template` makes a small
Azure-ML-shaped template (a deployment YAML, an endpoint YAML, a Dockerfile, a README) that
renders in a fraction of the bundled template's time, for scenarios that need many copier
runs; the bundled template itself (`scaffold template init`) is used where the issue's
real-world cases need it.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import yaml


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stdout (raises on failure, with git's message)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


class TemplateRepo:
    """A template's git repository, changed and released step by step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not (path / ".git").exists():
            path.mkdir(parents=True, exist_ok=True)
            git(path, "init", "-q", "-b", "main")

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))

    def replace(self, name: str, old: str, new: str) -> None:
        target = self.path / name
        text = target.read_text()
        assert old in text, (name, old)
        target.write_text(text.replace(old, new, 1))

    def remove(self, name: str) -> None:
        (self.path / name).unlink()

    def commit(self, message: str) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD").strip()

    def release(self, tag: str, message: str = "", *, annotated: str = "") -> str:
        """Commit everything and tag it; returns the commit."""
        commit = self.commit(message or f"release {tag}")
        self.tag(tag, annotated=annotated)
        return commit

    def tag(
        self, name: str, commit: str = "HEAD", *, force: bool = False, annotated: str = ""
    ) -> None:
        args = ["tag"]
        if force:
            args.append("--force")
        if annotated:
            args += ["-a", "-m", annotated]
        git(self.path, *args, name, commit)

    def questions(self) -> dict[str, object]:
        loaded = yaml.safe_load((self.path / "copier.yml").read_text())
        assert isinstance(loaded, dict)
        return loaded


MINI_COPIER_YML = """
_subdirectory: project
_answers_file: .copier-answers.yml
_envops:
  keep_trailing_newline: true
  undefined: jinja2.StrictUndefined
endpoint_name:
  type: str
  default: demo-ep
instance_type:
  type: str
  default: Standard_DS3_v2
instance_count:
  type: int
  default: 1
request_timeout_ms:
  type: int
  default: 5000
"""

MINI_DEPLOYMENT = """
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: {{ endpoint_name | tojson }}
environment:
  build:
    path: ./docker-context
  inference_config:
    liveness_route:
      port: 5001
      path: /
    readiness_route:
      port: 5001
      path: /
    scoring_route:
      port: 5001
      path: /score
environment_variables:
  WORKER_COUNT: "1"
  AZUREML_ENTRY_SCRIPT: score.py
instance_type: {{ instance_type | tojson }}
instance_count: {{ instance_count | tojson }}
request_settings:
  request_timeout_ms: {{ request_timeout_ms | tojson }}
  max_concurrent_requests_per_instance: 1
liveness_probe:
  initial_delay: 10
  period: 10
readiness_probe:
  initial_delay: 10
  period: 10
"""

MINI_README = """
# {{ endpoint_name }}

Deploy with `az ml online-deployment create -f deployment.yml`.

## Local run

Run `scaffold run` in this folder.
"""

MINI_DOCKERFILE = """
FROM mcr.microsoft.com/azureml/minimal-py312-inference:latest
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
"""


def mini_template(path: Path, tag: str = "v1.0.0") -> TemplateRepo:
    """A small Azure-ML-shaped copier template, released as `tag`."""
    repo = TemplateRepo(path)
    repo.write("copier.yml", MINI_COPIER_YML)
    repo.write(
        "project/{{_copier_conf.answers_file}}.jinja",
        """
        # Changes here will be overwritten by Copier; NEVER EDIT MANUALLY
        {{ _copier_answers | to_nice_yaml -}}
        """,
    )
    repo.write("project/deployment.yml.jinja", MINI_DEPLOYMENT)
    repo.write(
        "project/endpoint.yml.jinja",
        """
        name: {{ endpoint_name | tojson }}
        auth_mode: key
        """,
    )
    repo.write("project/README.md.jinja", MINI_README)
    repo.write("project/docker-context/Dockerfile", MINI_DOCKERFILE)
    repo.write("project/docker-context/requirements.txt", "azureml-inference-server-http\n")
    repo.release(tag)
    return repo


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (must be there) by `new` in a project file."""
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def commit_all(project: Path, message: str) -> str:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
    return git(project, "rev-parse", "HEAD").strip()


def values_named(data: object, key: str) -> list[object]:
    """Every value of `key` anywhere in parsed YAML."""
    found: list[object] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                found.append(v)
            found += values_named(v, key)
    elif isinstance(data, list):
        for item in data:
            found += values_named(item, key)
    return found


def assert_kept_or_reported(
    project: Path, file: str, user_values: dict[tuple[str, ...], object], reported: set[str]
) -> None:
    """The invariant of every update, checked independently of scaffold's own check: each
    value the user set is at a key of its name in the file, or its dotted key is among the
    reported ones."""
    data = yaml.safe_load((project / file).read_text())
    for path, value in user_values.items():
        key = ".".join(path)
        if value in values_named(data, path[-1]):
            continue
        assert key in reported, f"{file}: {key}={value!r} lost, not reported; reported {reported}"
