"""What Azure says went wrong, as facts: the error codes and messages of a failed request or
long-running operation, and the instance status block and container events of a
deployment's log, parsed from every shape the service and azure-ai-ml really produce.

The shapes (see /work/shared/reference/azure-errors.md and the corpus in
tests/diagnose_corpus.yml):

- an ARM error body, `{"error": {"code", "message", "details": [...]}}`, where the cause is
  often only in `details[]`, sometimes as a JSON string inside a message (`InferencingClient
  HttpRequest error, error detail: {"errors": {"VmSize": ["Not enough quota ..."]}}`);
- azure-core's rendering of it: `(Code) message`, `Code: X`, `Message: Y`, `Exception
  Details: (Code) message`;
- a failed long-running operation, rendered with code `None` and the code inside the
  message: `(None) ResourceNotReady: User container has crashed ...`;
- the troubleshooting anchor `https://aka.ms/oe-tsg#error-outofquota`, which names the code;
- getLogs: an `Instance status:` block (`ModelDownload: Succeeded`, ...) and `Container
  events:` lines (`Kind: Pod, Name: LivenessProbeFailed, Type: Warning, Time: ...,
  Message: ...`); a step that `Succeeded` is not a failure, so the log text the patterns of
  `scaffold.diagnose` see has both blocks removed.

Pure functions over text, standard library only; every loop is bounded by the text's size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: The error codes Azure documents for managed online deployments (troubleshooting
#: article), plus the spellings seen in the wild. Lower-case key -> canonical spelling.
DOCUMENTED_CODES = {
    code.lower(): code
    for code in (
        "ImageBuildFailure",
        "OutOfQuota",
        "OutOfCapacity",
        "BadArgument",
        "ResourceNotReady",
        "ResourceNotFound",
        "WorkspaceManagedNetworkNotReady",
        "OperationCanceled",
        "SecretsInjectionError",
        "InternalServerError",
    )
}
DOCUMENTED_CODES["operationcancelled"] = "OperationCanceled"
#: Codes that say nothing about the cause by themselves.
GENERIC_CODES = frozenset(
    {"badrequest", "conflict", "usererror", "none", "null", "failed", "deploymentfailed", ""}
)
#: Messages that say nothing about the cause by themselves.
GENERIC_MESSAGES = (
    "the request is invalid",
    "one or more validation errors occurred",
    "operation failed or canceled",
    "at least one resource deployment operation failed",
    "internal error",
)
#: States of an instance status step that mean it failed.
FAILED_STATES = frozenset({"failed", "failure", "error", "errored", "canceled", "cancelled"})
#: Bounds: texts longer than this are cut (getLogs returns at most a few thousand lines).
MAX_TEXT = 1_000_000
MAX_JSON_BLOBS = 200
MAX_DEPTH = 8

_ANCHOR = re.compile(r"aka\.ms/oe-tsg#(?:error|err)-(?P<anchor>[a-z]+)", re.IGNORECASE)
#: azure-core's `(Code) message` (the code may be None for failed operations).
_PAREN_CODE = re.compile(r"(?:^|(?<=\s))\((?P<code>None|[A-Z][A-Za-z]+)\)[ \t]+(?P<message>[^\n]*)")
_CODE_LINE = re.compile(r"^[ \t]*Code:[ \t]*(?P<code>[A-Za-z][A-Za-z0-9_.]*)[ \t]*$", re.M)
_MESSAGE_LINE = re.compile(r"^[ \t]*Message:[ \t]*(?P<message>.+)$", re.M)
#: Codes other clients print on a line of their own: `Error Code: Conflict` (ARM deployment
#: errors in the CLI), `ERROR CODE: UserError` (azd), `Azure Error: ExpiredAuthenticationToken`
#: (msrest's CloudError), `Code=QuotaExceeded; Message=...` (Azure PowerShell).
_OTHER_CODE_LINE = re.compile(
    r"^[ \t]*(?:[\w.]+:[ \t]*)?(?:Error Code|ERROR CODE|Azure Error)[ \t]*:[ \t]*"
    r"(?P<code>[A-Za-z][A-Za-z0-9_.]*)[ \t]*$"
    r"|\bCode=(?P<code2>[A-Za-z][A-Za-z0-9_.]*);[ \t]*Message=(?P<message>[^\n]+)",
    re.M,
)
#: `'code': 'X'` / `"code": "X"` and `'message': '...'` pairs of dict-like text that is not
#: JSON: Python reprs of error bodies (`{'error': {'code': ...}}`, also as printed by
#: azureml SDK v1 and ARM deployment errors in the CLI), or JSON whose braces a CI log
#: masked (`***'error': ***'code': ...`).
_KEY_CODE = re.compile(r"""(?P<q>['"])code(?P=q)\s*:\s*(?P<v>['"])(?P<code>[A-Za-z][\w.]*)(?P=v)""")
_KEY_MESSAGE = re.compile(
    r"""(?P<q>['"])message(?P=q)\s*:\s*(?:"(?P<dq>(?:[^"\\\n]|\\.){1,2000})"|'(?P<sq>(?:[^'\\\n]|\\.){1,2000})')"""
)
#: A code at the start of a message or line: `ResourceNotReady: ...`, optionally after
#: `ERROR:` or an ISO timestamp (`2023-08-16T14:52:20Z OutOfQuota: Container ...`).
_LEADING_CODE = re.compile(
    r"(?:^|(?<=[\s\"'(]))(?:ERROR:\s*)?(?:\d{4}-\d\d-\d\dT[\d:.]+Z?\s+)?"
    r"(?P<code>[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+):[ \t]+(?P<message>[^\n]+)"
)
#: Names before a colon that are Python or SDK classes, not service error codes.
_NOT_CODES = frozenset(
    {
        "HttpResponseError",
        "ResourceNotFoundError",
        "ResourceExistsError",
        "ResourceModifiedError",
        "ClientAuthenticationError",
        "ServiceRequestError",
        "ServiceResponseError",
        "AzureError",
        "OperationFailed",
        "ValidationException",
        "MlException",
        "UserErrorException",
        "ValidationError",
        "CredentialUnavailableError",
        "OperationFailedError",
        "CloudError",
        "NotFoundError",
        "WebserviceException",
        "RequestFailedException",
        "AzureMLException",
        "LocalEndpointImageBuildError",
        "LocalEndpointNotFoundError",
        "DockerEngineNotAvailableError",
    }
)
#: A Python/.NET exception class (or `Message:` label) in front of a message: not part of
#: what Azure said (`HttpResponseError: (BadArgument) ...`, `azure.core.exceptions.
#: ResourceNotFoundError: ...`, `NotFoundError('No valid deployments ...`).
_CLASS_PREFIX = re.compile(
    r"^(?:ERROR:\s*)?(?:(?P<name>(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception))"
    r"\s*(?::|\(\s*['\"]?)\s*|Message:\s*)+"
)
_HTTP_STATUS = re.compile(
    r"(?:HTTP[ /]?(?:1\.[01] )?|status(?:[ _]?code)?[\"']?\s*[:=]\s*|Status code:\s*)"
    r"(?P<status>[1-5]\d\d)\b",
    re.IGNORECASE,
)
_ONE_WORD = re.compile(r"^[A-Za-z]+$")
_PROBE = re.compile(r"probe failed with status ?code:?\s*\d+", re.IGNORECASE)
_STATUS_HEADER = re.compile(r"^\s*Instance status:\s*$", re.IGNORECASE)
_STEP = re.compile(r"^\s*(?P<step>[A-Z][A-Za-z0-9]+)\s*:\s*(?P<state>[A-Za-z]+)\s*$")
_EVENT = re.compile(
    r"Kind:\s*(?P<kind>[^,\n]*),\s*Name:\s*(?P<name>[^,\n]*),\s*Type:\s*(?P<type>[^,\n]*),"
    r"\s*Time:\s*(?P<time>[^,\n]*),\s*Message:\s*(?P<message>[^\n]*)"
)
_EVENTS_HEADER = re.compile(r"^\s*Container events:\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Message:
    """One code and message Azure returned (top-level error, a detail, or a nested one)."""

    code: str
    text: str
    #: 0 for the top-level error; deeper for details and messages inside messages.
    depth: int = 0


@dataclass(frozen=True)
class Event:
    """One line of the `Container events:` block of a deployment log."""

    kind: str
    name: str
    type: str
    time: str
    message: str


@dataclass
class Failure:
    """Everything known about one failure, parsed (see the module docstring)."""

    messages: list[Message] = field(default_factory=list)
    #: The `Instance status:` block: step -> state (SystemSetup -> Succeeded, ...).
    status: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    #: Container -> log text without the status block and the event lines.
    logs: dict[str, str] = field(default_factory=dict)
    #: The HTTP status of the failed request, when the text names one.
    http_status: int | None = None
    #: The error text as given (redacted by the caller).
    raw: str = ""
    #: The port the deployment's routes use, when known (set by scaffold.diagnose).
    expected_port: str = ""

    @property
    def codes(self) -> list[str]:
        """Every code named, most specific first (documented codes, then the deepest)."""
        found: list[str] = []
        ranked = sorted(
            self.messages,
            key=lambda m: (m.code.lower() not in DOCUMENTED_CODES, -m.depth),
        )
        for message in ranked:
            code = canonical(message.code)
            if code and code.lower() not in GENERIC_CODES and code not in found:
                found.append(code)
        return found

    def has_code(self, *codes: str) -> bool:
        """Whether any of `codes` (any case) was named anywhere."""
        wanted = {c.lower() for c in codes}
        return any(canonical(m.code).lower() in wanted for m in self.messages)

    @property
    def message_text(self) -> str:
        """All messages and the raw error text, one per line (what message patterns see)."""
        lines = [m.text for m in self.messages if m.text]
        return "\n".join([*lines, self.raw])

    @property
    def log_text(self) -> str:
        """The logs without status block and events (what log patterns see)."""
        return "\n".join(text for text in self.logs.values() if text)

    @property
    def failed_steps(self) -> list[str]:
        """Instance status steps that failed (a `Succeeded` step never is one)."""
        return [step for step, state in self.status.items() if state.lower() in FAILED_STATES]

    @property
    def pending_steps(self) -> list[str]:
        """Steps neither succeeded nor failed (InProgress, NotStarted, ...)."""
        return [
            step
            for step, state in self.status.items()
            if state.lower() not in FAILED_STATES and state.lower() != "succeeded"
        ]

    def headline(self) -> str:
        """The most specific message, `Code: text`, without the troubleshooting link (what
        to print on one line)."""
        candidates = [m for m in self.messages if m.text and not _generic(m.text)] or [
            m for m in self.messages if m.text and canonical(m.code).lower() in DOCUMENTED_CODES
        ]
        candidates.sort(
            key=lambda m: (
                canonical(m.code).lower() not in DOCUMENTED_CODES,
                "{" in m.text,  # a wrapper around JSON that holds the real message
                _ANCHOR.search(m.text) is None,
                -m.depth,
                canonical(m.code).lower() in GENERIC_CODES,
            )
        )
        if not candidates:
            return _short(_first_line(self.raw))
        best = candidates[0]
        code = canonical(best.code)
        anchor = _ANCHOR.search(best.text)
        if code.lower() not in DOCUMENTED_CODES and anchor:
            code = DOCUMENTED_CODES.get(anchor["anchor"].lower(), code)
        text = _short(_first_line(best.text))
        if code and code.lower() not in GENERIC_CODES and not text.startswith(code):
            return f"{code}: {text}"
        return text


def canonical(code: str | None) -> str:
    """A code as Azure documents it (`operationcancelled` -> `OperationCanceled`)."""
    code = (code or "").strip()
    return DOCUMENTED_CODES.get(code.lower(), code)


def _generic(text: str) -> bool:
    lowered = text.strip().lower().rstrip(".")
    return any(lowered == g or lowered.startswith(g + ".") for g in GENERIC_MESSAGES)


_TSG_TAIL = re.compile(
    r"[\s.]*Please see (?:the )?troubleshooting guide.*$|[\s\"'\]}*]+$", re.IGNORECASE
)


def _short(text: str) -> str:
    """A message without the exception class in front of it, its troubleshooting-link tail
    and trailing JSON punctuation."""
    return _TSG_TAIL.sub("", strip_class(text)).strip()


def strip_class(text: str) -> str:
    """`text` without the exception class (or `Message:` label) it was printed behind;
    service codes that end in Error (InternalServerError, UserError) stay."""
    text = text.strip()
    for _ in range(4):
        match = _CLASS_PREFIX.match(text)
        if match is None:
            return text
        name = match["name"] or ""
        short = name.rsplit(".", 1)[-1]
        if name and not ("." in name or short.endswith("Exception") or not _is_code(short)):
            return text
        text = text[match.end() :]
    return text


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


# -- error text -------------------------------------------------------------------------------


def _json_blobs(text: str) -> Iterable[object]:
    """JSON objects embedded in `text` (also JSON escaped inside a JSON string)."""
    decoder = json.JSONDecoder()
    found = 0
    for candidate in (text, text.replace('\\"', '"').replace("\\\\", "\\")):
        position = candidate.find("{")
        while position != -1 and found < MAX_JSON_BLOBS:
            try:
                value, end = decoder.raw_decode(candidate, position)
            except ValueError:
                position = candidate.find("{", position + 1)
                continue
            if isinstance(value, dict):
                found += 1
                yield value
            position = candidate.find("{", max(end, position + 1))
        if '\\"' not in text:
            break


def _walk(value: object, depth: int, out: list[Message]) -> None:
    """Messages of an ARM error body (code/message/details), ASP.NET validation errors
    (`errors: {field: [messages]}`), and JSON inside messages."""
    if depth > MAX_DEPTH or not isinstance(value, Mapping):
        return
    if isinstance(value.get("error"), Mapping):
        _walk(value["error"], depth, out)
    code = value.get("code")
    message = value.get("message")
    if isinstance(message, str) and message.strip():
        out.append(Message(str(code) if isinstance(code, str) else "", message, depth))
        _from_text(message, depth + 1, out, json_only=True)
    elif isinstance(code, str) and code:
        out.append(Message(code, "", depth))
    for detail in value.get("details") or []:
        _walk(detail, depth + 1, out)
    errors = value.get("errors")
    if isinstance(errors, Mapping):
        for key, items in errors.items():
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, str):
                    out.append(Message("", f"{key}: {item}", depth + 1))
                    _from_text(item, depth + 2, out)


def _dict_like(text: str, depth: int) -> list[Message]:
    """code/message pairs of dict-like text that is not JSON (see _KEY_CODE): each `code`
    key with the first `message` key after it and before the next `code` key."""
    if not re.search(r"'code'\s*:|\*{3}['\"]code", text):
        return []
    found: list[Message] = []
    codes = list(_KEY_CODE.finditer(text))[:MAX_JSON_BLOBS]
    for index, code in enumerate(codes):
        end = codes[index + 1].start() if index + 1 < len(codes) else len(text)
        message = _KEY_MESSAGE.search(text, code.end(), end)
        before = _KEY_MESSAGE.search(text, max(0, code.start() - 300), code.start())
        chosen = message or before
        body = (chosen["dq"] or chosen["sq"] or "") if chosen else ""
        found.append(Message(code["code"], body.replace("\\'", "'").strip(), depth + 1))
    return found


def _is_code(name: str) -> bool:
    import builtins

    if name in _NOT_CODES or name.endswith("Credential"):
        return False
    value = getattr(builtins, name, None)
    return not (isinstance(value, type) and issubclass(value, BaseException))


def _paren_codes(text: str, depth: int, out: list[Message]) -> None:
    """azure-core's `(Code) message`, also nested on one line (`(BadRequest) The request is
    invalid. ... Exception Details: (InternalServerError) ...` folded by a CI log)."""
    if depth > MAX_DEPTH:
        return
    for match in _PAREN_CODE.finditer(text):
        message = match["message"].strip()
        out.append(Message(match["code"], message, depth))
        _paren_codes(message, depth + 1, out)


def _leading_codes(text: str, depth: int, out: list[Message]) -> None:
    """`Code: message` at the start of a line or message (the code None shape)."""
    for match in _LEADING_CODE.finditer(text):
        message = match["message"].strip()
        # `ModelDownload: Succeeded` is a status line; `HttpResponseError: ...` a class.
        if _ONE_WORD.match(message) or not _is_code(match["code"]):
            continue
        out.append(Message(match["code"], message, depth + 1))
        _leading_codes(message, depth + 1, out)


def _from_text(text: str, depth: int, out: list[Message], *, json_only: bool = False) -> None:
    if depth > MAX_DEPTH:
        return
    for blob in _json_blobs(text):
        _walk(blob, depth, out)
    if json_only and "{" in text:
        return
    found: list[Message] = []
    _paren_codes(text, depth, found)
    codes = _CODE_LINE.findall(text)
    messages = _MESSAGE_LINE.findall(text)
    for code, message in zip(codes, messages, strict=False):
        found.append(Message(code, message.strip(), depth))
    for match in _OTHER_CODE_LINE.finditer(text):
        code = match["code"] or match["code2"]
        found.append(Message(code, (match["message"] or "").strip(), depth))
    if not codes:  # `Message: ...` lines without a `Code:` line beside them
        found.extend(Message("", message.strip(), depth) for message in messages)
    found.extend(_dict_like(text, depth))
    out.extend(found)
    for message in [Message("", text, depth), *found]:
        _leading_codes(message.text, message.depth, out)
    for match in _ANCHOR.finditer(text):
        code = DOCUMENTED_CODES.get(match["anchor"].lower())
        if code:
            out.append(Message(code, "", depth + 1))


def parse_error(text: str) -> tuple[list[Message], int | None]:
    """The messages of an error text in any of the shapes above, and its HTTP status."""
    text = (text or "")[:MAX_TEXT]
    out: list[Message] = []
    _from_text(text, 0, out)
    if not out and text.strip():
        out.append(Message("", text.strip(), 0))
    # A probe's status (`HTTP probe failed with statuscode: 502`) is the container's answer,
    # not the status of Azure's answer.
    statuses = [int(m["status"]) for m in _HTTP_STATUS.finditer(_PROBE.sub("", text))]
    failing = [s for s in statuses if s >= 400]
    unique: list[Message] = []
    seen: set[tuple[str, str]] = set()
    for message in out:
        key = (canonical(message.code).lower(), message.text)
        if key not in seen:
            seen.add(key)
            unique.append(message)
    return unique, (failing[0] if failing else None)


# -- logs -------------------------------------------------------------------------------------


def parse_log(text: str) -> tuple[dict[str, str], list[Event], str]:
    """(instance status, container events, the rest of the log) of a getLogs text."""
    status: dict[str, str] = {}
    events: list[Event] = []
    rest: list[str] = []
    in_status = False
    for line in (text or "")[:MAX_TEXT].splitlines():
        event = _EVENT.search(line)
        if event:
            parts = (event[k].strip() for k in ("kind", "name", "type", "time", "message"))
            events.append(Event(*parts))
            in_status = False
            continue
        if _STATUS_HEADER.match(line):
            in_status = True
            continue
        if _EVENTS_HEADER.match(line):
            in_status = False
            continue
        step = _STEP.match(line) if in_status else None
        if step:
            status[step["step"]] = step["state"]
            continue
        if in_status and not line.strip():
            in_status = False
        rest.append(line)
    return status, events, "\n".join(rest)


def parse(error: str, logs: Mapping[str, str] | None = None) -> Failure:
    """A Failure from Azure's error text and the deployment's container logs."""
    messages, http_status = parse_error(error)
    failure = Failure(messages=messages, http_status=http_status, raw=(error or "")[:MAX_TEXT])
    # The error text itself may carry a status block and events (studio and some CLI
    # versions print them with the error).
    for name, text in [("error", error or ""), *(logs or {}).items()]:
        status, events, rest = parse_log(text)
        failure.status.update(status)
        failure.events.extend(events)
        if name != "error":
            failure.logs[name] = rest
    return failure
