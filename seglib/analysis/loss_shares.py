"""Where each loss puts its weight, class by class, for one model on some images (exercise 13-4).

Exercise 13-4 asks why sparse categorical cross-entropy suits a problem whose
classes are very unbalanced. The honest answer has two halves; this module
measures the first (the second, why it is still a sound default, is in
``seglib.evaluation.losses``):

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

The weighted cross-entropy and the focal loss (``seglib.evaluation.losses``)
do move weight towards rare classes; ``loss_shares`` shows where each puts it
for a given model, and ``seglib.figures.loss_shares`` draws the table.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.evaluation.losses import (PIXEL_LOSSES, check_class_weights, check_gamma, median_frequency_weights,
                                      pixel_losses)
from seglib.evaluation.metrics import check_num_classes

#: ``loss_shares`` column holding each pixel loss's share per class.
SHARE_COLUMNS = {name: f"{name} share" for name in PIXEL_LOSSES}


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
    gamma = check_gamma(gamma)
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
        weights = check_class_weights(class_weights, num_classes).astype(np.float64)
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


def rarest_class_caption(table, split: str) -> str:
    """What the background and the rarest class present hold of the pixels and of each loss in a
    ``loss_shares`` table, the rarest class's weight and IoU, and where the weights come from ("" when no
    class has pixels)."""
    import pandas as pd

    present = table[table["pixels"] > 0]
    if not len(present):
        return ""

    def shares(row) -> str:
        return (f"{share_text(row['pixel share'])} of the pixels, "
                f"{share_text(row['cross-entropy share'])} of the cross-entropy, "
                f"{share_text(row['weighted-cross-entropy share'])} of the weighted cross-entropy and "
                f"{share_text(row['focal share'])} of the focal loss")

    background, rarest = table.iloc[0], present.sort_values("pixels", kind="stable").iloc[0]
    iou = rarest["IoU"]
    return (f"On these images the background holds {shares(background)}. The rarest class present, "
            f"{rarest['class']}, holds {shares(rarest)}; its median-frequency weight is "
            f"{rarest['class weight']:,.1f} and the model's IoU on it "
            + ("is undefined." if pd.isna(iou) else f"{iou:.2f}.")
            + f" Weights come from the pixel counts of the whole {split} split; classes without pixels get "
            f"weight 0. Focal loss with γ = {table.attrs.get('gamma', 2.0):g}.")
