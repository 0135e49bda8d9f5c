"""`scaffold new --model`: a project that serves the user's own model, configured from it.

`prepare()` runs before anything is rendered: it checks the model (a local file or folder,
or a registered `azureml:NAME:VERSION` / `azureml:NAME@latest` reference, never copied) and
asks the server's model adapter, `scaffold.usermodel.<model_adapter>` as named by the server
registry, to read it. Every problem is a UsageError (exit 2) raised before a file is
written. The returned `Prepared.finish` then copies the model into the rendered project
(still in its staging folder) and writes what the adapter derived from the model.

Models are copied with streaming copies, never read whole; adapters inspect a model (load it
with onnx, joblib, ...) only when it is at most `inspect_limit()` bytes.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold import limits, sensitive
from scaffold.errors import UsageError
from scaffold.servers import SERVERS, ServerSpec, model_dir_for
from scaffold.usermodel import libraries

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.usermodel.modelenv import ModelEnv

#: Environment variable overriding the inspection limit, in bytes.
LIMIT_ENV = "SCAFFOLD_MODEL_INSPECT_LIMIT"
DEFAULT_LIMIT = 1 << 30  # 1 GiB
REFERENCE = re.compile(r"azureml:[A-Za-z0-9][A-Za-z0-9_.-]{0,254}(?::[1-9][0-9]{0,8}|@latest)")

#: Bytes of small files searched for secrets per model (keys and tokens are small files;
#: a model of many small files is searched up to this much, names are checked throughout).
CONTENT_BUDGET = 64 << 20

#: finish(project, answers, env) -> notes for the user: copies the model into the rendered
#: project, writes what was derived from it and records the samples where `env` allows.
Finish = Callable[[Path, Mapping[str, Any], "ModelEnv"], list[str]]


@dataclass(frozen=True)
class ModelFile:
    """The user's model as an adapter sees it."""

    path: Path
    size: int
    #: The model may be loaded for inspection (its size is within the limit).
    inspect: bool
    #: The answers given so far (e.g. the instance type the model is sized for).
    answers: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What an adapter derived from a model: answers to render with, and the finishing step."""

    answers: dict[str, Any] = field(default_factory=dict)
    #: Answers derived from the model that the user's own answers override.
    defaults: dict[str, Any] = field(default_factory=dict)
    finish: Finish | None = None
    notes: list[str] = field(default_factory=list)
    #: The model file or folder (None for a registered reference).
    source: Path | None = None
    #: Copy the model in the background while the template renders (the adapter places it
    #: with `env.place`); off when the adapter only reads it (e.g. packs it into an archive).
    prefetch: bool = True


def inspect_limit() -> int:
    """Largest model (bytes) that is loaded for inspection; larger ones are only copied."""
    raw = os.environ.get(LIMIT_ENV, "")
    if not raw:
        return DEFAULT_LIMIT
    try:
        return max(0, int(raw))
    except ValueError:
        raise UsageError(
            f"{LIMIT_ENV}={raw!r} is not a number of bytes; unset it or fix it"
        ) from None


def need(module: str, package: str) -> Any:
    """Import an optional heavy library, or fail with the line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(
            f"reading this model needs {package}: pip install 'aml-scaffold[models]' "
            f"(or pip install {package})"
        ) from None


@dataclass(frozen=True)
class ModelScan:
    """What `copy_model` takes from a model file or folder, decided without following links."""

    root: Path
    #: Bytes of the regular files that are copied (the model's size for inspection).
    size: int
    #: (source-relative POSIX path, kind) in walk order: kind is "dir", "file", or
    #: "link:<relative target>" for a link kept as a link.
    entries: tuple[tuple[str, str], ...]
    #: (source-relative path, why) of what is left out: dotfiles and dot-folders, key-like
    #: and credential files, and links to them.
    left_out: tuple[tuple[str, str], ...]
    #: Source-relative path -> (bytes, mode) of the small files read while searching them:
    #: copied from here, so what is copied is exactly what was searched (and read once).
    contents: Mapping[str, tuple[bytes, int]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def note(self) -> str | None:
        """One line for the user about what was left out (None when nothing was)."""
        if not self.left_out:
            return None
        shown = ", ".join(f"{path} ({why})" for path, why in self.left_out[:10])
        more = f" and {len(self.left_out) - 10} more" if len(self.left_out) > 10 else ""
        return (
            f"left out of the project and its git history: {shown}{more}; scaffold never "
            "copies dotfiles, keys or credentials from a model (copy a file in yourself if "
            "the model really needs it)"
        )


def scan_model(source: Path) -> ModelScan:
    """Decide what a copy of `source` (a model file or folder) takes, following no link.

    Left out, with the reason: every dot-named file or folder (`.git/`, `.cache/`, `.env`,
    `.ssh/` ...), every file whose name marks a key or credentials (`id_rsa`, `*.pem`,
    `credentials`, ... see scaffold.sensitive) and links to what is left out. Links that
    stay inside the model are kept as (relative) links. UsageError, before anything is
    written, for a link pointing out of the model (or broken, or looping), a pipe, socket
    or device, an unreadable file or folder, and a file holding a secret (a private key or
    a token, see scaffold.sensitive.secret_content).
    """
    root = source.resolve()
    if root.is_file() or not root.is_dir():
        return ModelScan(root, _checked_file(root, root.name, source), (("", "file"),), ())
    contents: dict[str, tuple[bytes, int]] = {}
    entries: list[tuple[str, str]] = [("", "dir")]
    left_out: list[tuple[str, str]] = []
    links: list[tuple[str, Path]] = []
    size = 0

    def unreadable(error: OSError) -> None:
        raise UsageError(
            f"--model {source}: cannot read {error.filename}: {error.strerror}; fix its permissions"
        )

    content_budget = CONTENT_BUDGET
    folders = [(str(root), "")]  # depth first, each folder's entries in name order
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as listing:
                found = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            unreadable(error)
        below: list[tuple[str, str]] = []
        for entry in found:
            name = entry.name
            rel = prefix + name
            why = sensitive.secret_name(rel)
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            if sensitive.hidden(name):
                why = "a dot-folder" if is_dir else "a dotfile"
            if why is not None:
                left_out.append((rel, why))
            elif is_link:
                links.append((rel, Path(entry.path)))
            elif is_dir:
                entries.append((rel, "dir"))
                below.append((entry.path, rel + "/"))
            else:
                search = content_budget > 0
                length = _checked_file(entry.path, rel, source, search=search, keep=contents)
                content_budget -= length if length <= sensitive.CONTENT_LIMIT else 0
                size += length
                entries.append((rel, "file"))
        folders.extend(reversed(below))
    kept = {rel for rel, _ in entries}
    for rel, path in links:
        target = _link_target(path, root, rel, source)
        if target not in kept:
            left_out.append((rel, f"a link to {target}, which is left out"))
            continue
        relative = os.path.relpath(root / target, path.parent)
        entries.append((rel, f"link:{relative}"))
    return ModelScan(root, size, tuple(entries), tuple(left_out), contents)


def _checked_file(
    path: str | Path,
    rel: str,
    source: Path,
    *,
    search: bool = True,
    keep: dict[str, tuple[bytes, int]] | None = None,
) -> int:
    """The size of a regular file that may be copied; UsageError otherwise (and, when
    `search`, for a file that holds a secret). A small file read whole goes into `keep`.

    One open, never following a link and never blocking (a pipe is refused, not waited
    on): what is searched is the file that was checked."""
    import stat

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(_not_regular(source, rel))
            small = search and info.st_size <= sensitive.CONTENT_LIMIT
            data = _read_all(fd, info.st_size) if small else b""
        finally:
            os.close(fd)
    except OSError as error:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            if not stat.S_ISREG(os.lstat(path).st_mode):
                raise UsageError(_not_regular(source, rel)) from None
        except OSError:
            pass
        fix = "; fix its permissions" if error.errno in (errno.EACCES, errno.EPERM) else ""
        raise UsageError(f"--model {source}: cannot read {rel}: {error.strerror}{fix}") from None
    secret = sensitive.secret_in(data) if data else None
    if secret is not None:
        raise UsageError(
            f"--model {source}: {rel} holds {secret}; remove the secret from the model "
            "(scaffold never copies secrets into a project, its git history or its image)"
        )
    if keep is not None and small and len(data) == info.st_size:
        keep[rel] = (data, info.st_mode)
    return info.st_size


def _not_regular(source: Path, rel: str) -> str:
    return (
        f"--model {source}: {rel} is not a regular file (a pipe, socket or device); "
        "a model holds files and folders only"
    )


def _read_all(fd: int, size: int) -> bytes:
    """Up to `size` bytes of an open file (a file shorter by now gives what it has)."""
    parts = []
    while size > 0:
        chunk = os.read(fd, size)
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _link_target(path: Path, root: Path, rel: str, source: Path) -> str:
    """The root-relative POSIX path a link inside the model resolves to; UsageError when it
    points out of the model, is broken or loops."""
    shown = f"{rel} -> {path.readlink()}"
    target = Path(os.path.realpath(path))
    if not target.exists():
        raise UsageError(
            f"--model {source}: the link {shown} is broken or loops; remove it or replace it "
            "with the file it should point to"
        )
    if target != root and root not in target.parents:
        raise UsageError(
            f"--model {source}: the link {shown} points out of the model folder, and scaffold "
            "never follows links out of it (it could copy any file of this machine into the "
            "project); copy the file into the model folder instead (e.g. cp -L)"
        )
    if target.is_dir() and (target == path.parent or target in path.parents):
        raise UsageError(
            f"--model {source}: the link {shown} points to a folder that contains it (a loop); "
            "remove it"
        )
    return target.relative_to(root).as_posix() if target != root else "."


def copy_model(source: Path, target: Path) -> list[str]:
    """Copy a model file or folder to `target`: the one way models enter a project.

    Streams file by file (never whole in memory), follows no link: links inside the model
    are copied as relative links, and everything `scan_model` leaves out (dotfiles,
    dot-folders such as `.git/`, keys and credential files) stays out. What cannot be copied
    safely (a link out of the model, a special file, a file holding a secret) is a
    UsageError raised before anything is written. A write failure (disk full, read-only) is
    raised as the OSError it is (`scaffold new` reports it as exit 12).

    Returns:
        The source-relative paths left out (empty for a single file).
    """
    scan = scan_model(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    root, into = str(scan.root), str(target)
    write = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for rel, kind in scan.entries:
        # strings and os calls, not pathlib: per-file overhead is most of a many-file copy
        src = f"{root}/{rel}" if rel else root
        dst = f"{into}/{rel}" if rel else into
        if kind == "dir":
            try:
                os.mkdir(dst)  # noqa: PTH102
            except FileExistsError:
                if not Path(dst).is_dir():
                    raise
        elif kind == "file" and rel in scan.contents:
            data, mode = scan.contents[rel]
            fd = os.open(dst, write, 0o600)
            try:  # the searched bytes, not a re-read
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, mode & 0o7777)
            finally:
                os.close(fd)
        elif kind == "file":
            _copy_file(Path(src), Path(dst), source)
        else:
            link = Path(dst)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(kind.removeprefix("link:"))
    return [rel for rel, _ in scan.left_out]


def _copy_file(src: Path, dst: Path, source: Path) -> None:
    """Copy one file with the kernel's zero-copy path where there is one (os.sendfile, as
    shutil does); a failure to open or read the source is the user's model (UsageError),
    anything else the destination's (the OSError itself: disk full, read-only)."""
    try:
        shutil.copyfile(src, dst, follow_symlinks=False)
    except OSError as error:
        # shutil names both files on a sendfile error, so a full or read-only disk is told
        # by its errno; only what fails on the source alone is the model's.
        full = error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
        if not full and (error.filename == str(src) or error.errno == errno.EIO):
            raise UsageError(
                f"--model {source}: cannot read {src.name}: {error.strerror}"
            ) from None
        raise
    shutil.copymode(src, dst, follow_symlinks=False)


def remove(project: Path, *relative: str) -> None:
    """Remove sample files the user's model replaces (missing ones are fine), and the folders
    they leave empty."""
    for name in relative:
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        parent = path.parent
        while parent != project and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


#: The Dockerfile line system packages are installed before (the generated images copy
#: their pip requirements next).
_REQUIREMENTS_COPY = "COPY requirements.txt"


def add_system_packages(project: Path, answers: Mapping[str, Any], requirements: str) -> str:
    """Install the system packages the requirements' wheels need (libraries.system_packages)
    in docker-context/Dockerfile, before the pip layer; returns a note, or "" for none."""
    from scaffold.requirements import parse

    dists = [req.name for req in parse(requirements).requirements]
    packages = libraries.system_packages(dists)
    dockerfile = project / "docker-context" / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8") if dockerfile.is_file() else ""
    if not packages or _REQUIREMENTS_COPY not in text:
        return ""
    user = SERVERS[str(answers["server"])].image_user
    block = [
        "# System libraries the model's Python packages load but do not bundle (written by",
        "# `scaffold new --model` from requirements.txt). apt needs root"
        + (";\n# the image's own user is restored after." if user else "."),
    ]
    block += ["USER root"] if user else []
    block += [
        "# hadolint ignore=DL3008",
        "RUN apt-get update \\",
        f"    && apt-get install -y --no-install-recommends {' '.join(packages)} \\",
        "    && rm -rf /var/lib/apt/lists/*",
    ]
    block += [f"USER {user}"] if user else []
    index = text.index(_REQUIREMENTS_COPY)
    while text.rfind("\n#", 0, index) == text.rfind("\n", 0, index - 1):  # its comment
        index = text.rfind("\n", 0, index - 1) + 1
    dockerfile.write_text(text[:index] + "\n".join(block) + "\n\n" + text[index:], encoding="utf-8")
    needing = ", ".join(d for d in dists if libraries.system_packages([d]))
    return f"docker-context/Dockerfile installs {', '.join(packages)} (needed by {needing})"


def model_dir(project: Path, answers: Mapping[str, Any]) -> Path:
    """The rendered project's model folder for these answers."""
    spec = SERVERS[str(answers["server"])]
    served = str(answers.get("served_model_name") or spec.served_model_name)
    return project / model_dir_for(spec, served)


def prepare(model: str, data: Mapping[str, Any]) -> Prepared:
    """Check `model` for the server in `data` and return the answers and finishing step.

    Raises UsageError (nothing written yet) for a missing server, a missing or unreadable
    model, a format the server cannot serve, or a missing optional library.
    """
    server = data.get("server")
    if not isinstance(server, str) or server not in SERVERS:
        raise UsageError("--model needs --server (one of " + ", ".join(SERVERS) + ")")
    spec = SERVERS[server]
    if model.startswith("azureml:"):
        return _reference(model, spec)
    prepared = prepare_file(model, spec, data)
    check_fit(prepared.answers, data)
    return prepared


def check_fit(answers: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    """UsageError when an answer given conflicts with what the model needs."""
    for key, value in answers.items():
        if key in data and data[key] != value:
            raise UsageError(
                f"--{key.replace('_', '-')} {data[key]} does not fit this model "
                f"(it needs {value}); leave the flag out"
            )


def adapter_of(spec: ServerSpec) -> Any:
    """The server's model adapter module, scaffold.usermodel.<model_adapter>."""
    return importlib.import_module(f"scaffold.usermodel.{spec.model_adapter}")


def prepare_file(model: str, spec: ServerSpec, data: Mapping[str, Any] | None = None) -> Prepared:
    """Check a local model file or folder and read it with the server's adapter (`data`:
    the answers given, which some adapters read)."""
    path = Path(model).expanduser()
    if not path.exists():
        raise UsageError(f"--model {model}: no such file or folder")
    if not (path.is_file() or path.is_dir()):
        raise UsageError(f"--model {model}: not a regular file or folder")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise UsageError(f"--model {model}: not readable (check its permissions)")
    if not spec.model_adapter:
        supported = ", ".join(name for name, s in SERVERS.items() if s.model_adapter)
        raise UsageError(
            f"--model PATH is not supported for {spec.name} yet (supported: {supported}); "
            "generate the sample project and replace its model, or use --model azureml:NAME:VERSION"
        )
    scan = scan_model(path)  # refuses links out of the model and secrets before any read
    expanded = max(scan.size, _expanded_size(scan.root, model))
    prepared: Prepared = adapter_of(spec).prepare(
        ModelFile(
            path=scan.root,
            size=scan.size,
            inspect=expanded <= inspect_limit(),
            answers=dict(data or {}),
        )
    )
    note = scan.note()
    if note is not None:
        prepared.notes.append(note)
    prepared.source = scan.root
    return prepared


def _expanded_size(path: Path, model: str) -> int:
    """What a zip-based model file (.mar, TorchScript .pt, .keras) inflates to, as its
    entries declare (0 for folders and other files): a small archive that inflates to
    gigabytes is copied, never loaded."""
    if not path.is_file():
        return 0
    try:
        return limits.zip_expanded_size(path) or 0
    except limits.InputRejected as error:
        raise UsageError(f"--model {model} {error}; not a model archive") from None
    except OSError as error:
        raise UsageError(f"--model {model}: cannot read it: {error.strerror}") from None


def _reference(model: str, spec: ServerSpec) -> Prepared:
    if not REFERENCE.fullmatch(model):
        raise UsageError(
            f"--model {model}: a registered model is azureml:NAME:VERSION or azureml:NAME@latest"
        )
    if not spec.model_dir:
        raise UsageError(f"{spec.name} projects have no model to reference; leave --model out")
    name, _, version = model.removeprefix("azureml:").replace("@", ":@").partition(":")
    answers: dict[str, Any] = {"model_asset": model, "model_name": name}
    if not version.startswith("@"):
        answers["model_version"] = version
    note = (
        f"deployment.yml references the registered model {model} (nothing copied); "
        f"register it with the layout of ./{spec.model_dir}. `scaffold run` needs a local model."
    )
    return Prepared(answers=answers, notes=[note])
