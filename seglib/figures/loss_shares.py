"""The "Imbalance and the loss" chart: a ``loss_shares`` table as grouped bars (Dataset explorer, exercise 13-4)."""

from __future__ import annotations

import numpy as np

from seglib.analysis.loss_shares import SHARE_COLUMNS

#: Bar colours: pixels in grey, the three losses in distinct, colour-blind-safe hues (Okabe-Ito).
SHARE_COLOURS = {"pixel share": "#9e9e9e", SHARE_COLUMNS["cross-entropy"]: "#0072B2",
                 SHARE_COLUMNS["weighted-cross-entropy"]: "#E69F00", SHARE_COLUMNS["focal"]: "#009E73"}
SHARE_LABELS = {"pixel share": "pixels", SHARE_COLUMNS["cross-entropy"]: "cross-entropy",
                SHARE_COLUMNS["weighted-cross-entropy"]: "weighted cross-entropy (median frequency)",
                SHARE_COLUMNS["focal"]: "focal"}


def loss_share_figure(table, *, log: bool = False, include_background: bool = True, palette=None,
                      title: str | None = None, height: int = 560):
    """Grouped bars of the pixel share and each loss's share per class (top), the IoU below.

    Classes are sorted by pixel share, most frequent first, so the rare ones
    sit on the right, where a loss that rebalances grows its bars above the
    grey pixel bars. ``log``: a logarithmic share axis (classes without pixels
    then have no bar). ``palette``: ``(C, 3)`` class colours for the IoU bars.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = table.sort_values(["pixel share", "class id"], ascending=[False, True], kind="stable")
    if not include_background:
        frame = frame[frame["class id"] != 0]
    names = list(frame["class"])
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.66, 0.34])
    for column, label in SHARE_LABELS.items():
        if column not in frame:
            continue
        values = frame[column].to_numpy(dtype=np.float64)
        figure.add_trace(go.Bar(
            x=names, y=values, name=label, marker_color=SHARE_COLOURS[column],
            customdata=np.stack([frame["pixels"].to_numpy(), frame["class weight"].to_numpy()], axis=-1),
            hovertemplate="%{x}<br>" + label + ": %{y:.2%}<br>pixels: %{customdata[0]:,}"
                          "<br>class weight: %{customdata[1]:.2f}<extra></extra>"), row=1, col=1)
    iou = frame["IoU"].to_numpy(dtype=np.float64)
    colours = None
    if palette is not None:
        palette = np.asarray(palette)
        colours = [f"rgb({int(r)},{int(g)},{int(b)})" for r, g, b in palette[frame["class id"].to_numpy()]]
    figure.add_trace(go.Bar(
        x=names, y=iou, name="IoU of the model", marker_color=colours or "#555555", showlegend=False,
        hovertemplate="%{x}<br>IoU of the model: %{y:.2f}<extra></extra>"), row=2, col=1)
    figure.update_layout(
        barmode="group", height=height, margin=dict(l=60, r=20, t=90 if title else 40, b=80),
        title=dict(text=title, x=0.0, xanchor="left", y=0.98, yanchor="top") if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0), bargap=0.15, bargroupgap=0.05)
    figure.update_yaxes(title_text="share of the total", tickformat=".0%" if not log else None,
                        type="log" if log else "linear", row=1, col=1)
    figure.update_yaxes(title_text="IoU", range=[0, 1], row=2, col=1)
    figure.update_xaxes(tickangle=-45, row=2, col=1)
    return figure
