"""Requirement pins that cannot install: offline rules, a package index (a local one served
here in both PEP 691 JSON and PEP 503 HTML, and PyPI itself), `installable()` for new, and
`scaffold validate` reporting them per line of the image's requirements file."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from conftest import serving
from scaffold import requirements as req
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.validate import validate_project

T312 = req.Target(python="3.12")

#: project -> [(filename, yanked, requires-python)]
INDEX = {
    "goodlib": [
        ("goodlib-1.0.0-py3-none-any.whl", False, ""),
        ("goodlib-2.0.0.tar.gz", False, ""),
    ],
    "winonly": [
        ("winonly-306-cp312-cp312-win_amd64.whl", False, ""),
        ("winonly-306-cp312-cp312-win32.whl", False, ""),
    ],
    "oldwheels": [
        ("oldwheels-1.0-cp38-cp38-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False, ""),
        ("oldwheels-1.0.tar.gz", False, ""),
    ],
    "newpython": [("newpython-3.0-py3-none-any.whl", False, ">=3.13")],
    "yanked": [("yanked-1.0-py3-none-any.whl", True, "")],
    "armonly": [("armonly-1.0-cp312-cp312-manylinux_2_28_aarch64.whl", False, "")],
    "sdistonly": [("sdistonly-0.1.tar.gz", False, "")],
}


class IndexHandler(BaseHTTPRequestHandler):
    """A simple index: JSON when asked for it, HTML otherwise; 404 for unknown projects."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        IndexHandler.requests.append(self.path)
        name = self.path.strip("/").split("/")[-1]
        files = INDEX.get(name)
        if files is None:
            self.send_response(404)
            self.end_headers()
            return
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            body = json.dumps({"files": [
                {"filename": f, "yanked": y, "requires-python": rp or None} for f, y, rp in files
            ]}).encode()  # fmt: skip
            kind = "application/vnd.pypi.simple.v1+json"
        else:
            links = "".join(
                '<a href="#"'
                + (" data-yanked" if y else "")
                + (f' data-requires-python="{html.escape(rp)}"' if rp else "")
                + f">{f}</a>"
                for f, y, rp in files
            )
            body, kind = f"<html><body>{links}</body></html>".encode(), "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    IndexHandler.requests = []
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), IndexHandler)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/simple"


def _codes(text: str, target: req.Target = T312) -> dict[int, str]:
    findings, _ = req.check_text(text, target)
    return {f.line: f.code for f in findings}


# --- offline ----------------------------------------------------------------------------------
def test_parse_reads_options_continuations_markers_and_comments() -> None:
    parsed = req.parse(
        "# comment\n--extra-index-url https://example.invalid/simple\n"
        "numpy==2.0 \\\n  --hash=sha256:abc\n"
        'pywin32==306; sys_platform == "win32"  # only there\n-r other.txt\nfoo @ https://x/y.whl\n'
    )
    assert parsed.extra_index_urls == ["https://example.invalid/simple"]
    assert [(r.line, r.name, r.pinned) for r in parsed.requirements] == [
        (3, "numpy", "2.0"), (5, "pywin32", "306"), (7, "foo", None),
    ]  # fmt: skip
    assert not req.applies(parsed.requirements[1], T312)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("torch==2.13.0+cpu\n", "requirements.local_version"),
        ("mylib==1.0+internal\n", "requirements.local_version"),
        ("tensorflow-macos==2.16.2\n", "requirements.platform"),
        ("pywin32==306\n", "requirements.platform"),
        ("numpy = = 1\n", "requirements.invalid"),
    ],
)
def test_offline_rules(text: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAFFOLD_OFFLINE", "1")
    assert _codes(text) == {1: code}


def test_offline_rules_accept_what_pip_can_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAFFOLD_OFFLINE", "1")
    text = (
        "--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.13.0+cpu\n"
        'pywin32==306; sys_platform == "win32"\nnumpy==2.0\n'
    )
    assert _codes(text) == {}


def test_installable_adds_the_index_of_known_local_builds_and_platform_markers() -> None:
    text = "mlflow==3.1\ntorch==2.13.0+cpu\ntorchvision==0.28.0+cu126\npywin32==306\nx==1+me\n"
    fixed, notes = req.installable(text)
    parsed = req.parse(fixed)
    assert parsed.extra_index_urls == [
        "https://download.pytorch.org/whl/cpu", "https://download.pytorch.org/whl/cu126",
    ]  # fmt: skip
    assert 'pywin32==306; sys_platform == "win32"' in fixed
    assert len(notes) == 3
    # what cannot be fixed stays, and validate's rule still reports it (offline: unknown)
    assert "x==1+me" in fixed


# --- against an index -----------------------------------------------------------------------------
@pytest.mark.parametrize("accept_json", [True, False], ids=["json", "html"])
def test_index_rules(index: str, accept_json: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not accept_json:  # an index that only speaks HTML (PEP 503), e.g. a plain file server
        monkeypatch.setattr(req, "_JSON", "application/x-none")
    text = "\n".join([
        f"--index-url {index}",
        "goodlib==1.0.0", "goodlib==2.0.0", "goodlib==9.9", "nosuchproject==1.0",
        "winonly==306", "oldwheels==1.0", "newpython==3.0", "yanked>=1.0", "armonly==1.0",
        "sdistonly==0.1", "goodlib>=1",
    ])  # fmt: skip
    assert _codes(text) == {
        4: "requirements.version_not_found",
        5: "requirements.not_found",
        6: "requirements.no_compatible_file",
        7: "requirements.source_build",
        8: "requirements.no_compatible_file",
        9: "requirements.no_compatible_file",
        10: "requirements.no_compatible_file",
    }
    findings, note = req.check_text(text, T312)
    by_line = {f.line: f for f in findings}
    assert "win_amd64" in by_line[6].message and "no source distribution" in by_line[6].message
    assert "needs Python >=3.13" in by_line[8].message
    assert by_line[7].severity == "warning" and note == ""


def test_index_answers_are_cached(index: str) -> None:
    text = f"--index-url {index}\ngoodlib==1.0.0\n"
    assert _codes(text) == {}
    asked = len(IndexHandler.requests)
    assert _codes(text) == {}
    assert len(IndexHandler.requests) == asked  # the second check read the cache


def test_unreachable_index_means_not_checked(tmp_path: Path) -> None:
    findings, note = req.check_text("--index-url http://127.0.0.1:9/simple\nx==1\n", T312)
    assert findings == [] and "not checked against the index" in note


def test_pypi_itself() -> None:
    """The real index: torch 2.13.0 has Linux wheels on PyPI, its +cpu build does not."""
    findings, note = req.check_text(
        "torch==2.13.0\ntorch==2.13.0+cpu\nscikit-learn==1.6.1\nnumpy==0.0.1\n", T312
    )
    assert note == ""
    assert {f.line: f.code for f in findings} == {
        2: "requirements.local_version",
        4: "requirements.version_not_found",
    }


# --- validate -----------------------------------------------------------------------------------
def test_validate_reports_uninstallable_pins_per_line(tmp_path: Path, index: str) -> None:
    project = new_project(tmp_path / "pins-ep", {"server": "minimal"}).path
    (project / "docker-context" / "requirements.txt").write_text(
        f"--extra-index-url {index}\ngoodlib==1.0.0\ntorch==2.13.0+cpu\nwinonly==306\n"
    )
    report = validate_project(project, schema=False)
    found = {(p.file, p.key, p.code) for p in report.problems if p.code.startswith("requirem")}
    assert found == {
        # torch+cpu: the file names its own index, so both are asked; neither has the build
        ("docker-context/requirements.txt", "line 3", "requirements.version_not_found"),
        ("docker-context/requirements.txt", "line 4", "requirements.no_compatible_file"),
    }
    (project / "docker-context" / "requirements.txt").write_text("torch==2.13.0+cpu\n")
    assert main(["validate", "--offline", "--no-schema", str(project)]) == ExitCode.INVALID
    report = validate_project(project, schema=False, index=False)
    (problem,) = [p for p in report.problems if p.code.startswith("requirem")]
    assert problem.code == "requirements.local_version"
    assert "download.pytorch.org/whl/cpu" in problem.fix
