"""Build the test suite's stand-in base images (no container registry is reachable here).

``ensure_image(name)`` returns a local tag ``scaffold-standin/<name>:<hash12>`` and builds the
image only when no image with that tag *and* the label ``scaffold.recipe=<hash>`` exists.
``<hash>`` is the SHA-256 of the recipe folder's files (for derived images also of the base
tag), so repeated runs reuse the images and a changed recipe rebuilds.

Recipes live in ``recipes/<name>/``:

* ``base``: a Debian bookworm minbase rootfs from ``debootstrap``, with ``rootfs/`` overlaid
  onto it (apt sources, apt cleanup), imported with ``docker import``.
* every other recipe: a ``Dockerfile`` whose ``FROM`` is the build arg ``BASE`` (the ``base``
  image, or the recipe named in its ``base-recipe.txt``, e.g. ``mlflow`` on ``minimal``).
  It is built from a temporary copy of the folder, to which the build adds

  - ``ca-certificates.crt`` (the host CA bundle) when the Dockerfile mentions it;
  - ``wheels/`` when ``wheels.txt`` (pip download with dependencies) or
    ``wheels-nodeps.txt`` (``--no-deps``) exists: cp311 manylinux wheels downloaded on the
    host, so pins that only the host's pip configuration can satisfy (``torch==2.13.0`` →
    the local CPU wheel) work inside the build.

Run as a script: ``python tests/standins/build.py NAME...`` prints ``NAME=TAG`` lines.
Docker being unreachable is an error (RuntimeError), never a skip.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors

__all__ = [
    "LABEL",
    "RECIPES_DIR",
    "build_context",
    "ensure_image",
    "image_tag",
    "recipe_base",
    "recipe_hash",
    "recipe_names",
]

log = logging.getLogger(__name__)

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
LABEL = "scaffold.recipe"
REPOSITORY_PREFIX = "scaffold-standin"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_FILE_NAME = "ca-certificates.crt"
#: A derived recipe's file naming the recipe it builds on (default: ``base``).
BASE_RECIPE_FILE = "base-recipe.txt"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_ARGS = ("--variant=minbase", DEBIAN_SUITE)
# Image config for the imported base (docker import has none); part of the base hash.
BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)

# Wheels for the build context: CPython 3.11 (bookworm's python3) on glibc 2.36 x86_64.
WHEEL_TARGET_ARGS = (
    "--only-binary=:all:",
    "--implementation=cp",
    "--python-version=3.11",
    "--abi=cp311",
    "--platform=manylinux2014_x86_64",
    "--platform=manylinux_2_17_x86_64",
    "--platform=manylinux_2_28_x86_64",
    "--platform=manylinux_2_34_x86_64",
    "--platform=manylinux_2_35_x86_64",
    "--platform=manylinux_2_36_x86_64",
)

BUILD_TIMEOUT_S = 3600
LOG_TAIL_LINES = 40

#: Caches that outlive a test session (model venvs, this lock): not in TMPDIR, which each
#: test session points at a folder of its own.
TEST_CACHE = Path(
    os.environ.get("SCAFFOLD_TEST_CACHE") or Path.home() / ".cache" / "scaffold-tests"
)
_LOCK_PATH = TEST_CACHE / "standin.lock"
_thread_lock = threading.RLock()
_lock_depth = 0
_lock_file: IO[str] | None = None


# --------------------------------------------------------------------------- recipes


def recipe_names() -> list[str]:
    """All recipe names (folders under ``recipes/``)."""
    return sorted(p.name for p in RECIPES_DIR.iterdir() if p.is_dir())


def _recipe_dir(name: str) -> Path:
    folder = RECIPES_DIR / name
    if not name or "/" in name or not folder.is_dir():
        raise ValueError(f"unknown stand-in {name!r}; known: {', '.join(recipe_names())}")
    return folder


def recipe_base(name: str) -> str:
    """The recipe a derived recipe builds on: the one named in its ``base-recipe.txt``, else
    ``base``."""
    named = _recipe_dir(name) / BASE_RECIPE_FILE
    base = named.read_text(encoding="utf-8").strip() if named.is_file() else "base"
    if base == name:
        raise ValueError(f"stand-in {name} names itself in {BASE_RECIPE_FILE}")
    _recipe_dir(base)
    return base


def _hash_folder(folder: Path, digest: Any) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in rel:
            continue
        digest.update(rel.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")


def recipe_hash(name: str) -> str:
    """SHA-256 (hex) of the recipe folder's files; derived recipes also hash the base tag."""
    folder = _recipe_dir(name)
    digest = hashlib.sha256()
    _hash_folder(folder, digest)
    if name == "base":
        params = [DEBIAN_MIRROR, *DEBOOTSTRAP_ARGS, *BASE_CHANGES]
        digest.update("\0".join(params).encode())
    else:
        digest.update(f"BASE={image_tag(recipe_base(name))}".encode())
    return digest.hexdigest()


def image_tag(name: str) -> str:
    """The tag ``ensure_image(name)`` returns (computed without Docker)."""
    return f"{REPOSITORY_PREFIX}/{name}:{recipe_hash(name)[:12]}"


# --------------------------------------------------------------------------- docker


def _client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=BUILD_TIMEOUT_S)
        client.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeError(
            f"Docker is unreachable ({exc}); the stand-in images need a running Docker Engine"
        ) from exc
    return client


def _image_matches(client: docker.DockerClient, tag: str, digest: str) -> bool:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    labels: dict[str, str] = image.labels or {}
    return labels.get(LABEL) == digest


@contextmanager
def _build_lock() -> Iterator[None]:
    """Process-wide (fcntl) and thread-wide lock; re-entrant within this process."""
    global _lock_depth, _lock_file
    with _thread_lock:
        if _lock_depth == 0:
            _LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
            handle = _LOCK_PATH.open("a+")
            fcntl.flock(handle, fcntl.LOCK_EX)
            _lock_file = handle
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
            if _lock_depth == 0 and _lock_file is not None:
                fcntl.flock(_lock_file, fcntl.LOCK_UN)
                _lock_file.close()
                _lock_file = None


def ensure_image(name: str) -> str:
    """Return the tag of stand-in ``name``, building it (and its base) only if needed."""
    digest = recipe_hash(name)
    tag = f"{REPOSITORY_PREFIX}/{name}:{digest[:12]}"
    client = _client()
    if _image_matches(client, tag, digest):
        return tag
    with _build_lock():
        if not _image_matches(client, tag, digest):  # another process may have built it
            started = time.monotonic()
            if name == "base":
                log.info("building stand-in base as %s", tag)
                _build_base(client, tag, digest)
            else:
                base_tag = ensure_image(recipe_base(name))
                log.info("building stand-in %s as %s", name, tag)
                _build_recipe(client, name, tag, digest, base_tag)
            if not _image_matches(client, tag, digest):
                raise RuntimeError(f"built {tag} but it lacks the label {LABEL}={digest}")
            log.info("built %s in %.1f s", tag, time.monotonic() - started)
    return tag


# --------------------------------------------------------------------------- base


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    mounts: list[str] = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            target = fields[1].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                mounts.append(target)
    return sorted(mounts, reverse=True)


def _remove_rootfs(rootfs: Path) -> None:
    """Delete the rootfs, but never through a mount debootstrap may have left behind."""
    for target in _mounts_under(rootfs):
        subprocess.run(["umount", "--lazy", target], check=False)
    if _mounts_under(rootfs):
        raise RuntimeError(f"{rootfs} still has mounts; not deleting it")
    shutil.rmtree(rootfs, ignore_errors=True)


def _build_base(client: docker.DockerClient, tag: str, digest: str) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise RuntimeError("building the base stand-in needs root (debootstrap)")
    work = Path(tempfile.mkdtemp(prefix="scaffold-standin-rootfs-"))
    rootfs = work / "rootfs"
    try:
        result = subprocess.run(
            [debootstrap, *DEBOOTSTRAP_ARGS, str(rootfs), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:]
            raise RuntimeError("debootstrap failed:\n" + "\n".join(tail))
        shutil.copytree(_recipe_dir("base") / "rootfs", rootfs, dirs_exist_ok=True)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        _import_rootfs(client, rootfs, tag, digest)
    finally:
        _remove_rootfs(work)


def _import_rootfs(client: docker.DockerClient, rootfs: Path, tag: str, digest: str) -> None:
    repository, _, version = tag.rpartition(":")
    changes = [*BASE_CHANGES, f"LABEL {LABEL}={digest}"]
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None and tar.stderr is not None
    try:
        output = client.api.import_image(
            src=tar.stdout, repository=repository, tag=version, changes=changes, stream_src=True
        )
    finally:
        tar.stdout.close()
        stderr = tar.stderr.read().decode(errors="replace")
        tar.stderr.close()
        rc = tar.wait()
    if rc != 0:
        raise RuntimeError(f"tar of the rootfs failed ({rc}): {stderr}")
    if '"error"' in str(output):
        raise RuntimeError(f"docker import failed: {output}")


# --------------------------------------------------------------------------- derived


def _pip_download(requirements: Path, dest: Path, *, deps: bool) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet"]
    cmd += [*WHEEL_TARGET_ARGS, "--dest", str(dest), "-r", str(requirements)]
    if not deps:
        cmd.append("--no-deps")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:]
        raise RuntimeError(f"pip download -r {requirements.name} failed:\n" + "\n".join(tail))


def _prepare_context(name: str, context: Path) -> None:
    shutil.copytree(_recipe_dir(name), context, dirs_exist_ok=True)
    if CA_FILE_NAME in (context / "Dockerfile").read_text():
        if not HOST_CA_BUNDLE.is_file():
            raise RuntimeError(f"recipe {name} needs the host CA bundle {HOST_CA_BUNDLE}")
        shutil.copyfile(HOST_CA_BUNDLE, context / CA_FILE_NAME)
    wheels = context / "wheels"
    for file_name, deps in (("wheels.txt", True), ("wheels-nodeps.txt", False)):
        if (context / file_name).is_file():
            wheels.mkdir(exist_ok=True)
            _pip_download(context / file_name, wheels, deps=deps)


def _build_recipe(
    client: docker.DockerClient, name: str, tag: str, digest: str, base_tag: str
) -> None:
    with tempfile.TemporaryDirectory(prefix=f"scaffold-standin-{name}-") as tmp:
        context = Path(tmp) / "context"
        _prepare_context(name, context)
        try:
            build_context(
                client, context, tag, labels={LABEL: digest}, buildargs={"BASE": base_tag}
            )
        except RuntimeError as error:
            raise RuntimeError(f"docker build of {name} ({tag}) failed:\n{error}") from None


_STEP_ID = re.compile(r"^\s*---> ([0-9a-f]{12,64})\s*$")


def build_context(
    client: docker.DockerClient,
    context: Path,
    tag: str,
    *,
    labels: dict[str, str],
    buildargs: dict[str, str],
) -> list[str]:
    """Build `context` into `tag` with the classic builder (the Docker SDK's), then remove the
    untagged final images of its earlier stages, which a multi-stage build leaves dangling
    (`<none>` in `docker images`), also when the build fails. Only images this build's
    own output names are removed, and only while nothing else uses them; the layers of the
    tagged image stay (they are its parents). Returns the ids removed; RuntimeError with the
    log tail when the build fails."""
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    error: str | None = None
    produced: list[str] = []
    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=BUILD_TIMEOUT_S,
        )
        for chunk in stream:
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in str(text).splitlines():
                if line.strip():
                    tail.append(line)
                step = _STEP_ID.match(line)
                if step:
                    produced.append(step.group(1))
            if "error" in chunk:
                error = str(chunk.get("error"))
                tail.append(error)
    finally:
        removed = _remove_stage_leftovers(client, produced)
    if error is not None:
        raise RuntimeError("\n".join(tail))
    return removed


def _remove_stage_leftovers(client: docker.DockerClient, produced: list[str]) -> list[str]:
    """Remove the images among `produced` (short ids from a build's output) that are dangling
    now: the final images of stages the target stage only copied from."""
    if not produced:
        return []
    dangling = client.images.list(filters={"dangling": True})
    removed = []
    for image in dangling:
        short = str(image.id).removeprefix("sha256:")
        if any(short.startswith(step) for step in produced):
            try:
                client.images.remove(str(image.id), force=False, noprune=False)
                removed.append(str(image.id))
            except docker.errors.APIError:
                continue  # used by a container, or a parent after all: keep it
    return removed


# --------------------------------------------------------------------------- CLI


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: build.py NAME... (names: {' '.join(recipe_names())})", file=sys.stderr)
        return 2
    for name in argv:
        print(f"{name}={ensure_image(name)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
