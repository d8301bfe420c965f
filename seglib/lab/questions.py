"""What the lab is made of: exercises, their questions, the links to the page
sections that answer them, and the verdict on an answer.

Plain frozen dataclasses, built by ``seglib.lab.exercises`` and checked by
``seglib.lab.answers``; ``value_text`` writes an expected value as people
write it.

>>> Question("stride", "13-2", "How far?", kind="number", answer=16.0, unit="px").answer_text()
'16 px'
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

from seglib.classes import numbered_label

#: Question kinds: free text, a number (with tolerance), an image size ``H x W``,
#: a class (by name or id), or a set of whole numbers (e.g. atrous rates; 'none' = empty).
KINDS = ("text", "number", "size", "class", "set")

#: The URL parameters an exercise link adds: the section to scroll to and the exercise it came from.
SECTION_PARAM = "section"
EXERCISE_PARAM = "exercise"


@dataclasses.dataclass(frozen=True)
class Link:
    """A section of a dashboard page that shows what some questions ask about.

    ``page`` is the file under ``pages/``; ``anchor`` the id of the heading the
    link lands on; ``params`` the query parameters that preselect the view
    there (image, pixel, preset ...).
    """

    page: str
    label: str
    anchor: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    def query(self, exercise: str) -> dict[str, str]:
        """The link's query parameters, with the section and the exercise it comes from."""
        return {**self.params, SECTION_PARAM: self.anchor, EXERCISE_PARAM: exercise}


@dataclasses.dataclass(frozen=True)
class Alternative:
    """Another model's right answer to a question (the Keras example's, beside the sidebar model's)."""

    answer: Any
    source: str
    accepted: tuple[int, ...] = ()


class ExpectedAnswer:
    """What a question with an expected answer does, for ``Question`` and ``seglib.lab.polls.Poll``.

    A subclass (a frozen dataclass) has the fields ``kind``, ``answer``, ``accepted`` and ``unit`` (as
    in ``Question``) and names its kinds (``_kinds``) and the message for any other kind
    (``_kind_error``, formatted with ``kinds`` and ``kind``).
    """

    _kinds: tuple[str, ...] = ()
    _kind_error = "kind must be one of {kinds}. Received: kind={kind!r}"

    def __post_init__(self):
        if self.kind not in self._kinds:
            raise ValueError(self._kind_error.format(kinds=self._kinds, kind=self.kind))

    @property
    def checkable(self) -> bool:
        """Whether answers can be marked right or wrong: any kind but free text, once there is an answer
        (a poll's: once it is revealed)."""
        return self.kind != "text" and self.answer is not None

    def answer_text(self) -> str:
        """The expected answer as people write it (empty when there is none: open questions)."""
        if not self.checkable:
            return ""
        return value_text(self.kind, self.answer, self.accepted, self.unit)


@dataclasses.dataclass(frozen=True)
class Question(ExpectedAnswer):
    """One question of an exercise.

    ``answer`` is the value a checkable question expects (``None`` for open
    questions, or when the data needed to compute it is missing), for the model
    ``source`` names (empty for questions about the data); ``alternatives``
    other models' answers that count as right too; ``tolerance`` the absolute
    tolerance of numbers; ``accepted`` the class ids that count as right for
    class questions (ties); ``hint`` where to look when the answer is not right
    yet; ``view`` the anchor of the section that answers it; ``model_answer``
    the worked answer shown once the student has submitted a real attempt
    (``ui.lab``: open questions) or got it right (checked ones); ``reasoning``
    the step a checked question needs beyond reading one number off a view
    (empty when reading it is the point).
    """

    key: str
    exercise: str
    text: str
    kind: str = "text"
    answer: Any = None
    tolerance: float = 0.0
    accepted: tuple[int, ...] = ()
    hint: str = ""
    unit: str = ""
    view: str = ""
    model_answer: str = ""
    source: str = ""
    alternatives: tuple[Alternative, ...] = ()
    reasoning: str = ""

    _kinds = KINDS
    _kind_error = "Question kind must be one of {kinds}. Received: kind={kind!r}"


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: its number, a title, why it matters, questions and links.

    ``notes`` are extra paragraphs (Markdown written by this module) shown
    under the introduction; ``background`` links to sections that explain the
    setting rather than answer a question (how the synthetic data differs from
    CIHP): drawn with the introduction, never counted as the pages the exercise
    is answered on.
    """

    key: str
    title: str
    intro: str
    questions: tuple[Question, ...]
    links: tuple[Link, ...] = ()
    notes: tuple[str, ...] = ()
    background: tuple[Link, ...] = ()

    def link_for(self, question: Question) -> Link | None:
        return next((link for link in self.links if link.anchor == question.view), None)


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``status`` is 'empty', 'open' (not checkable),
    'short' (an open question's answer too short to count as an attempt),
    'correct', 'not_yet' or 'unreadable' (the text is not a number/class);
    ``matched`` says whose answer it was: 'primary', 'both' or 'alternative'."""

    status: str
    message: str
    matched: str | None = None

    @property
    def correct(self) -> bool:
        return self.status == "correct"


def format_number(value: Any) -> str:
    """A number as the lab writes it: whole numbers without decimals, others to 3-4 digits."""
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value.is_integer():
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def value_text(kind: str, value: Any, accepted: Sequence[int] = (), unit: str = "") -> str:
    """An answer of a question of ``kind`` as people write it ('128 × 128', '14 Left-arm', '4 and 6')."""
    if kind == "size":
        return f"{value[0]} × {value[1]}"
    if kind == "class":
        ids = accepted or (value,)
        return " or ".join(numbered_label(i) for i in ids)
    if kind == "set":
        values = sorted(value)
        if not values:
            return "none"
        return ", ".join(str(v) for v in values[:-1]) + (" and " if len(values) > 1 else "") + str(values[-1])
    return format_number(value) + (f" {unit}" if unit else "")
