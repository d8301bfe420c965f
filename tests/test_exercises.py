"""seglib.exercises: questions, answer checking and the Markdown export.

Expected values come from real seglib computations on the tiny dataset and a
real 64 px model, so the tests follow the code that computes them.
"""

from __future__ import annotations

import pytest

from seglib import exercises as ex
from seglib.classes import CLASS_NAMES
from seglib.config import get_preset
from seglib.dataset import open_dataset
from seglib.model import build_model
from seglib.stats import dataset_stats


@pytest.fixture(scope="module")
def small_model():
    return build_model(get_preset("lecture").with_overrides({"model.image_size": 64}).model)


@pytest.fixture(scope="module")
def facts(tiny_dataset, small_model):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    return {**ex.dataset_numbers(stats), **ex.model_numbers(small_model)}


def _question(facts, key):
    return next(q for q in ex.all_questions(ex.build_exercises(facts)) if q.key == key)


def test_model_numbers_follow_the_model(small_model):
    numbers = ex.model_numbers(small_model)
    config = get_preset("lecture").model
    assert numbers["num_classes"] == config.num_classes
    assert (numbers["output_height"], numbers["output_width"]) == (64, 64)
    assert numbers["stride"] == config.output_stride
    assert numbers["widest_rate"] == max(config.atrous_rates)
    assert numbers["widest_spacing"] == max(config.atrous_rates) * config.output_stride
    assert numbers["widest_receptive_field"] > numbers["widest_spacing"]


def test_dataset_numbers_match_the_statistics(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    numbers = ex.dataset_numbers(stats)
    assert numbers["background_fraction"] == pytest.approx(stats.fractions[0])
    counts = stats.class_counts
    assert 0 not in numbers["most_frequent"]
    assert all(counts[i] == max(counts[1:]) for i in numbers["most_frequent"])
    assert all(counts[i] == min(c for c in counts[1:] if c > 0) for i in numbers["rarest"])


def test_six_exercises_with_checkable_questions(facts):
    exercises = ex.build_exercises(facts)
    assert [e.key for e in exercises] == ["13-1", "13-2", "13-3", "13-4", "13-5", "13-6"]
    checkable = {q.key for q in ex.all_questions(exercises) if q.checkable}
    assert {"output_channels", "output_size", "widest_spacing", "widest_receptive_field",
            "background_fraction", "most_frequent", "rarest"} <= checkable
    widest = max(get_preset("lecture").model.atrous_rates)
    assert f"rate-{widest}" in _question(facts, "widest_spacing").text


def test_numbers_are_checked_with_tolerance(facts):
    question = _question(facts, "background_fraction")
    value = facts["background_fraction"]
    assert ex.check_answer(question, f"{value:.2f}").correct
    assert ex.check_answer(question, f"{value * 100:.1f} %").correct
    assert ex.check_answer(question, f"{value + 0.05:.2f}").status == "not_yet"
    assert ex.check_answer(question, "about half").status == "unreadable"
    assert ex.check_answer(question, "  ").status == "empty"
    spacing = _question(facts, "widest_spacing")
    assert ex.check_answer(spacing, f"{facts['widest_spacing']:.0f} px").correct
    feedback = ex.check_answer(spacing, "18")
    assert feedback.status == "not_yet" and "Atrous scales" in feedback.message


def test_sizes_and_classes(facts):
    size = _question(facts, "output_size")
    assert ex.check_answer(size, "64 x 64").correct
    assert ex.check_answer(size, "64×64×20").correct
    assert ex.check_answer(size, "4 x 4").status == "not_yet"
    most = _question(facts, "most_frequent")
    class_id = facts["most_frequent"][0]
    assert ex.check_answer(most, CLASS_NAMES[class_id]).correct
    assert ex.check_answer(most, CLASS_NAMES[class_id].lower().replace("-", " ")).correct
    assert ex.check_answer(most, str(class_id)).correct
    assert ex.check_answer(most, "0").status == "not_yet"
    assert ex.check_answer(most, "banana").status == "unreadable"


def test_answers_follow_the_model_not_constants():
    facts = {"num_classes": 7, "image_size": 96, "output_height": 96, "output_width": 96,
             "widest_rate": 4, "widest_spacing": 64.0, "widest_receptive_field": 300.0}
    assert ex.check_answer(_question(facts, "output_channels"), "7").correct
    assert not ex.check_answer(_question(facts, "output_channels"), "20").correct
    assert "rate-4" in _question(facts, "widest_spacing").text


def test_missing_facts_leave_questions_open():
    question = _question({}, "background_fraction")
    assert not question.checkable
    assert ex.check_answer(question, "0.5").status == "open"


def test_markdown_export_has_answers_and_key_numbers(facts):
    facts = {**facts, "model_label": "Untrained: lecture", "run_id": "r1", "run_best_val_mean_iou": 0.5123}
    exercises = ex.build_exercises(facts)
    text = ex.answers_markdown(exercises, {"output_channels": "20", "labels_meaning": "Hair is on top.\nFace below."},
                               facts)
    assert text.startswith("# ")
    assert "**Dataset:** synthetic" in text and "**Run:** r1" in text and "0.512" in text
    assert "Hair is on top.\n   Face below." in text
    assert "**Answer:** 20" in text and "Computed value: 20 (correct)" in text
    assert "_(no answer yet)_" in text and "(not answered)" in text
    assert text.count("## Exercise 13-") == 6


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="Received: kind='essay'"):
        ex.Question("x", "13-1", "?", kind="essay")
