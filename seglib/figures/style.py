"""What every dashboard figure shares: the chart template, the outline of class
swatches, a transparent colour scale for hover layers, and how a label id is named.

>>> class_label(13), class_label(255), class_label(42)
('Face', 'Ignore', 'id 42')
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL

#: Plotly template of the charts (white background, light grid).
CHART_TEMPLATE = "plotly_white"
#: Outline of bars and colour chips: it keeps white and black classes visible.
EDGE_COLOR = "rgba(60,60,60,0.55)"
#: A colour scale that draws nothing, for the layers that only carry hover text.
TRANSPARENT = [[0.0, "rgba(0,0,0,0)"], [1.0, "rgba(0,0,0,0)"]]


def class_label(class_id: int, class_names: Sequence[str] = CLASS_NAMES) -> str:
    """The name shown for a label id: its class name, 'Ignore' for 255, else 'id N'."""
    class_id = int(class_id)
    if 0 <= class_id < len(class_names):
        return class_names[class_id]
    if class_id == IGNORE_LABEL:
        return "Ignore"
    return f"id {class_id}"


def class_label_lookup(class_names: Sequence[str] = CLASS_NAMES) -> np.ndarray:
    """``class_label`` of every uint8 id, as an object array: ``lookup[mask]`` names every pixel."""
    return np.array([class_label(i, class_names) for i in range(256)], dtype=object)
