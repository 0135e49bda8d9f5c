"""Command line: parse, call one core function, render its result, map errors to exit codes.

One module per group of commands, each adding its parsers and setting a `handler(args,
console) -> int` on them: `generate` (new, servers), `local` (run, serve, loadtest,
probe-tune, clean), `validate`, `template` (update, status, template init) and `azure`
(deploy, rollout, smoke, logs, delete); `common` holds what they share. This module builds the
parser and maps errors to exit codes.

Exit codes: 0 ok, 2 usage/bad answers, 3 template, 4 project files, 5 Docker, 6 container
not ready, 7 smoke test failed, 8 update conflicts, 9 git, 10 behind template (status),
11 validation errors, 12 cannot write (disk full, read-only), 13 Azure (SDK missing,
sign-in, request refused), 14 Azure deployment failed or timed out, 15 an update lost
edits or answers (listed), 16 status/update --all: some projects could not be checked or
updated, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from scaffold import __version__, signals
from scaffold.cli import azure, deployment, generate, local, template, validate
from scaffold.console import NORMAL, QUIET, VERBOSE, Console
from scaffold.errors import ExitCode, Interrupted, ScaffoldError, UsageError

EPILOG = """\
exit codes: 0 ok, 2 usage or invalid answers, 3 template problem, 4 project files,
  5 Docker unavailable or build failed, 6 container not ready, 7 smoke test failed,
  8 update left conflicts, 9 git problem, 10 a project is behind its template (status),
  11 validation found errors, 12 cannot write (disk full, read-only),
  13 Azure problem (SDK, sign-in, refused request), 14 Azure deployment failed or timed out,
  15 an update did not keep some of your edits (listed), 16 some projects of a folder
  could not be checked or updated (status, update --all),
  130 interrupted (Ctrl-C), 143 terminated (SIGTERM)

examples:
  scaffold new my-endpoint                               # asks the questions
  scaffold new --server plumber --defaults my-endpoint   # no questions
  scaffold validate my-endpoint                          # find deploy-time failures now
  scaffold run my-endpoint                               # build, run like Azure, smoke-test
  scaffold serve --reload my-endpoint                    # keep it up, restart on edits
  scaffold loadtest --rps 50 my-endpoint                 # size concurrency and instances
  scaffold probe-tune --apply my-endpoint                # probe settings from real starts
  scaffold deploy --dry-run my-endpoint                  # the azure-ai-ml entities, as YAML
  scaffold deploy my-endpoint                            # deploy to Azure ML, then smoke
  scaffold rollout --to green my-endpoint                # next version step by step, rollback
  scaffold deployment add green --model m2.pkl my-endpoint  # a second deployment
  scaffold run --deployment green my-endpoint            # run one deployment
  scaffold update my-endpoint                            # newer template, edits kept
  scaffold update --all ~/endpoints                      # one branch + commit per project
  scaffold status ~/endpoints --json                     # template drift of many projects
  scaffold template init ~/team-template                 # start a team starter template
"""


def _cleaned_up(arguments: Sequence[str]) -> str:
    """What an interrupted command left as it was, for the one line."""
    if "new" in arguments[:1]:
        return "the project was not created (its staging folder was removed)"
    return "every container scaffold started was removed"


def _unexpected(error: BaseException) -> ScaffoldError | None:
    """The one-line error for a low-level failure that escaped a command, or None."""
    from scaffold.errors import from_os_error, from_unicode_error

    if isinstance(error, OSError):
        return from_os_error(error)
    if isinstance(error, UnicodeError):
        return from_unicode_error(error)
    if isinstance(error, RecursionError):
        return UsageError(
            "an input nests too deeply to be read (a file or answer with thousands of "
            "levels); simplify it"
        )
    if str(error).startswith("Symlink loop"):  # pathlib.Path.resolve() on a link loop
        return UsageError(f"{error}: a symbolic link points to itself; fix or remove it")
    return None


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, list[str]]:
    """The argument parser, and the template questions that got a `new` flag (loaded only
    for `new`)."""
    parser = argparse.ArgumentParser(
        prog="scaffold",
        description="Generate, validate, run, smoke-test and update Azure ML managed online "
        "endpoint projects that serve a model from a custom container.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scaffold {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    questions = generate.add_parsers(sub, argv)
    local.add_parsers(sub)
    validate.add_parsers(sub)
    template.add_parsers(sub)
    azure.add_parsers(sub)
    deployment.add_parsers(sub)
    generate.add_servers_parser(sub)
    return parser, questions


def main(argv: Sequence[str] | None = None, *, azure: dict[str, Any] | None = None) -> int:
    """Entry point of the `scaffold` command; returns the exit code.

    Without `argv` (the console script and `python -m scaffold`: the process exits right
    after), SIGINT and SIGTERM are ignored from the moment the command has finished
    (`signals.hold_until_exit`), so a signal during the interpreter's shutdown cannot turn
    a finished command into a killed process. With `argv` (library callers, tests) the
    caller's signal handling is left alone afterwards.

    `azure`: keyword arguments for `scaffold.workspace.connect` (a credential, MLClient
    options such as a custom cloud), for library callers and tests.
    """
    program = argv is None
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(arguments, azure, program)
    except KeyboardInterrupt as late:  # landed while an error was being reported
        return _exit_code(late)
    finally:
        if program:
            signals.hold_until_exit()


def _run(arguments: list[str], azure: dict[str, Any] | None, program: bool) -> int:
    """Parse, run the command, map its errors to exit codes. Once the outcome is known,
    `signals.finish()`: in the program, a later signal no longer changes it."""
    console = Console()
    signals.install(program=program)
    try:
        parser, _ = build_parser(arguments)
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.print_help()
            return ExitCode.USAGE
        quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
        console.level = QUIET if quiet else VERBOSE if verbose else NORMAL
        args.azure_options = dict(azure or {})
        code: int = args.handler(args, console)
        signals.finish()
        return code
    except ScaffoldError as error:
        if signals.received() is not None:  # a failure the interrupt caused
            return _interrupted(Interrupted(signals.received() or 2), console, arguments)
        signals.finish()
        console.error(error)
        return error.exit_code
    except (OSError, UnicodeError, RecursionError, RuntimeError) as error:
        # A file-system or decoding failure the command did not expect at that point: still
        # one line with the fix and a documented code, never a traceback (SCAFFOLD_DEBUG=1
        # shows it). Other exceptions are bugs and stay loud.
        if signals.received() is not None:  # a failure the interrupt caused
            return _interrupted(Interrupted(signals.received() or 2), console, arguments)
        mapped = _unexpected(error)
        if mapped is None or os.environ.get("SCAFFOLD_DEBUG"):
            raise
        signals.finish()
        console.error(mapped)
        return mapped.exit_code
    except KeyboardInterrupt as stopped:
        return _interrupted(stopped, console, arguments)
    except Exception:
        # An unexpected error stays loud (a traceback), unless a signal caused it: an
        # interrupt landing in an `import` or inside a library surfaces as another error.
        if signals.received() is None:
            raise
        return _interrupted(Interrupted(signals.received() or 2), console, arguments)


def _exit_code(stopped: KeyboardInterrupt) -> int:
    """130 (SIGINT, Ctrl-C) or 143 (SIGTERM)."""
    return stopped.exit_code if isinstance(stopped, Interrupted) else ExitCode.INTERRUPTED


def _interrupted(
    stopped: KeyboardInterrupt, console: Console, arguments: Sequence[str] = ()
) -> int:
    """Report an interrupt in one line; its exit code (130 SIGINT, 143 SIGTERM)."""
    signals.finish()
    code = _exit_code(stopped)
    why = "terminated (SIGTERM)" if code == ExitCode.TERMINATED else "interrupted"
    note = stopped.note if isinstance(stopped, Interrupted) and stopped.note else ""
    console.error(UsageError(f"{why}; {note or _cleaned_up(arguments)}"))
    return code
