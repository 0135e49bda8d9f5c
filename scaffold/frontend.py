"""A local stand-in for the front end of an Azure ML managed online endpoint.

On Azure, clients never reach the container: the endpoint's front end checks the key, picks a
deployment, limits what is in flight and times requests out, then forwards to the container's
scoring route. Locally `scaffold run --frontend`, `serve --frontend` and `loadtest` (by
default) put this proxy on 127.0.0.1 in front of the container, so a client sees the answers
Azure gives (how-to-troubleshoot-online-endpoints, "HTTP status codes"):

- 401 without `Authorization: Bearer <key or token>` when the endpoint's auth_mode asks for one
  (`key`, `aml_token`, `aad_token`; the local key is generated per session);
- 404 when no deployment has traffic (and no `azureml-model-deployment` header chose one), or
  the header names no deployment of the endpoint;
- routing by the `azureml-model-deployment` header (any deployment, even one without
  traffic), else by the traffic weights;
- 429 ("Too many pending requests") beyond 2 x max_concurrent_requests_per_instance x
  instance_count requests in flight for the deployment;
- 408 when the container has not answered within request_timeout_ms (the container keeps
  working on it, as on Azure);
- 424 when the container answers anything but 200, with `ms-azureml-model-error-statuscode`
  and `ms-azureml-model-error-reason` and the container's body;
- every answer carries `x-request-id` (a fresh GUID; a client's own value is replaced) and
  `azureml-model-deployment` (the deployment that served it); `x-ms-client-request-id` is
  echoed after the documented clean-up (letters, digits, `-`, `_`; at most 40 characters).

Answers the proxy makes itself carry `x-scaffold-frontend: emulated`. What is not emulated:
TLS, the endpoint's request-rate and bandwidth limits, mirrored traffic, autoscaling; the
bodies of 401/404/408/429 are the texts users report seeing, not a documented format.

Any path is forwarded to the chosen deployment's scoring port (Azure forwards sub-paths of the
scoring URI, e.g. Triton's `/v2/...`); the `Authorization` header is not passed on. Responses
are streamed (chunked and server-sent-event answers arrive as the container writes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import resource
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: auth_mode values that require `Authorization: Bearer <value>`.
AUTH_MODES = ("key", "aml_token", "aad_token")
#: Longest request head accepted (Azure's limit is not documented).
MAX_HEAD = 65536
#: Largest request body accepted, bytes (Azure's limit is not documented; this bounds memory).
MAX_BODY = 100 * 1024 * 1024
#: Answers up to this size are read whole and sent on in one write; larger ones stream.
SMALL_BODY = 1024 * 1024
#: Idle keep-alive connections kept per deployment.
POOL_SIZE = 64
#: Hop-by-hop headers, never forwarded (RFC 9110 7.6.1), and those the proxy sets itself.
_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"authorization",
        b"x-request-id",
        b"x-ms-client-request-id",
        b"azureml-model-deployment",
    }
)
_CLIENT_ID = re.compile(r"[^A-Za-z0-9_-]")
_EMULATED = (b"x-scaffold-frontend", b"emulated")


@dataclass(frozen=True)
class Deployment:
    """One deployment behind the endpoint: where its container's scoring route listens."""

    name: str
    host: str
    port: int
    request_timeout_ms: int = 5000
    max_concurrent_requests_per_instance: int = 1
    instance_count: int = 1
    #: > 0: this limit instead of Azure's (a load test lifts it to measure the server).
    max_in_flight_override: int = 0

    @property
    def max_in_flight(self) -> int:
        """Requests the front end lets through at once before answering 429."""
        if self.max_in_flight_override > 0:
            return self.max_in_flight_override
        return 2 * self.max_concurrent_requests_per_instance * self.instance_count


@dataclass
class EndpointConfig:
    """The endpoint as the front end sees it."""

    name: str
    deployments: dict[str, Deployment]
    #: Traffic weight per deployment name (percent); missing names get 0.
    traffic: dict[str, int] = field(default_factory=dict)
    auth_mode: str = "key"
    #: Accepted bearer values (primary and secondary key, or a token).
    keys: tuple[str, ...] = ()


@dataclass
class Counters:
    """What the front end answered, by kind (for reports and tests)."""

    answers: Counter[str] = field(default_factory=Counter)
    peak_in_flight: dict[str, int] = field(default_factory=dict)


class _HTTPError(Exception):
    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


def _answer(
    status: int,
    reason: str,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
    *,
    close: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".encode("latin-1")]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"content-length: " + str(len(body)).encode())
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class FrontEnd:
    """The proxy: `with FrontEnd(config) as front: front.url` (a thread with its own loop)."""

    def __init__(self, config: EndpointConfig, *, port: int = 0, cpus: set[int] | None = None):
        self.config = config
        self.counters = Counters()
        self._port = port
        self._cpus = cpus
        self._in_flight: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The last unexpected error on a client connection ("" when none), for debugging.
        self.last_error = ""
        #: Idle keep-alive connections to each deployment's container.
        self._pool: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> FrontEnd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT (no path)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on 127.0.0.1 (a free port unless one was given); return once listening."""
        self._thread = threading.Thread(target=self._main, name="scaffold-frontend", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        if not self.port:
            raise RuntimeError("the front end did not start")

    def stop(self) -> None:
        """Close the listener and every connection; wait for the thread (bounded)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def cpu_seconds(self) -> float:
        """CPU seconds the front end's thread has used so far."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return 0.0
        future = asyncio.run_coroutine_threadsafe(self._thread_cpu(), loop)
        try:
            return future.result(5)
        except Exception:
            return 0.0

    async def _thread_cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime + usage.ru_stime

    def set_traffic(self, traffic: dict[str, int]) -> None:
        """Change the traffic weights (as `az ml online-endpoint update --traffic` does)."""
        self.config.traffic = dict(traffic)

    def _main(self) -> None:
        import os

        if self._cpus and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, self._cpus)
        loop = asyncio.new_event_loop()
        # Nothing from the proxy's loop reaches the terminal (a client that vanishes mid-answer
        # is no error worth a traceback); the last message is kept for debugging.
        loop.set_exception_handler(self._quiet)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", self._port, limit=MAX_HEAD * 2)
            )
            sockets = self._server.sockets or ()
            self.port = int(sockets[0].getsockname()[1]) if sockets else 0
        except BaseException as error:
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _quiet(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.last_error = str(context.get("message", ""))

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for pool in self._pool.values():
            for _, idle in pool:
                idle.close()
        self._pool.clear()
        for task in list(self._tasks):
            task.cancel()
        loop = self._loop
        if loop is not None:

            async def finish() -> None:
                if self._tasks:
                    await asyncio.wait(list(self._tasks), timeout=5)
                loop.stop()

            loop.create_task(finish())

    # -- one client connection -----------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception as error:  # a malformed request closes its connection
            self.counters.answers["dropped"] += 1
            self.last_error = f"{type(error).__name__}: {error}"
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the client connection is to be closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        except asyncio.LimitOverrunError:
            writer.write(
                _answer(431, "Request Header Fields Too Large", b"", [_EMULATED], close=True)
            )
            await writer.drain()
            return False
        lines = head[:-4].split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ", 2)
        except ValueError:
            writer.write(_answer(400, "Bad Request", b"", [_EMULATED], close=True))
            await writer.drain()
            return False
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        fields = dict(headers)
        keep_alive = version == b"HTTP/1.1" and b"close" not in fields.get(b"connection", b"")
        try:
            body = await _read_body(reader, fields)
        except _HTTPError as error:
            writer.write(self._error_answer(error, None, fields, close=True))
            await writer.drain()
            return False
        request_id = str(uuid.uuid4()).encode()
        try:
            deployment = self._route(fields)
        except _HTTPError as error:
            writer.write(self._error_answer(error, None, fields, request_id=request_id))
            await writer.drain()
            return keep_alive
        return await self._forward(
            deployment, method, target, headers, fields, body, request_id, writer, keep_alive
        )

    def _route(self, fields: dict[bytes, bytes]) -> Deployment:
        config = self.config
        if config.auth_mode in AUTH_MODES:
            given = fields.get(b"authorization", b"").decode("latin-1")
            scheme, _, token = given.partition(" ")
            if not given:
                raise _HTTPError(401, "Unauthorized", "key_auth_bad_header_forbidden")
            if scheme.lower() != "bearer" or token.strip() not in config.keys:
                what = "key_auth_access_denied" if config.auth_mode == "key" else "token_invalid"
                raise _HTTPError(401, "Unauthorized", what)
        chosen = fields.get(b"azureml-model-deployment", b"").decode("latin-1").strip()
        if chosen:
            found = config.deployments.get(chosen)
            if found is None:
                raise _HTTPError(
                    404,
                    "Not Found",
                    f"The deployment {chosen} does not exist in endpoint {config.name}.",
                )
            return found
        weighted = [
            (config.deployments[name], weight)
            for name, weight in config.traffic.items()
            if weight > 0 and name in config.deployments
        ]
        if not weighted:
            raise _HTTPError(
                404,
                "Not Found",
                "No valid deployments to route to. Please check that the endpoint has at least "
                "one deployment with positive weight values or use a deployment specific header "
                "to route.",
            )
        if len(weighted) == 1:
            return weighted[0][0]
        names, weights = zip(*weighted, strict=True)
        chosen_one: Deployment = random.choices(names, weights)[0]
        return chosen_one

    def _error_answer(
        self,
        error: _HTTPError,
        deployment: Deployment | None,
        fields: dict[bytes, bytes],
        *,
        request_id: bytes | None = None,
        close: bool = False,
    ) -> bytes:
        self.counters.answers[str(error.status)] += 1
        headers = self._common(deployment, fields, request_id or str(uuid.uuid4()).encode())
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
        headers.append(_EMULATED)
        return _answer(error.status, error.reason, error.body.encode(), headers, close=close)

    @staticmethod
    def _common(
        deployment: Deployment | None, fields: dict[bytes, bytes], request_id: bytes
    ) -> list[tuple[bytes, bytes]]:
        headers = [(b"x-request-id", request_id)]
        client_id = _client_request_id(fields)
        if client_id is not None:
            headers.append((b"x-ms-client-request-id", client_id))
        if deployment is not None:
            headers.append((b"azureml-model-deployment", deployment.name.encode()))
        return headers

    async def _forward(
        self,
        deployment: Deployment,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        fields: dict[bytes, bytes],
        body: bytes,
        request_id: bytes,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        name = deployment.name
        if self._in_flight[name] >= deployment.max_in_flight:
            writer.write(
                self._error_answer(
                    _HTTPError(429, "Too Many Requests", "Too many pending requests"),
                    deployment,
                    fields,
                    request_id=request_id,
                )
            )
            await writer.drain()
            return keep_alive
        self._in_flight[name] += 1
        peak = self.counters.peak_in_flight
        peak[name] = max(peak.get(name, 0), self._in_flight[name])
        deadline = time.monotonic() + deployment.request_timeout_ms / 1000.0
        forwarded = [
            method + b" " + target + b" HTTP/1.1",
            b"host: " + f"{deployment.host}:{deployment.port}".encode(),
            b"content-length: " + str(len(body)).encode(),
            b"x-request-id: " + request_id,
        ]
        client_id = _client_request_id(fields)
        if client_id is not None:
            forwarded.append(b"x-ms-client-request-id: " + client_id)
        forwarded += [n + b": " + v for n, v in headers if n not in _HOP]
        wire = b"\r\n".join(forwarded) + b"\r\n\r\n" + body
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        reusable = False
        try:
            upstream, answer = await self._exchange(deployment, wire, deadline)
            status, reason, up_headers = answer
            out = self._common(deployment, fields, request_id)
            out += [(n, v) for n, v in up_headers if n not in _HOP]
            up_fields = dict(up_headers)
            if status != 200:
                self.counters.answers["424"] += 1
                out += [
                    (b"ms-azureml-model-error-statuscode", str(status).encode()),
                    (b"ms-azureml-model-error-reason", reason),
                ]
                status, reason = 424, b"Failed Dependency"
            else:
                self.counters.answers["200"] += 1
            keep_alive, complete = await _relay_body(
                upstream[0], up_fields, writer, status, reason, out, keep_alive, deadline
            )
            reusable = complete and b"close" not in up_fields.get(b"connection", b"").lower()
            return keep_alive
        except _HTTPError as error:
            writer.write(self._error_answer(error, deployment, fields, request_id=request_id))
            await writer.drain()
            return keep_alive
        finally:
            self._in_flight[name] -= 1
            if upstream is not None:
                if reusable and len(self._pool.setdefault(name, [])) < POOL_SIZE:
                    self._pool[name].append(upstream)
                else:
                    upstream[1].close()

    async def _exchange(
        self, deployment: Deployment, wire: bytes, deadline: float
    ) -> tuple[
        tuple[asyncio.StreamReader, asyncio.StreamWriter],
        tuple[int, bytes, list[tuple[bytes, bytes]]],
    ]:
        """Send the request on a pooled keep-alive connection (or a new one) and read the
        answer's head; a pooled connection the container closed meanwhile is retried once on
        a new one (nothing reached the container)."""
        pool = self._pool.setdefault(deployment.name, [])
        loop = asyncio.get_running_loop()
        until = loop.time() + max(0.0, deadline - time.monotonic())
        while True:
            pooled = pool.pop() if pool else None
            pair = pooled
            try:
                async with asyncio.timeout_at(until):
                    if pair is None:
                        pair = await _connect(deployment.host, deployment.port)
                    pair[1].write(wire)
                    answer = await _read_head(pair[0])
                return pair, answer
            except TimeoutError:
                if pair is not None:
                    pair[1].close()
                raise _HTTPError(408, "Request Timeout", "upstream request timeout") from None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                if pair is not None:
                    pair[1].close()
                if pooled is not None:
                    continue  # a stale keep-alive connection: try a new one
                raise _HTTPError(
                    502,
                    "Bad Gateway",
                    "upstream connect error or disconnect/reset before headers",
                ) from None


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream pair to host:port, connected without a resolver call (host is an address)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=MAX_HEAD * 2)


def _client_request_id(fields: dict[bytes, bytes]) -> bytes | None:
    """The client's x-ms-client-request-id as Azure keeps it: letters, digits, `-` and `_`,
    at most 40 characters (None when the client sent none)."""
    value = fields.get(b"x-ms-client-request-id")
    if value is None:
        return None
    return _CLIENT_ID.sub("", value.decode("latin-1"))[:40].encode()


async def _read_body(reader: asyncio.StreamReader, fields: dict[bytes, bytes]) -> bytes:
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        parts: list[bytes] = []
        size_total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            size_total += size
            if size_total > MAX_BODY:
                raise _HTTPError(413, "Payload Too Large", "request body too large")
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = fields.get(b"content-length")
    if not length:
        return b""
    try:
        count = int(length)
    except ValueError:
        raise _HTTPError(400, "Bad Request", "invalid Content-Length") from None
    if count < 0 or count > MAX_BODY:
        raise _HTTPError(413, "Payload Too Large", "request body too large")
    return await reader.readexactly(count)


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = int(parts[1])
        if 100 <= status < 200:
            continue
        reason = parts[2] if len(parts) > 2 else b""
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        return status, reason, headers


async def _relay_body(
    reader: asyncio.StreamReader,
    fields: dict[bytes, bytes],
    writer: asyncio.StreamWriter,
    status: int,
    reason: bytes,
    headers: list[tuple[bytes, bytes]],
    keep_alive: bool,
    deadline: float,
) -> tuple[bool, bool]:
    """Send the container's answer on, as it arrives. Returns whether the client connection
    stays open (not when the answer had no length or was cut off) and whether the container's
    connection can be reused (the whole answer was read and had a length or chunks)."""
    head = [b"HTTP/1.1 " + str(status).encode() + b" " + reason]
    head += [n + b": " + v for n, v in headers]
    chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
    length = fields.get(b"content-length")
    if chunked:
        head.append(b"transfer-encoding: chunked")
    elif length is not None:
        head.append(b"content-length: " + length)
    else:
        keep_alive = False
    if not keep_alive:
        head.append(b"connection: close")
    wire = b"\r\n".join(head) + b"\r\n\r\n"
    loop = asyncio.get_running_loop()
    if length is not None and int(length) <= SMALL_BODY:
        # One write for head and body: a small answer costs one send, not two.
        try:
            async with asyncio.timeout_at(loop.time() + max(0.0, deadline - time.monotonic())):
                body = await reader.readexactly(int(length))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            return False, False
        writer.write(wire + body)
        await writer.drain()
        return keep_alive, True
    writer.write(wire)

    try:
        async with asyncio.timeout_at(loop.time() + max(0.0, deadline - time.monotonic())):
            await _copy_body(reader, writer, chunked, length)
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
        return False, False  # the answer is cut off: the client must see the connection end
    return keep_alive, chunked or length is not None


async def _copy_body(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    chunked: bool,
    length: bytes | None,
) -> None:
    """Copy one answer's body as it arrives: chunk by chunk, by length, or to the end."""
    if chunked:
        while True:
            line = await reader.readuntil(b"\r\n")
            writer.write(line)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    writer.write(trailer)
                    if trailer == b"\r\n":
                        break
                break
            writer.write(await reader.readexactly(size + 2))
            await writer.drain()
    elif length is not None:
        left = int(length)
        while left > 0:
            data = await reader.read(min(left, 262144))
            if not data:
                raise ConnectionResetError("the container closed mid-answer")
            left -= len(data)
            writer.write(data)
            await writer.drain()
    else:
        while data := await reader.read(262144):
            writer.write(data)
            await writer.drain()
    await writer.drain()


@contextlib.contextmanager
def running(config: EndpointConfig, **options: Any) -> Iterator[FrontEnd]:
    """A started front end for the block."""
    front = FrontEnd(config, **options)
    front.start()
    try:
        yield front
    finally:
        front.stop()
