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

from apptest_support import bug_free, open_app, open_source, param, text
from seglib.classes import CLASS_NAMES
from seglib.lab import facts as lab_facts
from seglib.presets import get_preset
from seglib.data.dataset import open_dataset
from seglib.data.stats import dataset_stats

MODEL = "untrained:lecture"

pytestmark = pytest.mark.slow  # every test runs the page


def _exercises(**query) -> AppTest:
    at = open_app(query={"model": MODEL, **query})
    at.switch_page("pages/exercises.py").run()
    bug_free(at)
    return at


def _submit(at: AppTest, key: str, text: str, prefix: str = "answer_") -> AppTest:
    """Type ``text`` into question ``key``'s box and press its Check / Submit button, as a student does
    (typing alone is not answering: the form sends nothing until it is submitted)."""
    widget = prefix + key
    box = next((w for w in [*at.text_input, *at.text_area] if w.key == widget), None)
    assert box is not None, f"no answer box {widget}"
    box.input(text)
    form = f"{prefix}form_{key}"
    button = next((b for b in at.button if b.proto.form_id == form), None)
    assert button is not None, f"no submit button in {form}"
    button.click()
    return at.run()


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
    _submit(at, "output_channels", str(channels + 1))
    assert any("Not yet" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.success
    _submit(at, "output_channels", str(channels))
    assert any(f"Correct: {channels}" in s.value for s in at.success), [s.value for s in at.success]
    assert not at.warning


def test_background_fraction_is_checked_against_the_dataset(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    background = float(stats.fractions[0])
    at = _exercises(exercise="13-4")
    _submit(at, "background_fraction", f"{background:.2f}")
    assert any("Correct" in s.value for s in at.success)
    rarest = lab_facts.dataset_numbers(stats)["rarest"][0]
    wrong = next(i for i in range(1, 20) if i not in lab_facts.dataset_numbers(stats)["rarest"])
    _submit(at, "rarest", str(wrong))
    assert any("Not yet" in w.value for w in at.warning)
    _submit(at, "rarest", CLASS_NAMES[rarest].lower() + "s")  # plural, any case
    assert len(at.success) == 2 and not at.warning


def test_keras_example_answers_are_accepted_and_no_table_gives_them_away(tiny_dataset):
    at = _exercises(exercise="13-2")
    assert not at.dataframe and not at.table  # no table of the numbers the questions check
    size = get_preset("lecture").model.image_size
    _submit(at, "output_size", "512 x 512")
    messages = [s.value for s in at.success]
    assert any(m.startswith("Right for the Keras example") and f"gives {size} × {size}" in m
               for m in messages), messages
    _submit(at, "widest_spacing", "16 * 18 = 288")  # a worked answer counts by its result
    assert sum("Right for the Keras example" in s.value for s in at.success) == 2


def test_reasoning_checks_are_computed_live(tiny_dataset):
    """The always-background accuracy equals the training split's background share."""
    stats = dataset_stats(open_dataset(tiny_dataset), split="train")
    at = _exercises(exercise="13-4")
    _submit(at, "all_background_accuracy", f"{float(stats.fractions[0]):.2f}")
    assert any("Correct" in s.value for s in at.success)
    # The worked answer appears once the answer is right.
    assert any("every background pixel is right" in i.value for i in at.info)


def test_model_answer_after_answering_and_instructor_can_hide_it(tiny_dataset):
    at = _exercises(exercise="13-3")
    assert not [i for i in at.info if "Model answer" in i.value]
    at.text_area(key="answer_why_shape").input("One label for every pixel, one score per class.").run()
    assert not [i for i in at.info if "Model answer" in i.value]  # typed, not submitted: nothing yet
    _submit(at, "why_shape", "Because.")  # submitted, but not an attempt
    assert not [i for i in at.info if "Model answer" in i.value]
    assert any("at least 5 words" in c.value for c in at.caption)
    _submit(at, "why_shape", "One label for every pixel, one score per class.")
    assert any("Model answer" in i.value and "one decision per pixel" in i.value for i in at.info)
    try:
        at.toggle(key="hide_model_answers").set_value(True).run()
        assert not [i for i in at.info if "Model answer" in i.value]
        other = _exercises(exercise="13-3")  # another student's session on the same server
        _submit(other, "why_shape", "Because every pixel needs its own label.")
        assert not [i for i in other.info if "Model answer" in i.value]
    finally:
        at.toggle(key="hide_model_answers").set_value(False).run()
    assert any("Model answer" in i.value for i in at.info)


def test_answers_survive_switching_exercise_and_download(tiny_dataset):
    at = _exercises(exercise="13-1")
    _submit(at, "labels_meaning", "The face sits below the hair.")
    at.segmented_control(key="exercise").set_value("13-3").run()
    assert param(at, "exercise") == "13-3"
    _submit(at, "output_channels", "20")
    at.segmented_control(key="exercise").set_value("13-1").run()
    assert at.text_area(key="answer_labels_meaning").value == "The face sits below the hair."

    button = _download(at)
    assert button.proto.label.startswith("Download my answers")
    assert at.session_state["exercise_answers"]["labels_meaning"] == "The face sits below the hair."
    markdown = _markdown(at)
    assert "The face sits below the hair." in markdown
    assert "**Dataset:** synthetic" in markdown
    assert "Untrained: lecture" in markdown
    assert "**Answer:** 20" in markdown and "*Checked: correct.*" in markdown
    assert "Computed value" not in markdown
    assert "Exercise 13-6" in markdown


def test_name_and_date_in_the_file_and_the_file_loads_back(tiny_dataset):
    at = _exercises(exercise="13-1")
    at.text_input(key="exercise_student_box").input("Ada Lovelace").run()
    _submit(at, "labels_meaning", "Hair on top,\nface below.")
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
    _submit(at, "argmax", "The largest logit wins, softmax keeps the order.", prefix="panel_answer_")
    assert at.session_state["exercise_answers"]["argmax"] == "The largest logit wins, softmax keeps the order."
    assert any("Model answer" in i.value for i in at.sidebar.info)

    # Nothing on a page no exercise links to.
    assert not _panel("training.py").sidebar.expander


def _facts_computed_in_the_background() -> None:
    """Wait for the side panel's background computation of the model's numbers (ui.lab)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "seglib-facts":
            thread.join(120)


def test_side_panel_draws_before_the_models_numbers_are_computed(tiny_dataset, monkeypatch, tmp_path):
    """Right after a start, the panel does not hold up the page for the model's numbers (a load and a
    prediction): it says they are being computed, a thread computes them, and the next run names them."""
    import streamlit as st

    from ui import lab

    monkeypatch.setenv("SEGLIB_CACHE_DIR", str(tmp_path))  # nothing kept on disk from earlier tests
    monkeypatch.setattr(lab, "_facts_ready", set())
    st.cache_data.clear()
    at = _panel("predictions.py", exercise="13-5")
    assert any("still being computed" in c.value for c in at.sidebar.caption)
    assert "pixel x = " not in at.text_input(key="panel_answer_pixel_probability").label
    assert not any("could not be computed" in c.value for c in at.sidebar.caption)
    _facts_computed_in_the_background()
    again = _panel("predictions.py", exercise="13-5")
    assert not any("still being computed" in c.value for c in again.sidebar.caption)
    assert "pixel x = " in again.text_input(key="panel_answer_pixel_probability").label
    # The note leaves its slot empty: the exercises' expanders keep their places in the element tree.
    assert _sidebar_places(at) and _sidebar_places(again) == _sidebar_places(at)


def _sidebar_places(at) -> list[tuple[int, str]]:
    """Where each of the sidebar's top-level expanders sits among its children."""
    return [(index, child.label) for index, child in enumerate(at.sidebar.children.values())
            if child.type == "expander"]


def test_a_failed_background_computation_is_not_announced_as_pending_for_ever(tiny_dataset, monkeypatch, tmp_path):
    """When the thread cannot compute the model's numbers (a broken checkpoint), the next run computes
    them in the page (and would show why they failed) instead of saying they are still being computed
    and starting another thread."""
    import streamlit as st

    from ui import lab

    def broken(root, choice):
        raise RuntimeError("the checkpoint cannot be read")

    monkeypatch.setenv("SEGLIB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(lab, "_facts_ready", set())
    monkeypatch.setattr(lab, "warm_facts", broken)
    st.cache_data.clear()
    at = _panel("predictions.py", exercise="13-5")
    assert any("still being computed" in c.value for c in at.sidebar.caption)
    _facts_computed_in_the_background()
    again = _panel("predictions.py", exercise="13-5")
    assert not any("still being computed" in c.value for c in again.sidebar.caption)
    assert "pixel x = " in again.text_input(key="panel_answer_pixel_probability").label


def test_side_panel_checks_reasoning_answers(tiny_dataset):
    """The pixel questions name the image and pixel the Predictions page opens (computed
    with the sidebar model; the values themselves are checked by hand in test_exercises)."""
    _panel("predictions.py", exercise="13-5")
    _facts_computed_in_the_background()  # a first visit after a start: the numbers come a moment later
    at = _panel("predictions.py", exercise="13-5")
    box = at.text_input(key="panel_answer_pixel_probability")
    assert "validation image" in box.label and "pixel x = " in box.label and "temperature" in box.label
    _submit(at, "pixel_probability", "123", prefix="panel_answer_")
    assert any("Not yet" in w.value for w in at.sidebar.warning)
    _submit(at, "pixel_probability", "0.5", prefix="panel_answer_")
    assert at.session_state["exercise_answers"]["pixel_probability"] == "0.5"


def _shown(at: AppTest) -> str:
    """Everything a student can read on the page: text elements and the questions (widget labels)."""
    labels = [w.label for w in [*at.text_input, *at.text_area]]
    return text(at) + "\n" + "\n".join(labels)


def _computed_answers(tiny_dataset) -> dict[str, list[str]]:
    """The values the reasoning checks expect, computed here with seglib from the same dataset and the
    sidebar model's configuration, in the ways a page could print them."""
    from seglib.lab import checks as lab_checks

    numbers = {**lab_facts.dataset_numbers(dataset_stats(open_dataset(tiny_dataset), split="train")),
               **lab_checks.config_numbers(get_preset("lecture").model)}
    written = {}
    for key in ("all_background_accuracy", "all_background_mean_iou", "rare_weight_ratio", "output_values"):
        value = float(numbers[key])
        written[key] = sorted({f"{value:.2f}", f"{value:.3f}", f"{value:,.0f}", f"{value:.0f}", f"{value:.1%}"}
                              - {"0", "1", "0.00", "1.00", "0.0%"})
    return written


def test_no_computed_value_reaches_a_students_screen_before_answering(tiny_dataset):
    """A student (no passcode entered on a shared machine) sees no table of checked numbers and none of the
    values the reasoning checks expect, on any exercise, until they have answered."""
    expected = _computed_answers(tiny_dataset)
    at = _exercises(exercise="13-1")
    for key in ["13-1", "13-2", "13-3", "13-4", "13-5", "13-6"]:
        at.segmented_control(key="exercise").set_value(key).run()
        assert not at.dataframe and not at.table, key
        shown = _shown(at)
        for question, forms in expected.items():
            leaked = [form for form in forms if form in shown]
            assert not leaked, (key, question, leaked)
        assert "Computed value" not in _markdown(at)
    # Once answered right, the value may be shown: the student has it already.
    at.segmented_control(key="exercise").set_value("13-3").run()
    _submit(at, "output_values", "A guess: 12")
    assert any("Not yet" in w.value for w in at.warning)
    assert not any(form in _shown(at) for form in expected["output_values"])


def test_the_answer_key_is_for_an_instructor_with_the_passcode(tiny_dataset, monkeypatch):
    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", "lecture-hall")
    student = _exercises(exercise="13-1")
    assert not [b for b in student.get("download_button") if "answer key" in b.proto.label]
    teacher = open_app(query={"model": MODEL, "exercise": "13-1"}, session={"instructor_unlocked": True})
    teacher.switch_page("pages/exercises.py").run()
    bug_free(teacher)
    assert [b for b in teacher.get("download_button") if b.proto.label == "Download the answer key (Markdown)"]
