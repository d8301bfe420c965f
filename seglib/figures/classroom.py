"""The room's answers to a classroom question as one bar chart: a histogram for numbers (one bar per
whole number, or bins), counts for choices, classes, sizes and sets. Before the reveal every bar is one
colour; after it, the right answers of each bar are stacked in green under the others, and the expected
number is marked on a histogram.

Takes a ``seglib.lab.polls.Distribution`` (or anything with its fields); no Streamlit.

>>> from types import SimpleNamespace
>>> dist = SimpleNamespace(kind="counts", labels=("Adam", "AdamW"), counts=(1, 3), right=(0, 3), total=4,
...                        edges=(), answer_label=None, unreadable=0)
>>> [trace.name for trace in answers_figure(dist).data]
['right', 'not right']
"""

from __future__ import annotations

from typing import Any

from seglib.figures.style import CHART_TEMPLATE, EDGE_COLOR

#: Before the reveal, and the right / other answers after it (Okabe-Ito: safe under colour blindness).
ANSWER_COLOR = "#0072B2"
RIGHT_COLOR = "#009E73"
OTHER_COLOR = "#BBBBBB"
#: Axis labels longer than this are shortened on the axis (hover shows them whole).
MAX_TICK_CHARS = 36
_FONT = dict(size=16)


def _short(label: str) -> str:
    return label if len(label) <= MAX_TICK_CHARS else label[:MAX_TICK_CHARS - 1] + "…"


def answers_figure(dist: Any, *, title: str | None = None, unit: str = "", height: int | None = None):
    """Bars of ``dist`` (vertical for a histogram, horizontal for counts, so long options stay readable)."""
    import plotly.graph_objects as go

    horizontal = dist.kind != "histogram"
    labels = list(dist.labels)
    shown = [_short(label) for label in labels]
    # Two options that shorten alike stay two bars: the axis keeps the full labels then.
    ticks = shown if len(set(shown)) == len(shown) else labels
    counts = list(dist.counts)
    figure = go.Figure()

    def bar(values, name, color, what):
        hover = "%{customdata}: %{" + ("x" if horizontal else "y") + "} " + what + "<extra></extra>"
        axis = dict(y=ticks, x=values, orientation="h") if horizontal else dict(x=ticks, y=values)
        figure.add_trace(go.Bar(name=name, marker=dict(color=color, line=dict(color=EDGE_COLOR, width=1)),
                                customdata=labels, hovertemplate=hover, **axis))

    if dist.right is None:
        bar(counts, "answers", ANSWER_COLOR, "answers")
    else:
        bar(list(dist.right), "right", RIGHT_COLOR, "right answers")
        bar([count - right for count, right in zip(counts, dist.right)], "not right", OTHER_COLOR,
            "answers not right")
    if dist.kind == "histogram" and dist.answer_label in labels:
        at = labels.index(dist.answer_label)
        figure.add_annotation(x=ticks[at], y=counts[at], yshift=4, showarrow=True, arrowhead=2, ay=-36,
                              text="expected",
                              font=dict(size=15, color=RIGHT_COLOR))
    if not counts or not sum(counts):
        figure.add_annotation(text="No answers" if dist.right is not None else "No answers yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                              font=dict(size=20, color="#666666"))
    count_axis = dict(title="answers", rangemode="tozero", tickformat="d",
                      dtick=1 if max(counts or [0]) <= 10 else None)
    value_axis = dict(title=unit or ("answer" if dist.kind != "histogram" else "value"), type="category")
    figure.update_layout(
        template=CHART_TEMPLATE, barmode="stack", title=title, font=_FONT, showlegend=dist.right is not None,
        height=height or (max(260, 60 + 44 * len(labels)) if horizontal else 380),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, traceorder="normal"),
        margin=dict(l=16, r=16, t=56 if title or dist.right is not None else 24, b=56),
        xaxis=count_axis if horizontal else value_axis, yaxis=value_axis if horizontal else count_axis)
    if horizontal:
        figure.update_yaxes(autorange="reversed", automargin=True, title=None)
    return figure
