"""The Metric playground's caches and state (``pages/playground.py``).

A ``seglib.lab.playground.Board`` per (dataset, split, image, seed) is shared by every session:
it is read only once built. The only session state is the last scores shown (eight numbers),
so each metric can show how much the last slider move changed it.
"""

from __future__ import annotations

import os

import streamlit as st

from seglib.lab.playground import Board, Scores
from ui import datasets
from ui.stamps import folder_stamp

#: Side of the mask the playground works on: small enough that a slider move costs milliseconds.
SIZE = 128
#: Session-state key of the last scores shown (for the metrics' deltas).
LAST_KEY = "playground_last_scores"


@st.cache_resource(show_spinner=False, max_entries=32)
def _board(root: str, stamp: tuple, split: str, index: int, seed: int) -> tuple[str, Board]:
    stem, _, mask = datasets.load_sample(root, split, index, size=SIZE)
    return stem, Board(mask, seed=seed)


def board(root: str | os.PathLike, split: str, index: int, seed: int) -> tuple[str, Board]:
    """``(file stem, Board)`` of image ``index`` of a split at ``SIZE`` px (may raise SeglibError)."""
    return _board(str(root), folder_stamp(root), split, int(index), int(seed))


def _numbers(scores: Scores) -> dict[str, float]:
    """The numbers the page shows as metrics, by name."""
    return {"pixel accuracy": scores.pixel_accuracy, "mean IoU": scores.mean_iou,
            "average error": scores.average_error, "wrong pixels": scores.wrong_pixels, **scores.losses}


def changes(scores: Scores, board_key: tuple) -> dict[str, float | None]:
    """How much each number moved since the last scores shown on the same board (None: nothing to
    compare with), and remember these."""
    last = st.session_state.get(LAST_KEY)
    numbers = _numbers(scores)
    st.session_state[LAST_KEY] = (board_key, numbers)
    if not last or last[0] != board_key:
        return dict.fromkeys(numbers)
    return {name: value - last[1][name] for name, value in numbers.items()}
