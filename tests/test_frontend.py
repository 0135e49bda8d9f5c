"""The Azure front-end emulation (scaffold.frontend) in front of a real container: the real
azureml-inference-server-http on the minimal stand-in image, with a scoring script that sleeps,
answers a chosen status and echoes the headers it received. Each behaviour of the
troubleshooting article's status-code table is checked against it, and `scaffold run
--frontend` / `serve --frontend` end to end. Streaming pass-through is checked against a real
HTTP server on 127.0.0.1 that streams server-sent events."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import serving
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.frontend import Deployment, EndpointConfig, FrontEnd

KEY = "local-test-key-0123456789"
SECOND_KEY = "second-key-9876543210"

#: A scoring script that does what the request asks: sleep, answer a status, echo headers.
ECHO_SCORE = """import json
import time

from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request):
    body = request.get_json(force=True, silent=True) or {}
    time.sleep(float(body.get("sleep", 0)))
    payload = {
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "path": request.path,
    }
    return AMLResponse(payload, int(body.get("status", 200)), json_str=True)
"""


@pytest.fixture(scope="module")
def echo_container(
    tmp_path_factory: pytest.TempPathFactory, standin: Callable[[str], str]
) -> Iterator[int]:
    """The host port of a running minimal container serving ECHO_SCORE (4 workers)."""
    from scaffold.generate import new_project
    from scaffold.localrun import LocalDeployment, clean

    project = tmp_path_factory.mktemp("fe") / "fe-echo"
    new_project(project, {"server": "minimal", "base_image": standin("minimal")}, git_init=False)
    (project / "src" / "score.py").write_text(ECHO_SCORE)
    deployment_yml = project / "deployment.yml"
    deployment_yml.write_text(
        deployment_yml.read_text().replace('WORKER_COUNT: "1"', 'WORKER_COUNT: "4"')
    )
    try:
        with LocalDeployment(project).ready() as running:
            yield running.ports[running.plan.scoring.port]
    finally:
        clean(project)


def _config(port: int, **options: Any) -> EndpointConfig:
    deployment = Deployment(
        "blue",
        "127.0.0.1",
        port,
        request_timeout_ms=options.pop("timeout_ms", 5000),
        max_concurrent_requests_per_instance=options.pop("max_concurrent", 1),
        instance_count=options.pop("instances", 1),
    )
    defaults: dict[str, Any] = {
        "name": "fe-echo",
        "deployments": {"blue": deployment},
        "traffic": {"blue": 100},
        "auth_mode": "key",
        "keys": (KEY, SECOND_KEY),
    }
    defaults.update(options)
    return EndpointConfig(**defaults)


def _post(
    url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


AUTH = {"Authorization": f"Bearer {KEY}"}

pytestmark = pytest.mark.docker


def test_401_without_the_key_or_with_a_wrong_one(echo_container: int) -> None:
    with FrontEnd(_config(echo_container)) as front:
        url = front.url + "/score"
        status, headers, body = _post(url)
        assert status == 401 and body == b"key_auth_bad_header_forbidden"
        assert headers["x-scaffold-frontend"] == "emulated"
        assert _post(url, headers={"Authorization": "Bearer nope"})[0] == 401
        assert _post(url, headers={"Authorization": f"Basic {KEY}"})[0] == 401
        assert _post(url, headers=AUTH)[0] == 200
        assert _post(url, headers={"Authorization": f"Bearer {SECOND_KEY}"})[0] == 200
        assert front.counters.answers["401"] == 3


def test_every_token_auth_mode_needs_a_bearer_and_the_key_never_reaches_the_container(
    echo_container: int,
) -> None:
    for mode in ("aml_token", "aad_token"):
        with FrontEnd(_config(echo_container, auth_mode=mode)) as front:
            assert _post(front.url + "/score")[0] == 401
            status, _, body = _post(front.url + "/score", headers=AUTH)
            assert status == 200
            received = json.loads(body)["headers"]
            assert "authorization" not in received  # the front end keeps the key
            assert KEY not in body.decode()


def test_404_without_traffic_and_routing_by_the_deployment_header(echo_container: int) -> None:
    with FrontEnd(_config(echo_container, traffic={"blue": 0})) as front:
        url = front.url + "/score"
        status, _, body = _post(url, headers=AUTH)
        assert status == 404 and b"No valid deployments to route to" in body
        # the header chooses a deployment even without traffic (Azure's way to test one)
        status, headers, _ = _post(url, headers={**AUTH, "azureml-model-deployment": "blue"})
        assert status == 200 and headers["azureml-model-deployment"] == "blue"
        status, _, body = _post(url, headers={**AUTH, "azureml-model-deployment": "green"})
        assert status == 404 and b"green" in body
        front.set_traffic({"blue": 100})
        assert _post(url, headers=AUTH)[0] == 200


def test_429_beyond_twice_max_concurrent_times_instances_in_flight(echo_container: int) -> None:
    config = _config(echo_container, max_concurrent=1, instances=1)  # 2 in flight at most
    with FrontEnd(config) as front, ThreadPoolExecutor(4) as pool:
        url = front.url + "/score"
        slow = [pool.submit(_post, url, {"sleep": 3}, AUTH) for _ in range(2)]
        for _ in range(600):  # bounded: until both are in flight at the container
            if front.counters.peak_in_flight.get("blue", 0) >= 2:
                break
            time.sleep(0.01)
        assert front.counters.peak_in_flight["blue"] == 2
        status, headers, body = _post(url, {}, AUTH)
        assert status == 429 and body == b"Too many pending requests"
        assert headers["azureml-model-deployment"] == "blue"
        assert [future.result()[0] for future in slow] == [200, 200]
        assert _post(url, {}, AUTH)[0] == 200  # the slots are free again


def test_408_past_request_timeout_ms(echo_container: int) -> None:
    with FrontEnd(_config(echo_container, timeout_ms=300)) as front:
        status, headers, body = _post(front.url + "/score", {"sleep": 1.5}, AUTH)
        assert status == 408 and body == b"upstream request timeout"
        assert headers["x-scaffold-frontend"] == "emulated"
        assert _post(front.url + "/score", {"sleep": 0}, AUTH)[0] == 200


def test_424_with_the_model_error_headers_when_the_container_answers_non_200(
    echo_container: int,
) -> None:
    with FrontEnd(_config(echo_container)) as front:
        for code in (400, 500, 503):
            status, headers, body = _post(front.url + "/score", {"status": code}, AUTH)
            assert status == 424
            assert headers["ms-azureml-model-error-statuscode"] == str(code)
            assert headers["ms-azureml-model-error-reason"]
            assert json.loads(body)["path"] == "/score"  # the container's own answer
        assert front.counters.answers["424"] == 3


def test_request_ids_and_paths(echo_container: int) -> None:
    with FrontEnd(_config(echo_container)) as front:
        status, headers, body = _post(
            front.url + "/score",
            headers={**AUTH, "x-request-id": "mine", "x-ms-client-request-id": "ab!c" * 20},
        )
        assert status == 200
        uuid.UUID(headers["x-request-id"])  # a fresh GUID replaces the client's value
        assert headers["x-ms-client-request-id"] == "abc" * 13 + "a"  # cleaned, 40 chars
        received = json.loads(body)["headers"]
        assert received["x-request-id"] == headers["x-request-id"]
        # any path and method go to the scoring port (Azure forwards sub-paths of the
        # scoring URI): the server's health route answers through the front end
        request = urllib.request.Request(front.url + "/", headers=AUTH)
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200 and answer.read() == b"Healthy"
        # a non-200 answer of the container becomes 424 (here: POST to its GET-only route)
        status, headers, _ = _post(front.url + "/", headers=AUTH)
        assert status == 424 and headers["ms-azureml-model-error-statuscode"] == "405"


class _Streamer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index in range(3):
            part = f"data: {index}\n\n".encode()
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.flush()
            self.server.sent.set() if index == 0 else None  # type: ignore[attr-defined]
            self.server.go_on.wait(10)  # type: ignore[attr-defined]
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args: object) -> None:
        pass


def test_streamed_answers_arrive_as_the_container_writes_them() -> None:
    import http.client

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Streamer)
    httpd.daemon_threads = True
    httpd.sent, httpd.go_on = threading.Event(), threading.Event()  # type: ignore[attr-defined]
    with serving(httpd), FrontEnd(_config(httpd.server_address[1])) as front:
        connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)
        connection.request("POST", "/v1/chat/completions", body=b"{}", headers=AUTH)
        answer = connection.getresponse()
        assert answer.status == 200
        assert answer.getheader("transfer-encoding") == "chunked"
        first = answer.readline()
        assert first == b"data: 0\n"  # arrived before the server finished
        httpd.go_on.set()  # type: ignore[attr-defined]
        assert answer.read() == b"\ndata: 1\n\ndata: 2\n\n"
        connection.close()


def test_run_and_serve_go_through_the_front_end(
    render: Callable[..., Path],
    standin: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scaffold.localrun import LocalDeployment, clean, serve_project

    project = render("minimal", name="fe-run", base_image=standin("minimal"))
    try:
        assert main(["run", "--frontend", str(project)]) == ExitCode.OK
        out = capsys.readouterr()
        assert "smoke test passed through the front-end emulation" in out.out
        assert "PASS scoring" in out.err

        stop = threading.Event()
        seen: dict[str, Any] = {}

        def on_ready(deployment: LocalDeployment) -> None:
            front = deployment.front
            assert front is not None
            url = front.url + deployment.plan.scoring.path
            body = json.loads((project / "sample_request.json").read_text())
            seen["without"] = _post(url, body)[0]
            seen["with"] = _post(url, body, {"Authorization": f"Bearer {deployment.front_key}"})
            stop.set()

        serve_project(project, on_ready=on_ready, frontend=True, stop=stop)
        assert seen["without"] == 401
        status, headers, body = seen["with"]
        assert status == 200 and headers["azureml-model-deployment"] == "blue"
        assert json.loads(body) == json.loads((project / "sample_response.json").read_text())
    finally:
        clean(project)


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_malformed_requests_close_their_connection_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    httpd.daemon_threads = True
    with serving(httpd), FrontEnd(_config(httpd.server_address[1])) as front:
        auth = f"Authorization: Bearer {KEY}\r\n".encode()
        bad = [
            b"NONSENSE\r\n\r\n",
            b"POST /score HTTP/1.1\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /score HTTP/1.1\r\n" + auth + b"Content-Length: -5\r\n\r\n",
            b"POST /score HTTP/1.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        ]
        answers = []
        for wire in bad:
            with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
                sock.sendall(wire)
                sock.shutdown(socket.SHUT_WR)
                answers.append(sock.recv(65536).split(b"\r\n", 1)[0])
        assert answers[0] == b"HTTP/1.1 400 Bad Request"
        assert answers[1] in (b"", b"HTTP/1.1 400 Bad Request")  # closed: no body to forward
        assert answers[2] == b"HTTP/1.1 413 Payload Too Large"
        assert answers[3] == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert _post(front.url + "/score", headers=AUTH)[0] == 200  # still serving
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
