"""Read gradient-boosting models without their libraries: XGBoost, LightGBM and CatBoost.

Each library saves its own model format, and its scikit-learn wrappers pickle that format
inside the pickle. Both are read here, statically (nothing imported, nothing run):

- XGBoost: JSON or UBJSON (`save_model("model.json" | "model.ubj")`, and the `handle` bytes a
  pickled `Booster` holds). They record the library version (`version`), the number of
  features (`learner_model_param.num_feature`), the feature names when fitted on a
  DataFrame, and the scikit-learn wrapper's estimator type (`attributes.scikit_learn`).
- LightGBM: the text model (`booster_.save_model("model.txt")`, and the model string a
  pickled `Booster` holds): `max_feature_idx`, `feature_names`, `objective`. It records no
  library version.
- CatBoost: `.cbm` (`save_model("model.cbm")`, and the `__model` bytes of a pickled
  CatBoost model) is a FlatBuffers file whose metadata strings hold the version
  (`catboost_version_info`) and the training parameters (`loss_function`). The number of
  features is not read (it is run in the model's image instead).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

#: Largest model file read whole (bigger native models are only copied).
READ_LIMIT = 256 << 20
#: How much of a LightGBM text model is read for its header (feature names of wide models
#: make long lines).
LIGHTGBM_HEADER_BYTES = 8 << 20
#: Nesting bound for UBJSON (a tree model is a few levels deep).
MAX_DEPTH = 64

#: CatBoost loss functions of classifiers (anything else is served as a regressor).
CATBOOST_CLASSIFIER_LOSSES = ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")


class BoosterError(ValueError):
    """Not a model file of the library it claims to be."""


@dataclass
class BoosterInfo:
    """What a boosting model records about itself."""

    #: PyPI distribution: "xgboost", "lightgbm" or "catboost".
    library: str
    #: The library version that saved it, when recorded.
    version: str | None = None
    n_features: int | None = None
    feature_names: list[str] | None = None
    #: The scikit-learn wrapper class that serves it (e.g. "XGBClassifier"), or None for
    #: the library's plain Booster.
    estimator: str | None = None


# -- XGBoost ----------------------------------------------------------------------------


class _Ubj:
    """A UBJSON reader (the subset XGBoost writes: big-endian numbers, optimized
    containers). Typed numeric arrays (the trees) are skipped, not decoded."""

    _NUMBERS: ClassVar[dict[str, str]] = {
        "i": ">b",
        "U": ">B",
        "I": ">h",
        "l": ">i",
        "L": ">q",
        "d": ">f",
        "D": ">d",
    }

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BoosterError("truncated UBJSON")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def marker(self) -> str:
        return self.take(1).decode("latin-1")

    def number(self, marker: str) -> Any:
        fmt = self._NUMBERS.get(marker)
        if fmt is None:
            raise BoosterError(f"not a UBJSON number marker {marker!r}")
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def length(self) -> int:
        value = self.number(self.marker())
        if not isinstance(value, int) or value < 0:
            raise BoosterError("bad UBJSON length")
        return int(value)

    def value(self, marker: str | None = None, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise BoosterError("UBJSON nested too deeply")
        marker = marker or self.marker()
        while marker == "N":
            marker = self.marker()
        if marker in self._NUMBERS:
            return self.number(marker)
        if marker in ("S", "H"):
            return self.take(self.length()).decode("utf-8", errors="replace")
        if marker == "C":
            return self.take(1).decode("latin-1")
        if marker in ("T", "F", "Z"):
            return {"T": True, "F": False, "Z": None}[marker]
        if marker in ("[", "{"):
            return self.container(marker == "{", depth)
        raise BoosterError(f"unknown UBJSON marker {marker!r}")

    def container(self, is_object: bool, depth: int) -> Any:
        kind = count = None
        if self.data[self.pos : self.pos + 1] == b"$":
            self.pos += 1
            kind = self.marker()
        if self.data[self.pos : self.pos + 1] == b"#":
            self.pos += 1
            count = self.length()
        if not is_object and kind in self._NUMBERS and count is not None:
            self.take(count * struct.calcsize(self._NUMBERS[kind]))  # tree arrays: skipped
            return []
        items: Any = {} if is_object else []
        index = 0
        while count is None or index < count:
            end = b"}" if is_object else b"]"
            if count is None and self.data[self.pos : self.pos + 1] == end:
                self.pos += 1
                break
            if is_object:
                key = self.take(self.length()).decode("utf-8", errors="replace")
                items[key] = self.value(kind, depth + 1)
            else:
                items.append(self.value(kind, depth + 1))
            index += 1
        return items


def parse_xgboost(data: bytes) -> BoosterInfo:
    """An XGBoost model from its JSON or UBJSON bytes."""
    text = data.lstrip()
    try:
        if text.startswith(b'{"'):
            parsed = json.loads(data.decode("utf-8"))
        elif text.startswith(b"{"):
            parsed = _Ubj(data).value()
        else:
            raise BoosterError("not an XGBoost JSON or UBJSON model")
    except (UnicodeDecodeError, ValueError, struct.error) as error:
        raise BoosterError(f"not an XGBoost model ({error})") from None
    model = parsed.get("Model", parsed) if isinstance(parsed, dict) else None
    learner = model.get("learner") if isinstance(model, dict) else None
    if not isinstance(learner, dict):
        raise BoosterError("not an XGBoost model (no learner)")
    info = BoosterInfo("xgboost")
    version = model.get("version") if isinstance(model, dict) else None
    if isinstance(version, list) and version and all(isinstance(v, int) for v in version):
        info.version = ".".join(str(v) for v in version)
    params = learner.get("learner_model_param")
    try:
        count = int(str(params.get("num_feature"))) if isinstance(params, dict) else 0
    except (TypeError, ValueError):
        count = 0
    info.n_features = count or None
    names = learner.get("feature_names")
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        info.feature_names = list(names)
    attributes = learner.get("attributes")
    wrapper = attributes.get("scikit_learn") if isinstance(attributes, dict) else None
    if isinstance(wrapper, str):
        try:
            kind = json.loads(wrapper).get("_estimator_type")
        except (ValueError, AttributeError):
            kind = None
        objective = _objective(learner)
        if kind == "classifier":
            info.estimator = "XGBClassifier"
        elif kind == "regressor":
            info.estimator = "XGBRanker" if objective.startswith("rank:") else "XGBRegressor"
    return info


def _objective(learner: dict[str, Any]) -> str:
    objective = learner.get("objective")
    name = objective.get("name") if isinstance(objective, dict) else None
    return str(name or "")


# -- LightGBM ---------------------------------------------------------------------------


def parse_lightgbm(text: str) -> BoosterInfo:
    """A LightGBM model from its text form (the header before the first tree)."""
    if not text.startswith("tree\n") and not text.startswith("tree\r\n"):
        raise BoosterError("not a LightGBM text model (it starts with 'tree')")
    header: dict[str, str] = {}
    for line in text.splitlines()[1:200]:
        if line.startswith("Tree="):
            break
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    info = BoosterInfo("lightgbm")
    try:
        info.n_features = int(header["max_feature_idx"]) + 1
    except (KeyError, ValueError):
        info.n_features = None
    names = header.get("feature_names", "").split()
    if names and (info.n_features is None or len(names) == info.n_features):
        info.feature_names = names
    return info


# -- CatBoost ---------------------------------------------------------------------------

_CATBOOST_VERSION = re.compile(rb"CatBoost release (\d+\.\d+(?:\.\d+)?)")
_CATBOOST_LOSS = re.compile(rb'"flat_params":\{[^{}]*"loss_function":"([A-Za-z]+)')
_CATBOOST_LOSS_ANY = re.compile(rb'"loss_function":\{"type":"([A-Za-z]+)"')


def parse_catboost(data: bytes) -> BoosterInfo:
    """A CatBoost model (.cbm bytes): its version and loss, from the metadata strings."""
    if not data.startswith(b"CBM1"):
        raise BoosterError("not a CatBoost model (.cbm files start with CBM1)")
    info = BoosterInfo("catboost")
    found = _CATBOOST_VERSION.search(data)
    info.version = found.group(1).decode() if found else None
    loss = _CATBOOST_LOSS.search(data) or _CATBOOST_LOSS_ANY.search(data)
    name = loss.group(1).decode() if loss else ""
    if name:
        classifier = name in CATBOOST_CLASSIFIER_LOSSES
        info.estimator = "CatBoostClassifier" if classifier else "CatBoostRegressor"
    return info


# -- files ------------------------------------------------------------------------------


def read_file(path: Path) -> BoosterInfo | None:
    """The boosting model in `path` (by content, whatever its suffix), or None when it is
    none of these. Files above READ_LIMIT are told apart by their first bytes only (a
    LightGBM header is still read: it precedes the trees)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(b"CBM1"):
        return parse_catboost(path.read_bytes()) if size <= READ_LIMIT else BoosterInfo("catboost")
    if head.startswith((b"tree\n", b"tree\r\n")):
        with path.open("rb") as handle:
            text = handle.read(LIGHTGBM_HEADER_BYTES).decode("utf-8", errors="replace")
        return parse_lightgbm(text)
    if head.lstrip().startswith(b"{") and b"learner" in head:
        if size > READ_LIMIT:
            return BoosterInfo("xgboost")
        try:
            return parse_xgboost(path.read_bytes())
        except BoosterError:
            return None
    return None
