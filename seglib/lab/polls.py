"""A question put to the whole room (peer instruction): what it asks, how an answer is read,
whether it is right, and the distribution of the room's answers.

A ``Poll`` is either one of the lab's exercise questions, frozen with the answer computed for
the instructor's dataset and model when it was asked (``poll_from_question``), or one the
instructor types live (``live_poll``): a number, a choice among options or a class. It is plain
data (``to_json`` / ``from_json``), so ``seglib.lab.classroom`` stores it and every student's
session reads the same question. ``Poll.public()`` is the question as a student may see it before
the reveal: without its answer.

Answers are read with the lab's own readers (``seglib.lab.answers``): '42 %' is 0.42, 'gloves' is
class 3. The room's answers become a ``Distribution``: a histogram for numbers, counts for the other
kinds, and after the reveal how many of each bar are right.

>>> poll = live_poll("number", "How many classes?", answer=20)
>>> reading(poll, "twenty").value is None, reading(poll, "20 classes").value
(True, 20.0)
>>> distribution(poll, ["20", "20", "19"], revealed=True).right
(0, 2)
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, numbered_label
from seglib.lab import answers as lab_answers
from seglib.lab.questions import Alternative, ExpectedAnswer, Question, format_number, value_text

#: What a poll can ask for. ``choice`` is for live questions (options typed by the instructor); the
#: others are the lab's question kinds.
POLL_KINDS = ("number", "choice", "class", "set", "size", "text")
#: The kinds an instructor types live, with how the page names them.
LIVE_KINDS = {"number": "A number", "choice": "A choice among options", "class": "A class"}
#: Limits on what is typed live (a projector and a phone both show it).
MAX_TEXT_CHARS = 600
MAX_OPTIONS = 12
MAX_OPTION_CHARS = 120
#: Longest answer a student can send (free-text questions included).
MAX_ANSWER_CHARS = 1_000
#: Numbers get one bar per value given while the room gave at most this many different values ...
MAX_DISTINCT_BARS = 12
#: ... else whole numbers get one bar per whole number while they span at most this many ...
MAX_WHOLE_BARS = 30
#: ... and otherwise at most this many histogram bins.
MAX_BINS = 20


@dataclasses.dataclass(frozen=True)
class Poll(ExpectedAnswer):
    """One question for the room.

    ``kind`` is one of ``POLL_KINDS``; ``options`` the choices of a ``choice`` poll; ``answer`` the
    expected value (a float, an option's index, a class id, a tuple of rates, (height, width);
    None when there is none to check: open questions, or a live question asked without one);
    ``accepted``, ``tolerance``, ``unit``, ``source`` and ``alternatives`` as in
    ``seglib.lab.questions.Question``; ``explanation`` the worked answer shown with the reveal;
    ``origin`` where it comes from ('13-2 stride' for an exercise question, 'live');
    ``anonymous`` False when students are asked for their name with the answer.
    """

    kind: str
    text: str
    options: tuple[str, ...] = ()
    answer: Any = None
    accepted: tuple[int, ...] = ()
    tolerance: float = 0.0
    unit: str = ""
    source: str = ""
    alternatives: tuple[Alternative, ...] = ()
    explanation: str = ""
    origin: str = "live"
    anonymous: bool = True

    _kinds = POLL_KINDS
    _kind_error = "A poll's kind must be one of {kinds}. Received: kind={kind!r}"

    def answer_text(self) -> str:
        """The expected answer as people write it ('' when there is none), with the alternatives' where they
        differ."""
        if not self.checkable:
            return ""
        if self.kind == "choice":
            return self.options[int(self.answer)]
        text = super().answer_text()
        others = []
        for alt in self.alternatives:
            theirs = value_text(self.kind, alt.answer, alt.accepted, self.unit) if alt.answer is not None else text
            if theirs != text:
                others.append(f"{theirs} for {alt.source}")
        if not others:
            return text
        return "; ".join([f"{text} for {self.source}" if self.source else text, *others])

    def public(self) -> "Poll":
        """The poll as a student sees it before the reveal: the question, never its answer."""
        return dataclasses.replace(self, answer=None, accepted=(), alternatives=(), explanation="", source="",
                                   tolerance=0.0)

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["alternatives"] = [dataclasses.asdict(alt) for alt in self.alternatives]
        return json.dumps(data, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> "Poll":
        data = json.loads(text)
        data["options"] = tuple(data.get("options") or ())
        data["accepted"] = tuple(data.get("accepted") or ())
        data["answer"] = _value_of(data["kind"], data.get("answer"))
        data["alternatives"] = tuple(
            Alternative(_value_of(data["kind"], alt.get("answer")), alt.get("source", ""),
                        tuple(alt.get("accepted") or ()))
            for alt in data.get("alternatives") or ())
        return cls(**data)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot store {type(value).__name__} in a poll")


def _value_of(kind: str, value: Any) -> Any:
    """A stored answer back in its Python form (JSON has no tuples)."""
    if value is None:
        return None
    if kind in ("set", "size"):
        return tuple(int(v) for v in value)
    if kind == "number":
        return float(value)
    if kind in ("class", "choice"):
        return int(value)
    return value


# ---------------------------------------------------------------------------
# Making polls
# ---------------------------------------------------------------------------

def poll_from_question(question: Question, *, anonymous: bool = True) -> Poll:
    """An exercise question as a poll, with the answer ``build_exercises`` computed for it."""
    return Poll(kind=question.kind, text=question.text, answer=question.answer, accepted=tuple(question.accepted),
                tolerance=float(question.tolerance), unit=question.unit, source=question.source,
                alternatives=tuple(question.alternatives), explanation=question.model_answer,
                origin=f"{question.exercise} {question.key}", anonymous=anonymous)


def live_poll(kind: str, text: str, *, options: Sequence[str] = (), answer: Any = None, tolerance: float = 0.0,
              unit: str = "", explanation: str = "", anonymous: bool = True) -> Poll:
    """A question the instructor types now. ``kind``: 'number', 'choice' or 'class'; ``answer``: the number,
    the right option (its text or index) or the class (id or name); None to reveal only the room's answers.

    Raises ``ValueError`` naming what is wrong (an empty question, fewer than two options, an answer
    that is not one of them ...)."""
    if kind not in LIVE_KINDS:
        raise ValueError(f"A live question asks for one of {tuple(LIVE_KINDS)}. Received: kind={kind!r}")
    text = (text or "").strip()
    if not text:
        raise ValueError("Type the question first: it is empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"The question is {len(text)} characters long; keep it under {MAX_TEXT_CHARS}.")
    clean_options: tuple[str, ...] = ()
    if kind == "choice":
        clean_options = tuple(dict.fromkeys(option.strip() for option in options if option and option.strip()))
        if len(clean_options) < 2:
            raise ValueError(f"A choice needs at least two different options. Received: {list(clean_options)}")
        if len(clean_options) > MAX_OPTIONS:
            raise ValueError(f"At most {MAX_OPTIONS} options fit on a phone. Received: {len(clean_options)}")
        long = [option for option in clean_options if len(option) > MAX_OPTION_CHARS]
        if long:
            raise ValueError(f"Keep each option under {MAX_OPTION_CHARS} characters. Received: {long[0][:40]!r}...")
    value = None
    if answer is not None and answer != "":
        if kind == "number":
            value = float(answer)
            if not math.isfinite(value):
                raise ValueError(f"The answer must be a finite number. Received: answer={answer!r}")
        elif kind == "choice":
            value = answer if isinstance(answer, int) else (clean_options.index(str(answer).strip())
                                                             if str(answer).strip() in clean_options else None)
            if value is None or not 0 <= value < len(clean_options):
                raise ValueError(f"The right answer must be one of the options {list(clean_options)}. "
                                 f"Received: answer={answer!r}")
        else:
            value = answer if isinstance(answer, int) else lab_answers.parse_class(str(answer))
            if value is None or not 0 <= value < len(CLASS_NAMES):
                raise ValueError(f"The right answer must be one of the {len(CLASS_NAMES)} classes (a name or an "
                                 f"id 0-{len(CLASS_NAMES) - 1}). Received: answer={answer!r}")
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"The tolerance must be zero or positive. Received: tolerance={tolerance!r}")
    return Poll(kind=kind, text=text, options=clean_options, answer=value, tolerance=float(tolerance),
                unit=(unit or "").strip(), explanation=(explanation or "").strip(), anonymous=anonymous)


# ---------------------------------------------------------------------------
# Reading and checking one answer
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Reading:
    """An answer as the poll reads it: ``value`` (None when unreadable), ``label`` (how the value is
    written in the counts) and ``message`` (what to fix when unreadable)."""

    value: Any
    label: str
    message: str = ""


def _text_label(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip())


def reading(poll: Poll, text: str | None) -> Reading:
    """Read ``text`` the way ``poll`` asks for it."""
    text = (text or "").strip()
    if not text:
        return Reading(None, "", "Please write an answer first.")
    if len(text) > MAX_ANSWER_CHARS:
        return Reading(None, "", f"Your answer is {len(text)} characters long; keep it under {MAX_ANSWER_CHARS}.")
    kind = poll.kind
    if kind == "text":
        return Reading(_text_label(text), _text_label(text))
    if kind == "choice":
        if text in poll.options:
            return Reading(poll.options.index(text), text)
        return Reading(None, "", "Please pick one of the options.")
    value = {"number": lab_answers.parse_number, "size": lab_answers.parse_size,
             "set": lab_answers.parse_set}.get(kind, lab_answers.parse_class)(text)
    if value is None or (kind == "number" and not math.isfinite(value)):
        return Reading(None, "", lab_answers.UNREADABLE[kind])
    label = numbered_label(value) if kind == "class" else value_text(kind, value)
    return Reading(value, label)


def is_right(poll: Poll, text: str | None) -> bool | None:
    """Whether an answer is right (for the poll's model or an alternative); None when the poll has no
    answer to check or the text cannot be read."""
    if not poll.checkable:
        return None
    read = reading(poll, text)
    if read.value is None:
        return None
    if poll.kind == "choice":
        return read.value == poll.answer
    return lab_answers.check_answer(_as_question(poll), text).correct


def _as_question(poll: Poll) -> Question:
    return Question(key=poll.origin, exercise="", text=poll.text, kind=poll.kind, answer=poll.answer,
                    tolerance=poll.tolerance, accepted=poll.accepted, unit=poll.unit, source=poll.source,
                    alternatives=poll.alternatives)


# ---------------------------------------------------------------------------
# The room's answers
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Distribution:
    """The room's answers as bars: ``labels`` and ``counts`` per bar; for a histogram (numbers) the bins'
    ``edges`` too, when they are bins. ``right`` (after the reveal of a checkable poll, else None): the right
    answers in each bar. ``answer_label`` the bar of the expected number on a histogram (after the reveal).
    ``total`` answers in all; ``unreadable`` of them could not be read (not in any bar)."""

    kind: str  #: 'histogram', 'counts' or 'texts'
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    total: int
    unreadable: int = 0
    edges: tuple[float, ...] = ()
    right: tuple[int, ...] | None = None
    answer_label: str | None = None

    @property
    def right_total(self) -> int | None:
        return None if self.right is None else int(sum(self.right))


def distribution(poll: Poll, texts: Sequence[str], *, revealed: bool = False) -> Distribution:
    """The distribution of the answers ``texts``; ``revealed`` adds how many are right in each bar."""
    readings = [reading(poll, text) for text in texts]
    readable = [(read, text) for read, text in zip(readings, texts) if read.value is not None]
    unreadable = len(texts) - len(readable)
    check = revealed and poll.checkable
    if poll.kind == "number":
        return _histogram(poll, readable, len(texts), unreadable, check)
    if poll.kind == "choice":
        labels = list(poll.options)
        counts = [0] * len(labels)
        for read, _ in readable:
            counts[read.value] += 1
        right = ([counts[i] if i == poll.answer else 0 for i in range(len(labels))] if check else None)
        return Distribution("counts", tuple(labels), tuple(counts), len(texts), unreadable,
                            right=None if right is None else tuple(right))
    groups: dict[str, list[str]] = {}
    for read, text in readable:
        groups.setdefault(read.label, []).append(text)
    order = sorted(groups, key=lambda label: (-len(groups[label]), label))
    right = tuple(sum(bool(is_right(poll, text)) for text in groups[label]) for label in order) if check else None
    return Distribution("texts" if poll.kind == "text" else "counts", tuple(order),
                        tuple(len(groups[label]) for label in order), len(texts), unreadable, right=right)


def _histogram(poll: Poll, readable: list, total: int, unreadable: int, check: bool) -> Distribution:
    """Numbers as bars: one per value while the room gave few different values (after the reveal the
    expected value gets its bar too, empty if nobody gave it), one per whole number over a short range,
    else histogram bins."""
    values = np.array([read.value for read, _ in readable], dtype=np.float64)
    answer = float(poll.answer) if check else None
    span = values if answer is None else np.append(values, answer)
    if not len(span):
        return Distribution("histogram", (), (), total, unreadable, right=() if check else None)
    good = np.array([bool(is_right(poll, text)) for _, text in readable] if check else [False] * len(values),
                    dtype=bool)
    distinct = np.unique(span)
    if len(distinct) <= MAX_DISTINCT_BARS:
        labels = [format_number(float(value)) for value in distinct]
        counts = [int(np.sum(values == value)) for value in distinct]
        right = [int(np.sum((values == value) & good)) for value in distinct]
        at = None if answer is None else labels[int(np.searchsorted(distinct, answer))]
        return Distribution("histogram", tuple(labels), tuple(counts), total, unreadable,
                            right=tuple(right) if check else None, answer_label=at)
    low, high = float(span.min()), float(span.max())
    if np.all(np.mod(span, 1) == 0) and high - low + 1 <= MAX_WHOLE_BARS:
        edges = np.arange(low - 0.5, high + 1.0, 1.0)  # one bar per whole number
        labels = [format_number(float(value)) for value in np.arange(low, high + 1.0)]
    else:
        edges = np.histogram_bin_edges(span, bins="auto")
        if len(edges) - 1 > MAX_BINS:
            edges = np.histogram_bin_edges(span, bins=MAX_BINS)
        labels = [f"{format_number(float(a))} to {format_number(float(b))}" for a, b in zip(edges[:-1], edges[1:])]
    counts = np.histogram(values, bins=edges)[0]
    right = tuple(int(c) for c in np.histogram(values[good], bins=edges)[0]) if check else None
    at = None
    if answer is not None:  # the bin that holds the expected value (np.histogram's last bin is closed)
        at = labels[min(int(np.searchsorted(edges, answer, side="right")) - 1, len(labels) - 1)]
    return Distribution("histogram", tuple(labels), tuple(int(c) for c in counts), total, unreadable,
                        edges=tuple(float(e) for e in edges), right=right, answer_label=at)


def summary(poll: Poll, dist: Distribution) -> str:
    """One sentence on the room's answers, computed from the distribution ('12 answers; 9 of them right')."""
    answers = f"{dist.total} answer{'s' if dist.total != 1 else ''}"
    parts = [answers]
    if dist.unreadable:
        parts.append(f"{dist.unreadable} of them could not be read")
    if dist.right is not None and dist.total:
        share = dist.right_total / dist.total
        parts.append(f"{dist.right_total} right ({share:.0%})")
    if dist.kind == "counts" and dist.counts and sum(dist.counts):
        top = max(dist.counts)
        leaders = [label for label, count in zip(dist.labels, dist.counts) if count == top]
        if top == sum(dist.counts):
            parts.append(f"all chose {leaders[0]}")
        elif len(leaders) == 1:
            parts.append(f"most chose {leaders[0]} ({top})")
        else:
            parts.append(f"{', '.join(leaders[:-1])} and {leaders[-1]} tie ({top} each)")
    return "; ".join(parts) + "."
