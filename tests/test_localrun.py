"""`scaffold run` end to end with a real Docker Engine, real servers and stand-in base images.

No registry is reachable here, so the official base images are replaced by stand-ins
built from a debootstrapped Debian (tests/standins): real R + plumber, real
azureml-inference-server-http. These tests fail (never skip) without Docker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conftest import Render, git
from scaffold.cli import main
from scaffold.errors import ExitCode

pytestmark = pytest.mark.docker


def _containers_of(project: Path) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=scaffold.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def _edit_yaml(path: Path, edit: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize("server", ["plumber", "minimal", "triton", "torchserve"])
def test_run_is_green(
    render: Render,
    standin: Callable[[str], str],
    server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render(server, name=f"{server}-e2e", base_image=standin(server))
    assert main(["run", str(project)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "OK: smoke test passed" in captured.out
    assert "PASS scoring" in captured.err
    assert "(read-only)" in captured.err  # mounts reported
    assert _containers_of(project) == []


def test_minimal_multi_model_is_green(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("minimal", name="multi-e2e", multi_model="true", base_image=standin("minimal"))
    assert main(["run", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "PASS model model-a" in err and "PASS model model-b" in err  # each model scored


def test_plumber_one_row_and_bad_input_through_the_container(
    render: Render, standin: Callable[[str], str]
) -> None:
    """The plumber contract inside the real container: arrays stay arrays, 400 on bad JSON."""
    from scaffold import container as adapter
    from scaffold.localrun import image_tag
    from scaffold.probes import wait_ready
    from scaffold.project import load_plan

    project = render("plumber", name="plumber-contract", base_image=standin("plumber"))
    plan = load_plan(project)
    client = adapter.connect()
    adapter.build(
        client,
        plan.context,
        plan.dockerfile,
        image_tag(plan),
        lambda *_: None,
        labels={"scaffold.project": str(project)},
    )
    running = adapter.start(
        client,
        image_tag(plan),
        name="scaffold-test-contract",
        environment=plan.environment,
        mounts=plan.mounts,
        ports=plan.ports,
        labels={"scaffold.project": str(project)},
    )
    try:
        port = adapter.published_ports(running, plan.ports)[8000]
        base = f"http://127.0.0.1:{port}"
        assert wait_ready(base + "/ready", plan.readiness_probe, alive=lambda: "").ready
        one = _post(base + "/score", b'{"data": [{"wt": 2.62, "hp": 110}]}')
        assert one[0] == 200 and isinstance(yaml.safe_load(one[1])["predictions"], list)
        assert _post(base + "/score", b'{"data": [')[0] == 400
        assert _post(base + "/score", b'{"rows": []}')[0] == 400
    finally:
        adapter.remove(running)


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("server", ["plumber", "minimal"])
def test_missing_model_is_not_ready_with_logs(
    render: Render,
    standin: Callable[[str], str],
    server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Model missing: plumber stays up but never ready (503); azmlinfsrv exits 3."""
    project = render(server, name=f"{server}-nomodel", base_image=standin(server))
    for path in (project / "model").iterdir():
        path.unlink()
    (project / "model" / ".keep").write_text("")

    # 21 s: short, yet long enough for R to start and answer 503 on a busy machine (with
    # 5 s, a loaded CI machine saw "connection refused" instead of the 503).
    def fast_probes(data: dict) -> None:
        for probe in ("liveness_probe", "readiness_probe"):
            data[probe].update(initial_delay=1, period=1, failure_threshold=20)

    _edit_yaml(project / "deployment.yml", fast_probes)
    assert main(["run", str(project)]) == ExitCode.NOT_READY
    err = capsys.readouterr().err
    error_line = next(line for line in err.splitlines() if line.startswith("error:"))
    if server == "plumber":
        assert "readiness GET /ready failed: not 200 within 21s" in error_line
        assert "HTTP 503" in error_line
        assert "start_plumber.R" in err  # the container log follows
    else:
        assert "container exited (exit code 3)" in error_line
        assert "No model file (*.json) found" in err
    assert _containers_of(project) == []


def test_run_follows_edits_to_deployment_yml(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """deployment.yml is the source of truth: a new port, model folder and env var are used."""
    project = render("plumber", name="plumber-edited", base_image=standin("plumber"))
    (project / "model").rename(project / "weights")
    launcher = project / "docker-context" / "start_plumber.R"
    launcher.write_text(launcher.read_text().replace("port <- 8000", "port <- 8111"))

    def edit(data: dict) -> None:
        data["model"]["path"] = "./weights"
        for route in data["environment"]["inference_config"].values():
            route["port"] = 8111
        data["environment_variables"] = {"MODEL_FILE": "weights/model.rds"}

    _edit_yaml(project / "deployment.yml", edit)
    assert main(["run", str(project)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "on port 8111" in err
    assert "/var/azureml-app/azureml-models/plumber-edited-model/1/weights" in err


def test_wrong_port_in_deployment_is_caught(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """inference_config says 9000, the server listens on 8000: not ready, as in Azure."""
    project = render("plumber", name="plumber-wrongport", base_image=standin("plumber"))

    def edit(data: dict) -> None:
        for route in data["environment"]["inference_config"].values():
            route["port"] = 9000
        data["liveness_probe"].update(initial_delay=1, period=1, failure_threshold=3)

    _edit_yaml(project / "deployment.yml", edit)
    # scaffold validate catches it before anything is built ...
    assert main(["run", str(project)]) == ExitCode.INVALID
    captured = capsys.readouterr()
    assert "[route.port.mismatch]" in captured.out
    # ... and the container run catches it too, as Azure's probes would.
    assert main(["run", "--no-validate", str(project)]) == ExitCode.NOT_READY
    assert "liveness GET /live failed" in capsys.readouterr().err
    assert _containers_of(project) == []


def test_build_failure_exit_code(
    render: Render, standin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="plumber-badbuild", base_image=standin("plumber"))
    dockerfile = project / "docker-context" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN exit 7\n")
    git(project, "commit", "-qam", "break the build")
    assert main(["run", str(project)]) == ExitCode.DOCKER
    assert "docker build of" in capsys.readouterr().err


def test_ctrl_c_removes_the_container(render: Render, standin: Callable[[str], str]) -> None:
    """SIGINT while waiting for readiness: exit 130 and no container left behind."""
    import signal
    import sys
    import time

    project = render("plumber", name="plumber-ctrlc", base_image=standin("plumber"))
    for path in (project / "model").iterdir():
        path.unlink()  # never ready: the run waits on /ready until interrupted
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "run", "--no-validate", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not _containers_of(project):
        assert proc.poll() is None and time.monotonic() < deadline, "container never started"
        time.sleep(0.3)
    time.sleep(2)  # now polling readiness
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "error: interrupted" in err
    assert _containers_of(project) == []


# -- the inner loop: signals, stale containers, clean, serve, reload, platform ------------


def _scaffold(*args: str, out: Path, err: Path) -> subprocess.Popen[str]:
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "scaffold", *args],
        stdout=out.open("w"),
        stderr=err.open("w"),
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _wait_for(
    what: str,
    check: Callable[[], object],
    proc: subprocess.Popen[str],
    err: Path,
    seconds: float = 180,
) -> object:
    import time

    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert proc.poll() is None, (
            f"scaffold exited {proc.returncode} before {what}:\n" + (err.read_text()[-3000:])
        )
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{err.read_text()}"
        time.sleep(0.3)


def _never_ready(project: Path) -> None:
    for path in (project / "model").iterdir():
        path.unlink()  # plumber answers 503 on /ready until the model exists


def test_sigterm_during_readiness_removes_the_container(
    render: Render, standin: Callable[[str], str], tmp_path: Path
) -> None:
    """CI cancellation, `timeout` and IDE stop buttons send SIGTERM: exit 143, no container."""
    import signal
    import time

    project = render("plumber", name="plumber-term", base_image=standin("plumber"))
    _never_ready(project)
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("run", "--no-validate", str(project), out=out, err=err)
    _wait_for("the container", lambda: _containers_of(project), proc, err)
    _wait_for("the readiness wait", lambda: "readiness GET" in err.read_text(), proc, err)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == ExitCode.TERMINATED == 143
    assert "error: terminated (SIGTERM)" in err.read_text()
    assert _containers_of(project) == []


def test_kill_9_leftover_is_removed_by_the_next_run_and_by_clean(
    render: Render,
    standin: Callable[[str], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kill -9 leaves the container running; the next run removes it (and says so), and
    `scaffold clean` removes the project's containers and images but nobody else's."""
    import shutil
    import signal

    project = render("plumber", name="plumber-kill9", base_image=standin("plumber"))
    other = render("plumber", name="plumber-other", base_image=standin("plumber"))
    model = project / "model" / "model.rds"
    saved = tmp_path / "model.rds"
    shutil.copy(model, saved)
    _never_ready(project)
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("run", "--no-validate", str(project), out=out, err=err)
    _wait_for("the readiness wait", lambda: "readiness GET" in err.read_text(), proc, err)
    leftover = _containers_of(project)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _containers_of(project) == leftover  # nothing could clean up

    shutil.copy(saved, model)
    assert main(["run", "--no-validate", str(project)]) == ExitCode.OK
    assert "Removed stale container scaffold-plumber-kill9-" in capsys.readouterr().err
    assert _containers_of(project) == []

    assert main(["run", "--no-validate", "--no-smoke", str(other)]) == ExitCode.OK
    err.write_text("")
    proc = _scaffold("run", "--no-validate", str(project), out=out, err=err)
    _wait_for("the readiness wait", lambda: "readiness GET" in err.read_text(), proc, err)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    capsys.readouterr()
    assert main(["clean", str(project)]) == ExitCode.OK
    result = capsys.readouterr()
    assert "Removed 1 container(s) and 1 image(s)" in result.out
    assert "scaffold-local/plumber-kill9-blue-" in result.err
    assert _containers_of(project) == []
    images = subprocess.run(
        ["docker", "images", "-q", "--filter", "label=scaffold.project"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _images_of(project) == [] and _images_of(other) != [] and images.strip()


def _images_of(project: Path) -> list[str]:
    return subprocess.run(
        ["docker", "images", "-q", "--filter", f"label=scaffold.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def _serving_urls(out: Path) -> dict[str, str]:
    urls = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in {"liveness", "readiness", "scoring"}:
            urls[parts[0]] = parts[2]
    return urls if len(urls) == 3 else {}


# How to make each server's mounted scoring code answer differently, and how to see it.
_EDITS = {
    "plumber": (
        "src/plumber.R",
        "list(predictions = predictions)",
        "list(predictions = predictions, edited = TRUE)",
        lambda body: body.get("edited") == [True] or body.get("edited") is True,
    ),
    "minimal": (
        "src/score.py",
        'intercept = float(models[name]["intercept"])',
        'intercept = float(models[name]["intercept"]) + 1000.0',
        lambda body: all(value > 900 for value in body["predictions"]),
    ),
}


@pytest.mark.parametrize("server", ["plumber", "minimal"])
def test_serve_answers_requests_reloads_edits_and_stops_on_sigterm(
    render: Render, standin: Callable[[str], str], tmp_path: Path, server: str
) -> None:
    """`scaffold serve --reload`: URLs printed, a real HTTP client gets the sample answer,
    an edit to the mounted code is served after an automatic restart on the same port,
    SIGTERM stops it (exit 0) and removes the container."""
    import json
    import signal

    project = render(server, name=f"{server}-serve", base_image=standin(server))
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("serve", "--reload", "--no-validate", str(project), out=out, err=err)
    try:
        urls = _wait_for("the URLs", lambda: _serving_urls(out), proc, err)
        assert isinstance(urls, dict)
        text = out.read_text()
        assert "curl -sS -X POST " + urls["scoring"] in text
        assert "smoke_test.py --liveness-url " + urls["liveness"] in text
        request = (project / "sample_request.json").read_bytes()
        status, body = _post(urls["scoring"], request)
        assert status == 200
        assert json.loads(body) == json.loads((project / "sample_response.json").read_text())

        path, old, new, edited = _EDITS[server]
        source = project / path
        assert old in source.read_text()
        source.write_text(source.read_text().replace(old, new))
        _wait_for("the restart", lambda: "Ready again after" in err.read_text(), proc, err)
        status, body = _post(urls["scoring"], request)
        assert status == 200 and edited(json.loads(body)), body
        assert len(_containers_of(project)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == ExitCode.OK, err.read_text()[-2000:]
    assert "Stopped (SIGTERM); container removed" in out.read_text()
    assert "| " in err.read_text()  # the container log was followed
    assert _containers_of(project) == []


@pytest.mark.parametrize("server", ["torchserve", "triton"])
def test_serve_of_image_only_servers_answers_and_stops_on_sigterm(
    render: Render, standin: Callable[[str], str], tmp_path: Path, server: str
) -> None:
    """`scaffold serve` for the servers without mounted code: the printed scoring URL
    answers a real HTTP client with the sample response; SIGTERM removes the container."""
    import json
    import signal

    project = render(server, name=f"{server}-serve", base_image=standin(server))
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("serve", "--no-validate", str(project), out=out, err=err)
    try:
        urls = _wait_for("the URLs", lambda: _serving_urls(out), proc, err)
        assert isinstance(urls, dict)
        status, body = _post(urls["scoring"], (project / "sample_request.json").read_bytes())
        assert status == 200
        assert json.loads(body) == json.loads((project / "sample_response.json").read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == ExitCode.OK, err.read_text()[-2000:]
    assert _containers_of(project) == []


def test_serve_on_a_chosen_port(
    render: Render, standin: Callable[[str], str], tmp_path: Path
) -> None:
    import signal
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project = render("plumber", name="plumber-port", base_image=standin("plumber"))
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("run", "--serve", "--port", str(port), str(project), out=out, err=err)
    try:
        urls = _wait_for("the URLs", lambda: _serving_urls(out), proc, err)
        assert isinstance(urls, dict)
        assert urls["scoring"] == f"http://127.0.0.1:{port}/score"
        assert _post(urls["scoring"], (project / "sample_request.json").read_bytes())[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == ExitCode.OK and "Stopped (Ctrl-C)" in out.read_text()
    assert _containers_of(project) == []


def test_bad_port_is_refused_before_building(
    render: Render, capsys: pytest.CaptureFixture[str]
) -> None:
    project = render("plumber", name="plumber-badport")
    assert main(["serve", "--port", "70000", str(project)]) == ExitCode.USAGE
    assert "--port 70000 is not a port" in capsys.readouterr().err


def test_images_are_built_for_linux_amd64_by_default(
    render: Render, standin: Callable[[str], str]
) -> None:
    """Azure runs linux/amd64: the image is built for it (also on an arm64 laptop)."""
    import docker

    from scaffold.localrun import DEFAULT_PLATFORM, LocalDeployment

    project = render("minimal", name="minimal-platform", base_image=standin("minimal"))
    deployment = LocalDeployment(project)
    assert deployment.platform == DEFAULT_PLATFORM == "linux/amd64"
    deployment.build()
    image = docker.from_env().images.get(deployment.tag)
    assert (image.attrs["Os"], image.attrs["Architecture"]) == ("linux", "amd64")
    assert LocalDeployment(project, platform="native").platform is None


def test_serve_reload_rebuilds_when_the_build_context_changes(
    render: Render, standin: Callable[[str], str], tmp_path: Path
) -> None:
    """An edit inside docker-context/ rebuilds the image, then restarts the container."""
    import signal

    project = render("plumber", name="plumber-rebuild", base_image=standin("plumber"))
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("serve", "--reload", "--no-validate", str(project), out=out, err=err)
    try:
        _wait_for("the URLs", lambda: _serving_urls(out), proc, err)
        launcher = project / "docker-context" / "start_plumber.R"
        launcher.write_text(
            launcher.read_text().replace('"start_plumber.R: serving "', '"rebuilt: serving "')
        )
        _wait_for("the restart", lambda: "Ready again after" in err.read_text(), proc, err)
        _wait_for("the new log", lambda: "| rebuilt: serving" in err.read_text(), proc, err)
        assert err.read_text().count("==> Building docker-context/") == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == ExitCode.OK
    assert _containers_of(project) == []
