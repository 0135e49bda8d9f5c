"""A reader of protobuf text format (Triton's config.pbtxt), enough to compare a config with
its model: messages, repeated fields, lists, strings, numbers and enum names.

`parse(text)` returns a dict of field name -> list of values (every field may repeat); a
value is a str, int, float, bool, a nested dict (a message) or a list (`[ ... ]`).
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"""|(?P<punct>[{}\[\]:,;<>])|(?P<word>[A-Za-z0-9_.+\-]+)"""
)


class PbtxtError(ValueError):
    """The text is not protobuf text format."""


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise PbtxtError(f"unexpected {text[position]!r} at offset {position}")
        position = match.end()
        kind = match.lastgroup
        if kind:
            found.append((kind, match.group(kind)))
    return found


def _scalar(kind: str, token: str) -> Any:
    if kind == "string":
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if token in ("true", "True"):
        return True
    if token in ("false", "False"):
        return False
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def message(self, closing: str) -> dict[str, list[Any]]:
        fields: dict[str, list[Any]] = {}
        while True:
            kind, token = self.peek()
            if (kind == "punct" and token == closing) or kind == "end":
                if kind == "end" and closing != "":
                    raise PbtxtError(f"missing {closing!r}")
                self.take()
                return fields
            if kind == "punct" and token in ",;":
                self.take()
                continue
            if kind != "word":
                raise PbtxtError(f"expected a field name, got {token!r}")
            self.take()
            if self.peek() == ("punct", ":"):
                self.take()
            fields.setdefault(token, []).append(self.value())

    def value(self) -> Any:
        kind, token = self.take()
        if kind == "punct" and token in "{<":
            return self.message("}" if token == "{" else ">")
        if kind == "punct" and token == "[":
            items: list[Any] = []
            while self.peek() != ("punct", "]"):
                if self.peek() == ("punct", ","):
                    self.take()
                    continue
                if self.peek()[0] == "end":
                    raise PbtxtError("missing ']'")
                items.append(self.value())
            self.take()
            return items
        if kind in ("string", "word"):
            return _scalar(kind, token)
        raise PbtxtError(f"unexpected {token!r}")


def parse(text: str) -> dict[str, list[Any]]:
    """The fields of a protobuf text message; PbtxtError when it is not one."""
    parser = _Parser(text)
    return parser.message("")


def one(fields: dict[str, list[Any]], name: str, default: Any = None) -> Any:
    """The last value of a field (protobuf's rule for a singular field set twice)."""
    values = fields.get(name)
    return values[-1] if values else default


def repeated(fields: dict[str, list[Any]], name: str) -> list[Any]:
    """Every value of a repeated field, `name [ a, b ]` and `name a name b` alike."""
    found: list[Any] = []
    for value in fields.get(name, []):
        found.extend(value if isinstance(value, list) else [value])
    return found
