"""Figures of the live training page: curves, per-class IoU, the run overlay and
the validation preview strip.

Everything the training page draws is built here from the tables of a run
folder (``seglib.training.runs.readers.read_history``, ``read_steps``, ``read_class_iou``,
``previews.load_previews``; ``seglib.training.planning.lr_schedule``), so it is tested without a browser and
the page stays a thin layer of widgets.

The charts follow the course's rules for training curves: training and
validation on the **same axes**, one colour per metric family, training
solid and validation dashed. A chart with nothing to draw yet says what it
is waiting for instead of showing an empty axis. Lines are thick and fonts
large, because a projector in a lecture hall shows this page.

>>> import pandas as pd
>>> history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, 1.5], "val_loss": [2.1, 1.7]})
>>> figure = loss_figure(history, epochs=10)
>>> [trace.name for trace in figure.data]
['training loss', 'validation loss']
>>> figure.data[1].line.dash
'dash'
"""


from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, class_hex_colors, class_label, class_label_lookup, colorize, get_palette
from seglib.figures.masks import jpeg_data_uri, png_data_uri
from seglib.figures.style import CHART_TEMPLATE, EDGE_COLOR, TRANSPARENT

#: One colour per metric family (Okabe-Ito: distinguishable under colour blindness).
FAMILY_COLORS = {"loss": "#0072B2", "accuracy": "#009E73", "mean_iou": "#D55E00", "lr": "#CC79A7"}
#: Colours of the runs in the multi-run overlay (Okabe-Ito, then Tol's muted set).
RUN_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#117733",
              "#332288", "#999933")
#: Metrics the overlay can compare: column of history.csv -> axis title.
OVERLAY_METRICS = {"loss": "loss (cross-entropy)", "accuracy": "pixel accuracy", "mean_iou": "mean IoU",
                   "weight_norm": "L2 norm of the trainable kernels"}
#: Overlay metrics measured on the weights, not on data: one curve per run, no validation curve.
WEIGHT_METRICS = ("weight_norm",)
#: Runs up to this many epochs get an x axis over all of them from the first epoch on.
FULL_SPAN_EPOCHS = 50
#: What an empty chart says.
WAITING_FOR_EPOCH = "Waiting for the first epoch"
#: Hover cells a side of each mask in the validation preview strip.
PREVIEW_HOVER_SIZE = 48

_LINE_WIDTH = 3
_FONT = dict(size=15)
#: Legends sit at the bottom of the figure, under the x-axis title, where they never cover the
#: title or the curves (``yref="container"``: y is measured in the whole figure, not the plot area).
_LEGEND = dict(orientation="h", yref="container", yanchor="bottom", y=0.0, xanchor="left", x=0.0,
               font=dict(size=14), bgcolor="rgba(255,255,255,0)")


# ---------------------------------------------------------------------------
# common layout
# ---------------------------------------------------------------------------

def _layout(figure, *, title: str | None, height: int | None, xaxis_title: str, yaxis_title: str,
            legend: bool = True):
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=17)) if title else None,
        height=height, template=CHART_TEMPLATE, font=_FONT, hovermode="x unified",
        margin=dict(l=72, r=16, t=48 if title else 16, b=124 if legend else 56), showlegend=legend,
        legend=_LEGEND,
    )
    figure.update_xaxes(title=xaxis_title, automargin=True)
    figure.update_yaxes(title=yaxis_title, automargin=True)
    return figure


def waiting_figure(message: str = WAITING_FOR_EPOCH, *, title: str | None = None, height: int | None = 340,
                   detail: str | None = None):
    """A chart that says what it waits for (instead of an empty axis)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    text = f"<b>{html.escape(message)}</b>" + (f"<br><span style='font-size:14px'>{html.escape(detail)}</span>"
                                                 if detail else "")
    figure.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                          font=dict(size=18, color="#555"), align="center")
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=17)) if title else None,
        height=height, template=CHART_TEMPLATE, margin=dict(l=24, r=16, t=56 if title else 16, b=24),
        showlegend=False,
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.layout.meta = {"waiting": message}
    return figure


def _epoch_axis(figure, epochs: int | None, last_epoch: int) -> None:
    """Integer epoch ticks. With ``epochs`` (up to ``FULL_SPAN_EPOCHS``) the axis spans the whole run,
    so the room sees the curve grow across it; longer runs zoom on the epochs done so far."""
    end = int(epochs) if epochs and int(epochs) <= FULL_SPAN_EPOCHS else 0
    end = max(end, int(last_epoch), 1)
    figure.update_xaxes(range=[0.7, end + 0.3], tickmode="linear" if end <= 20 else "auto",
                        dtick=1 if end <= 20 else None, tick0=1, rangemode="normal")


def _has_rows(history, column: str) -> bool:
    return history is not None and len(history) > 0 and column in history and history[column].notna().any()


def _train_val_traces(figure, history, column: str, family: str, label: str, hover_format: str) -> None:
    import plotly.graph_objects as go

    color = FAMILY_COLORS[family]
    for prefix, name, dash, symbol in (("", "training", "solid", "circle"),
                                       ("val_", "validation", "dash", "diamond")):
        name_of_trace = f"{name} {label}"
        key = prefix + column
        if key not in history:
            continue
        figure.add_trace(go.Scatter(
            x=history["epoch"], y=history[key], mode="lines+markers", name=name_of_trace,
            line=dict(color=color, width=_LINE_WIDTH, dash=dash), marker=dict(size=8, symbol=symbol),
            hovertemplate=f"{html.escape(name_of_trace)} %{{y:{hover_format}}}<extra></extra>",
        ))


# ---------------------------------------------------------------------------
# per-epoch curves
# ---------------------------------------------------------------------------

def loss_figure(history, *, epochs: int | None = None, title: str | None = "Loss",
                height: int | None = 400, loss: str = "cross-entropy"):
    """Training (solid) and validation (dashed) loss per epoch, on the same axes.

    Args:
        history: ``readers.read_history`` (columns ``epoch``, ``loss``, ``val_loss``).
        epochs: the run's planned epochs: the x axis spans them all.
        loss: the loss the run trains with (``train.loss``), named on the y axis.
    """
    import plotly.graph_objects as go

    if not _has_rows(history, "loss"):
        return waiting_figure(title=title, height=height,
                              detail="Loss per epoch: training (solid) and validation (dashed).")
    figure = go.Figure()
    _train_val_traces(figure, history, "loss", "loss", "loss", ".4f")
    _layout(figure, title=title, height=height, xaxis_title="epoch",
            yaxis_title=f"{loss} (lower is better)")
    _epoch_axis(figure, epochs, int(history["epoch"].max()))
    figure.update_yaxes(rangemode="tozero")
    return figure


def accuracy_figure(history, *, epochs: int | None = None, title: str | None = "Pixel accuracy and mean IoU",
                    height: int | None = 440):
    """Pixel accuracy and mean IoU per epoch: training solid, validation dashed, one colour per metric.

    Both are in [0, 1] and share the y axis. Accuracy counts pixels, so the
    background (most pixels) dominates it; mean IoU averages over classes, so
    rare parts weigh as much as the background.
    """
    import plotly.graph_objects as go

    if not (_has_rows(history, "accuracy") or _has_rows(history, "mean_iou")):
        return waiting_figure(title=title, height=height,
                              detail="Pixel accuracy and mean IoU per epoch, training and validation.")
    figure = go.Figure()
    _train_val_traces(figure, history, "accuracy", "accuracy", "accuracy", ".3f")
    _train_val_traces(figure, history, "mean_iou", "mean_iou", "mean IoU", ".3f")
    _layout(figure, title=title, height=height, xaxis_title="epoch", yaxis_title="score (higher is better)")
    _epoch_axis(figure, epochs, int(history["epoch"].max()))
    figure.update_yaxes(range=[0, 1.02], tickformat=".1f")
    return figure


def running_loss_figure(steps, *, epoch: int | None = None, steps_per_epoch: int | None = None,
                        title: str | None = None, height: int | None = 340):
    """The running mean of the training loss inside one epoch (``steps.csv``).

    The current epoch is drawn thick; the previous epoch thin and grey, so one
    sees whether this epoch is already doing better.

    Args:
        steps: ``readers.read_steps`` (``epoch``, ``step``, ``loss``).
        epoch: the epoch to draw (default: the latest in ``steps``).
        steps_per_epoch: spans the x axis over the whole epoch.
    """
    import plotly.graph_objects as go

    if epoch is None and steps is not None and len(steps):
        epoch = int(steps["epoch"].max())
    title = title if title is not None else (f"Running loss in epoch {epoch}" if epoch else "Running loss")
    current = steps[steps["epoch"] == epoch] if epoch and steps is not None and len(steps) else None
    if current is None or not len(current):
        return waiting_figure("Waiting for the first training step", title=title, height=height,
                              detail="The mean training loss so far in the current epoch, step by step.")
    figure = go.Figure()
    previous = steps[steps["epoch"] == epoch - 1]
    if len(previous):
        figure.add_trace(go.Scatter(
            x=previous["step"], y=previous["loss"], mode="lines", name=f"epoch {epoch - 1}",
            line=dict(color="#9a9a9a", width=2), hovertemplate="epoch %d: %%{y:.4f}<extra></extra>" % (epoch - 1),
        ))
    figure.add_trace(go.Scatter(
        x=current["step"], y=current["loss"], mode="lines+markers" if len(current) < 40 else "lines",
        name=f"epoch {epoch}", line=dict(color=FAMILY_COLORS["loss"], width=_LINE_WIDTH),
        marker=dict(size=6), hovertemplate="epoch %d: %%{y:.4f}<extra></extra>" % epoch,
    ))
    _layout(figure, title=title, height=height, xaxis_title="step in the epoch",
            yaxis_title="running mean loss")
    end = max(int(steps_per_epoch or 0), int(current["step"].max()), 1)
    figure.update_xaxes(range=[0.5, end + 0.5])
    return figure


def lr_figure(schedule: Sequence[float], *, steps_per_epoch: int, history=None,
              position: float | None = None, title: str | None = "Learning rate",
              height: int | None = 340, max_points: int = 600):
    """The learning-rate schedule of a run, over epochs.

    Args:
        schedule: the rate at every optimizer step (``planning.lr_schedule``).
        steps_per_epoch: converts steps to (fractional) epochs on the x axis.
        history: optional; the ``lr`` column (the rate the optimizer reported
            at each epoch end) is drawn as markers on the curve.
        position: the run's current point in epochs (e.g. ``2.4``), drawn as
            a vertical line.
        max_points: the curve is subsampled to at most this many points.
    """
    import plotly.graph_objects as go

    schedule = np.asarray(schedule, dtype=np.float64)
    if schedule.size == 0:
        return waiting_figure("No learning-rate schedule yet", title=title, height=height)
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be at least 1. Received: steps_per_epoch={steps_per_epoch}")
    index = np.unique(np.linspace(0, schedule.size - 1, min(max_points, schedule.size)).round().astype(int))
    epochs_axis = (index + 1) / float(steps_per_epoch)
    figure = go.Figure(go.Scatter(
        x=epochs_axis, y=schedule[index], mode="lines", name="schedule",
        line=dict(color=FAMILY_COLORS["lr"], width=_LINE_WIDTH),
        hovertemplate="epoch %{x:.2f}: %{y:.3e}<extra></extra>",
    ))
    if history is not None and _has_rows(history, "lr"):
        figure.add_trace(go.Scatter(
            x=history["epoch"], y=history["lr"], mode="markers", name="at epoch end",
            marker=dict(color=FAMILY_COLORS["lr"], size=9, symbol="circle-open", line=dict(width=2)),
            hovertemplate="end of epoch %{x}: %{y:.3e}<extra></extra>",
        ))
    _layout(figure, title=title, height=height, xaxis_title="epoch", yaxis_title="learning rate",
            legend=len(figure.data) > 1)
    figure.update_layout(hovermode="closest")
    figure.update_yaxes(exponentformat="e", rangemode="tozero")
    figure.update_xaxes(range=[0, schedule.size / float(steps_per_epoch)])
    if position is not None and position > 0:
        figure.add_vline(x=float(position), line=dict(color="#555", width=2, dash="dot"),
                         annotation_text="now", annotation_position="top")
    return figure


def class_iou_figure(class_iou: Sequence[float], *, palette: str | np.ndarray = "cihp",
                     epoch: int | None = None, title: str | None = None, height: int | None = 380,
                     class_names: Sequence[str] = CLASS_NAMES):
    """Validation IoU of every class as bars in the class colours (fixed class order).

    Classes absent from both the validation masks and the predictions have no
    IoU (NaN): they get no bar and the hover says so. The dashed line (and the
    title) give the mean IoU over the classes that have one.
    """
    import plotly.graph_objects as go

    values = np.asarray(class_iou, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).any():
        return waiting_figure(title=title or "Validation IoU per class", height=height,
                              detail="One bar per class: how well each body part is segmented.")
    mean = float(np.nanmean(values))
    if title is None:
        title = "Validation IoU per class" + (f", epoch {epoch}" if epoch else "") + f" (mean IoU {mean:.3f})"
    names = [class_label(i, class_names) for i in range(values.size)]
    present = np.isfinite(values)
    # Numbers on the bars that have one worth reading; 'n/a' where a class has no IoU.
    text = [("" if v < 0.005 else f"{v:.2f}") if ok else "n/a" for v, ok in zip(values, present)]
    hover = [f"IoU {v:.3f}" if ok else "not in the validation images or the predictions"
             for v, ok in zip(values, present)]
    figure = go.Figure(go.Bar(
        x=names, y=np.where(present, values, 0.0), text=text, textposition="outside", cliponaxis=False,
        textfont=dict(size=12),
        marker=dict(color=class_hex_colors(palette, range(values.size)),
                    line=dict(color=EDGE_COLOR, width=1)),
        customdata=np.stack([np.arange(values.size), np.array(hover, dtype=object)], axis=-1),
        hovertemplate="<b>%{x}</b> (id %{customdata[0]})<br>%{customdata[1]}<extra></extra>", name="IoU",
    ))
    figure.add_hline(y=mean, line=dict(color="#333", width=2, dash="dash"))
    _layout(figure, title=title, height=height, xaxis_title="", yaxis_title="IoU", legend=False)
    figure.update_layout(hovermode="closest", bargap=0.15, margin=dict(l=72, r=16, t=56, b=110))
    figure.update_xaxes(tickangle=-45, title=None)
    figure.update_yaxes(range=[0, 1.08], tickformat=".1f")
    return figure


def overlay_figure(histories: Mapping[str, Any], *, metric: str = "loss", title: str | None = None,
                   height: int | None = 440):
    """Curves of several runs on the same axes: one colour per run, training solid, validation dashed.

    Args:
        histories: display name -> ``readers.read_history`` DataFrame, in legend order.
        metric: ``'loss'``, ``'accuracy'``, ``'mean_iou'`` or ``'weight_norm'`` (the kernels' L2 norm at each
            epoch's end: one solid curve per run; runs recorded before it was measured have none).
    """
    import plotly.graph_objects as go

    if metric not in OVERLAY_METRICS:
        raise ValueError(f"metric must be one of {tuple(OVERLAY_METRICS)}. Received: metric={metric!r}")
    axis_title = OVERLAY_METRICS[metric]
    title = title if title is not None else f"Compare runs: {axis_title}"
    drawn = {name: history for name, history in histories.items() if _has_rows(history, metric)
             or _has_rows(history, "val_" + metric)}
    if not drawn:
        message = ("None of these runs measured the norm of its weights (runs recorded before it was)"
                   if metric in WEIGHT_METRICS and histories else "Pick runs that have finished at least one epoch")
        return waiting_figure(message, title=title, height=height)
    figure = go.Figure()
    last_epoch = 1
    parts = ((("", "", "solid"),) if metric in WEIGHT_METRICS
             else (("", " · training", "solid"), ("val_", " · validation", "dash")))
    for index, (name, history) in enumerate(drawn.items()):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        last_epoch = max(last_epoch, int(history["epoch"].max()))
        for prefix, part, dash in parts:
            if prefix + metric not in history:
                continue
            label = f"{name}{part}"
            figure.add_trace(go.Scatter(
                x=history["epoch"], y=history[prefix + metric], mode="lines+markers", name=label,
                legendgroup=name, line=dict(color=color, width=_LINE_WIDTH, dash=dash), marker=dict(size=6),
                hovertemplate=f"{html.escape(label)}<br>epoch %{{x}}: %{{y:.4f}}<extra></extra>",
            ))
    _layout(figure, title=title, height=height, xaxis_title="epoch", yaxis_title=axis_title)
    # Two legend entries per run, about two per line: room under the axis for all of them.
    legend_rows = math.ceil(len(figure.data) / 2)
    figure.update_layout(hovermode="closest", margin=dict(b=80 + 24 * legend_rows),
                         height=(height or 440) + max(0, legend_rows - 2) * 24)
    _epoch_axis(figure, None, last_epoch)
    if metric == "loss":
        figure.update_yaxes(rangemode="tozero")
    elif metric not in WEIGHT_METRICS:
        figure.update_yaxes(range=[0, 1.02])
    return figure


# ---------------------------------------------------------------------------
# the preview strip
# ---------------------------------------------------------------------------

def preview_figure(images: np.ndarray, truth: np.ndarray, prediction: np.ndarray | None = None, *,
                   palette: str | np.ndarray = "cihp", stems: Sequence[str] | None = None,
                   epoch: int | None = None, height: int | None = None,
                   class_names: Sequence[str] = CLASS_NAMES):
    """A grid of the fixed validation images: image, ground truth and the predicted mask per column.

    Hovering a mask names the class of the pixel (and, on the prediction row,
    the true class next to the predicted one). Without a prediction yet the
    third row says so.

    Args:
        images: uint8 (K, H, W, 3).
        truth: uint8 (K, H, W) label ids.
        prediction: uint8 (K, H, W) predicted ids of one epoch, or None.
        palette: palette name or (N, 3) uint8 array for the masks.
        stems: file stems shown above the columns.
        epoch: the epoch of ``prediction`` (row label).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    images = np.asarray(images)
    truth = np.asarray(truth)
    if images.ndim != 4 or truth.ndim != 3 or images.shape[:3] != truth.shape:
        raise ValueError("images must be (K, H, W, 3) and truth (K, H, W) of the same K, H, W. "
                         f"Received: images.shape={images.shape}, truth.shape={truth.shape}")
    if prediction is not None:
        prediction = np.asarray(prediction)
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction must have the shape of truth. Received: prediction.shape="
                             f"{prediction.shape}, truth.shape={truth.shape}")
    count, size_h, size_w = truth.shape
    colors = get_palette(palette)
    stems = list(stems) if stems is not None else [f"image {i + 1}" for i in range(count)]
    figure = make_subplots(rows=3, cols=count, horizontal_spacing=0.01, vertical_spacing=0.03,
                           column_titles=[html.escape(str(s)) for s in stems[:count]])
    lookup = class_label_lookup(class_names)
    # The hover text is a class name per cell, so the figure grows with the square of the grid and
    # goes to every viewer on every redraw: at most PREVIEW_HOVER_SIZE cells a side per mask (each
    # about 200 screen pixels wide), a few screen pixels a cell.
    hover_step = max(1, math.ceil(max(size_h, size_w) / PREVIEW_HOVER_SIZE))
    offset = hover_step // 2  # sample the centre pixel of each cell
    for column in range(count):
        pictures = [images[column], colorize(truth[column], colors)]
        if prediction is not None:
            pictures.append(colorize(prediction[column], colors))
        for row, picture in enumerate(pictures, start=1):  # the photo as a JPEG, masks exact (PNG)
            source = jpeg_data_uri(picture) if row == 1 else png_data_uri(picture)
            figure.add_trace(go.Image(source=source, hoverinfo="skip"), row=row, col=column + 1)
        sub_truth = truth[column, offset::hover_step, offset::hover_step]
        grid = dict(x0=offset, dx=hover_step, y0=offset, dy=hover_step)
        figure.add_trace(go.Heatmap(z=sub_truth, text=lookup[sub_truth], colorscale=TRANSPARENT, showscale=False,
                                    **grid, hovertemplate="truth: <b>%{text}</b><extra></extra>"),
                         row=2, col=column + 1)
        if prediction is not None:
            # Names only per cell, the markup once in the template: Plotly's JSON escapes every < and
            # > to six characters, so markup in each cell multiplied what the strip sends.
            sub_prediction = prediction[column, offset::hover_step, offset::hover_step]
            figure.add_trace(go.Heatmap(z=sub_prediction, text=lookup[sub_prediction], customdata=lookup[sub_truth],
                                        colorscale=TRANSPARENT, showscale=False, **grid,
                                        hovertemplate="predicted: <b>%{text}</b><br>truth: %{customdata}"
                                                      "<extra></extra>"),
                             row=3, col=column + 1)
    figure.update_xaxes(visible=False, range=[-0.5, size_w - 0.5], constrain="domain")
    figure.update_yaxes(visible=False, range=[size_h - 0.5, -0.5], constrain="domain")
    for index in range(1, 3 * count + 1):
        suffix = "" if index == 1 else str(index)
        figure.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    labels = ["image", "ground truth",
              f"prediction, epoch {epoch}" if prediction is not None and epoch else "prediction"]
    for row, label in enumerate(labels):
        figure.add_annotation(text=f"<b>{label}</b>", textangle=-90, showarrow=False, xref="paper", yref="paper",
                              x=-0.005, xanchor="right", y=1 - (row + 0.5) / 3.0, yanchor="middle",
                              font=dict(size=14))
    if prediction is None:
        figure.add_annotation(text="<b>Waiting for the first epoch</b><br>the predicted masks appear here",
                              showarrow=False, xref="paper", yref="paper", x=0.5, y=1 / 6.0,
                              font=dict(size=16, color="#555"))
    figure.update_layout(
        height=height or int(3 * 210 + 40), margin=dict(l=36, r=8, t=36, b=8), template=CHART_TEMPLATE,
        showlegend=False, hovermode="closest", font=_FONT, plot_bgcolor="white",
    )
    return figure
