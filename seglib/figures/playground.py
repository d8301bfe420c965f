"""The metric playground's pictures and numbers as plain HTML, cheap to send and to draw again at
every slider move: truth | prediction | difference as three small PNG images in one row (no Plotly
figure to rebuild), the scores as one block of numbers with their change since the last move, and the
table of single mistakes. In the browser one HTML block costs a fraction of eight ``st.metric``
elements and an ``st.table`` (``benchmarks/bench_playground.py`` measured it).

The masks are drawn in the user's palette, the difference as the course draws it
(``|true id - predicted id|`` from black, 0, to white, the largest id distance; unlabelled pixels
in ``IGNORE_COLOR``), each scaled up in the browser without smoothing. The class names are in the
legend next to it (``seglib.figures.masks.legend_html``).

>>> import numpy as np
>>> truth = np.zeros((8, 8), np.uint8); truth[2:6, 2:6] = 13
>>> html_text = panels_html(truth, truth)
>>> html_text.count("<img"), "seglib-playground" in html_text
(3, True)
>>> board = scores_html([Score("mean IoU", "0.500", "-0.020", higher_is_better=True, help="overlap")])
>>> 'data-name="mean IoU"' in board and 'data-delta="-0.020"' in board and "#ff2b2b" in board
True
"""

from __future__ import annotations

import dataclasses
import html
from typing import Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL, colorize
from seglib.figures.masks import png_data_uri
from seglib.figures.predictions import IGNORE_COLOR

#: Titles of the three panels, left to right.
PANEL_TITLES = ("truth", "prediction", "|true − predicted| id")


def difference_picture(truth: np.ndarray, predicted: np.ndarray, num_classes: int = len(CLASS_NAMES),
                       ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``: the id distance in grey (0 black, ``num_classes - 1`` white), unlabelled
    pixels in ``IGNORE_COLOR``."""
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.ndim != 2 or truth.shape != predicted.shape:
        raise ValueError("truth and predicted must be 2-D masks of the same shape. "
                         f"Received: truth.shape={truth.shape}, predicted.shape={predicted.shape}")
    ignored = truth == ignore_label
    distance = np.abs(truth.astype(np.int16) - predicted.astype(np.int16)).astype(np.float32)
    grey = np.clip(np.rint(distance * (255.0 / (num_classes - 1))), 0, 255).astype(np.uint8)
    picture = np.repeat(grey[..., None], 3, axis=-1)
    picture[ignored] = [int(IGNORE_COLOR[i:i + 2], 16) for i in (1, 3, 5)]
    return picture


def panels_html(truth: np.ndarray, predicted: np.ndarray, *, palette="cihp", num_classes: int = len(CLASS_NAMES),
                titles: Sequence[str] = PANEL_TITLES, ignore_label: int = IGNORE_LABEL) -> str:
    """Truth, prediction and their difference side by side, as HTML (three inline PNGs with titles).

    Each picture fills a third of the row and is enlarged without smoothing, so every mask pixel
    stays a sharp square. The row's ``alt`` texts name what each picture is.
    """
    pictures = (colorize(truth, palette), colorize(predicted, palette),
                difference_picture(truth, predicted, num_classes, ignore_label))
    cells = []
    for title, picture in zip(titles, pictures):
        cells.append(
            '<figure style="flex:1;margin:0;min-width:0">'
            f'<figcaption style="font-size:0.85rem;color:#555;margin-bottom:2px">{html.escape(title)}</figcaption>'
            f'<img src="{png_data_uri(picture)}" alt="{html.escape(title)}" '
            'style="width:100%;height:auto;object-fit:contain;image-rendering:pixelated;'
            'border:1px solid #ccc;display:block"/></figure>')
    return '<div class="seglib-playground" style="display:flex;gap:10px;align-items:flex-start">' + "".join(cells) \
        + "</div>"


# ---------------------------------------------------------------------------
# The numbers
# ---------------------------------------------------------------------------

#: Colours of a change for the better and for the worse (Streamlit's own metric colours).
BETTER_COLOR, WORSE_COLOR = "#09ab3b", "#ff2b2b"


@dataclasses.dataclass(frozen=True)
class Score:
    """One number of the scoreboard: its name, its text, its change since the last move (text, or
    None: nothing to compare with, or no change at this precision), which direction is better, and
    what it means (shown on hover)."""

    name: str
    value: str
    delta: str | None = None
    higher_is_better: bool = False
    help: str = ""


def scores_html(scores: Sequence[Score], columns: int = 4) -> str:
    """The scores in a grid of ``columns``, each as a label, a large number and its change with an
    arrow, green when it went the better way and red otherwise. Each cell carries ``data-name``,
    ``data-value`` and ``data-delta`` (empty without a change) for tests and tools."""
    cells = []
    for score in scores:
        change = ""
        if score.delta:
            falling = score.delta.lstrip().startswith("-")
            color = WORSE_COLOR if falling == score.higher_is_better else BETTER_COLOR
            change = (f'<div style="font-size:0.9rem;color:{color}">{"↓" if falling else "↑"} '
                      f"{html.escape(score.delta.lstrip('+-'))}</div>")
        cells.append(
            f'<div class="seglib-score" role="group" aria-label="{html.escape(score.name)}" '
            f'data-name="{html.escape(score.name)}" data-value="{html.escape(score.value)}" '
            f'data-delta="{html.escape(score.delta or "")}" title="{html.escape(score.help)}" style="min-width:0">'
            f'<div style="font-size:0.875rem;color:rgba(49,51,63,0.8)">{html.escape(score.name)}</div>'
            f'<div style="font-size:2rem;line-height:1.3">{html.escape(score.value)}</div>{change}</div>')
    return (f'<div class="seglib-scores" style="display:grid;grid-template-columns:repeat({columns},minmax(0,1fr));'
            'gap:12px 16px;margin:4px 0 8px">' + "".join(cells) + "</div>")


def table_html(frame, formats: dict[str, str] | None = None, default_format: str = "{:.3f}") -> str:
    """A small ``pandas.DataFrame`` as an HTML table (its index as the first column), numbers
    written with ``formats`` by column (``default_format`` for the others); text is escaped."""
    formats = formats or {}
    shown = frame.apply(lambda column: column.map(formats.get(column.name, default_format).format)
                        if column.dtype.kind in "fiu" else column)
    return shown.to_html(border=0, classes="seglib-table", escape=True, index_names=False)
