"""`scaffold new` (one flag per template question) and `scaffold servers`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scaffold.cli.common import add_common, parse_data
from scaffold.console import Console
from scaffold.errors import ExitCode, UsageError
from scaffold.servers import SERVERS

SERVER_HELP = "; ".join(f"{s.name}: {s.label}" for s in SERVERS.values())
MODEL_HELP = ", ".join(f"{s.name}: {s.model_formats}" for s in SERVERS.values() if s.model_adapter)
SEVERAL_HELP = ", ".join(
    f"{s.name} by {'route' if s.several_models.chosen_by == 'path' else 'the request'}"
    for s in SERVERS.values()
    if s.several_models.supported
)


def add_parsers(sub: Any, argv: Sequence[str]) -> list[str]:
    """`new`; returns the template questions that got a flag (loaded only when `new` is the
    command: reading copier.yml costs time every other command would pay)."""
    new = sub.add_parser(
        "new",
        help="generate a project from the template",
        description="Generate a project (Dockerfile, endpoint.yml, deployment.yml, smoke test, "
        "sample model and request, README). Asks on a terminal only what has no answer; "
        "never asks without a terminal.",
    )
    new.add_argument("dest", type=Path, help="folder to create")
    new.add_argument(
        "--defaults",
        action="store_true",
        help="use defaults for every unanswered question instead of asking",
    )
    new.add_argument(
        "--data",
        "-d",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer a question (repeatable), e.g. --data endpoint_name=demo-ep",
    )
    new.add_argument("--data-file", type=Path, help="YAML file of answers")
    new.add_argument(
        "--model",
        metavar="PATH_OR_REF",
        action="append",
        help="serve your own model instead of the sample, configured from the model itself "
        f"(needs --server; {MODEL_HELP}), or reference a "
        "registered model: azureml:NAME:VERSION or azureml:NAME@latest (not copied). "
        f"Repeat it to serve several models in one deployment ({SEVERAL_HELP}); "
        "NAME=PATH names one",
    )
    new.add_argument(
        "--model-python",
        metavar="PATH",
        help="the Python of your model's own environment (e.g. the venv it was trained in): "
        "the model is run there to record the sample response, and its libraries are pinned "
        "to the versions found there",
    )
    new.add_argument(
        "--model-inspect",
        choices=("auto", "here", "image", "none"),
        default="auto",
        help="where the model may run to record its sample response: auto (default: "
        "--model-python, else scaffold's own environment when it has the versions the model "
        "records, else the project's own image with Docker), here, image, or none",
    )
    new.add_argument(
        "--large-files",
        choices=("ignore", "lfs"),
        default=None,
        help="how model files of at least SCAFFOLD_LARGE_FILE_BYTES (default 50 MiB) are kept "
        "out of git: ignore (default: listed in .gitignore, kept in the folder for run and "
        "deploy) or lfs (tracked with Git LFS, which keeps its own copy); default from "
        "SCAFFOLD_LARGE_FILES",
    )
    new.add_argument(
        "--template",
        help="template path or git URL (default: bundled template; or set SCAFFOLD_TEMPLATE)",
    )
    new.add_argument("--vcs-ref", help="template version (git tag) to use")
    new.add_argument(
        "--overwrite",
        action="store_true",
        help="allow a non-empty destination (same-named files are replaced)",
    )
    new.add_argument(
        "--no-git",
        action="store_true",
        help="do not make the project a git repository (updates need one)",
    )
    add_common(new)
    is_new = any(arg == "new" for arg in argv[:1]) or (
        len(argv) > 1 and argv[0].startswith("-") and "new" in argv
    )
    questions = _question_flags(new) if is_new else []
    if not is_new:
        new.add_argument("--server", help=SERVER_HELP)
    new.set_defaults(handler=_cmd_new, question_names=questions)
    return questions


def add_servers_parser(sub: Any) -> None:
    """`servers`."""
    servers = sub.add_parser("servers", help="list the supported model servers")
    add_common(servers)
    servers.set_defaults(handler=_cmd_servers)


def _question_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Add one --flag per template question (full parity with the questionnaire)."""
    from scaffold.template_source import load_questions

    group = parser.add_argument_group(
        "template questions",
        "each answers one question; unanswered ones are asked on a "
        "terminal or take their defaults (--defaults, or no terminal)",
    )
    names = []
    for name, spec in load_questions().items():
        if spec.get("when") is False:
            continue  # computed values, never asked
        choices = spec.get("choices")
        values = list(choices.values()) if isinstance(choices, dict) else choices
        help_text = str(spec.get("help", name))
        if name == "server":
            help_text = f"{help_text} ({SERVER_HELP})"
        elif "default" in spec and "{{" not in str(spec["default"]):
            help_text += f" (default: {spec['default']})"
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"q_{name}",
            metavar=None if values else "VALUE",
            choices=values,
            help=help_text,
        )
        names.append(name)
    return names


def _answers(args: argparse.Namespace, questions: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.data_file is not None:
        from scaffold.answers import load_answers_file

        data.update(load_answers_file(args.data_file))
    data.update(parse_data(args.data))
    for name in questions:
        value = getattr(args, f"q_{name}", None)
        if value is not None:
            data[name] = value
    return data


def _cmd_new(args: argparse.Namespace, console: Console) -> int:
    import os

    from scaffold.generate import new_project

    interactive = not args.defaults and sys.stdin.isatty() and sys.stdout.isatty()
    template = args.template or os.environ.get("SCAFFOLD_TEMPLATE") or None
    data, model = _answers(args, args.question_names), args.model
    if interactive and template is None and args.vcs_ref is None:
        data, model = _questionnaire(args, console, data)
        interactive = False  # every question is answered: copier asks nothing
    if model is None and (args.model_python or args.model_inspect != "auto"):
        raise UsageError("--model-python and --model-inspect need --model PATH")
    result = new_project(
        args.dest,
        data,
        template=template,
        vcs_ref=args.vcs_ref,
        interactive=interactive,
        overwrite=args.overwrite,
        git_init=not args.no_git,
        model=model,
        model_python=args.model_python,
        model_inspect=args.model_inspect,
        progress=console.step,
        large_files=args.large_files,
        flags=set(args.question_names) | {"server"},
    )
    server = result.answers.get("server", "?")
    for note in result.notes:
        console.result(f"note: {note}")
    console.step(f"Wrote {len(result.files)} files from template {result.template_version}")
    for name in result.files:
        console.detail(name)
    console.result(f"Created {server} project {result.path}")
    console.result(f"Next: scaffold run {result.path}")
    return ExitCode.OK


def _questionnaire(
    args: argparse.Namespace, console: Console, data: dict[str, Any]
) -> tuple[dict[str, Any], str | list[str] | None]:
    """Ask, on the terminal, every question the flags did not answer (the bundled
    template's, and the user's own model after the server), each checked as it is typed."""
    from scaffold import usermodel
    from scaffold.answers import check_answers
    from scaffold.generate import check_destination
    from scaffold.questionnaire import Questionnaire
    from scaffold.template_source import load_questions

    dest = args.dest.expanduser().resolve()
    check_destination(dest, args.overwrite)
    questions = load_questions()
    check_answers(questions, data)
    models: list[str] = list(args.model or [])
    prepare: Any = usermodel.prepare
    if len(models) > 1:  # several models: read together, once the server is known
        from scaffold.usermodel import several

        def prepare(_model: str, answers: Any) -> Any:
            return several.prepare(models, answers)

    asking = Questionnaire(
        questions,
        dict(data),
        dest,
        ask_model=not models,
        prepare_model=prepare,
        model=models[0] if models else None,
    )
    refused = ""
    while (question := asking.next_question()) is not None:
        error = asking.answer(question, console.ask(question, again=refused == question.name))
        refused = question.name if error else ""
        if error:
            console.ask_error(error)
    if len(models) > 1:
        return asking.answers, models
    return asking.answers, asking.model or (models[0] if models else None)


def _cmd_servers(_args: argparse.Namespace, console: Console) -> int:
    for spec in SERVERS.values():
        console.result(
            f"{spec.name:<10} {spec.label} — port {spec.port}, liveness {spec.liveness}, "
            f"readiness {spec.readiness}, scoring {spec.scoring}"
            + (
                f" (model name {spec.served_model_name}: --served-model-name)"
                if spec.served_model_name
                else ""
            )
        )
    return ExitCode.OK
