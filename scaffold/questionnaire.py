"""The questions `scaffold new` asks on a terminal, one at a time, checked as they come.

copier's own questionnaire draws each question on one line and cuts it at the terminal's
width, and shows a validator's message in a toolbar at the bottom of the screen, cut too:
long help texts and errors were unreadable. scaffold therefore asks the template's questions
itself when it knows them (the bundled template, or a template folder): in copier.yml's
order, with its `when` conditions, rendered defaults, choices, types and validators
(`scaffold.answers`), and then hands every answer to copier, which asks nothing more.

One question is scaffold's own, asked right after the server: the user's model (a file or
folder, or `azureml:NAME:VERSION`), read at once by `scaffold.usermodel.prepare`, so a bad
model is refused at the prompt and what the model decides (e.g. Triton's model format) is
not asked; what it suggests (the served name from the file name) becomes the default.

The core never prints: `next_question()` says what to ask; `answer()` checks what was typed
and returns the error to show under the prompt, or "" when it was accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaffold.answers import applies, check_one, computed_context
from scaffold.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from scaffold.usermodel import Prepared

#: The name of scaffold's own question (not a copier.yml question).
MODEL = "model"
MODEL_HELP = (
    "Your own model to serve instead of the sample: a file or folder ({formats}), or a "
    "registered Azure ML model azureml:NAME:VERSION; leave empty for the sample model"
)


#: Questions that keep their default when the user gives one model of their own: the served
#: names of several models (several models come from repeating --model instead).
ONE_MODEL_KEEPS_DEFAULT = frozenset({"models"})


@dataclass(frozen=True)
class Question:
    """One question as the terminal shows it."""

    name: str
    help: str
    #: "str", "int", "yaml", "bool", "choice" or "model".
    kind: str
    #: (label, value) pairs of a choice question.
    choices: tuple[tuple[str, Any], ...] = ()
    #: What an empty answer means (shown as the default); None when the question has none.
    default: Any = None


@dataclass
class Questionnaire:
    """The state of one `scaffold new` questionnaire."""

    questions: Mapping[str, Mapping[str, Any]]
    answers: dict[str, Any]
    dest: Path
    #: Ask for the user's own model (not when --model was given).
    ask_model: bool = True
    #: usermodel.prepare (a parameter so the core imports no adapter).
    prepare_model: Callable[[str, Mapping[str, Any]], Prepared] | None = None
    model: str | None = None
    prepared: Prepared | None = None
    _model_asked: bool = False
    _suggested: dict[str, Any] = field(default_factory=dict)

    def _context(self) -> dict[str, Any]:
        known = {**self._suggested, **self.answers}
        context = {**known, "_copier_conf": {"dst_path": str(self.dest)}}
        return computed_context(self.questions, context)

    def next_question(self) -> Question | None:
        """The next question to ask, or None when every applicable one has an answer.

        A model given up front (--model) is read as soon as the server is known, so what it
        decides is not asked and what it suggests is the default (UsageError when it does
        not fit)."""
        known = self.model and "server" in self.answers and self.prepare_model is not None
        if known and self.prepared is None and self.prepare_model is not None:
            self.prepared = self.prepare_model(str(self.model), self.answers)
            self.answers.update(self.prepared.answers)
            self._suggested.update(self.prepared.defaults)
        if self.ask_model and not self._model_asked and "server" in self.answers:
            return self._model_question()
        context = self._context()
        for name, spec in self.questions.items():
            if name in self.answers or spec.get("when") is False or not applies(spec, context):
                continue
            if self.model and name in ONE_MODEL_KEEPS_DEFAULT:
                continue  # the user's one model: not several (scaffold new --model A --model B)
            return self._question(name, spec, context)
        return None

    def _model_question(self) -> Question:
        from scaffold.servers import SERVERS

        spec = SERVERS.get(str(self.answers["server"]))
        formats = spec.model_formats if spec and spec.model_formats else "for this server"
        return Question(MODEL, MODEL_HELP.format(formats=formats), "model", default="")

    def _question(self, name: str, spec: Mapping[str, Any], context: Mapping[str, Any]) -> Question:
        kind = str(spec.get("type", "str"))
        choices = spec.get("choices")
        pairs: tuple[tuple[str, Any], ...] = ()
        if isinstance(choices, Mapping):
            pairs = tuple((str(label), value) for label, value in choices.items())
        elif isinstance(choices, list):
            pairs = tuple((str(value), value) for value in choices)
        default = self._suggested.get(name, context.get(name)) if "default" in spec else None
        if kind == "yaml" and default is not None and not isinstance(default, str):
            import yaml

            default = yaml.safe_dump(default, default_flow_style=True).strip()
        help_text = " ".join(str(spec.get("help", name)).split())
        return Question(name, help_text, "choice" if pairs else kind, pairs, default)

    def answer(self, question: Question, raw: Any) -> str:
        """Record the answer typed for `question`; returns the error to show ("" when the
        answer was accepted). An empty text means the default."""
        if question.kind == "model":
            return self._answer_model(str(raw or "").strip())
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if question.default is None:
                return f"{question.name} has no default: type an answer"
            raw = question.default
        value, error = check_one(self.questions, question.name, raw, self.answers)
        if error:
            return error
        self.answers[question.name] = value
        return ""

    def _answer_model(self, text: str) -> str:
        if not text:
            self._model_asked = True
            return ""
        if self.prepare_model is None:
            return "this template takes no model of yours here; pass --model"
        try:
            prepared = self.prepare_model(text, self.answers)
        except UsageError as error:
            return error.message
        self._model_asked = True
        self.model, self.prepared = text, prepared
        self.answers.update(prepared.answers)
        self._suggested.update(prepared.defaults)
        return ""
