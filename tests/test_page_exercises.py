"""The Exercises page through Streamlit's AppTest, on the tiny synthetic dataset
and a real (untrained, 128 px lecture preset) Keras model: nothing is mocked.

The expected answers are computed here with seglib from the same dataset and
model, never typed in, exactly as the page must do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import APPTEST_TIMEOUT
from seglib import exercises as ex
from seglib.config import get_preset
from seglib.dataset import open_dataset
from seglib.stats import dataset_stats

ROOT = Path(__file__).resolve().parent.parent
MODEL = "untrained:lecture"


def _exercises(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=APPTEST_TIMEOUT)
    at.query_params["model"] = MODEL
    for key, value in query.items():
        at.query_params[key] = str(value)
    at.run()
    at.switch_page("pages/exercises.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _download(at: AppTest):
    buttons = [b for b in at.get("download_button")]
    assert buttons, "no download button"
    return buttons[0]


def test_checkable_question_right_and_wrong(tiny_dataset):
    at = _exercises(exercise="13-3")
    assert at.session_state["exercise"] == "13-3"
    channels = get_preset("lecture").model.num_classes
    box = at.text_input(key="answer_output_channels")
    box.input(str(channels + 1)).run()
    assert any("Not yet" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.success
    at.text_input(key="answer_output_channels").input(str(channels)).run()
    assert any(f"Correct: {channels}" in s.value for s in at.success), [s.value for s in at.success]
    assert not at.warning


def test_background_fraction_is_checked_against_the_dataset(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    background = float(stats.fractions[0])
    at = _exercises(exercise="13-4")
    at.text_input(key="answer_background_fraction").input(f"{background:.2f}").run()
    assert any("Correct" in s.value for s in at.success)
    rarest = ex.dataset_numbers(stats)["rarest"][0]
    wrong = next(i for i in range(1, 20) if i not in ex.dataset_numbers(stats)["rarest"])
    at.text_input(key="answer_rarest").input(str(wrong)).run()
    assert any("Not yet" in w.value for w in at.warning)
    at.text_input(key="answer_rarest").input(ex.CLASS_NAMES[rarest].lower()).run()
    assert len(at.success) == 2 and not at.warning


def test_answers_survive_switching_exercise_and_download(tiny_dataset):
    at = _exercises(exercise="13-1")
    at.text_area(key="answer_labels_meaning").input("The face sits below the hair.").run()
    at.segmented_control(key="exercise").set_value("13-3").run()
    assert at.query_params["exercise"] == ["13-3"] or at.query_params["exercise"] == "13-3"
    at.text_input(key="answer_output_channels").input("20").run()
    at.segmented_control(key="exercise").set_value("13-1").run()
    assert at.text_area(key="answer_labels_meaning").value == "The face sits below the hair."

    button = _download(at)
    assert button.proto.label.startswith("Download my answers")
    assert at.session_state["exercise_answers"]["labels_meaning"] == "The face sits below the hair."
    markdown = _markdown(at)
    assert "The face sits below the hair." in markdown
    assert "**Dataset:** synthetic" in markdown
    assert "Untrained: lecture" in markdown
    assert "**Answer:** 20" in markdown and "(correct)" in markdown
    assert "Exercise 13-6" in markdown


def _markdown(at: AppTest) -> str:
    """The text the download button serves (the page keeps it in the session;
    the Chromium test checks the downloaded file itself)."""
    return at.session_state["exercise_answers_markdown"]


def test_links_open_the_right_pages_with_state(tiny_dataset):
    at = _exercises(exercise="13-5")
    targets = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    assert "predictions" in targets, targets
    assert "image=0" in targets["predictions"]


def test_model_link_rebuilds_the_model_in_use(tiny_dataset):
    at = _exercises(exercise="13-3")
    targets = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    size = get_preset("lecture").model.image_size
    assert targets["model"] in (f"preset=lecture&size={size}", f"size={size}&preset=lecture"), targets
