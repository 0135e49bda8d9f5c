"""A local HTTP **stand-in, not Azure**: the Azure Resource Manager (ARM), Azure ML workspace,
Blob Storage, Azure Monitor metrics and scoring calls that azure-ai-ml and scaffold make for a
managed online endpoint, answered from memory on 127.0.0.1 only.

It exists because no Azure subscription is reachable from the test machines. The tests drive
the **real** azure-ai-ml code against it through the SDK's own configuration (a custom cloud
whose `resource_manager` is this server, a static test credential, `connection_verify` with a
CA generated for the test), so the SDK's real request building, serialisation, long-running-
operation polling and error handling run.

What it answers is modelled on Microsoft's REST API specification (Azure/azure-rest-api-specs,
Microsoft.MachineLearningServices: OnlineEndpoints, OnlineDeployments, ModelVersions,
CodeVersions, EnvironmentVersions, Usages, VirtualMachineSizes; Azure Monitor Metrics) and on
the failure texts users posted (/work/shared/reference/azure-errors.md), **not on scaffold**:

- asset versions are immutable: a PUT of an existing model/code version with other files is
  refused with `(UserError) Asset paths cannot be updated.`, an environment version with
  another definition with `Environment X with version N is already registered and cannot
  be changed.`; the same content is accepted again (idempotent); model versions are integers;
- quota: a deployment needs ceil(1.2 x instance_count) x vCPUs of its VM family free
  (Azure reserves 20% for upgrades); if not, the PUT is a synchronous `400 BadRequest "The
  request is invalid."` with the cause only in `details[]` (as a JSON string, the real shape);
  the usage API reports the family's and the region's usage and limits;
- a failed deployment fails its long-running operation with no error code and the code in
  the message (`ResourceNotReady: ... Please see troubleshooting guide, ...`), which
  azure-core renders as `(None) ResourceNotReady: ...`;
- getLogs of a failed or starting deployment begins with the instance status block and the
  container events;
- traffic rules: live traffic sums to 0 or 100 and names existing deployments; mirrored
  traffic sums to at most 50 and only to deployments without live traffic; a deployment
  with traffic cannot be deleted; a resource with an operation in progress answers 409;
- scoring: the Bearer key is checked, the `azureml-model-deployment` header routes to one
  deployment, otherwise traffic weights do; 404 when no deployment has traffic; mirrored
  requests are copied and their answers dropped; every answer is counted for the
  `RequestsPerMinute` metric (dimensions deployment, statusCode, statusCodeClass);
- endpoint names are unique per region (`Scenario.taken_endpoint_names` are taken by
  "other workspaces").

Wording of messages the public material does not show (traffic rules, 409) is the
stand-in's own. It proves scaffold's use of the SDK and of these documented rules, not the
service's behaviour.

Pieces:
- `ArmStandin`: one TLS listener for ARM (`/subscriptions/...`), the endpoint scoring URIs
  (`/score/<endpoint>`, which forward to a local container when one is configured) and Blob
  Storage (by Host header).
- a CONNECT proxy (set as HTTPS_PROXY by the tests) that tunnels **every** CONNECT to the
  stand-in's own listener, never anywhere else: azure-ai-ml derives the blob account URL
  from the cloud's storage suffix (`https://<account>.blob.<suffix>`), a name no resolver
  here knows, so the proxy stands in for DNS as well.
- `Scenario`: what the next requests do (deployment outcome per deployment, quota limits,
  scoring answers per deployment, a Ctrl-C at a given request).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import math
import os
import re
import select
import signal
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: The fake storage suffix of the stand-in cloud (cloud_metadata storage_endpoint).
STORAGE_SUFFIX = "storage.standin.invalid"
STORAGE_ACCOUNT = "standinstore"
CONTAINER = "azureml-blobstore-standin"
#: The token the static test credential hands out; anything else gets 401.
TOKEN = "standin-arm-token"
LOCATION = "standinregion"
ACR_LOGIN_SERVER = "standinacr.azurecr.io"
ARM_PROVIDER = "providers/Microsoft.MachineLearningServices/workspaces/"


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, localhost and the stand-in
    storage host names. Returns (ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scaffold test CA (stand-in)")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [
        x509.DNSName("localhost"),
        x509.DNSName(f"{STORAGE_ACCOUNT}.blob.{STORAGE_SUFFIX}"),
        x509.DNSName(ACR_LOGIN_SERVER),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class StaticCredential:
    """A test credential (azure-core's TokenCredential protocol): always the same token."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token

    def get_token(self, *_scopes: str, **_options: Any) -> Any:
        import time

        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


#: The VM sizes the stand-in's region offers for managed online endpoints (the shape and
#: values of VirtualMachineSize/list.json in the REST specification; families as Azure
#: names them). Kept here, not read from scaffold: the stand-in plays the service.
VM_SIZES: dict[str, dict[str, Any]] = {
    name: {"family": family, "vCPUs": cpus, "memoryGB": memory, "gpus": gpus}
    for name, family, cpus, memory, gpus in (
        ("Standard_DS1_v2", "standardDSv2Family", 1, 3.5, 0),
        ("Standard_DS2_v2", "standardDSv2Family", 2, 7.0, 0),
        ("Standard_DS3_v2", "standardDSv2Family", 4, 14.0, 0),
        ("Standard_DS4_v2", "standardDSv2Family", 8, 28.0, 0),
        ("Standard_DS5_v2", "standardDSv2Family", 16, 56.0, 0),
        ("Standard_F2s_v2", "standardFSv2Family", 2, 4.0, 0),
        ("Standard_F4s_v2", "standardFSv2Family", 4, 8.0, 0),
        ("Standard_F8s_v2", "standardFSv2Family", 8, 16.0, 0),
        ("Standard_F16s_v2", "standardFSv2Family", 16, 32.0, 0),
        ("Standard_E2s_v3", "standardESv3Family", 2, 16.0, 0),
        ("Standard_E4s_v3", "standardESv3Family", 4, 32.0, 0),
        ("Standard_E8s_v3", "standardESv3Family", 8, 64.0, 0),
        ("Standard_D4as_v4", "standardDASv4Family", 4, 16.0, 0),
        ("Standard_D2s_v3", "standardDSv3Family", 2, 8.0, 0),
        ("Standard_NC4as_T4_v3", "StandardNCASv3_T4Family", 4, 28.0, 1),
        ("Standard_NC6s_v3", "standardNCSv3Family", 6, 112.0, 1),
        ("Standard_NC24ads_A100_v4", "StandardNCADSA100v4Family", 24, 220.0, 1),
        ("Standard_NC48ads_A100_v4", "StandardNCADSA100v4Family", 48, 440.0, 2),
        ("Standard_NC96ads_A100_v4", "StandardNCADSA100v4Family", 96, 880.0, 4),
        ("Standard_NC40ads_H100_v5", "StandardNCadsH100v5Family", 40, 320.0, 1),
    )
}
#: Default vCPU limits per family (the 24 of the specification's Usage/list.json example).
DEFAULT_FAMILY_LIMIT = 24
DEFAULT_REGIONAL_LIMIT = 100
NO_TRAFFIC = (
    "No valid deployments to route to. Please check that the endpoint has at least one "
    "deployment with positive weight values or use a deployment specific header to route."
)
TSG = "Please see troubleshooting guide, available here: https://aka.ms/oe-tsg#error-{}"
#: What getLogs shows of a deployment that failed this way (instance status, events).
FAILED_STATUS = {
    "ResourceNotReady": (
        {"ModelDownload": "Succeeded", "UserContainerStart": "InProgress"},
        ["LivenessProbeFailed", "ReadinessProbeFailed"],
    ),
    "BadArgument": ({"UserContainerImagePull": "Failed", "ModelDownload": "NotStarted"}, []),
    "ResourceNotFound": ({"ModelDownload": "Failed", "UserContainerStart": "NotStarted"}, []),
}
TRANSITIONAL = frozenset({"Creating", "Updating", "Deleting"})


def usage_name(family: str) -> str:
    """`standardDSv2Family` -> `Standard DSv2 Family Cluster Dedicated vCPUs` (Usage/list)."""
    core = family[len("standard") :] if family.lower().startswith("standard") else family
    return f"Standard {core.removesuffix('Family')} Family Cluster Dedicated vCPUs"


@dataclass
class Scenario:
    """What the stand-in does with the next requests (tests set it before acting)."""

    #: Polls an operation answers "InProgress" before it finishes (an abandoned operation
    #: finishes by itself after op_seconds, as Azure's keep running without a poller).
    polls: int = 1
    op_seconds: float = 2.0
    #: ARM answers every request with 401 (an expired or wrong credential).
    unauthorized: bool = False
    #: Outcome of deployment operations: "" = Succeeded; else an error code for a failed
    #: operation (e.g. "ResourceNotReady", "ImageBuildFailure"), or "hang" (never finishes).
    deployment_error: str = ""
    deployment_message: str = ""
    #: The same per deployment name (wins over deployment_error): name -> (code, message).
    deployment_errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Answer the deployment PUT itself with this HTTP status and ARM error code.
    put_status: int = 0
    put_code: str = ""
    put_message: str = ""
    #: get_logs content per container ("inference-server", "storage-initializer"); a failed
    #: deployment's inference-server log starts with the instance status block and events.
    logs: dict[str, str] = field(default_factory=dict)
    #: Scoring requests are forwarded here (a local container's base URL + upstream_path),
    #: per deployment in `upstreams` (name -> full URL), else answered with `response`.
    upstream: str = ""
    upstream_path: str = ""
    upstreams: dict[str, str] = field(default_factory=dict)
    response: bytes = b'{"standin": true}'
    #: Deployment name -> HTTP status its container answers scoring with (e.g. 500).
    scoring_status: dict[str, int] = field(default_factory=dict)
    #: The same, only for requests routed by traffic weights or mirrored (real users'
    #: traffic), not for requests that name the deployment in the header (smoke tests).
    traffic_status: dict[str, int] = field(default_factory=dict)
    #: Deployment name -> live-traffic percent from which it answers 500 to everything
    #: (a deployment that breaks under load).
    fail_from_traffic: dict[str, int] = field(default_factory=dict)
    #: VM family -> vCPU limit, and the region's total; vCPUs used by other things
    #: (compute clusters) per family.
    quota: dict[str, int] = field(default_factory=dict)
    regional_limit: int = DEFAULT_REGIONAL_LIMIT
    other_usage: dict[str, int] = field(default_factory=dict)
    #: Endpoint names other workspaces in the region already use.
    taken_endpoint_names: set[str] = field(default_factory=set)
    #: The metrics API answers 403 (no Monitoring Reader role); so does the usage API.
    metrics_forbidden: bool = False
    usage_forbidden: bool = False
    #: (method, path regex, body regex): the first such request makes the stand-in send
    #: SIGINT to this process, as if the user pressed Ctrl-C while waiting for Azure (the
    #: request itself is carried out: Azure keeps going).
    interrupt_on: tuple[str, str, str] | None = None
    #: GETs of an endpoint that still show its traffic from before the last traffic update
    #: once that update finished (Azure/azure-dev#3881: a deployment just given 100% was
    #: read back without it, so azd polls until the new split shows).
    stale_reads: int = 0


@dataclass
class Record:
    """One request the stand-in saw (for assertions)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    time: float = 0.0

    def header(self, name: str) -> str:
        """A request header, case-insensitively ("" when absent)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")


Answer = tuple[int, dict[str, str], bytes]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(self.path)
        host = (self.headers.get("Host") or "").split(":")[0]
        record = Record(
            self.command,
            host,
            urllib.parse.unquote(parsed.path),
            urllib.parse.parse_qs(parsed.query),
            dict(self.headers),
            body,
            time.time(),
        )
        standin = self.server.standin
        with standin.lock:
            standin.requests.append(record)
        standin.maybe_interrupt(record)
        try:
            with standin.lock:
                standin.settle()
            if host.endswith(STORAGE_SUFFIX):
                status, headers, payload = standin.blob(record)
            elif host == ACR_LOGIN_SERVER:
                status, headers, payload = standin.acr(record)
            elif record.path.startswith("/score/"):
                status, headers, payload = standin.score(record)
            else:
                with standin.lock:
                    status, headers, payload = standin.arm(record)
        except Exception as error:  # a stand-in bug: visible to the test, not a hang
            status, headers, payload = 500, {}, _error("StandinBug", repr(error))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: ArmStandin


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _error(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return _json({"error": error})


JSON = {"Content-Type": "application/json; charset=utf-8"}
_ONLINE = r"^/onlineEndpoints/(?P<endpoint>[^/]+)"


class ArmStandin:
    """The stand-in (see the module docstring). Use as a context manager."""

    def __init__(self, tls_dir: Path) -> None:
        self.ca, cert, key = make_tls(tls_dir)
        self.scenario = Scenario()
        self.requests: list[Record] = []
        self.lock = threading.RLock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
        #: (time, endpoint, deployment, status) of every scoring answer.
        self.scored: list[tuple[float, str, str, int]] = []
        self._round_robin: dict[str, int] = {}
        self._interrupted = False
        #: Endpoint id -> [the endpoint as it was before a traffic update, GETs left].
        self._stale: dict[str, list[Any]] = {}
        self.acr_token = "acr-refresh-" + uuid.uuid4().hex
        self.keys = {
            "primaryKey": "pk-" + uuid.uuid4().hex,
            "secondaryKey": "sk-" + uuid.uuid4().hex,
        }
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.standin = self
        self.port = self.httpd.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._proxy = socket.create_server(("127.0.0.1", 0))
        self.proxy_url = f"http://127.0.0.1:{self._proxy.getsockname()[1]}"
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, daemon=True),
            threading.Thread(target=self._proxy_loop, daemon=True),
        ]

    def __enter__(self) -> ArmStandin:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._proxy.close()

    def reset(self) -> None:
        with self.lock:
            self.scenario = Scenario()
            self.requests.clear()
            self.resources.clear()
            self.operations.clear()
            self.blobs.clear()
            self.scored.clear()
            self._round_robin.clear()
            self._interrupted = False
            self._stale.clear()

    # -- the SDK's configuration -----------------------------------------------------
    def cloud_metadata(self) -> dict[str, str]:
        """`cloud_metadata` for MLClient(cloud=..., cloud_metadata=...)."""
        return {
            "azure_portal": f"{self.base_url}/portal/",
            "resource_manager": f"{self.base_url}/",
            "active_directory": f"{self.base_url}/aad/",
            "aml_resource_id": f"{self.base_url}/",
            "storage_endpoint": STORAGE_SUFFIX,
            "registry_discovery_endpoint": f"{self.base_url}/registry/",
        }

    def client_options(self, token: str = TOKEN) -> dict[str, Any]:
        """Keyword arguments for `scaffold.workspace.connect` (and so MLClient): a static
        credential and a custom cloud named after this instance (the SDK keeps clouds in a
        process-wide table and never overwrites one)."""
        return {
            "credential": StaticCredential(token),
            "cloud": f"scaffold-arm-standin-{self.port}",
            "cloud_metadata": self.cloud_metadata(),
            "connection_verify": str(self.ca),
            "enable_telemetry": False,
        }

    def seen(self, method: str, pattern: str) -> list[Record]:
        """Requests with this method whose path matches the regex `pattern`."""
        with self.lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def maybe_interrupt(self, record: Record) -> None:
        """Send SIGINT to this process at the scenario's request (a Ctrl-C mid-operation)."""
        wanted = self.scenario.interrupt_on
        if wanted is None or self._interrupted:
            return
        method, pattern, body = wanted
        if (
            record.method == method
            and re.search(pattern, record.path)
            and re.search(body, record.body.decode(errors="replace"))
        ):
            self._interrupted = True
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    # -- state queries (tests and scoring) --------------------------------------------
    def endpoint(self, name: str) -> dict[str, Any] | None:
        """The endpoint resource called `name`, if it exists."""
        return next(
            (v for k, v in self.resources.items() if k.endswith(f"/onlineEndpoints/{name}")),
            None,
        )

    def deployments(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """Deployment name -> resource of `endpoint`."""
        rid = next((k for k in self.resources if k.endswith(f"/onlineEndpoints/{endpoint}")), "")
        prefix = rid + "/deployments/"
        return {
            k[len(prefix) :]: v
            for k, v in self.resources.items()
            if rid and k.startswith(prefix) and "/" not in k[len(prefix) :]
        }

    def traffic(self, endpoint: str) -> dict[str, int]:
        """The endpoint's live traffic split."""
        found = self.endpoint(endpoint)
        return dict((found or {}).get("properties", {}).get("traffic") or {})

    def mirror(self, endpoint: str) -> dict[str, int]:
        """The endpoint's mirrored traffic."""
        found = self.endpoint(endpoint)
        return dict((found or {}).get("properties", {}).get("mirrorTraffic") or {})

    # -- CONNECT proxy: every tunnel ends at the stand-in itself ------------------------
    def _proxy_loop(self) -> None:
        while True:
            try:
                client, _ = self._proxy.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            if not head.startswith(b"CONNECT "):
                client.sendall(b"HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection(("127.0.0.1", self.port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sockets = [client, upstream]
                while True:
                    readable, _, _ = select.select(sockets, [], [], 30)
                    if not readable:
                        return
                    for sock in readable:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is client else client).sendall(data)

    # -- ARM -------------------------------------------------------------------------
    def arm(self, r: Record) -> Answer:
        if r.header("Authorization") != f"Bearer {TOKEN}" or self.scenario.unauthorized:
            return (
                401,
                JSON,
                _error(
                    "InvalidAuthenticationToken",
                    "The access token is invalid or expired (stand-in).",
                ),
            )
        if r.path.startswith("/operations/"):
            return self._operation(r.path.rsplit("/", 1)[1])
        region = re.match(
            r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/"
            r"locations/(?P<loc>[^/]+)/(?P<what>usages|vmSizes)$",
            r.path,
        )
        if region:
            if region["what"] == "usages":
                if self.scenario.usage_forbidden:
                    return (
                        403,
                        JSON,
                        _error(
                            "AuthorizationFailed",
                            "The client does not have authorization to perform action "
                            "'Microsoft.MachineLearningServices/locations/usages/read' "
                            "(stand-in).",
                        ),
                    )
                return self._usages(region["sub"])
            return self._vm_sizes()
        match = re.match(
            r"^/subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/"
            + ARM_PROVIDER
            + r"(?P<ws>[^/]+)(?P<rest>/.*)?$",
            r.path,
        )
        if not match:
            return 404, JSON, _error("NotFound", f"stand-in: no route for {r.path}")
        rest = match["rest"] or ""
        ws_id = r.path[: len(r.path) - len(rest)]
        if not rest:
            return self._workspace(match["sub"], match["rg"], match["ws"], ws_id)
        routes: list[tuple[str, Any]] = [
            (r"^/datastores", lambda: self._datastore(ws_id, rest)),
            (_ONLINE + r"/(listKeys|token)$", lambda: self._keys(ws_id, rest)),
            (_ONLINE + r"/providers/Microsoft\.Insights/metrics$", lambda: self._metrics(r)),
            (r"/getLogs$", lambda: self._logs(r, ws_id + rest.removesuffix("/getLogs"))),
            (r"^/onlineEndpoints$", lambda: self._list(ws_id + rest)),
            (_ONLINE + r"/deployments$", lambda: self._list(ws_id + rest)),
            (_ONLINE + r"$", lambda: self._endpoint_request(r, ws_id + rest)),
            (
                _ONLINE + r"/deployments/[^/]+$",
                lambda: self._deployment_request(r, ws_id + rest, match["sub"]),
            ),
            (r"/startPendingUpload$", self._pending_upload),
            (r"^/codes/[^/]+/versions$", lambda: self._code_versions(r, ws_id + rest)),
            (
                r"^/(models|codes|environments)/[^/]+/versions(/[^/]+)?$",
                lambda: self._asset(r, ws_id + rest),
            ),
            (
                r"^/(models|codes|environments)/[^/]+$",
                lambda: self._asset_container(r, ws_id + rest),
            ),
        ]
        for pattern, answer in routes:
            if re.search(pattern, rest):
                return answer()  # type: ignore[no-any-return]
        return 404, JSON, _error("NotFound", f"stand-in: no route for {rest}")

    def _workspace(self, sub: str, rg: str, ws: str, ws_id: str) -> Answer:
        group = f"/subscriptions/{sub}/resourceGroups/{rg}/providers"
        storage = f"{group}/Microsoft.Storage/storageAccounts/{STORAGE_ACCOUNT}"
        registry = f"{group}/Microsoft.ContainerRegistry/registries/standinacr"
        body = {
            "id": ws_id,
            "name": ws,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": LOCATION,
            "kind": "Default",
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "friendlyName": ws,
                "storageAccount": storage,
                "containerRegistry": registry,
                "discoveryUrl": f"{self.base_url}/discovery",
                "workspaceId": str(uuid.uuid5(uuid.NAMESPACE_URL, ws_id)),
                "provisioningState": "Succeeded",
                "mlFlowTrackingUri": f"azureml://{LOCATION}.standin.invalid/mlflow/v1.0{ws_id}",
            },
        }
        return 200, JSON, _json(body)

    def _datastore_body(self, ws_id: str) -> dict[str, Any]:
        return {
            "id": f"{ws_id}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": STORAGE_ACCOUNT,
                "containerName": CONTAINER,
                "endpoint": STORAGE_SUFFIX,
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
            },
        }

    def _datastore(self, ws_id: str, rest: str) -> Answer:
        body = self._datastore_body(ws_id)
        if rest.endswith("/listSecrets"):
            # A SAS token: the SDK then signs nothing itself.
            sas = "sv=2021-08-06&sr=c&sp=racwl&sig=standin"
            return 200, JSON, _json({"secretsType": "Sas", "sasToken": sas})
        if rest == "/datastores":
            return 200, JSON, _json({"value": [body]})
        return 200, JSON, _json(body)

    def _pending_upload(self) -> Answer:
        folder = f"LocalUpload/{uuid.uuid4().hex}"
        blob_uri = f"https://{STORAGE_ACCOUNT}.blob.{STORAGE_SUFFIX}/{CONTAINER}/{folder}"
        body = {
            "pendingUploadId": uuid.uuid4().hex,
            "pendingUploadType": "TemporaryBlobReference",
            "blobReferenceForConsumption": {
                "blobUri": blob_uri,
                "storageAccountArmId": f"/standin/storageAccounts/{STORAGE_ACCOUNT}",
                "credential": {
                    "credentialType": "SAS",
                    "sasUri": f"{blob_uri}?sv=2021-08-06&sr=c&sp=racwl&sig=standin",
                },
            },
        }
        return 200, JSON, _json(body)

    def _keys(self, ws_id: str, rest: str) -> Answer:
        if f"{ws_id}{rest.rsplit('/', 1)[0]}" not in self.resources:
            return 404, JSON, _error("NotFound", "endpoint not found (stand-in)")
        if rest.endswith("/token"):
            return (
                200,
                JSON,
                _json(
                    {
                        "accessToken": self.keys["primaryKey"],
                        "tokenType": "Bearer",
                        "expiryTimeUtc": 4102444800,
                        "refreshAfterTimeUtc": 4102444800,
                    }
                ),
            )
        return 200, JSON, _json(self.keys)

    # -- getLogs: the instance status block and container events first -------------------
    def _logs(self, r: Record, rid: str) -> Answer:
        request = json.loads(r.body or b"{}")
        container = request.get("containerType") or "InferenceServer"
        name = "storage-initializer" if container == "StorageInitializer" else "inference-server"
        deployment = self.resources.get(rid)
        if deployment is None:
            return 404, JSON, _error("UserError", "deployment not found (stand-in)")
        content = self.scenario.logs.get(name, f"({name} log of the stand-in)\n")
        state = deployment["properties"].get("provisioningState")
        if name == "inference-server" and state != "Succeeded":
            content = self._status_block(deployment) + content
        tail = int(request.get("tail") or 0)
        if tail:
            content = "\n".join(content.splitlines()[-tail:])
        return 200, JSON, _json({"content": content})

    def _status_block(self, deployment: dict[str, Any]) -> str:
        failure = deployment.get("_failure", ("", ""))[0]
        steps = {
            "SystemSetup": "Succeeded",
            "UserContainerImagePull": "Succeeded",
            "ModelDownload": "InProgress",
            "UserContainerStart": "NotStarted",
        }
        changed, events = FAILED_STATUS.get(failure, ({}, []))
        steps.update(changed)
        lines = ["Instance status:", *(f"{k}: {v}" for k, v in steps.items()), ""]
        if events:
            lines.append("Container events:")
            when = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
            for name in events * 2:
                probe = name.removesuffix("ProbeFailed")
                lines.append(
                    f"Kind: Pod, Name: {name}, Type: Warning, Time: {when}, Message: "
                    f"{probe} probe failed: HTTP probe failed with statuscode: 502"
                )
            lines.append("")
        return "\n".join(lines) + "\n"

    def _list(self, prefix: str) -> Answer:
        items = [
            v
            for k, v in self.resources.items()
            if k.startswith(prefix + "/") and k.count("/") == prefix.count("/") + 1
        ]
        return 200, JSON, _json({"value": [_public(v) for v in items]})

    # -- assets: versions are immutable ---------------------------------------------------
    def _asset_container(self, r: Record, rid: str) -> Answer:
        if r.method == "PUT":
            body = json.loads(r.body)
            body.update({"id": rid, "name": rid.rsplit("/", 1)[1]})
            self.resources[rid] = body
            return 200, JSON, _json(body)
        if rid in self.resources:
            body = self.resources[rid]
            versions = [
                k.rsplit("/", 1)[1] for k in self.resources if k.startswith(rid + "/versions/")
            ]
            numbers = [int(v) for v in versions if v.isdigit()]
            if numbers:
                props = body.setdefault("properties", {})
                props["latestVersion"] = str(max(numbers))
                props["nextVersion"] = str(max(numbers) + 1)
            return 200, JSON, _json(body)
        return 404, JSON, _error("UserError", "container not found (stand-in)")

    def _code_versions(self, r: Record, rid: str) -> Answer:
        """CodeVersions_List: `hash`/`hashVersion` find a code snapshot by content."""
        wanted = (r.query.get("hash") or [""])[0]
        if r.method != "GET" or not wanted:
            return self._asset(r, rid)
        items = [
            v
            for k, v in self.resources.items()
            if "/codes/" in k
            and "/versions/" in k
            and v.get("properties", {}).get("properties", {}).get("hash_sha256") == wanted
        ]
        return 200, JSON, _json({"value": items})

    def _asset(self, r: Record, rid: str) -> Answer:
        kind = rid.split(ARM_PROVIDER, 1)[1].split("/")[1]
        if r.method == "PUT":
            body = json.loads(r.body)
            name, version = rid.split("/")[-3], rid.rsplit("/", 1)[1]
            if kind == "models" and not version.isdigit():
                return 400, JSON, _error("UserError", "Model version must be a positive integer.")
            old = self.resources.get(rid)
            if old is not None:
                if _asset_content(kind, old) != _asset_content(kind, body):
                    message = (
                        f"Environment {name} with version {version} is already registered and "
                        "cannot be changed."
                        if kind == "environments"
                        else "Asset paths cannot be updated."
                    )
                    return 400, JSON, _error("UserError", message)
                # Same content: the mutable properties change (archive and restore are a
                # GET, isArchived flipped, and a PUT of the same version).
                for key in ("isArchived", "tags", "description", "stage"):
                    if key in body.get("properties", {}):
                        old.setdefault("properties", {})[key] = body["properties"][key]
                return 200, JSON, _json(old)
            body.update({"id": rid, "name": version})
            props = body.setdefault("properties", {})
            props["provisioningState"] = "Succeeded"
            props.setdefault("tags", {})
            props.setdefault("properties", {})
            if kind == "models":
                props.setdefault("flavors", {})
            body["systemData"] = {"createdAt": _now()}
            self.resources[rid] = body
            return 201, JSON, _json(body)
        if r.method == "GET" and rid in self.resources:
            return 200, JSON, _json(self.resources[rid])
        if r.method == "GET" and rid.endswith("/versions"):
            # listViewType: ActiveOnly (what azure-ai-ml sends by default), ArchivedOnly, All.
            view = (r.query.get("listViewType") or ["ActiveOnly"])[0].lower()
            items = [
                v
                for k, v in self.resources.items()
                if k.startswith(rid + "/")
                and k.count("/") == rid.count("/") + 1
                and (
                    view == "all"
                    or bool(v.get("properties", {}).get("isArchived")) == (view == "archivedonly")
                )
            ]
            items.sort(key=lambda v: v.get("systemData", {}).get("createdAt", ""), reverse=True)
            return 200, JSON, _json({"value": items})
        return 404, JSON, _error("UserError", "asset not found (stand-in)")

    # -- operations --------------------------------------------------------------------
    def settle(self) -> None:
        """Finish operations whose time is up (Azure's keep running with nobody polling)."""
        now = time.monotonic()
        for op, state in self.operations.items():
            if not state["done"] and state["final"] != "hang" and now >= state["ready_at"]:
                self._finish(op)

    def _finish(self, op: str) -> None:
        state = self.operations[op]
        state["done"] = True
        resource = self.resources.get(state["rid"])
        if state["final"] == "Deleted":
            gone = state["rid"]
            for key in [k for k in self.resources if k == gone or k.startswith(gone + "/")]:
                del self.resources[key]
            return
        if resource is not None:
            resource["properties"]["provisioningState"] = state["final"]
            if state["final"] == "Failed":
                resource["_failure"] = (state["error"], state["message"])

    def _busy(self, rid: str) -> bool:
        return any(
            not s["done"] and (s["rid"] == rid or rid.startswith(s["rid"] + "/"))
            for s in self.operations.values()
        )

    def _start_operation(
        self,
        rid: str,
        final: str,
        *,
        status: int,
        resource: dict[str, Any] | None,
        error: str = "",
        message: str = "",
    ) -> Answer:
        op = uuid.uuid4().hex
        self.operations[op] = {
            "rid": rid,
            "final": final,
            "left": self.scenario.polls,
            "error": error,
            "message": message,
            "done": False,
            "ready_at": time.monotonic() + self.scenario.op_seconds,
        }
        url = f"{self.base_url}/operations/{op}?api-version=2023-04-01"
        headers = {**JSON, "Azure-AsyncOperation": url, "Retry-After-Ms": "20"}
        if resource is None:
            headers["Location"] = url
            return status, headers, b""
        return status, headers, _json(_public(resource))

    def _operation(self, op: str) -> Answer:
        state = self.operations.get(op)
        if state is None:
            return 404, JSON, _error("NotFound", "operation not found (stand-in)")
        hanging = state["final"] == "hang"
        headers = {**JSON, "Retry-After-Ms": "500" if hanging else "20"}
        if not state["done"]:
            if hanging or state["left"] > 0:
                state["left"] -= 1
                return 200, headers, _json({"id": op, "name": op, "status": "InProgress"})
            self._finish(op)
        if state["final"] == "Failed":
            # The real shape: no error code, the code inside the message.
            code = state["error"]
            text = f"{code}: {state['message']} {TSG.format(code.lower())}".strip()
            body = {"id": op, "name": op, "status": "Failed", "error": {"message": text}}
            return 200, headers, _json(body)
        return 200, headers, _json({"id": op, "name": op, "status": "Succeeded"})

    # -- online endpoints ---------------------------------------------------------------
    def _endpoint_request(self, r: Record, rid: str) -> Answer:
        name = rid.rsplit("/", 1)[1]
        if r.method == "GET":
            stale = self._stale.get(rid)
            if stale and stale[1] > 0 and not self._busy(rid) and rid in self.resources:
                stale[1] -= 1
                return 200, JSON, _json(stale[0])
            if rid in self.resources:
                return 200, JSON, _json(_public(self.resources[rid]))
            return 404, JSON, _error("UserError", f"No online endpoint named {name} (stand-in)")
        if r.method == "DELETE":
            if rid not in self.resources:
                return 204, {}, b""
            if self._busy(rid):
                return _conflict(name)
            self.resources[rid]["properties"]["provisioningState"] = "Deleting"
            return self._start_operation(rid, "Deleted", status=202, resource=None)
        if r.method not in {"PUT", "PATCH"}:
            return 405, JSON, _error("MethodNotAllowed", r.method)
        old = self.resources.get(rid)
        if old is None and name in self.scenario.taken_endpoint_names:
            return (
                409,
                JSON,
                _error(
                    "UserError",
                    "An endpoint with this name already exists. If you are trying to create a "
                    "new endpoint, use a different name. If you are trying to update an "
                    "existing endpoint, use the update command.",
                ),
            )
        if old is not None and self._busy(rid):
            return _conflict(name)
        body = json.loads(r.body or b"{}")
        merged = {**(old or {}), **body}
        merged["properties"] = {**(old or {}).get("properties", {}), **body.get("properties", {})}
        props = merged["properties"]
        problem = self._traffic_problem(rid, props, creating=old is None)
        if problem:
            return 400, JSON, _error("BadArgument", problem)
        merged.update(
            {
                "id": rid,
                "name": name,
                "location": LOCATION,
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            }
        )
        props["scoringUri"] = f"{self.base_url}/score/{name}"
        props["swaggerUri"] = f"{self.base_url}/score/{name}/swagger.json"
        props.setdefault("traffic", {})
        props.setdefault("mirrorTraffic", {})
        merged.setdefault("identity", {"type": "SystemAssigned"})
        props["provisioningState"] = "Creating" if old is None else "Updating"
        if (
            old is not None
            and self.scenario.stale_reads
            and (
                old.get("properties", {}).get("traffic") != props.get("traffic")
                or old.get("properties", {}).get("mirrorTraffic") != props.get("mirrorTraffic")
            )
        ):
            self._stale[rid] = [json.loads(json.dumps(_public(old))), self.scenario.stale_reads]
        self.resources[rid] = merged
        return self._start_operation(
            rid, "Succeeded", status=201 if old is None else 200, resource=merged
        )

    def _traffic_problem(self, rid: str, props: dict[str, Any], *, creating: bool) -> str:
        """The endpoint's traffic rules (REST spec: traffic sums to 100, mirror to at most
        50; the troubleshooting article: only deployments without live traffic mirror)."""
        traffic = {k: int(v) for k, v in (props.get("traffic") or {}).items()}
        mirror = {k: int(v) for k, v in (props.get("mirrorTraffic") or {}).items()}
        known = set() if creating else set(self.deployments(rid.rsplit("/", 1)[1]))
        unknown = sorted((set(traffic) | set(mirror)) - known)
        if unknown:
            return f"Traffic refers to deployment(s) {', '.join(unknown)} that do not exist."
        if any(v < 0 or v > 100 for v in traffic.values()):
            return "Traffic values must be between 0 and 100."
        if sum(traffic.values()) not in (0, 100):
            return f"Traffic values need to sum to 100 (got {sum(traffic.values())})."
        if sum(mirror.values()) > 50 or any(v < 0 for v in mirror.values()):
            return f"Mirror traffic values need to sum to at most 50 (got {sum(mirror.values())})."
        both = sorted(k for k, v in mirror.items() if v and traffic.get(k))
        if both:
            return (
                f"Deployment(s) {', '.join(both)} cannot receive mirrored traffic while they "
                "receive live traffic."
            )
        return ""

    # -- online deployments ---------------------------------------------------------------
    def _deployment_request(self, r: Record, rid: str, sub: str) -> Answer:
        endpoint_rid, name = rid.rsplit("/deployments/", 1)
        endpoint = self.resources.get(endpoint_rid)
        if r.method == "GET":
            if rid in self.resources:
                return 200, JSON, _json(_public(self.resources[rid]))
            return 404, JSON, _error("UserError", f"No online deployment named {name} (stand-in)")
        if endpoint is None:
            return 404, JSON, _error("UserError", "The endpoint does not exist (stand-in).")
        if r.method == "DELETE":
            return self._delete_deployment(rid, name, endpoint)
        if r.method not in {"PUT", "PATCH"}:
            return 405, JSON, _error("MethodNotAllowed", r.method)
        scenario = self.scenario
        if scenario.put_status:
            return scenario.put_status, JSON, _error(scenario.put_code, scenario.put_message)
        old = self.resources.get(rid)
        if old is not None and self._busy(rid):
            return _conflict(name)
        body = json.loads(r.body or b"{}")
        merged = {**(old or {}), **body} if r.method == "PATCH" else body
        if r.method == "PATCH":
            merged["properties"] = {
                **(old or {}).get("properties", {}),
                **body.get("properties", {}),
            }
        props = merged.setdefault("properties", {})
        refused = self._vm_problem(sub, merged, old)
        if refused is not None:
            return refused
        merged.update(
            {
                "id": rid,
                "name": name,
                "location": LOCATION,
                "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            }
        )
        merged.setdefault("sku", {"name": "Default", "capacity": 1})
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        props.setdefault("endpointComputeType", "Managed")
        props["provisioningState"] = "Creating" if old is None else "Updating"
        merged.pop("_failure", None)
        self.resources[rid] = merged
        error, message = scenario.deployment_errors.get(
            name, (scenario.deployment_error, scenario.deployment_message)
        )
        final = "hang" if error == "hang" else "Failed" if error else "Succeeded"
        default = (
            "User container has crashed or terminated: Liveness probe failed: HTTP probe "
            "failed with statuscode: 502"
        )
        return self._start_operation(
            rid,
            final,
            status=201 if old is None else 200,
            resource=merged,
            error=error if error != "hang" else "",
            message=message or (default if error == "ResourceNotReady" else "Deployment failed."),
        )

    def _delete_deployment(self, rid: str, name: str, endpoint: dict[str, Any]) -> Answer:
        if rid not in self.resources:
            return 204, {}, b""
        live = int((endpoint["properties"].get("traffic") or {}).get(name) or 0)
        mirrored = int((endpoint["properties"].get("mirrorTraffic") or {}).get(name) or 0)
        if live or mirrored:
            return (
                400,
                JSON,
                _error(
                    "BadArgument",
                    f"Deployment {name} receives {live}% live and {mirrored}% mirrored "
                    "traffic; set its traffic to 0 before deleting it.",
                ),
            )
        if self._busy(rid):
            return _conflict(name)
        self.resources[rid]["properties"]["provisioningState"] = "Deleting"
        return self._start_operation(rid, "Deleted", status=202, resource=None)

    def _vm_problem(
        self, sub: str, body: dict[str, Any], old: dict[str, Any] | None
    ) -> Answer | None:
        """Unknown VM size or not enough quota: the synchronous 400 with details[]."""
        sku = str(body.get("properties", {}).get("instanceType") or "")
        count = int((body.get("sku") or {}).get("capacity") or 1)
        size = VM_SIZES.get(sku) or next(
            (v for k, v in VM_SIZES.items() if k.lower() == sku.lower()), None
        )
        if size is None:
            return _validation(f"The VM size {sku} is not supported for managed online endpoints.")
        needed = math.ceil(1.2 * count) * size["vCPUs"]
        if old is not None:
            old_sku = VM_SIZES.get(str(old["properties"].get("instanceType")))
            if old_sku and old_sku["family"] == size["family"]:
                needed -= int((old.get("sku") or {}).get("capacity") or 1) * old_sku["vCPUs"]
        needed = max(needed, 0)
        used = self.family_usage(size["family"])
        limit = self.scenario.quota.get(size["family"], DEFAULT_FAMILY_LIMIT)
        regional_used = sum(self.family_usage(f) for f in {v["family"] for v in VM_SIZES.values()})
        if used + needed > limit or regional_used + needed > self.scenario.regional_limit:
            usage, cap = (
                (used, limit)
                if used + needed > limit
                else (
                    regional_used,
                    self.scenario.regional_limit,
                )
            )
            return _validation(
                f"Not enough quota available for {sku} in SubscriptionId {sub}. Current "
                f"usage/limit: {usage}/{cap}. Additional needed: {needed} "
                + TSG.format("outofquota")
            )
        return None

    def family_usage(self, family: str) -> int:
        """vCPUs of a VM family in use: every deployment's instances (until deleted) and
        what the scenario says other things use."""
        used = self.scenario.other_usage.get(family, 0)
        for key, value in self.resources.items():
            if "/deployments/" not in key:
                continue
            size = VM_SIZES.get(str(value.get("properties", {}).get("instanceType")))
            if size and size["family"] == family:
                used += int((value.get("sku") or {}).get("capacity") or 1) * size["vCPUs"]
        return used

    # -- usage and VM sizes (Usages_List, VirtualMachineSizes_List) ------------------------
    def _usages(self, sub: str) -> Answer:
        families = sorted({v["family"] for v in VM_SIZES.values()})
        regional = sum(self.family_usage(f) for f in families)
        value = [
            {
                "id": f"/subscriptions/{sub}/usages",
                "type": "Microsoft.MachineLearningServices/dedicatedCores/usages",
                "currentValue": regional,
                "limit": self.scenario.regional_limit,
                "name": {
                    "localizedValue": "Total Cluster Dedicated Regional vCPUs",
                    "value": "Total Cluster Dedicated Regional vCPUs",
                },
                "unit": "Count",
            }
        ]
        for family in families:
            label = usage_name(family)
            limit = self.scenario.quota.get(family, DEFAULT_FAMILY_LIMIT)
            value.append(
                {
                    "id": f"/subscriptions/{sub}/usages/{label.replace(' ', '_')}",
                    "type": "Microsoft.MachineLearningServices/vmFamily/usages",
                    "currentValue": self.family_usage(family),
                    "limit": limit,
                    "name": {"localizedValue": label, "value": label},
                    "unit": "Count",
                }
            )
            # Usage/list.json: the same name again per workspace (and per compute), with
            # that scope's part of the usage only.
            for workspace, used in sorted(self._workspace_usage(family).items()):
                value.append(
                    {
                        "id": f"{workspace}/usages/{label.replace(' ', '_')}",
                        "type": "Microsoft.MachineLearningServices/workspaces/usages",
                        "currentValue": used,
                        "limit": limit,
                        "name": {"localizedValue": label, "value": label},
                        "unit": "Count",
                    }
                )
        return 200, JSON, _json({"value": value})

    def _workspace_usage(self, family: str) -> dict[str, int]:
        """Workspace id -> vCPUs of `family` its deployments use."""
        used: dict[str, int] = {}
        for key, value in self.resources.items():
            if "/deployments/" not in key:
                continue
            size = VM_SIZES.get(str(value.get("properties", {}).get("instanceType")))
            if size and size["family"] == family:
                workspace = key.split("/onlineEndpoints/", 1)[0]
                count = int((value.get("sku") or {}).get("capacity") or 1)
                used[workspace] = used.get(workspace, 0) + count * size["vCPUs"]
        return used

    def _vm_sizes(self) -> Answer:
        value = [
            {
                "name": name,
                "family": size["family"],
                "vCPUs": size["vCPUs"],
                "gpus": size["gpus"],
                "osVhdSizeMB": 1047552,
                "maxResourceVolumeMB": int(size["memoryGB"] * 2048),
                "memoryGB": size["memoryGB"],
                "lowPriorityCapable": True,
                "premiumIO": True,
                "supportedComputeTypes": ["AmlCompute", "ComputeInstance", "MIR"],
            }
            for name, size in VM_SIZES.items()
        ]
        return 200, JSON, _json({"value": value})

    # -- Azure Monitor metrics of an endpoint (RequestsPerMinute) --------------------------
    def _metrics(self, r: Record) -> Answer:
        if self.scenario.metrics_forbidden:
            return (
                403,
                JSON,
                _error(
                    "AuthorizationFailed",
                    "The client does not have authorization to perform action "
                    "'microsoft.insights/metrics/read' (stand-in).",
                ),
            )
        endpoint = r.path.split("/onlineEndpoints/")[1].split("/")[0]
        query = {k: v[0] for k, v in r.query.items()}
        names = query.get("metricnames", "")
        if names != "RequestsPerMinute":
            return 400, JSON, _error("BadRequest", f"Unsupported metric {names} (stand-in)")
        start, _, end = query.get("timespan", "").partition("/")
        since = _parse_time(start) if start else 0.0
        until = _parse_time(end) if end else time.time() + 3600
        filters = dict(re.findall(r"(\w+) eq '([^']*)'", query.get("$filter", "")))
        split = [k for k, v in filters.items() if v == "*"]
        # The data points carry the aggregations asked for; RequestsPerMinute's default
        # is Average (supported-metrics reference of workspaces/onlineEndpoints).
        wanted = [
            a.strip().lower()
            for a in query.get("aggregation", "Average").split(",")
            if a.strip().lower() in {"average", "total", "count", "minimum", "maximum"}
        ] or ["average"]
        series: dict[tuple[str, ...], dict[int, int]] = {}
        for when, ep, deployment, status in list(self.scored):
            if ep != endpoint or not since <= when <= until:
                continue
            dims = {
                "deployment": deployment,
                "statusCode": str(status),
                "statusCodeClass": f"{status // 100}xx",
            }
            if any(v != "*" and dims.get(k) != v for k, v in filters.items()):
                continue
            key = tuple(dims[k] for k in split if k in dims)
            minute = int(when // 60 * 60)
            series.setdefault(key, {}).setdefault(minute, 0)
            series[key][minute] += 1
        timeseries = [
            {
                "metadatavalues": [
                    {"name": {"value": k.lower(), "localizedValue": k}, "value": v}
                    for k, v in zip(split, key, strict=True)
                ],
                "data": [
                    {
                        "timeStamp": _iso(minute),
                        # one sample per minute: count 1, each value the minute's requests
                        **{a: 1.0 if a == "count" else float(n) for a in wanted},
                    }
                    for minute, n in sorted(points.items())
                ],
            }
            for key, points in sorted(series.items())
        ]
        rid = r.path.split("/providers/Microsoft.Insights")[0]
        body = {
            "cost": 0,
            "timespan": query.get("timespan", ""),
            "interval": query.get("interval", "PT1M"),
            "value": [
                {
                    "id": f"{rid}/providers/Microsoft.Insights/metrics/RequestsPerMinute",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": "RequestsPerMinute", "localizedValue": "Requests Per Minute"},
                    "unit": "Count",
                    "timeseries": timeseries,
                    "errorCode": "Success",
                }
            ],
            "namespace": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "resourceregion": LOCATION,
        }
        return 200, JSON, _json(body)

    # -- container registry: only ACR's token exchange (no image is ever pushed here) ----
    def acr(self, r: Record) -> Answer:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(r.body.decode()).items()}
        if r.method != "POST" or r.path != "/oauth2/exchange":
            return 404, JSON, _error("NotFound", "stand-in registry: token exchange only")
        if form.get("access_token") != TOKEN or form.get("service") != ACR_LOGIN_SERVER:
            return 401, JSON, _error("Unauthorized", "invalid access token (stand-in)")
        return 200, JSON, _json({"refresh_token": self.acr_token})

    # -- scoring ---------------------------------------------------------------------
    def score(self, r: Record) -> Answer:
        endpoint = r.path.split("/")[2]
        with self.lock:
            if r.header("Authorization") not in {f"Bearer {k}" for k in self.keys.values()}:
                return 401, {}, b"key_auth_access_denied"
            if self.endpoint(endpoint) is None:
                return 404, {}, b"endpoint not found"
            deployments = self.deployments(endpoint)
            wanted = r.header("azureml-model-deployment")
            if wanted:
                if wanted not in deployments:
                    return 404, JSON, _json({"message": f"Deployment {wanted} not found."})
                target = wanted
            else:
                target = self._route(endpoint)
                if not target:
                    return 404, JSON, _json({"message": NO_TRAFFIC})
            mirrors = [
                name
                for name, percent in self.mirror(endpoint).items()
                if percent and self._mirror_due(endpoint, name, int(percent))
            ]
        for name in mirrors:
            thread = threading.Thread(
                target=self._forward, args=(r, endpoint, name, True), daemon=True
            )
            thread.start()
        status, headers, payload = self._forward(r, endpoint, target, not wanted)
        return status, {**headers, "azureml-model-deployment": target}, payload

    def _route(self, endpoint: str) -> str:
        """Smooth weighted round robin over the live traffic (deterministic in tests)."""
        traffic = {k: int(v) for k, v in self.traffic(endpoint).items() if int(v) > 0}
        if not traffic:
            return ""
        count = self._round_robin.get(endpoint, 0)
        self._round_robin[endpoint] = count + 1
        slot = count % 100
        for name, percent in sorted(traffic.items()):
            if slot < percent:
                return name
            slot -= percent
        return sorted(traffic)[-1]

    def _mirror_due(self, endpoint: str, name: str, percent: int) -> bool:
        key = f"{endpoint}/mirror/{name}"
        count = self._round_robin.get(key, 0)
        self._round_robin[key] = count + 1
        return count % 100 < percent

    def _forward(self, r: Record, endpoint: str, deployment: str, routed: bool) -> Answer:
        scenario = self.scenario
        status = scenario.scoring_status.get(deployment)
        if routed and not status:
            status = scenario.traffic_status.get(deployment)
        threshold = scenario.fail_from_traffic.get(deployment)
        if threshold is not None and int(self.traffic(endpoint).get(deployment) or 0) >= threshold:
            status = 500
        url = scenario.upstreams.get(deployment) or (
            scenario.upstream + scenario.upstream_path if scenario.upstream else ""
        )
        if status:
            answer: Answer = (status, JSON, _json({"error": f"{deployment} answered {status}"}))
        elif not url:
            answer = (200, JSON, scenario.response)
        else:
            request = urllib.request.Request(
                url,
                data=r.body,
                method=r.method,
                headers={"Content-Type": r.header("Content-Type") or "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # 127.0.0.1
                    answer = (response.status, JSON, response.read())
            except urllib.error.HTTPError as error:
                answer = (424, {"ms-azureml-model-error-statuscode": str(error.code)}, error.read())
            except OSError as error:
                answer = (502, JSON, _json({"error": f"upstream unreachable: {error}"}))
        with self.lock:
            self.scored.append((time.time(), endpoint, deployment, answer[0]))
        return answer

    # -- Blob Storage (just what azure-storage-blob's upload path needs) ---------------
    def blob(self, r: Record) -> Answer:
        path = r.path.lstrip("/")
        query = {k: v[0] for k, v in r.query.items()}
        base = {"x-ms-version": "2021-08-06", "x-ms-request-id": uuid.uuid4().hex}
        with self.lock:
            if r.method == "PUT" and query.get("comp") == "metadata":
                if path not in self.blobs:
                    return 404, {**base, "x-ms-error-code": "BlobNotFound"}, b""
                meta = {
                    k[len("x-ms-meta-") :]: v
                    for k, v in r.headers.items()
                    if k.lower().startswith("x-ms-meta-")
                }
                self.blobs[path] = (self.blobs[path][0], meta)
                return 200, {**base, "ETag": '"1"'}, b""
            if r.method == "PUT":
                meta = {
                    k.lower()[len("x-ms-meta-") :]: v
                    for k, v in r.headers.items()
                    if k.lower().startswith("x-ms-meta-")
                }
                self.blobs[path] = (r.body, meta)
                md5 = hashlib.md5(r.body).digest()
                return (
                    201,
                    {
                        **base,
                        "ETag": '"1"',
                        "Last-Modified": "Mon, 01 Jan 2026 00:00:00 GMT",
                        "Content-MD5": base64.b64encode(md5).decode(),
                        "x-ms-request-server-encrypted": "true",
                    },
                    b"",
                )
            if r.method in {"HEAD", "GET"}:
                if path not in self.blobs:
                    return 404, {**base, "x-ms-error-code": "BlobNotFound"}, b""
                data, meta = self.blobs[path]
                headers = {
                    **base,
                    "Content-Type": "application/octet-stream",
                    "ETag": '"1"',
                    "Last-Modified": "Mon, 01 Jan 2026 00:00:00 GMT",
                    "x-ms-blob-type": "BlockBlob",
                    **{f"x-ms-meta-{k}": v for k, v in meta.items()},
                }
                if r.method == "HEAD":
                    headers["Content-Length"] = str(len(data))
                    return 200, headers, b""
                return 200, headers, data
        return 400, base, b""

    def uploads(self) -> list[str]:
        """Paths of every blob uploaded so far (what the SDK sent to storage)."""
        with self.lock:
            return sorted(self.blobs)


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as ARM returns it (without the stand-in's bookkeeping)."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def _asset_content(kind: str, body: dict[str, Any]) -> Any:
    """What may not change under an existing asset version."""
    props = body.get("properties", {})
    if kind == "models":
        return props.get("modelUri")
    if kind == "codes":
        return props.get("codeUri")
    return (
        props.get("image"),
        json.dumps(props.get("build"), sort_keys=True),
        json.dumps(props.get("inferenceConfig"), sort_keys=True),
        props.get("condaFile"),
    )


def _validation(message: str) -> Answer:
    """The synchronous 400 of a refused deployment: the cause only in details[], inside a
    JSON string (MicrosoftLearning/mslearn-azure-ml#30, Azure/mlops-v2#124)."""
    inner = {
        "errors": {"VmSize": [message]},
        "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "traceId": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    }
    detail = {
        "code": "InferencingClientCreateDeploymentFailed",
        "message": "InferencingClient HttpRequest error, error detail: " + json.dumps(inner),
    }
    return 400, JSON, _error("BadRequest", "The request is invalid.", [detail])


def _conflict(name: str) -> Answer:
    return (
        409,
        JSON,
        _error("Conflict", f"An operation on {name} is already in progress; retry when it ends."),
    )


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _iso(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
