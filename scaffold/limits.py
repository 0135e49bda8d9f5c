"""Bounds on what scaffold reads from users, checked before anything is built from it.

A 1 KB YAML file can expand to gigabytes through aliases (the "billion laughs"), nest deeper
than Python's recursion limit, or hold a number with a million digits; a JSON manifest can
do the same. Everything scaffold reads from a user (answers files, `--data` values,
deployment.yml, endpoint.yml, MLmodel, conda.yaml, model manifests) goes through this module:

- `read_text(path, limit=...)` reads at most `limit` bytes (never a whole device or pipe)
  and decodes UTF-8 strictly;
- `load_yaml(text)` walks the YAML *events* first (the parser is not recursive) and refuses
  a document deeper than `max_depth` or larger than `max_expanded` once every alias is
  expanded, before a single Python object is constructed;
- `load_json(text)` does the same for JSON (depth, size);
- `check_value(value)` applies the same bounds to Python objects a library caller passes in
  (shared references and cycles included);
- `shown(value)` is a short, bounded `repr` for messages: a huge value is never printed whole.

Every refusal is an `InputRejected` with a one-line reason; callers wrap it in their own
error (UsageError, ProjectError, a validation problem) with the file name and the fix.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Largest YAML or JSON file read (answers, deployment.yml, MLmodel, manifests).
MAX_FILE_BYTES = 1 << 20  # 1 MiB
#: Deepest nesting accepted (real deployment.yml files nest 6 levels).
MAX_DEPTH = 64
#: Largest size once every alias is expanded: nodes plus characters of scalars (about the
#: bytes the value would take written out without aliases).
MAX_EXPANDED = 1 << 20
#: Longest whole number accepted in YAML (Python refuses more than 4300 digits itself).
MAX_DIGITS = 4000


class InputRejected(ValueError):
    """An input that is too large, too deep, not UTF-8 or not valid YAML/JSON.

    The message is one line and never contains the input itself beyond a short excerpt.
    """


def _size(limit: int) -> str:
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit >= 1 << 10 and limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


def read_bytes(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most `limit` bytes of `path`; InputRejected when it holds more, or is a folder.

    Pipes and devices are read up to the limit too (`--data-file <(...)` is a pipe, and
    `/dev/zero` never ends). OSError (missing, no permission) is left to the caller.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputRejected("is a folder, not a file")
        if stat.S_ISREG(info.st_mode) and info.st_size > limit:
            raise InputRejected(f"is larger than {_size(limit)} ({info.st_size} bytes)")
        if not stat.S_ISREG(info.st_mode):
            os.set_blocking(fd, True)  # a pipe: wait for its writer, as `cat` would
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise InputRejected(f"is larger than {_size(limit)}")
        return b"".join(chunks)
    finally:
        os.close(fd)


def decode(data: bytes) -> str:
    """UTF-8 text of `data` (a BOM is dropped); InputRejected naming the line otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputRejected(
            f"is not UTF-8 text (byte 0x{data[error.start]:02x} at line {line}); save it as UTF-8"
        ) from None


def read_text(path: Path, *, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of `path`, at most `limit` bytes (see read_bytes and decode)."""
    return decode(read_bytes(path, limit=limit))


# --- YAML -------------------------------------------------------------------------------------
def _yaml_loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _where(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


class _Expansion:
    """The size and depth a YAML document reaches with every alias expanded, tracked event by
    event (InputRejected as soon as a bound is passed)."""

    def __init__(self, max_depth: int, max_expanded: int) -> None:
        self.max_depth, self.max_expanded = max_depth, max_expanded
        #: (expanded weight, height) of each anchored node, once complete.
        self.anchors: dict[str, tuple[int, int]] = {}
        #: Open collections: [weight so far, tallest child, anchor].
        self.stack: list[list[Any]] = []
        self.total = 0
        self.aliased = False

    def add(self, weight: int, height: int, event: Any) -> None:
        """A complete node of `weight` and `height` joins the open collection."""
        self.total += weight
        if self.total > self.max_expanded:
            why = " (nested aliases repeat the same values: a 'billion laughs')"
            raise InputRejected(
                f"expands to more than {_size(self.max_expanded)}{_where(event)}"
                f"{why if self.aliased else ''}"
            )
        if len(self.stack) + height > self.max_depth:
            raise InputRejected(f"nests deeper than {self.max_depth} levels{_where(event)}")
        if self.stack:
            self.stack[-1][0] += weight
            self.stack[-1][1] = max(self.stack[-1][1], height)

    def alias(self, event: Any) -> None:
        name = str(event.anchor)
        if any(frame[2] == name for frame in self.stack):
            raise InputRejected(f"contains a recursive alias *{name}{_where(event)}")
        if name in self.anchors:  # an unknown one is the parser's error to report
            self.aliased = True
            self.add(*self.anchors[name], event)

    def scalar(self, event: Any) -> None:
        value = str(event.value)
        if event.implicit[0] and _long_number(value):
            raise InputRejected(f"holds a number longer than {MAX_DIGITS} digits{_where(event)}")
        self.add(1 + len(value), 0, event)
        if event.anchor is not None:
            self.anchors[str(event.anchor)] = (1 + len(value), 0)

    def start(self, event: Any) -> None:
        if len(self.stack) + 1 > self.max_depth:
            raise InputRejected(f"nests deeper than {self.max_depth} levels{_where(event)}")
        self.stack.append([1, 0, event.anchor])

    def end(self, event: Any) -> None:
        weight, height, anchor = self.stack.pop()
        self.total -= weight - 1  # its children are counted already; add() counts it whole
        self.add(weight, height + 1, event)
        if anchor is not None:
            self.anchors[str(anchor)] = (weight, height + 1)


def check_yaml(text: str, *, max_depth: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED) -> None:
    """Refuse YAML deeper than `max_depth`, larger than `max_expanded` with every alias
    expanded, recursive through an alias, or holding an over-long number; reads only the
    parser's events (no object is built; the parser itself is not recursive)."""
    import yaml

    seen = _Expansion(max_depth, max_expanded)
    handlers = (
        (yaml.AliasEvent, seen.alias),
        (yaml.ScalarEvent, seen.scalar),
        (yaml.CollectionStartEvent, seen.start),
        (yaml.CollectionEndEvent, seen.end),
    )
    try:
        for event in yaml.parse(text, Loader=_yaml_loader()):
            for kind, handle in handlers:
                if isinstance(event, kind):
                    handle(event)
                    break
    except yaml.YAMLError as error:
        if "maximum nesting depth" in str(error):  # libyaml's own limit, met while scanning
            raise InputRejected(f"nests deeper than {max_depth} levels") from None
        raise InputRejected(_yaml_message(error)) from None


def _long_number(value: str) -> bool:
    digits = sum(c.isdigit() for c in value[: MAX_DIGITS * 2 + 2])
    return digits > MAX_DIGITS and value.lstrip("+-").replace("_", "")[:1].isdigit()


def _yaml_message(error: Exception) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or " ".join(str(error).split())[:200]
    return f"is not valid YAML{where}: {problem}"


def load_yaml(text: str, *, max_depth: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED) -> Any:
    """`yaml.safe_load(text)` within the bounds of `check_yaml`; InputRejected otherwise."""
    import yaml

    check_yaml(text, max_depth=max_depth, max_expanded=max_expanded)
    try:
        return yaml.load(text, Loader=_yaml_loader())  # a safe loader (C or Python)
    except yaml.YAMLError as error:
        raise InputRejected(_yaml_message(error)) from None
    except (ValueError, RecursionError, OverflowError) as error:  # e.g. int digit limits
        raise InputRejected(f"holds a value Python cannot read ({type(error).__name__})") from None


def load_yaml_file(
    path: Path,
    *,
    limit: int = MAX_FILE_BYTES,
    max_depth: int = MAX_DEPTH,
    max_expanded: int = MAX_EXPANDED,
) -> Any:
    """Read `path` (bounded, UTF-8) and load it as YAML within the bounds."""
    return load_yaml(read_text(path, limit=limit), max_depth=max_depth, max_expanded=max_expanded)


# --- JSON -------------------------------------------------------------------------------------
def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH, limit: int = MAX_FILE_BYTES) -> Any:
    """`json.loads` for at most `limit` bytes nested at most `max_depth` deep (counted
    before parsing, so a deep document never reaches the recursive decoder)."""
    import json

    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > limit:
        raise InputRejected(f"is larger than {_size(limit)}")
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
            if deepest > max_depth:
                raise InputRejected(f"nests deeper than {max_depth} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1
    try:
        return json.loads(decode(raw))
    except (ValueError, RecursionError) as error:
        raise InputRejected(f"is not valid JSON: {' '.join(str(error).split())[:200]}") from None


# --- Archives ---------------------------------------------------------------------------------
#: Most entries a zip-based model file may list (.mar, TorchScript .pt); real ones list
#: hundreds. Python's zipfile keeps every entry of the central directory in memory.
MAX_ZIP_ENTRIES = 100_000


def zip_entry_count(path: Path) -> int | None:
    """The number of entries a zip file's end record announces (None when it is not a zip),
    read from the last 64 KiB only, before the central directory is parsed."""
    import struct

    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start = max(0, size - (22 + 0xFFFF + 20))
        handle.seek(start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
        if entries != 0xFFFF or at < 20 or tail[at - 20 : at - 16] != b"PK\x06\x07":
            return int(entries)
        (record,) = struct.unpack("<Q", tail[at - 12 : at - 4])  # zip64 end record offset
        handle.seek(record)
        zip64 = handle.read(56)
        if len(zip64) < 40 or zip64[:4] != b"PK\x06\x06":
            return None
        return int(struct.unpack("<Q", zip64[32:40])[0])


def zip_expanded_size(path: Path, *, max_entries: int = MAX_ZIP_ENTRIES) -> int | None:
    """The total size a zip file's entries declare once inflated (None when `path` is not a
    zip); InputRejected when it lists more than `max_entries` entries. zipfile never
    inflates an entry past its declared size, so this bounds what reading it can cost."""
    import zipfile

    count = zip_entry_count(path)
    if count is None:
        return None
    if count > max_entries:
        raise InputRejected(f"is an archive of {count} entries (more than {max_entries})")
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        return None


# --- Compressed streams -----------------------------------------------------------------------
#: Largest single read from a model stream (a length field in a pickle or an RDS stream
#: is the file's word: never allocated before it is checked).
MAX_READ = 16 << 20
#: Longest line read from a model stream (pickle protocol 0 reads values as text lines).
MAX_LINE = 1 << 16
#: A compressed model stream may inflate to this many times its file size (weights compress
#: 1-10x; a bomb a million times), and always to at least MIN_INFLATED bytes.
MAX_RATIO = 64
MIN_INFLATED = 256 << 20


class TooLarge(InputRejected):
    """A stream that inflates (or reads) past its bound: not read further. Model readers
    treat it as a model too large to inspect, not as a broken one."""


def inflated_limit(compressed_size: int) -> int:
    """How far a compressed stream of `compressed_size` bytes is read once inflated."""
    return max(MIN_INFLATED, MAX_RATIO * compressed_size)


class BoundedStream:
    """A read-only view of a (decompressing) binary stream that refuses to hand out more
    than `limit` bytes in all, more than MAX_READ in one read, or a line longer than
    MAX_LINE: a small gzip/bzip2/xz file that inflates to gigabytes, or a length field
    claiming a terabyte, costs a bounded amount of memory and time (TooLarge)."""

    def __init__(self, raw: Any, limit: int, what: str = "the model") -> None:
        self.raw = raw
        self.limit = limit
        self.what = what
        self.total = 0

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise TooLarge(f"{self.what} inflates to more than {_size(self.limit)}")
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > MAX_READ:
            raise TooLarge(
                f"{self.what} asks for a read of {n} bytes (more than {_size(MAX_READ)})"
            )
        return self._count(self.raw.read(n))

    def readline(self, size: int = -1) -> bytes:
        cap = MAX_LINE if size is None or size < 0 else min(size, MAX_LINE)
        line = self.raw.readline(cap + 1)
        if len(line) > cap:
            raise TooLarge(f"{self.what} holds a text line longer than {_size(MAX_LINE)}")
        return self._count(line)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> BoundedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Python values ----------------------------------------------------------------------------
def check_value(
    value: Any, *, max_depth: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED
) -> None:
    """Apply the YAML bounds to a Python value (dicts, lists, tuples, sets, scalars): shared
    references count each time they appear, a cycle is refused. Iterative: never recurses."""
    #: id -> (weight, height) of containers already measured.
    done: dict[int, tuple[int, int]] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, expanded = stack.pop()
        children = _children(item)
        if children is None:
            continue
        key = id(item)
        if expanded:
            active.discard(key)
            weight, height = 1, 0
            for child in children:
                w, h = done[id(child)] if _children(child) is not None else (_weight(child), 0)
                weight += w
                height = max(height, h + 1)
                if weight > max_expanded:
                    raise InputRejected(f"expands to more than {_size(max_expanded)}")
            if height > max_depth:
                raise InputRejected(f"nests deeper than {max_depth} levels")
            done[key] = (weight, height)
            continue
        if key in done:
            continue
        if key in active:
            raise InputRejected("refers to itself (a cycle)")
        active.add(key)
        if len(active) > max_depth:
            raise InputRejected(f"nests deeper than {max_depth} levels")
        stack.append((item, True))
        stack.extend((child, False) for child in children if _children(child) is not None)
    root = done.get(id(value), (_weight(value), 0))
    if root[0] > max_expanded:
        raise InputRejected(f"expands to more than {_size(max_expanded)}")


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, Mapping):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return None


def _weight(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray):
        return 1 + len(value)
    return 1


def shown(value: Any, width: int = 40) -> str:
    """A `repr` of `value` cut to about `width` characters, computed without ever building
    the whole representation (reprlib limits every level)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxdict, short.maxlist, short.maxtuple = 3, 4, 4, 4
    short.maxset = short.maxfrozenset = short.maxdeque = short.maxarray = 4
    short.maxstring = short.maxother = short.maxlong = width
    text = short.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
