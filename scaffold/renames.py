"""Declared question renames, splits and removals of a template, applied on update.

copier stores answers by question name and drops, without a word, an answer whose
question is gone from the new template version: a renamed question resets the answer to
its default. copier's remedy, `_migrations`, runs programs and needs `--trust`; scaffold
renders templates trust-free. A template declares instead, in `copier.yml` (copier ignores
settings it does not know):

```yaml
_scaffold:
  renames:
    - version: 1.1.0          # the first version with the new name
      from: instance_size
      to: instance_type       # rename: the answer moves as it is
    - version: 2.0.0
      from: base_image        # split: each new answer from a sandboxed Jinja expression
      to:                     # over the old answers
        image_repository: "{{ base_image.rsplit(':', 1)[0] }}"
        image_tag: "{{ base_image.rsplit(':', 1)[1] }}"
  removed:
    - version: 1.2.0
      question: legacy_flag   # dropped on purpose: not reported as a lost answer
```

`scaffold update` applies the rules whose version it crosses (old < version <= new), in
version order (so `a -> b` then `b -> c` chain), to the recorded answers before copier
runs, and passes the results as answers. Plain `copier update` users get the same through
copier itself when the template keeps the old question, never asked, feeding the new
default (`ask: false`; `when: false` does not work: copier then discards the recorded
answer); see the README, "Maintaining a team template".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scaffold.errors import ScaffoldError, TemplateError

SETTING = "_scaffold"


@dataclass(frozen=True)
class Rule:
    """One declared change of the questions."""

    version: Any
    source: str
    #: New question -> None (rename: the value as it is) or a Jinja expression (split).
    targets: dict[str, str | None] = field(default_factory=dict)
    #: True for a declared removal (no targets).
    removal: bool = False


@dataclass(frozen=True)
class Applied:
    """The answers the rules computed, and what they did."""

    #: New answers to give copier.
    data: dict[str, Any] = field(default_factory=dict)
    #: Old question -> the new question(s) it became.
    renamed: dict[str, list[str]] = field(default_factory=dict)
    #: Old question -> version that removed it.
    removed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _version(value: Any, where: str) -> Any:
    from scaffold.template_repo import parse_version

    parsed = parse_version(str(value))
    if parsed is None:
        raise TemplateError(f"{where}: version {value!r} is not a PEP 440 version such as 1.1.0")
    return parsed


def load_rules(config: Mapping[str, Any], template: str = "the template") -> list[Rule]:
    """The rules declared in a copier.yml mapping (`template_source.load_copier_yml`)."""
    section = config.get(SETTING) or {}
    where = f"{template}: copier.yml {SETTING}"
    if not isinstance(section, Mapping):
        raise TemplateError(f"{where} must be a mapping with renames and removed")
    rules: list[Rule] = []
    for index, entry in enumerate(section.get("renames") or []):
        here = f"{where}.renames[{index}]"
        if not isinstance(entry, Mapping) or not {"version", "from", "to"} <= set(entry):
            raise TemplateError(f"{here} needs version, from and to")
        target = entry["to"]
        if isinstance(target, str):
            targets: dict[str, str | None] = {target: None}
        elif isinstance(target, Mapping) and target:
            targets = {str(k): str(v) for k, v in target.items()}
        else:
            raise TemplateError(f"{here}: to must be a question name or a mapping of them")
        rules.append(Rule(_version(entry["version"], here), str(entry["from"]), targets))
    for index, entry in enumerate(section.get("removed") or []):
        here = f"{where}.removed[{index}]"
        if not isinstance(entry, Mapping) or not {"version", "question"} <= set(entry):
            raise TemplateError(f"{here} needs version and question")
        rules.append(Rule(_version(entry["version"], here), str(entry["question"]), removal=True))
    return sorted(rules, key=lambda rule: rule.version)


def apply(
    rules: list[Rule],
    answers: Mapping[str, Any],
    old: Any,
    new: Any,
    questions: Mapping[str, Mapping[str, Any]],
) -> Applied:
    """Apply the rules crossed between versions `old` (exclusive; None: all) and `new`
    (inclusive) to the recorded `answers`; `questions` are the new version's."""
    working = {k: v for k, v in answers.items() if not k.startswith("_")}
    result = Applied()
    for rule in rules:
        crossed = (old is None or old < rule.version) and (new is None or rule.version <= new)
        if not crossed or rule.source not in working:
            continue
        if rule.removal:
            working.pop(rule.source)
            result.removed[rule.source] = str(rule.version)
            continue
        value = working[rule.source]
        made = []
        for target, expression in rule.targets.items():
            if target in answers and target not in result.data:
                continue  # already answered (e.g. kept by the template's own bridge)
            computed = value if expression is None else _render(rule, target, expression, working)
            computed = _typed(rule, target, computed, questions)
            working[target] = result.data[target] = computed
            made.append(target)
        if rule.source not in rule.targets:
            working.pop(rule.source)
        if made:
            result.renamed[rule.source] = made
            shown = ", ".join(f"{t} = {result.data[t]!r}" for t in made)
            result.notes.append(
                f"answer {rule.source} carried over as {shown} (template {rule.version})"
            )
    return result


def _render(rule: Rule, target: str, expression: str, context: Mapping[str, Any]) -> Any:
    import jinja2

    from scaffold.answers import _environment

    try:
        return _environment().from_string(expression).render(dict(context)).strip()
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise TemplateError(
            f"the template's rename rule {rule.source} -> {target} ({rule.version}) failed on "
            f"your answer: {error}; pass --data {target}=VALUE"
        ) from None


def _typed(rule: Rule, target: str, value: Any, questions: Mapping[str, Mapping[str, Any]]) -> Any:
    from scaffold.answers import _check_type, cast

    spec = questions.get(target)
    if spec is None:
        raise TemplateError(
            f"the template's rename rule {rule.source} -> {target} ({rule.version}) names no "
            "question of the new version; fix copier.yml _scaffold.renames"
        )
    kind = str(spec.get("type", "str"))
    if not isinstance(value, str):
        return value
    try:
        _check_type(target, kind, value)
    except ScaffoldError as error:
        raise TemplateError(
            f"the template's rename rule {rule.source} -> {target} ({rule.version}) made an "
            f"answer that does not fit: {error.message}; pass --data {target}=VALUE"
        ) from None
    return cast(kind, value)
