"""Segmentation losses on integer label masks: the choices of ``train.loss``.

Exercise 13-4 asks why sparse categorical cross-entropy suits a problem whose
classes are very unbalanced. What it does with the imbalance is measured by
``seglib.analysis.loss_shares`` (how each loss spreads its weight over the
classes, for a given model). It is a sound default for other reasons: it takes
the integer label ids as they are (no one-hot tensor of ``H x W x C``), it is
computed from the logits in one numerically stable step (log-softmax, no
``log(0)``), and it is a proper scoring rule (its expected value is smallest
when the predicted probabilities are the true ones). That rewards honest
probabilities in training; it does not make a trained model's softmax
calibrated, which has to be measured (``CROSS_ENTROPY_DEFAULT`` says it in
the lab's words).

Losses that do move weight towards rare classes are here too, so a run can
try them (``train.loss``) and ``seglib.analysis.loss_shares`` can show where
each puts its weight for a given model.

**The losses** (``seglib.config.LOSSES``); ``p`` is the softmax probability of a pixel's
true class, ``ce = -log p`` its cross-entropy, and every mean or sum runs over
the *labelled* pixels of the batch:

``"cross-entropy"``
    ``mean(ce)``: the same number as Keras's
    ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)``.
``"weighted-cross-entropy"``
    ``sum(w[y] * ce) / sum(w[y])``: each pixel's loss times its class's
    weight, normalised by the weights (as PyTorch's weighted ``cross_entropy``),
    so the loss stays on the scale of plain cross-entropy. Needs
    ``class_weights``, e.g. ``median_frequency_weights``. The only loss that
    uses them.
``"focal"``
    ``mean((1 - p) ** gamma * ce)`` (Lin et al., 2017): pixels the model
    already gets right (``p`` near 1, mostly easy background) count less, so
    the hard ones, often small and rare parts, gain weight. ``gamma=0`` is
    plain cross-entropy.
``"dice"``
    ``1 - mean_c (2 * I_c + 1) / (P_c + T_c + 1)`` with soft counts over the
    batch: ``I_c`` = sum of class ``c``'s probability on its own pixels,
    ``P_c`` = sum of its probability everywhere, ``T_c`` = its pixel count.
    The mean runs over the classes present in the batch's labels, so each
    present class counts the same whatever its size. ``0`` for a batch
    without a labelled pixel.
``"cross-entropy+dice"``
    The sum of the two.

**Ignored pixels.** A pixel whose label is ``ignore_label`` (255: unlabelled,
e.g. a boundary nobody could place), or any id outside ``0..C-1``, counts
nowhere: not in a sum, not in a mean's denominator, not in Dice's counts. A
batch without a labelled pixel has loss 0 (not NaN).

**Precision.** The logits are cast to float32 before any of this, so under
mixed precision (float16 logits) the softmax and the logs stay accurate.

The builder the training worker calls (its signature is fixed)::

    make_loss(name, num_classes, class_weights=None, ignore_label=255, gamma=2.0)
        -> loss(y_true, logits) -> scalar float32 tensor

``y_true``: integer (or integer-valued float) label ids ``(B, H, W)`` or
``(B, H, W, 1)``; ``logits``: ``(B, H, W, C)``, the model's raw output (no
softmax). The returned function also works as a Keras ``loss=``.

>>> import numpy as np
>>> median_frequency_weights([600, 300, 100, 0]).round(3).tolist()   # class 3 never occurs
[0.5, 1.0, 3.0, 0.0]
>>> loss = make_loss("cross-entropy", num_classes=2)
>>> labels = np.array([[[0, 1, 255]]])                  # one image, 1 x 3 pixels, the last one ignored
>>> logits = np.zeros((1, 1, 3, 2), np.float32)         # 50 / 50 everywhere
>>> round(float(loss(labels, logits)), 4)                # log 2, over the 2 labelled pixels
0.6931
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from seglib.classes import IGNORE_LABEL
from seglib.config import LOSSES
from seglib.evaluation.metrics import check_num_classes

__all__ = ["PIXEL_LOSSES", "DICE_SMOOTHING", "CROSS_ENTROPY_DEFAULT", "median_frequency_weights", "pixel_losses",
           "make_loss", "check_gamma", "check_class_weights"]

#: The losses that are a sum of one number per pixel, so a class's share of them is defined.
PIXEL_LOSSES = ("cross-entropy", "weighted-cross-entropy", "focal")

#: Added to Dice's numerator and denominator: a class the batch labels but the model gives no
#: probability still has a defined (small) score, and tiny classes do not swing it to 0 or 1.
DICE_SMOOTHING = 1.0

#: Why cross-entropy is still the default (Markdown).
CROSS_ENTROPY_DEFAULT = (
    "It reads the integer masks as they are (the sparse form needs no one-hot H × W × C tensor), it is computed "
    "from the logits in one numerically stable step, and it is a proper scoring rule: its expected value is "
    "lowest when the predicted probabilities are the true ones, so training rewards honest probabilities. That "
    "does not make a trained model's softmax calibrated: whether its probabilities match how often it is right "
    "has to be measured (many deep networks are over-confident), and on images unlike its training data a "
    "model can be confidently wrong.")


# ---------------------------------------------------------------------------
# Class weights
# ---------------------------------------------------------------------------

def median_frequency_weights(class_pixel_counts) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus, 2015): ``w_c = median(f) / f_c``.

    ``f_c`` is class ``c``'s share of the counted pixels and the median runs
    over the classes that occur, so a class of median frequency gets 1, a
    class 100 times rarer gets 100 and the background (far above the median)
    gets much less than 1. (The paper divides by the pixels of the images in
    which the class occurs; with only the totals, this uses all pixels.)

    A class with **no pixels gets weight 0**: there is nothing to weigh, and a
    finite weight keeps the loss finite should such a pixel appear later.

    Args:
        class_pixel_counts: ``(C,)`` non-negative pixel counts per class
            (e.g. ``DatasetStats.class_counts``).

    Returns:
        float64 ``(C,)``; all zeros when no class has a pixel.

    Raises:
        ValueError: for a count that is negative, not finite or not 1-D.
    """
    counts = np.asarray(class_pixel_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size < 1:
        raise ValueError(f"class_pixel_counts must be a 1-D sequence of counts. Received: shape={counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(f"class_pixel_counts must be finite and non-negative. Received: {counts.tolist()}")
    weights = np.zeros_like(counts)
    present = counts > 0
    if present.any():
        frequencies = counts[present] / counts.sum()
        weights[present] = np.median(frequencies) / frequencies
    return weights


# ---------------------------------------------------------------------------
# The losses (TensorFlow)
# ---------------------------------------------------------------------------

def _check_name(name: str, allowed: Sequence[str] = LOSSES) -> str:
    if name not in allowed:
        raise ValueError(f"Unknown loss {name!r}. Valid losses: {', '.join(allowed)}. Received: name={name!r}")
    return name


def check_gamma(gamma) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) \
            or not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0. Received: gamma={gamma!r}")
    return float(gamma)


def check_class_weights(class_weights, num_classes: int) -> np.ndarray:
    weights = np.asarray(class_weights, dtype=np.float64)
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights must hold one weight per class ({num_classes}). "
                         f"Received: shape={weights.shape}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"class_weights must be finite and non-negative. Received: {weights.tolist()}")
    return weights.astype(np.float32)


def _weights_for(name: str, class_weights, num_classes: int) -> np.ndarray | None:
    """The checked class weights the loss ``name`` uses (only the weighted cross-entropy uses any)."""
    if name != "weighted-cross-entropy":
        return None
    if class_weights is None:
        raise ValueError("The weighted cross-entropy needs class_weights (e.g. median_frequency_weights). "
                         "Received: class_weights=None")
    return check_class_weights(class_weights, num_classes)


def _prepare(tf, y_true, logits, num_classes: int, ignore_label: int):
    """float32 logits, int32 labels with ignored pixels set to 0, and the float32 mask of labelled pixels."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.convert_to_tensor(y_true)
    if labels.shape.rank == 4 and labels.shape[-1] == 1:
        labels = tf.squeeze(labels, axis=-1)
    labels = tf.cast(labels, tf.int32)
    valid = (labels >= 0) & (labels < num_classes)
    if ignore_label is not None:
        valid &= labels != int(ignore_label)
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    return logits, safe, tf.cast(valid, tf.float32)


def _per_pixel(tf, name: str, labels, logits, valid, weights, gamma: float):
    """One loss value per pixel (0 where not labelled), float32 ``(B, H, W)``."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    if name == "weighted-cross-entropy":
        ce = ce * tf.gather(tf.constant(weights, tf.float32), labels)
    elif name == "focal":
        probability = tf.exp(-ce)
        ce = tf.pow(tf.maximum(1.0 - probability, 0.0), gamma) * ce
    return ce * valid


def pixel_losses(y_true, logits, name: str = "cross-entropy", class_weights=None,
                 ignore_label: int | None = IGNORE_LABEL, gamma: float = 2.0):
    """The loss of every pixel under ``name`` (one of ``PIXEL_LOSSES``): float32 ``(B, H, W)``.

    0 at pixels that are not labelled. Summed and divided by the number of
    labelled pixels (for weighted cross-entropy: by their summed weights) this
    is ``make_loss(name, ...)``; split by the true class, it says how much of
    the loss each class holds (``seglib.analysis.loss_shares``).
    """
    from seglib._tf import tf

    _check_name(name, PIXEL_LOSSES)
    num_classes = int(logits.shape[-1])
    gamma = check_gamma(gamma)
    weights = _weights_for(name, class_weights, num_classes)
    logits, labels, valid = _prepare(tf, y_true, logits, num_classes, ignore_label)
    return _per_pixel(tf, name, labels, logits, valid, weights, gamma)


def _dice(tf, labels, logits, valid, num_classes: int):
    probabilities = tf.nn.softmax(logits, axis=-1) * valid[..., None]
    truth = tf.one_hot(labels, num_classes, dtype=tf.float32) * valid[..., None]
    axes = tf.range(tf.rank(truth) - 1)  # every axis but the classes
    intersection = tf.reduce_sum(probabilities * truth, axis=axes)
    predicted = tf.reduce_sum(probabilities, axis=axes)
    counted = tf.reduce_sum(truth, axis=axes)
    score = (2.0 * intersection + DICE_SMOOTHING) / (predicted + counted + DICE_SMOOTHING)
    present = tf.cast(counted > 0, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum((1.0 - score) * present), tf.reduce_sum(present))


def make_loss(name: str, num_classes: int, class_weights=None, ignore_label: int | None = IGNORE_LABEL,
              gamma: float = 2.0) -> Callable:
    """Build the loss ``name`` (one of ``LOSSES``) as ``loss(y_true, logits) -> scalar float32 tensor``.

    Args:
        name: ``"cross-entropy"``, ``"weighted-cross-entropy"``, ``"focal"``,
            ``"dice"`` or ``"cross-entropy+dice"`` (see the module docstring).
        num_classes: the model's output channels ``C``.
        class_weights: ``(C,)`` non-negative weights; required by, and only
            used by, ``"weighted-cross-entropy"``.
        ignore_label: the label id that counts nowhere (255; ``None``: none).
            Ids outside ``0..C-1`` count nowhere either.
        gamma: the focal loss's focusing exponent (>= 0; 0 = cross-entropy).

    Returns:
        A function of ``y_true`` (int ``(B, H, W)`` or ``(B, H, W, 1)``) and
        ``logits`` (``(B, H, W, C)``, any float dtype) giving the batch's loss
        as a float32 scalar tensor; 0 for a batch without a labelled pixel.
        Usable inside ``tf.function`` and as a Keras ``loss=``.

    Raises:
        ValueError: for an unknown name or a bad argument, naming the value received.
    """
    _check_name(name)
    num_classes = check_num_classes(num_classes)
    gamma = check_gamma(gamma)
    weights = _weights_for(name, class_weights, num_classes)
    if ignore_label is not None and (isinstance(ignore_label, bool) or not isinstance(ignore_label, (int, np.integer))):
        raise ValueError(f"ignore_label must be an integer or None. Received: ignore_label={ignore_label!r}")

    def loss(y_true, logits):
        from seglib._tf import tf

        logits, labels, valid = _prepare(tf, y_true, logits, num_classes, ignore_label)
        total = tf.constant(0.0, tf.float32)
        if name in PIXEL_LOSSES or name == "cross-entropy+dice":
            pixel_name = "cross-entropy" if name == "cross-entropy+dice" else name
            values = _per_pixel(tf, pixel_name, labels, logits, valid, weights, gamma)
            if name == "weighted-cross-entropy":
                denominator = tf.reduce_sum(tf.gather(tf.constant(weights, tf.float32), labels) * valid)
            else:
                denominator = tf.reduce_sum(valid)
            total += tf.math.divide_no_nan(tf.reduce_sum(values), denominator)
        if name in ("dice", "cross-entropy+dice"):
            total += _dice(tf, labels, logits, valid, num_classes)
        return total

    loss.__name__ = name.replace("+", "_plus_").replace("-", "_")
    loss.loss_name = name
    return loss
