"""The schema step of `scaffold validate`: azure-ai-ml's own loaders (imported lazily, about
3 s), their messages rewritten into one problem per underlying issue."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scaffold.validate.checks import key_problems
from scaffold.validate.model import (
    DEPLOYMENT_SECTIONS,
    ENDPOINT_SECTIONS,
    SCHEMA_MISSING_NOTE,
    Context,
    Mapping,
    Problem,
    Sections,
)


# --- Schema step (azure-ai-ml) -----------------------------------------------------------------
def schema_step(ctx: Context) -> tuple[bool, str]:
    try:
        loaders, version = _sdk_loaders()
    except ImportError:
        return False, SCHEMA_MISSING_NOTE
    targets = (
        ("deployment", ctx.deployment_file, ctx.deployment, DEPLOYMENT_SECTIONS),
        ("endpoint", ctx.endpoint_file, ctx.endpoint, ENDPOINT_SECTIONS),
    )
    with tempfile.TemporaryDirectory(prefix="scaffold-validate-") as scratch:
        for kind, file, data, sections in targets:
            if data is None:
                continue
            source = (
                _sdk_input(ctx, data, Path(scratch))
                if kind == "deployment"
                else _dump(_named(data, "endpoint-name"), Path(scratch) / "endpoint.yml")
            )
            if any(p.file == file and p.code == "schema.preview_format" for p in ctx.problems):
                continue  # a file in the 2021 preview format: the SDK would only add noise
            error = _sdk_load(loaders[kind], source)
            filled = _placeholder_keys(ctx, data)
            for problem in sdk_problems(error, file, sections) if error else []:
                if (
                    not ctx.has(problem.file, problem.key)
                    and not _about(problem.key, filled)
                    and not _reported_below(ctx, problem)
                ):
                    ctx.problems.append(problem)
    return True, f"checked with azure-ai-ml {version}"


def _reported_below(ctx: Context, problem: Problem) -> bool:
    """Whether a missing path the SDK reports at a section (`environment` or `model`: No such
    file) is already reported by the SDK-free checks at a key in it (environment.conda_file,
    model.path)."""
    below = f"{problem.key}."
    return problem.code == "schema.path" and any(
        p.file == problem.file
        and p.code.startswith("path.")
        and (p.key == problem.key or p.key.startswith(below))
        for p in ctx.problems
    )


def _placeholder_keys(ctx: Context, data: Mapping) -> list[str]:
    """Key paths whose value is a placeholder a script fills in (reported once, as such)."""
    from scaffold.validate.checks import scalars

    return [key for key, value in scalars(data, "") if ctx.is_placeholder(value)]


def _about(key: str, keys: list[str]) -> bool:
    """Whether a problem at `key` is about one of `keys` (the same, a parent or a child)."""
    return any(
        key == other or other.startswith(f"{key}.") or key.startswith(f"{other}.") for other in keys
    )


def _sdk_input(ctx: Context, data: Mapping, scratch: Path) -> Path:
    """A copy of deployment.yml for the SDK, with no folder it would hash byte by byte.

    azure-ai-ml hashes local model.path and environment.build.path folders while loading
    (a multi-GB model takes as long as reading it). Existing ones point at an empty stand-in
    (their existence is checked above); other relative paths become absolute.
    """
    import copy

    data = copy.deepcopy(data)
    stub = scratch / "empty"
    stub.mkdir(exist_ok=True)
    (scratch / "empty-file").touch()
    for parent, key, hashed in _local_path_keys(data):
        local = ctx.local(parent[key])
        if local is None:
            continue
        if hashed and local.exists():
            parent[key] = str(stub if local.is_dir() else scratch / "empty-file")
        else:
            parent[key] = str(local)
    if "endpoint_name" not in data:  # deploy scripts pass it: --endpoint-name (a warning)
        named = (ctx.endpoint or {}).get("name")
        data["endpoint_name"] = named if isinstance(named, str) else "endpoint-name"
    return _dump(_named(data, "deployment-name"), scratch / "deployment.yml")


def _named(data: Mapping, name: str) -> Mapping:
    """The mapping with a stand-in name when it has none: `az ml ... create --name N`
    gives it on the command line (checks.check_names reports when nothing does)."""
    return data if "name" in data else {"name": name, **data}


def _dump(data: Mapping, target: Path) -> Path:
    """Write the parsed mapping for the SDK: `{{PLACEHOLDER}}` values that are not YAML as
    written (Microsoft's example templates) are strings in it."""
    import yaml

    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _local_path_keys(data: Mapping) -> Iterator[tuple[Mapping, str, bool]]:
    """(mapping, key, hashed by the SDK) of each deployment.yml value that is a local path."""
    env = data.get("environment")
    candidates = (
        (data.get("model"), "path", True),
        (data.get("code_configuration"), "code", False),
        (env.get("build") if isinstance(env, dict) else None, "path", True),
        (env, "conda_file", False),
    )
    for parent, key, hashed in candidates:
        if isinstance(parent, dict) and isinstance(parent.get(key), str):
            yield parent, key, hashed


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _sdk_loaders() -> tuple[dict[str, Any], str]:
    from importlib.metadata import PackageNotFoundError, version

    with _quiet():
        from azure.ai.ml import load_online_deployment, load_online_endpoint
    try:
        installed = version("azure-ai-ml")
    except PackageNotFoundError:  # pragma: no cover - importable but not installed as a dist
        installed = "?"
    return {"deployment": load_online_deployment, "endpoint": load_online_endpoint}, installed


def _sdk_load(loader: Any, path: Path) -> BaseException | None:
    with _quiet():
        try:
            loader(source=str(path))
        except Exception as error:  # the SDK raises many types; all become problems
            return error
    return None


def _messages(error: BaseException) -> Any:
    """The marshmallow error tree behind an SDK exception, or None."""
    for candidate in (error.__cause__, error):
        messages = getattr(candidate, "messages", None)
        if isinstance(messages, dict):
            return messages
    match = re.search(r"failed:\s*(\{.*\})\s*\n", str(error), re.S)
    if match:
        try:
            return json.loads(match.group(1))
        except ValueError:
            return None
    return None


def sdk_problems(
    error: BaseException,
    file: str,
    sections: Sections | None = None,
) -> list[Problem]:
    """Rewrite an azure-ai-ml load error into one problem per underlying issue.

    Union fields (environment, model) list every branch's errors; only the branch that
    matches the input is kept, so `scoring_rout` gives one problem, not four.
    """
    tree = _messages(error)
    if tree is None:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return [
            Problem(
                "error",
                "schema.error",
                file,
                "",
                f"azure-ai-ml cannot load {file}: {text}",
                "Fix the file so `az ml` can load it",
            )
        ]
    leaves = list(_walk(tree, ()))
    by_section: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for path, message in leaves:
        by_section.setdefault(path[:-1], []).append((path[-1] if path else "", message))
    problems: list[Problem] = []
    for section, items in by_section.items():
        problems += _section_problems(file, section, items, sections or {})
    return problems


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, path if key == "_schema" else (*path, str(key)))
    elif isinstance(node, list):
        yield from ((path, m) for m in node if isinstance(m, str))
        # a union's branches: mappings of field errors, or plain messages of one branch
        # ("No such file or directory: .../conda.yaml")
        messages = [b for b in node if isinstance(b, list) and all(isinstance(m, str) for m in b)]
        branches = [b for b in node if isinstance(b, dict)] + [{"_schema": b} for b in messages]
        if branches:
            yield from _walk(_best_branch(branches), path)
    elif isinstance(node, str):
        yield path, node


def _best_branch(branches: list[Mapping]) -> Mapping:
    """The union branch that describes the input: not a 'use azureml:' hint, fewest errors."""

    def score(index: int) -> tuple[bool, bool, int, int]:
        leaves = list(_walk(branches[index], ()))
        noise = all(
            m.startswith("In order to specify an existing") or m == "Not a valid URL."
            for _, m in leaves
        )
        # a branch that only misses fields (a registered environment's name) describes
        # another kind of input than a branch with a concrete complaint about this one
        missing_only = all(m == "Missing data for required field." for _, m in leaves)
        return noise, missing_only, len(leaves), index

    return branches[min(range(len(branches)), key=score)]


def _section_problems(
    file: str,
    section: tuple[str, ...],
    items: list[tuple[str, str]],
    sections: Sections,
) -> list[Problem]:
    dotted = ".".join(section)
    unknown = [k for k, m in items if m == "Unknown field."]
    missing = [k for k, m in items if m == "Missing data for required field."]
    known = sections.get(dotted, (frozenset(), ()))[0] | set(missing)
    problems = key_problems(file, dotted, unknown, known, (), missing) if unknown or missing else []
    for key, message in items:
        if message not in ("Unknown field.", "Missing data for required field."):
            problems.append(
                _message_problem(file, ".".join((*section, key) if key else section), message)
            )
    return problems


_TYPE_NAMES = {
    "integer": "a whole number",
    "string": "a string",
    "mapping type": "a mapping",
    "boolean": "true or false",
    "number": "a number",
    "list": "a list",
}


def _message_problem(file: str, key: str, message: str) -> Problem:
    leaf = key.rsplit(".", 1)[-1] or "value"
    typed = re.fullmatch(r"Not a valid (\w+(?: type)?)\.", message)
    choice = re.fullmatch(r"Value '(.*)' passed is not in set \[(.*)\]", message)
    if typed:
        kind = _TYPE_NAMES.get(typed.group(1), typed.group(1))
        return Problem(
            "error", "schema.type", file, key, f"`{leaf}` must be {kind}", f"Write {leaf} as {kind}"
        )
    if message == "Invalid input type." or "cannot be a string" in message:
        reference = (
            " or an azureml:<name>:<version> reference" if key in ("model", "environment") else ""
        )
        return Problem(
            "error",
            "schema.type",
            file,
            key,
            f"`{leaf}` has the wrong type",
            f"Write {leaf} as a mapping{reference}",
        )
    if choice:
        return Problem(
            "error",
            "schema.choice",
            file,
            key,
            f"`{leaf}` is `{choice.group(1)}`, not one of {choice.group(2)}",
            f"Use one of {choice.group(2)}",
        )
    if message.startswith("String does not match expected pattern"):
        return Problem(
            "error",
            "schema.pattern",
            file,
            key,
            f"`{leaf}` has invalid characters",
            "Use a letter first, then letters, digits and dashes",
        )
    if message.startswith("Can't find directory or file") or "No such file or directory" in message:
        missing = re.search(r"No such file or directory:?\s*'?([^'\s]+)", message)
        text = f"{missing.group(1)} does not exist" if missing else message.strip().splitlines()[0]
        return Problem(
            "error", "schema.path", file, key, text.rstrip("."), f"Fix {key} (relative to {file})"
        )
    first = message.strip().splitlines()[0] if message.strip() else message
    return Problem("error", "schema.invalid", file, key, first, f"Fix {key or 'the file'}")
