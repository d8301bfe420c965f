"""Home under AppTest: exercise 13-4 is asked so that students reach the right answer, and
the page says where the dashboard departs from the Keras example, with the presets' numbers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from apptest_support import open_app
from markdown_check import plain
from seglib import keras_example
from seglib.classes import CLASS_NAMES
from seglib.presets import get_preset
from seglib.training import diagnosis, planning


@pytest.fixture(scope="module")
def home_app(tiny_dataset):
    return open_app()


@pytest.fixture(scope="module")
def home(home_app) -> str:
    return "\n".join(plain(m.value) for m in home_app.markdown)


@pytest.mark.slow
def test_the_lab_steps_are_the_registry_pages_with_their_summaries(home_app):
    from ui import registry

    steps = [page for page in registry.PLANNED_PAGES if page.step]
    titles = [m.value for m in home_app.markdown if " · " in m.value and m.value.startswith("**")]
    assert titles == [f"**{number} · {page.title}**" for number, page in enumerate(steps, 1)]
    captions = [c.value for c in home_app.caption]
    assert all(page.summary in captions for page in steps)


@pytest.mark.slow
def test_exercise_13_4_asks_how_much_each_class_weighs_in_cross_entropy(home):
    assert "why does the loss suit that" not in home  # the handout's premise, answered for the student
    assert "How much does each class weigh in plain cross-entropy (a mean over pixels)" in home
    assert "what would shift weight to the rare ones" in home


@pytest.mark.slow
def test_home_reads_the_reference_runs_from_their_files(home):
    from ui.training.files import reference_comparison

    summary = diagnosis.summary_text(reference_comparison())
    assert summary and plain(summary) in home


@pytest.mark.slow
def test_the_differences_from_the_keras_example_follow_the_presets(home):
    example, course, lecture = get_preset("keras-example"), get_preset("course"), get_preset("lecture")
    assert f"Adam, no weight decay, learning rate {example.train.learning_rate:g} (constant)" in home
    assert (f"AdamW, weight decay {course.train.weight_decay:g}, learning rate {course.train.learning_rate:g} "
            f"(× {course.train.decay_rate:g} every {course.train.decay_steps:,} steps)") in home
    assert f"learning rate {lecture.train.learning_rate:g}" in home
    assert course.train.learning_rate < example.train.learning_rate and "a lower start" in home
    assert (("a start higher than the example's" in home)
            == (lecture.train.learning_rate > example.train.learning_rate))
    assert f"model.weights='{lecture.model.weights}'" in home
    assert "starts from ImageNet weights" in home
    if lecture.model.weights == "pretrained":
        assert "a backbone this project pretrained itself on image-level labels of synthetic images" in home
    for sentence in keras_example.difference_sentences():   # the project's deliberate differences, one home
        assert plain(sentence) in home
    for field, reason in keras_example.COURSE_CHANGES.items():  # the course preset's changes, each with why
        assert f"{field}" in home and plain(reason) in home
    assert plain(planning.DECOUPLED_RULE) in home and planning.weight_decay_sentence(course) in home
    assert (f"momentum {lecture.model.bn_momentum:g} instead of the example's {example.model.bn_momentum:g}"
            in home) == (lecture.model.bn_momentum != example.model.bn_momentum)
    rates = "/".join(map(str, lecture.model.atrous_rates))
    assert f"at {lecture.model.image_size} px with atrous rates {rates}" in home


def test_the_mask_resizing_facts_hold():
    # What the Home page says: bilinear resizing writes Hat (1) between Background (0) and Hair (2) ...
    from seglib.data.dataset import resize_pair

    assert (CLASS_NAMES[0], CLASS_NAMES[1], CLASS_NAMES[2]) == ("Background", "Hat", "Hair")
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 2
    assert 1 in cv2.resize(mask, (13, 13), interpolation=cv2.INTER_LINEAR)
    # ... and the project's resizing keeps only the labels that were there.
    _, resized = resize_pair(np.zeros((8, 8, 3), np.uint8), mask, 13)
    assert set(np.unique(resized)) == {0, 2}
