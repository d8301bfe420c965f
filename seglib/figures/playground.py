"""The metric playground's pictures: truth | prediction | difference as three small PNG images in
one HTML row, cheap to send and to draw again at every slider move (no Plotly figure to rebuild).

The masks are drawn in the user's palette, the difference as the course draws it
(``|true id - predicted id|`` from black, 0, to white, the largest id distance; unlabelled pixels
in ``IGNORE_COLOR``), each scaled up in the browser without smoothing. The class names are in the
legend next to it (``seglib.figures.masks.legend_html``).

>>> import numpy as np
>>> truth = np.zeros((8, 8), np.uint8); truth[2:6, 2:6] = 13
>>> html_text = panels_html(truth, truth)
>>> html_text.count("<img"), "seglib-playground" in html_text
(3, True)
"""

from __future__ import annotations

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
