"""Secrets never reach the screen: the one place scaffold removes them from text.

`redact` replaces, anywhere in a text, the value of every known secret (the endpoint key in
`AZUREML_ENDPOINT_KEY`, and values registered with `register_secret`, e.g. a key fetched
from Azure) and every `Authorization` header value (`Authorization: Bearer ...`, the JSON
`"Authorization": "..."` a server echoes back). `scaffold.console` runs everything it
prints through it and `scaffold.errors` the messages and details of every error, so a
server or proxy that echoes request headers in an error body cannot put a key on screen.
Standard library only and cheap: it runs on every printed line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MASK = "***"
#: Environment variables whose values are secrets (the smoke test reads the key from this).
SECRET_ENV_VARS = ("AZUREML_ENDPOINT_KEY",)
#: Shorter values are not treated as secrets (redacting "a" would garble every text).
MIN_SECRET_LENGTH = 4
#: `Authorization: Bearer x`, `authorization=x`, `"Authorization": "Basic x"`
#: (also inside a bytes repr or JSON), keeping the scheme so the text still explains itself.
_AUTHORIZATION = re.compile(
    r"""(?P<head>(?:proxy-)?authorization["']?\s*[:=]\s*["']?)"""
    r"""(?P<scheme>(?:bearer|basic|token|sharedkey)\s+)?(?P<value>[^\s"',;}\]\\]+)""",
    re.IGNORECASE,
)
_registered: set[str] = set()


def register_secret(value: str) -> None:
    """Treat `value` as a secret from now on, in this process (e.g. a key just fetched)."""
    if len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def secrets() -> set[str]:
    """The secret values currently known: registered ones and SECRET_ENV_VARS' values."""
    found = set(_registered)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name, "")
        if len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
    return found


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in text: raw, JSON-escaped, percent-encoded."""
    from urllib.parse import quote

    return {secret, secret.replace("/", "\\/"), quote(secret, safe=""), repr(secret)[1:-1]}


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every known secret (and `extra` ones) and Authorization value masked."""
    if not text:
        return text
    values = secrets() | {s for s in extra if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(values, key=len, reverse=True):
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    if "authorization" in text.lower():
        text = _AUTHORIZATION.sub(lambda m: m["head"] + (m["scheme"] or "") + MASK, text)
    return text
