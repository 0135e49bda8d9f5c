"""Where a project's template comes from: the bundled one, a local git repo, or a URL.

`copier update` needs the template as a git repository whose root holds copier.yml, with
a tag per version, and it renders the *old* version from the `_src_path` recorded in the
project. The template bundled in scaffold's package is a plain folder, so:

- it is materialised into a git repository in scaffold's cache (`cache_dir()/templates`),
  one commit and one `v<version>` tag per version; a wheel also ships the template history
  of every earlier release as a git bundle, fetched into that repository, so a project made
  with an older scaffold updates on a machine that never had that version installed;
- projects record a stable canonical URL (`CANONICAL_URL`) as `_src_path`, and git is told
  to read that URL from the cache repository (`url.<cache>.insteadOf`): through environment
  variables for scaffold's own copier calls, and once in the user's global git config so
  that plain `copier update` works too (opt out with SCAFFOLD_NO_GIT_CONFIG=1).

Template URLs are checked before git sees them (`check_url`): only local paths, `file://`,
`https://`, `http://`, `ssh://`, `git://`, scp-like `user@host:path` and copier's `gh:`/`gl:`
shortcuts; git's remote helpers (`ext::`, `fd::`, any `NAME::ADDRESS`) are refused with one
line. scaffold also sets git's transport allowlist itself (`git_policy`), so neither
the user's git config nor a recorded `_src_path` can enable another transport.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold import __version__
from scaffold.errors import ScaffoldError, TemplateError, UsageError, WriteError
from scaffold.gitutil import BOT_ENV, git, init_and_commit, is_repo_root

_FINGERPRINT_KEY = "scaffold-template-fingerprint:"
#: What bundled-template projects record as `_src_path`; never fetched over the network.
CANONICAL_URL = "https://aml-scaffold.invalid/bundled/templates.git"
_CANONICAL_PATTERN = "^" + CANONICAL_URL.replace(".", r"\.") + "$"


@dataclass(frozen=True)
class TemplateRef:
    """A template copier can clone: `url` (path or URL) at `ref` (a commit, or a tag; None
    = newest tag)."""

    url: str
    ref: str | None
    bundled: bool
    #: The version as the user named it (tag, branch, commit), for messages.
    name: str = ""
    #: The template's repository (scaffold.template_repo.TemplateRepo), when resolved.
    repo: Any = field(default=None, compare=False, repr=False)

    def questions(self, *, installed: bool = False) -> dict[str, dict[str, Any]]:
        """The questions of the template at `ref` (`installed`: the bundled template as
        installed, which is what `v<this version>` holds)."""
        if installed or self.repo is None or self.ref is None:
            return load_questions()
        with self.repo.checkout(self.ref, self.repo.config_files(self.ref)) as tree:
            return load_questions(tree)


def bundled_dir() -> Path:
    """The template folder shipped with this installation of scaffold."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / "copier.yml").is_file():
            return candidate
    raise TemplateError(
        "scaffold's bundled templates are missing from this installation; reinstall scaffold"
    )


def cache_dir() -> Path:
    """scaffold's cache folder (SCAFFOLD_CACHE_DIR, else XDG_CACHE_HOME/scaffold)."""
    explicit = os.environ.get("SCAFFOLD_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base).expanduser() / "scaffold").resolve()


def cache_write_error(path: Path, error: OSError) -> ScaffoldError:
    """A cache folder that cannot be written (read-only HOME, full disk), as one line."""
    import errno

    reason = os.strerror(error.errno) if error.errno else str(error)
    if error.errno not in {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}:
        return TemplateError(f"cannot use scaffold's template cache {path}: {reason}")
    return WriteError(
        f"cannot write scaffold's template cache {path}: {reason}; set SCAFFOLD_CACHE_DIR "
        "to a writable folder (e.g. SCAFFOLD_CACHE_DIR=/tmp/scaffold-cache)"
    )


def bundled_repo_path() -> Path:
    """Path of the git repository holding the bundled template's versions."""
    return cache_dir() / "templates"


def history_bundle() -> Path | None:
    """The git bundle of earlier template releases shipped in the wheel, if any."""
    path = Path(__file__).resolve().parent / "_templates.bundle"
    return path if path.is_file() else None


#: Template URL schemes git may be given (`git+` prefixes are copier's and stripped).
_SCHEMES = {"file", "https", "http", "ssh", "git"}
#: scp-like git addresses: user@host:path (no scheme).
_SCP = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!//)")
_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: git transports allowed for a template, as an allowlist that overrides any
#: `protocol.*.allow` in the user's git config (GIT_ALLOW_PROTOCOL). `file` only when the
#: template itself is local, so a remote template cannot clone local repositories in as
#: submodules (git's own default since 2.38.1).
REMOTE_PROTOCOLS = "git:http:https:ssh"
LOCAL_PROTOCOLS = "file:" + REMOTE_PROTOCOLS


def check_url(url: str) -> str:
    """Return the template location `url` as scaffold will use it, or raise UsageError.

    A `file://` URL becomes its path (copier reads only paths of local repositories).
    """
    url = str(url).strip()
    if not url or any(ord(c) < 32 for c in url):
        raise UsageError("the template location is empty or has control characters")
    if url.startswith("-"):
        raise UsageError(f"template {url!r} starts with '-'; write it as a path, e.g. ./{url}")
    if _HELPER.match(url):
        transport = url.split("::", 1)[0]
        raise UsageError(
            f"template {url.split(' ')[0]!r} uses git's {transport}:: transport, which runs "
            "programs or reads descriptors and is never allowed for templates; use a path, "
            "file://, https://, ssh:// or git@host:path URL"
        )
    scheme = _SCHEME.match(url)
    if scheme:
        name = scheme.group(1).lower().removeprefix("git+")
        if name not in _SCHEMES:
            raise UsageError(
                f"template URL scheme {scheme.group(1)}:// is not allowed; use a path, "
                "file://, https://, http://, ssh://, git:// or git@host:path"
            )
        if name == "file":
            from urllib.parse import unquote, urlsplit

            parts = urlsplit(url.removeprefix("git+"))
            if parts.netloc not in {"", "localhost"}:
                raise UsageError(f"file URL {url} names a host; use file:///absolute/path")
            return str(Path(unquote(parts.path)))
    return url


def is_local(url: str) -> bool:
    """True when `url` (after check_url) is a path on this machine."""
    if url == CANONICAL_URL:
        return True
    return not (_SCHEME.match(url) or _SCP.match(url) or url.startswith(("gh:", "gl:")))


def local_path(url: str) -> Path:
    """The absolute path of a local template location."""
    return Path(url).expanduser().resolve()


@contextlib.contextmanager
def git_policy(url: str) -> Iterator[None]:
    """While the block runs, allow git (scaffold's calls and copier's) only the transports
    a template at `url` needs, whatever the user's git configuration says; restore the
    previous setting afterwards. Also keeps copier's mirror cache inside scaffold's cache
    unless COPIER_CACHE_DIR is set (one folder to make writable)."""
    allowed = LOCAL_PROTOCOLS if is_local(url) else REMOTE_PROTOCOLS
    if "COPIER_CACHE_DIR" not in os.environ:
        _set_environment({"COPIER_CACHE_DIR": str(cache_dir() / "copier")})
    saved = os.environ.get("GIT_ALLOW_PROTOCOL")
    _set_environment({"GIT_ALLOW_PROTOCOL": allowed})
    try:
        yield
    finally:
        if saved is None:
            _unset_environment("GIT_ALLOW_PROTOCOL")
        else:
            _set_environment({"GIT_ALLOW_PROTOCOL": saved})


def _unset_environment(name: str) -> None:
    os.environ.pop(name, None)
    plumbum = sys.modules.get("plumbum")
    if plumbum is not None and name in plumbum.local.env:
        del plumbum.local.env[name]


def _set_environment(values: dict[str, str]) -> None:
    """Set environment variables for this process, and in plumbum's snapshot of the
    environment (copier runs git through plumbum, which copies it at import)."""
    os.environ.update(values)
    plumbum = sys.modules.get("plumbum")
    if plumbum is not None:
        plumbum.local.env.update(values)


def redirect_git_to_cache() -> None:
    """Make git (and so copier) read CANONICAL_URL from the local cache repository.

    Sets git's environment configuration for this process (before copier imports plumbum,
    which snapshots the environment, and in plumbum's copy if it already did), and, once,
    the same `insteadOf` in the user's global git config for plain `copier update`.
    """
    target = bundled_repo_path().as_uri()
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    keys = {os.environ.get(f"GIT_CONFIG_KEY_{i}") for i in range(count)}
    key = f"url.{target}.insteadOf"
    if key not in keys:
        extra = {
            "GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": key,
            f"GIT_CONFIG_VALUE_{count}": CANONICAL_URL,
        }
        _set_environment(extra)
    if os.environ.get("SCAFFOLD_NO_GIT_CONFIG") != "1":
        _ensure_global_insteadof(key)


def _ensure_global_insteadof(key: str) -> None:
    """Keep exactly one global `insteadOf` for CANONICAL_URL: the cache in use.

    git uses the first of several equally long matches, so entries left by another cache
    folder (an old SCAFFOLD_CACHE_DIR) would win over ours; they are removed.
    """
    home = Path.home()
    found = git(
        "config", "--global", "--get-regexp", r"^url\..*\.insteadof$", cwd=home, check=False
    )
    stale = set()
    ours = False
    for line in found.splitlines():
        name, _, value = line.partition(" ")
        if value.strip() != CANONICAL_URL:
            continue
        if name.lower() == key.lower():
            ours = True
        else:
            stale.add(name)
    for name in stale:
        git("config", "--global", "--unset-all", name, _CANONICAL_PATTERN, cwd=home, check=False)
    if not ours:
        git("config", "--global", "--add", key, CANONICAL_URL, cwd=home, check=False)


def fingerprint(folder: Path) -> str:
    """A content hash of every file below `folder` (names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tag_fingerprint(repo: Path, tag: str) -> str | None:
    out = git("log", "-1", "--format=%B", tag, "--", cwd=repo, check=False)
    for line in out.splitlines():
        if line.startswith(_FINGERPRINT_KEY):
            return line[len(_FINGERPRINT_KEY) :].strip()
    return None


def materialise_bundled(version: str = __version__, source: Path | None = None) -> TemplateRef:
    """Ensure the cache repository has tag `v<version>` holding the bundled template.

    Cheap when the tag already matches the installed files (one git call). When it does
    not (a new scaffold version, or template edits in a development checkout), the files
    are committed on top of the previous versions and the tag is (re)pointed at them.
    """
    source = source or bundled_dir()
    repo = bundled_repo_path()
    tag = f"v{version}"
    wanted = fingerprint(source)
    try:
        _materialise(repo, source, tag, wanted)
    except OSError as error:
        raise cache_write_error(repo.parent, error) from None
    redirect_git_to_cache()
    return TemplateRef(url=CANONICAL_URL, ref=tag, bundled=True)


def _materialise(repo: Path, source: Path, tag: str, wanted: str) -> None:
    with _locked(repo.parent / "templates.lock"):
        if not is_repo_root(repo):
            if repo.exists():
                shutil.rmtree(repo)
            repo.mkdir(parents=True)
            git("init", "--quiet", "--initial-branch=main", cwd=repo)
        _fetch_history(repo)
        if _tag_fingerprint(repo, tag) != wanted:
            _commit_tree(repo, source, tag, wanted)


def _fetch_history(repo: Path) -> None:
    """Add the shipped history's tags that the cache repository does not have yet."""
    bundle = history_bundle()
    if bundle is None:
        return
    have = set(git("tag", "--list", cwd=repo).split())
    heads = git("bundle", "list-heads", str(bundle), cwd=repo, check=False).splitlines()
    refs = [line.split()[1] for line in heads if len(line.split()) == 2]
    missing = [ref for ref in refs if ref.startswith("refs/tags/") and ref[10:] not in have]
    if missing:
        git("fetch", "--quiet", "--no-tags", str(bundle), *[f"{r}:{r}" for r in missing], cwd=repo)


def _commit_tree(repo: Path, source: Path, tag: str, wanted: str) -> None:
    for child in repo.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(
        source, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    git("add", "--all", cwd=repo)
    message = f"scaffold template {tag}\n\n{_FINGERPRINT_KEY} {wanted}\n"
    git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message, cwd=repo, env=BOT_ENV)
    git("tag", "--force", tag, cwd=repo)


def resolve(template: str | None, vcs_ref: str | None = None) -> TemplateRef:
    """Turn the user's --template value (None = bundled) and --vcs-ref into a TemplateRef
    naming the exact commit to render (one line on error, naming the tags that exist)."""
    from scaffold.template_repo import TemplateRepo

    url = CANONICAL_URL if template is None else check_url(template)
    if url != CANONICAL_URL and is_local(url):
        url = str(local_path(url))
    repo = TemplateRepo.open(url)
    if vcs_ref:
        name, commit = vcs_ref, repo.require(vcs_ref)
    elif repo.bundled:
        name = f"v{__version__}"
        commit = repo.require(name)
    else:
        newest = repo.latest()
        name, commit = (newest.name, newest.commit) if newest else ("HEAD", repo.require("HEAD"))
    if repo.read(commit, "copier.yml") is None and repo.read(commit, "copier.yaml") is None:
        raise TemplateError(
            f"{url} has no copier.yml at its root (at {name}); point --template at a template"
        )
    return TemplateRef(url, commit, repo.bundled, name=name, repo=repo)


def load_copier_yml(template_dir: Path | None = None) -> dict[str, Any]:
    """A template's copier.yml as copier reads it: every document merged, `!include` resolved
    (relative to the template root, as copier does; e.g. `_facts.json`)."""
    import yaml

    root = (template_dir or bundled_dir()).resolve()
    path = root / "copier.yml"
    if not path.is_file() and (root / "copier.yaml").is_file():
        path = root / "copier.yaml"

    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        """libyaml's parser when PyYAML has it (about 10x faster than pure Python)."""

    def _include(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
        pattern = str(loader.construct_scalar(node))  # type: ignore[arg-type]
        found: list[Any] = []
        for match in sorted(root.glob(pattern)):
            if match.resolve().is_relative_to(root):
                found.extend(d for d in yaml.load_all(match.read_bytes(), Loader=_Loader) if d)
        return found

    _Loader.add_constructor("!include", _include)
    try:
        documents = [d for d in yaml.load_all(path.read_bytes(), Loader=_Loader) if d]
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from None
    merged: dict[str, Any] = {}
    for document in documents:
        if isinstance(document, dict):
            merged.update(document)
    return merged


def load_questions(template_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The questions of a template's copier.yml (settings starting with `_` left out).

    `choices` written as a Jinja string (the server choices, rendered from the facts) are
    rendered here as copier does, from the computed questions whose defaults are data (such
    as `server_facts`), so callers always see a mapping or a list.
    """
    questions = {
        key: (value if isinstance(value, dict) else {"default": value})
        for key, value in load_copier_yml(template_dir).items()
        if not key.startswith("_")
    }
    for spec in questions.values():
        if isinstance(spec.get("choices"), str):
            spec["choices"] = _render_choices(spec["choices"], questions)
    return questions


def _render_choices(text: str, questions: dict[str, dict[str, Any]]) -> Any:
    import jinja2
    import jinja2.sandbox
    import yaml

    context = {
        name: spec["default"]
        for name, spec in questions.items()
        if spec.get("when") is False and not isinstance(spec.get("default", ""), str)
    }
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    try:
        return yaml.safe_load(env.from_string(text).render(context))
    except (jinja2.TemplateError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot render the choices {text!r} of copier.yml: {error}") from None


def release_version(tag: str) -> Any:
    """The PEP 440 version of a `v<version>` tag (what copier orders by), or None."""
    from packaging.version import InvalidVersion, Version

    if not tag.startswith("v"):
        return None
    try:
        return Version(tag[1:])
    except InvalidVersion:
        return None


def build_history_bundle(repo_root: Path, out: Path, version: str) -> bool:
    """Write a git bundle with one tagged commit per release of `repo_root`/templates.

    Every `vX.Y.Z` tag of the scaffold repository contributes its `templates/` tree (in
    version order); the working tree's `templates/` becomes `v<version>`. Used at wheel
    build time; returns False when `repo_root` is not a git repository.
    """
    if not is_repo_root(repo_root):
        return False
    tags = [t for t in git("tag", "--list", "v*", cwd=repo_root).split() if release_version(t)]
    tags.sort(key=release_version)
    work = Path(tempfile.mkdtemp(prefix="scaffold-history-"))
    try:
        history = work / "repo"
        history.mkdir()
        git("init", "--quiet", "--initial-branch=main", cwd=history)
        for tag in tags:
            if tag == f"v{version}":
                continue
            tree = work / tag
            tree.mkdir()
            if not _export_templates(repo_root, tag, tree):
                continue
            _commit_tree(history, tree / "templates", tag, fingerprint(tree / "templates"))
        current = repo_root / "templates"
        _commit_tree(history, current, f"v{version}", fingerprint(current))
        out.parent.mkdir(parents=True, exist_ok=True)
        git("bundle", "create", "--quiet", str(out), "--tags", cwd=history)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def _export_templates(repo_root: Path, tag: str, dest: Path) -> bool:
    """Extract `templates/` as it was at `tag` into dest; False if it did not exist."""
    listing = git("ls-tree", "--name-only", tag, "templates", cwd=repo_root, check=False)
    if not listing.strip():
        return False
    archive = dest / "templates.tar"
    git("archive", "--format=tar", f"--output={archive}", tag, "templates", cwd=repo_root)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return True


def init_team_template(dest: Path, version: str = __version__) -> Path:
    """Write the bundled template as a standalone git repository, tagged `v<version>`.

    The result is what a team customises, tags and hosts; `scaffold new --template DEST`
    (or its hosted URL) generates from it and projects update from its tags.
    """
    dest = dest.expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise TemplateError(f"{dest} exists and is not empty; choose a new folder")
    shutil.copytree(
        bundled_dir(),
        dest,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    init_and_commit(dest, f"Team template from scaffold {version}")
    git("tag", f"v{version}", cwd=dest)
    return dest
