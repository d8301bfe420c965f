"""Segmentation losses on integer label masks, and how each spreads its weight over the classes.

Exercise 13-4 asks why sparse categorical cross-entropy suits a problem whose
classes are very unbalanced. The honest answer has two halves, and this module
makes both measurable:

* Plain cross-entropy is a *mean over labelled pixels* of ``-log p``, ``p`` the
  probability the model gives the pixel's true class: each pixel's loss is how
  wrong the model is there. A class's share of the loss is therefore its
  share of the pixels times how wrong the model is on it, compared with the
  average pixel. A model with random weights is about equally wrong
  everywhere, so its loss weighs classes by pixel count; a trained model is
  least wrong on the easy majority class (background), which then carries
  *less* than its pixel share, and the classes it still gets wrong carry more.
  The loss has no class weights: nothing in it targets the imbalance, and a
  class with few pixels stays a small part of the total. ``loss_shares``
  measures the shares for a model; ``loss_share_sentence`` words what they
  show (the direction depends on the model, so the sentence is generated).
* It is still a sound default for other reasons: it takes the integer label
  ids as they are (no one-hot tensor of ``H x W x C``), it is computed from the
  logits in one numerically stable step (log-softmax, no ``log(0)``), and it
  is a proper scoring rule (its expected value is smallest when the predicted
  probabilities are the true ones). That rewards honest probabilities in
  training; it does not make a trained model's softmax calibrated, which has
  to be measured.

Losses that do move weight towards rare classes are here too, so a run can
try them (``train.loss``) and ``loss_shares`` can show where each puts its
weight for a given model.

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

from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.config import LOSSES
from seglib.evaluation.metrics import check_num_classes

__all__ = [
    "PIXEL_LOSSES", "SHARE_COLUMNS", "median_frequency_weights", "pixel_losses", "make_loss",
    "loss_shares", "loss_share_figure", "share_ratios", "share_direction", "loss_share_sentence",
    "CROSS_ENTROPY_WEIGHTING", "RANDOM_VS_TRAINED", "CROSS_ENTROPY_DEFAULT",
]

#: The losses that are a sum of one number per pixel, so a class's share of them is defined.
PIXEL_LOSSES = ("cross-entropy", "weighted-cross-entropy", "focal")

#: ``loss_shares`` column holding each pixel loss's share per class.
SHARE_COLUMNS = {name: f"{name} share" for name in PIXEL_LOSSES}

#: Added to Dice's numerator and denominator: a class the batch labels but the model gives no
#: probability still has a defined (small) score, and tiny classes do not swing it to 0 or 1.
DICE_SMOOTHING = 1.0


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


def _check_gamma(gamma) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) \
            or not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0. Received: gamma={gamma!r}")
    return float(gamma)


def _check_weights(class_weights, num_classes: int) -> np.ndarray:
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
    return _check_weights(class_weights, num_classes)


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
    the loss each class holds (``loss_shares``).
    """
    from seglib._tf import tf

    _check_name(name, PIXEL_LOSSES)
    num_classes = int(logits.shape[-1])
    gamma = _check_gamma(gamma)
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
    gamma = _check_gamma(gamma)
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


# ---------------------------------------------------------------------------
# Where each loss puts its weight, for one model on some images
# ---------------------------------------------------------------------------

def loss_shares(model, pairs: Sequence, image_size: int | None, num_classes: int, class_weights=None,
                limit: int | None = 32, *, gamma: float = 2.0, batch_size: int = 8,
                ignore_label: int | None = IGNORE_LABEL, class_names: Sequence[str] = CLASS_NAMES):
    """Per class: its share of the pixels, its share of each pixel loss, and the model's IoU on it.

    Forward passes only (no gradient): the first ``limit`` pairs are read at
    ``image_size`` (masks resized nearest), the model predicts them, and every
    labelled pixel's cross-entropy, weighted cross-entropy and focal loss
    (``pixel_losses``) is added to its true class. A class's *loss share* is
    its sum over the loss's total, so for every loss the shares add up to 1
    and can be set against the pixel shares: under plain cross-entropy they
    differ only by how wrong the model is on the class.

    Args:
        model: a Keras segmentation model (logits out).
        pairs: ``seglib.data.layout.Pair`` objects (``Dataset.split(name)``).
        image_size: the size to compare at; ``None``: the model's input
            size. A model with a fixed input size needs its own size here.
        num_classes: the model's output channels.
        class_weights: ``(C,)`` weights for the weighted cross-entropy;
            ``None``: ``median_frequency_weights`` of these images' pixels.
        limit: use the first ``limit`` pairs (``None``: all).
        gamma: the focal loss's exponent.
        batch_size: images per forward pass.

    Returns:
        A ``pandas.DataFrame``, one row per class: ``class id``, ``class``,
        ``pixels``, ``pixel share``, ``class weight``, ``mean cross-entropy``
        (per pixel of the class; NaN when it has none), one ``<loss> share``
        column per ``PIXEL_LOSSES`` (``SHARE_COLUMNS``) and ``IoU`` (NaN when
        the class is in neither truth nor prediction). ``frame.attrs`` holds
        ``images``, ``labelled_pixels``, ``image_size``, ``gamma`` and
        ``mean_loss`` (each loss's value over these images).

    Raises:
        ValueError: for bad arguments or an empty ``pairs``;
        ``ImageReadError`` (naming the file) when a pair cannot be read.
    """
    import pandas as pd

    from seglib.evaluation import metrics
    from seglib._tf import tf
    from seglib.data.dataset import load_pair
    from seglib.evaluation.inference import model_input_size, predict_batch

    num_classes = check_num_classes(num_classes)
    gamma = _check_gamma(gamma)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None. Received: limit={limit!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    model_size = model_input_size(model)
    if image_size is None:
        if model_size is None:
            raise ValueError("This model takes any input size: pass image_size. Received: image_size=None")
        image_size = model_size
    if model_size is not None and int(image_size) != model_size:
        raise ValueError(f"image_size must be the model's input size {model_size}. Received: image_size={image_size}")
    if int(model.output_shape[-1]) != num_classes:
        raise ValueError(f"The model gives {model.output_shape[-1]} logits per pixel, not num_classes. "
                         f"Received: num_classes={num_classes}")
    chosen = list(pairs)[:int(limit)] if limit is not None else list(pairs)
    if not chosen:
        raise ValueError("There are no images to measure. Received: pairs=[] (an empty split)")

    # Per class: labelled pixels, summed cross-entropy and summed focal loss, and the confusion
    # matrix, batch by batch (never all logits at once). The weighted cross-entropy of a class is
    # its weight times its cross-entropy sum, so it needs no pass of its own.
    pixels = np.zeros(num_classes, np.int64)
    sums = {"cross-entropy": np.zeros(num_classes), "focal": np.zeros(num_classes)}
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for first in range(0, len(chosen), int(batch_size)):
        loaded = [load_pair(pair, size=int(image_size), num_classes=num_classes)
                  for pair in chosen[first:first + int(batch_size)]]
        predictions = predict_batch(model, [image for image, _ in loaded], batch_size=int(batch_size))
        masks = np.stack([mask for _, mask in loaded])
        logits = tf.constant(np.stack([prediction.model_logits for prediction in predictions]), tf.float32)
        labels = masks.astype(np.int64)
        valid = (labels >= 0) & (labels < num_classes)
        if ignore_label is not None:
            valid &= labels != int(ignore_label)
        pixels += np.bincount(labels[valid], minlength=num_classes)[:num_classes]
        for name in sums:
            values = pixel_losses(masks, logits, name, None, ignore_label, gamma).numpy()
            sums[name] += np.bincount(labels[valid], weights=values[valid].astype(np.float64),
                                      minlength=num_classes)[:num_classes]
        predicted = np.argmax(logits.numpy(), axis=-1)
        confusion += metrics.confusion_matrix(np.where(valid, labels, IGNORE_LABEL), predicted, num_classes,
                                              ignore_label=IGNORE_LABEL)
    if class_weights is None:
        weights = median_frequency_weights(pixels)
    else:
        weights = _check_weights(class_weights, num_classes).astype(np.float64)
    sums["weighted-cross-entropy"] = weights * sums["cross-entropy"]
    denominators = {"cross-entropy": float(pixels.sum()), "focal": float(pixels.sum()),
                    "weighted-cross-entropy": float((weights * pixels).sum())}

    labelled = int(pixels.sum())
    nothing = np.full(num_classes, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "class id": np.arange(num_classes),
            "class": [class_names[c] if c < len(class_names) else str(c) for c in range(num_classes)],
            "pixels": pixels,
            "pixel share": pixels / labelled if labelled else nothing,
            "class weight": weights,
            "mean cross-entropy": np.where(pixels > 0, sums["cross-entropy"] / np.maximum(pixels, 1), np.nan),
        })
    mean_loss = {}
    for name in PIXEL_LOSSES:
        total = float(sums[name].sum())
        table[SHARE_COLUMNS[name]] = sums[name] / total if total > 0 else nothing
        mean_loss[name] = total / denominators[name] if denominators[name] > 0 else float("nan")
    table["IoU"] = metrics.per_class_iou(confusion)
    table.attrs.update(images=len(chosen), labelled_pixels=labelled, image_size=int(image_size), gamma=gamma,
                       mean_loss=mean_loss)
    return table


# ---------------------------------------------------------------------------
# What the shares say, in words
# ---------------------------------------------------------------------------

#: How plain cross-entropy weighs the classes (Markdown): the one wording every text that explains
#: the "Imbalance and the loss" chart uses (the Dataset explorer, exercise 13-4).
CROSS_ENTROPY_WEIGHTING = (
    "Plain cross-entropy is the mean, over the labelled pixels, of −log *p*, where *p* is the probability the "
    "model gives the pixel's true class: each pixel's loss is how wrong the model is there. So a class's share "
    "of the loss is its share of the pixels times how wrong the model is on it, compared with the average pixel.")

#: Which way that goes, for the two kinds of model the dashboard offers (Markdown). Pinned by a test that
#: measures both on the default data.
RANDOM_VS_TRAINED = (
    "A model with random weights is about equally wrong everywhere, so its loss weighs each class by its pixel "
    "count. A trained model is least wrong on the easy majority class, background, which then carries less of "
    "the loss than of the pixels, while the classes it still gets wrong carry more than theirs. The loss itself "
    "has no class weights: a class with few pixels stays a small part of the total.")

#: Why cross-entropy is still the default (Markdown).
CROSS_ENTROPY_DEFAULT = (
    "It reads the integer masks as they are (the sparse form needs no one-hot H × W × C tensor), it is computed "
    "from the logits in one numerically stable step, and it is a proper scoring rule: its expected value is "
    "lowest when the predicted probabilities are the true ones, so training rewards honest probabilities. That "
    "does not make a trained model's softmax calibrated: whether its probabilities match how often it is right "
    "has to be measured (many deep networks are over-confident), and on images unlike its training data a "
    "model can be confidently wrong.")

#: A class whose loss share is within this factor of its pixel share carries "about its pixel share".
SHARE_TOLERANCE = 0.1


def share_ratios(table, column: str = SHARE_COLUMNS["cross-entropy"]):
    """Each class's loss share over its pixel share (a ``loss_shares`` table): 1 = as many as its
    pixels, 2 = twice. NaN for classes without pixels."""
    pixel = table["pixel share"].to_numpy(dtype=np.float64)
    loss = table[column].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pixel > 0, loss / np.where(pixel > 0, pixel, 1.0), np.nan)


def share_direction(ratio: float, tolerance: float = SHARE_TOLERANCE) -> str:
    """'less', 'about' or 'more': how a class's loss share compares with its pixel share."""
    if not np.isfinite(ratio):
        raise ValueError(f"ratio must be a finite number. Received: ratio={ratio!r}")
    if ratio < 1.0 - tolerance:
        return "less"
    if ratio > 1.0 + tolerance:
        return "more"
    return "about"


def share_text(value: float) -> str:
    """A share as a percentage, two significant digits below 1 % (0.031%, not 0.0%)."""
    return f"{value:.1%}" if value >= 0.01 else f"{100 * value:.2g}%"


def _times(value: float) -> str:
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def loss_share_sentence(table, tolerance: float = SHARE_TOLERANCE) -> str:
    """What the cross-entropy bars of a ``loss_shares`` table show, and why, in a few sentences.

    The direction depends on the model (``RANDOM_VS_TRAINED``), so it is read
    from the table: background's cross-entropy share against its pixel share
    (``share_direction``), the range of the other classes' ratios, and the
    model's mean cross-entropy on background pixels against all pixels.
    """
    ratios = share_ratios(table)
    pixels = table["pixels"].to_numpy()
    if not pixels.sum() or not np.isfinite(ratios[0]):
        return "No labelled background pixel in these images: the shares cannot be compared."
    background = table.iloc[0]
    share, loss = share_text(float(background["pixel share"])), share_text(float(background[SHARE_COLUMNS["cross-entropy"]]))
    direction = share_direction(float(ratios[0]), tolerance)
    mean_background = float(background["mean cross-entropy"])
    mean_all = float(table.attrs.get("mean_loss", {}).get("cross-entropy", np.nan))
    others = [c for c in range(1, len(table)) if pixels[c] > 0 and np.isfinite(ratios[c])]
    span = ""
    if others:
        low, high = float(np.nanmin(ratios[others])), float(np.nanmax(ratios[others]))
        span = (f"{_times(low)} times" if _times(low) == _times(high) else f"{_times(low)} to {_times(high)} times")
    average = (f" ({mean_background:.2f} per background pixel against {mean_all:.2f} over all pixels)"
               if np.isfinite(mean_all) else "")
    if direction == "less":
        sentence = (f"Here background has {share} of the pixels but only {loss} of the cross-entropy: this model is "
                    f"least wrong on it{average}, so the classes it gets wrong take the difference"
                    + (f": they carry {span} their pixel share." if span else "."))
    elif direction == "more":
        sentence = (f"Here background has {share} of the pixels and {loss} of the cross-entropy, more than its "
                    f"pixel share: this model is more wrong on background than on the average pixel{average}"
                    + (f"; the other classes carry {span} their pixel share." if span else "."))
    elif all(share_direction(float(ratios[c]), tolerance) == "about" for c in others):
        sentence = (f"Here background has {share} of the pixels and {loss} of the cross-entropy, and every other "
                    f"class too carries about its pixel share (within {tolerance:.0%}): this model is about equally "
                    "wrong everywhere, so the loss weighs each class by its pixel count.")
    else:
        sentence = (f"Here background has {share} of the pixels and {loss} of the cross-entropy, about its pixel "
                    f"share; the other classes carry {span} theirs.")
    if others:
        rarest = min(others, key=lambda c: (pixels[c], c))
        rare = table.iloc[rarest]
        sentence += (f" The rarest class present, {rare['class']}, holds {share_text(float(rare['pixel share']))} "
                     f"of the pixels and {share_text(float(rare[SHARE_COLUMNS['cross-entropy']]))} of the loss.")
    return sentence


# ---------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------

#: Bar colours: pixels in grey, the three losses in distinct, colour-blind-safe hues (Okabe-Ito).
SHARE_COLOURS = {"pixel share": "#9e9e9e", "cross-entropy share": "#0072B2",
                 "weighted-cross-entropy share": "#E69F00", "focal share": "#009E73"}
SHARE_LABELS = {"pixel share": "pixels", "cross-entropy share": "cross-entropy",
                "weighted-cross-entropy share": "weighted cross-entropy (median frequency)",
                "focal share": "focal"}


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
