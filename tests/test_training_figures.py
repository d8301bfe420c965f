"""The training page's figure builders and progress text (no browser, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seglib.figures import training as tf_figures
from seglib.figures import progress_text
from seglib.classes import CLASS_NAMES, get_palette


def _history(epochs: int = 3) -> pd.DataFrame:
    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame({
        "epoch": epoch, "loss": 2.0 / epoch, "val_loss": 2.2 / epoch + 0.1,
        "accuracy": 0.5 + 0.1 * epoch, "val_accuracy": 0.45 + 0.1 * epoch,
        "mean_iou": 0.1 * epoch, "val_mean_iou": 0.08 * epoch, "lr": 3e-3 * 0.9 ** epoch, "seconds": 5.0,
    })


def _is_waiting(figure) -> bool:
    return bool(figure.layout.meta) and "waiting" in figure.layout.meta


def test_loss_figure_draws_train_solid_and_validation_dashed_in_one_colour():
    figure = tf_figures.loss_figure(_history(), epochs=10)
    train, val = figure.data
    assert (train.name, val.name) == ("training loss", "validation loss")
    assert train.line.dash == "solid" and val.line.dash == "dash"
    assert train.line.color == val.line.color == tf_figures.FAMILY_COLORS["loss"]
    assert list(val.y) == pytest.approx(list(_history()["val_loss"]))
    # The x axis spans the whole run, so the curve grows across it.
    assert figure.layout.xaxis.range[1] == pytest.approx(10.3)
    assert figure.layout.showlegend
    # A very long run zooms on the epochs done instead of squeezing them into a corner.
    assert tf_figures.loss_figure(_history(), epochs=400).layout.xaxis.range[1] == pytest.approx(3.3)


def test_accuracy_figure_shares_axes_and_colours_per_metric_family():
    figure = tf_figures.accuracy_figure(_history(), epochs=3)
    names = [trace.name for trace in figure.data]
    assert names == ["training accuracy", "validation accuracy", "training mean IoU", "validation mean IoU"]
    colours = {trace.name: trace.line.color for trace in figure.data}
    assert colours["training accuracy"] == colours["validation accuracy"] != colours["training mean IoU"]
    assert [trace.line.dash for trace in figure.data] == ["solid", "dash", "solid", "dash"]
    assert all(trace.yaxis in (None, "y") for trace in figure.data)  # one y axis for both metrics
    assert tuple(figure.layout.yaxis.range) == (0, 1.02)


@pytest.mark.parametrize("builder", [tf_figures.loss_figure, tf_figures.accuracy_figure])
def test_curves_wait_for_the_first_epoch_instead_of_an_empty_axis(builder):
    empty = pd.DataFrame(columns=["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "mean_iou",
                                  "val_mean_iou", "lr", "seconds"])
    figure = builder(empty, epochs=4)
    assert _is_waiting(figure)
    assert not figure.data
    assert "Waiting for the first epoch" in figure.layout.annotations[0].text
    assert figure.layout.xaxis.visible is False


def test_running_loss_draws_the_current_epoch_over_the_previous_one():
    steps = pd.DataFrame({"epoch": [1, 1, 1, 2, 2], "step": [1, 2, 3, 1, 2],
                          "loss": [3.0, 2.8, 2.7, 2.4, 2.3], "accuracy": [0.1] * 5})
    figure = tf_figures.running_loss_figure(steps, steps_per_epoch=3)
    assert [trace.name for trace in figure.data] == ["epoch 1", "epoch 2"]
    assert list(figure.data[1].y) == [2.4, 2.3]
    assert figure.layout.title.text == "Running loss in epoch 2"
    assert figure.layout.xaxis.range[1] == pytest.approx(3.5)
    waiting = tf_figures.running_loss_figure(steps.iloc[:0])
    assert _is_waiting(waiting)


def test_lr_figure_plots_the_schedule_over_epochs_with_epoch_end_markers():
    schedule = 3e-3 * 0.9 ** (np.arange(60) / 10)
    figure = tf_figures.lr_figure(schedule, steps_per_epoch=20, history=_history(), position=1.5)
    curve, markers = figure.data
    assert curve.x[-1] == pytest.approx(3.0)  # 60 steps / 20 per epoch
    assert curve.y[0] == pytest.approx(3e-3)
    assert list(markers.x) == [1, 2, 3]
    assert any(shape.x0 == 1.5 for shape in figure.layout.shapes)
    long = tf_figures.lr_figure(np.ones(10_000), steps_per_epoch=100, max_points=500)
    assert len(long.data[0].x) <= 500
    with pytest.raises(ValueError, match="steps_per_epoch"):
        tf_figures.lr_figure(schedule, steps_per_epoch=0)


def test_class_iou_bars_have_class_names_palette_colours_and_mark_absent_classes():
    values = np.linspace(0.0, 0.95, len(CLASS_NAMES))
    values[4] = np.nan  # sunglasses: absent from truth and prediction
    palette = get_palette("colorblind")
    figure = tf_figures.class_iou_figure(values, palette=palette, epoch=3)
    bars = figure.data[0]
    assert list(bars.x) == list(CLASS_NAMES)
    assert bars.marker.color[13] == "#{:02x}{:02x}{:02x}".format(*palette[13])
    assert bars.text[4] == "n/a" and bars.y[4] == 0
    assert "not in the validation" in bars.customdata[4][1]
    assert f"mean IoU {np.nanmean(values):.3f}" in figure.layout.title.text and "epoch 3" in figure.layout.title.text
    assert _is_waiting(tf_figures.class_iou_figure([]))


def test_overlay_gives_each_run_a_colour_and_dashes_validation():
    figure = tf_figures.overlay_figure({"course": _history(4), "keras-example": _history(2)}, metric="mean_iou")
    assert [trace.name for trace in figure.data] == [
        "course · training", "course · validation", "keras-example · training", "keras-example · validation"]
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color
    assert [trace.line.dash for trace in figure.data] == ["solid", "dash"] * 2
    assert _is_waiting(tf_figures.overlay_figure({}, metric="loss"))
    with pytest.raises(ValueError, match="metric"):
        tf_figures.overlay_figure({"a": _history()}, metric="f1")


def test_the_weight_norm_overlay_draws_one_curve_per_run_that_measured_it():
    measured = _history(4).assign(weight_norm=[60.0, 59.5, 59.1, 58.8])
    figure = tf_figures.overlay_figure({"with decay": measured, "older run": _history(3)}, metric="weight_norm")
    assert [trace.name for trace in figure.data] == ["with decay"]       # the older run has no norm column
    assert list(figure.data[0].y) == [60.0, 59.5, 59.1, 58.8] and figure.data[0].line.dash == "solid"
    assert figure.layout.yaxis.range is None                               # not pinned to 0..1
    waiting = tf_figures.overlay_figure({"older run": _history(3)}, metric="weight_norm")
    assert _is_waiting(waiting) and "measured the norm of its weights" in waiting.layout.annotations[0].text


def test_preview_figure_shows_images_truth_and_prediction_with_class_names_on_hover():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    truth = rng.integers(0, 20, (3, 32, 32)).astype(np.uint8)
    prediction = truth.copy()
    prediction[0, 0, 0] = 13
    truth[0, 0, 0] = 2
    figure = tf_figures.preview_figure(images, truth, prediction, stems=["a", "b", "c"], epoch=5)
    pictures = [trace for trace in figure.data if trace.type == "image"]
    hovers = [trace for trace in figure.data if trace.type == "heatmap"]
    assert len(pictures) == 9 and len(hovers) == 6
    assert "truth: <b>%{text}</b>" in hovers[0].hovertemplate
    assert (hovers[1].text[0][0], hovers[1].customdata[0][0]) == ("Face", "Hair")
    assert "predicted: <b>%{text}</b><br>truth: %{customdata}" in hovers[1].hovertemplate
    # The markup is in the template once, never per cell: Plotly's JSON escapes each < and > to six
    # characters, so markup in every cell multiplied what the strip sends to each viewer.
    assert not any("<" in str(cell) for trace in hovers for grid in (trace.text, trace.customdata)
                   if grid is not None for row in grid for cell in row)
    texts = [annotation.text for annotation in figure.layout.annotations]
    assert "<b>prediction, epoch 5</b>" in texts and "a" in texts
    waiting = tf_figures.preview_figure(images, truth, None)
    assert len([trace for trace in waiting.data if trace.type == "image"]) == 6
    assert any("Waiting for the first epoch" in annotation.text for annotation in waiting.layout.annotations)
    with pytest.raises(ValueError, match="shape"):
        tf_figures.preview_figure(images, truth, prediction[:, :16])


def test_progress_text_and_fraction():
    progress = {"status": "running", "phase": "training", "epoch": 3, "epochs": 4, "step": 5,
                "steps_per_epoch": 10}
    assert progress_text.progress_fraction(progress) == pytest.approx(25 / 40)
    assert progress_text.progress_label(progress) == "Epoch 3 / 4 · step 5 / 10 · training"
    assert progress_text.progress_fraction({**progress, "status": "finished"}) == 1.0
    assert progress_text.progress_fraction({"status": "running", "phase": "compiling"}) == 0.0
    assert progress_text.progress_label({"status": "queued", "queue_position": 2}) == "Queued (position 2)"
    assert progress_text.progress_label({**progress, "status": "stopped"}).endswith("· stopped")
    assert [progress_text.format_duration(s) for s in (None, -1, 42, 75, 3725)] == [
        "—", "—", "42 s", "1 min 15 s", "1 h 02 min"]


def test_the_loss_axis_names_the_loss_the_run_trains_with():
    assert tf_figures.loss_figure(_history()).layout.yaxis.title.text == "cross-entropy (lower is better)"
    figure = tf_figures.loss_figure(_history(), loss="cross-entropy+dice")
    assert figure.layout.yaxis.title.text == "cross-entropy+dice (lower is better)"
