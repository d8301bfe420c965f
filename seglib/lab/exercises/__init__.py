"""The lab's exercises 13-1 ... 13-6: their questions, checkable answers and model answers.

The questions are written for this project. Questions with a number, a size, a
class or a set of rates for an answer are *checked*: the expected value is
taken from the ``facts`` (``seglib.lab.facts``: ``dataset_numbers``,
``model_numbers``, ``sample_numbers`` and ``run_numbers``), never typed in as
a constant, so a check stays right when a student switches dataset, preset or
input size. Several need reasoning rather than reading one number off one view
(``seglib.lab.checks`` computes those).

Students of the handout run the Keras example (ResNet50, 512 px, rates
6/12/18) while the dashboard's sidebar model is usually smaller; shape and
scale questions accept either model's answer and say which one it matches
(``Alternative``). Open questions have a model answer the page shows once the
student has submitted a real attempt (``ui.lab``). ``Question.reasoning`` names
the step a check needs beyond reading one number; no checked value is ever part
of a question's text, hint or introduction.

Every question names the section (``Question.view``, a heading anchor) of a
linked page that answers it; ``Exercise.links`` lead there. Answers are checked
by ``seglib.lab.answers`` and saved by ``seglib.lab.saving``.

One module per exercise, each building its ``Exercise`` from the facts: ``labels`` (13-1),
``scales`` (13-2), ``output_shape`` (13-3), ``imbalance`` (13-4), ``logits`` (13-5) and
``error_regions`` (13-6); ``common`` holds what they share (the Keras example's answers beside
the sidebar model's, the pages' queries). No Streamlit here: the pages draw what this package returns.

>>> from seglib.lab.answers import check_answer
>>> facts = {"num_classes": 20, "output_height": 64, "output_width": 64, "image_size": 64}
>>> question = next(q for q in build_exercises(facts)[2].questions if q.key == "output_channels")
>>> check_answer(question, "20").correct
True
"""

from __future__ import annotations

from typing import Any, Sequence

from seglib.lab.exercises.common import Models
from seglib.lab.exercises.error_regions import errors_exercise
from seglib.lab.exercises.imbalance import imbalance_exercise
from seglib.lab.exercises.labels import labels_exercise
from seglib.lab.exercises.logits import logits_exercise
from seglib.lab.exercises.output_shape import output_shape_exercise
from seglib.lab.exercises.scales import scales_exercise
from seglib.lab.questions import Exercise, Question


def build_exercises(facts: dict[str, Any]) -> list[Exercise]:
    """The six exercises, with checkable answers taken from ``facts`` (the merged
    output of ``dataset_numbers``, ``model_numbers``, ``sample_numbers`` and
    ``run_numbers``; ``facts['keras']`` defaults to ``keras_example_numbers()``).

    A fact that is missing (no dataset, a model without ASPP) leaves its
    question open instead of checking against a made-up value.
    """
    models = Models.of(facts)
    return [labels_exercise(facts), scales_exercise(facts, models), output_shape_exercise(facts, models),
            imbalance_exercise(facts), logits_exercise(facts), errors_exercise(facts)]


def all_questions(exercises: Sequence[Exercise]) -> list[Question]:
    return [question for exercise in exercises for question in exercise.questions]


def exercises_for_page(exercises: Sequence[Exercise], page: str) -> list[Exercise]:
    """The exercises with a link to ``page`` (a file under ``pages/``), in order."""
    return [exercise for exercise in exercises if any(link.page == page for link in exercise.links)]
