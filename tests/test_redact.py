"""scaffold never prints the endpoint key or an Authorization value (scaffold.redact, used by
console and errors), checked with what a real header-echoing server on 127.0.0.1 sends back."""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from conftest import ECHO_KEY as KEY
from scaffold import redact as r
from scaffold.console import VERBOSE, Console
from scaffold.errors import SmokeTestError


def _echoed(echo: ThreadingHTTPServer, token: str) -> str:
    """The body the echo server answers to a request carrying `token`."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{echo.server_address[1]}/score",
        data=b"{}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()
    except urllib.error.HTTPError as error:
        return error.read().decode()


@pytest.fixture
def key_in_env() -> Iterator[None]:
    os.environ["AZUREML_ENDPOINT_KEY"] = KEY
    yield
    del os.environ["AZUREML_ENDPOINT_KEY"]


def test_echoed_headers_lose_the_key(echo: ThreadingHTTPServer, key_in_env: None) -> None:
    body = _echoed(echo, KEY)
    assert KEY in body  # the server really echoes it
    clean = r.redact(body)
    assert KEY not in clean and KEY[:12] not in clean
    assert "Authorization: Bearer ***" in clean


def test_authorization_values_masked_without_knowing_the_key(echo: ThreadingHTTPServer) -> None:
    other = "an-unknown-token-from-a-proxy"
    clean = r.redact(_echoed(echo, other))
    # Unknown values are masked where they are Authorization values (the echo's trailer
    # repeats it bare, which only a known secret can catch).
    assert f"Bearer {other}" not in clean and "Authorization: Bearer ***" in clean
    for text, expected in [
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "Basic ***"}'),
        ("b'authorization: abc123\\r\\n'", "b'authorization: ***\\r\\n'"),
        ("proxy-authorization=xyz; next", "proxy-authorization=***; next"),
        ("no secrets here", "no secrets here"),
    ]:
        assert r.redact(text) == expected


def test_registered_and_escaped_forms(echo: ThreadingHTTPServer) -> None:
    fetched = "fetched/key+from=azure-0123"
    r.register_secret(fetched)
    try:
        json_escaped = fetched.replace("/", "\\/")
        text = f"a {fetched} b {json_escaped} c fetched%2Fkey%2Bfrom%3Dazure-0123"
        assert r.redact(text) == "a *** b *** c ***"
    finally:
        r._registered.discard(fetched)
    assert r.redact("ab") == "ab"  # too short to be a secret: never garbles text
    r.register_secret("ab")
    assert "ab" not in r.secrets()


def test_console_and_errors_never_show_the_key(echo: ThreadingHTTPServer, key_in_env: None) -> None:
    body = _echoed(echo, KEY)
    out, err = io.StringIO(), io.StringIO()
    console = Console(VERBOSE, out=out, err=err)
    console.step(f"calling with {KEY}")
    console.detail(body)
    console.result(body)
    error = SmokeTestError(f"scoring failed: {body.splitlines()[0]} {KEY}", details=body)
    assert KEY not in error.message + error.details + str(error)
    console.error(error)
    printed = out.getvalue() + err.getvalue()
    assert KEY not in printed and "Bearer ***" in printed
