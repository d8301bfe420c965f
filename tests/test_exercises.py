"""seglib.lab.exercises: questions, answer checking, model answers, the Markdown export and loading it back.

Expected values come from real seglib computations on the tiny dataset and a
real 64 px model, or from hand computations on hand-made masks and a tiny
model with known logits.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from seglib import keras_example
from seglib.lab import exercises as ex
from seglib.lab import answers as lab_answers
from seglib.lab import facts as lab_facts
from seglib.lab import questions as lab_questions
from seglib.lab import saving as lab_saving
from seglib.classes import CLASS_NAMES
from seglib.presets import get_preset
from seglib.data.dataset import open_dataset
from seglib.data.stats import dataset_stats
from seglib.analysis import loss_shares


@pytest.fixture(scope="module")
def facts(tiny_dataset, tiny_model):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    return {**lab_facts.dataset_numbers(stats), **lab_facts.model_numbers(tiny_model), "model_preset": "lecture"}


def _question(facts, key):
    return next(q for q in ex.all_questions(ex.build_exercises(facts)) if q.key == key)


def test_model_numbers_follow_the_model(tiny_model):
    numbers = lab_facts.model_numbers(tiny_model)
    config = get_preset("lecture").model
    assert numbers["num_classes"] == config.num_classes
    assert (numbers["output_height"], numbers["output_width"]) == (64, 64)
    assert numbers["stride"] == config.output_stride
    assert numbers["widest_rate"] == max(config.atrous_rates)
    assert numbers["widest_spacing"] == max(config.atrous_rates) * config.output_stride
    assert numbers["widest_receptive_field"] > numbers["widest_spacing"]
    assert numbers["atrous_rates"] == sorted(config.atrous_rates)


def test_dataset_numbers_match_the_statistics(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    numbers = lab_facts.dataset_numbers(stats)
    assert numbers["background_fraction"] == pytest.approx(stats.fractions[0])
    counts = stats.class_counts
    assert 0 not in numbers["most_frequent"]
    assert all(counts[i] == max(counts[1:]) for i in numbers["most_frequent"])
    assert all(counts[i] == min(c for c in counts[1:] if c > 0) for i in numbers["rarest"])
    assert numbers["all_background_accuracy"] == pytest.approx(stats.fractions[0])
    assert numbers["all_background_mean_iou"] == pytest.approx(stats.fractions[0] / np.count_nonzero(counts))


def test_six_exercises_with_checkable_questions(facts):
    exercises = ex.build_exercises(facts)
    assert [e.key for e in exercises] == ["13-1", "13-2", "13-3", "13-4", "13-5", "13-6"]
    checkable = {q.key for q in ex.all_questions(exercises) if q.checkable}
    assert {"output_channels", "output_size", "widest_spacing", "widest_receptive_field", "one_by_one",
            "background_fraction", "most_frequent", "rarest", "all_background_accuracy",
            "all_background_mean_iou", "flip_label"} <= checkable
    widest = max(get_preset("lecture").model.atrous_rates)
    assert f"rate-{widest}" in _question(facts, "widest_spacing").text


def test_the_class_count_is_asked_once(facts):
    """'How many classes / channels / logits' was asked three times; one is enough."""
    counting = [q for q in ex.all_questions(ex.build_exercises(facts))
                if q.kind == "number" and q.answer == facts["num_classes"]]
    assert [q.key for q in counting] == ["output_channels"]


def test_every_question_is_answered_by_a_linked_section(facts):
    for exercise in ex.build_exercises(facts):
        anchors = {link.anchor for link in exercise.links}
        for question in exercise.questions:
            assert question.view in anchors, (exercise.key, question.key)
        for link in exercise.links:
            query = link.query(exercise.key)
            assert query[lab_questions.SECTION_PARAM] == link.anchor and query[lab_questions.EXERCISE_PARAM] == exercise.key
    loss = next(link for link in ex.build_exercises(facts)[3].links if link.anchor == "imbalance-and-the-loss")
    assert loss.page == "dataset.py"
    assert [e.key for e in ex.exercises_for_page(ex.build_exercises(facts), "predictions.py")] == ["13-5", "13-6"]


def test_numbers_are_checked_with_tolerance(facts):
    question = _question(facts, "background_fraction")
    value = facts["background_fraction"]
    assert lab_answers.check_answer(question, f"{value:.2f}").correct
    assert lab_answers.check_answer(question, f"{value * 100:.1f} %").correct
    assert lab_answers.check_answer(question, f"{value + 0.05:.2f}").status == "not_yet"
    assert lab_answers.check_answer(question, "about half").status == "unreadable"
    assert lab_answers.check_answer(question, "  ").status == "empty"
    spacing = _question(facts, "widest_spacing")
    assert lab_answers.check_answer(spacing, f"{facts['widest_spacing']:.0f} px").correct
    feedback = lab_answers.check_answer(spacing, "18")
    assert feedback.status == "not_yet" and "Atrous scales" in feedback.message


def test_sizes_and_classes(facts):
    size = _question(facts, "output_size")
    assert lab_answers.check_answer(size, "64 x 64").correct
    assert lab_answers.check_answer(size, "64×64×20").correct
    assert lab_answers.check_answer(size, "4 x 4").status == "not_yet"
    most = _question(facts, "most_frequent")
    class_id = facts["most_frequent"][0]
    assert lab_answers.check_answer(most, CLASS_NAMES[class_id]).correct
    assert lab_answers.check_answer(most, CLASS_NAMES[class_id].lower().replace("-", " ")).correct
    assert lab_answers.check_answer(most, str(class_id)).correct
    assert lab_answers.check_answer(most, "0").status == "not_yet"
    assert lab_answers.check_answer(most, "banana").status == "unreadable"


@pytest.mark.parametrize("text, class_id", [
    ("gloves", 3), ("Gloves", 3), ("GLOVE", 3), ("socks", 8), ("sock", 8), ("left arms", 14),
    ("Right-Shoes", 19), ("hats", 1), ("faces", 13), ("dresses", 6), ("sunglass", 4), ("Upper clothes", 5),
    ("skirts", 12), ("scarves", 11), ("pants", 9), ("14 Left-arm", 14),
    # In a sentence, with its id, or as the result of a worked answer.
    ("the right arm", 15), ("Right-arm, id 15", 15), ("It must carry 15 Right-arm", 15), ("14 -> 15", 15),
    ("the skin of the torso", 10)])
def test_class_names_in_any_case_and_plural(text, class_id):
    assert lab_answers.parse_class(text) == class_id


@pytest.mark.parametrize("text", ["14 or 15", "the left arm or the right arm", "Right-arm, id 14", "banana"])
def test_a_class_answer_that_names_two_classes_is_not_read(text):
    assert lab_answers.parse_class(text) is None


@pytest.mark.parametrize("text, value", [
    ("16 * 18 = 288", 288.0), ("2 x 6 x 16 = 192 px", 192.0), ("p ≈ 0.62", 0.62), ("512,000", 512000.0),
    ("160 × 160 × 20 = 512,000", 512000.0), ("0,42", 0.42), ("42 %", 0.42)])
def test_a_worked_answer_is_read_by_its_last_number(text, value):
    assert lab_answers.parse_number(text) == pytest.approx(value)


def test_sets_of_rates():
    assert lab_answers.parse_set("4 and 6") == (4, 6)
    assert lab_answers.parse_set("the 3x3 rate-6 and rate 4 branches") == (4, 6)
    assert lab_answers.parse_set("None of them") == ()
    assert lab_answers.parse_set("0") == ()
    assert lab_answers.parse_set("some") is None


def test_keras_example_answers_are_accepted_and_named(facts):
    """Students of the handout answer from the Keras example (512 px, rates 6/12/18)."""
    feedback = lab_answers.check_answer(_question(facts, "output_size"), "512 x 512")
    assert feedback.correct and feedback.matched == "alternative"
    assert feedback.message.startswith("Right for the Keras example (ResNet50, 512 px, rates 6/12/18): 512 × 512.")
    assert "The sidebar model (lecture, 64 px, rates 2/4/6) gives 64 × 64" in feedback.message
    spacing = lab_answers.check_answer(_question(facts, "widest_spacing"), "288")
    assert spacing.correct and "288 px" in spacing.message
    assert f"gives {facts['widest_spacing']:.0f} px" in spacing.message
    assert lab_answers.check_answer(_question(facts, "widest_receptive_field"), "867 px").matched == "alternative"
    stride = lab_answers.check_answer(_question(facts, "stride"), "16")
    assert stride.matched == "both" and "alike" in stride.message
    mine = lab_answers.check_answer(_question(facts, "widest_spacing"), f"{facts['widest_spacing']:.0f}")
    assert mine.matched == "primary" and "for the sidebar model" in mine.message
    one_by_one = _question(facts, "one_by_one")
    assert lab_answers.check_answer(one_by_one, "6, 12, 18").matched == "alternative"
    assert lab_answers.check_answer(one_by_one, "2").status == "not_yet"
    assert lab_answers.check_answer(_question(facts, "output_channels"), "20").matched == "both"


def test_the_output_count_is_reasoned_for_either_model(facts):
    """H x W x C, for the 64 px model and the Keras example; a worked answer counts by its result."""
    question = _question(facts, "output_values")
    assert question.reasoning and question.answer == 64 * 64 * 20
    assert lab_answers.check_answer(question, "64 x 64 x 20 = 81,920").matched == "primary"
    keras = lab_answers.check_answer(question, "512 × 512 × 20 = 5,242,880")
    assert keras.correct and keras.matched == "alternative"
    assert lab_answers.check_answer(question, "64 x 64 x 20").status == "not_yet"  # no result: 64 is read


@pytest.fixture(scope="module")
def hand_facts():
    """Facts of a hand-made split (10 labelled pixels), a hand-made image and a tiny model
    whose logits are the same known vector at every pixel."""
    from seglib.evaluation import inference
    from seglib._tf import import_tf

    counts = np.zeros(20, dtype=np.int64)
    counts[[0, 2, 14, 15]] = [6, 2, 1, 1]
    stats = types.SimpleNamespace(dataset="hand", split="train", num_images=1, total_pixels=10, num_classes=20,
                                  class_counts=counts, fractions=counts / counts.sum())
    _, keras = import_tf()
    bias = np.zeros(20, dtype="float32")
    bias[5], bias[2] = 3.0, 1.5
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Conv2D(20, 1, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant(bias))(inputs)
    model = keras.Model(inputs, outputs)
    mask = np.array([[0, 0, 14, 15], [0, 2, 2, 0]], dtype=np.uint8)  # 8 pixels, 2 left/right
    prediction = inference.predict(model, np.zeros((2, 4, 3), dtype=np.uint8))
    return {**lab_facts.dataset_numbers(stats),
            **lab_facts.sample_numbers("val", 0, mask, prediction.logits_at(1, 2), (1, 2)),
            "num_classes": 20, "image_size": 160, "stride": 16.0, "atrous_rates": [2, 4, 6],
            "model_preset": "lecture"}


@pytest.mark.parametrize("key, answer, wrong", [
    # A model saying 'background' everywhere: right on the 6 background pixels of 10.
    ("all_background_accuracy", "0.60", "0.2"),
    # IoU(background) = 6/10, IoU = 0 for the other 3 classes present: 0.6 / 4.
    ("all_background_mean_iou", "0.150", "0.6"),
    # At 64 px (16 x 4) the ASPP map is 4 units wide: rates 4 and 6 read only padding off-centre.
    ("one_by_one", "4, 6", "6"),
    # softmax of (3, 1.5, 18 zeros) / 2 at class 5: e^1.5 / (e^1.5 + e^0.75 + 18); the page prints the
    # untempered e^3 / (e^3 + e^1.5 + 18) = 0.472, which is not the answer.
    ("pixel_probability", f"{math.e ** 1.5 / (math.e ** 1.5 + math.e ** 0.75 + 18):.3f}",
     f"{math.e ** 3 / (math.e ** 3 + math.e ** 1.5 + 18):.3f}"),
    # The winning logit 3 can fall by 1.5 before class 2 (1.5) wins.
    ("logit_margin", "1.5", "3"),
    # Left arm becomes right arm.
    ("flip_label", "right arm", "left arm"),
    ("flip_label", "Right-arm, id 15", "the left arm"),
    # Median-frequency weights w = median / f: rarest present (Left-arm, 1 px) over background (6 px) = 6.
    ("rare_weight_ratio", "6", "0.17"),
    # 2 of 8 pixels swapped, each 1/19 off: 2 / 8 / 19.
    ("swap_error", f"{2 / 8 / 19:.4f}", "0.25"),
])
def test_reasoning_checks_against_hand_computations(hand_facts, key, answer, wrong):
    question = _question(hand_facts, key)
    assert question.checkable
    assert lab_answers.check_answer(question, answer).correct, (key, question.answer)
    assert lab_answers.check_answer(question, wrong).status == "not_yet", (key, question.answer)
    assert question.model_answer  # the worked answer shown once it is right


def test_pixel_question_names_the_pixel_and_its_link(hand_facts):
    exercise = ex.build_exercises(hand_facts)[4]
    question = exercise.questions[0]
    assert "validation image 1" in question.text and "x = 2, y = 1" in question.text
    params = exercise.links[0].query("13-5")
    assert params == {"split": "val", "image": "0", "px": "2", "py": "1", "section": "inside-one-pixel",
                      "exercise": "13-5"}


def test_open_questions_have_model_answers(facts):
    for question in ex.all_questions(ex.build_exercises(facts)):
        if question.kind == "text":
            assert len(question.model_answer) > 80, question.key
    # A keystroke or two is not an attempt: the model answer waits for a few words.
    assert lab_answers.check_answer(_question(facts, "imbalance"), "Background dominates.").status == "short"
    feedback = lab_answers.check_answer(_question(facts, "imbalance"), "Background has most of the pixels here.")
    assert feedback.status == "open"


def test_loss_question_no_longer_takes_the_handouts_premise(facts):
    question = _question(facts, "loss_choice")
    assert "ignore" not in question.text.lower()
    assert question.view == "imbalance-and-the-loss"
    assert "demo model and for an untrained one" in question.text
    assert "by accident, not by design" in question.model_answer and "no class weights" in question.model_answer
    for reason in ("integer", "one-hot", "logits", "proper scoring rule", "calibrated"):
        assert reason in question.model_answer
    assert "dominates the gradient" not in question.model_answer and "softmax means" not in question.model_answer
    intro = ex.build_exercises(facts)[3].intro
    assert loss_shares.CROSS_ENTROPY_WEIGHTING in intro and loss_shares.RANDOM_VS_TRAINED in intro
    assert "as much as it has pixels" not in intro


def test_error_exercise_points_to_the_right_wrong_map_and_the_differences(facts):
    exercise = ex.build_exercises({**facts, "weights": "pretrained"})[5]
    assert "bright pixels are wrong" not in exercise.intro
    assert "right/wrong map" in exercise.intro and "nearly black" in exercise.intro
    assert "Only the single average error is scaled to [0, 1]" in exercise.intro
    notes = "\n".join(exercise.notes)
    lecture = get_preset("lecture").train
    assert f"{lecture.learning_rate:g}" in notes and "1e-3" not in notes and "0.001" in notes
    assert "ImageNet" in notes and "model.weights='pretrained'" in notes and "image-level labels" in notes
    assert "nearest neighbour" in notes and "bilinear" in notes
    assert all(sentence in notes for sentence in keras_example.difference_sentences())   # the one list
    random_start = "\n".join(ex.build_exercises({**facts, "weights": "none"})[5].notes)
    assert "random weights" in random_start


def test_answers_follow_the_model_not_constants():
    facts = {"num_classes": 7, "image_size": 96, "output_height": 96, "output_width": 96,
             "widest_rate": 4, "widest_spacing": 64.0, "widest_receptive_field": 300.0}
    assert lab_answers.check_answer(_question(facts, "output_channels"), "7").correct
    assert not lab_answers.check_answer(_question(facts, "output_channels"), "21").correct
    assert "rate-4" in _question(facts, "widest_spacing").text


def test_missing_facts_leave_questions_open():
    for key in ("background_fraction", "pixel_probability", "swap_error", "one_by_one", "all_background_accuracy"):
        question = _question({}, key)
        assert not question.checkable, key
        assert lab_answers.check_answer(question, "0.5").status == "open"


def test_missing_facts_never_put_none_in_what_a_student_reads():
    """While the sidebar model's numbers are still being computed (just after start-up) the questions are
    drawn without them: the Atrous page's sidebar once asked "For a None px input, ...?"."""
    import dataclasses

    def texts(value, where: str):
        """Every string in ``value``: its dataclass fields, tuples, lists and dicts, all the way down."""
        if isinstance(value, str):
            yield where, value
        elif dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                yield from texts(getattr(value, field.name), f"{where}.{field.name}")
        elif isinstance(value, (tuple, list)):
            for index, item in enumerate(value):
                yield from texts(item, f"{where}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from texts(item, f"{where}[{key!r}]")

    found = list(texts(ex.build_exercises({}), "exercises"))
    assert any(".notes[" in where for where, _ in found)  # the walk reaches the notes built from the facts
    assert [(where, text) for where, text in found if "None" in text] == []


def test_markdown_export_has_name_date_answers_and_key_numbers(facts):
    facts = {**facts, "model_label": "Untrained: lecture", "run_id": "r1", "run_best_val_mean_iou": 0.5123}
    exercises = ex.build_exercises(facts)
    text = lab_saving.answers_markdown(exercises, {"output_channels": "20", "labels_meaning": "Hair is on top.\nFace below.",
                                           "output_size": "512 x 512"},
                               facts, student="Ada Lovelace", date="2026-11-25")
    assert text.startswith("# ")
    assert "- **Student:** Ada Lovelace" in text and "- **Date:** 2026-11-25" in text
    assert "**Dataset:** synthetic" in text and "**Run:** r1" in text and "0.512" in text
    assert "Hair is on top.\n   Face below." in text
    # A student's file says whether each check passed, never the computed value.
    assert "**Answer:** 20" in text and "*Checked: correct.*" in text and "Computed value" not in text
    assert "*Checked: correct for the Keras example.*" in text
    assert "_(no answer yet)_" in text and "*Checked: not answered.*" in text
    assert text.count("## Exercise 13-") == 6
    key = lab_saving.answer_key_markdown(exercises, facts, date="2026-11-25")
    assert "answer key" in key and "Computed value: 20 (not answered)" in key and "Ada" not in key


def test_an_exported_file_loads_back(facts):
    answers = {"labels_meaning": "Hair on top.\n\n  - the face below\n**bold** <!-- x -->",
               "output_channels": "20", "flip_label": "Right-arm"}
    text = lab_saving.answers_markdown(ex.build_exercises(facts), answers, facts, student="Ada")
    saved = lab_saving.parse_answers_markdown(text)
    assert saved.student == "Ada"
    assert saved.answers == answers
    # A student may edit the file by hand before loading it.
    edited = text.replace("**Answer:** 20", "**Answer:** 21")
    assert lab_saving.parse_answers_markdown(edited).answers["output_channels"] == "21"
    with pytest.raises(ValueError, match="no answers written by the Exercises page"):
        lab_saving.parse_answers_markdown("# My notes\n\nNothing here.")


def test_browser_storage_round_trip_and_merge():
    text = lab_saving.storage_text({"a_1": "yes", "empty": "  ", "b": "multi\nline"}, student="Ada")
    saved = lab_saving.parse_storage(text)
    assert saved == lab_saving.SavedAnswers("Ada", {"a_1": "yes", "b": "multi\nline"})
    for junk in (None, "", "not json", "[1, 2]", '{"answers": 3}', '{"answers": {"bad key!": "x", "k": 5}}'):
        assert lab_saving.parse_storage(junk).answers == {}
    current = {"a_1": "typed now", "c": ""}
    assert lab_saving.merge_answers(current, {"a_1": "old", "c": "from the browser"}) == {
        "a_1": "typed now", "c": "from the browser"}
    assert lab_saving.merge_answers(current, {"a_1": "from a file"}, replace=True)["a_1"] == "from a file"


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="Received: kind='essay'"):
        lab_questions.Question("x", "13-1", "?", kind="essay")
