"""Answers given on the command line or by a caller, checked before copier sees them.

copier casts answers loosely: `int("8_000")`, `int("٨٠")` and `int(" 80 ")` are numbers to
it, any unknown string is `True` for a yes/no question, a value that is not a number fails
deep inside rendering with a traceback-like message, an answer for a question that does not
apply to the chosen server (`--data port=1234` for a server with a fixed port) is rendered
but not recorded, and an answer that names a computed value (`facts`) replaces it. Each of
these renders something other than what was answered, so scaffold refuses them first, with
one line naming the question and the fix. The copier.yml validators of the answers given
run here too (in a few milliseconds, before copier clones the template); copier runs them
again, and alone validates the answers it derives (defaults).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from scaffold import limits
from scaffold.errors import UsageError

#: Whole numbers as people write them: ASCII digits, no sign tricks, no leading zeros.
_WHOLE = re.compile(r"(0|[1-9][0-9]{0,17})\Z", re.ASCII)
#: Decimal numbers as people write them: 0.9, .5, 1, 1.0 (ASCII digits, no exponent).
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,17})?(\.[0-9]{1,17})?\Z", re.ASCII)
#: Spellings of yes/no that copier reads as booleans (anything else it would read as yes).
BOOLEANS = {
    "true": True,
    "yes": True,
    "y": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "off": False,
    "0": False,
}
#: An answer is a short value: its size once YAML aliases are expanded, and its nesting.
MAX_ANSWER = 64 << 10
MAX_ANSWER_DEPTH = 16
#: A whole answers file (--data-file), once expanded.
MAX_ANSWERS_FILE = 256 << 10


def _shown(value: Any) -> str:
    return limits.shown(value, 40)


def check_bounds(data: Mapping[str, Any]) -> None:
    """Raise UsageError for an answer too large or too deep to be an answer: a Python value
    (shared references count each time), or a string copier would parse as YAML (aliases
    expanded). Runs before anything renders an answer, for every template."""
    for name, value in data.items():
        try:
            limits.check_value(value, max_depth=MAX_ANSWER_DEPTH, max_expanded=MAX_ANSWER)
            if isinstance(value, str):  # copier parses yaml/json answers itself
                limits.check_yaml(value, max_depth=MAX_ANSWER_DEPTH, max_expanded=MAX_ANSWER)
        except limits.InputRejected as error:
            if "not valid YAML" in str(error):
                continue  # plain text, not a structure: the type checks judge it
            raise UsageError(
                f"the answer for {limits.shown(name, 40)} {error}; an answer is a short value "
                f"(at most {MAX_ANSWER >> 10} KiB, {MAX_ANSWER_DEPTH} levels deep)"
            ) from None


def load_answers_file(path: Path) -> dict[str, Any]:
    """The answers in a YAML file (`--data-file`): read at most 1 MiB, UTF-8, a mapping,
    within the bounds of `check_bounds`; UsageError with the fix otherwise."""
    try:
        loaded = limits.load_yaml_file(
            path, max_depth=MAX_ANSWER_DEPTH + 1, max_expanded=MAX_ANSWERS_FILE
        )
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(f"cannot read --data-file {path}: {reason}") from None
    except limits.InputRejected as error:
        raise UsageError(f"--data-file {path} {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        raise UsageError(f"--data-file {path} must be a YAML mapping of answers (name: value)")
    check_bounds(loaded)
    return loaded


def _check_number(name: str, kind: str, value: Any) -> None:
    """Raise UsageError unless `value` is one whole (int) or decimal (float) number."""
    if kind == "int":
        whole = isinstance(value, int) or (isinstance(value, str) and _WHOLE.match(value))
        ok = bool(whole)
    else:
        number = isinstance(value, int | float) and math.isfinite(value)
        text = isinstance(value, str) and value.strip(".") and _DECIMAL.match(value)
        ok = bool(number or text)
    if ok and not isinstance(value, bool):
        return
    example, what = ("5000", "a whole") if kind == "int" else ("0.9", "a decimal")
    raise UsageError(
        f"{name} must be {what} number written in digits (e.g. {example}), not {_shown(value)}"
    )


def _check_type(name: str, kind: str, value: Any) -> None:
    """Raise UsageError unless `value` means exactly one value of the question's type."""
    if kind in {"int", "float"}:
        _check_number(name, kind, value)
        return
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOLEANS):
            return
        raise UsageError(f"{name} must be true or false, not {_shown(value)}")
    if kind in {"yaml", "json"}:
        if not isinstance(value, str):
            return
        try:
            limits.load_yaml(value, max_depth=MAX_ANSWER_DEPTH, max_expanded=MAX_ANSWER)
        except limits.InputRejected as error:
            raise UsageError(f"{name} {error}: {_shown(value)}") from None
        return
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return
    raise UsageError(f"{name} must be text, not {_shown(value)}")


def _environment() -> Any:
    """A Jinja environment like copier's for questions (sandboxed, strict, with the
    Ansible filters such as `regex_search` that copier.yml validators use)."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
    )


def cast(kind: str, value: Any) -> Any:
    """The value an answer (already through `_check_type`) means for copier."""
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else BOOLEANS[str(value).lower()]
    if kind in {"yaml", "json"} and isinstance(value, str):
        return limits.load_yaml(value, max_depth=MAX_ANSWER_DEPTH, max_expanded=MAX_ANSWER)
    return str(value) if kind == "str" else value


def _validator_message(
    name: str, spec: Mapping[str, Any], value: Any, context: Mapping[str, Any]
) -> str:
    """What the question's copier.yml validator says about `value` ("" when it passes, or
    when it cannot be evaluated here; copier runs it again)."""
    import jinja2

    validator = spec.get("validator")
    if not isinstance(validator, str):
        return ""
    try:
        return str(_environment().from_string(validator).render({**context, name: value})).strip()
    except (jinja2.TemplateError, TypeError, ValueError):
        return ""


def computed_context(
    questions: Mapping[str, Mapping[str, Any]], answers: Mapping[str, Any]
) -> dict[str, Any]:
    """`answers` plus, in the template's order, the defaults of the questions not answered
    (computed values such as `facts` included), rendered as copier would: a default may
    use earlier answers or defaults (`facts` uses `served_model_name`). Values that fail
    to render (e.g. a default from the destination path) are left out; copier reports
    them itself."""
    import jinja2

    env = _environment()
    # A project's first deployment is rendered with the default answers file (another
    # deployment's answers, `.copier-answers.NAME.yml`, are scaffold.deployments').
    conf = answers.get("_copier_conf")
    conf = {"answers_file": ".copier-answers.yml", **(conf if isinstance(conf, Mapping) else {})}
    context = {**answers, "_copier_conf": conf}
    for name, spec in questions.items():
        if "default" not in spec or name in context:
            continue
        default = spec["default"]
        try:
            if isinstance(default, str):
                default = env.from_string(default).render(context)
                if spec.get("type") in {"yaml", "json"}:
                    default = limits.load_yaml(default)
        except (jinja2.TemplateError, TypeError, ValueError):  # InputRejected is a ValueError
            continue
        context[name] = default
    return context


def applies(spec: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether copier asks (and records) this question given the other answers."""
    import jinja2

    when = spec.get("when", True)
    if isinstance(when, bool):
        return when
    try:
        rendered = _environment().from_string(str(when)).render(dict(context)).strip().lower()
    except (jinja2.TemplateError, TypeError, ValueError):
        return True  # let copier decide (and report)
    return rendered not in {"", "false", "no", "n", "off", "0", "none", "null", "~"}


def _check_choice(name: str, spec: Mapping[str, Any], value: Any) -> None:
    """Raise UsageError when the question has fixed choices and `value` is none of them."""
    choices = spec.get("choices")
    if isinstance(choices, Mapping):
        choices = list(choices.values())
    if isinstance(choices, list) and value not in choices:
        shown = ", ".join(str(choice) for choice in choices)
        raise UsageError(f"{name} must be one of {shown}, not {_shown(value)}")


def how_to_set(name: str, flags: Collection[str] | None) -> str:
    """How the user sets question `name` on this command line: its flag when the command
    has one (`scaffold new` has one per bundled question), else `--data name=VALUE`."""
    if flags is not None and name in flags:
        return "--" + name.replace("_", "-")
    return f"--data {name}=VALUE"


def check_answers(
    questions: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, Any],
    previous: Mapping[str, Any] | None = None,
    flags: Collection[str] | None = None,
) -> None:
    """Raise UsageError (one line, naming the question) for the first answer in `data`
    that copier would render as something other than what was answered.

    Args:
        questions: the template's questions (`template_source.load_questions()`), the
            bundled template's or a team template's.
        data: the answers given (e.g. `--data KEY=VALUE`).
        previous: a project's recorded answers (on update), for questions that depend on
            earlier answers (e.g. the server).
        flags: the questions that have a flag on the command line in use (named in the
            message); the others are named as `--data NAME=VALUE`.
    """
    check_bounds(data)
    asked = [n for n, s in questions.items() if s.get("when") is not False]
    known = {**{k: v for k, v in (previous or {}).items() if not k.startswith("_")}, **data}
    context = computed_context(questions, known)
    for name, value in data.items():
        spec = questions.get(name)
        if spec is None or name.startswith("_"):
            raise UsageError(
                f"{_shown(name)} is not a question of the template; answer one of "
                f"{', '.join(asked)}"
            )
        if spec.get("when") is False:
            raise UsageError(f"{name} is computed by the template, not an answer; leave it out")
        kind = str(spec.get("type", "str"))
        _check_type(name, kind, value)
        if not applies(spec, context):
            if "answers_file" in str(spec.get("when", "")):
                raise UsageError(
                    f"{name} belongs to a project's other deployments (scaffold deployment "
                    "add sets it); leave it out"
                )
            server = known.get("server", "?")
            raise UsageError(f"{name} does not apply to server {server}; leave it out")
        _check_choice(name, spec, cast(kind, value))
        message = _validator_message(name, spec, cast(kind, value), context)
        if message:
            how = how_to_set(name, flags)
            raise UsageError(f"{name}: {' '.join(message.split())} (set it with {how})")


def check_one(
    questions: Mapping[str, Mapping[str, Any]],
    name: str,
    value: Any,
    answers: Mapping[str, Any],
) -> tuple[Any, str]:
    """Check one answer typed at a prompt, given the answers so far: (the value it means,
    "") when accepted, else (None, what is wrong in one line, without the flag hint)."""
    spec = questions[name]
    kind = str(spec.get("type", "str"))
    try:
        _check_type(name, kind, value)
        cast_value = cast(kind, value)
        _check_choice(name, spec, cast_value)
    except UsageError as error:
        return None, error.message
    context = computed_context(questions, {**answers, name: cast_value})
    message = _validator_message(name, spec, cast_value, context)
    return (None, " ".join(message.split())) if message else (cast_value, "")
