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
  pixel, the winning class and probability (``ImageAblation.pixel_table``).

The same over the first images of a split, by the size of the people, is
``seglib.analysis.split_ablation``.

>>> result = ablate_image(model, image, truth)              # doctest: +SKIP
>>> result.pixel_table(40, 60)[["switched off", "class", "probability", "mean IoU"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import threading
import time
import weakref
from typing import Sequence

import numpy as np

from seglib.analysis.aspp import aspp_analysis
from seglib.classes import class_label
from seglib.errors import ModelError
from seglib.evaluation import inference, metrics

__all__ = ["AblationPart", "FULL_MODEL", "ablation_parts", "ablated_logits", "ImageAblation", "ablate_image",
           "predicted_mask"]

#: The layer the decoder's low-level skip ends in (``seglib.model.deeplab`` names every decoder
#: layer ``decoder_...``; the skip's 1x1 conv block is ``decoder_low_level`` + ``_bn`` + ``_relu``).
_SKIP_PREFIX = "decoder_low_level"
#: The concatenations the parts feed.
_ASPP_MERGE = "aspp_concat"
_DECODER_MERGE = "decoder_concat"


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


def predicted_mask(model_logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """The mask ``predict`` would give from these logits at the image's size."""
    return inference.prediction_from_logits(model_logits, height, width, model_logits.shape[0], False).mask


def _confusion(model_logits: np.ndarray, truth: np.ndarray, num_classes: int) -> np.ndarray:
    return metrics.confusion_matrix(truth, predicted_mask(model_logits, *truth.shape), num_classes)
