"""Switch parts of DeepLabV3+ off at inference and measure what each one was doing (an ablation).

The parts are where the model merges parallel paths: each ASPP branch (image
pooling, the 1x1 conv, one 3x3 conv per atrous rate) just before the ASPP
concatenation, and the decoder's low-level skip (stride 4 detail) just before
the decoder's concatenation. Switching a part off multiplies its output tensor
by 0 and runs the rest of the trained model unchanged; nothing is retrained.

How it is run, honestly and in one pass: the model is split at those tensors
into an *encoder* (image -> the part outputs) and a *head* (part outputs ->
logits), two Keras models that share the trained layers of the model (no copy
of a weight). One compiled function runs the encoder once per image, repeats
its outputs once per variant, multiplies each part by its 0/1 switch and runs
the head on the whole batch of variants. With every switch at 1 the logits are
bit-identical to the model's own (a test checks it); the table of one lecture
image (the full model and six parts off) takes one such call.

* ``ablation_parts(model)``: the parts of this model, read from its layers;
* ``ablated_logits(model, images)``: model-size logits ``(N, V, s, s, C)``, variant 0 = full model;
* ``ablate_image(model, image, truth)``: one image's variants, their mean IoU and, per
  pixel, the winning class and probability (``ImageAblation.pixel_table``);
* ``ablate_split(model, pairs)``: the same over the first images of a split, with the
  pixel accuracy of small, medium and large people (``SplitAblation.table`` and
  ``scale_findings``: which part covers which scale, from the numbers).

>>> result = ablate_image(model, image, truth)              # doctest: +SKIP
>>> result.pixel_table(40, 60)[["switched off", "class", "probability", "mean IoU"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from typing import Callable, Sequence

import numpy as np

from seglib.analysis.aspp import aspp_analysis
from seglib.classes import IGNORE_LABEL, class_label
from seglib.errors import ModelError
from seglib.evaluation import evaluate, inference, metrics

__all__ = ["AblationPart", "FULL_MODEL", "ablation_parts", "ablated_logits", "ImageAblation", "ablate_image",
           "SplitAblation", "ablate_split", "person_map", "SIZE_BINS"]

#: The layer the decoder's low-level skip ends in (``seglib.model.deeplab`` names every decoder
#: layer ``decoder_...``; the skip's 1x1 conv block is ``decoder_low_level`` + ``_bn`` + ``_relu``).
_SKIP_PREFIX = "decoder_low_level"
#: The concatenations the parts feed.
_ASPP_MERGE = "aspp_concat"
_DECODER_MERGE = "decoder_concat"
#: Names of the three person-size groups of ``SplitAblation`` (terciles of the people's heights).
SIZE_BINS = ("small", "medium", "large")


@dataclasses.dataclass(frozen=True)
class AblationPart:
    """One part that can be switched off. ``kind``: 'full' (nothing off), 'image_pooling',
    'conv' (an ASPP conv branch) or 'skip'; ``layer``: the layer whose output is zeroed;
    ``reach``: what the part sees, in words (from the model's own receptive-field numbers)."""

    key: str
    label: str
    kind: str
    layer: str | None = None
    reach: str = ""


#: Variant 0 of every ablation: nothing switched off.
FULL_MODEL = AblationPart("full", "nothing (full model)", "full", None, "all of the below")


def _producers(model) -> dict[int, str]:
    """The layer that made each tensor of the model (by the tensor's id)."""
    found = {}
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for tensor in outputs:
            found[id(tensor)] = layer.name
    return found


def _part_tensors(model) -> tuple[tuple[AblationPart, ...], list]:
    """The switchable parts of ``model`` and the tensors they zero, in the same order."""
    try:
        aspp_merge = model.get_layer(_ASPP_MERGE)
        decoder_merge = model.get_layer(_DECODER_MERGE)
    except ValueError:
        raise ModelError(f"The model {model.name!r} has no layers named {_ASPP_MERGE!r} and {_DECODER_MERGE!r}: "
                         "the ablation needs a DeepLabV3+ built by seglib.model.deeplab.build_model.") from None
    analysis = aspp_analysis(model)
    producers = _producers(model)
    by_layer = {producers.get(id(tensor)): tensor for tensor in aspp_merge.input}
    parts, tensors = [], []
    for branch in analysis.branches:
        end = branch.layers[-1] if branch.layers else branch.name
        if end not in by_layer:
            raise ModelError(f"The ASPP branch {branch.label!r} does not end at {_ASPP_MERGE!r}.")
        if branch.kind == "image_pooling":
            reach = "the whole image"
        elif branch.kernel_size == 1:
            reach = f"one cell ({branch.receptive_field_px:g} px field)"
        else:
            reach = f"taps {branch.spacing_px:g} px apart ({branch.receptive_field_px:g} px field)"
        parts.append(AblationPart(branch.name, branch.label, branch.kind, end, reach))
        tensors.append(by_layer[end])
    skips = [tensor for tensor in decoder_merge.input
             if str(producers.get(id(tensor), "")).startswith(_SKIP_PREFIX)]
    if len(skips) != 1:
        raise ModelError(f"The decoder of {model.name!r} has no low-level skip ({_SKIP_PREFIX}...) "
                         f"feeding {_DECODER_MERGE!r}.")
    parts.append(AblationPart("skip", "low-level skip", "skip", producers[id(skips[0])], "stride-4 detail"))
    tensors.append(skips[0])
    return tuple(parts), tensors


class _Ablator:
    """The encoder and head of one model, and the compiled function that runs every variant."""

    def __init__(self, model):
        from seglib._tf import import_tf

        tf, keras = import_tf()
        parts, tensors = _part_tensors(model)
        self.parts = (FULL_MODEL, *parts)
        try:
            encoder = keras.Model(model.input, tensors, name="ablation_encoder")
            head = keras.Model(tensors, model.output, name="ablation_head")
        except ValueError as error:
            raise ModelError(f"Cannot split {model.name!r} at its ASPP branches and skip: {error}") from error
        # One row per variant: 1 keeps a part, 0 switches it off (variant 0 keeps all).
        self.switches = np.ones((len(self.parts), len(parts)), np.float32)
        for index in range(len(parts)):
            self.switches[index + 1, index] = 0.0

        @tf.function(reduce_retracing=True)
        def run(images, switches):
            features = encoder(images, training=False)
            variants = tf.shape(switches)[0]
            count = tf.shape(images)[0]
            gated = []
            for index, feature in enumerate(features):
                switch = tf.reshape(tf.tile(switches[:, index], [count]), [-1, 1, 1, 1])
                gated.append(tf.repeat(feature, variants, axis=0) * tf.cast(switch, feature.dtype))
            logits = head(gated, training=False)
            if isinstance(logits, (list, tuple)):
                logits = logits[0]
            return tf.cast(logits, tf.float32)

        self.run = run
        # Compile now (a few seconds on a CPU), so that the first image's time is its own.
        size = inference.model_input_size(model)
        if size is not None:
            run(tf.zeros((1, size, size, 3), tf.float32), tf.convert_to_tensor(self.switches))


_ablators: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_ablators_lock = threading.Lock()


def _ablator(model) -> _Ablator:
    with _ablators_lock:
        found = _ablators.get(model)
        if found is None:
            found = _ablators[model] = _Ablator(model)
    return found


def ablation_parts(model) -> tuple[AblationPart, ...]:
    """``FULL_MODEL`` and every part of ``model`` that can be switched off, in table order:
    image pooling, the 1x1 branch, the atrous branches by rate, the low-level skip.

    Raises ``ModelError`` for a model without an ASPP block or a low-level skip."""
    return _ablator(model).parts


def ablated_logits(model, images: Sequence[np.ndarray]) -> np.ndarray:
    """Model-size logits of every variant of each image: float32 ``(N, V, s, s, C)``.

    ``images``: arrays of any size (resized as ``inference.predict`` does). Variant
    ``v`` has part ``ablation_parts(model)[v]`` switched off; variant 0 is the full model,
    bit-identical to ``model(images)``. One call of the compiled function.
    """
    from seglib._tf import import_tf

    tf, _ = import_tf()
    size = inference.model_input_size(model)
    if size is None:
        raise ModelError("The ablation needs a model with a fixed square input size.")
    ablator = _ablator(model)
    batch = inference.model_batch(images, size)
    logits = ablator.run(tf.convert_to_tensor(batch), tf.convert_to_tensor(ablator.switches)).numpy()
    return logits.reshape(len(batch), len(ablator.parts), *logits.shape[1:])




# ---------------------------------------------------------------------------
# One image
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImageAblation:
    """Every variant of one image.

    ``model_logits``: float32 ``(V, s, s, C)`` (variant 0 = full model); ``image_size``:
    ``(H, W)`` of the image the pixels refer to; ``confusions``: int64 ``(V, C, C)``
    against the truth (None without one); ``seconds``: the model call's time (the model's
    split and compilation, once per model, not included).
    """

    parts: tuple[AblationPart, ...]
    model_logits: np.ndarray
    image_size: tuple[int, int]
    confusions: np.ndarray | None
    seconds: float

    @property
    def mean_iou(self) -> np.ndarray:
        """Mean IoU of each variant on this image (nan without a truth)."""
        if self.confusions is None:
            return np.full(len(self.parts), np.nan)
        return np.array([metrics.mean_iou(confusion) for confusion in self.confusions])

    @property
    def pixel_accuracy(self) -> np.ndarray:
        if self.confusions is None:
            return np.full(len(self.parts), np.nan)
        return np.array([metrics.pixel_accuracy(confusion) for confusion in self.confusions])

    def pixel_logits(self, row: int, column: int) -> np.ndarray:
        """float32 ``(V, C)``: the logits of image pixel (row, column) in each variant."""
        return np.stack([inference.pixel_logits(logits, self.image_size, row, column)
                         for logits in self.model_logits])

    def pixel_table(self, row: int, column: int):
        """One row per variant: the part switched off, the pixel's winning class and its
        probability, the probability of the full model's class, and the image's mean IoU.

        Columns: ``switched off, reach, class id, class, probability, p(full model's class),
        changed, mean IoU, change in mean IoU``.
        """
        import pandas as pd

        probabilities = inference.softmax(self.pixel_logits(row, column))
        winners = probabilities.argmax(axis=-1)
        original = int(winners[0])
        mean_iou = self.mean_iou
        return pd.DataFrame({
            "switched off": [part.label for part in self.parts],
            "reach": [part.reach for part in self.parts],
            "class id": winners.astype(np.int64),
            "class": [class_label(int(c)) for c in winners],
            "probability": probabilities[np.arange(len(winners)), winners].astype(np.float64),
            "p(full model's class)": probabilities[:, original].astype(np.float64),
            "changed": winners != original,
            "mean IoU": mean_iou,
            "change in mean IoU": mean_iou - mean_iou[0],
        })


def ablate_image(model, image: np.ndarray, truth: np.ndarray | None = None,
                 image_size: tuple[int, int] | None = None, num_classes: int | None = None) -> ImageAblation:
    """Switch each part of ``model`` off in turn on one image (one model call).

    Args:
        model: a seglib DeepLabV3+ (see ``ablation_parts``).
        image: the picture (any size; resized to the model's input as ``predict`` does).
        truth: its mask (the image's size); gives each variant's confusion matrix and mean IoU,
            with every variant's logits resized to the image's size as ``predict`` does.
        image_size: ``(H, W)`` the pixels of ``pixel_table`` refer to (default: the image's;
            an upload shown from a smaller copy passes its own size).
        num_classes: defaults to the model's output channels.
    """
    num_classes = int(num_classes or model.output_shape[-1])
    parts = ablation_parts(model)  # split and compiled once per model, before the clock starts
    start = time.perf_counter()
    logits = ablated_logits(model, [image])[0]
    seconds = time.perf_counter() - start
    height, width = tuple(image_size or np.asarray(image).shape[:2])
    confusions = None
    if truth is not None:
        truth = np.asarray(truth)
        if truth.shape != (height, width):
            raise ValueError(f"truth must be the image's size {height} x {width}. Received: truth.shape={truth.shape}")
        confusions = np.stack([_confusion(variant, truth, num_classes) for variant in logits])
    return ImageAblation(parts=parts, model_logits=logits, image_size=(int(height), int(width)),
                         confusions=confusions, seconds=seconds)


def _mask(model_logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """The mask ``predict`` would give from these logits at the image's size."""
    return inference.prediction_from_logits(model_logits, height, width, model_logits.shape[0], False).mask


def _confusion(model_logits: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    return metrics.confusion_matrix(truth, _mask(model_logits, *truth.shape), num_classes)


# ---------------------------------------------------------------------------
# People, to sort pixels by the size of the person they belong to
# ---------------------------------------------------------------------------

def person_map(truth: np.ndarray, humans: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which person each labelled foreground pixel belongs to, and each person's height.

    Returns ``(labels, heights)``: int32 ``labels`` (0 = background, ignored or no person;
    k = person k) and ``heights[k - 1]`` the height in pixels of person k's bounding box.
    ``humans`` is the dataset's person-id map (CIHP ``Human_ids``); without one, each
    8-connected region of foreground is taken as one person.
    """
    import cv2

    truth = np.asarray(truth)
    foreground = (truth > 0) & (truth != IGNORE_LABEL)
    if humans is not None and humans.shape == truth.shape:
        ids, labels = np.unique(np.where(foreground, humans, 0), return_inverse=True)
        labels = labels.reshape(truth.shape).astype(np.int32)
        if ids[0] != 0:  # every foreground pixel has a person: there is no 0 to keep at 0
            labels += 1
        count = int(labels.max())
    else:
        count, labels = cv2.connectedComponents(foreground.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        count -= 1
    heights = np.zeros(count, np.int64)
    rows = np.nonzero(labels)[0]
    if rows.size:
        ids = labels[labels > 0]
        top = np.full(count + 1, np.iinfo(np.int64).max)
        bottom = np.full(count + 1, -1)
        np.minimum.at(top, ids, rows)
        np.maximum.at(bottom, ids, rows)
        heights = (bottom[1:] - top[1:] + 1).clip(min=0)
    return labels, heights


# ---------------------------------------------------------------------------
# A split
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SplitAblation:
    """The ablation over the first ``count`` images of a split.

    ``confusions``: int64 ``(V, C, C)`` summed over the images; per person (all images
    together): ``heights`` at the model's input size (px), ``pixels`` and ``correct``
    ``(K, V)``, the person's labelled pixels and how many each variant labels right.
    """

    parts: tuple[AblationPart, ...]
    confusions: np.ndarray
    heights: np.ndarray
    pixels: np.ndarray
    correct: np.ndarray
    count: int
    total_images: int
    input_size: int
    seconds: float

    @property
    def mean_iou(self) -> np.ndarray:
        return np.array([metrics.mean_iou(confusion) for confusion in self.confusions])

    @property
    def per_class_iou(self) -> np.ndarray:
        """float64 ``(V, C)``."""
        return np.stack([metrics.per_class_iou(confusion) for confusion in self.confusions])

    def size_edges(self) -> tuple[float, float]:
        """Person heights (model-input px) that split the people into thirds (small | medium | large)."""
        if not self.heights.size:
            return (float("nan"), float("nan"))
        low, high = np.quantile(self.heights.astype(np.float64), [1 / 3, 2 / 3])
        return float(low), float(high)

    def size_groups(self) -> np.ndarray:
        """0, 1 or 2 per person (small, medium, large): heights at or below the first edge are small,
        above the second large."""
        low, high = self.size_edges()
        return np.where(self.heights <= low, 0, np.where(self.heights <= high, 1, 2))

    def size_ranges(self) -> tuple[str, str, str]:
        """The heights of the three groups in words (model-input px): '≤ 19 px', '19–102 px', '> 102 px'."""
        low, high = self.size_edges()
        return (f"≤ {low:.0f} px", f"{low:.0f}–{high:.0f} px", f"> {high:.0f} px")

    def group_accuracy(self) -> np.ndarray:
        """float64 ``(3, V)``: share of the pixels of small / medium / large people each variant
        labels with the right part (nan for a group without pixels)."""
        groups = self.size_groups()
        accuracy = np.full((len(SIZE_BINS), len(self.parts)), np.nan)
        for group in range(len(SIZE_BINS)):
            chosen = groups == group
            total = int(self.pixels[chosen].sum())
            if total:
                accuracy[group] = self.correct[chosen].sum(axis=0) / total
        return accuracy

    def table(self):
        """One row per variant: ``switched off, reach, mean IoU, change in mean IoU``, the change in
        pixel accuracy (percentage points) of small, medium and large people, and the class whose
        IoU falls most."""
        import pandas as pd

        mean_iou = self.mean_iou
        accuracy = self.group_accuracy()
        per_class = self.per_class_iou
        hurt = []
        for variant in range(len(self.parts)):
            drop = per_class[0] - per_class[variant]
            if variant == 0 or not np.any(np.nan_to_num(drop, nan=-np.inf) > 0):
                hurt.append("")
                continue
            worst = int(np.nanargmax(drop))
            hurt.append(f"{class_label(worst)} ({-drop[worst]:+.2f})")
        frame = {
            "switched off": [part.label for part in self.parts],
            "reach": [part.reach for part in self.parts],
            "mean IoU": mean_iou,
            "change in mean IoU": mean_iou - mean_iou[0],
        }
        for group, name in enumerate(SIZE_BINS):
            frame[f"{name} people (points)"] = 100 * (accuracy[group] - accuracy[group, 0])
        frame["class hurt most"] = hurt
        return pd.DataFrame(frame)

    def scale_findings(self) -> list[str]:
        """Sentences that answer "which part covers which scale", each computed from the table."""
        if len(self.parts) < 2:
            return []
        mean_iou = self.mean_iou
        change = mean_iou[1:] - mean_iou[0]
        worst, least = int(np.nanargmin(change)) + 1, int(np.nanargmax(change)) + 1
        lines = [f"Switching off the **{self.parts[worst].label}** costs the most: mean IoU "
                 f"{mean_iou[0]:.3f} → {mean_iou[worst]:.3f} ({change[worst - 1]:+.3f}) over {self.count} images; "
                 f"the **{self.parts[least].label}** is missed least ({change[least - 1]:+.3f})."]
        accuracy = self.group_accuracy()
        groups = self.size_groups()
        for group, (name, heights) in enumerate(zip(SIZE_BINS, self.size_ranges())):
            if np.isnan(accuracy[group, 0]):
                continue
            losses = 100 * (accuracy[group, 1:] - accuracy[group, 0])
            part = int(np.nanargmin(losses)) + 1
            if losses[part - 1] >= 0:
                lines.append(f"**{name.capitalize()} people** ({heights} tall at {self.input_size} px): no part "
                             "switched off lowers their pixel accuracy.")
                continue
            lines.append(f"**{name.capitalize()} people** ({int((groups == group).sum())}, {heights} tall at "
                         f"{self.input_size} px): most hurt without the **{self.parts[part].label}**, "
                         f"{losses[part - 1]:+.1f} points of pixel accuracy (from {100 * accuracy[group, 0]:.1f} %).")
        return lines


def ablate_split(model, pairs: Sequence, limit: int | None = 8, batch_size: int = 4,
                 num_classes: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> SplitAblation:
    """``ablate_image`` over the first ``limit`` pairs of a split, each image at its own size.

    ``pairs``: ``seglib.data.layout.Pair`` objects (``Dataset.split(name)``); a pair's
    ``human`` (person ids) is used when present, else foreground regions count as people.
    Raises ``ValueError`` for bad arguments and ``ImageReadError`` naming a file that cannot be read.
    """
    from seglib.data.dataset import load_pair
    from seglib.data.mask_stats import read_humans

    pairs = evaluate.check_split_arguments(pairs, limit, batch_size, "ablate")
    num_classes = int(num_classes or model.output_shape[-1])
    size = inference.model_input_size(model)
    parts = ablation_parts(model)
    chosen = pairs[:int(limit)] if limit is not None else pairs
    start = time.perf_counter()
    confusions = np.zeros((len(parts), num_classes, num_classes), np.int64)
    heights, pixels, correct = [], [], []
    for first in range(0, len(chosen), int(batch_size)):
        batch = chosen[first:first + int(batch_size)]
        loaded = [load_pair(pair, num_classes=num_classes) for pair in batch]
        logits = ablated_logits(model, [image for image, _ in loaded])
        for pair, (_, truth), variants in zip(batch, loaded, logits):
            humans = read_humans(str(pair.human), truth.shape, None) if getattr(pair, "human", None) else None
            labels, person_heights = person_map(truth, humans)
            people = len(person_heights)
            person_correct = np.zeros((people, len(parts)), np.int64)
            for variant, variant_logits in enumerate(variants):
                mask = _mask(variant_logits, *truth.shape)
                confusions[variant] += metrics.confusion_matrix(truth, mask, num_classes)
                right = (mask == truth) & (labels > 0)
                person_correct[:, variant] = np.bincount(labels[right], minlength=people + 1)[1:]
            heights.append(person_heights * (size / truth.shape[0]))
            pixels.append(np.bincount(labels.ravel(), minlength=people + 1)[1:])
            correct.append(person_correct)
        if progress is not None:
            progress(min(first + len(batch), len(chosen)), len(chosen))
    return SplitAblation(
        parts=parts, confusions=confusions,
        heights=np.concatenate(heights) if heights else np.zeros(0),
        pixels=np.concatenate(pixels).astype(np.int64) if pixels else np.zeros(0, np.int64),
        correct=np.concatenate(correct) if correct else np.zeros((0, len(parts)), np.int64),
        count=len(chosen), total_images=len(pairs), input_size=int(size), seconds=time.perf_counter() - start)
