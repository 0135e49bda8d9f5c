"""A local HTTP **stand-in, not Azure**: the few Azure Resource Manager (ARM), Azure ML
workspace and Blob Storage calls azure-ai-ml makes to deploy a managed online endpoint,
answered from memory on 127.0.0.1 only.

It exists because no Azure subscription is reachable from the test machines. The tests drive
the **real** azure-ai-ml code against it through the SDK's own configuration (a custom cloud
whose `resource_manager` is this server, a static test credential, `connection_verify` with a
CA generated for the test), so the SDK's real request building, serialisation, long-running-
operation polling and error handling run. What it answers is modelled on the public REST
API (api-versions as the SDK sends them); it is no proof of how the real service behaves.

Pieces:
- `ArmStandin`: one TLS listener for ARM (`/subscriptions/...`), the endpoint scoring URIs
  (`/score/<endpoint>`, which check the Bearer key and forward to a local container when one
  is configured) and Blob Storage (by Host header).
- a CONNECT proxy (set as HTTPS_PROXY by the tests) that tunnels **every** CONNECT to the
  stand-in's own listener, never anywhere else: azure-ai-ml derives the blob account URL
  from the cloud's storage suffix (`https://<account>.blob.<suffix>`), a name no resolver
  here knows, so the proxy stands in for DNS as well.
- `Scenario`: what the next deployment does (succeed, fail with a given error and logs, or
  never finish), how many polls an operation takes, and whether ARM answers 401.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import re
import select
import socket
import ssl
import threading
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


@dataclass
class Scenario:
    """What the stand-in does with the next requests (tests set it before acting)."""

    #: Polls an operation answers "InProgress" before it finishes.
    polls: int = 1
    #: ARM answers every request with 401 (an expired or wrong credential).
    unauthorized: bool = False
    #: Deployment outcome: "" = Succeeded; else an ARM error code for a Failed deployment
    #: (e.g. "ImagePullFailure", "ResourceNotReady"), or "hang" (never finishes).
    deployment_error: str = ""
    deployment_message: str = ""
    #: Answer the deployment PUT itself with this HTTP status and ARM error code (e.g. 409
    #: "QuotaExceeded", as the service rejects a deployment before it starts).
    put_status: int = 0
    put_code: str = ""
    put_message: str = ""
    #: get_logs content per container ("inference-server", "storage-initializer").
    logs: dict[str, str] = field(default_factory=dict)
    #: Scoring requests are forwarded here (a local container's base URL), else answered
    #: with {"standin": true}.
    upstream: str = ""
    upstream_path: str = ""
    #: Without upstream: the scoring answer (e.g. the project's sample_response.json).
    response: bytes = b'{"standin": true}'


@dataclass
class Record:
    """One request the stand-in saw (for assertions)."""

    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


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
        )
        standin = self.server.standin
        with standin.lock:
            standin.requests.append(record)
        try:
            if host.endswith(STORAGE_SUFFIX):
                status, headers, payload = standin.blob(record)
            elif host == ACR_LOGIN_SERVER:
                status, headers, payload = standin.acr(record)
            elif record.path.startswith("/score/"):
                status, headers, payload = standin.score(record)
            else:
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


def _error(code: str, message: str) -> bytes:
    return _json({"error": {"code": code, "message": message}})


JSON = {"Content-Type": "application/json; charset=utf-8"}


class ArmStandin:
    """The stand-in (see the module docstring). Use as a context manager."""

    def __init__(self, tls_dir: Path) -> None:
        self.ca, cert, key = make_tls(tls_dir)
        self.scenario = Scenario()
        self.requests: list[Record] = []
        self.lock = threading.Lock()
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, tuple[bytes, dict[str, str]]] = {}
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
    def arm(self, r: Record) -> tuple[int, dict[str, str], bytes]:
        if r.headers.get("Authorization") != f"Bearer {TOKEN}" or self.scenario.unauthorized:
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
            (r"^/onlineEndpoints/[^/]+/(listKeys|token)$", lambda: self._keys(ws_id, rest)),
            (r"/getLogs$", lambda: self._logs(r)),
            (
                r"^/onlineEndpoints/[^/]+(/deployments/[^/]+)?$",
                lambda: self._online(r, ws_id + rest),
            ),
            (r"^/onlineEndpoints/[^/]+/deployments$", lambda: self._list(ws_id + rest)),
            (r"/startPendingUpload$", self._pending_upload),
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

    def _workspace(
        self, sub: str, rg: str, ws: str, ws_id: str
    ) -> tuple[int, dict[str, str], bytes]:
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

    def _datastore(self, ws_id: str, rest: str) -> tuple[int, dict[str, str], bytes]:
        body = self._datastore_body(ws_id)
        if rest.endswith("/listSecrets"):
            # A SAS token: the SDK then signs nothing itself.
            sas = "sv=2021-08-06&sr=c&sp=racwl&sig=standin"
            return 200, JSON, _json({"secretsType": "Sas", "sasToken": sas})
        if rest == "/datastores":
            return 200, JSON, _json({"value": [body]})
        return 200, JSON, _json(body)

    def _pending_upload(self) -> tuple[int, dict[str, str], bytes]:
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

    def _keys(self, ws_id: str, rest: str) -> tuple[int, dict[str, str], bytes]:
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

    def _logs(self, r: Record) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(r.body or b"{}")
        container = request.get("containerType") or "InferenceServer"
        name = "storage-initializer" if container == "StorageInitializer" else "inference-server"
        content = self.scenario.logs.get(name, f"({name} log of the stand-in)\n")
        tail = int(request.get("tail") or 0)
        if tail:
            content = "\n".join(content.splitlines()[-tail:])
        return 200, JSON, _json({"content": content})

    def _list(self, prefix: str) -> tuple[int, dict[str, str], bytes]:
        items = [
            v
            for k, v in self.resources.items()
            if k.startswith(prefix + "/") and k.count("/") == prefix.count("/") + 1
        ]
        return 200, JSON, _json({"value": items})

    def _asset_container(self, r: Record, rid: str) -> tuple[int, dict[str, str], bytes]:
        if r.method == "PUT":
            body = json.loads(r.body)
            body.update({"id": rid, "name": rid.rsplit("/", 1)[1]})
            self.resources[rid] = body
            return 200, JSON, _json(body)
        if rid in self.resources:
            return 200, JSON, _json(self.resources[rid])
        return 404, JSON, _error("UserError", "container not found (stand-in)")

    def _asset(self, r: Record, rid: str) -> tuple[int, dict[str, str], bytes]:
        if r.method == "PUT":
            body = json.loads(r.body)
            body.update({"id": rid, "name": rid.rsplit("/", 1)[1]})
            props = body.setdefault("properties", {})
            props["provisioningState"] = "Succeeded"
            props.setdefault("tags", {})
            props.setdefault("properties", {})
            if "/models/" in rid:
                props.setdefault("flavors", {})
            self.resources[rid] = body
            return 201, JSON, _json(body)
        if r.method == "GET" and rid in self.resources:
            return 200, JSON, _json(self.resources[rid])
        if r.method == "GET" and rid.endswith("/versions"):
            return self._list(rid)
        return 404, JSON, _error("UserError", "asset not found (stand-in)")

    def _online(self, r: Record, rid: str) -> tuple[int, dict[str, str], bytes]:
        is_deployment = "/deployments/" in rid
        if r.method == "GET":
            if rid in self.resources:
                return 200, JSON, _json(self.resources[rid])
            kind = "deployment" if is_deployment else "endpoint"
            return (
                404,
                JSON,
                _error("UserError", f"No online {kind} named {rid.rsplit('/', 1)[1]} (stand-in)"),
            )
        if r.method == "DELETE":
            if rid not in self.resources:
                return 204, {}, b""
            for key in [k for k in self.resources if k == rid or k.startswith(rid + "/")]:
                del self.resources[key]
            return self._start_operation(rid, "Succeeded", status=202, resource=None)
        if r.method in {"PUT", "PATCH"}:
            scenario = self.scenario
            if is_deployment and scenario.put_status:
                return scenario.put_status, JSON, _error(scenario.put_code, scenario.put_message)
            body = json.loads(r.body or b"{}")
            old = self.resources.get(rid, {})
            merged = {**old, **body} if r.method == "PATCH" else body
            if r.method == "PATCH":
                merged["properties"] = {**old.get("properties", {}), **body.get("properties", {})}
            name = rid.rsplit("/", 1)[1]
            merged.update({"id": rid, "name": name, "location": LOCATION})
            props = merged.setdefault("properties", {})
            if is_deployment:
                merged["type"] = (
                    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
                )
                merged.setdefault("sku", {"name": "Default", "capacity": 1})
                props.setdefault("scaleSettings", {"scaleType": "Default"})
                props.setdefault("endpointComputeType", "Managed")
                error = scenario.deployment_error
            else:
                merged["type"] = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
                props["scoringUri"] = f"{self.base_url}/score/{name}"
                props["swaggerUri"] = f"{self.base_url}/score/{name}/swagger.json"
                props.setdefault("traffic", {})
                merged.setdefault("identity", {"type": "SystemAssigned"})
                error = ""
            state = "Failed" if error and error != "hang" else "Succeeded"
            props["provisioningState"] = "Creating" if not old else "Updating"
            self.resources[rid] = merged
            final = "hang" if error == "hang" else state
            return self._start_operation(
                rid, final, status=201 if not old else 200, resource=merged, error=error
            )
        return 405, JSON, _error("MethodNotAllowed", r.method)

    def _start_operation(
        self, rid: str, final: str, *, status: int, resource: dict[str, Any] | None, error: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        op = uuid.uuid4().hex
        self.operations[op] = {
            "rid": rid,
            "final": final,
            "left": self.scenario.polls,
            "error": error,
            "message": self.scenario.deployment_message,
        }
        url = f"{self.base_url}/operations/{op}?api-version=2023-04-01"
        headers = {**JSON, "Azure-AsyncOperation": url, "Retry-After-Ms": "20"}
        if resource is None:
            headers["Location"] = url
            return status, headers, b""
        return status, headers, _json(resource)

    def _operation(self, op: str) -> tuple[int, dict[str, str], bytes]:
        state = self.operations.get(op)
        if state is None:
            return 404, JSON, _error("NotFound", "operation not found (stand-in)")
        hanging = state["final"] == "hang"
        headers = {**JSON, "Retry-After-Ms": "500" if hanging else "20"}
        if hanging or state["left"] > 0:
            state["left"] -= 1
            return 200, headers, _json({"id": op, "name": op, "status": "InProgress"})
        resource = self.resources.get(state["rid"])
        if resource is not None:
            resource["properties"]["provisioningState"] = state["final"]
        if state["final"] == "Failed":
            body = {
                "id": op,
                "name": op,
                "status": "Failed",
                "error": {"code": state["error"], "message": state["message"]},
            }
            return 200, headers, _json(body)
        return 200, headers, _json({"id": op, "name": op, "status": "Succeeded"})

    # -- container registry: only ACR's token exchange (no image is ever pushed here) ----
    def acr(self, r: Record) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(r.body.decode()).items()}
        if r.method != "POST" or r.path != "/oauth2/exchange":
            return 404, JSON, _error("NotFound", "stand-in registry: token exchange only")
        if form.get("access_token") != TOKEN or form.get("service") != ACR_LOGIN_SERVER:
            return 401, JSON, _error("Unauthorized", "invalid access token (stand-in)")
        return 200, JSON, _json({"refresh_token": self.acr_token})

    # -- scoring ---------------------------------------------------------------------
    def score(self, r: Record) -> tuple[int, dict[str, str], bytes]:
        endpoint = r.path.split("/")[2]
        if r.headers.get("Authorization") not in {f"Bearer {k}" for k in self.keys.values()}:
            return 401, {}, b"key_auth_access_denied"
        if not any(k.endswith(f"/onlineEndpoints/{endpoint}") for k in self.resources):
            return 404, {}, b"endpoint not found"
        if not self.scenario.upstream:
            return 200, JSON, self.scenario.response
        request = urllib.request.Request(
            self.scenario.upstream + self.scenario.upstream_path,
            data=r.body,
            method=r.method,
            headers={"Content-Type": r.headers.get("Content-Type", "application/json")},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # 127.0.0.1 container
                return response.status, JSON, response.read()
        except urllib.error.HTTPError as error:
            return 424, {"ms-azureml-model-error-statuscode": str(error.code)}, error.read()

    # -- Blob Storage (just what azure-storage-blob's upload path needs) ---------------
    def blob(self, r: Record) -> tuple[int, dict[str, str], bytes]:
        path = r.path.lstrip("/")
        query = {k: v[0] for k, v in r.query.items()}
        base = {"x-ms-version": "2021-08-06", "x-ms-request-id": uuid.uuid4().hex}
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
            import base64

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
