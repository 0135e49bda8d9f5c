"""Secrets kept out of images: the generated .dockerignore and .gitignore, `.dockerignore`
read the way Docker reads it (proven against a real build), and `scaffold validate`'s
report of a COPY/ADD that would put a secret into the image (scaffold.validate.buildcontext).

The Dockerfiles follow public ones: `COPY . /code` after `WORKDIR` (a FastAPI service on an
Azure ML inference image), `COPY ./* <model dir>/` (azure-ai-resources' generated
Dockerfile), `COPY . /` (a scoring image), and multi-stage builds.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Render
from scaffold import sensitive
from scaffold.validate import validate_project
from scaffold.validate.buildcontext import DockerIgnore

PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"

#: Files of a context, for the .dockerignore semantics.
CONTEXT_FILES = [
    ".env",
    ".env.example",
    "app/.env",
    "app/main.py",
    "app/prod.env",
    "app/certs/ca.pem",
    "app/certs/keep.pem",
    "a.c",
    "abc",
    "build/out/x.bin",
    "build/keep/x.bin",
    "deep/a/b/c/secret.key",
    "docs/readme.md",
    "logs/2024/app.log",
    "node_modules/pkg/index.js",
    "spaces in name.txt",
    "tmp1",
    "tmp22",
    "x/y/z",
]
#: Patterns exercising Docker's semantics: `**`, a leading `/`, `?`, classes, `!`
#: exceptions (the last match wins), a folder excluding its contents, comments, blanks.
DOCKERIGNORE = """\
# comment
**/.env
!.env.example
**/*.env
app/certs/*.pem
!app/certs/keep.pem
/abc
a?c
build/**
!build/keep
deep/**/*.key
logs
node_modules/
tmp?
  docs/*.md
x/*/z
"""


def _expected_included(ignore: DockerIgnore) -> set[str]:
    return {name for name in CONTEXT_FILES if not ignore.excludes(name)}


def _write_context(context: Path) -> None:
    for name in CONTEXT_FILES:
        path = context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (context / ".dockerignore").write_text(DOCKERIGNORE)


def test_dockerignore_semantics_without_docker(tmp_path: Path) -> None:
    _write_context(tmp_path)
    included = _expected_included(DockerIgnore.load(tmp_path))
    assert included == {
        ".env.example",
        "app/main.py",
        "app/certs/keep.pem",
        "build/keep/x.bin",
        "spaces in name.txt",
        "tmp22",
    }


@pytest.mark.docker
def test_dockerignore_matcher_agrees_with_a_real_docker_build(
    tmp_path: Path, standin: Callable[[str], str]
) -> None:
    """The same context built for real (`COPY . /ctx`): the files in the image are exactly
    the ones DockerIgnore keeps."""
    import docker

    context = tmp_path / "context"
    _write_context(context)
    (context / "Dockerfile").write_text(f"FROM {standin('base')}\nCOPY . /ctx\n")
    client = docker.from_env()
    tag = f"scaffold-test/dockerignore:{tmp_path.name.lower()}"
    image, _ = client.images.build(
        path=str(context), tag=tag, rm=True, forcerm=True,
        labels={"scaffold.project": str(tmp_path)},
    )  # fmt: skip
    try:
        listing = client.containers.run(
            image.id, ["find", "/ctx", "-type", "f"], remove=True, init=True
        ).decode()
    finally:
        client.images.remove(image.id, force=True)
    in_image = {line.removeprefix("/ctx/") for line in listing.split("\n") if line}
    in_image -= {"Dockerfile", ".dockerignore"}  # Docker always sends both
    assert in_image == _expected_included(DockerIgnore.load(context))


# --- the generated ignore files -------------------------------------------------------------
def _secret_names() -> list[str]:
    """A file name for every name pattern scaffold treats as a secret (globs instantiated)."""
    names = []
    for pattern in sensitive.names_for_ignore_files():
        name = pattern.replace("*", "x")
        names.append("accessTokens.json" if name == "accesstokens.json" else name)
    return names


@pytest.mark.parametrize("server", ["minimal", "plumber"])
def test_generated_dockerignore_keeps_every_secret_name_out(render: Render, server: str) -> None:
    project = render(server)
    ignore = DockerIgnore.load(project / "docker-context")
    for name in _secret_names():
        for where in (name, f"sub/{name}", f"a/b/{name}/inner"):
            assert ignore.excludes(where), where
    for kept in ("Dockerfile", "requirements.txt", "start_plumber.R", ".env.example", "models/x"):
        assert not ignore.excludes(kept), kept


def test_generated_gitignore_keeps_every_secret_name_out_of_git(render: Render) -> None:
    """Real git decides (`git check-ignore`), at the top and in sub-folders."""
    project = render("minimal")
    paths = [p for n in _secret_names() if n != ".git" for p in (n, f"model/sub/{n}")]
    checked = subprocess.run(
        ["git", "check-ignore", "--stdin", "--no-index"],
        cwd=project,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(checked) == sorted(paths)
    example = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", ".env.example"], cwd=project, check=False
    )
    assert example.returncode == 1  # not ignored: examples are meant to be committed


# --- scaffold validate ------------------------------------------------------------------------
def _problems(project: Path) -> list[tuple[str, str, str]]:
    report = validate_project(project, schema=False)
    return [(p.severity, p.key, p.message) for p in report.problems if p.code == "image.secret"]


def _with_dockerfile(render: Render, lines: str, files: dict[str, str], **answers: str) -> Path:
    project = render("minimal", **answers)
    context = project / "docker-context"
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + lines)
    for name, text in files.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text)
    return project


def test_the_generated_project_with_copy_all_is_clean(render: Render) -> None:
    """`COPY . /app` in a generated project: its .dockerignore keeps the secrets out."""
    project = _with_dockerfile(
        render,
        "WORKDIR /code\nCOPY . /code\n",
        {".env": "KEY=1\n", "keys/id_rsa": PRIVATE_KEY, "ca.pem": "cert", ".git/config": "x"},
    )
    assert _problems(project) == []


def test_copy_all_without_dockerignore_is_an_error_naming_the_files(render: Render) -> None:
    project = _with_dockerfile(
        render,
        "WORKDIR /code\nCOPY . /code\n",
        {".env": "AZURE_CLIENT_SECRET=x\n", "config/settings.json": '{"k": "' + PRIVATE_KEY[:40]},
    )
    (project / "docker-context" / ".dockerignore").unlink()
    ((severity, key, message),) = _problems(project)
    assert severity == "error" and key.startswith("COPY (line")
    assert ".env (an environment file)" in message
    assert "config/settings.json (a private key (line 1))" in message


def test_an_exception_that_lets_a_secret_back_in_is_reported(render: Render) -> None:
    project = _with_dockerfile(render, "COPY ./* /opt/model/\n", {"prod.env": "X=1\n"})
    ignore = project / "docker-context" / ".dockerignore"
    ignore.write_text(ignore.read_text() + "!prod.env\n")
    ((severity, _, message),) = _problems(project)
    assert severity == "error" and "prod.env (an environment file)" in message


def test_certificates_and_history_are_warnings(render: Render) -> None:
    """A `.pem` is often a public certificate and `.git/` is history: warnings, not errors."""
    project = _with_dockerfile(
        render, "COPY . /\n", {"certs/corporate-ca.pem": "-----BEGIN CERTIFICATE-----\n"}
    )
    (project / "docker-context" / ".dockerignore").write_text("")
    (project / "docker-context" / ".git").mkdir()
    ((severity, _, message),) = _problems(project)
    assert severity == "warning"
    assert "certs/corporate-ca.pem" in message and ".git" in message


def test_every_stage_counts_but_not_copies_from_other_stages_or_urls(render: Render) -> None:
    """A builder stage's `COPY . /src` keeps the key in the build cache (and its layers
    with --target): reported. `COPY --from` and an ADD of a URL read nothing from the
    context."""
    project = render("minimal")
    context = project / "docker-context"
    (context / ".dockerignore").unlink()
    (context / "deploy_key").write_text(PRIVATE_KEY)
    dockerfile = context / "Dockerfile"
    base = dockerfile.read_text()
    dockerfile.write_text(
        "FROM python:3.12-slim AS builder\nCOPY . /src\n"
        + base
        + "COPY --from=builder /src/requirements.txt /tmp/r.txt\n"
        + "ADD https://example.com/model.bin /opt/model.bin\n"
    )
    problems = _problems(project)
    assert [key for _, key, _ in problems] == ["COPY (line 2)"]
    assert "deploy_key (a private key (line 1))" in problems[0][2]


def test_an_explicit_copy_of_a_key_is_reported(render: Render) -> None:
    """(The generated .dockerignore excludes it, so the build would fail instead: the check
    is for hand-written projects without one.)"""
    project = _with_dockerfile(render, "COPY id_ed25519 /root/.ssh/id_ed25519\n", {})
    (project / "docker-context" / "id_ed25519").write_text(PRIVATE_KEY)
    (project / "docker-context" / ".dockerignore").unlink()
    ((severity, _, message),) = _problems(project)
    assert severity == "error" and "id_ed25519 (an SSH private key)" in message


@pytest.mark.docker
def test_the_generated_dockerignore_keeps_secrets_out_of_a_real_image(
    render: Render, standin: Callable[[str], str]
) -> None:
    """Built for real with `COPY . /app`: none of the secret names reaches the image."""
    import docker

    project = render("minimal", name="secret-ep", base_image=standin("minimal"))
    context = project / "docker-context"
    for name in _secret_names():
        path = context / "sub" / name if name != ".git" else context / ".git" / "config"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("secret")
    (context / "kept.txt").write_text("kept")
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "COPY . /app\n")
    client = docker.from_env()
    image, _ = client.images.build(
        path=str(context), rm=True, forcerm=True, labels={"scaffold.project": str(project)}
    )
    try:
        listing = client.containers.run(
            image.id, ["find", "/app"], remove=True, init=True, entrypoint=[]
        ).decode()
    finally:
        client.images.remove(image.id, force=True)
    found = set(listing.split()) - {"/app", "/app/sub"}  # the folder stays, empty
    assert found == {
        "/app/kept.txt",
        "/app/Dockerfile",
        "/app/.dockerignore",
        "/app/requirements.txt",
    }
