"""The Exercises page and the exercise side panel through Streamlit's AppTest, on
the tiny synthetic dataset and a real (untrained, lecture preset) Keras model:
nothing is mocked.

The expected answers are computed here with seglib from the same dataset and
model, never typed in, exactly as the page must do.
"""

from __future__ import annotations

import datetime

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import bug_free, open_app, open_source, param
from seglib.lab import exercises as ex
from seglib.lab import facts as lab_facts
from seglib.config import get_preset
from seglib.data.dataset import open_dataset
from seglib.data.stats import dataset_stats

MODEL = "untrained:lecture"

pytestmark = pytest.mark.slow  # every test runs the page


def _exercises(**query) -> AppTest:
    at = open_app(query={"model": MODEL, **query})
    at.switch_page("pages/exercises.py").run()
    bug_free(at)
    return at


def _download(at: AppTest):
    buttons = [b for b in at.get("download_button")]
    assert buttons, "no download button"
    return buttons[0]


def _markdown(at: AppTest) -> str:
    """The text the download button serves (the page keeps it in the session;
    the Chromium test checks the downloaded file itself)."""
    return at.session_state["exercise_answers_markdown"]


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
    rarest = lab_facts.dataset_numbers(stats)["rarest"][0]
    wrong = next(i for i in range(1, 20) if i not in lab_facts.dataset_numbers(stats)["rarest"])
    at.text_input(key="answer_rarest").input(str(wrong)).run()
    assert any("Not yet" in w.value for w in at.warning)
    at.text_input(key="answer_rarest").input(ex.CLASS_NAMES[rarest].lower() + "s").run()  # plural, any case
    assert len(at.success) == 2 and not at.warning


def test_keras_example_answers_are_accepted_with_both_numbers_shown(tiny_dataset):
    at = _exercises(exercise="13-2")
    table = at.dataframe[0].value
    assert list(table.columns) == ["quantity", "sidebar model", "Keras example"]
    assert "512 × 512 × 20" in set(table["Keras example"])
    size = get_preset("lecture").model.image_size
    at.text_input(key="answer_output_size").input("512 x 512").run()
    messages = [s.value for s in at.success]
    assert any(m.startswith("Right for the Keras example") and f"gives {size} × {size}" in m
               for m in messages), messages
    at.text_input(key="answer_widest_spacing").input("288").run()
    assert sum("Right for the Keras example" in s.value for s in at.success) == 2


def test_reasoning_checks_are_computed_live(tiny_dataset):
    """The always-background accuracy equals the training split's background share."""
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    at = _exercises(exercise="13-4")
    at.text_input(key="answer_all_background_accuracy").input(f"{float(stats.fractions[0]):.2f}").run()
    assert any("Correct" in s.value for s in at.success)
    # The worked answer appears once the answer is right.
    assert any("every background pixel is right" in i.value for i in at.info)


def test_model_answer_after_answering_and_instructor_can_hide_it(tiny_dataset):
    at = _exercises(exercise="13-3")
    assert not [i for i in at.info if "Model answer" in i.value]
    at.text_area(key="answer_why_shape").input("One label per pixel.").run()
    assert any("Model answer" in i.value and "one decision per pixel" in i.value for i in at.info)
    try:
        at.toggle(key="hide_model_answers").set_value(True).run()
        assert not [i for i in at.info if "Model answer" in i.value]
        other = _exercises(exercise="13-3")  # another student's session on the same server
        other.text_area(key="answer_why_shape").input("Because.").run()
        assert not [i for i in other.info if "Model answer" in i.value]
    finally:
        at.toggle(key="hide_model_answers").set_value(False).run()
    assert any("Model answer" in i.value for i in at.info)


def test_answers_survive_switching_exercise_and_download(tiny_dataset):
    at = _exercises(exercise="13-1")
    at.text_area(key="answer_labels_meaning").input("The face sits below the hair.").run()
    at.segmented_control(key="exercise").set_value("13-3").run()
    assert param(at, "exercise") == "13-3"
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


def test_name_and_date_in_the_file_and_the_file_loads_back(tiny_dataset):
    at = _exercises(exercise="13-1")
    at.text_input(key="exercise_student_box").input("Ada Lovelace").run()
    at.text_area(key="answer_labels_meaning").input("Hair on top,\nface below.").run()
    markdown = _markdown(at)
    assert "- **Student:** Ada Lovelace" in markdown
    assert f"- **Date:** {datetime.date.today().isoformat()}" in markdown

    fresh = _exercises(exercise="13-1")  # another browser: nothing typed yet
    assert fresh.text_area(key="answer_labels_meaning").value == ""
    fresh.file_uploader(key="answers_upload").upload("answers.md", markdown.encode(), "text/markdown").run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert fresh.text_area(key="answer_labels_meaning").value == "Hair on top,\nface below."
    assert fresh.text_input(key="exercise_student_box").value == "Ada Lovelace"
    assert any("Loaded" in s.value and "Ada Lovelace" in s.value for s in fresh.success)

    other = _exercises(exercise="13-1")
    other.file_uploader(key="answers_upload").upload("notes.md", b"# just notes\n", "text/markdown").run()
    assert any("no answers written by the Exercises page" in e.value for e in other.error)


def test_links_land_on_sections_with_state(tiny_dataset):
    at = _exercises(exercise="13-5")
    targets = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    assert "predictions" in targets, targets
    query = targets["predictions"]
    assert "section=inside-one-pixel" in query and "exercise=13-5" in query and "image=" in query


def test_model_link_rebuilds_the_model_in_use(tiny_dataset):
    at = _exercises(exercise="13-3")
    targets = {link.proto.page: link.proto.query_string for link in at.get("page_link")}
    size = get_preset("lecture").model.image_size
    assert f"preset=lecture&size={size}" in targets["model"], targets
    assert "section=the-final-layer" in targets["model"]


PANEL_SCRIPT = """
import streamlit as st
from ui import lab

lab.exercise_panel({page!r})
st.header("Inside one pixel")
"""


def _panel(page: str, **query) -> AppTest:
    return open_source(PANEL_SCRIPT.format(page=page), query={"model": MODEL, **query})


def test_side_panel_shows_the_linked_exercises_and_shares_answers(tiny_dataset):
    at = _panel("predictions.py", exercise="13-6", section="one-image")
    expanders = [e.label for e in at.sidebar.expander]
    assert expanders == ["Exercise 13-6: Where the errors are", "Exercise 13-5: From logits to a class per pixel"]
    assert at.sidebar.expander[0].proto.expanded and not at.sidebar.expander[1].proto.expanded
    at.text_area(key="panel_answer_argmax").input("The largest logit wins.").run()
    assert at.session_state["exercise_answers"]["argmax"] == "The largest logit wins."
    assert any("Model answer" in i.value for i in at.sidebar.info)

    # Nothing on a page no exercise links to.
    assert not _panel("training.py").sidebar.expander


def test_side_panel_checks_reasoning_answers(tiny_dataset):
    """The pixel questions name the image and pixel the Predictions page opens (computed
    with the sidebar model; the values themselves are checked by hand in test_exercises)."""
    at = _panel("predictions.py", exercise="13-5")
    box = at.text_input(key="panel_answer_pixel_probability")
    assert "validation image" in box.label and "pixel x = " in box.label
    box.input("123").run()
    assert any("Not yet" in w.value for w in at.sidebar.warning)
    at.text_input(key="panel_answer_pixel_probability").input("0.5").run()
    assert at.session_state["exercise_answers"]["pixel_probability"] == "0.5"
