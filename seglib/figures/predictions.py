"""Plotly figures of the predictions page: the course's absolute-difference
image, a right/wrong map, per-class IoU, ground-truth vs predicted class
fractions, the split's confusion matrix, and the pixel inspector.

Pure Plotly (no Streamlit), built from arrays, so every figure is tested
without a browser. They follow the rules of ``seglib.figures.base``: class names on
hover, the user's palette for class colours, pictures downscaled for display
(label maps with nearest neighbour, so no class id is invented), and nothing
that needs colour vision alone to read (right/wrong is black/white with its
count in the legend; the predicted bars are hatched).

>>> import numpy as np
>>> truth = np.zeros((8, 8), np.uint8); truth[2:6, 2:6] = 13
>>> predicted = truth.copy(); predicted[2:4, 2:6] = 2
>>> figure = correctness_figure(truth, predicted)
>>> [trace.name for trace in figure.data[2:]]
['wrong: 8 px (12.5%)', 'right: 56 px (87.5%)']
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.figures.base import (CHART_TEMPLATE, class_label, display_scale, downscale_for_display, mask_figure)

__all__ = [
    "difference_figure", "correctness_figure", "class_iou_figure", "fraction_comparison_figure",
    "confusion_figure", "logits_figure", "inspector_figure", "inspector_grid", "INSPECTOR_GRID_NAME",
    "IGNORE_COLOR", "PANEL_MAX_SIZE", "in_image_pixels",
]

#: Colour of pixels without a label (ignore label) in the difference and right/wrong maps:
#: a muted blue, apart from the black-to-white scale of the maps themselves.
IGNORE_COLOR = "#7f9cbf"
#: Largest side of the pictures of the side-by-side view (they are drawn a third of the page wide).
PANEL_MAX_SIZE = 256
#: Name of the clickable trace of ``inspector_figure`` (the page reads clicks on it).
INSPECTOR_GRID_NAME = "pixels (click to inspect)"
_EDGE = "rgba(60,60,60,0.55)"
_GREYS = [[0.0, "#000000"], [1.0, "#ffffff"]]


def _hex(color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3]))


def _palette(palette) -> np.ndarray:
    from seglib.classes import get_palette

    return get_palette(palette) if isinstance(palette, str) else np.asarray(palette, np.uint8)


def _check_masks(truth, predicted) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.ndim != 2 or truth.shape != predicted.shape:
        raise ValueError("truth and predicted must be 2-D masks of the same shape. "
                         f"Received: truth.shape={truth.shape}, predicted.shape={predicted.shape}")
    return truth, predicted


def _small(array: np.ndarray, max_size: int) -> tuple[np.ndarray, float]:
    """A label map downscaled nearest (never interpolated) to at most ``max_size`` a side."""
    _, small, scale = downscale_for_display(None, np.ascontiguousarray(array), max_size)
    return small, scale


def _picture_layout(figure, height_px: int, width_px: int, title: str | None, height: int | None,
                    legend: bool = False):
    """Pixel axes (y down), square pixels, no axes drawn; legend under the picture."""
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        margin=dict(l=4, r=4, t=32 if title else 4, b=4), height=height, hovermode="closest",
        dragmode="zoom", plot_bgcolor="white", showlegend=legend,
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0, xanchor="left", font=dict(size=12),
                    itemclick=False, itemdoubleclick=False),
    )
    figure.update_xaxes(visible=False, range=[-0.5, width_px - 0.5], constrain="domain")
    figure.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", scaleratio=1,
                        constrain="domain")
    return figure


def _pair_text(truth: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Hover text per pixel: 'Face' where right, 'truth Face → predicted Hair' where wrong."""
    codes = truth.astype(np.int64) * 256 + predicted.astype(np.int64)
    unique, inverse = np.unique(codes, return_inverse=True)
    labels = []
    for code in unique:
        true_id, predicted_id = divmod(int(code), 256)
        if true_id == IGNORE_LABEL:
            labels.append(f"no label (predicted {class_label(predicted_id, class_names)})")
        elif true_id == predicted_id:
            labels.append(f"right: {class_label(true_id, class_names)}")
        else:
            labels.append(f"truth {class_label(true_id, class_names)} → predicted "
                          f"{class_label(predicted_id, class_names)}")
    return np.array(labels, dtype=object)[inverse.reshape(truth.shape)]


def _legend_square(figure, name: str, color: str) -> None:
    """A legend entry only (the picture itself is a heat map without a legend)."""
    import plotly.graph_objects as go

    figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                marker=dict(symbol="square", size=13, color=color,
                                            line=dict(color="#444", width=1))))


# ---------------------------------------------------------------------------
# The side-by-side view: |truth - prediction| and right / wrong
# ---------------------------------------------------------------------------

def _hover_layer(truth: np.ndarray, predicted: np.ndarray, values: np.ndarray, hover_size: int,
                 class_names: Sequence[str], value_line: str):
    """A transparent heat map that names the true and predicted class under the mouse.

    It is coarser than the picture (at most ``hover_size`` cells a side): the
    hover text is a string per cell, and the browser need not get one per pixel.
    """
    import plotly.graph_objects as go

    small_truth, scale = _small(truth, hover_size)
    small_predicted, _ = _small(predicted, hover_size)
    small_values, _ = _small(values, hover_size)
    step = 1.0 / scale
    origin = 0.5 * step - 0.5
    return go.Heatmap(
        z=small_values, x0=origin, y0=origin, dx=step, dy=step, colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
        showscale=False, text=_pair_text(small_truth, small_predicted, class_names), name="classes",
        hovertemplate=value_line + "%{text}<br>x %{x:.0f}, y %{y:.0f}<extra></extra>", showlegend=False,
    )


def _picture(grey: np.ndarray, ignored: np.ndarray, scale: float):
    """A grey picture (0..255) with unlabelled pixels in ``IGNORE_COLOR``, as a PNG ``go.Image``."""
    import plotly.graph_objects as go

    from seglib.figures.base import png_data_uri

    rgb = np.repeat(np.asarray(grey, dtype=np.uint8)[..., None], 3, axis=-1)
    rgb[ignored] = [int(IGNORE_COLOR[i:i + 2], 16) for i in (1, 3, 5)]
    step = 1.0 / scale
    origin = 0.5 * step - 0.5
    return go.Image(source=png_data_uri(rgb), x0=origin, y0=origin, dx=step, dy=step, hoverinfo="skip",
                    name="picture")


def difference_figure(truth: np.ndarray, predicted: np.ndarray, num_classes: int = len(CLASS_NAMES), *,
                      max_size: int = PANEL_MAX_SIZE, hover_size: int = 96, title: str | None = None,
                      height: int | None = None, class_names: Sequence[str] = CLASS_NAMES,
                      ignore_label: int = IGNORE_LABEL):
    """The course's third panel: ``|truth id - predicted id|`` per pixel, black
    (0, right) to white (``num_classes - 1``, the largest id distance).

    The scale is fixed, so images can be compared, and a mistake between
    neighbouring ids (left arm / right arm: 1) is nearly black: that is what the
    average error measures. Pixels without a label are drawn in ``IGNORE_COLOR``.
    Hover names the true and predicted classes.
    """
    import plotly.graph_objects as go

    truth, predicted = _check_masks(truth, predicted)
    full_height, full_width = truth.shape
    top = num_classes - 1
    ignored_full = truth == ignore_label
    difference = np.abs(truth.astype(np.int16) - predicted.astype(np.int16))
    difference[ignored_full] = 0
    small_difference, scale = _small(difference.astype(np.uint8), max_size)
    small_ignored, _ = _small(ignored_full.astype(np.uint8), max_size)
    grey = np.clip(np.rint(small_difference.astype(np.float32) * (255.0 / top)), 0, 255)
    figure = go.Figure(_picture(grey, small_ignored.astype(bool), scale))
    figure.add_trace(_hover_layer(truth, predicted, difference.astype(np.uint8), hover_size, class_names,
                                  "|difference| %{z}<br>"))
    ticks = sorted({0, *range(5, top, 5), top})
    figure.add_trace(go.Scatter(
        x=[None, None], y=[None, None], mode="markers", hoverinfo="skip", showlegend=False,
        name="|truth − prediction|",
        marker=dict(color=[0, top], cmin=0, cmax=top, colorscale=_GREYS, showscale=True,
                    colorbar=dict(title=dict(text="|true − predicted| id", side="top", font=dict(size=11)),
                                  orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top", len=0.9,
                                  thickness=10, tickvals=ticks, outlinewidth=1, outlinecolor="#888")),
    ))
    legend = bool(ignored_full.any())
    if legend:
        _legend_square(figure, "no label (ignored)", IGNORE_COLOR)
    return _picture_layout(figure, full_height, full_width, title, height, legend=legend)


def correctness_figure(truth: np.ndarray, predicted: np.ndarray, *, max_size: int = PANEL_MAX_SIZE,
                       hover_size: int = 96, title: str | None = None, height: int | None = None,
                       class_names: Sequence[str] = CLASS_NAMES, ignore_label: int = IGNORE_LABEL):
    """Right and wrong pixels, readable without colour vision: wrong pixels are
    white, right ones black, unlabelled ones ``IGNORE_COLOR``; the legend gives
    the count and share of each (counted at full size, not on the display)."""
    import plotly.graph_objects as go

    truth, predicted = _check_masks(truth, predicted)
    full_height, full_width = truth.shape
    ignored_full = truth == ignore_label
    wrong_full = (truth != predicted) & ~ignored_full
    labelled = int((~ignored_full).sum())
    wrong_count = int(wrong_full.sum())
    small_wrong, scale = _small(wrong_full.astype(np.uint8), max_size)
    small_ignored, _ = _small(ignored_full.astype(np.uint8), max_size)
    figure = go.Figure(_picture(small_wrong * 255, small_ignored.astype(bool), scale))
    figure.add_trace(_hover_layer(truth, predicted, wrong_full.astype(np.uint8), hover_size, class_names, ""))

    def share(count: int) -> str:
        return f"{count / labelled:.1%}" if labelled else "n/a"

    _legend_square(figure, f"wrong: {wrong_count:,} px ({share(wrong_count)})", "#ffffff")
    _legend_square(figure, f"right: {labelled - wrong_count:,} px ({share(labelled - wrong_count)})", "#000000")
    if ignored_full.any():
        _legend_square(figure, f"no label: {int(ignored_full.sum()):,} px", IGNORE_COLOR)
    return _picture_layout(figure, full_height, full_width, title, height, legend=True)


# ---------------------------------------------------------------------------
# Per class: IoU, and truth vs prediction pixel fractions
# ---------------------------------------------------------------------------

def class_iou_figure(iou: Sequence[float], truth_counts: Sequence[int], predicted_counts: Sequence[int], *,
                     palette="cihp", title: str | None = None, height: int | None = None,
                     class_names: Sequence[str] = CLASS_NAMES):
    """Horizontal IoU bars for the classes in the truth or the prediction (ids
    top to bottom), in the class colours, with the value written on each bar.

    A class the prediction misses, or invents, has IoU 0 and says so. Classes
    in neither mask have no IoU and are left out.
    """
    import plotly.graph_objects as go

    iou = np.asarray(iou, dtype=np.float64)
    truth_counts = np.asarray(truth_counts, dtype=np.int64)
    predicted_counts = np.asarray(predicted_counts, dtype=np.int64)
    if not (iou.shape == truth_counts.shape == predicted_counts.shape) or iou.ndim != 1:
        raise ValueError("iou, truth_counts and predicted_counts must be 1-D with one value per class. "
                         f"Received: shapes {iou.shape}, {truth_counts.shape}, {predicted_counts.shape}")
    colors = _palette(palette)
    ids = [int(i) for i in np.flatnonzero(~np.isnan(iou))]
    names = [f"{i} {class_label(i, class_names)}" for i in ids]
    texts = []
    for i in ids:
        note = ""
        if truth_counts[i] > 0 and predicted_counts[i] == 0:
            note = " (missed)"
        elif truth_counts[i] == 0 and predicted_counts[i] > 0:
            note = " (not in truth)"
        texts.append(f"{iou[i]:.2f}{note}")
    figure = go.Figure(go.Bar(
        x=iou[ids], y=names, orientation="h", text=texts, textposition="outside", cliponaxis=False,
        marker=dict(color=[_hex(colors[i]) for i in ids], line=dict(color=_EDGE, width=1)),
        customdata=np.stack([truth_counts[ids], predicted_counts[ids]], axis=-1) if ids else None,
        name="IoU",
        hovertemplate="<b>%{y}</b><br>IoU %{x:.3f}<br>truth %{customdata[0]:,} px · predicted "
                      "%{customdata[1]:,} px<extra></extra>",
    ))
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left") if title else None, template=CHART_TEMPLATE,
        height=height or max(220, 26 * len(ids) + 90), margin=dict(l=8, r=16, t=48 if title else 16, b=48),
        showlegend=False, bargap=0.2,
    )
    figure.update_xaxes(title="IoU = overlap / union (1 = perfect)", range=[0, 1.18], tickvals=[0, 0.25, 0.5, 0.75, 1],
                        automargin=True)
    figure.update_yaxes(autorange="reversed", automargin=True, categoryorder="array", categoryarray=names)
    if not ids:
        figure.add_annotation(text="no classes", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return figure


def fraction_comparison_figure(truth_counts: Sequence[int], predicted_counts: Sequence[int], *, palette="cihp",
                               log: bool = False, include_background: bool = True, title: str | None = None,
                               height: int | None = 400, class_names: Sequence[str] = CLASS_NAMES,
                               truth_name: str = "ground truth", predicted_name: str = "prediction"):
    """Grouped bars: the share of pixels of each class in the truth (solid) and
    in the prediction (hatched), largest truth class first.

    Classes in the truth that the prediction never uses are marked with a red
    ✗ at the top of their truth bar: with a log axis their predicted bar is simply gone, which
    is how rare classes vanish from a prediction. Without background, shares
    are over the person pixels of each mask.
    """
    import plotly.graph_objects as go

    truth_counts = np.asarray(truth_counts, dtype=np.int64)
    predicted_counts = np.asarray(predicted_counts, dtype=np.int64)
    if truth_counts.shape != predicted_counts.shape or truth_counts.ndim != 1:
        raise ValueError("truth_counts and predicted_counts must be 1-D with one value per class. "
                         f"Received: shapes {truth_counts.shape}, {predicted_counts.shape}")
    colors = _palette(palette)
    ids = np.arange(truth_counts.size)
    if not include_background:
        ids = ids[1:]
    present = ids[(truth_counts[ids] > 0) | (predicted_counts[ids] > 0)]

    def fractions(counts: np.ndarray) -> np.ndarray:
        total = counts[ids].sum()
        return counts / total if total else np.zeros(counts.size)

    truth_share = fractions(truth_counts)
    predicted_share = fractions(predicted_counts)
    order = sorted(present.tolist(), key=lambda i: (-truth_share[i], -predicted_share[i], i))
    names = [class_label(i, class_names) for i in order]
    bar_colors = [_hex(colors[i]) for i in order]
    figure = go.Figure()
    for name, share, counts, pattern in ((truth_name, truth_share, truth_counts, ""),
                                         (predicted_name, predicted_share, predicted_counts, "/")):
        figure.add_trace(go.Bar(
            x=names, y=share[order], name=name,
            marker=dict(color=bar_colors, line=dict(color="#333", width=1),
                        pattern=dict(shape=pattern, fgcolor="#ffffff", fgopacity=0.85, size=6, solidity=0.45)),
            customdata=np.stack([np.asarray(order, dtype=np.int64), counts[order]], axis=-1) if order else None,
            hovertemplate="<b>%{x}</b> (id %{customdata[0]})<br>" + html.escape(name)
                          + " %{y:.3%} · %{customdata[1]:,} px<extra></extra>",
        ))
    missed = [i for i in order if truth_counts[i] > 0 and predicted_counts[i] == 0]
    if missed:
        figure.add_trace(go.Scatter(
            x=[class_label(i, class_names) for i in missed], y=[truth_share[i] for i in missed],
            mode="markers", marker=dict(symbol="x-thin-open", size=11, color="#b00020",
                                        line=dict(width=2.5, color="#b00020")),
            name="✗ in the truth, never predicted", cliponaxis=False,
            hovertemplate="<b>%{x}</b>: in the truth, never predicted<extra></extra>",
        ))
    share_title = "share of labelled pixels" if include_background else "share of person pixels"
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left") if title else None, template=CHART_TEMPLATE,
        height=height, barmode="group", bargap=0.18, bargroupgap=0.04,
        margin=dict(l=72, r=16, t=48 if title else 16, b=96),
        legend=dict(yanchor="top", y=0.99, x=0.99, xanchor="right", bgcolor="rgba(255,255,255,0.85)",
                    bordercolor="#ccc", borderwidth=1),
    )
    figure.update_xaxes(tickangle=-45, automargin=True, categoryorder="array", categoryarray=names)
    if log:
        positive = np.concatenate([truth_share[order], predicted_share[order]])
        positive = positive[positive > 0]
        low = math.floor(math.log10(positive.min())) - 0.2 if positive.size else -4
        figure.update_yaxes(type="log", range=[low, 0.35], title=share_title + " (log scale)", automargin=True)
    else:
        figure.update_yaxes(title=share_title, tickformat=".0%", automargin=True)
    return figure


# ---------------------------------------------------------------------------
# A split: the confusion matrix
# ---------------------------------------------------------------------------

def confusion_figure(confusion: np.ndarray, *, class_names: Sequence[str] = CLASS_NAMES,
                     title: str | None = None, height: int | None = 720, min_text: float = 0.05):
    """The confusion matrix, each row divided by its total (the share of the
    pixels of a true class given each predicted class), class names on both
    axes, pixel counts on hover. The diagonal is the per-class recall.

    Rows of classes absent from the truth stay blank. Shares of at least
    ``min_text`` are written in the cells.
    """
    import plotly.graph_objects as go

    confusion = np.asarray(confusion, dtype=np.int64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square (C, C) matrix. Received: shape={confusion.shape}")
    count = confusion.shape[0]
    names = [f"{i} {class_label(i, class_names)}" for i in range(count)]
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, confusion / np.maximum(totals, 1), np.nan)
    text = np.where(np.nan_to_num(shares) >= min_text,
                    np.char.mod("%.0f", np.nan_to_num(shares) * 100).astype(object), "")
    customdata = np.stack([confusion, np.broadcast_to(totals, confusion.shape)], axis=-1)
    figure = go.Figure(go.Heatmap(
        z=shares, x=names, y=names, colorscale="Blues", zmin=0, zmax=1, text=text, texttemplate="%{text}",
        textfont=dict(size=9), customdata=customdata, xgap=1, ygap=1, name="confusion",
        colorbar=dict(title=dict(text="share of the<br>true class", side="right"), tickformat=".0%", thickness=12),
        hovertemplate="true <b>%{y}</b><br>predicted <b>%{x}</b><br>%{z:.1%} of the true class "
                      "(%{customdata[0]:,} of %{customdata[1]:,} px)<extra></extra>",
    ))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=dict(l=8, r=8, t=48 if title else 16, b=8), template=CHART_TEMPLATE,
                         plot_bgcolor="#f4f4f4")
    figure.update_xaxes(title="predicted class (numbers in the cells: % of the row)", tickangle=-45,
                        automargin=True, side="bottom", showgrid=False, constrain="domain", dtick=1)
    figure.update_yaxes(title="true class", autorange="reversed", automargin=True, scaleanchor="x",
                        showgrid=False, constrain="domain", dtick=1)
    return figure


# ---------------------------------------------------------------------------
# The pixel inspector
# ---------------------------------------------------------------------------

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
    colors = _palette(palette)
    chosen = int(np.argmax(logits))
    names = [f"{i} {class_label(i, class_names)}" for i in range(logits.size)]
    outline = dict(color=["#000000" if i == chosen else _EDGE for i in range(logits.size)],
                   width=[3.5 if i == chosen else 1 for i in range(logits.size)])
    bar_colors = [_hex(colors[i]) if i < len(colors) else "#ff00ff" for i in range(logits.size)]
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
    """A picture figure drawn from a shrunk mask/image (``seglib.figures.base.mask_figure``),
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
    lookup = np.array([class_label(i, class_names) for i in range(256)], dtype=object)
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
