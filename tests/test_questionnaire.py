"""`scaffold new` on a terminal: the questionnaire's rules, and a real pty (tmux) where long
questions and errors must wrap, never be cut, and errors appear right under the prompt."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TEMPLATES
from scaffold import usermodel
from scaffold.questionnaire import Questionnaire
from scaffold.template_source import load_questions

ONNX_SAMPLE = TEMPLATES / "triton"  # the ONNX model is made by the test below


def _questionnaire(tmp_path: Path, **answers: object) -> Questionnaire:
    return Questionnaire(
        load_questions(), dict(answers), tmp_path / "my-endpoint",
        prepare_model=usermodel.prepare,
    )  # fmt: skip


def test_questions_follow_the_template(tmp_path: Path) -> None:
    asking = _questionnaire(tmp_path)
    first = asking.next_question()
    assert first is not None and first.name == "server" and first.kind == "choice"
    assert ("R Plumber", "plumber") in first.choices
    assert asking.answer(first, "minimal") == ""
    model = asking.next_question()
    assert model is not None and model.kind == "model" and "joblib" in model.help
    assert asking.answer(model, "") == ""  # the sample model
    endpoint = asking.next_question()
    assert endpoint is not None and endpoint.name == "endpoint_name"
    # the destination folder's name plus 4 hex digits of its path, as copier renders it
    assert re.fullmatch(r"my-endpoint-[0-9a-f]{4}", endpoint.default or "")
    error = asking.answer(endpoint, "BAD_NAME")
    assert error.startswith("endpoint name must be 3-32 characters") and "--" not in error
    assert asking.answer(endpoint, "") == "" and asking.answers["endpoint_name"] == endpoint.default
    names = []
    while (question := asking.next_question()) is not None:
        names.append(question.name)
        assert asking.answer(question, "") == "", question.name  # every default is valid
    assert "multi_model" in names and "port" not in names and "r_packages" not in names
    # the questions of a project's other deployments (scaffold deployment add) are not asked
    assert not {"deployment_file", "deployment_dir", "own_folders"} & set(names)


def test_the_model_question_reads_the_model_at_once(tmp_path: Path) -> None:
    from test_usermodel import _onnx_model

    asking = _questionnaire(tmp_path, server="triton")
    question = asking.next_question()
    assert question is not None and question.kind == "model"
    assert "no such file" in asking.answer(question, str(tmp_path / "missing.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    assert "not a readable ONNX model" in asking.answer(question, str(junk))
    source = _onnx_model(tmp_path / "doubler.onnx")
    assert asking.answer(question, str(source)) == ""
    served = asking.next_question()
    assert served is not None and served.name == "served_model_name"
    assert served.default == "doubler"  # suggested by the model's file name
    assert asking.answers["triton_model_format"] == "onnx"  # decided by the model: not asked
    while (question := asking.next_question()) is not None:
        assert question.name != "triton_model_format"
        asking.answer(question, "")
    assert asking.model == str(source)


def test_a_model_given_as_a_flag_shapes_the_questions(tmp_path: Path) -> None:
    from test_usermodel import _onnx_model

    source = _onnx_model(tmp_path / "scorer.onnx")
    asking = Questionnaire(
        load_questions(), {"server": "triton"}, tmp_path / "my-endpoint",
        ask_model=False, prepare_model=usermodel.prepare, model=str(source),
    )  # fmt: skip
    served = asking.next_question()
    assert served is not None and served.name == "served_model_name"
    assert served.default == "scorer" and asking.answers["triton_model_format"] == "onnx"


# --- a real terminal ------------------------------------------------------------------------------
@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[str]:
    tool = shutil.which("tmux")
    assert tool, "tmux is needed for the terminal tests (apt-get install tmux)"
    name = f"scaffold-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run([tool, "kill-session", "-t", name], capture_output=True, check=False)


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-t", session, "-p", "-J"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip


def _wait_for(session: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{_screen(session)}")


def _keys(session: str, *keys: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)


def test_a_narrow_terminal_shows_whole_questions_and_errors_under_the_prompt(
    tmp_path: Path, tmux: str
) -> None:
    dest = tmp_path / "term-ep"
    env = {
        "PYTHONPATH": str(REPO),
        "SCAFFOLD_CACHE_DIR": os.environ["SCAFFOLD_CACHE_DIR"],
        "GIT_CONFIG_GLOBAL": os.environ["GIT_CONFIG_GLOBAL"],
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path),
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = (
        f"env -u COLUMNS -u LINES {exports} {sys.executable} -m scaffold new {dest}; "
        "echo EXIT=$?; sleep 600"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", tmux, "-x", "50", "-y", "60", command], check=True
    )
    _wait_for(tmux, "server")
    _keys(tmux, "Down", "Enter")  # minimal
    _wait_for(tmux, "? model:")
    _keys(tmux, "/nonexistent/model.joblib", "Enter")
    screen = _wait_for(tmux, "file or folder\n")
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    prompt = max(i for i, line in enumerate(lines) if line.startswith("? model: /nonexist"))
    error = " ".join(line.strip() for line in lines[prompt + 1 : prompt + 3])
    assert error == "✗ --model /nonexistent/model.joblib: no such file or folder"
    _keys(tmux, "Enter")  # the sample model
    screen = _wait_for(tmux, "? endpoint_name:")
    # the whole help text, wrapped (50 columns), none of it cut
    joined = " ".join(line.strip() for line in screen.splitlines())
    assert "letters, digits and single dashes; unique in the Azure region)" in joined
    # wrapped by scaffold itself (hard line ends), not cut or left to the terminal
    too_long = [ln for ln in screen.splitlines() if len(ln) > 50 and not ln.startswith("?")]
    assert too_long == []
    _keys(tmux, "Bad_Name", "Enter")
    screen = _wait_for(tmux, "my-endpoint)")
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    prompt = max(i for i, line in enumerate(lines) if line.startswith("? endpoint_name: Bad"))
    error = " ".join(line.strip() for line in lines[prompt + 1 : prompt + 5])
    assert error.startswith("✗ endpoint name must be 3-32 characters")
    assert "(e.g. my-endpoint)" in error  # the end of the message: nothing cut
    assert lines[-1].startswith("? endpoint_name:")  # asked again, help not repeated
    for _ in range(30):
        _keys(tmux, "Enter")
        time.sleep(0.4)
        if "EXIT=" in _screen(tmux):
            break
    screen = _wait_for(tmux, "EXIT=", timeout=120)
    assert "EXIT=0" in screen
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["server"] == "minimal" and re.fullmatch(
        r"term-ep-[0-9a-f]{4}", answers["endpoint_name"]
    )
