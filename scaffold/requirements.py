"""pip requirement files: read them, and find the pins that cannot install in the image.

An image build fails late and far away (in Azure's image build, minutes in) when a pin
cannot install. Two kinds of rules find that first:

- Offline, always: a PEP 440 local version label (`torch==2.13.0+cpu`: PyPI refuses files
  with one, so the pin installs only from an index or folder the file itself names); a
  distribution that exists for one platform only (`pywin32`, `tensorflow-macos`) unless an
  environment marker keeps it off Linux; a line pip cannot parse.
- Against the package index, when it answers: the project does not exist; no version
  matches the pin (or only yanked ones); no file of the matching versions installs in the
  image (no wheel for Linux x86_64 and the image's Python, and no source distribution).
  The index is PyPI unless the file names its own (`--index-url`, `--extra-index-url`);
  it is read through the PEP 691 JSON simple API (HTML as a fallback), answers are cached
  for a day, and an unreachable index only means those checks did not run.

`installable()` is what `scaffold new` applies to a model's own requirements: known local
version labels get the index that publishes them (PyTorch's CPU/CUDA builds), so the file
installs without edits.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import html.parser
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaffold.usermodel import libraries

PYPI = "https://pypi.org/simple"
#: Seconds one index request may take; the whole check stops after CHECK_BUDGET.
REQUEST_TIMEOUT = 6.0
CHECK_BUDGET = 20.0
CACHE_SECONDS = 24 * 3600
#: SCAFFOLD_OFFLINE=1 turns the index checks off (the offline rules still run).
OFFLINE_ENV = "SCAFFOLD_OFFLINE"
_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Finding:
    """A requirement that cannot install, with the fix."""

    code: str
    line: int
    requirement: str
    message: str
    fix: str
    #: "error" (the image build fails) or "warning" (it may fail).
    severity: str = "error"


@dataclass(frozen=True)
class Requirement:
    """One requirement line (continuations joined, comment and options cut off)."""

    line: int
    text: str
    name: str
    specifier: str
    marker: str
    url: str

    @property
    def key(self) -> str:
        """The distribution name as indexes compare it."""
        return libraries.normalize(self.name)

    @property
    def pinned(self) -> str | None:
        """The exact version of an `==X` (or `===X`) pin, else None."""
        match = re.fullmatch(r"===?\s*([^,;\s*]+)", self.specifier.strip())
        return match.group(1) if match else None


@dataclass
class RequirementsFile:
    """What a requirements file asks pip for."""

    requirements: list[Requirement] = field(default_factory=list)
    #: --index-url (replaces PyPI) first, then --extra-index-url, in file order.
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def indexes(self) -> list[str]:
        """The indexes pip reads, in order ([] with --no-index)."""
        if self.no_index:
            return []
        return [self.index_url or PYPI, *self.extra_index_urls]

    @property
    def has_own_sources(self) -> bool:
        """The file names where to install from besides PyPI."""
        return bool(self.extra_index_urls or self.find_links or self.no_index) or (
            self.index_url is not None and self.index_url.rstrip("/") != PYPI
        )


@dataclass(frozen=True)
class Target:
    """The image pip installs into: CPython `python` (e.g. "3.12"; "" when unknown) on
    Linux x86_64 with glibc `glibc`."""

    python: str = ""
    glibc: tuple[int, int] = (2, 35)

    def marker_environment(self) -> dict[str, str]:
        python = self.python or "3.12"
        return {
            "sys_platform": "linux",
            "platform_system": "Linux",
            "platform_machine": "x86_64",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "python_version": python,
            "python_full_version": python + ".0",
        }


_OPTION = re.compile(r"^(-[a-zA-Z]|--[a-z-]+)(?:[\s=]+(\S+))?")


def parse(text: str) -> RequirementsFile:
    """Read a requirements file's text: requirements, index options, unparseable lines."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed

    result = RequirementsFile()
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            _option(result, line)
            continue
        body = re.split(r"\s--?[a-z]", line, maxsplit=1)[0].strip()  # per-line --hash etc.
        try:
            parsed = Parsed(body)
        except InvalidRequirement as error:
            result.findings.append(
                Finding("requirements.invalid", number, line, f"pip cannot read {line!r} "
                        f"({str(error).splitlines()[0]})",
                        "Write it as NAME==VERSION (PEP 508), one per line")
            )  # fmt: skip
            continue
        result.requirements.append(
            Requirement(
                number,
                body,
                parsed.name,
                str(parsed.specifier),
                str(parsed.marker or ""),
                parsed.url or "",
            )
        )
    return result


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            yield start, whole


def _option(result: RequirementsFile, line: str) -> None:
    match = _OPTION.match(line)
    if not match:
        return
    option, value = match.group(1), match.group(2) or ""
    if option in ("-i", "--index-url"):
        result.index_url = value.rstrip("/")
    elif option == "--extra-index-url":
        result.extra_index_urls.append(value.rstrip("/"))
    elif option in ("-f", "--find-links"):
        result.find_links.append(value)
    elif option == "--no-index":
        result.no_index = True


def applies(requirement: Requirement, target: Target) -> bool:
    """Whether pip installs this requirement in the target image (its marker holds)."""
    if not requirement.marker:
        return True
    from packaging.markers import InvalidMarker, Marker, UndefinedComparison

    try:
        return bool(Marker(requirement.marker).evaluate(target.marker_environment()))
    except (InvalidMarker, UndefinedComparison):
        return True


# --- offline rules -----------------------------------------------------------------------------
def offline_findings(parsed: RequirementsFile, target: Target) -> list[Finding]:
    """What can be said without the index: local version labels and platform-only pins."""
    found = list(parsed.findings)
    for req in parsed.requirements:
        if req.url or not applies(req, target):
            continue
        platform = libraries.platform_only(req.name)
        if platform:
            found.append(
                Finding("requirements.platform", req.line, req.text,
                        f"{req.name} installs on {platform} only; the image is Linux x86_64",
                        f"Remove {req.text} from the file (the model was saved on {platform}; "
                        f"or add a marker: {req.name}; sys_platform != \"linux\")")
            )  # fmt: skip
            continue
        label = _local_label(req)
        if label and not parsed.has_own_sources:
            found.append(_local_finding(req, label))
    return found


def _local_label(req: Requirement) -> str | None:
    version = req.pinned
    if version is None or "+" not in version:
        return None
    return version.split("+", 1)[1]


def _local_finding(req: Requirement, label: str) -> Finding:
    index = libraries.local_version_index(req.name, label)
    public = (req.pinned or "").split("+", 1)[0]
    fix = (
        f"Add `--extra-index-url {index}` on a line above it (that index has the +{label} "
        f"builds; `scaffold new --model` adds it)"
        if index
        else f"Pin the public release {req.name}=={public}, or add the index that has this "
        "build on a line above it (--extra-index-url URL)"
    )
    return Finding(
        "requirements.local_version",
        req.line,
        req.text,
        f"{req.text} has a local version label (+{label}); PyPI never has those, so pip "
        "cannot install it from PyPI",
        fix,
    )


def installable(text: str) -> tuple[str, list[str]]:
    """`text` with the index lines that make its known local-version pins installable
    (`torch==2.13.0+cpu` gets PyTorch's CPU index), and notes saying what was added."""
    text, notes = _platform_markers(text)
    parsed = parse(text)
    if parsed.has_own_sources:
        return text, notes
    added: dict[str, list[str]] = {}
    for req in parsed.requirements:
        label = _local_label(req)
        index = libraries.local_version_index(req.name, label) if label else None
        if index:
            added.setdefault(index, []).append(req.text)
    if not added:
        return text, notes
    lines = [f"--extra-index-url {index}" for index in added]
    notes += [
        f"{', '.join(reqs)}: not on PyPI (a local version label); added "
        f"--extra-index-url {index}, the index that publishes it"
        for index, reqs in added.items()
    ]
    head = "# Index of the local-version builds pinned below (not on PyPI), added by scaffold:"
    return "\n".join([head, *lines, text.rstrip("\n")]) + "\n", notes


#: The `sys_platform` of the platforms `platform_only` names.
_SYS_PLATFORM = {"Windows": "win32", "macOS": "darwin"}


def _platform_markers(text: str) -> tuple[str, list[str]]:
    """Give platform-only pins without a marker one that keeps them off Linux."""
    lines = text.splitlines()
    notes = []
    for req in parse(text).requirements:
        platform = libraries.platform_only(req.name)
        if not platform or req.marker or req.url:
            continue
        system = _SYS_PLATFORM.get(platform.split(" ")[0])
        if system is None:
            continue
        index = req.line - 1
        lines[index] = f'{lines[index].split("#", 1)[0].rstrip()}; sys_platform == "{system}"'
        notes.append(
            f"{req.text}: installs on {platform} only (the model was saved there); marked "
            f'sys_platform == "{system}", so pip skips it in the Linux image'
        )
    return "\n".join(lines) + ("\n" if text.endswith("\n") else ""), notes


# --- against the index ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexFile:
    """A distribution file an index lists."""

    filename: str
    yanked: bool
    requires_python: str


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[IndexFile] = []
        self._attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._attrs is not None and data.strip():
            attrs = self._attrs
            self.files.append(
                IndexFile(
                    data.strip(),
                    "data-yanked" in attrs,
                    html.unescape(attrs.get("data-requires-python") or ""),
                )
            )
            self._attrs = None


def _cache_path(index: str, key: str) -> Path | None:
    from scaffold.template_source import cache_dir

    try:
        digest = hashlib.sha256(f"{index}\n{key}".encode()).hexdigest()[:32]
        return cache_dir() / "index" / f"{digest}.json"
    except (OSError, RuntimeError):
        return None


def _cached(index: str, key: str) -> list[IndexFile] | str | None:
    path = _cache_path(index, key)
    try:
        if path is None or time.time() - path.stat().st_mtime > CACHE_SECONDS:
            return "miss"
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "miss"
    if data is None:
        return None
    return [IndexFile(*item) for item in data]


def _store(index: str, key: str, files: list[IndexFile] | None) -> None:
    path = _cache_path(index, key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = None if files is None else [[f.filename, f.yanked, f.requires_python]
                                               for f in files]  # fmt: skip
        path.write_text(json.dumps(payload), encoding="utf-8")
    except OSError:
        return


class IndexUnreachable(Exception):
    """The index did not answer (offline, DNS, TLS, timeout, 5xx)."""


def project_files(index: str, key: str, client: Any) -> list[IndexFile] | None:
    """The files `index` lists for project `key`; None when it has no such project."""
    cached = _cached(index, key)
    if cached != "miss":
        return cached if not isinstance(cached, str) else None
    import httpx

    url = f"{index.rstrip('/')}/{key}/"
    try:
        response = client.get(url, headers={"Accept": f"{_JSON}, text/html;q=0.1"})
    except httpx.HTTPError as error:
        raise IndexUnreachable(f"{url}: {type(error).__name__}") from None
    if response.status_code == 404:
        _store(index, key, None)
        return None
    if response.status_code != 200:
        raise IndexUnreachable(f"{url}: HTTP {response.status_code}")
    if response.headers.get("content-type", "").startswith(_JSON):
        files = [
            IndexFile(
                str(item.get("filename", "")),
                bool(item.get("yanked")),
                str(item.get("requires-python") or ""),
            )
            for item in response.json().get("files", [])
        ]
    else:
        links = _Links()
        links.feed(response.text)
        files = links.files
    _store(index, key, files)
    return files


def _supported_tags(target: Target) -> frozenset[str]:
    from packaging import tags

    glibc_major, glibc_minor = target.glibc
    platforms = [f"manylinux_{glibc_major}_{m}_x86_64" for m in range(glibc_minor, 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
                  "linux_x86_64"]  # fmt: skip
    found: set[str] = set()
    pythons = [target.python] if target.python else [f"3.{m}" for m in range(8, 16)]
    for python in pythons:
        version = tuple(int(p) for p in python.split(".")[:2])
        for tag in tags.cpython_tags(version, platforms=platforms):
            found.add(str(tag))
        for tag in tags.compatible_tags(version, f"cp{version[0]}{version[1]}", platforms):
            found.add(str(tag))
    return frozenset(found)


@dataclass
class _Candidate:
    version: Any
    sdist: bool = False
    wheel_tags: set[str] = field(default_factory=set)
    yanked: bool = True
    requires_python: set[str] = field(default_factory=set)


def _candidates(files: list[IndexFile], key: str) -> dict[str, _Candidate]:
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import InvalidVersion

    found: dict[str, _Candidate] = {}
    for item in files:
        try:
            if item.filename.endswith(".whl"):
                name, version, _, wheel_tags = parse_wheel_filename(item.filename)
                tags_ = {str(t) for t in wheel_tags}
                sdist = False
            else:
                name, version = parse_sdist_filename(item.filename)
                tags_, sdist = set(), True
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if libraries.normalize(name) != key:
            continue
        candidate = found.setdefault(str(version), _Candidate(version))
        candidate.sdist |= sdist
        candidate.wheel_tags |= tags_
        candidate.yanked &= item.yanked
        if item.requires_python:
            candidate.requires_python.add(item.requires_python)
    return found


def _python_ok(candidate: _Candidate, target: Target) -> bool:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if not target.python or not candidate.requires_python:
        return True
    for spec in candidate.requires_python:
        try:
            if SpecifierSet(spec).contains(target.python + ".0", prereleases=True):
                return True
        except InvalidSpecifier:
            return True
    return False


def _judge(req: Requirement, files: list[IndexFile], target: Target, where: str) -> Finding | None:
    from packaging.specifiers import SpecifierSet

    candidates = _candidates(files, req.key)
    spec = SpecifierSet(req.specifier)
    matching = [c for c in candidates.values() if spec.contains(c.version, prereleases=True)]
    if not matching:
        newest = max((c.version for c in candidates.values() if not c.yanked), default=None)
        return Finding(
            "requirements.version_not_found", req.line, req.text,
            f"{where} has no {req.name} version matching {req.specifier or 'any'}"
            + (f" (newest: {newest})" if newest else ""),
            f"Pin a version {where} has, e.g. {req.name}=={newest}" if newest
            else f"Remove {req.name} or add the index that has it",
        )  # fmt: skip
    usable = [c for c in matching if not c.yanked or req.pinned]
    supported = _supported_tags(target)
    runs = [c for c in usable if _python_ok(c, target)]
    if any(c.wheel_tags & supported for c in runs):
        return None
    built = [c for c in runs if c.sdist]
    if built:
        if not any(c.wheel_tags for c in built):
            return None  # a source-only project: pip builds it, as its authors intend
        shown = max(built, key=lambda c: c.version)
        python = f"Python {target.python} on " if target.python else ""
        return Finding(
            "requirements.source_build", req.line, req.text,
            f"{req.name} {shown.version} has no wheel for {python}Linux x86_64: pip would "
            "build it from source in the image, which needs a compiler and its build "
            "dependencies (and often fails)",
            f"Pin a {req.name} version with a wheel for the image's Python",
            "warning",
        )  # fmt: skip
    shown = max(matching, key=lambda c: c.version)
    if not usable:
        why = "only yanked releases match"
    elif not any(_python_ok(c, target) for c in usable):
        why = f"it needs Python {sorted(shown.requires_python)[0]} (the image has {target.python})"
    else:
        platforms = sorted({t.split("-")[-1] for t in shown.wheel_tags})
        python = f"Python {target.python} on " if target.python else ""
        why = (
            f"no wheel for {python}Linux x86_64 (wheels: {', '.join(platforms[:6])}"
            f"{', ...' if len(platforms) > 6 else ''}) and no source distribution"
        )
    return Finding(
        "requirements.no_compatible_file", req.line, req.text,
        f"{req.name} {shown.version} cannot install in the image: {why}",
        f"Pin a version of {req.name} with a Linux x86_64 wheel, or remove it if the model "
        "does not need it",
    )  # fmt: skip


def index_findings(
    parsed: RequirementsFile, target: Target, *, budget: float = CHECK_BUDGET
) -> tuple[list[Finding], str]:
    """Check each requirement against the file's indexes; returns the findings and a note
    ("" when every requirement was checked, else why some were not)."""
    if os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}:
        return [], f"index not consulted ({OFFLINE_ENV} is set)"
    if parsed.find_links or parsed.no_index:
        return [], "index not consulted: the file installs from --find-links/--no-index"
    checks = [
        r
        for r in parsed.requirements
        if not r.url and applies(r, target) and not libraries.platform_only(r.name)
    ]
    if not checks:
        return [], ""
    import httpx

    findings: list[Finding] = []
    unreachable: list[str] = []
    deadline = time.monotonic() + budget
    with (
        httpx.Client(timeout=REQUEST_TIMEOUT, follow_redirects=True) as client,
        concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool,
    ):
        jobs = {pool.submit(_lookup, parsed.indexes, req, client): req for req in checks}
        for job in concurrent.futures.as_completed(jobs):
            req = jobs[job]
            if time.monotonic() > deadline:
                unreachable.append(req.name)
                continue
            files, missing_everywhere, problem = job.result()
            if problem:
                unreachable.append(problem)
            elif missing_everywhere:
                where = _where(parsed)
                findings.append(
                    Finding("requirements.not_found", req.line, req.text,
                            f"{req.name} does not exist on {where}",
                            f"Check the spelling of {req.name}, or add the index that "
                            "has it (--extra-index-url URL)")
                )  # fmt: skip
            elif files is not None:
                finding = _judge(req, files, target, _where(parsed))
                if finding:
                    findings.append(finding)
    findings.sort(key=lambda f: f.line)
    note = f"not checked against the index: {', '.join(unreachable[:3])}" if unreachable else ""
    return findings, note


def _where(parsed: RequirementsFile) -> str:
    return "PyPI" if parsed.indexes == [PYPI] else "the file's indexes"


def _lookup(
    indexes: list[str], req: Requirement, client: Any
) -> tuple[list[IndexFile] | None, bool, str]:
    """(files from every index that answered, missing from all of them, unreachable)."""
    files: list[IndexFile] = []
    found = False
    for index in indexes:
        try:
            listed = project_files(index, req.key, client)
        except IndexUnreachable as error:
            return None, False, str(error)
        if listed is not None:
            found = True
            files.extend(listed)
    return (files if found else None), not found, ""


def check_text(text: str, target: Target, *, online: bool = True) -> tuple[list[Finding], str]:
    """All findings for a requirements file's text (offline rules, then the index)."""
    parsed = parse(text)
    findings = offline_findings(parsed, target)
    note = ""
    if online:
        more, note = index_findings(parsed, target)
        flagged = {f.line for f in findings}
        findings += [f for f in more if f.line not in flagged]
    return sorted(findings, key=lambda f: f.line), note


def python_of_image(image: str, default: str = "") -> str:
    """The Python an image reference names (`...-py312-...` -> "3.12"), else `default`."""
    match = re.search(r"py(3)(\d{1,2})(?!\d)", image)
    return f"{match.group(1)}.{match.group(2)}" if match else default
