"""Secrets never reach the screen: the one place scaffold removes them from text.

`redact` masks, anywhere in a text:

- the value of every known secret (the endpoint key in `AZUREML_ENDPOINT_KEY`, and values
  registered with `register_secret`, e.g. a key fetched from Azure) in every encoding a
  server, proxy or log may put it in: raw, JSON-escaped (`\\/`, `\\u002f`, doubly escaped),
  percent-encoded (`%2F`, either case), HTML entities, Python repr, base64, and mixtures of
  these character by character;
- key-like values whose secret is not known: `Authorization: Bearer ...` (any scheme),
  `x-api-key=...`, `"primaryKey": "..."`, `access_token`, `client_secret`, storage
  `AccountKey=`, a SAS `sig=`, and JSON Web Tokens (`eyJ...`), so that a log line a server
  writes with a caller's key (`scaffold logs`) shows no key either.

`scaffold.console` runs everything it prints through it and `scaffold.errors` the messages
and details of every error. Standard library only and cheap: compiled patterns are cached
per set of secrets, and a secret's pattern runs only when its longest plain run of letters
and digits (which no encoding changes) is in the text.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Iterable

MASK = "***"
#: Environment variables whose values are secrets (the smoke test reads the key from this).
SECRET_ENV_VARS = ("AZUREML_ENDPOINT_KEY",)
#: Shorter values are not treated as secrets (redacting "a" would garble every text).
MIN_SECRET_LENGTH = 4
#: Key-like values shorter than this are left alone (`password: must be set` is advice).
MIN_VALUE_LENGTH = 8
#: `Authorization: Bearer x`, `authorization=x`, `"Authorization": "Basic x"`
#: (also inside a bytes repr or JSON), keeping the scheme so the text still explains itself.
_AUTHORIZATION = re.compile(
    r"""(?P<head>(?:proxy-)?authorization["']?\s*[:=]\s*["']?)"""
    r"""(?P<scheme>(?:bearer|basic|token|sharedkey|digest|negotiate)\s+)?"""
    r"""(?P<value>[^\s"',;}\]\\]+)""",
    re.IGNORECASE,
)
#: Names whose values are secrets: headers, JSON fields, query and connection-string parts.
_SECRET_NAMES = (
    r"x-api-key|api[-_]?key|apikey|ocp-apim-subscription-key|subscription[-_]key"
    r"|x-functions-key|primary[-_]?key|secondary[-_]?key|access[-_]?token|refresh[-_]?token"
    r"|id[-_]?token|client[-_]?secret|account[-_]?key|shared[-_]?access[-_]?key"
    r"|password|passwd|secret|token|sig|AZUREML_ENDPOINT_KEY"
    # any variable or header named *_KEY / *-key: ENDPOINT_KEY is the name Microsoft's own
    # docs give the endpoint key (ENDPOINT_KEY=$(az ml online-endpoint get-credentials ...))
    r"|[A-Za-z0-9]+[_-]key"
)
_KEY_VALUE = re.compile(
    rf"""(?P<head>(?<![\w-])(?:{_SECRET_NAMES})["']?\s*[:=]\s*["']?)"""
    rf"""(?P<value>[^\s"',;&}}\]\\]{{{MIN_VALUE_LENGTH},}})""",
    re.IGNORECASE,
)
#: A JSON Web Token (Entra / aml_token access tokens): three base64url parts.
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
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


def _hex(code: int, width: int) -> str:
    """`code` in hex, each digit matching either case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in f"{code:0{width}x}")


def _char(char: str) -> str:
    """A regex for one character of a secret in any of the encodings it may appear in."""
    if char.isalnum() and char.isascii():
        return re.escape(char)
    code = ord(char)
    forms = [
        re.escape(char),
        r"\\{1,8}" + re.escape(char),  # JSON's optional `\/`, also escaped again
        rf"\\{{1,8}}u{_hex(code, 4)}",  # JSON `\u002f`
        rf"%(?:25)?{_hex(code, 2)}" if code < 256 else "",  # URL, doubly encoded
        rf"&#(?:x0*{_hex(code, 1 if code < 16 else 2)}|0*{code});" if code < 256 else "",
        rf"\\x{_hex(code, 2)}" if code < 256 else "",  # bytes repr
    ]
    if char == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(f for f in forms if f) + ")"


@functools.lru_cache(maxsize=64)
def _pattern(secret: str) -> tuple[str, re.Pattern[str], frozenset[str]]:
    """(a plain chunk every encoding keeps, the secret's pattern, literal extra forms)."""
    runs = _ALNUM_RUN.findall(secret)
    anchor = max(runs, key=len) if runs else ""
    regex = re.compile("".join(_char(c) for c in secret))
    raw = secret.encode()
    extra = {
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        repr(secret)[1:-1],
    }
    return anchor, regex, frozenset(e for e in extra if len(e) >= MIN_SECRET_LENGTH)


def _mask_secret(text: str, secret: str) -> str:
    anchor, regex, extra = _pattern(secret)
    for form in extra:
        if form in text:
            text = text.replace(form, MASK)
    if anchor and anchor not in text:
        return text
    return regex.sub(MASK, text)


def _mask_key_like(text: str) -> str:
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTHORIZATION.sub(lambda m: m["head"] + (m["scheme"] or "") + MASK, text)
    text = _KEY_VALUE.sub(
        lambda m: m[0] if m["value"] == MASK else m["head"] + MASK,
        text,
    )
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    return text


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every known secret (and `extra` ones) in any encoding, and every
    key-like value, masked."""
    if not text:
        return text
    values = secrets() | {s for s in extra if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(values, key=len, reverse=True):
        text = _mask_secret(text, secret)
    return _mask_key_like(text)
