"""The Model page's layer-by-layer figure: receptive field and stride against depth, for several
models at once (the sidebar's model beside the Keras example), with each model's input size marked.

The rows come from ``seglib.analysis.fields.depth_profile``; the axes are titled with its column
names, so the figure, the table and the page's text say the same words.

>>> import pandas as pd
>>> from seglib.analysis import fields
>>> profile = pd.DataFrame({fields.DEPTH_COLUMN: [1, 2], "layer": ["a", "b"], "type": ["Conv2D"] * 2,
...                         fields.FIELD_COLUMN: [3, 7], fields.STRIDE_COLUMN: [2, 4],
...                         "output": ["8 × 8", "4 × 4"], fields.WHOLE_IMAGE_COLUMN: [False, False]})
>>> figure = depth_figure({"tiny": (profile, 16)})
>>> figure.layout.yaxis.title.text, figure.layout.yaxis2.title.text
('receptive field (px)', 'stride (px)')
"""

from __future__ import annotations

import math
from typing import Mapping

from seglib.analysis.fields import DEPTH_COLUMN, FIELD_COLUMN, STRIDE_COLUMN, WHOLE_IMAGE_COLUMN
from seglib.figures.style import CHART_TEMPLATE

#: One colour and marker per model, distinguishable without colour vision (Okabe-Ito, two shapes).
MODEL_STYLES = (("#0072B2", "circle"), ("#D55E00", "diamond"), ("#009E73", "square"), ("#CC79A7", "x"))


def depth_figure(profiles: Mapping[str, tuple], *, height: int = 560, title: str | None = None):
    """Receptive field (top, log scale) and stride (bottom, log scale) against depth.

    Args:
        profiles: ``{model name: (depth_profile frame, input size in px)}``; each
            model is drawn in its own colour and marker, and its input size is a
            dashed line of that colour across the receptive-field panel (where the
            field is wider than the line, one unit can see the whole image's width).
        height: figure height in pixels.
        title: optional title.

    Hover names the layer, its type and output, and whether an image pooling
    feeds it (then every unit depends on every input pixel).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.07, row_heights=[0.62, 0.38])
    for index, (name, (profile, input_size)) in enumerate(profiles.items()):
        color, symbol = MODEL_STYLES[index % len(MODEL_STYLES)]
        custom = list(zip(profile["layer"], profile["type"], profile["output"],
                          ["yes (image pooling)" if whole else "no" for whole in profile[WHOLE_IMAGE_COLUMN]]))
        common = dict(mode="lines+markers", legendgroup=name, customdata=custom,
                      line=dict(color=color, width=1.5, shape="hv"), marker=dict(color=color, symbol=symbol, size=6))
        hover = ("<b>%{customdata[0]}</b> (%{customdata[1]}, output %{customdata[2]} units)<br>depth %{x}<br>"
                 "{value}<br>depends on every input pixel: %{customdata[3]}<extra>" + name + "</extra>")
        figure.add_trace(go.Scatter(
            x=profile[DEPTH_COLUMN], y=profile[FIELD_COLUMN], name=name, **common,
            hovertemplate=hover.replace("{value}", FIELD_COLUMN + ": %{y:,}")), row=1, col=1)
        figure.add_trace(go.Scatter(
            x=profile[DEPTH_COLUMN], y=profile[STRIDE_COLUMN], name=name, showlegend=False, **common,
            hovertemplate=hover.replace("{value}", STRIDE_COLUMN + ": %{y:,}")), row=2, col=1)
        # The input size as a trace (a shape's y is in log units on a log axis), labelled at its end.
        depths = [int(profile[DEPTH_COLUMN].min()), int(profile[DEPTH_COLUMN].max())]
        figure.add_trace(go.Scatter(
            x=depths, y=[input_size, input_size], mode="lines+text", legendgroup=name, showlegend=False,
            line=dict(color=color, width=1.5, dash="dash"), text=["", f"input {input_size} px"],
            textposition="top left", textfont=dict(color=color, size=11), name=f"{name}: input size",
            hovertemplate=f"{name}: input {input_size} px<extra></extra>"), row=1, col=1)
    figure.update_yaxes(title_text=FIELD_COLUMN, type="log", row=1, col=1)
    figure.update_yaxes(title_text=STRIDE_COLUMN, type="log", dtick=math.log10(2), row=2, col=1)
    figure.update_xaxes(title_text=DEPTH_COLUMN + " (layers that move the field, in the order Keras runs them)",
                        row=2, col=1)
    figure.update_layout(
        template=CHART_TEMPLATE, height=height, hovermode="closest",
        margin=dict(l=70, r=20, t=70 if title else 30, b=60),
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0))
    return figure
