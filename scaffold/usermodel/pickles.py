"""Read a pickle (plain, cloudpickle, joblib, or a TorchScript `data.pkl`) without running it.

Unpickling imports the classes a pickle names and calls them: the model's code runs, and its
libraries must be installed where it is read, at versions that can read it. `read()` instead
rebuilds the object graph from stand-ins: every class or function the pickle names becomes
a `Stub` type that records its module, name, arguments and state. Nothing is imported and
nothing of the pickle runs, so this works in scaffold's own environment whatever the model
was made with. What a model records about itself can then be read from the stubs: the
modules it needs, scikit-learn's `_sklearn_version`, `n_features_in_`, `feature_names_in_`,
the categories of its encoders, the shapes of a TorchScript module's tensors.

joblib files interleave raw array bytes with the pickle stream (after each
`NumpyArrayWrapper`); they are skipped here exactly as joblib reads them. Compressed joblib
files (gzip, bz2, xz, zlib) are read through the matching stdlib decompressor.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

#: Most opcodes read before giving up (a bound on time and memory for hostile files).
MAX_OPS = 20_000_000
#: Largest array (bytes) whose values are kept (feature names, categories); bigger ones are
#: skipped, only their shape is kept.
KEEP_ARRAY_BYTES = 1 << 20


class _OrderedDict(dict[Any, Any]):
    """An OrderedDict (a dict since Python 3.7) that takes pickled attributes, as PyTorch's
    state_dict carries `_metadata`."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


#: Callables that are safe to run for real: they build plain values and import nothing.
_REAL: dict[tuple[str, str], Any] = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("builtins", "range"): range,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("collections", "OrderedDict"): _OrderedDict,
    ("_codecs", "encode"): lambda text, encoding="utf-8": str(text).encode(encoding),
}


class PickleError(ValueError):
    """The file is not a pickle this module can walk (corrupt, truncated, unknown)."""


class Stub:
    """An object of a class the pickle names (the class itself is never imported)."""

    module: str = ""
    qualname: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = []
        obj.mapping = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 - set by __new__
        self.args: tuple[Any, ...]
        self.kwargs: dict[str, Any]
        self.state: Any
        self.items: list[Any]
        self.mapping: dict[Any, Any]

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.mapping[key] = value

    def __repr__(self) -> str:
        return f"<stub {self.module}.{self.qualname}>"

    @property
    def ref(self) -> str:
        """`module.qualname` of the class or function this stands for."""
        return f"{self.module}.{self.qualname}"

    def attrs(self) -> dict[str, Any]:
        """The object's attributes: its state when that is a dict (or the dict of a
        `(dict, slots)` pair), else {}."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]
        return state if isinstance(state, dict) else {}


class Persistent:
    """A persistent id of the pickle (TorchScript's tensor storages)."""

    def __init__(self, pid: Any) -> None:
        self.pid = pid


def _stub_type(module: str, qualname: str) -> type[Stub]:
    return type(qualname.rsplit(".", 1)[-1] or "stub", (Stub,), {
        "module": module, "qualname": qualname, "__module__": "scaffold.usermodel.pickles",
    })  # fmt: skip


class _Reader(pickle._Unpickler):  # pure-Python unpickler (its dispatch table can be changed)
    """An unpickler that builds stubs and reads joblib's out-of-stream arrays."""

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def __init__(self, handle: BinaryIO, found: set[str], types: dict[tuple[str, str], Any]):
        super().__init__(handle)
        self.handle = handle
        self.found = found
        self.types = types
        self.ops = 0

    def find_class(self, module: str, name: str) -> Any:
        self.found.add(module)
        key = (module, name)
        if key in _REAL:
            return _REAL[key]
        if key not in self.types:
            self.types[key] = _stub_type(module, name)
        return self.types[key]

    def persistent_load(self, pid: Any) -> Any:
        return Persistent(pid)

    def load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        stack: list[Any] = self.stack  # type: ignore[attr-defined]
        obj = stack[-1]
        if isinstance(obj, Stub) and obj.qualname == "NumpyArrayWrapper":
            stack[-1] = _read_joblib_array(self, obj)

    dispatch[pickle.BUILD[0]] = load_build


def _counted(op: Any) -> Any:
    def run(reader: _Reader) -> None:
        reader.ops += 1
        if reader.ops > MAX_OPS:
            raise PickleError(f"more than {MAX_OPS} pickle opcodes; not read")
        op(reader)

    return run


_Reader.dispatch = {key: _counted(op) for key, op in _Reader.dispatch.items()}


class Array:
    """A numpy array as the pickle holds it: shape, dtype and (when small) its values."""

    def __init__(self, shape: tuple[int, ...], dtype: str, values: list[Any] | None) -> None:
        self.shape = shape
        self.dtype = dtype
        self.values = values

    def __repr__(self) -> str:
        return f"<array {self.dtype} {self.shape}>"


_DTYPE = re.compile(r"^[<>|=]?([a-zA-Z?])(\d*)$")
_STRUCT = {"f8": "d", "f4": "f", "i8": "q", "i4": "i", "i2": "h", "i1": "b", "u8": "Q",
           "u4": "I", "u2": "H", "u1": "B", "b1": "?"}  # fmt: skip


def _dtype(stub: Any) -> tuple[str, int, str]:
    """(numpy type string, item size, byte order) of a pickled `numpy.dtype`."""
    name = str(stub.args[0]) if isinstance(stub, Stub) and stub.args else "O"
    state = stub.state if isinstance(stub, Stub) and isinstance(stub.state, tuple) else ()
    order = str(state[1]) if len(state) > 1 else "<"
    match = _DTYPE.match(name)
    size = 0
    if match:
        kind, digits = match.group(1), match.group(2)
        size = int(digits) if digits else {"?": 1, "O": 8}.get(kind, 0)
        if kind == "U":
            size *= 4
    if len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        size = state[5]
    return name, size, order


def _decode(data: bytes, dtype: str, size: int, order: str, count: int) -> list[Any] | None:
    code = _STRUCT.get(dtype.lstrip("<>|="))
    if code is not None:
        return list(struct.unpack(("<" if order != ">" else ">") + code * count, data))
    if dtype.lstrip("<>|=").startswith("U") and size:
        chars = size // 4
        text = data.decode("utf-32-le" if order != ">" else "utf-32-be")
        return [text[i * chars : (i + 1) * chars].rstrip("\0") for i in range(count)]
    return None


def _read_joblib_array(reader: _Reader, wrapper: Stub) -> Any:
    attrs = wrapper.attrs()
    shape = tuple(int(x) for x in attrs.get("shape") or ())
    count = 1
    for size in shape:
        count *= size
    name, itemsize, order = _dtype(attrs.get("dtype"))
    if name.lstrip("<>|=").startswith("O"):
        inner = _Reader(reader.handle, reader.found, reader.types)
        return _array_from(inner.load(), shape)
    if attrs.get("numpy_array_alignment_bytes") is not None:
        padding = reader.handle.read(1)
        if len(padding) != 1:
            raise PickleError("truncated joblib array")
        _skip(reader.handle, padding[0])
    total = count * itemsize
    if total <= KEEP_ARRAY_BYTES:
        data = reader.handle.read(total)
        if len(data) != total:
            raise PickleError("truncated joblib array")
        return Array(shape, name, _decode(data, name, itemsize, order, count))
    _skip(reader.handle, total)
    return Array(shape, name, None)


def _skip(handle: BinaryIO, count: int) -> None:
    while count > 0:
        chunk = handle.read(min(count, 1 << 20))
        if not chunk:
            raise PickleError("truncated joblib array")
        count -= len(chunk)


def _array_from(value: Any, shape: tuple[int, ...] = ()) -> Any:
    """An `Array` from what a pickle made of a numpy array (`_reconstruct` + state), or the
    value unchanged."""
    if isinstance(value, Array):
        return value
    if not (isinstance(value, Stub) and value.qualname == "_reconstruct"):
        return value
    state = value.state if isinstance(value.state, tuple) else ()
    if len(state) < 5:
        return Array(shape, "?", None)
    shape = tuple(int(x) for x in state[1]) if isinstance(state[1], tuple) else shape
    name, itemsize, order = _dtype(state[2])
    count = 1
    for size in shape:
        count *= size
    raw = state[4]
    if isinstance(raw, list):
        return Array(shape, name, raw)
    if isinstance(raw, (bytes, bytearray)) and len(raw) <= KEEP_ARRAY_BYTES and itemsize:
        return Array(shape, name, _decode(bytes(raw), name, itemsize, order, count))
    return Array(shape, name, None)


class _ZlibFile(io.RawIOBase):
    """A readable stream over a zlib-compressed file (joblib's 'zlib' compressor)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.inflate = zlib.decompressobj()
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.buffer:
            chunk = self.raw.read(1 << 16)
            if not chunk:
                self.buffer = self.inflate.flush()
                break
            self.buffer = self.inflate.decompress(chunk)
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def open_stream(path: Path) -> Any:
    """The file's bytes, decompressed when joblib (or the user) compressed it."""
    with path.open("rb") as handle:
        head = handle.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if head.startswith(b"\xfd7zXZ"):
        return lzma.open(path, "rb")
    if head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        return io.BufferedReader(_ZlibFile(path.open("rb")))
    return path.open("rb")


def compressed(path: Path) -> bool:
    """Whether the file is compressed (joblib's compressors; pickle itself never is)."""
    with path.open("rb") as handle:
        head = handle.read(6)
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ")) or (
        head[:1] == b"\x78" and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda")
    )


class Graph:
    """What `read` found: the top object and every module the pickle names."""

    def __init__(self, root: Any, modules: set[str]) -> None:
        self.root = root
        self.modules = modules

    def walk(self, limit: int = 200_000) -> Iterator[Any]:
        """Every object reachable from the root (stubs, containers, values), once each."""
        seen: set[int] = set()
        stack = [self.root]
        while stack and len(seen) < limit:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            yield obj
            if isinstance(obj, Stub):
                stack.extend([obj.state, *obj.args, *obj.items, *obj.mapping.values()])
            elif isinstance(obj, dict):
                stack.extend(obj.values())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                stack.extend(obj)

    def top_modules(self) -> set[str]:
        """Top-level packages the pickle needs (`sklearn`, `numpy`, ...), builtins aside."""
        skip = {"builtins", "__builtin__", "copyreg", "_codecs", "collections", "copy_reg"}
        return {m.split(".")[0] for m in self.modules if m.split(".")[0] not in skip}


#: What a corrupt, truncated or foreign file makes the unpickler raise.
_FAILURES = (
    pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
    AttributeError, OSError, struct.error, zlib.error, lzma.LZMAError,
)  # fmt: skip


def read(path: Path) -> Graph:
    """The object graph of a pickle or joblib file, built from stubs (nothing runs).

    Raises PickleError when the file is not a readable pickle.
    """
    found: set[str] = set()
    try:
        with open_stream(path) as handle:
            root = _Reader(handle, found, {}).load()
    except PickleError:
        raise
    except _FAILURES as error:
        raise PickleError(f"not a readable pickle ({type(error).__name__}: {error})") from None
    return Graph(_array_from(root), found)


def read_bytes(data: bytes) -> Graph:
    """`read` for a pickle already in memory (e.g. a member of a zip archive)."""
    found: set[str] = set()
    try:
        root = _Reader(io.BytesIO(data), found, {}).load()
    except PickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error) as error:  # fmt: skip
        raise PickleError(f"not a readable pickle ({type(error).__name__}: {error})") from None
    return Graph(root, found)


def as_array(value: Any) -> Array | None:
    """`value` as an Array when it is a pickled numpy array, else None."""
    found = _array_from(value)
    return found if isinstance(found, Array) else None
