"""Reading a student's answer and checking it against the computed value.

Answers are free text: numbers ('0.42', '42 %'), sizes ('64 x 64'), classes by
name or id, in any case, singular or plural, in a sentence or with their id
('left arms', 'the right arm', 'Right-arm, id 15', '5'), or sets of rates
('4 and 6', 'none'). A worked answer counts by its result: for numbers, sizes
and classes the text after the last '=', '≈' or '→' is read ('16 * 18 = 288'
is 288). ``check_answer`` compares with the value computed for the sidebar
model and, where a question has one, the Keras example's.

>>> parse_size("(64, 64)"), parse_class("gloves"), parse_set("rates 4 and 6")
((64, 64), 3, (4, 6))
>>> parse_number("16 * 18 = 288"), parse_class("Right-arm, id 15"), parse_class("the right arm")
(288.0, 15, 15)
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from seglib.classes import CLASS_NAMES, numbered_label
from seglib.lab.questions import Feedback, Question, format_number, value_text

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


#: What separates a worked answer from its result: '16 * 18 = 288', 'p ≈ 0.62', '14 → 15'.
_RESULT = re.compile(r"=|≈|→|->")


def result_part(text: str) -> str:
    """The result of a worked answer: the text after its last '=', '≈' or '→' (all of it when
    there is none, or nothing follows)."""
    parts = [part for part in _RESULT.split(text) if part.strip()]
    return parts[-1] if parts else text


#: Thousands separators between digit groups: '512,000', '5,242,880' (not '0,425', a decimal comma).
_THOUSANDS = re.compile(r"(?<![\d.,])([1-9]\d{0,2})((?:[,\u00a0\u202f]\d{3})+)(?![\d,.])")


def parse_number(text: str) -> float | None:
    """The first number of the result (``result_part``); '42%' reads as 0.42, '512,000' as 512000 and
    '0,42' as 0.42. None when there is none."""
    text = _THOUSANDS.sub(lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), result_part(text))
    match = _NUMBER.search(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    if match is None:
        return None
    value = float(match.group())
    if text[match.end():].lstrip().startswith("%"):
        value /= 100.0
    return value


def parse_size(text: str) -> tuple[int, int] | None:
    """'64 x 64', '64×64', '(64, 64)' or one number (a square) as (height, width), from the result
    of a worked answer ('H × W = 160 × 160')."""
    numbers = [float(n) for n in _NUMBER.findall(result_part(text))]
    if not numbers or len(numbers) > 3 or any(not n.is_integer() for n in numbers):
        return None
    numbers = [int(n) for n in numbers]
    if len(numbers) == 3:  # "64 x 64 x 20": the spatial part
        numbers = numbers[:2]
    return (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


_UNSIGNED = re.compile(r"\d+(?:\.\d+)?")
_KERNEL = re.compile(r"\d+\s*[x×*]\s*\d+")
_NONE = re.compile(r"\b(none|no|nothing|neither|zero)\b", re.IGNORECASE)


def parse_set(text: str) -> tuple[int, ...] | None:
    """Whole numbers listed in ``text`` ('4 and 6', 'rates 4, 6') as a sorted tuple;
    () for 'none' (or only 0); None when there is nothing readable. Kernel sizes
    such as '3x3' are not read as members."""
    text = _KERNEL.sub(" ", text)
    values = [float(n) for n in _UNSIGNED.findall(text)]  # 'rate-6' is rate 6, not minus 6
    if any(not v.is_integer() for v in values):
        return None
    members = sorted({int(v) for v in values if v > 0})
    if members:
        return tuple(members)
    if values or _NONE.search(text):
        return ()
    return None


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _singular_forms(word: str) -> set[str]:
    """A normalised name and the forms it has without a plural ending ('gloves' -> 'glove')."""
    forms = {word}
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    return forms


#: Other ways students name a class (normalised).
_SYNONYMS = {"shirt": 5, "tshirt": 5, "top": 5, "upperclothing": 5, "jacket": 7, "trousers": 9, "jeans": 9,
             "skin": 10, "torso": 10, "scarves": 11, "glasses": 4, "bg": 0}


def _class_of_name(words: str) -> int | None:
    """The class a (normalised) name or synonym stands for, singular or plural; None if none."""
    forms = _singular_forms(words)
    for class_id, name in enumerate(CLASS_NAMES):
        if forms & _singular_forms(_normalise(name)):
            return class_id
    return next((_SYNONYMS[form] for form in forms if form in _SYNONYMS), None)


def _classes_in(text: str) -> tuple[set[int], set[int]]:
    """The classes named in a sentence (runs of up to three words, longest first) and the ids
    written in it as numbers 0..C-1."""
    tokens = re.findall(r"[a-z]+|\d+", text.lower())
    named: set[int] = set()
    used = [False] * len(tokens)
    for length in (3, 2, 1):
        for start in range(len(tokens) - length + 1):
            window = tokens[start:start + length]
            if any(used[start:start + length]) or not all(word.isalpha() for word in window):
                continue
            found = _class_of_name("".join(window))
            if found is not None:
                named.add(found)
                used[start:start + length] = [True] * length
    ids = {int(token) for token in tokens if token.isdigit() and int(token) < len(CLASS_NAMES)}
    return named, ids


def parse_class(text: str) -> int | None:
    """A class id from its id ('5') or name in any case, singular or plural
    ('upper clothes', 'UpperClothes', 'left arms', 'gloves'), also in a sentence or
    with its id ('the right arm', 'Right-arm, id 15'). None when the text names no
    class, or two that disagree ('14 or 15')."""
    text = result_part(text).strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
        return value if 0 <= value < len(CLASS_NAMES) else None
    wanted = _normalise(text)
    if not wanted:
        return None
    whole = _class_of_name(wanted)
    if whole is not None:
        return whole
    named, ids = _classes_in(text)
    if len(named) == 1 and (not ids or ids == named):
        return next(iter(named))
    if not named and len(ids) == 1:
        return next(iter(ids))
    return None


def _matches(question: Question, kind: str, expected: Any, accepted: Sequence[int], value: Any) -> bool:
    if kind == "number":
        tolerance = question.tolerance or 1e-6 * max(1.0, abs(float(expected)))
        return abs(value - float(expected)) <= tolerance + 1e-12
    if kind == "size":
        return tuple(value) == tuple(expected)
    if kind == "set":
        return tuple(sorted(value)) == tuple(sorted(expected))
    return value in (accepted or (expected,))


def _parse(kind: str, text: str):
    return {"number": parse_number, "size": parse_size, "set": parse_set}.get(kind, parse_class)(text)


#: What a student is asked to fix when an answer of each kind cannot be read.
UNREADABLE = {
    "number": "Please answer with a number.",
    "size": "Please answer as height × width, e.g. 128 x 128.",
    "set": "Please list the numbers (e.g. '4, 6'), or write 'none'.",
    "class": "Please answer with a class name (as in the legend) or its id.",
}


def _shown(kind: str, value: Any) -> str:
    if kind == "size":
        return f"{value[0]} × {value[1]}"
    if kind == "class":
        return numbered_label(value)
    if kind == "set":
        return value_text("set", value)
    return format_number(value)


#: Words an answer to an open question needs before it counts as an attempt (and the model answer shows).
MIN_ATTEMPT_WORDS = 5


def check_answer(question: Question, text: str | None) -> Feedback:
    """Compare a student's answer with the value computed for ``question`` and,
    when it has alternatives, with the other model's value.

    An open question's answer is an attempt ('open') once it has
    ``MIN_ATTEMPT_WORDS`` words; a shorter one is 'short' (saved, no model answer yet).
    """
    text = (text or "").strip()
    if not text:
        return Feedback("empty", "")
    if question.kind == "text" and len(re.findall(r"\w+", text)) < MIN_ATTEMPT_WORDS:
        return Feedback("short", f"Saved. Write a sentence or two (at least {MIN_ATTEMPT_WORDS} words) and submit "
                                 "it to compare with the model answer.")
    if not question.checkable:
        return Feedback("open", "Saved. This question has no single value to check; compare with the model "
                                "answer and discuss it in class.")
    hint = f" Hint: {question.hint}" if question.hint else ""
    value = _parse(question.kind, text)
    if value is None:
        return Feedback("unreadable", UNREADABLE[question.kind])
    mine = _matches(question, question.kind, question.answer, question.accepted, value)
    alternatives = [alt for alt in question.alternatives
                    if alt.answer is not None and _matches(question, question.kind, alt.answer, alt.accepted, value)]
    if mine:
        same = [alt for alt in question.alternatives if alt.answer is not None and _matches(
            question, question.kind, alt.answer, alt.accepted, question.answer)]
        if same:
            return Feedback("correct", f"Correct: {question.answer_text()}, for {question.source} and "
                                       f"{same[0].source} alike.", "both")
        where = f" for {question.source}" if question.alternatives and question.source else ""
        return Feedback("correct", f"Correct{where}: {question.answer_text()}.", "primary")
    if alternatives:
        alt = alternatives[0]
        theirs = value_text(question.kind, alt.answer, alt.accepted, question.unit)
        return Feedback("correct", f"Right for {alt.source}: {theirs}. {question.source[:1].upper()}"
                                   f"{question.source[1:]} gives {question.answer_text()}.", "alternative")
    return Feedback("not_yet", f"Not yet: {_shown(question.kind, value)} is not what this model and data give."
                               f"{hint}")
