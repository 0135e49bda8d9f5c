"""`scaffold validate` on a corpus of real layouts (tests/corpus/<name>/), reproduced by hand
from public repositories: Microsoft's Azure/azureml-examples and docs, and other owners'
Azure ML online-deployment projects. Each folder has an `expected.yml`:

    source:      where the layout comes from (repository, path, commit; `variant:` says
                 what was changed, if anything)
    project:     the folder to validate, relative to the corpus folder (default ".")
    shows:       what the layout exercises
    exit:        0 (deploys fine) or 11 (a real deploy-breaker)
    deployments: {deployment file (relative to project): detected server or null}
    endpoints:   {deployment file: endpoint file paired with it}  (optional)
    rules:       problem codes that must be reported; for exit 11 the errors must be exactly
                 among these (the named breaker, nothing else)
    absent:      problem codes that must not be reported
    schema:      also run with azure-ai-ml's schema step (true/false)

The files are minimal: model weights are small placeholder files where a path must exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaffold.cli import main
from scaffold.errors import ExitCode

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.yml").is_file())


def expected_of(case: str) -> dict[str, Any]:
    data = yaml.safe_load((CORPUS / case / "expected.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def run_validate(
    capsys: pytest.CaptureFixture[str], case: str, *, schema: bool
) -> tuple[int, dict[str, Any]]:
    expected = expected_of(case)
    project = CORPUS / case / expected.get("project", ".")
    argv = ["validate", "--json", str(project)] + ([] if schema else ["--no-schema"])
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    return code, report


def check(code: int, report: dict[str, Any], expected: dict[str, Any]) -> None:
    problems = report["problems"]
    shown = "\n".join(
        f"{p['severity']} {p['code']} {p['file']} [{p['key']}] {p['message']}" for p in problems
    )
    codes = {p["code"] for p in problems}
    errors = {p["code"] for p in problems if p["severity"] == "error"}
    assert code == expected["exit"], shown
    assert set(expected.get("rules", [])) <= codes, shown
    assert not set(expected.get("absent", [])) & codes, shown
    if expected["exit"] == ExitCode.INVALID:
        assert errors and errors <= set(expected["rules"]), shown
    else:
        assert not errors, shown
    verdicts = {d["file"]: d for d in report["deployments"]}
    assert {file: d["server"] for file, d in verdicts.items()} == expected["deployments"], shown
    for file, endpoint in expected.get("endpoints", {}).items():
        assert verdicts[file]["endpoint_file"] == endpoint, verdicts
    for problem in problems:
        assert problem["message"] and problem["fix"], problem
        assert "\n" not in problem["message"] + problem["fix"], problem


def test_the_corpus_is_big_and_varied() -> None:
    """At least 48 layouts, from ten owners or more, both verdicts."""
    assert len(CASES) >= 48, CASES
    sources = {expected_of(c)["source"]["repo"].split("/")[0] for c in CASES}
    assert len(sources) >= 10, sources
    verdicts = [expected_of(c)["exit"] for c in CASES]
    assert verdicts.count(0) >= 30 and verdicts.count(11) >= 10, verdicts


@pytest.mark.parametrize("case", CASES)
def test_corpus_without_schema(capsys: pytest.CaptureFixture[str], case: str) -> None:
    code, report = run_validate(capsys, case, schema=False)
    check(code, report, expected_of(case))


@pytest.mark.parametrize("case", [c for c in CASES if expected_of(c).get("schema")])
def test_corpus_with_schema(capsys: pytest.CaptureFixture[str], case: str) -> None:
    """azure-ai-ml's own loaders agree: no schema problem in a layout that deploys fine, and
    none beyond the named breaker in one that does not."""
    code, report = run_validate(capsys, case, schema=True)
    assert report["schema_checked"], report["schema_note"]
    check(code, report, expected_of(case))
