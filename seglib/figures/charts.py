"""Charts of class statistics for the dataset and predictions pages: the share of
pixels of each class as bars in the class colours, histograms, and box plots
per class (e.g. the sizes of the regions of each body part).

Built from arrays and tables (no Streamlit), so they are tested without a
browser; class names appear on hover and bars are outlined so white and black
classes stay visible.

>>> import numpy as np
>>> counts, fractions = mask_fractions(np.array([[0, 0, 13, 255]]))
>>> counts[[0, 13]].tolist(), round(float(fractions[13]), 3)
([2, 1], 0.333)
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, class_hex_colors, class_label
from seglib.figures.style import CHART_TEMPLATE, EDGE_COLOR

def _margin(title: str | None, bottom: int = 56) -> dict:
    """Room for the axis titles and tick labels (``automargin`` adds more when needed)."""
    return dict(l=72, r=16, t=48 if title else 16, b=bottom)


# ---------------------------------------------------------------------------
# class fractions
# ---------------------------------------------------------------------------

def mask_fractions(mask: np.ndarray, num_classes: int = len(CLASS_NAMES)) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts (int64) and fractions of each class in one mask.

    Ignored pixels (label 255 or any id >= ``num_classes``) count in neither,
    so the fractions sum to 1 over the labelled pixels.
    """
    labels = np.asarray(mask).ravel()
    labels = labels[labels < num_classes]
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes)[:num_classes].astype(np.int64)
    total = counts.sum()
    fractions = counts / total if total else np.zeros(num_classes, dtype=np.float64)
    return counts, fractions


def fraction_table(fractions: Sequence[float], *, include_background: bool = True,
                   counts: Sequence[int] | None = None, class_names: Sequence[str] = CLASS_NAMES,
                   sort: bool = True):
    """A DataFrame (id, name, fraction[, pixels]) of class fractions.

    Without background the fractions are renormalised over the remaining
    (person) pixels, so they sum to 1 again and the rare parts become readable.
    """
    import pandas as pd

    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1:
        raise ValueError(f"fractions must be 1-D (one value per class). Received: shape={fractions.shape}")
    table = pd.DataFrame({
        "id": np.arange(len(fractions)),
        "name": [class_label(i, class_names) for i in range(len(fractions))],
        "fraction": fractions,
    })
    if counts is not None:
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != fractions.shape:
            raise ValueError(f"counts and fractions differ in length. Received: counts {counts.shape}, "
                             f"fractions {fractions.shape}")
        table["pixels"] = counts
    if not include_background:
        table = table[table["id"] != 0].copy()
        total = table["fraction"].sum()
        table["fraction"] = table["fraction"] / total if total > 0 else 0.0
    if sort:
        table = table.sort_values(["fraction", "id"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def class_fraction_figure(fractions: Sequence[float], *, palette: str | np.ndarray = "cihp",
                          log: bool = False, include_background: bool = True, sort: bool = True,
                          counts: Sequence[int] | None = None,
                          reference: Sequence[float] | None = None, reference_name: str = "split",
                          name: str = "fraction", title: str | None = None, height: int | None = 380,
                          class_names: Sequence[str] = CLASS_NAMES):
    """Bar chart of the share of pixels of each class, in the class colours.

    Args:
        fractions: one value per class (summing to 1 over all pixels).
        log: a logarithmic y axis, which makes the rare classes visible next
            to the background.
        include_background: with ``False`` the background bar is dropped and
            the others renormalised over person pixels.
        sort: largest first (otherwise by class id).
        counts: pixel counts shown on hover.
        reference: a second set of fractions drawn as markers over the bars
            (e.g. the split average next to one image's fractions).
    """
    import plotly.graph_objects as go

    table = fraction_table(fractions, include_background=include_background, counts=counts,
                           class_names=class_names, sort=sort)
    bar_colors = class_hex_colors(palette, table["id"])
    customdata = np.stack([table["id"].to_numpy(),
                           table["pixels"].to_numpy() if "pixels" in table else np.zeros(len(table))], axis=-1)
    pixels_line = "<br>%{customdata[1]:,.0f} pixels" if "pixels" in table else ""
    figure = go.Figure(go.Bar(
        x=table["name"], y=table["fraction"], marker=dict(color=bar_colors, line=dict(color=EDGE_COLOR, width=1)),
        customdata=customdata, name=name,
        hovertemplate="<b>%{x}</b> (id %{customdata[0]})<br>" + html.escape(name)
                      + " %{y:.4%}" + pixels_line + "<extra></extra>",
    ))
    if reference is not None:
        reference_table = fraction_table(reference, include_background=include_background,
                                         class_names=class_names, sort=False).set_index("id")
        figure.add_trace(go.Scatter(
            x=table["name"], y=reference_table.loc[table["id"], "fraction"].to_numpy(), mode="markers",
            marker=dict(symbol="diamond", size=9, color="#444", line=dict(color="white", width=1)),
            name=reference_name,
            hovertemplate="<b>%{x}</b><br>" + html.escape(reference_name) + " %{y:.4%}<extra></extra>",
        ))
    share = "share of all pixels" if include_background else "share of person pixels (background left out)"
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        height=height, margin=_margin(title, bottom=96), bargap=0.15, template=CHART_TEMPLATE,
        showlegend=reference is not None,
        legend=dict(yanchor="top", y=0.98, x=0.98, xanchor="right", bgcolor="rgba(255,255,255,0.8)",
                    bordercolor="#ccc", borderwidth=1),
    )
    figure.update_xaxes(title=None, tickangle=-45, categoryorder="array", categoryarray=list(table["name"]),
                        automargin=True)
    figure.update_yaxes(title=share + (" (log scale)" if log else ""), type="log" if log else "linear",
                        tickformat=".1%" if not log else None, automargin=True)
    return figure


# ---------------------------------------------------------------------------
# distributions
# ---------------------------------------------------------------------------

def histogram_figure(values: Sequence[float], *, xaxis_title: str, title: str | None = None,
                     nbins: int = 40, name: str = "count", color: str = "#2f6fb0",
                     log_x: bool = False, percent_axis: bool = False, height: int | None = 320,
                     yaxis_title: str = "count"):
    """A histogram of one variable (e.g. person heights in pixels)."""
    import plotly.graph_objects as go

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if log_x:
        values = values[values > 0]
    figure = go.Figure(go.Histogram(
        x=values, nbinsx=nbins, marker=dict(color=color, line=dict(color="white", width=0.5)), name=name,
        hovertemplate=html.escape(xaxis_title) + " %{x}<br>" + html.escape(yaxis_title)
                      + " %{y}<extra></extra>",
    ))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=_margin(title, bottom=56), bargap=0.05, showlegend=False, template=CHART_TEMPLATE)
    figure.update_xaxes(title=xaxis_title, type="log" if log_x else "linear",
                        tickformat=".0%" if percent_axis else None, automargin=True)
    figure.update_yaxes(title=yaxis_title, automargin=True)
    if values.size == 0:
        figure.add_annotation(text="no values", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return figure


def class_box_figure(values_by_class: Mapping[int, Sequence[float]], *, palette: str | np.ndarray = "cihp",
                     yaxis_title: str = "size (pixels)", title: str | None = None, log_y: bool = True,
                     height: int | None = 400, class_names: Sequence[str] = CLASS_NAMES):
    """One box per class (e.g. the areas of the connected regions of each body part): the middle half
    of the values, the median, and whiskers from the smallest to the largest value.

    Classes without values are left out. The quartiles are computed here from every value
    (numpy's linear percentiles, as Plotly's own) and only they are sent: the browser draws
    a few numbers per class instead of thousands of raw values.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    for class_id in sorted(int(c) for c in values_by_class):
        values = np.asarray(values_by_class[class_id], dtype=np.float64)
        values = values[np.isfinite(values)]
        if log_y:
            values = values[values > 0]
        if values.size == 0:
            continue
        low, q1, median, q3, high = (float(v) for v in np.percentile(values, [0, 25, 50, 75, 100]))
        name = class_label(class_id, class_names)
        color = class_hex_colors(palette, [class_id])[0]
        figure.add_trace(go.Box(
            x=[name], q1=[q1], median=[median], q3=[q3], lowerfence=[low], upperfence=[high], name=name,
            line=dict(color=EDGE_COLOR, width=1), fillcolor=color, boxpoints=False,
            hoverinfo="name+y",  # Plotly names each: min, q1, median, q3, max
        ))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=_margin(title, bottom=96), showlegend=False, template=CHART_TEMPLATE)
    figure.update_xaxes(tickangle=-45, automargin=True)
    figure.update_yaxes(title=yaxis_title + (" (log scale)" if log_y else ""), type="log" if log_y else "linear",
                        automargin=True)
    return figure
