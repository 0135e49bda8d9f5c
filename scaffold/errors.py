"""One exception hierarchy, each error carrying its documented process exit code.

Messages are one line: what failed, and the fix. The CLI prints them; the core never does.
Secrets (the endpoint key, Authorization values) are masked in messages and details.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (documented in the README)."""

    OK = 0
    USAGE = 2  #: bad command line or bad answers; nothing was written
    TEMPLATE = 3  #: the template could not be found, read or rendered
    PROJECT = 4  #: the project on disk is missing files or has unreadable YAML
    DOCKER = 5  #: Docker is unreachable or the image build failed
    NOT_READY = 6  #: the container exited or never became ready
    SMOKE = 7  #: the container was ready but the smoke test failed
    UPDATE_CONFLICT = 8  #: an update left conflicts to resolve
    GIT = 9  #: git is missing, or the project is not a clean git checkout
    OUTDATED = 10  #: `scaffold status`: a project is behind its template
    INVALID = 11  #: `scaffold validate` (or the check before `run`) found errors
    WRITE = 12  #: files could not be written (disk full, read-only); nothing was left behind
    AZURE = 13  #: azure-ai-ml missing, sign-in failed, or Azure refused a request
    DEPLOY_FAILED = 14  #: the Azure deployment failed or timed out (logs and likely cause shown)
    EDITS_LOST = 15  #: an update did not keep some of the user's edits or answers (listed)
    UNCHECKED = 16  #: `status`/`update --all`: some projects could not be checked or updated
    INTERRUPTED = 130  #: Ctrl-C (SIGINT)
    TERMINATED = 143  #: SIGTERM (CI cancellation, `timeout`, an IDE's stop button)


class ScaffoldError(Exception):
    """Base of every error scaffold reports to users."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, details: str = "") -> None:
        from scaffold.redact import redact

        message = redact(message)
        super().__init__(message)
        self.message = message
        #: Extra text (e.g. container logs) shown after the one-line message; secrets and
        #: Authorization values are masked in both (scaffold.redact).
        self.details = redact(details)


class UsageError(ScaffoldError):
    """Bad arguments or answers."""

    exit_code = ExitCode.USAGE


class TemplateError(ScaffoldError):
    """The template is missing, broken, or failed to render."""

    exit_code = ExitCode.TEMPLATE


class ProjectError(ScaffoldError):
    """The project folder lacks a file or holds YAML scaffold cannot use."""

    exit_code = ExitCode.PROJECT


class DockerError(ScaffoldError):
    """Docker is unreachable, or building or starting the image failed."""

    exit_code = ExitCode.DOCKER


class NotReadyError(ScaffoldError):
    """The container exited or did not become ready within the probe budget."""

    exit_code = ExitCode.NOT_READY


class SmokeTestError(ScaffoldError):
    """The smoke test failed against a ready container."""

    exit_code = ExitCode.SMOKE


class UpdateConflictError(ScaffoldError):
    """An update finished but left conflicts in the project."""

    exit_code = ExitCode.UPDATE_CONFLICT


class EditsLost(ScaffoldError):
    """An update finished but did not keep some of the user's edits or answers (the
    details list them by file and key with the user's value), or could not check that."""

    exit_code = ExitCode.EDITS_LOST


class ValidationFailed(ScaffoldError):
    """The project has problems that would fail at deploy time."""

    exit_code = ExitCode.INVALID


class WriteError(ScaffoldError):
    """The file system refused a write (disk full, read-only, no permission)."""

    exit_code = ExitCode.WRITE


class GitError(ScaffoldError):
    """git is missing, failed, or the project is not a clean git repository."""

    exit_code = ExitCode.GIT


class AzureError(ScaffoldError):
    """azure-ai-ml is not installed, signing in failed, or Azure refused a request."""

    exit_code = ExitCode.AZURE


class DeploymentFailed(ScaffoldError):
    """The deployment on Azure failed or did not finish in time (details: logs, cause)."""

    exit_code = ExitCode.DEPLOY_FAILED


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: unwinds like Ctrl-C (so every `finally` cleans up) and
    carries the exit code the CLI reports (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, note: str = "") -> None:
        super().__init__(signum)
        self.signum = signum
        #: What was done about the interrupted work, for the user (e.g. "the project was
        #: restored"); "" when there was nothing to undo.
        self.note = note

    @property
    def exit_code(self) -> ExitCode:
        """128 + the signal number, as a shell reports a process killed by it."""
        return ExitCode.TERMINATED if self.signum == 15 else ExitCode.INTERRUPTED
