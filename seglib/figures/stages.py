"""The DeepLabV3+ stage diagram of the Model page: boxes joined by arrows, each
with its output shape, and the stage's layers and parameters on hover.

>>> figure = stages_figure([{"stage": "backbone", "output_shape": (None, 8, 8, 96)},
...                         {"stage": "aspp", "output_shape": (None, 8, 8, 256)}])
>>> [annotation.text for annotation in figure.layout.annotations if annotation.text]
['<b>Backbone (encoder)</b><br>8 × 8 × 96', '<b>ASPP</b><br>8 × 8 × 256']
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, str):
        return shape
    parts = ["B" if s is None else str(s) for s in shape]
    if parts and parts[0] in ("B", "1"):
        parts = parts[1:]
    return " × ".join(parts)


#: How the stage ids of ``seglib.model.summary.stages`` are written for people.
STAGE_TITLES = {"backbone": "Backbone (encoder)", "aspp": "ASPP", "decoder": "Decoder", "head": "Head (logits)"}


def _stage_name(stage: Mapping, index: int) -> str:
    raw = str(stage.get("name") or stage.get("stage") or f"stage {index + 1}")
    return STAGE_TITLES.get(raw, raw)


def stages_figure(stages: Sequence[Mapping], *, height: int = 220, title: str | None = None):
    """The DeepLabV3+ stages as boxes joined by arrows, each with its output shape.

    ``stages`` is a list of dicts with a ``stage`` (or ``name``) and an
    ``output_shape``, as returned by ``seglib.model.summary.stages``; ``params``,
    ``layers`` and an optional ``description`` show on hover.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    count = max(len(stages), 1)
    fills = ["#dbe8f5", "#e3f1e3", "#fbeedb", "#f3e1ef", "#e9e9f7", "#eef3da"]
    box_width = 0.8
    for index, stage in enumerate(stages):
        x0, x1 = index, index + box_width
        figure.add_shape(type="rect", x0=x0, x1=x1, y0=0, y1=1, line=dict(color="#5b6b7a", width=1.5),
                         fillcolor=fills[index % len(fills)], layer="below")
        name = html.escape(_stage_name(stage, index))
        shape = html.escape(_shape_text(stage.get("output_shape")))
        figure.add_annotation(x=(x0 + x1) / 2, y=0.5, text=f"<b>{name}</b><br>{shape}", showarrow=False,
                              font=dict(size=13, color="#1f2933"))
        if index + 1 < len(stages):
            figure.add_annotation(x=index + 1 - 0.02, y=0.5, ax=x1 + 0.02, ay=0.5, xref="x", yref="y",
                                  axref="x", ayref="y", text="", showarrow=True, arrowhead=3,
                                  arrowsize=1.2, arrowwidth=1.8, arrowcolor="#5b6b7a")
    hover_text = []
    for index, stage in enumerate(stages):
        lines = [f"<b>{html.escape(_stage_name(stage, index))}</b>",
                 f"output {html.escape(_shape_text(stage.get('output_shape')))}"]
        if stage.get("layers") is not None:
            lines.append(f"{int(stage['layers'])} layers")
        if stage.get("params") is not None:
            lines.append(f"{int(stage['params']):,} parameters")
        if stage.get("description"):
            lines.append(html.escape(str(stage["description"])))
        hover_text.append("<br>".join(lines))
    figure.add_trace(go.Scatter(x=[i + box_width / 2 for i in range(len(stages))], y=[0.5] * len(stages),
                                mode="markers", marker=dict(size=40, opacity=0), text=hover_text,
                                hovertemplate="%{text}<extra></extra>", showlegend=False))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=dict(l=6, r=6, t=36 if title else 6, b=6), plot_bgcolor="white")
    figure.update_xaxes(visible=False, range=[-0.1, count - 1 + box_width + 0.1], fixedrange=True)
    figure.update_yaxes(visible=False, range=[-0.15, 1.15], fixedrange=True)
    return figure
