"""The Metric playground page under AppTest, on the tiny synthetic dataset: the numbers it shows are
those of ``seglib.lab.playground`` on the same mask, a slider move changes them (and says by how much),
the URL picks the image and the seed, and a missing dataset gets a message."""

from __future__ import annotations

import html
import re

import pytest

from apptest_support import error_free, open_app
from seglib.data.dataset import load_pair, open_dataset
from seglib.lab import playground
from seglib.lab.exercises import build_exercises
from ui.playground import SIZE

pytestmark = pytest.mark.slow  # every test runs the page


SCORE = re.compile(r'data-name="([^"]*)" data-value="([^"]*)" data-delta="([^"]*)"')


def _scores(at) -> dict[str, tuple[str, str]]:
    """``{name: (value, change)}`` of the scoreboard the page drew (change '' when none is shown)."""
    board = next(m.value for m in at.markdown if "seglib-scores" in m.value)
    return {html.unescape(name): (html.unescape(value), html.unescape(delta))
            for name, value, delta in SCORE.findall(board)}


def _board(tiny_dataset, index: int = 0, seed: int = 0) -> playground.Board:
    _, mask = load_pair(open_dataset(tiny_dataset).split("val")[index], size=SIZE)
    return playground.Board(mask, seed=seed)


def _expected(board: playground.Board, settings: playground.Settings, confidence: float) -> dict[str, str]:
    scores = board.scores(board.predict(settings), confidence)
    return {"pixel accuracy": f"{scores.pixel_accuracy:.1%}", "mean IoU": f"{scores.mean_iou:.3f}",
            "average error": f"{scores.average_error:.4f}", "wrong pixels": f"{scores.wrong_pixels:,}",
            **{playground.LOSS_LABELS[name]: f"{scores.losses[name]:.3f}" for name in playground.LOSS_NAMES}}


def _settings(at) -> tuple[playground.Settings, float]:
    values = {slider.label: slider.value for slider in at.slider}
    settings = playground.Settings(**{name: values[label] for name, label in playground.SLIDERS.items()})
    return settings, values["confidence (probability of the predicted class)"]


def test_the_page_shows_the_playgrounds_numbers_and_a_move_updates_them(tiny_dataset):
    at = open_app("pages/playground.py")
    error_free(at)
    assert "What the model gets right" in [h.value for h in at.subheader]
    # Exercises 13-4 and 13-6 link here, to a heading the page has.
    linked = {(exercise.key, link.anchor) for exercise in build_exercises({}) for link in exercise.links
              if link.page == "playground.py"}
    assert {key for key, _ in linked} == {"13-4", "13-6"}
    assert {anchor for _, anchor in linked} <= {h.proto.anchor for h in at.subheader}
    board = _board(tiny_dataset)
    settings, confidence = _settings(at)
    shown = _scores(at)
    assert {name: value for name, (value, _) in shown.items()} == _expected(board, settings, confidence)
    assert all(not delta for _, delta in shown.values())  # nothing to compare with yet
    at.run()  # the same settings again: no change is shown as a change of 0
    assert all(not delta for _, delta in _scores(at).values())
    table = next(m.value for m in at.markdown if "seglib-table" in m.value)
    for what, scores in board.effects(settings, confidence):
        assert f"<th>{html.escape(what)}</th>" in table and f"<td>{scores.wrong_pixels:,}</td>" in table

    recall = next(s for s in at.slider if s.label == playground.SLIDERS["background_recall"])
    before = _scores(at)
    recall.set_value(0.5).run()
    error_free(at)
    settings, confidence = _settings(at)
    assert settings.background_recall == 0.5
    expected = _expected(board, settings, confidence)
    after = _scores(at)
    assert {name: value for name, (value, _) in after.items()} == expected
    moved = int(expected["wrong pixels"].replace(",", "")) - int(before["wrong pixels"][0].replace(",", ""))
    assert moved > 0 and after["wrong pixels"][1] == f"{moved:,}"
    fell = float(expected["mean IoU"]) - float(before["mean IoU"][0])
    assert fell < 0 and after["mean IoU"][1] == f"{fell:.3f}"
    caption = next(c.value for c in at.caption if c.value.startswith("Measured on this prediction"))
    measured = board.scores(board.predict(settings), confidence).background_recall
    assert f"background recall {measured:.3f}" in caption


def test_the_url_picks_the_image_and_the_seed(tiny_dataset):
    at = open_app("pages/playground.py", query={"playground_image": 2, "playground_seed": 7})
    error_free(at)
    assert at.number_input(key="playground_image").value == 2
    stem = open_dataset(tiny_dataset).split("val")[2].stem
    assert any(stem in c.value for c in at.caption)
    settings, confidence = _settings(at)
    shown = {name: value for name, (value, _) in _scores(at).items()}
    assert shown == _expected(_board(tiny_dataset, 2, 7), settings, confidence)


def test_a_missing_dataset_gets_a_message(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_DATA_ROOTS", str(tmp_path))
    at = open_app("pages/playground.py")
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    assert not [m for m in at.markdown if "seglib-scores" in m.value]
