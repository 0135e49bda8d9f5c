"""The lost-edit check: after an update, is every change the user had made still there?

The user's changes are what the project had before the update relative to the *old*
template version rendered with the old answers (the "base"): in YAML and JSON files key by
key (so a block the template moved, flow style or reordered keys do not matter), in other
text files line by line, in binary files as a whole. Each of them must still be in the
result: the same value at the same key, or at a key of the same name the update created
elsewhere (a moved block); a line the user added must still be there and a line the user
removed must not have come back. Whatever is not is a `LostEdit`, reported by file and key
with the user's value and what the file holds now.

copier's 3-way merge works line by line, so it loses values silently in ways no conflict
shows: a moved block takes the template's values at the new place while the user's sit in
a conflict hunk or nowhere, "take theirs" reverts values outside the conflicting lines,
"take ours" leaves duplicate keys (YAML keeps only the last), `--conflict rej` puts whole
hunks in `.rej` files, and an answer whose question was renamed or whose new validator
rejects it is replaced by a default. All of these show up here.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: File suffixes compared key by key.
STRUCTURED = (".yml", ".yaml", ".json")
_MISSING = object()
_SHOWN = 60


@dataclass(frozen=True)
class LostEdit:
    """One change of the user's that the update did not keep."""

    file: str
    #: Where: a dotted key path, "line N", an answer name, or "" for the whole file.
    key: str
    #: The user's value before the update (shown as JSON, or the line).
    yours: str
    #: What is there now ("(missing)" when nothing).
    now: str
    #: Why it counts as lost, in a few words.
    reason: str

    def describe(self) -> str:
        """One line: file, key, your value, the value now, why."""
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: yours {self.yours}, now {self.now} ({self.reason})"

    def to_json(self) -> dict[str, str]:
        """A JSON-ready mapping."""
        return {
            "file": self.file,
            "key": self.key,
            "yours": self.yours,
            "now": self.now,
            "reason": self.reason,
        }


def shown(value: Any) -> str:
    """A value as short JSON (strings quoted, so `"3"` and `3` differ)."""
    if value is _MISSING:
        return "(missing)"
    try:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def same(first: Any, second: Any) -> bool:
    """Equal as values of a file: `true` is not `1`, `1` is not `1.0`, `"3"` is not `3`."""
    if first is _MISSING or second is _MISSING:
        return first is second
    try:
        return json.dumps(first, sort_keys=True, default=str) == json.dumps(
            second, sort_keys=True, default=str
        )
    except (TypeError, ValueError):
        return bool(first == second)


# --- YAML ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parsed:
    data: Any
    #: Key paths defined more than once in one mapping, with their line numbers.
    duplicates: dict[tuple[str, ...], list[int]]


class _Unparseable(ValueError):
    """The text is not valid YAML (message: where)."""


def _parse(text: str) -> _Parsed:
    import yaml

    from scaffold import limits

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:  # a user's file: depth and alias expansion bounded before PyYAML builds it
        limits.check_yaml(text)
    except limits.InputRejected as error:
        raise _Unparseable(str(error)) from None
    try:
        data = yaml.load(text, Loader=loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise _Unparseable(f"line {mark.line + 1}" if mark is not None else "") from None
    duplicates: dict[tuple[str, ...], list[int]] = {}
    if node is not None:
        _find_duplicates(node, (), duplicates, set())
    return _Parsed(data, duplicates)


def _find_duplicates(
    node: Any, path: tuple[str, ...], found: dict[tuple[str, ...], list[int]], seen: set[int]
) -> None:
    import yaml

    if id(node) in seen:  # aliases: each node once
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, list[int]] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                lines.setdefault(str(key.value), []).append(key.start_mark.line + 1)
                _find_duplicates(value, (*path, str(key.value)), found, seen)
        for key, where in lines.items():
            if len(where) > 1:
                found[(*path, key)] = where
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, (*path, str(index)), found, seen)


def flatten(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaf values by key path; lists and empty mappings are leaves."""
    if isinstance(value, dict) and value:
        out: dict[tuple[str, ...], Any] = {}
        for key, item in value.items():
            out.update(flatten(item, (*prefix, str(key))))
        return out
    return {prefix: value}


def _key(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "(the whole document)"


def _list_kept(yours: list[Any], base: Any, now: Any) -> bool:
    """A list keeps the user's edit when the items they added are in it and the items they
    removed are not (the template may add items of its own)."""
    if not isinstance(now, list):
        return False
    base_items = base if isinstance(base, list) else []
    added = [item for item in yours if not any(same(item, b) for b in base_items)]
    removed = [item for item in base_items if not any(same(item, y) for y in yours)]
    return all(any(same(item, n) for n in now) for item in added) and not any(
        any(same(item, n) for n in now) for item in removed
    )


def _kept(
    path: tuple[str, ...],
    yours: Any,
    base: Any,
    after: Mapping[tuple[str, ...], Any],
    before: Mapping[tuple[str, ...], Any],
) -> bool:
    def holds(value: Any) -> bool:
        if isinstance(yours, list):
            return _list_kept(yours, base, value)
        return same(value, yours)

    if path in after and holds(after[path]):
        return True
    if not path:
        return False
    # A block the template moved: the same key name at a place the update created.
    return any(
        other and other[-1] == path[-1] and other != path and other not in before and holds(value)
        for other, value in after.items()
    )


def _now(
    path: tuple[str, ...],
    after: Mapping[tuple[str, ...], Any],
    before: Mapping[tuple[str, ...], Any],
) -> str:
    if path in after:
        return shown(after[path])
    moved = [p for p in after if p and path and p[-1] == path[-1] and p not in before]
    if len(moved) == 1:
        return f"{shown(after[moved[0]])} at {_key(moved[0])}"
    return "(missing)"


def compare_structured(name: str, base: str | None, before: str, after: str) -> list[LostEdit]:
    """Lost edits of a YAML/JSON file, key by key (line by line if `before` does not
    parse)."""
    try:
        mine = _parse(before)
    except _Unparseable:
        return compare_lines(name, base, before, after)
    try:
        now = _parse(after)
    except _Unparseable as error:
        return [
            LostEdit(
                name, "", "valid YAML", f"invalid YAML at {error}", "the update broke the file"
            )
        ]
    try:
        template = _parse(base).data if base is not None else None
    except _Unparseable:
        # The old template's file is not YAML (e.g. a `{{acr_name}}` placeholder left for
        # sed): its values cannot be told from the user's key by key, so line by line,
        # plus the duplicate keys the update left.
        return compare_lines(name, base, before, after) + _new_duplicates(name, mine, now)
    flat_base = flatten(template) if template is not None else {}
    flat_before, flat_after = flatten(mine.data), flatten(now.data)
    lost: list[LostEdit] = []
    for path, value in flat_before.items():
        old = flat_base.get(path, _MISSING)
        if old is not _MISSING and same(old, value):
            continue  # the template's own value, not an edit
        if not _kept(path, value, old, flat_after, flat_before):
            reason = "changed by the update" if path in flat_after else "gone after the update"
            lost.append(
                LostEdit(
                    name, _key(path), shown(value), _now(path, flat_after, flat_before), reason
                )
            )
    for path, value in flat_base.items():
        if path in flat_before or _covered(path, flat_before):
            continue  # not removed by the user (replaced as a whole, or extended)
        if path in flat_after:
            lost.append(
                LostEdit(
                    name,
                    _key(path),
                    "(removed by you)",
                    shown(flat_after[path]),
                    f"the update brought back {shown(value)}",
                )
            )
    return lost + _new_duplicates(name, mine, now)


def _new_duplicates(name: str, mine: _Parsed, now: _Parsed) -> list[LostEdit]:
    """Keys the update left twice in one mapping (YAML keeps only the last one)."""
    lost = []
    for path, lines in now.duplicates.items():
        if path in mine.duplicates:
            continue
        kept = _lookup(now.data, path)
        lost.append(
            LostEdit(
                name,
                _key(path),
                "(one key)",
                f"defined at lines {', '.join(map(str, lines))}",
                f"duplicate key: YAML keeps only the last one, {shown(kept)}",
            )
        )
    return lost


def _lookup(data: Any, path: tuple[str, ...]) -> Any:
    """The value at `path` in parsed YAML (mapping keys compared as text)."""
    for part in path:
        if isinstance(data, dict):
            found = [v for k, v in data.items() if str(k) == part]
            if not found:
                return _MISSING
            data = found[0]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _covered(path: tuple[str, ...], present: Mapping[tuple[str, ...], Any]) -> bool:
    """True if an ancestor of `path` is a leaf in `present` or a descendant is there."""
    if any(path[:i] in present for i in range(len(path))):
        return True
    size = len(path)
    return any(len(p) > size and p[:size] == path for p in present)


# --- Lines ---------------------------------------------------------------------------------
def _meaningful(line: str) -> bool:
    """Lines worth tracking: at least two letters or digits (not `}` or `fi`-sized noise)."""
    return sum(c.isalnum() for c in line) >= 2


def compare_lines(name: str, base: str | None, before: str, after: str) -> list[LostEdit]:
    """Lost edits of a text file, line by line (whitespace at line ends ignored)."""
    old = [line.rstrip() for line in (base or "").splitlines()]
    mine = [line.rstrip() for line in before.splitlines()]
    now = [line.rstrip() for line in after.splitlines()]
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    matcher = difflib.SequenceMatcher(None, old, mine, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in {"replace", "insert"}:
            for offset, line in enumerate(mine[j1:j2]):
                if _meaningful(line):
                    added[line] += 1
                    first_line.setdefault(line, j1 + offset + 1)
        if tag in {"replace", "delete"}:
            removed.update(line for line in old[i1:i2] if _meaningful(line))
    moved = added & removed  # lines the user only moved are neither added nor removed
    added, removed = added - moved, removed - moved
    have, had = Counter(now), Counter(mine)
    lost = [
        LostEdit(
            name, f"line {first_line[line]}", shown(line.strip()), "(missing)", "your line is gone"
        )
        for line, count in added.items()
        if have[line] < count
    ]
    lost += [
        LostEdit(
            name, "", "(line removed by you)", shown(line.strip()), "the update brought it back"
        )
        for line in removed
        if have[line] > had[line]
    ]
    return lost


# --- Files ---------------------------------------------------------------------------------
def _text(data: bytes | None) -> str | None:
    if data is None or b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def compare_file(
    name: str, base: bytes | None, before: bytes | None, after: bytes | None
) -> list[LostEdit]:
    """Lost edits in one file, given its bytes in the base rendering, in the project
    before the update and after it (None: the file does not exist there)."""
    if before in (after, base):
        return []  # untouched by the update, or not edited by the user
    if before is None:  # the user deleted it
        return [LostEdit(name, "", "(deleted by you)", "(back)", "the update re-created the file")]
    if after is None:
        return [LostEdit(name, "", "(your edited file)", "(deleted)", "the update removed it")]
    texts = [_text(before), _text(after)]
    if texts[0] is None or texts[1] is None:
        return [LostEdit(name, "", "(your version)", "(replaced)", "binary file replaced")]
    base_text = _text(base)
    if name.lower().endswith(STRUCTURED):
        return compare_structured(name, base_text, texts[0], texts[1])
    return compare_lines(name, base_text, texts[0], texts[1])


# --- Answers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnswerChanges:
    """What the update was told to change in the answers, and what the template declared."""

    #: Answers given for this update (--data) and computed by declared renames.
    given: Mapping[str, Any]
    #: Declared renames: old question -> new question(s).
    renamed: Mapping[str, list[str]]
    #: Questions the template declared removed, by version.
    removed: Mapping[str, str]
    #: Questions of the new version that do not apply to the project any more.
    not_applicable: Iterable[str] = ()
    #: The old template's default for each old question (an answer equal to it was never
    #: chosen by the user).
    old_defaults: Mapping[str, Any] | None = None


def compare_answers(
    name: str, before: Mapping[str, Any], after: Mapping[str, Any], changes: AnswerChanges
) -> tuple[list[LostEdit], list[str]]:
    """Answers the update lost, and notes on those it dropped on purpose."""
    lost: list[LostEdit] = []
    notes: list[str] = []
    skipped = set(changes.not_applicable)
    defaults = changes.old_defaults or {}
    for key, value in before.items():
        if key.startswith("_") or key in changes.given:
            continue
        if key in after:
            if same(after[key], value):
                continue
            if key in defaults and same(defaults[key], value):
                notes.append(
                    f"answer {key} follows its default: {shown(after[key])} (it was the old "
                    f"default, {shown(value)})"
                )
            else:
                lost.append(
                    LostEdit(
                        name,
                        key,
                        shown(value),
                        shown(after[key]),
                        "answer replaced: the new template no longer accepts it",
                    )
                )
            continue
        if key in changes.renamed:
            continue  # carried over by a declared rename (said before the update)
        if key in changes.removed:
            notes.append(
                f"answer {key} = {shown(value)} dropped: the template removed the question in "
                f"{changes.removed[key]}"
            )
        elif key in skipped:
            notes.append(f"answer {key} = {shown(value)} no longer applies")
        elif key in defaults and same(defaults[key], value):
            notes.append(f"answer {key} dropped (it was the old default, {shown(value)})")
        else:
            lost.append(
                LostEdit(
                    name,
                    key,
                    shown(value),
                    "(missing)",
                    "answer dropped: the new template has no such question (renamed without "
                    "a declared rename?)",
                )
            )
    return lost, notes
