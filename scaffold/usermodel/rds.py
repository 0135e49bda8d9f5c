"""Read an R serialization stream (`saveRDS`, and the `serialize()`d crate inside a carrier
`crate.bin`) in Python, without R and without running anything.

An RDS file records the R version that wrote it and the oldest that can read it, and every
package namespace its objects point at (`NAMESPACESXP`: name and version, as the writer had
them). A fitted model also carries its formula (`terms`, with the class of every variable)
and often its training data (`lm(...)$model`). That is enough to know which R packages the
image needs and to build a sample request the model accepts, before any image exists.

Supported: the binary formats of `saveRDS`/`serialize` (XDR `X`, native little-endian `B`),
versions 2 and 3, gzip/bzip2/xz compression or none, every SEXP type including byte code
and ALTREP compact sequences. Vectors longer than `KEEP` elements are skipped (their length
is kept); the stream is read once, front to back.
"""

from __future__ import annotations

import lzma
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from scaffold.usermodel.pickles import open_stream

#: Longest vector whose values are kept (training data beyond this is only counted).
KEEP = 100_000
MAX_DEPTH = 400
#: Most objects read from one stream (each item is a Python object: a bound on memory;
#: real models hold thousands, numeric vectors count once whatever their length).
MAX_ITEMS = 1_000_000
#: Longest string (CHARSXP) whose text is kept, and largest raw vector kept (a carrier
#: crate's inner stream); longer ones are skipped unread.
KEEP_STRING = 1 << 20
KEEP_RAW = 256 << 20

# SEXP types (R's Rinternals.h) and the pseudo-types of the serialization format.
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP = 7, 8, 9, 10, 13, 14
CPLXSXP, STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP = 15, 16, 17, 19, 20, 21
EXTPTRSXP, WEAKREFSXP, RAWSXP, S4SXP = 22, 23, 24, 25
REFSXP, NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE = 255, 254, 253, 252, 251, 250
NAMESPACESXP, PACKAGESXP, PERSISTSXP = 249, 248, 247
CLASSREFSXP, GENERICREFSXP, BCREPDEF, BCREPREF = 246, 245, 244, 243
EMPTYENV, BASEENV, ATTRLANGSXP, ATTRLISTSXP, ALTREPSXP = 242, 241, 240, 239, 238
_PAIRS = {LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP}
_NA_INT = -(2**31)


class RdsError(ValueError):
    """Not an R serialization stream this reader understands."""


class TooLarge(RdsError):
    """A stream larger than this reader walks (it inflates past its bound, or holds more
    than MAX_ITEMS objects): read it as a model too large to inspect."""


@dataclass(eq=False)
class RObj:
    """An R object: its SEXP type, value (a list for vectors; pairs for pairlists; a dict
    of bindings for environments; (name, version) for namespaces) and attributes."""

    type: int
    value: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    length: int = 0

    def attr(self, name: str) -> Any:
        return self.attributes.get(name)

    @property
    def classes(self) -> list[str]:
        """The class attribute (S3 classes, or an S4 class)."""
        found = self.attr("class")
        return [str(c) for c in found.value or []] if isinstance(found, RObj) else []

    @property
    def names(self) -> list[str]:
        found = self.attr("names")
        return [str(n) for n in found.value or []] if isinstance(found, RObj) else []

    def get(self, name: str) -> Any:
        """Element `name` of a named list (`obj[[name]]`), or a binding of an environment."""
        if self.type == ENVSXP and isinstance(self.value, dict):
            return self.value.get(name)
        if self.type in (VECSXP, EXPRSXP) and isinstance(self.value, list):
            for key, item in zip(self.names, self.value, strict=False):
                if key == name:
                    return item
        return None


@dataclass
class Rds:
    """What a stream holds: the object, the R versions, the namespaces it references."""

    root: Any
    format_version: int
    writer: str
    min_reader: str
    namespaces: dict[str, str] = field(default_factory=dict)


def _version(packed: int) -> str:
    return f"{packed // 65536}.{(packed // 256) % 256}.{packed % 256}"


class _Reader:
    def __init__(self, stream: BinaryIO, little: bool, namespaces: dict[str, str]) -> None:
        self.stream = stream
        self.order = "<" if little else ">"
        self.refs: list[Any] = []
        self.namespaces = namespaces
        self.depth = 0
        self.items = 0

    def read(self, n: int) -> bytes:
        data = b"".join(self._chunks(n)) if n > 1 << 20 else self.stream.read(n)
        if len(data) != n:
            raise RdsError("the stream ends early (truncated file)")
        return data

    def _chunks(self, n: int) -> Iterator[bytes]:
        """`n` bytes in chunks of 1 MiB: a length field is never allocated before the
        stream has delivered it (a 14-byte file may claim a terabyte)."""
        while n > 0:
            chunk = self.stream.read(min(n, 1 << 20))
            if not chunk:
                return
            n -= len(chunk)
            yield chunk

    def skip(self, n: int) -> None:
        if sum(len(chunk) for chunk in self._chunks(n)) != n:
            raise RdsError("the stream ends early (truncated file)")

    def integer(self) -> int:
        return int(struct.unpack(self.order + "i", self.read(4))[0])

    def length(self) -> int:
        n = self.integer()
        if n == -1:
            upper, lower = self.integer(), self.integer()
            n = (upper << 32) + lower
        if n < 0:
            raise RdsError("negative vector length")
        return n

    def string(self, n: int) -> bytes:
        return self.read(n)

    def strings(self) -> list[Any]:
        """InStringVec: a 0, a count, then that many CHARSXP items."""
        if self.integer() != 0:
            raise RdsError("names in persistent strings are not supported")
        return [self.item() for _ in range(self.integer())]

    def numbers(self, kind: int, n: int) -> Any:
        size = {LGLSXP: 4, INTSXP: 4, REALSXP: 8, CPLXSXP: 16}[kind]
        if n > KEEP:
            self.skip(n * size)
            return None
        code = {LGLSXP: "i", INTSXP: "i", REALSXP: "d", CPLXSXP: "d"}[kind]
        count = n * (2 if kind == CPLXSXP else 1)
        raw = struct.unpack(f"{self.order}{count}{code}", self.read(n * size))
        if kind == REALSXP:
            return [None if math.isnan(v) else v for v in raw]
        if kind == CPLXSXP:
            return [complex(raw[i], raw[i + 1]) for i in range(0, count, 2)]
        if kind == LGLSXP:
            return [None if v == _NA_INT else bool(v) for v in raw]
        return [None if v == _NA_INT else v for v in raw]

    def item(self) -> Any:
        self.depth += 1
        self.items += 1
        if self.items > MAX_ITEMS:
            raise TooLarge(f"holds more than {MAX_ITEMS} objects")
        if self.depth > MAX_DEPTH:
            raise RdsError("the object is nested too deeply")
        try:
            return self._item(self.integer())
        finally:
            self.depth -= 1

    def _item(self, flags: int) -> Any:  # noqa: C901 - one branch per SEXP type, as R's own
        kind, levels = flags & 0xFF, flags >> 12
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if kind in (NILVALUE, EMPTYENV, BASEENV, GLOBALENV, UNBOUNDVALUE, MISSINGARG,
                    BASENAMESPACE):  # fmt: skip
            return None if kind == NILVALUE else RObj(kind)
        if kind == REFSXP:
            index = flags >> 8 or self.integer()
            if not 0 < index <= len(self.refs):
                raise RdsError("bad reference")
            return self.refs[index - 1]
        if kind in (PERSISTSXP, PACKAGESXP, NAMESPACESXP):
            values = [v.value if isinstance(v, RObj) else v for v in self.strings()]
            obj = RObj(kind, tuple(values))
            if kind == NAMESPACESXP and values:
                self.namespaces.setdefault(
                    str(values[0]), str(values[1]) if len(values) > 1 else ""
                )
            self.refs.append(obj)
            return obj
        if kind == SYMSXP:
            name = self.item()
            symbol = RObj(SYMSXP, name.value if isinstance(name, RObj) else name)
            self.refs.append(symbol)
            return symbol
        if kind == ENVSXP:
            return self._environment()
        if kind in (CLOSXP, PROMSXP):
            return self._closure(kind, has_attr, has_tag)
        if kind in _PAIRS:
            return self._pairs(kind, has_attr, has_tag)
        if kind == ALTREPSXP:
            return self._altrep()
        obj = self._vector(kind, levels)
        if has_attr:
            attributes = self.item()
            if kind != CHARSXP:
                obj.attributes = _pairs_dict(attributes)
        return obj

    def _environment(self) -> RObj:
        self.integer()  # locked
        env = RObj(ENVSXP, {})
        self.refs.append(env)
        enclosing, frame, table, attributes = self.item(), self.item(), self.item(), self.item()
        del enclosing
        bindings = _pairs_dict(frame)
        if isinstance(table, RObj) and isinstance(table.value, list):
            for bucket in table.value:
                bindings.update(_pairs_dict(bucket))
        env.value = bindings
        env.attributes = _pairs_dict(attributes)
        return env

    def _closure(self, kind: int, has_attr: bool, has_tag: bool) -> RObj:
        """A closure (environment, formals, body) or a promise (environment, value, code)."""
        attributes = _pairs_dict(self.item()) if has_attr else {}
        env = self.item() if has_tag else None
        first, second = self.item(), self.item()
        parts = {"env": env, "formals": first, "body": second}
        if kind == PROMSXP:
            parts = {"env": env, "value": first, "code": second}
        return RObj(kind, parts, attributes)

    def _pairs(self, kind: int, has_attr: bool, has_tag: bool) -> RObj:
        """A pairlist (or call, closure, ...): walked along its CDR without recursion."""
        head = RObj(kind, [])
        node = head
        while True:
            if has_attr:
                node.attributes = _pairs_dict(self.item())
            tag = self.item() if has_tag else None
            car = self.item()
            node.value.append((tag.value if isinstance(tag, RObj) else None, car))
            flags = self.integer()
            kind = flags & 0xFF
            if kind not in (LISTSXP, LANGSXP, DOTSXP):
                tail = self._item(flags)
                if tail is not None:
                    node.value.append((None, tail))
                return head
            has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))

    def _altrep(self) -> RObj:
        info, state, attributes = self.item(), self.item(), self.item()
        name = ""
        if isinstance(info, RObj) and info.value:
            first = info.value[0][1]
            name = str(first.value) if isinstance(first, RObj) else ""
        obj = _expand_altrep(name, state)
        obj.attributes = _pairs_dict(attributes)
        return obj

    def _vector(self, kind: int, levels: int) -> RObj:  # noqa: C901 - one branch per type
        if kind == CHARSXP:
            n = self.integer()
            if n == -1:
                return RObj(CHARSXP, None)
            if n > KEEP_STRING:
                self.skip(n)
                return RObj(CHARSXP, None, length=n)
            raw = self.read(n)
            encoding = "latin-1" if levels & (1 << 2) else "utf-8"
            return RObj(CHARSXP, raw.decode(encoding, errors="replace"))
        if kind in (LGLSXP, INTSXP, REALSXP, CPLXSXP):
            n = self.length()
            return RObj(kind, self.numbers(kind, n), length=n)
        if kind == STRSXP:
            n = self.length()
            items = [self.item() for _ in range(n)]
            if n > KEEP:
                return RObj(kind, None, length=n)
            values = [i.value if isinstance(i, RObj) else None for i in items]
            return RObj(kind, values, length=n)
        if kind in (VECSXP, EXPRSXP):
            n = self.length()
            return RObj(kind, [self.item() for _ in range(n)], length=n)
        if kind == RAWSXP:
            n = self.length()
            if n > KEEP_RAW:
                self.skip(n)
                return RObj(kind, None, length=n)
            return RObj(kind, self.read(n), length=n)
        if kind == S4SXP:
            return RObj(kind)
        if kind in (SPECIALSXP, BUILTINSXP):
            n = self.integer()
            if not 0 <= n <= KEEP_STRING:
                raise RdsError(f"a built-in function name of {n} bytes")
            return RObj(kind, self.read(n).decode("utf-8", errors="replace"))
        if kind == EXTPTRSXP:
            obj = RObj(kind)
            self.refs.append(obj)
            self.item()
            self.item()
            return obj
        if kind == WEAKREFSXP:
            obj = RObj(kind)
            self.refs.append(obj)
            return obj
        if kind == BCODESXP:
            count = self.integer()
            if count > MAX_ITEMS:
                raise TooLarge(f"holds byte code of {count} entries")
            reps: list[Any] = [None] * max(count, 0)
            return self._bc(reps)
        raise RdsError(f"unknown SEXP type {kind} (written by a newer R?)")

    def _bc(self, reps: list[Any]) -> RObj:
        code = self.item()
        consts = []
        for _ in range(self.integer()):
            kind = self.integer()
            if kind == BCODESXP:
                consts.append(self._bc(reps))
            elif kind in (LANGSXP, LISTSXP, BCREPDEF, BCREPREF, ATTRLANGSXP, ATTRLISTSXP):
                consts.append(self._bc_lang(kind, reps))
            else:
                consts.append(self.item())
        return RObj(BCODESXP, [code, *consts])

    def _bc_lang(self, kind: int, reps: list[Any]) -> Any:
        if kind == BCREPREF:
            return reps[self.integer()]
        if kind not in (BCREPDEF, LANGSXP, LISTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.item()
        position = -1
        if kind == BCREPDEF:
            position, kind = self.integer(), self.integer()
        has_attr = kind in (ATTRLANGSXP, ATTRLISTSXP)
        obj = RObj(LANGSXP if kind in (LANGSXP, ATTRLANGSXP) else LISTSXP, [])
        if position >= 0:
            if position >= len(reps):
                raise RdsError("bad byte code reference")
            reps[position] = obj
        if has_attr:
            obj.attributes = _pairs_dict(self.item())
        tag = self.item()
        car = self._bc_lang(self.integer(), reps)
        cdr = self._bc_lang(self.integer(), reps)
        obj.value = [(tag.value if isinstance(tag, RObj) else None, car), (None, cdr)]
        return obj


def _pairs_dict(obj: Any) -> dict[str, Any]:
    """Tagged elements of a pairlist as a dict (attributes, environment frames)."""
    if not isinstance(obj, RObj) or obj.type not in _PAIRS or not isinstance(obj.value, list):
        return {}
    return {str(tag): value for tag, value in obj.value if tag is not None}


def _expand_altrep(name: str, state: Any) -> RObj:
    """The ordinary vector an ALTREP object stands for (compact sequences, wrappers)."""
    if name in ("compact_intseq", "compact_realseq") and isinstance(state, RObj):
        size, start, step = (state.value or [0, 1, 1])[:3]
        kind = INTSXP if name == "compact_intseq" else REALSXP
        n = int(size or 0)
        if n > KEEP:
            return RObj(kind, None, length=n)
        values = [start + i * step for i in range(n)]
        return RObj(kind, [int(v) for v in values] if kind == INTSXP else values, length=n)
    if name.startswith("wrap_") and isinstance(state, RObj) and state.value:
        first = state.value[0][1] if state.type in _PAIRS else state.value[0]
        if isinstance(first, RObj):
            return RObj(first.type, first.value, length=first.length)
    if name == "deferred_string" and isinstance(state, RObj) and state.value:
        first = state.value[0][1] if state.type in _PAIRS else state.value
        if isinstance(first, RObj):
            values = first.value
            strings = [None if v is None else _r_string(v) for v in values] if values else None
            return RObj(STRSXP, strings, length=first.length)
    return RObj(NILSXP)


def _r_string(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse(stream: BinaryIO) -> Rds:
    head = stream.read(2)
    if head == b"A\n":
        raise RdsError("an ASCII serialization (saveRDS(ascii = TRUE)); save it in binary")
    if head not in (b"X\n", b"B\n"):
        raise RdsError("not an R serialization (saveRDS) stream")
    namespaces: dict[str, str] = {}
    reader = _Reader(stream, head == b"B\n", namespaces)
    version = reader.integer()
    if version not in (2, 3):
        raise RdsError(f"serialization format version {version} is not supported")
    writer, min_reader = reader.integer(), reader.integer()
    if version == 3:
        size = reader.integer()
        if not 0 <= size <= 64:
            raise RdsError(f"a native encoding name of {size} bytes")
        reader.read(size)  # native encoding
    root = reader.item()
    return Rds(root, version, _version(writer), _version(min_reader), namespaces)


#: What a corrupt, truncated or hostile stream makes the reader raise.
_FAILURES = (
    OSError, EOFError, struct.error, lzma.LZMAError, RecursionError, IndexError, KeyError,
    TypeError, ValueError, OverflowError, MemoryError,
)  # fmt: skip


def read(path: Path) -> Rds:
    """The object in an RDS file, with its R versions and namespaces; RdsError otherwise."""
    from scaffold import limits

    try:
        limit = limits.inflated_limit(path.stat().st_size)
        with open_stream(path) as raw, limits.BoundedStream(raw, limit, path.name) as stream:
            return _parse(stream)  # type: ignore[arg-type]
    except RdsError:
        raise
    except limits.TooLarge as error:
        raise TooLarge(str(error)) from None
    except _FAILURES as error:
        raise RdsError(f"unreadable ({type(error).__name__}: {error})") from None


def unwrap(rds: Rds) -> Rds:
    """A crate.bin holds `serialize(crate, NULL)` as a raw vector: the stream inside it."""
    import io

    root = rds.root
    raw = root.value if isinstance(root, RObj) and root.type == RAWSXP else None
    if isinstance(raw, bytes) and raw[:2] in (b"X\n", b"B\n"):
        try:
            inner = _parse(io.BytesIO(raw))
        except RdsError:
            raise
        except _FAILURES as error:
            raise RdsError(f"unreadable ({type(error).__name__}: {error})") from None
        inner.namespaces = {**rds.namespaces, **inner.namespaces}
        return inner
    return rds
