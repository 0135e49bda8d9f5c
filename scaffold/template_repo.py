"""A template's git repository: its releases (tags), commits, files at a version, changelog.

copier picks versions by itself (the newest PEP 440 tag, `v` prefix or not) and records only
the tag name (`_commit`). scaffold resolves versions here first, the same way, so that what
`status` promises is what `update` installs: every tag is read with the commit it points
to, two tags for one version on different commits are named instead of guessed between, a
tag moved since a project was generated is noticed (the project pins the commit, see
`scaffold.answersfile.PIN_KEY`), and `--vcs-ref` values that name nothing are refused with
the tags that exist.

`TemplateRepo.open(url)` gives local git access to any template source: the bundled
template's cache repository, a local repository as it is, or, for a URL, a mirror clone
kept in scaffold's cache (refreshed once per process), all under the git transport policy
of `template_source.git_policy`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from scaffold import template_source
from scaffold.errors import GitError, TemplateError, UsageError
from scaffold.gitutil import git
from scaffold.tempdirs import scratch_dir

_SHA = re.compile(r"[0-9a-f]{7,64}\Z")
_DESCRIBE = re.compile(r"(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,64})\Z")
#: Mirrors refreshed in this process (a fleet of projects shares one fetch per template).
_FRESH: set[Path] = set()


def parse_version(name: str) -> Any:
    """The PEP 440 version a tag name means to copier (`v` prefix allowed), else None."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(name)
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class Tag:
    """One tag of the template repository."""

    name: str
    #: The commit the tag points to (annotated tags peeled).
    commit: str
    #: Its PEP 440 version, or None when the name is not a version.
    version: Any
    #: The annotation's message (annotated tags), else "".
    message: str = ""

    @property
    def is_release(self) -> bool:
        """A version that is not a pre-release (what copier updates to by default)."""
        return self.version is not None and not self.version.is_prerelease


class DuplicateTags(TemplateError):
    """Several tags mean the same version but point to different commits."""


@dataclass
class TemplateRepo:
    """Local git access to a template: `url` as a project records it (`_src_path`)."""

    url: str
    #: The git directory (a bare mirror, or a repository's .git).
    git_dir: Path
    bundled: bool = False
    local: bool = False

    # --- Opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, *, refresh: bool = True) -> TemplateRepo:
        """Access the template at `url` (path, URL or the bundled template's canonical URL).

        Raises TemplateError (one line) when it cannot be reached or is not a repository.
        """
        url = template_source.check_url(url)
        if url == template_source.CANONICAL_URL:
            template_source.materialise_bundled()
            repo = template_source.bundled_repo_path()
            return cls(url, _git_dir(repo, url), bundled=True, local=True)
        if template_source.is_local(url):
            path = template_source.local_path(url)
            if not path.exists():
                raise TemplateError(
                    f"template {url} not found; if it moved, set _src_path in the project's "
                    "answers file to its new place (and commit) or pass --template"
                )
            return cls(url, _git_dir(path, url), local=True)
        return cls(url, _mirror(url, refresh=refresh))

    # --- git -------------------------------------------------------------------------------
    def git(self, *args: str, check: bool = True) -> str:
        """Run git on this repository."""
        return git(f"--git-dir={self.git_dir}", *args, cwd=self.git_dir, check=check)

    # --- Tags and refs ---------------------------------------------------------------------
    @cached_property
    def tags(self) -> list[Tag]:
        """Every tag, with the commit it points to."""
        out = self.git(
            "for-each-ref",
            "refs/tags",
            "--format=%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(objectname)"
            "%00%(contents:subject)",
        )
        tags = []
        for line in out.splitlines():
            parts = line.split("\0")
            if len(parts) < 5:
                continue
            name, kind, peeled, target, subject = parts[:5]
            commit = peeled if kind == "tag" and peeled else target
            tags.append(Tag(name, commit, parse_version(name), subject if kind == "tag" else ""))
        return tags

    def releases(self, *, prereleases: bool = False) -> list[Tag]:
        """Version tags, oldest first (pre-releases only if asked for)."""
        found = [t for t in self.tags if t.version is not None]
        if not prereleases:
            found = [t for t in found if not t.version.is_prerelease]
        return sorted(found, key=lambda t: (t.version, t.name))

    def latest(self, *, prereleases: bool = False) -> Tag | None:
        """The newest release, as copier would pick it; raise DuplicateTags when tags for
        that version point to different commits (copier would pick one silently)."""
        found = self.releases(prereleases=prereleases)
        if not found:
            return None
        newest = found[-1]
        self.check_unique(newest)
        return newest

    def same_version(self, tag: Tag) -> list[Tag]:
        """Tags meaning the same version as `tag` (itself included)."""
        if tag.version is None:
            return [tag]
        return [t for t in self.tags if t.version == tag.version]

    def check_unique(self, tag: Tag) -> None:
        """Raise DuplicateTags when another tag of `tag`'s version is on another commit."""
        twins = self.same_version(tag)
        if len({t.commit for t in twins}) > 1:
            shown = ", ".join(f"{t.name} ({t.commit[:12]})" for t in twins)
            raise DuplicateTags(
                f"template {self.url}: tags {shown} all mean version {tag.version} but point "
                "to different commits; delete the wrong tag in the template repository, or "
                "pass --vcs-ref with the commit you want"
            )

    def tag(self, name: str) -> Tag | None:
        """The tag called `name`."""
        return next((t for t in self.tags if t.name == name), None)

    def resolve(self, ref: str) -> str | None:
        """The commit `ref` (tag, branch, commit, describe string) names, or None."""
        if not ref or ref.startswith("-") or any(c in ref for c in "\n\r\0"):
            return None
        tag = self.tag(ref)
        if tag is not None:
            return tag.commit
        match = _DESCRIBE.match(ref)
        for candidate in (ref, f"refs/heads/{ref}", match.group("sha") if match else None):
            if not candidate:
                continue
            out = self.git(
                "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False
            )
            if out.strip():
                return out.strip()
        return None

    def require(self, ref: str) -> str:
        """The commit `ref` names; UsageError listing the tags when it names nothing."""
        commit = self.resolve(ref)
        if commit is None:
            tags = self.describe_tags()
            raise UsageError(
                f"--vcs-ref {ref} is not a tag, branch or commit of {self.url}; {tags}"
            )
        return commit

    def describe_tags(self) -> str:
        """The release tags in words (for messages)."""
        found = self.releases(prereleases=True)
        if not found:
            return "it has no version tags (tag releases: git tag v1.0.0)"
        names = [t.name for t in found]
        shown = ", ".join(names[-10:])
        more = f" (and {len(names) - 10} older)" if len(names) > 10 else ""
        return f"its version tags are {shown}{more}"

    def is_branch(self, ref: str) -> bool:
        """True if `ref` names a branch (and no tag)."""
        if self.tag(ref) is not None:
            return False
        out = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{ref}", check=False)
        return bool(out.strip())

    def has_commit(self, commit: str) -> bool:
        """True if the repository has `commit`."""
        out = self.git("cat-file", "-t", commit, check=False).strip()
        return out == "commit"

    def same_tree(self, first: str, second: str) -> bool:
        """True if two commits hold exactly the same files."""
        trees = [
            self.git("rev-parse", f"{c}^{{tree}}", check=False).strip() for c in (first, second)
        ]
        return bool(trees[0]) and trees[0] == trees[1]

    # --- Versions --------------------------------------------------------------------------
    def version_of(self, ref: str) -> Any:
        """The PEP 440 version copier gives `ref` (a tag, a `git describe` string or a
        commit): the tag's version, plus `.postN.dev0` N commits after it; None if unknown."""
        from packaging.version import Version

        if parse_version(ref) is not None:
            return parse_version(ref)
        match = _DESCRIBE.match(ref)
        if match and parse_version(match.group("tag")) is not None:
            return _after(parse_version(match.group("tag")), int(match.group("distance")))
        commit = self.resolve(ref)
        if commit is None:
            return None
        described = self.git("describe", "--tags", "--long", commit, check=False).strip()
        match = _DESCRIBE.match(described)
        if match and parse_version(match.group("tag")) is not None:
            return _after(parse_version(match.group("tag")), int(match.group("distance")))
        count = self.git("rev-list", "--count", commit, check=False).strip() or "0"
        return Version(f"0.0.0.post{count}.dev0")

    # --- Files at a version -----------------------------------------------------------------
    def read(self, commit: str, path: str) -> str | None:
        """Text of `path` at `commit`, or None when it does not exist there."""
        kind = self.git("cat-file", "-t", f"{commit}:{path}", check=False).strip()
        if kind != "blob":
            return None
        return self.git("show", f"{commit}:{path}", check=False)

    def config_files(self, commit: str) -> list[str]:
        """copier.yml (or .yaml) at `commit` and the files its `!include` tags name."""
        import fnmatch

        names = [n for n in ("copier.yml", "copier.yaml") if self.read(commit, n) is not None]
        patterns = []
        for name in names:
            text = self.read(commit, name) or ""
            patterns += re.findall(r"!include\s+['\"]?([^'\"\s#]+)", text)
        if patterns:
            listing = self.git("ls-tree", "-r", "--name-only", commit).splitlines()
            names += [f for f in listing if any(fnmatch.fnmatch(f, p) for p in patterns)]
        return sorted(set(names))

    @contextmanager
    def checkout(self, commit: str, paths: list[str] | None = None) -> Iterator[Path]:
        """The template's files at `commit` (only `paths`, if given) in a temporary folder
        (removed afterwards)."""
        with scratch_dir("scaffold-template-") as work:
            archive = work / "template.tar"
            self.git("archive", "--format=tar", f"--output={archive}", commit, "--", *(paths or []))
            tree = work / "tree"
            tree.mkdir()
            with tarfile.open(archive) as tar:
                tar.extractall(tree, filter="data")
            archive.unlink()
            yield tree

    def log(self, old: str, new: str, limit: int = 50) -> list[str]:
        """Subjects of the commits after `old` up to `new` (newest first)."""
        out = self.git("log", f"--max-count={limit}", "--format=%s", f"{old}..{new}", check=False)
        return [line for line in out.splitlines() if line.strip()]


def _after(version: Any, distance: int) -> Any:
    from packaging.version import Version

    if distance == 0:
        return version
    return Version(f"{version.base_version}.post{distance}.dev0")


def _git_dir(path: Path, url: str) -> Path:
    """The git directory of the repository whose root is `path` (work tree or bare)."""
    if not path.is_dir():
        raise TemplateError(f"template {url} is not a folder; point --template at a template")
    out = git("rev-parse", "--absolute-git-dir", cwd=path, check=False).strip()
    bare = git("rev-parse", "--is-bare-repository", cwd=path, check=False).strip() == "true"
    top = git("rev-parse", "--show-toplevel", cwd=path, check=False).strip()
    if out and not bare and Path(top).resolve() != path.resolve():
        raise TemplateError(
            f"{path} is not the root of a git repository (copier reads templates from the "
            f"top of their repository only); make {path.name} a repository of its own: "
            "`git init && git add -A && git commit -m v0.1.0 && git tag v0.1.0` there"
        )
    if not out:
        raise TemplateError(
            f"template {url} is not a git repository, so projects made from it could never be "
            "updated; run `git init && git add -A && git commit -m v0.1.0 && git tag v0.1.0` "
            "there"
        )
    return Path(out)


def _mirror(url: str, *, refresh: bool) -> Path:
    """A bare mirror of the template at `url` in scaffold's cache, fetched once per process."""
    root = template_source.cache_dir() / "remotes"
    mirror = root / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".git")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise template_source.cache_write_error(root, error) from None
    try:
        with template_source.git_policy(url):
            _clone_or_fetch(url, root, mirror, refresh=refresh)
    except GitError as error:
        raise TemplateError(f"cannot read template {url}: {_git_reason(error)}") from None
    except OSError as error:
        raise template_source.cache_write_error(root, error) from None
    return mirror


def _clone_or_fetch(url: str, root: Path, mirror: Path, *, refresh: bool) -> None:
    """Create the mirror (in a staging folder, moved into place) or refresh it once."""
    if not (mirror / "HEAD").is_file():
        staging = Path(tempfile.mkdtemp(prefix="mirror-", dir=root))
        try:
            git("clone", "--quiet", "--mirror", "--", url, str(staging / "repo.git"), cwd=root)
            (staging / "repo.git").rename(mirror)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _FRESH.add(mirror)
    elif refresh and mirror not in _FRESH:
        git(f"--git-dir={mirror}", "remote", "update", "--prune", cwd=root)
        _FRESH.add(mirror)


def _git_reason(error: GitError) -> str:
    """git's own reason, without scaffold's "git ... failed in DIR: " prefix."""
    _, found, rest = error.message.partition(" failed in ")
    return rest.partition(": ")[2] if found else error.message
