"""Reading training curves (seglib.training.diagnosis): each cause on a synthetic history made to show it
and only it, and what the Training and Home pages say about the shipped optimizer reference runs,
checked against numbers this file computes from their history files itself."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from seglib.training import diagnosis, planning, reference
from seglib.training.runs import files, folders, readers, state

EPOCHS = 20


def history(loss, val_loss, val_iou=None, weight_norm=None) -> pd.DataFrame:
    epochs = np.arange(1, len(loss) + 1)
    frame = pd.DataFrame({"epoch": epochs, "loss": loss, "val_loss": val_loss,
                          "val_mean_iou": val_iou if val_iou is not None else np.linspace(0.1, 0.3, len(loss))})
    if weight_norm is not None:
        frame["weight_norm"] = weight_norm
    return frame


def smooth(start: float, end: float) -> np.ndarray:
    """A loss falling smoothly (exponentially) from start towards end over EPOCHS epochs."""
    t = np.arange(EPOCHS)
    return end + (start - end) * np.exp(-t / 4)


ZIGZAG = np.array([(-1) ** epoch for epoch in range(EPOCHS)], dtype=np.float64)


def test_a_healthy_history_shows_nothing():
    loss = smooth(1.5, 0.30)
    reading = diagnosis.read_history(history(loss, loss + 0.10))
    assert diagnosis.causes(reading) == []
    assert reading.gap_early == pytest.approx(0.10) and reading.gap_late == pytest.approx(0.10)
    assert reading.val_wiggle < 0.01 and reading.train_rises == 0 and reading.val_rises == 0
    assert "a steady gap: no over-fitting" in diagnosis.reading_text("run", reading)


def test_over_fitting_is_a_widening_gap_while_validation_stops_improving():
    loss = smooth(1.5, 0.10)
    epochs = np.arange(EPOCHS)
    val_loss = 0.45 + 0.002 * (epochs - 9) ** 2          # lowest at epoch 10, then up
    reading = diagnosis.read_history(history(loss, val_loss))
    assert diagnosis.causes(reading) == [diagnosis.OVERFITTING]
    assert reading.best_val_loss_epoch == 10 and reading.gap_late > reading.gap_early
    assert diagnosis.MEANINGS[diagnosis.OVERFITTING] in diagnosis.reading_text("run", reading)


def test_a_widening_gap_while_validation_still_improves_is_not_over_fitting_yet():
    epochs = np.arange(EPOCHS)
    loss, val_loss = 0.6 - 0.025 * epochs, 0.8 - 0.01 * epochs   # both fall to the end, training faster
    reading = diagnosis.read_history(history(loss, val_loss))
    assert reading.best_val_loss_epoch == EPOCHS and reading.gap_late > 1.25 * reading.gap_early
    assert diagnosis.causes(reading) == [diagnosis.GAP_ONLY]


def test_jumps_alone_are_not_over_fitting():
    # The validation curve jumps by 0.03 from epoch to epoch around a steady gap: noise, not over-fitting.
    loss = smooth(1.5, 0.30)
    reading = diagnosis.read_history(history(loss, loss + 0.10 + 0.03 * ZIGZAG))
    assert diagnosis.causes(reading) == []
    assert reading.val_rises >= 4 and reading.val_wiggle > 10 * reading.train_wiggle


def test_a_step_too_large_is_what_a_lower_decaying_rate_removes():
    loss = smooth(1.5, 0.30)
    large_step = diagnosis.read_history(history(loss + 0.02 * ZIGZAG, loss + 0.1 + 0.04 * ZIGZAG))
    small_step = diagnosis.read_history(history(loss, loss + 0.1 + 0.01 * ZIGZAG))
    assert diagnosis.step_is_a_cause(large_step, small_step)
    assert diagnosis.step_share(large_step, small_step) == pytest.approx(0.75, abs=0.02)


def test_noise_is_what_a_lower_decaying_rate_leaves_in_place():
    loss = smooth(1.5, 0.30)
    jumpy = loss + 0.1 + 0.03 * ZIGZAG
    first, second = diagnosis.read_history(history(loss, jumpy)), diagnosis.read_history(history(loss, jumpy))
    assert not diagnosis.step_is_a_cause(first, second) and diagnosis.step_share(first, second) == 0.0


def _readings(a_val, b_val, c_val, b_iou, c_iou, c_norm):
    loss = smooth(1.5, 0.30)
    return {"a": diagnosis.read_history(history(loss, a_val, b_iou, np.full(EPOCHS, 60.0))),
            "b": diagnosis.read_history(history(loss, b_val, b_iou, np.linspace(60, 61, EPOCHS))),
            "c": diagnosis.read_history(history(loss, c_val, c_iou, c_norm))}


def test_the_comparison_says_what_each_change_did():
    loss = smooth(1.5, 0.30)
    iou = np.linspace(0.1, 0.3, EPOCHS)
    noise = 0.002 * ZIGZAG
    readings = _readings(loss + 0.1 + 0.04 * ZIGZAG, loss + 0.1 + 0.01 * ZIGZAG, loss + 0.1 + 0.01 * ZIGZAG,
                         iou + noise, iou + noise + 0.03, np.linspace(60, 50, EPOCHS))
    text = "\n".join(diagnosis.comparison_text(readings, 0.3, 100))
    assert "**A step too large.**" in text and "came from its step size" in text
    assert "measuring on 100 validation images" in text
    assert "the kernels' L2 norm ends at 50.00 against 61.00 (-18%)" in text
    assert "is higher by 0.030, more than the noise" in text
    assert "(c) ahead of (a) by more than the noise" in text


def test_a_step_that_only_the_training_loss_shows_is_named_as_hidden_by_the_noise():
    loss = smooth(1.5, 0.30)
    iou = np.linspace(0.1, 0.3, EPOCHS)
    jumpy = loss + 0.1 + 0.03 * ZIGZAG
    readings = _readings(jumpy, jumpy, jumpy, iou, iou, np.linspace(60, 61, EPOCHS))
    readings["a"] = diagnosis.read_history(history(loss + 0.02 * ZIGZAG, jumpy, iou))
    assert diagnosis.step_is_a_cause(readings["a"], readings["b"], "train")
    assert not diagnosis.step_is_a_cause(readings["a"], readings["b"])
    text = "\n".join(diagnosis.comparison_text(readings, 0.1, 100))
    assert "**A step too large, hidden by the noise.**" in text


def test_the_comparison_says_so_when_a_change_did_nothing_measurable():
    loss = smooth(1.5, 0.30)
    iou = np.linspace(0.1, 0.3, EPOCHS)
    jumpy = loss + 0.1 + 0.03 * ZIGZAG
    readings = _readings(jumpy, jumpy, jumpy, iou + 0.004 * ZIGZAG, iou + 0.004 * ZIGZAG + 0.001,
                         np.linspace(60, 61, EPOCHS))
    text = "\n".join(diagnosis.comparison_text(readings, 1e-4, None))
    assert "**A step too large?** Not measurably here" in text and "do not hold" not in text
    assert "differs by +0.001, within the noise." in text and "within the noise of each other" in text
    assert "keeps a steady gap" in text and "over-fits" not in text


def test_repeats_with_another_seed_decide_the_step_and_the_noise():
    # (a) alone looks jumpier than (b), its repeat (a′) does not: no step; the repeats' distance is the noise.
    loss = smooth(1.5, 0.30)
    iou = np.linspace(0.1, 0.3, EPOCHS)
    readings = _readings(loss + 0.1 + 0.04 * ZIGZAG, loss + 0.1 + 0.01 * ZIGZAG, loss + 0.1 + 0.01 * ZIGZAG,
                         iou, iou, np.linspace(60, 61, EPOCHS))
    readings["a′"] = diagnosis.read_history(history(loss, loss + 0.1 + 0.01 * ZIGZAG, iou - 0.02))
    readings["b′"] = diagnosis.read_history(history(loss, loss + 0.1 + 0.01 * ZIGZAG, iou + 0.01))
    assert diagnosis.step_is_a_cause(readings["a"], readings["b"])
    assert not diagnosis.step_is_a_cause([readings["a"], readings["a′"]], [readings["b"], readings["b′"]])
    assert diagnosis.noise_floor(readings) == pytest.approx(0.02)
    text = "\n".join(diagnosis.comparison_text(readings, 0.1, 100))
    assert "Not measurably here" in text and "differences that do not hold from one run to its repeat" in text
    assert "(a′) ended 0.020 away from (a) (0.280 against 0.300)" in text
    assert "(b′) ended 0.010 away from (b)" in text and "differ by less than about 0.020" in text


def test_a_short_history_is_refused_with_its_length():
    with pytest.raises(ValueError, match="at least 6 epochs.*Received: 3 epochs"):
        diagnosis.read_history(history([1.0, 0.9, 0.8], [1.0, 0.9, 0.8]))


@pytest.mark.slow  # imports TensorFlow
def test_weight_decay_factor_is_what_keras_adamw_does_to_a_kernel_without_gradient():
    # The sentence the start form and Home show (learning rate x weight decay per step) checked against
    # Keras's AdamW itself: zero gradients, so only the decay acts, over a schedule's first steps.
    from seglib._tf import keras
    from seglib.training.steps import make_optimizer

    config = reference.optimizer_config("weight-decay", weight_decay=0.5).with_overrides(
        {"train.learning_rate": 0.01, "train.decay_steps": 5, "train.decay_rate": 0.5})
    optimizer = make_optimizer(config.train)
    kernel = keras.Variable(np.ones((3, 3), np.float32), name="kernel")
    bias = keras.Variable(np.ones((3,), np.float32), name="bias")
    steps = 12
    for _ in range(steps):
        optimizer.apply([np.zeros((3, 3), np.float32), np.zeros((3,), np.float32)], [kernel, bias])
    assert float(kernel.numpy()[0, 0]) == pytest.approx(planning.weight_decay_factor(config, steps), rel=1e-5)
    assert float(bias.numpy()[0]) == 1.0                                  # biases are not decayed
    first = config.train.learning_rate * config.train.weight_decay
    assert f"shrinks each trainable kernel by {first:.2g} of itself" in planning.weight_decay_sentence(config, 12)
    assert planning.weight_decay_factor(reference.optimizer_config("lower-decaying-rate")) == 1.0
    # The instructor notes, README and reference module: 1e-4 at the reference runs' rates cannot act.
    old = reference.optimizer_config("weight-decay", weight_decay=1e-4)
    steps = reference.EPOCHS * planning.steps_per_epoch(old, reference.TRAIN_IMAGES)
    assert planning.weight_decay_factor(old, steps) > 0.9999
    from ui import instructor

    assert "a weight decay of 1e-4 at these rates cannot\n  act" in instructor.INSTRUCTOR_NOTES.read_text()


# ---------------------------------------------------------------------------
# The shipped reference runs
# ---------------------------------------------------------------------------

@pytest.fixture()
def shipped(monkeypatch):
    from seglib import settings

    monkeypatch.setattr(folders, "REFERENCE_DIR", settings.ASSETS_DIR / "reference_runs")
    comparison = diagnosis.reference_comparison()
    assert comparison is not None, "the three optimizer reference runs ship in assets/reference_runs"
    return comparison


def _shipped_history(key: str) -> pd.DataFrame:
    return readers.read_history(folders.run_dir(folders.REFERENCE_PREFIX + key))


def test_the_shipped_runs_are_the_three_optimizer_runs_each_one_change_apart(shipped):
    configs = {key: state.training_config(folders.run_dir(folders.REFERENCE_PREFIX + key))
               for key in reference.SHIPPED_RUNS}
    for key, config in configs.items():
        assert config == reference.optimizer_config(key), f"{key} was recorded with other settings"
        history_frame = _shipped_history(key)
        assert len(history_frame) == reference.EPOCHS and history_frame["weight_norm"].notna().all()
    a, b, c = (configs[key].train for key in ("keras-example-optimizer", "lower-decaying-rate", "weight-decay"))
    assert (a.optimizer, a.learning_rate, a.decay_rate, a.weight_decay) == ("adam", 1e-3, 1.0, 0.0)
    assert b.optimizer == "adam" and b.learning_rate < a.learning_rate and b.decay_rate < 1.0
    assert c == b.__class__(**{**b.__dict__, "optimizer": "adamw", "weight_decay": reference.CHOSEN_WEIGHT_DECAY})
    for key, spec in reference.REPEAT_RUNS.items():   # a repeat differs from its run in the seed only
        original = configs[spec["repeats"]].train
        assert configs[key].train == original.__class__(**{**original.__dict__, "seed": reference.REPEAT_SEED})
        assert configs[key].train.seed != original.seed


def test_what_the_page_says_about_the_shipped_runs_follows_their_histories(shipped):
    a, b, c = (_shipped_history(key) for key in ("keras-example-optimizer", "lower-decaying-rate", "weight-decay"))
    a2, b2 = (_shipped_history(key) for key in reference.REPEAT_RUNS)
    bullets = "\n".join(shipped["bullets"])
    # How far the repeats with another seed ended from their runs, and the noise floor at least that.
    for label, first, again in (("a", a, a2), ("b", b, b2)):
        distance = abs(again["val_mean_iou"].max() - first["val_mean_iou"].max())
        assert f"({label}′) ended {distance:.3f} away from ({label})" in bullets
        assert diagnosis.noise_floor(shipped["readings"]) >= distance
    # Best and last validation mean IoU of each run, as printed.
    for label, frame in (("(a)", a), ("(b)", b), ("(c)", c)):
        assert f"{label} {frame['val_mean_iou'].max():.3f}" in bullets
        assert f"{label} {frame['val_mean_iou'].iloc[-1]:.3f}" in bullets
    # Over-fitting: a run is said to over-fit exactly when its gap widened and the lowest validation loss
    # of its last quarter is no lower than the one before it (computed here without the module).
    quarter = EPOCHS // 4
    for label, frame in (("(a)", a), ("(b)", b), ("(c)", c)):
        gap = (frame["val_loss"] - frame["loss"]).to_numpy()
        early, late = gap[quarter:2 * quarter].mean(), gap[-quarter:].mean()
        assert f"{label} " in bullets and f"gap {early:.3f} → {late:.3f}" in bullets
        reading = diagnosis.read_history(frame)
        val = frame["val_loss"].to_numpy()
        stalled = val[-quarter:].min() > val[:-quarter].min() - reading.val_loss_noise
        widened = late - early > max(diagnosis.GAP_WIDENING * abs(early), 2 * reading.val_loss_noise)
        says_overfits = f"{label} over-fits" in bullets
        assert says_overfits == (widened and stalled)
        if label == "(a)":   # the Home page's summary says the same
            assert ("Adam at 1e-3 over-fits" in diagnosis.summary_text(shipped)) == (widened and stalled)
    summary = diagnosis.summary_text(shipped)
    assert (f"Adam at 1e-3 {a['val_mean_iou'].max():.3f}, the lower decaying rate {b['val_mean_iou'].max():.3f}, "
            f"with weight decay {c['val_mean_iou'].max():.3f}") in summary
    # Weight decay: the kernels' norm at the end of (c) against (b), as printed, with its direction.
    change = c["weight_norm"].iloc[-1] / b["weight_norm"].iloc[-1] - 1
    assert (f"the kernels' L2 norm ends at {c['weight_norm'].iloc[-1]:.2f} against "
            f"{b['weight_norm'].iloc[-1]:.2f} ({change:+.0%})") in bullets


def test_the_weight_decay_of_run_c_can_act_under_the_decoupled_rule(shipped):
    # The chosen weight decay shrinks the kernels measurably over the run (the presets' old 1e-4 did not),
    # and the recorded norm of (c) ends below (b)'s by at least a part of what the decay alone would do.
    config = reference.optimizer_config("weight-decay")
    factor = planning.weight_decay_factor(config)
    assert factor < 0.999
    b, c = _shipped_history("lower-decaying-rate"), _shipped_history("weight-decay")
    assert c["weight_norm"].iloc[-1] < b["weight_norm"].iloc[-1]
    assert math.isclose(shipped["weight_decay"], reference.CHOSEN_WEIGHT_DECAY)


@pytest.mark.slow
def test_every_kernel_of_the_lecture_model_but_the_logits_feeds_a_batchnorm(tiny_model, tiny_model_config):
    # What the weight-decay bullet says when the decay changed nothing measurable: BatchNorm divides out
    # the scale of the kernel before it, so only the last 1 x 1 convolution's scale reaches the output.
    from seglib._tf import keras

    import dataclasses

    runs_model = reference.optimizer_config("weight-decay").model  # the reference runs' model, at 64 px
    assert dataclasses.replace(runs_model, image_size=64, weights="none") == tiny_model_config.model
    model = tiny_model
    layers = keras.Model(model.inputs, model.outputs).get_config()["layers"]
    consumers: dict[str, set[str]] = {}
    for layer in layers:
        for node in layer["inbound_nodes"]:
            for argument in node["args"]:
                for tensor in argument if isinstance(argument, list) else [argument]:
                    if isinstance(tensor, dict) and tensor.get("class_name") == "__keras_tensor__":
                        consumers.setdefault(tensor["config"]["keras_history"][0], set()).add(layer["class_name"])
    with_kernels = [layer.name for layer in model.layers if any("kernel" in w.name for w in layer.weights)]
    not_normalised = [name for name in with_kernels if consumers.get(name) != {"BatchNormalization"}]
    assert len(with_kernels) > 40 and not_normalised == [model.layers[-2].name] == ["head_logits"]


def test_the_history_file_keeps_the_weight_norm_column_last():
    assert files.HISTORY_FILE_COLUMNS[-1] == "weight_norm"
