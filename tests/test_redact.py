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


AZURE_KEY = "Zm9vYmFy+Kx7/q9Lr0Wz3Qm1nT8vB2cD4eF6gH8iJ0k=sEcReT"


@pytest.fixture
def azure_key() -> Iterator[str]:
    r.register_secret(AZURE_KEY)
    yield AZURE_KEY
    r._registered.discard(AZURE_KEY)


def _encodings(secret: str) -> dict[str, str]:
    """The secret as servers, proxies and logs really write it."""
    import base64
    import html
    import json
    import re
    import urllib.parse

    return {
        "json-dumps": json.dumps({"echo": secret}),  # / stays, + stays
        "json-slash": secret.replace("/", "\\/"),  # PHP/Java JSON
        "json-u002f": secret.replace("/", "\\u002f").replace("+", "\\u002b"),
        "json-u002F": secret.replace("/", "\\u002F")
        .replace("+", "\\u002B")
        .replace("=", "\\u003D"),
        "double-json": json.dumps(json.dumps(secret.replace("/", "\\/"))),
        "url": urllib.parse.quote(secret, safe=""),
        "url-lower": re.sub(
            r"%[0-9A-F]{2}", lambda m: m[0].lower(), urllib.parse.quote(secret, safe="")
        ),
        "url-twice": urllib.parse.quote(urllib.parse.quote(secret, safe=""), safe=""),
        "url-plus": urllib.parse.quote_plus(secret),
        "html": html.escape(secret).replace("/", "&#x2F;").replace("+", "&#43;"),
        "repr-bytes": repr(secret.encode()),
        "base64": base64.b64encode(secret.encode()).decode(),
        "mixed": secret.replace("/", "%2F", 1).replace("+", "\\u002b"),
    }


@pytest.mark.parametrize("form", list(_encodings(AZURE_KEY)))
def test_every_encoding_of_a_registered_key_is_masked(azure_key: str, form: str) -> None:
    text = f"upstream said: {_encodings(azure_key)[form]} (end)"
    clean = r.redact(text)
    assert "***" in clean and clean.endswith("(end)"), clean
    # no run of the key's characters survives
    for chunk in ("Kx7", "q9Lr0Wz3Qm1nT8vB2cD4eF6gH8iJ0k", "sEcReT"):
        assert chunk not in clean or form == "base64", (form, clean)


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("2026-01-01 INFO request x-api-key=Q2xpZW50S2V5MTIzNDU2Nzg5 path=/score", "path=/score"),
        ('{"primaryKey": "abcDEF0123456789abcDEF", "secondaryKey": "zyx9876543210ZYX"}', "{"),
        ("Authorization: Bearer some.opaque-token_value", "Authorization: Bearer"),
        ("ocp-apim-subscription-key: 0123456789abcdef0123", "ocp-apim-subscription-key"),
        (
            "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=bm90LWEtcmVhbC1rZXk=;",
            "AccountName=st",
        ),
        ("GET https://st.blob.core.windows.net/c/b?sv=2021&sig=AbC%2BdEf%3D123456&se=1", "sv=2021"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXBhcnQ ok", " ok"),
        ("client_secret=s3cr3t-Val-u3-long", "client_secret="),
        # the variable name Microsoft's deploy docs give the endpoint key
        ("+ ENDPOINT_KEY=Xq3vB9kLm2Pq7RtY8uWz1AaBb", "ENDPOINT_KEY="),
        ("export SCORING_KEY='Zz9yY8xX7wW6vV5uU4tT3'", "export SCORING_KEY="),
    ],
)
def test_key_like_log_lines_are_masked(line: str, kept: str) -> None:
    clean = r.redact(line)
    assert "***" in clean and kept in clean, clean
    for secret in (
        "Q2xpZW50S2V5",
        "abcDEF0123",
        "opaque-token",
        "0123456789abcdef",
        "bm90LWEt",
        "AbC%2BdEf",
        "eyJzdWIi",
        "s3cr3t",
        "Xq3vB9kLm2",
        "Zz9yY8xX7w",
    ):
        assert secret not in clean, clean


@pytest.mark.parametrize(
    "line",
    [
        "2026-01-01 12:00:00,000 [WARN ] org.pytorch.serve.http.InvalidKeyException: Token "
        "Authorization failed. Token either incorrect, expired, or not provided correctly",
        "Running plumber API at http://0.0.0.0:8000",
        "max_tokens: 1024, temperature: 0.7",
        "password: must be set",
        "Instance status:\nSystemSetup: Succeeded\nUserContainerImagePull: Succeeded",
        "Azure ML Inferencing HTTP server v1.5.1 / Listening on 0.0.0.0:5001",
        "model_dir=/var/azureml-app/azureml-models/my-model/2/model",
        "partition key: none; keys: 3",
        "monkey=ok",
    ],
)
def test_ordinary_log_lines_are_left_alone(line: str) -> None:
    assert r.redact(line) == line
