"""The pixel inspector of the predictions page: the predicted mask over the image,
clickable, and the logits and softmax probabilities of the clicked pixel.

>>> rows, columns = inspector_grid(4, 300, max_points=64)
>>> rows.tolist(), columns[:3].tolist()
([2], [2, 7, 12])
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, class_hex_colors, class_label_lookup, numbered_label
from seglib.figures.masks import mask_figure
from seglib.figures.style import CHART_TEMPLATE, EDGE_COLOR

#: Name of the clickable trace of ``inspector_figure`` (the page reads clicks on it).
INSPECTOR_GRID_NAME = "pixels (click to inspect)"

def logits_figure(logits: Sequence[float], *, palette="cihp", title: str | None = None, height: int | None = 520,
                  class_names: Sequence[str] = CLASS_NAMES):
    """The scores of one pixel: its ``C`` logits (left, values on hover) and
    their softmax probabilities (right, written beside the bars), one bar per
    class in the class colours. The argmax (the class the mask shows) has a
    thick black outline and an "argmax" label.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from seglib.evaluation.inference import softmax

    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 1 or logits.size < 2:
        raise ValueError(f"logits must be 1-D, one score per class. Received: logits.shape={logits.shape}")
    probabilities = softmax(logits)
    chosen = int(np.argmax(logits))
    names = [numbered_label(i, class_names) for i in range(logits.size)]
    outline = dict(color=["#000000" if i == chosen else EDGE_COLOR for i in range(logits.size)],
                   width=[3.5 if i == chosen else 1 for i in range(logits.size)])
    bar_colors = class_hex_colors(palette, range(logits.size))
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                           subplot_titles=("logit (raw score)", "softmax probability"))
    figure.add_trace(go.Bar(
        x=logits, y=names, orientation="h", name="logit", marker=dict(color=bar_colors, line=outline),
        hovertemplate="<b>%{y}</b><br>logit %{x:.3f}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Bar(
        x=probabilities, y=names, orientation="h", name="probability", marker=dict(color=bar_colors, line=outline),
        text=[_probability_text(value, i == chosen) for i, value in enumerate(probabilities)],
        textposition=["inside" if i == chosen and value > 0.6 else "outside" for i, value in enumerate(probabilities)],
        insidetextanchor="end", cliponaxis=False, hovertemplate="<b>%{y}</b><br>probability %{x:.2%}<extra></extra>"), row=1, col=2)
    spread = float(logits.max() - logits.min()) or 1.0
    figure.update_xaxes(range=[min(0.0, float(logits.min())) - 0.08 * spread,
                               max(0.0, float(logits.max())) + 0.08 * spread],
                        zeroline=True, zerolinecolor="#888", title="logit", row=1, col=1)
    figure.update_xaxes(range=[0, 1.6], tickformat=".0%", tickvals=[0, 0.5, 1], title="probability",
                        row=1, col=2)
    figure.update_yaxes(autorange="reversed", automargin=True, categoryorder="array", categoryarray=names)
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         template=CHART_TEMPLATE, showlegend=False, bargap=0.25,
                         uniformtext=dict(minsize=11, mode="show"),  # inside labels never shrink to specks
                         margin=dict(l=8, r=16, t=64 if title else 40, b=40))
    return figure


def _probability_text(value: float, chosen: bool) -> str:
    """The label of one probability bar; the argmax's says so (inside a long bar, so it is never cut)."""
    number = f"{value:.1%}" if value >= 0.001 else ""
    if not chosen:
        return number
    return f"<b>argmax {number}</b>" if value > 0.6 else f"{number} ◀ <b>argmax</b>"


def inspector_grid(height: int, width: int, max_points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (pixel centres, original pixels) of the clickable grid:
    every pixel for small images, every ``step``-th pixel for large ones."""
    if height < 1 or width < 1:
        raise ValueError(f"The image is empty. Received: height={height}, width={width}")
    step = max(1, math.ceil(max(height, width) / max_points))
    rows = np.arange(step // 2, height, step)
    columns = np.arange(step // 2, width, step)
    return rows, columns


def in_image_pixels(figure, image_size: tuple[int, int]):
    """A picture figure drawn from a shrunk mask/image (``seglib.figures.masks.mask_figure``),
    moved to the pixel coordinates of the original image of ``image_size`` = (H, W).

    The pictures, hover cells and axis ranges are stretched (in place), so hover and
    clicks read original pixels, as for a full-size mask. Returns the figure.
    """
    height, width = int(image_size[0]), int(image_size[1])
    shown_width = figure.layout.xaxis.range[1] + 0.5
    shown_height = figure.layout.yaxis.range[0] + 0.5
    factor_x, factor_y = width / shown_width, height / shown_height
    if factor_x == 1 and factor_y == 1:
        return figure
    for trace in figure.data:
        if trace.type in ("image", "heatmap"):
            trace.update(x0=((trace.x0 or 0) + 0.5) * factor_x - 0.5, dx=(trace.dx or 1) * factor_x,
                         y0=((trace.y0 or 0) + 0.5) * factor_y - 0.5, dy=(trace.dy or 1) * factor_y)
    figure.update_xaxes(range=[-0.5, width - 0.5])
    figure.update_yaxes(range=[height - 0.5, -0.5])
    return figure


def inspector_figure(mask: np.ndarray, image: np.ndarray, *, palette="cihp", opacity: float = 0.5,
                     selected: tuple[int, int] | None = None, max_size: int = 384, max_points: int = 64,
                     title: str | None = None, height: int | None = None,
                     class_names: Sequence[str] = CLASS_NAMES, image_size: tuple[int, int] | None = None):
    """The predicted mask over the image, clickable: an invisible grid of points
    (``INSPECTOR_GRID_NAME``, at most ``max_points`` a side) gives a click a
    pixel position (``x`` = column, ``y`` = row, original pixels); ``selected``
    (row, column) is marked with a ring.

    ``image_size``: the (H, W) of the original image when ``mask`` and ``image``
    were shrunk for display (``seglib.evaluation.evaluate.predict_upload``); positions are
    then still in original pixels.
    """
    import plotly.graph_objects as go

    mask = np.asarray(mask)
    full_height, full_width = (int(v) for v in (image_size or mask.shape))
    figure = mask_figure(mask, image, kind="overlay", palette=palette, opacity=opacity, max_size=max_size,
                         title=title, height=height, class_names=class_names, hover=False)
    in_image_pixels(figure, (full_height, full_width))
    rows, columns = inspector_grid(full_height, full_width, max_points)
    grid_rows, grid_columns = np.meshgrid(rows, columns, indexing="ij")
    lookup = class_label_lookup(class_names)
    shown_rows = np.minimum(grid_rows * mask.shape[0] // full_height, mask.shape[0] - 1)
    shown_columns = np.minimum(grid_columns * mask.shape[1] // full_width, mask.shape[1] - 1)
    labels = lookup[mask[shown_rows, shown_columns].astype(np.int64)]
    figure.add_trace(go.Scatter(
        x=grid_columns.ravel(), y=grid_rows.ravel(), mode="markers", name=INSPECTOR_GRID_NAME,
        marker=dict(size=6, color="#ffffff", opacity=0.0), text=labels.ravel(),
        hovertemplate="<b>%{text}</b><br>x %{x}, y %{y}<br>click to inspect<extra></extra>",
        selected=dict(marker=dict(opacity=0.0)), unselected=dict(marker=dict(opacity=0.0)),
    ))
    if selected is not None:
        row, column = int(selected[0]), int(selected[1])
        for size, color, width in ((20, "#000000", 4), (20, "#ffffff", 2)):
            figure.add_trace(go.Scatter(
                x=[column], y=[row], mode="markers", name=f"inspected pixel (x {column}, y {row})",
                marker=dict(symbol="circle-open", size=size, color=color, line=dict(width=width, color=color)),
                hoverinfo="skip",
            ))
    return figure
