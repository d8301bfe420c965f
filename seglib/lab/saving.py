"""Saving a student's answers: the Markdown file they download and load back, and
the JSON the browser keeps between visits.

Each answer in the Markdown file sits between two HTML comments (invisible when
the file is rendered), so ``parse_answers_markdown`` reads it back, edits
included. What the browser keeps is read leniently: anything unreadable gives
no answers rather than an error.

>>> parse_storage(storage_text({"stride": "16"}, "Ada")).answers
{'stride': '16'}
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import json
import re
from typing import Any, Sequence

from seglib.lab.answers import check_answer
from seglib.lab.questions import Exercise

_FACT_LABELS = (
    ("dataset", "Dataset"), ("split", "Split analysed"), ("num_images", "Images in the split"),
    ("model_label", "Model"), ("model_preset", "Preset"), ("backbone", "Backbone"),
    ("image_size", "Input size (px)"), ("params", "Parameters"), ("atrous_rates", "Atrous rates"),
    ("run_id", "Run"), ("run_best_val_mean_iou", "Best validation mean IoU of the run"),
)

#: Longest answer (characters) kept from a file or the browser's storage.
MAX_ANSWER_CHARS = 20_000
#: Longest student name kept.
MAX_NAME_CHARS = 200
_ANSWER_OPEN = re.compile(r"^\s*<!-- answer: ([A-Za-z0-9_]+) -->\s*$")
_ANSWER_CLOSE = re.compile(r"^\s*<!-- end of answer -->\s*$")
_STUDENT = re.compile(r"^- \*\*Student:\*\* ?(.*)$")
_NO_ANSWER = "_(no answer yet)_"


def key_number_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the context a student was looking at."""
    rows = []
    for key, label in _FACT_LABELS:
        value = facts.get(key)
        if value is None or value == "" or value == []:
            continue
        if key == "params":
            value = f"{int(value):,}"
        elif key == "run_best_val_mean_iou":
            value = f"{float(value):.3f}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        rows.append((label, str(value)))
    return rows


#: Title of the instructor's export: the computed answers, with the same layout as a student's file.
ANSWER_KEY_TITLE = "Semantic segmentation lab: answer key (instructor)"


def answer_key_markdown(exercises: Sequence[Exercise], facts: dict[str, Any],
                        date: _datetime.date | str | None = None) -> str:
    """The computed answer of every checkable question, for the dataset and model in ``facts``
    (for an instructor; no student's answers in it)."""
    return answers_markdown(exercises, {}, facts, date=date, title=ANSWER_KEY_TITLE, answer_key=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def answers_markdown(exercises: Sequence[Exercise], answers: dict[str, str], facts: dict[str, Any],
                     *, student: str = "", date: _datetime.date | str | None = None,
                     title: str = "Semantic segmentation lab: my answers", answer_key: bool = False) -> str:
    """The student's answers as a Markdown file: their name and the date, the key
    numbers of the dataset, model and run they were looking at and, for checkable
    questions, whether the answer matched the computed value.

    The computed values themselves (the answer key) are written only with
    ``answer_key`` (the instructor's export): a student's file never holds them.
    Each answer sits between two HTML comments (invisible when the file is
    rendered) so that ``parse_answers_markdown`` can load it back, edits included.
    """
    date = date or _datetime.date.today()
    date_text = date.isoformat() if isinstance(date, _datetime.date) else str(date)
    lines = [f"# {title}", "", f"- **Student:** {_one_line(student)[:MAX_NAME_CHARS]}",
             f"- **Date:** {date_text}", "", "## What I was looking at", ""]
    lines += [f"- **{label}:** {value}" for label, value in key_number_rows(facts)]
    for exercise in exercises:
        lines += ["", f"## Exercise {exercise.key}: {exercise.title}", ""]
        for number, question in enumerate(exercise.questions, start=1):
            answer = (answers.get(question.key) or "").strip()
            lines.append(f"{number}. {question.text}")
            lines.append("")
            lines.append(f"   <!-- answer: {question.key} -->")
            lines.append("   **Answer:** " + (answer.replace("\n", "\n   ") if answer else _NO_ANSWER))
            lines.append("   <!-- end of answer -->")
            if question.checkable:
                feedback = check_answer(question, answer)
                verdict = {"correct": "correct", "empty": "not answered"}.get(feedback.status, "not yet")
                if feedback.matched == "alternative":
                    verdict = "correct for the Keras example"
                lines.append("")
                if answer_key:
                    lines.append(f"   *Computed value: {question.answer_text()} ({verdict}).*")
                else:
                    lines.append(f"   *Checked: {verdict}.*")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


@dataclasses.dataclass(frozen=True)
class SavedAnswers:
    """Answers read back from an exported file or the browser's storage."""

    student: str
    answers: dict[str, str]


def parse_answers_markdown(text: str) -> SavedAnswers:
    """Read the student's name and answers back from a file ``answers_markdown`` wrote.

    Raises:
        ValueError: when the text holds no answer written by ``answers_markdown``.
    """
    if not isinstance(text, str):
        raise ValueError(f"Expected the text of a Markdown file. Received: {type(text).__name__}")
    student = ""
    answers: dict[str, str] = {}
    key: str | None = None
    block: list[str] = []
    found = False
    for line in text.splitlines():
        if key is None:
            opened = _ANSWER_OPEN.match(line)
            if opened:
                key, block, found = opened.group(1), [], True
                continue
            named = _STUDENT.match(line)
            if named and not student:
                student = named.group(1).strip()[:MAX_NAME_CHARS]
            continue
        if _ANSWER_CLOSE.match(line):
            answer = "\n".join(block).strip()
            if answer.startswith("**Answer:**"):
                answer = answer[len("**Answer:**"):].strip()
            if answer and answer != _NO_ANSWER:
                answers[key] = answer[:MAX_ANSWER_CHARS]
            key = None
            continue
        block.append(line[3:] if line.startswith("   ") else line.lstrip(" "))
    if not found:
        raise ValueError("This file has no answers written by the Exercises page (each answer sits between "
                         "'<!-- answer: ... -->' and '<!-- end of answer -->'). Download your answers first, "
                         "then load that file.")
    return SavedAnswers(student, answers)


#: Version of what the browser keeps (``storage_text``).
STORAGE_VERSION = 1


def storage_text(answers: dict[str, str], student: str = "") -> str:
    """What the page keeps in the browser (JSON): the student's name and non-empty answers."""
    kept = {str(k): str(v)[:MAX_ANSWER_CHARS] for k, v in answers.items() if isinstance(v, str) and v.strip()}
    return json.dumps({"version": STORAGE_VERSION, "student": str(student or "")[:MAX_NAME_CHARS],
                       "answers": kept}, ensure_ascii=False, sort_keys=True)


_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def parse_storage(raw: Any) -> SavedAnswers:
    """Read what ``storage_text`` wrote; anything unreadable (another version, edited
    by hand, not JSON) gives no answers rather than an error."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return SavedAnswers("", {})
    answers = {key: value[:MAX_ANSWER_CHARS] for key, value in list(data["answers"].items())[:500]
               if isinstance(key, str) and _KEY.match(key) and isinstance(value, str) and value.strip()}
    student = data.get("student") if isinstance(data.get("student"), str) else ""
    return SavedAnswers(student[:MAX_NAME_CHARS], answers)


def merge_answers(current: dict[str, str], saved: dict[str, str], *, replace: bool = False) -> dict[str, str]:
    """``current`` with ``saved`` added: with ``replace`` a saved answer wins, otherwise it
    only fills questions that have no answer yet (the browser's copy never overwrites
    what was typed in this session)."""
    merged = dict(current)
    for key, value in saved.items():
        if replace or not (merged.get(key) or "").strip():
            merged[key] = value
    return merged
