"""Property-based tests over the whole questionnaire (hypothesis), for every server.

Answers are generated from templates/copier.yml itself (`load_questions()`): a valid value
from each question's own validator regex, choices or type, or a hostile one (quotes,
newlines, `$(...)`, backticks, `../`, YAML keywords, numbers-as-strings, unicode look-alikes,
over-long values, NUL). Every answer set must be either refused before anything is written
(exit 2, one line on stderr, nothing left beside the destination) or rendered so that every
YAML/JSON file parses, every answer loads back as exactly what was answered wherever it
lands, azure-ai-ml loads endpoint.yml and deployment.yml, hadolint passes on the Dockerfile,
shellcheck on the shell scripts (and README bash blocks), and nothing is written outside
the destination. The same holds for `scaffold update --data`.

Reproducible: `derandomize=True` and no example database (a failure prints the answers and
a `@reproduce_failure` blob). Examples per run: every server x
NEW_EXAMPLES (>= 700 in all) for `new`, UPDATE_EXAMPLES for `update`.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from conftest import REPO, SERVERS, git
from scaffold.answers import BOOLEANS, applies, computed_context
from scaffold.cli import main
from scaffold.errors import UsageError
from scaffold.generate import new_project
from scaffold.template_source import load_questions

NEW_EXAMPLES = int(os.environ.get("SCAFFOLD_FUZZ_EXAMPLES", "100"))  # per server: 500 in all
UPDATE_EXAMPLES = 50
QUESTIONS = load_questions()
#: The server facts as written (routes keep their "{model}" placeholder).
FACTS = json.loads((REPO / "templates" / "_facts.json").read_text())
ASKED = {name: spec for name, spec in QUESTIONS.items() if spec.get("when") is not False}
TOOLS_BIN = Path(sys.executable).parent

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # No shrinking: a failure is reported at once with the answers that caused it (shrinking
    # a render-heavy test can take many minutes); reproduce it with the printed blob.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Hostile values ------------------------------------------------------------------------
YAML_WORDS = ["null", "Null", "NULL", "~", "true", "True", "false", "yes", "no", "on", "off"]
YAML_WORDS += ["y", "n", "Yes", "OFF", ".inf", ".nan", "-.inf", "<<", "=", "!!str", "&a", "*a"]
NUMBERS = ["1e3", "0x10", "010", "0o10", "1_000", "1.0", "-0", "+1", " 8000", "8000 ", "08"]
NUMBERS += ["1e-3", "0b11", "12:30", "2026-12-02", "99999999999999999999999", "-1", "0"]
LOOKALIKES = ["аbc-ep", "ep-\u0430", "８０００", "٨٠٠٠", "\u00b9\u00b2\u00b3", "ﬁle", "İstanbul"]
LOOKALIKES += ["ep\u200b-x", "e\u0301p-name", "ｍy-ep", "\u2212" + "1", "\u00a0demo", "ǅemo"]
SHELL = ["$(id)", "`id`", "${HOME}", "a;rm -rf /", "a|b", "a&&b", "'", '"', "\\", "a b"]
SHELL += ["../..", "../../etc/passwd", "/abs/path", "a/../b", "{{ 7*7 }}", "{% raw %}", "#x"]
SHELL += ["- item", "key: value", "[a]", "{a: 1}", "%TAG", "@at", "a\nb", "a\rb", "\t", ""]
SHELL += ["a\x00b", "\x00", "a\x1bb", "\ufeffbom", "a\u2028b", "---", "...", " "]


def _suffix(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with something hostile glued on (the likeliest way past a regex)."""
    glue = st.sampled_from(["\n", "\n\n", " ", "'", '"', "$(id)", "`x`", "\x00", "\r\n", "#"])
    return st.builds(lambda v, g, front: g + v if front else v + g, valid, glue, st.booleans())


HOSTILE_TEXT = st.one_of(
    st.sampled_from(YAML_WORDS + NUMBERS + LOOKALIKES + SHELL),
    st.text(
        alphabet=st.sampled_from(list("a-_.:/'\"`$(){}[]#&*!|>%@\\ \n\t\x00é\u0430\u200b0")),
        max_size=12,
    ),
    st.integers(min_value=200, max_value=5000).map(lambda n: "a" * n),
)


# Valid values, read from each question's own validator, choices and type -------------
def _validator_regexes(spec: Mapping[str, Any]) -> list[str]:
    """The regexes a copier.yml validator applies (`regex_search('...')`), unescaped as
    Jinja reads a string literal."""
    found = re.findall(r"regex_search\('((?:[^'\\]|\\.)*)'\)", str(spec.get("validator", "")))
    return [pattern.replace("\\\\", "\\") for pattern in found]


def valid_value(name: str, spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Values a user would plausibly give (most pass the validator, some miss its limits)."""
    choices = spec.get("choices")
    if choices:
        return st.sampled_from(list(choices.values() if isinstance(choices, dict) else choices))
    kind = spec.get("type", "str")
    if kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(sorted(BOOLEANS)))
    default = spec.get("default")
    literal = [default] if default is not None and "{{" not in str(default) else []
    if kind == "int":
        small = st.integers(min_value=1, max_value=50)  # inside every range in copier.yml
        number = st.one_of(small, small, st.integers(-2, 200000), st.sampled_from(literal or [1]))
        return st.one_of(number, number.map(str))
    if kind == "float":
        share = st.floats(min_value=0.05, max_value=1.0).map(lambda x: round(x, 3))
        decimal = st.one_of(share, share, st.floats(-1.0, 2.0).map(lambda x: round(x, 2)))
        return st.one_of(decimal, decimal.map(str), st.sampled_from(["0.9", ".5", "1", "1.0"]))
    regexes = _validator_regexes(spec)
    if kind in {"yaml", "json"}:
        item = st.from_regex(regexes[-1], fullmatch=True) if regexes else st.text(max_size=8)
        items = st.lists(item.filter(lambda s: "\n" not in s), max_size=3)
        return st.one_of(items, items.map(lambda xs: "[" + ", ".join(xs) + "]"))
    if regexes:
        pattern = regexes[0].removeprefix("^")
        generated = st.from_regex(pattern, fullmatch=True)
        # Mostly of a typical length (validators add length limits, e.g. 3-32): the one of
        # a few closest to 12 characters, so no filter that hypothesis could give up on.
        typical = st.lists(generated, min_size=3, max_size=3).map(
            lambda xs: min(xs, key=lambda x: abs(len(x) - 12))
        )
        return st.one_of(typical, typical, typical, generated, st.sampled_from(literal or ["x"]))
    return st.text(min_size=1, max_size=20)


def hostile_value(name: str, spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    extra: list[st.SearchStrategy[Any]] = [HOSTILE_TEXT, _suffix(valid_value(name, spec).map(str))]
    if spec.get("type") in {"yaml", "json"}:
        extra.append(
            st.sampled_from(["{a: 1}", "a", "[1, 2]", "[null]", "[a, [b]]", "[", "!!set {}"])
        )
    return st.one_of(*extra)


@st.composite
def answer_sets(
    draw: st.DrawFn,
    server: str,
    questions: Mapping[str, Any] = ASKED,
    previous: Mapping[str, Any] = {},
) -> dict[str, Any]:
    """One answer set: each question left out, answered validly, or answered with a hostile
    value; hostile answers are rarer, so about half the sets render."""
    data: dict[str, Any] = {"server": server}
    context = computed_context(QUESTIONS, {**previous, "server": server})
    hostile_odds = draw(st.sampled_from([0, 0, 0, 8, 15, 30]))
    for name, spec in questions.items():
        if name == "server":
            continue
        roll = draw(st.integers(0, 99))
        if roll < 40 or (roll >= 42 and not applies(spec, context)):
            continue  # left out; a question that does not apply is answered rarely
        if roll < 40 + hostile_odds:
            data[name] = draw(hostile_value(name, spec))
        else:
            data[name] = draw(valid_value(name, spec))
    return data


#: Destination folders (the endpoint name's default comes from the folder name).
DEST_NAMES = st.sampled_from(
    ["demo-ep"] * 40 + ["My Project", "x", "123", "null", "ünï-códe", "--lead", "a" * 60, "a.b"]
)


# What an answer should load back as -----------------------------------------------------
def expected(name: str, value: Any) -> Any:
    """The value the answer means, as YAML should load it back."""
    kind = QUESTIONS[name].get("type", "str")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else BOOLEANS[str(value).lower()]
    if kind in {"yaml", "json"}:
        return yaml.safe_load(value) if isinstance(value, str) else value
    return str(value)


#: What an answer means where it lands, when that differs from the answer itself.
PLACE_MEANING: dict[str, Any] = {"model_version": lambda value: value or "1"}


def _get(document: Any, path: str) -> Any:
    for key in path.split("."):
        document = document[key]
    return document


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def _dockerfile_from(project: Path) -> str:
    lines = (project / "docker-context" / "Dockerfile").read_text().splitlines()
    return next(line for line in lines if line.startswith("FROM ")).removeprefix("FROM ")


def _r_packages(project: Path) -> list[str]:
    text = (project / "docker-context" / "Dockerfile").read_text()
    match = re.search(r"pkgs <- c\(([^)]*)\)", text)
    return [] if match is None else ast.literal_eval("[" + match.group(1) + "]")


def _model_places(model: Any, env: Mapping[str, str]) -> dict[str, list[Any]]:
    """Where the model answers land: the inline model or the registered reference, and
    TF Serving's MODEL_BASE_PATH (the mount of that model: its name and version)."""
    places: dict[str, list[Any]] = {}
    base = env.get("MODEL_BASE_PATH", "").split("/")[-2:] if "MODEL_BASE_PATH" in env else []
    if isinstance(model, str):  # a registered model: azureml:NAME:VERSION or NAME@latest
        places["model_asset"] = [model]
        if base:  # Azure mounts it under its own name and version
            assert model == "azureml:" + ":".join(base), (model, env["MODEL_BASE_PATH"])
    elif model is not None:
        places["model_name"] = [model["name"], *base[:1]]
        # No version in deployment.yml (the answer empty or 1): scaffold deploy numbers
        # versions by content and a local run, like MODEL_BASE_PATH, uses version 1.
        places["model_version"] = [model.get("version", "1"), *base[1:]]
    return places


def _several_models(project: Path, env: dict[str, Any]) -> list[list[str]]:
    """Where the names of several models land: samples/<model>/, TORCHSERVE_MODELS, TF
    Serving's model config file (each sorted: the order is the answer's, or the folders')."""
    found = [sorted(p.name for p in (project / "samples").glob("*"))]
    entries = [entry.partition("=") for entry in str(env.get("TORCHSERVE_MODELS", "")).split()]
    if len(entries) > 1:  # several models: each name=name.mar
        assert all(n + ".mar" == a for n, _, a in entries), env["TORCHSERVE_MODELS"]
        found.append(sorted(n for n, _, _ in entries))
    config = project / "docker-context" / "models.config"
    if config.is_file():  # TF Serving's model config file
        found.append(sorted(re.findall(r'name: "([^"]+)"', config.read_text())))
    return found


def _llm_places(project: Path, env: Mapping[str, str], updated: bool) -> dict[str, list[Any]]:
    """vLLM's answers: deployment variables read by its start script, and the served name
    in the sample request (user-owned: an update leaves it as generated, and `validate`
    reports a sample that asks for another name)."""
    places: dict[str, list[Any]] = {}
    if "SERVED_MODEL_NAME" in env:
        places["served_model_name"] = [env["SERVED_MODEL_NAME"]]
        if not updated:
            sample = json.loads((project / "sample_request.json").read_text())["model"]
            places["served_model_name"].append(sample)
    for name, variable, kind in (
        ("max_model_len", "MAX_MODEL_LEN", int),
        ("tensor_parallel_size", "TENSOR_PARALLEL_SIZE", int),
        ("gpu_memory_utilization", "GPU_MEMORY_UTILIZATION", float),
        ("dtype", "DTYPE", str),
    ):
        if variable in env:
            places[name] = [kind(env[variable])]
    return places


def landed(project: Path, updated: bool = False) -> dict[str, list[Any]]:
    """Every place an answer lands, read back with the file's own syntax. After an update,
    user-owned files (the model folder, e.g. Triton's config.pbtxt) keep what the project
    was generated with: updates never touch them (copier.yml `_exclude`)."""
    endpoint = yaml.safe_load((project / "endpoint.yml").read_text())
    deployment = yaml.safe_load((project / "deployment.yml").read_text())
    routes = deployment["environment"]["inference_config"]
    places: dict[str, list[Any]] = {
        "endpoint_name": [endpoint["name"], deployment["endpoint_name"]],
        "auth_mode": [endpoint["auth_mode"]],
        "deployment_name": [deployment["name"]],
        "instance_type": [deployment["instance_type"]],
        "instance_count": [deployment["instance_count"]],
        "port": [routes[r]["port"] for r in ("liveness_route", "readiness_route", "scoring_route")],
        "base_image": [_dockerfile_from(project)],
    }
    settings_ = deployment["request_settings"]
    places["request_timeout_ms"] = [settings_["request_timeout_ms"]]
    concurrency = [settings_["max_concurrent_requests_per_instance"]]
    places["max_concurrent_requests_per_instance"] = concurrency
    env = deployment.get("environment_variables", {})
    places.update(_model_places(deployment.get("model"), env))
    if "WORKER_COUNT" in env:
        concurrency.append(int(env["WORKER_COUNT"]))
    served = places.setdefault("served_model_name", [])
    if "MODEL_NAME" in env:
        served.append(env["MODEL_NAME"])
    models = places["models"] = _several_models(project, env)
    for name, found in _llm_places(project, env, updated).items():
        places.setdefault(name, []).extend(found)
    places["probe_initial_delay"] = [
        deployment[probe]["initial_delay"] for probe in ("liveness_probe", "readiness_probe")
    ]
    if "TORCHSERVE_MODELS" in env:
        name, _, archive = env["TORCHSERVE_MODELS"].split()[0].partition("=")
        served += [name, archive.removesuffix(".mar")]
    server = yaml.safe_load((project / ".copier-answers.yml").read_text())["server"]
    prefix, named, suffix = FACTS[server]["scoring"].partition("{model}")
    if named:  # the served model name is part of the scoring route
        path = routes["scoring_route"]["path"]
        assert path.startswith(prefix) and path.endswith(suffix), path
        served.append(path[len(prefix) : len(path) - len(suffix)])
    smoke = ast.parse((project / "smoke_test.py").read_text())
    for node in ast.walk(smoke):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DEFAULT_URL":
            places["port"].append(int(ast.literal_eval(node.value).rsplit(":", 1)[1]))
    r_script = project / "docker-context" / "start_plumber.R"
    if r_script.is_file():
        match = re.search(r"^port <- (.*)$", r_script.read_text(), re.MULTILINE)
        assert match, "start_plumber.R lost its port line"
        places["port"].append(int(match.group(1)))
        places["r_packages"] = [_r_packages(project)]
    properties = project / "docker-context" / "config.properties"
    if properties.is_file():
        props = _properties(properties.read_text())
        places["port"].append(int(props["inference_address"].rsplit(":", 1)[1]))
        concurrency.append(int(props["default_workers_per_model"]))
    pbtxts = sorted((project / "models").glob("*/config.pbtxt"))
    if len(pbtxts) > 1:  # several models: the default one's, the others' folders
        models.append(sorted(p.parent.name for p in pbtxts))
        pbtxts = [p for p in pbtxts if p.parent.name == served[-1]] or pbtxts
    pbtxt = pbtxts[0] if pbtxts else project / "models" / "config.pbtxt"
    if pbtxt.is_file() and not updated:
        named = re.search(r"^name: (.*)$", pbtxt.read_text(), re.MULTILINE)
        assert named, "config.pbtxt names no model"
        served += [json.loads(named.group(1)), pbtxt.parent.name]
        fmt = re.search(r'^(?:backend|platform): "(\w+)"', pbtxt.read_text(), re.MULTILINE)
        assert fmt, "config.pbtxt names no backend or platform"
        places["triton_model_format"] = [{"onnxruntime_onnx": "onnx"}.get(fmt[1], fmt[1])]
    return places


#: Questions whose answer selects files instead of landing as a value (checked through the
#: answers file, and by the files azure-ai-ml and the linters load).
STRUCTURAL = {"model_in_image", "multi_model", "ci_provider"} | {
    # a project's other deployments only (scaffold deployment add; `new` refuses them):
    # tests/test_deployments.py renders them
    "deployment_file",
    "deployment_dir",
    "own_folders",
}
#: Questions `landed()` reads back from the rendered files.
LANDS = {
    "endpoint_name",
    "auth_mode",
    "deployment_name",
    "instance_type",
    "instance_count",
    "port",
    "base_image",
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "model_name",
    "model_version",
    "r_packages",
    "triton_model_format",
    "model_asset",
    "served_model_name",
    "models",
    "max_model_len",
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "dtype",
    "probe_initial_delay",
}


# External verdicts, cached per file content ---------------------------------------------
_verdicts: dict[str, str] = {}


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(TOOLS_BIN)) or shutil.which(name)
    assert found, f"{name} missing: pip install -e '.[dev]'"
    return found


def lint(tool: str, text: str, suffix: str) -> str:
    """hadolint/shellcheck findings for `text` ("" when clean), once per distinct content."""
    key = hashlib.sha256(f"{tool}\0{text}".encode()).hexdigest()
    if key not in _verdicts:
        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / f"file{suffix}"
            path.write_text(text)
            proc = subprocess.run([_tool(tool), str(path)], capture_output=True, text=True)
            _verdicts[key] = "" if proc.returncode == 0 else proc.stdout + proc.stderr
    return _verdicts[key]


def readme_script(project: Path) -> str:
    readme = (project / "README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in readme.split("```")[1::2] if b.startswith("bash")]
    return "#!/usr/bin/env bash\nset -euo pipefail\n" + "\n".join(blocks)


def check_project(project: Path, data: Mapping[str, Any], updated: bool = False) -> None:
    """Everything a rendered project must satisfy for the answers `data`."""
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    for path in project.rglob("*"):
        if ".git" in path.parts or not path.is_file():
            continue
        if path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text())
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".py":
            ast.parse(path.read_text(), filename=str(path))
        elif path.suffix == ".sh":
            assert not lint("shellcheck", path.read_text(), ".sh"), path
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    places = landed(project, updated)
    for name, value in data.items():
        want = expected(name, value)
        assert answers[name] == want, (name, answers[name], want)
        assert type(answers[name]) is type(want), (name, answers[name], want)
        where = PLACE_MEANING.get(name, lambda value: value)(want)
        if name == "models":  # the places list the names in their own order
            where = sorted(where)
        for found in places.get(name, []):
            assert found == where and type(found) is type(where), (name, found, where)
    assert load_online_endpoint(str(project / "endpoint.yml")).name == answers["endpoint_name"]
    assert (
        load_online_deployment(str(project / "deployment.yml")).name == answers["deployment_name"]
    )
    dockerfile = (project / "docker-context" / "Dockerfile").read_text()
    assert not lint("hadolint", dockerfile, ".Dockerfile"), lint("hadolint", dockerfile, "")
    script = readme_script(project)
    assert not lint("shellcheck", script, ".sh"), lint("shellcheck", script, ".sh")


# Running scaffold -----------------------------------------------------------------------
def snapshot(folder: Path) -> dict[str, float]:
    """Every path below `folder` with its modification time."""
    return {str(p.relative_to(folder)): p.lstat().st_mtime for p in folder.rglob("*")}


def _as_arg(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_refusal(code: int, err: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), repr(err)


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A fresh parent folder per example (hypothesis reuses function-scoped fixtures)."""
    parent = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _about(message: str) -> str:
    """The question a refusal names, for hypothesis' statistics."""
    message = message.removeprefix("error: ")
    match = re.match(r"(\w+)[: ]", message) or re.search(r"question '(\w+)'", message)
    return match.group(1) if match else message[:30]


def generate_once(parent: Path, dest_name: str, data: dict[str, Any], via_cli: bool) -> None:
    """Generate with `data`; assert the property (refused cleanly, or rendered right)."""
    (parent / "sibling.txt").write_text("untouched\n")
    before = snapshot(parent)
    dest = parent / dest_name
    if via_cli:
        argv = ["new", str(dest), "--defaults", "--no-git", "--quiet"]
        for name, value in data.items():
            argv += ["--data", f"{name}={_as_arg(value)}"]
        code, _out, err = run_cli(argv)
        refused = code != 0
        if refused:
            assert_one_line_refusal(code, err)
            why = err
    else:
        try:
            new_project(dest, data, git_init=False)
            refused = False
        except UsageError as error:
            refused, why = True, error.message
    event(f"refused ({_about(why)})" if refused else "rendered")
    if refused:
        assert snapshot(parent) == before, "a refused answer set left files behind"
        return
    assert set(snapshot(parent)) - set(before) == {
        str(p.relative_to(parent)) for p in [dest, *dest.rglob("*")]
    }, "files written outside the destination"
    check_project(dest, data)


@pytest.mark.parametrize("server", SERVERS)
@settings(FUZZ, max_examples=NEW_EXAMPLES)
@given(data=st.data())
def test_new_answers_render_exactly_or_are_refused(server: str, data: st.DataObject) -> None:
    answers = data.draw(answer_sets(server), label="answers")
    dest_name = data.draw(DEST_NAMES, label="dest")
    via_cli = data.draw(st.integers(0, 3), label="via_cli") == 0
    with workspace() as parent:
        generate_once(parent, dest_name, answers, via_cli)


# update --data --------------------------------------------------------------------------
_bases: dict[str, Path] = {}


def _base_project(server: str, store: Path) -> Path:
    """A committed project per server, made once; each example works on a copy."""
    if server not in _bases:
        path = new_project(store / f"base-{server}" / "demo-ep", {"server": server}).path
        _bases[server] = path
    return _bases[server]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("update-bases")


def _update_changes(draw: st.DrawFn, server: str) -> dict[str, Any]:
    changes = draw(answer_sets(server))
    changes.pop("server")
    if not changes:
        name = draw(st.sampled_from(sorted(n for n in ASKED if n != "server")))
        changes[name] = draw(st.one_of(valid_value(name, ASKED[name]), HOSTILE_TEXT))
    return changes


def work_tree(project: Path) -> dict[Path, bytes]:
    """Every file of the project outside .git (git's index caches stat data; HEAD and
    `git status` are compared separately)."""
    return {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}


@pytest.mark.parametrize("server", SERVERS)
@settings(FUZZ, max_examples=UPDATE_EXAMPLES // len(SERVERS))
@given(data=st.data())
def test_update_data_applies_exactly_or_is_refused(
    server: str, base_store: Path, data: st.DataObject
) -> None:
    changes = _update_changes(data.draw, server)
    with workspace() as parent:
        project = parent / "demo-ep"
        shutil.copytree(_base_project(server, base_store), project, symlinks=True)
        head = git(project, "rev-parse", "HEAD")
        before = work_tree(project)
        argv = ["update", str(project), "--quiet"]
        for name, value in changes.items():
            argv += ["--data", f"{name}={_as_arg(value)}"]
        code, _out, err = run_cli(argv)
        event("refused" if code else "updated")
        if code != 0:
            assert_one_line_refusal(code, err)
            assert git(project, "rev-parse", "HEAD") == head
            assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
            assert work_tree(project) == before
            return
        assert git(project, "rev-parse", "HEAD") == head
        assert sorted(p.name for p in parent.iterdir()) == ["demo-ep"]
        check_project(project, {k: _as_arg(v) for k, v in changes.items()}, updated=True)


def test_every_question_is_checked_where_it_lands() -> None:
    """A question added to copier.yml is fuzzed without editing this module (its values
    come from its validator, choices and type), but where its answer lands must be added to
    `landed()` (or to STRUCTURAL when it only selects files): this fails until it is."""
    assert set(ASKED) - {"server"} == LANDS | STRUCTURAL
    for name in ("endpoint_name", "base_image", "model_version"):
        assert _validator_regexes(QUESTIONS[name]), f"{name}: no regex read from its validator"
