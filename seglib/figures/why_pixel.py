"""Figures of "why this pixel" (Predictions page): what one pixel's logit depends on, and what
each part of the model contributes over a split.

* ``pixel_field_figure``: the effective receptive field of one pixel (the gradient of its
  logit with respect to the input, ``seglib.analysis.erf``) over the model's input image,
  with the taps of each ASPP branch around it (``seglib.analysis.aspp.sampling_grid``);
* ``split_ablation_figure``: for each part switched off, the change in pixel accuracy of
  small, medium and large people and in mean IoU (``seglib.analysis.split_ablation.SplitAblation``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seglib.analysis.split_ablation import SIZE_BINS, SplitAblation
from seglib.analysis.aspp import AsppAnalysis
from seglib.analysis.erf import ErfResult
from seglib.figures.receptive import branch_colors, erf_figure
from seglib.figures.style import CHART_TEMPLATE

#: Colours of the three person-size groups and of the mean IoU marker (Okabe-Ito).
SIZE_COLORS = ("#56B4E9", "#009E73", "#0072B2")
MEAN_IOU_COLOR = "#D55E00"


def pixel_field_figure(image: np.ndarray, field: ErfResult, analysis: AsppAnalysis, grid: dict[str, Any], *,
                       title: str | None = None, height: int = 460):
    """The pixel's effective receptive field over ``image`` and each ASPP branch's taps.

    Args:
        image: uint8 ``(s, s, 3)``, the model's input (the coordinates of ``field`` and ``grid``).
        field: ``seglib.analysis.erf.effective_receptive_field`` of the pixel.
        analysis: ``seglib.analysis.aspp.aspp_analysis`` of the model.
        grid: ``seglib.analysis.aspp.sampling_grid`` at the pixel.

    Taps that fall off the ASPP feature map read zero padding and are left out (the legend
    says how many of each branch's taps are on the map); image pooling is the frame.
    """
    import plotly.graph_objects as go

    figure = erf_figure(field.gradient, field.pixel, extent_50=field.extent_50, extent_90=field.extent_90,
                        image=image, title=title, height=height)
    colors = branch_colors(analysis)
    height_px, width_px = np.asarray(image).shape[:2]
    conv_branches = [b for b in analysis.branches if b.kind == "conv"]
    for branch in analysis.branches:
        color = colors[branch.name]
        if branch.kind == "image_pooling":
            figure.add_trace(go.Scatter(
                x=[-0.5, width_px - 0.5, width_px - 0.5, -0.5, -0.5], y=[-0.5, -0.5, height_px - 0.5, height_px - 0.5, -0.5],
                mode="lines", name="image pooling: the whole image", line=dict(color=color, width=4),
                hoverinfo="name"))
            continue
        taps = [t for t in grid["taps"] if t.branch == branch.name]
        valid = [t for t in taps if t.valid]
        spacing = f", {branch.spacing_px:g} px apart" if branch.kernel_size > 1 else ""
        figure.add_trace(go.Scatter(
            x=[t.column for t in valid], y=[t.row for t in valid], mode="markers",
            name=f"{branch.label}: {len(valid)} of {len(taps)} taps on the map{spacing}",
            marker=dict(size=max(20 - 4 * conv_branches.index(branch), 7), color=color,
                        line=dict(color="white", width=2)),
            hovertemplate=f"{branch.label}: tap at row %{{y:.0f}}, column %{{x:.0f}}<extra></extra>"))
    figure.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0, font=dict(size=11)))
    return figure


def split_ablation_figure(result: SplitAblation, *, title: str | None = None, height: int = 380):
    """Bars: for each part switched off, the change in pixel accuracy (percentage points) of
    small, medium and large people; diamonds: the change in mean IoU, in points (x 100)."""
    import plotly.graph_objects as go

    parts = [part.label for part in result.parts[1:]]
    accuracy = result.group_accuracy()
    figure = go.Figure()
    for group, (name, heights) in enumerate(zip(SIZE_BINS, result.size_ranges())):
        change = 100 * (accuracy[group, 1:] - accuracy[group, 0])
        figure.add_trace(go.Bar(
            x=parts, y=change, name=f"{name} people ({heights})", marker=dict(color=SIZE_COLORS[group]),
            hovertemplate=f"{name} people ({heights}) without %{{x}}: %{{y:+.1f}} points<extra></extra>"))
    mean_iou = result.mean_iou
    figure.add_trace(go.Scatter(
        x=parts, y=100 * (mean_iou[1:] - mean_iou[0]), mode="markers", name="mean IoU (× 100)",
        marker=dict(symbol="diamond", size=13, color=MEAN_IOU_COLOR, line=dict(color="white", width=1)),
        hovertemplate="mean IoU without %{x}: %{y:+.1f} points<extra></extra>"))
    figure.add_hline(y=0, line=dict(color="#888", width=1))
    figure.update_layout(
        template=CHART_TEMPLATE, barmode="group", height=height,
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        margin=dict(l=56, r=8, t=40 if title else 8, b=8),
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0.0, font=dict(size=11)),
        xaxis=dict(title=dict(text="switched off", standoff=4), automargin=True),
        yaxis=dict(title="change (percentage points)", automargin=True, zeroline=False),
    )
    return figure
