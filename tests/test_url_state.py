"""Instructor mode: every page's view state lives in the URL, so a shared link
reproduces the view; presentation mode is one more URL parameter.

Round trips through the real dashboard (``dashboard.py`` with its navigation
and shared sidebar) under AppTest: a URL sets the widgets, a changed widget
writes the URL, and the URL written by one session reproduces the view in a
fresh one (the student's screen).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import bug_free, open_app
from apptest_support import param as _param
from seglib.presets import get_preset
from ui import instructor, palette, url_state


def _open(page: str | None = None, **query) -> AppTest:
    at = open_app(query={"model": "untrained:lecture", **query})
    if page:
        at.switch_page(page).run()
        bug_free(at)
    return at


def _shared_link(at: AppTest) -> dict[str, str]:
    """The query parameters a copied address bar would carry."""
    return {key: _param(at, key) for key in at.query_params}


@pytest.mark.slow
def test_palette_from_the_url(tiny_dataset):
    at = _open(palette="colorblind")
    assert at.session_state[palette.PALETTE_KEY] == "colorblind"
    assert _param(at, "palette") == "Colour-blind safe"  # a bound widget's address shows its label


@pytest.mark.slow
def test_dataset_page_split_and_seed_round_trip(tiny_dataset):
    at = _open("pages/dataset.py")
    at.segmented_control(key="split").set_value("val").run()
    at.number_input(key="seed").set_value(7).run()
    link = _shared_link(at)
    assert link["split"] == "val" and link["seed"] == "7"

    student = _open("pages/dataset.py", **link)
    assert student.session_state["split"] == "val" and student.session_state["seed"] == 7
    captions = " ".join(c.value for c in student.caption)
    assert "val image" in captions and "train image" not in captions


@pytest.mark.slow
def test_model_page_preset_and_size_round_trip(tiny_dataset):
    at = _open("pages/model.py", size=64)
    assert at.session_state["size"] == 64
    assert _param(at, "size") == "64"
    student = _open("pages/model.py", **_shared_link(at))
    assert student.session_state["size"] == 64
    assert student.session_state["preset"] == at.session_state["preset"]


@pytest.mark.slow
def test_exercise_round_trip(tiny_dataset):
    at = _open("pages/exercises.py")
    at.segmented_control(key="exercise").set_value("13-4").run()
    assert _param(at, "exercise") == "13-4"
    student = _open("pages/exercises.py", **_shared_link(at))
    assert student.session_state["exercise"] == "13-4"
    assert any("13-4" in s.value for s in student.subheader)
    student.segmented_control(key="exercise").set_value("13-1").run()
    assert "exercise" not in student.query_params  # the default keeps the link short


def _home(session: dict | None = None, **query) -> AppTest:
    """Home through the navigation, in one run (AppTest draws the shared sidebar
    on the first run of ``dashboard.py``; a widget state set beforehand stands
    for the click a person would make)."""
    return open_app(query=query, session=session)


@pytest.mark.slow
def test_presentation_mode_is_in_the_url(tiny_dataset):
    at = _home()
    assert at.toggle(key=instructor.PRESENT_KEY).value is False
    assert not any("<style>" in m.value for m in at.markdown)
    assert instructor.PRESENT_KEY not in at.query_params

    switched_on = _home({instructor.PRESENT_KEY: True})
    assert _param(switched_on, instructor.PRESENT_KEY) == "true"
    css = [m.value for m in switched_on.markdown if "<style>" in m.value]
    assert css and "font-size" in css[0]

    student = _home(**_shared_link(switched_on))
    assert student.toggle(key=instructor.PRESENT_KEY).value is True
    assert any("<style>" in m.value for m in student.markdown)


@pytest.mark.slow
def test_presentation_and_notes_are_for_instructors_only(tiny_dataset, monkeypatch):
    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", "s3cret")
    student = _home(present=1)
    assert all(t.key != instructor.PRESENT_KEY for t in student.get("toggle"))
    assert not any("<style>" in m.value for m in student.markdown)
    assert not any("Instructor notes" in e.proto.label for e in student.expander)
    assert student.text_input(key="instructor_entry").label == "Passcode"

    teacher = _home({"instructor_unlocked": True}, present=1)
    assert teacher.toggle(key=instructor.PRESENT_KEY).value is True
    assert any("<style>" in m.value for m in teacher.markdown)
    assert any("Instructor notes" in e.proto.label for e in teacher.expander)


def test_instructor_notes_sections():
    notes = instructor.instructor_notes_for("exercises")
    assert "exercise=13-4" in notes
    assert instructor.instructor_notes_for("no-such-page") == ""


#: A page, hostile URL parameters, and the values its widgets fall back to (the tiny dataset:
#: 4 validation images of 64 px; an unreadable size or preset falls back to the lecture preset's).
HOSTILE_NUMBERS = [
    ("pages/predictions.py", {"image": "-5", "px": "-1", "py": "99999999999999999999", "split": "zzz"},
     {"pred_px": 0, "pred_py": 63, "pred_image": 0, "pred_split": "val"}),
    ("pages/predictions.py", {"image": "1e9", "px": "nan", "py": "0x10"},
     {"pred_px": 32, "pred_py": 32, "pred_image": 0}),
    ("pages/atrous.py", {"atrous_index": "-1", "atrous_size": "-64"}, {"atrous_index": 0}),
    ("pages/atrous.py", {"atrous_index": "99999999999999999999999", "atrous_size": "abc"}, {"atrous_index": 3}),
    ("pages/model.py", {"size": "-1", "preset": "zzz"},
     {"size": get_preset("lecture").model.image_size, "preset": "lecture"}),
    ("pages/exercises.py", {"exercise": "13-99"}, {"exercise": "13-1"}),
]


@pytest.mark.slow
def test_hostile_numbers_in_the_url_are_clamped_not_raised(tiny_dataset):
    """``/atrous?atrous_index=-1`` showed Streamlit's exception box with server paths in it;
    every numeric URL parameter is now brought into its widget's range."""
    for page, query, expected in HOSTILE_NUMBERS:
        at = _open(page, **query)  # asserts: no exception, no "This is a bug" message
        assert {key: at.session_state[key] for key in expected} == expected, (page, query)


def test_url_int_clamps_and_falls_back():
    assert [url_state.clamp_int(v, 0, 9, default=4) for v in ("-3", "12", "abc", None, "7", 3.9, "1e3")] == \
        [0, 9, 4, 4, 7, 3, 4]
    assert url_state.clamp_int("5", 0, -1) == 0  # an empty range keeps its lower end
