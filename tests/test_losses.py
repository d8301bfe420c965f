"""seglib.evaluation.losses against NumPy references: every loss, the ignore label, float16 logits,
median-frequency weights, and the per-class loss shares of a tiny model."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from seglib.analysis import loss_shares
from seglib.classes import IGNORE_LABEL
from seglib.evaluation import losses
from seglib.figures import loss_shares as loss_share_figures

C = 4


def _batch(seed: int = 0, ignore_fraction: float = 0.2):
    rng = np.random.default_rng(seed)
    labels = rng.choice(C, size=(2, 6, 5), p=[0.7, 0.2, 0.08, 0.02]).astype(np.int64)
    labels[rng.random(labels.shape) < ignore_fraction] = IGNORE_LABEL
    logits = rng.normal(scale=2.0, size=(2, 6, 5, C)).astype(np.float32)
    return labels, logits


def _log_softmax(logits):
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _reference(name, labels, logits, weights=None, gamma=2.0):
    valid = labels != IGNORE_LABEL
    safe = np.where(valid, labels, 0)
    log_p = np.take_along_axis(_log_softmax(logits), safe[..., None], -1)[..., 0]
    ce = -log_p
    if name == "cross-entropy":
        return ce[valid].mean()
    if name == "weighted-cross-entropy":
        w = weights[safe]
        return (w * ce)[valid].sum() / w[valid].sum()
    if name == "focal":
        return ((1 - np.exp(log_p)) ** gamma * ce)[valid].mean()
    probabilities = np.exp(_log_softmax(logits))[valid]            # (N, C)
    truth = np.eye(C)[labels[valid]]
    scores = []
    for c in range(C):
        if truth[:, c].sum() == 0:
            continue
        scores.append((2 * (probabilities[:, c] * truth[:, c]).sum() + 1)
                      / (probabilities[:, c].sum() + truth[:, c].sum() + 1))
    dice = 1 - np.mean(scores)
    if name == "dice":
        return dice
    return ce[valid].mean() + dice


def test_the_docstring_examples_run():
    assert doctest.testmod(losses).failed == 0


@pytest.mark.parametrize("name", losses.LOSSES)
def test_each_loss_matches_numpy(name):
    labels, logits = _batch()
    weights = np.array([0.2, 1.0, 3.0, 9.0])
    value = losses.make_loss(name, C, class_weights=weights if "weighted" in name else None)(labels, logits)
    assert value.dtype.name == "float32" and value.shape == ()
    assert float(value) == pytest.approx(_reference(name, labels, logits, weights), rel=1e-5, abs=1e-6)


def test_plain_cross_entropy_is_keras_sparse_cross_entropy_with_the_ignore_class():
    from seglib._tf import keras

    labels, logits = _batch(1)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL)
    assert float(losses.make_loss("cross-entropy", C)(labels, logits)) == pytest.approx(
        float(keras_loss(labels, logits)), rel=1e-6)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_ignored_pixels_count_nowhere(name):
    labels, logits = _batch(2)
    loss = losses.make_loss(name, C, class_weights=np.ones(C) if "weighted" in name else None)
    before = float(loss(labels, logits))
    # Whatever the logits say at ignored pixels, and whatever id an out-of-range pixel holds:
    changed = logits.copy()
    changed[labels == IGNORE_LABEL] = 50.0 * np.random.default_rng(3).normal(size=(int((labels == 255).sum()), C))
    assert float(loss(labels, changed)) == pytest.approx(before, rel=1e-6)
    assert float(loss(labels[..., None], logits)) == pytest.approx(before, rel=1e-6)  # (B, H, W, 1) labels
    everything_ignored = np.full_like(labels, IGNORE_LABEL)
    assert float(loss(everything_ignored, logits)) == 0.0


@pytest.mark.parametrize("name", losses.LOSSES)
def test_half_precision_logits_are_computed_in_float32(name):
    from seglib._tf import tf

    labels, logits = _batch(4)
    loss = losses.make_loss(name, C, class_weights=np.ones(C) if "weighted" in name else None)
    half = tf.constant(logits, tf.float16)
    value = loss(labels, half)
    assert value.dtype == tf.float32
    expected = _reference(name, labels, logits.astype(np.float16).astype(np.float32), np.ones(C))
    assert float(value) == pytest.approx(expected, rel=1e-5)
    # Confident logits: float16 softmax would round p to 1 and give a zero or NaN loss.
    sure = np.zeros((1, 1, 2, C), np.float32)
    sure[..., 1] = 30.0
    assert np.isfinite(float(loss(np.array([[[0, 1]]]), tf.constant(sure, tf.float16))))


def test_the_loss_has_gradients_and_works_inside_tf_function():
    from seglib._tf import tf

    labels, logits = _batch(5)
    loss = losses.make_loss("cross-entropy+dice", C)
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = tf.function(loss)(tf.constant(labels, tf.int32), variable)
    gradient = tape.gradient(value, variable).numpy()
    assert np.isfinite(gradient).all()
    assert np.abs(gradient[labels == IGNORE_LABEL]).max() == 0.0  # no gradient through ignored pixels


def test_focal_with_gamma_zero_is_cross_entropy_and_weights_of_one_are_too():
    labels, logits = _batch(6)
    plain = float(losses.make_loss("cross-entropy", C)(labels, logits))
    assert float(losses.make_loss("focal", C, gamma=0)(labels, logits)) == pytest.approx(plain, rel=1e-6)
    assert float(losses.make_loss("weighted-cross-entropy", C, class_weights=np.ones(C))(labels, logits)) \
        == pytest.approx(plain, rel=1e-6)


def test_median_frequency_weights():
    weights = losses.median_frequency_weights([700, 200, 80, 20, 0])
    frequencies = np.array([0.7, 0.2, 0.08, 0.02])
    assert weights[:4] == pytest.approx(np.median(frequencies) / frequencies)
    assert weights[4] == 0.0                                  # a class without pixels gets no weight
    assert weights[0] < 1 < weights[3]                        # frequent classes down, rare ones up
    assert losses.median_frequency_weights([0, 0, 0]).tolist() == [0.0, 0.0, 0.0]
    for bad in ([1, -1], [[1, 2]], [np.nan, 1]):
        with pytest.raises(ValueError):
            losses.median_frequency_weights(bad)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Valid losses: cross-entropy, weighted-cross-entropy"):
        losses.make_loss("hinge", C)
    with pytest.raises(ValueError, match="class_weights=None"):
        losses.make_loss("weighted-cross-entropy", C)
    with pytest.raises(ValueError, match="one weight per class"):
        losses.make_loss("weighted-cross-entropy", C, class_weights=[1, 2])
    with pytest.raises(ValueError, match="gamma"):
        losses.make_loss("focal", C, gamma=-1)
    with pytest.raises(ValueError, match="num_classes"):
        losses.make_loss("dice", 1)


# ---------------------------------------------------------------------------
# Loss shares of a tiny model
# ---------------------------------------------------------------------------

def test_loss_shares_add_up_and_agree_with_the_losses(tiny_dataset, tiny_model):
    from seglib.data.dataset import load_pair, open_dataset
    from seglib.evaluation.inference import predict_batch

    pairs = open_dataset(tiny_dataset).split("train")
    table = loss_shares.loss_shares(tiny_model, pairs, 64, 20, None, limit=3)
    assert len(table) == 20 and table.attrs["images"] == 3
    for column in ("pixel share", *loss_shares.SHARE_COLUMNS.values()):
        assert table[column].sum() == pytest.approx(1.0)
    # Plain cross-entropy: a class's loss share is its pixel share times its mean loss over the mean.
    mean_loss = table.attrs["mean_loss"]
    present = table["pixels"] > 0
    assert np.allclose(table.loc[present, "cross-entropy share"], table.loc[present, "pixel share"]
                       * table.loc[present, "mean cross-entropy"] / mean_loss["cross-entropy"])
    # Median-frequency weights from these images' pixels; absent classes weigh 0.
    assert np.allclose(table["class weight"], losses.median_frequency_weights(table["pixels"]))
    assert (table.loc[~present, ["class weight", "cross-entropy share"]] == 0).all().all()
    # The mean losses are make_loss on the same batch.
    loaded = [load_pair(pair, size=64) for pair in pairs[:3]]
    masks = np.stack([m for _, m in loaded])
    logits = np.stack([p.model_logits for p in predict_batch(tiny_model, [i for i, _ in loaded])])
    for name in losses.PIXEL_LOSSES:
        loss = losses.make_loss(name, 20, class_weights=table["class weight"].to_numpy())
        assert mean_loss[name] == pytest.approx(float(loss(masks, logits)), rel=1e-4)
    # Weighting moves loss from the frequent background to the rarer classes.
    background = table.loc[0]
    assert background["weighted-cross-entropy share"] < background["cross-entropy share"]
    iou = table["IoU"]
    assert ((iou >= 0) & (iou <= 1) | iou.isna()).all()


def test_loss_shares_with_given_weights_and_bad_arguments(tiny_dataset, tiny_model):
    from seglib.data.dataset import open_dataset

    pairs = open_dataset(tiny_dataset).split("val")
    weights = np.zeros(20)
    weights[0] = 1.0
    table = loss_shares.loss_shares(tiny_model, pairs, None, 20, weights, limit=2)
    assert table.loc[0, "weighted-cross-entropy share"] == pytest.approx(1.0)  # only background weighs
    with pytest.raises(ValueError, match="input size 64"):
        loss_shares.loss_shares(tiny_model, pairs, 96, 20, None)
    with pytest.raises(ValueError, match="empty split"):
        loss_shares.loss_shares(tiny_model, [], 64, 20, None)
    with pytest.raises(ValueError, match="num_classes"):
        loss_shares.loss_shares(tiny_model, pairs, 64, 5, None)


def test_the_figure_has_three_losses_the_pixels_and_iou(tiny_dataset, tiny_model):
    from seglib.classes import get_palette
    from seglib.data.dataset import open_dataset

    table = loss_shares.loss_shares(tiny_model, open_dataset(tiny_dataset).split("val"), 64, 20, None, limit=2)
    figure = loss_share_figures.loss_share_figure(table, log=True, include_background=False, palette=get_palette("cihp"))
    names = [trace.name for trace in figure.data]
    assert names[:4] == ["pixels", "cross-entropy", "weighted cross-entropy (median frequency)", "focal"]
    assert names[4] == "IoU of the model"
    assert "Background" not in figure.data[0].x and len(figure.data[0].x) == 19
    assert figure.layout.yaxis.type == "log"
    shares = list(figure.data[0].y)
    assert shares == sorted(shares, reverse=True)  # most frequent first: rare classes on the right


def test_the_rarest_class_caption_names_the_focal_gamma_the_table_was_computed_with(tiny_dataset, tiny_model):
    from seglib.data.dataset import open_dataset

    pairs = open_dataset(tiny_dataset).split("val")
    for gamma in (2.0, 0.5):
        table = loss_shares.loss_shares(tiny_model, pairs, 64, 20, None, limit=2, gamma=gamma)
        caption = loss_shares.rarest_class_caption(table, "val")
        assert f"Focal loss with γ = {gamma:g}." in caption, caption
