"""Plotly figures of the predictions page: the course's absolute-difference
image, a right/wrong map, per-class IoU, ground-truth vs predicted class
fractions and the split's confusion matrix (the pixel inspector is
``seglib.figures.inspector``).

Pure Plotly (no Streamlit), built from arrays, so every figure is tested
without a browser. They follow the rules of ``seglib.figures.masks``: class names on
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

from seglib.classes import CLASS_NAMES, IGNORE_LABEL, class_hex_colors, class_label, numbered_label
from seglib.figures.masks import DEFAULT_HOVER_SIZE, downscale_for_display, png_data_uri
from seglib.figures.style import CHART_TEMPLATE, EDGE_COLOR, TRANSPARENT

__all__ = [
    "difference_figure", "correctness_figure", "class_iou_figure", "fraction_comparison_figure",
    "confusion_figure", "IGNORE_COLOR", "PANEL_MAX_SIZE",
]

#: Colour of pixels without a label (ignore label) in the difference and right/wrong maps:
#: a muted blue, apart from the black-to-white scale of the maps themselves.
IGNORE_COLOR = "#7f9cbf"
#: Largest side of the pictures of the side-by-side view (they are drawn a third of the page wide).
PANEL_MAX_SIZE = 256
_GREYS = [[0.0, "#000000"], [1.0, "#ffffff"]]


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
        z=small_values, x0=origin, y0=origin, dx=step, dy=step, colorscale=TRANSPARENT, showscale=False, text=_pair_text(small_truth, small_predicted, class_names), name="classes",
        hovertemplate=value_line + "%{text}<br>x %{x:.0f}, y %{y:.0f}<extra></extra>", showlegend=False,
    )


def _picture(grey: np.ndarray, ignored: np.ndarray, scale: float):
    """A grey picture (0..255) with unlabelled pixels in ``IGNORE_COLOR``, as a PNG ``go.Image``."""
    import plotly.graph_objects as go

    rgb = np.repeat(np.asarray(grey, dtype=np.uint8)[..., None], 3, axis=-1)
    rgb[ignored] = [int(IGNORE_COLOR[i:i + 2], 16) for i in (1, 3, 5)]
    step = 1.0 / scale
    origin = 0.5 * step - 0.5
    return go.Image(source=png_data_uri(rgb), x0=origin, y0=origin, dx=step, dy=step, hoverinfo="skip",
                    name="picture")


def difference_figure(truth: np.ndarray, predicted: np.ndarray, num_classes: int = len(CLASS_NAMES), *,
                      max_size: int = PANEL_MAX_SIZE, hover_size: int = DEFAULT_HOVER_SIZE, title: str | None = None,
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
                       hover_size: int = DEFAULT_HOVER_SIZE, title: str | None = None, height: int | None = None,
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
    ids = [int(i) for i in np.flatnonzero(~np.isnan(iou))]
    names = [numbered_label(i, class_names) for i in ids]
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
        marker=dict(color=class_hex_colors(palette, ids), line=dict(color=EDGE_COLOR, width=1)),
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
    bar_colors = class_hex_colors(palette, order)
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
    names = [numbered_label(i, class_names) for i in range(count)]
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
