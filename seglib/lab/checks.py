"""The numbers behind the lab's reasoning questions, and the Keras example's own numbers.

``seglib.lab.exercises`` asks questions whose answers cannot be read off a single
view: a student has to combine two numbers, or apply a rule the dashboard
teaches (softmax, argmax, the 1x1 degeneration of atrous kernels, the
left/right swap of a flip). Every answer is computed here with the same library
functions the pages use, from the dataset and model in use, so a check never
disagrees with what the student sees.

The Keras example (preset ``keras-example``: ResNet50, 512 px, rates 6/12/18)
is what the handout's students run; the sidebar model is usually another one
(the lecture preset: 160 px, rates 2/4/6). ``config_numbers`` gives a model's
shape and scale numbers from its configuration alone, without building it:
output size and channels follow from the config, the spacing of atrous taps is
rate x output stride, and the receptive field of a branch is the backbone's
field at the ASPP input (``BACKBONE_RECEPTIVE_FIELD_PX``, measured on the
built models by ``tests/test_lab_checks.py``) plus ``(k - 1) x rate x stride``.

>>> from seglib.presets import get_preset
>>> numbers = config_numbers(get_preset("keras-example").model)
>>> numbers["output_height"], numbers["widest_spacing"], numbers["widest_receptive_field"]
(512, 288, 867)
>>> numbers["backbone_field"], numbers["output_values"]
(291, 5242880)
>>> one_by_one_rates((6, 12, 18), feature_size=4)
[6, 12, 18]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, LEFT_RIGHT_PAIRS, swap_left_right

#: Theoretical receptive field (input pixels) of one unit of the ASPP input, per
#: backbone cut as ``seglib.model.deeplab`` builds it (ResNet50 at conv4_block6_2_relu,
#: MobileNetV2 at output stride 16). It does not depend on the input size or on
#: MobileNetV2's width; ``tests/test_lab_checks.py`` measures it with
#: ``seglib.analysis.aspp.aspp_analysis`` on the built models.
BACKBONE_RECEPTIVE_FIELD_PX = {"resnet50": 291, "mobilenetv2": 267}

#: Kernel size of the ASPP's atrous branches.
ASPP_KERNEL = 3


# ---------------------------------------------------------------------------
# Shapes and scales from a configuration
# ---------------------------------------------------------------------------

def one_by_one_rates(rates: Sequence[int], feature_size: int, kernel_size: int = ASPP_KERNEL) -> list[int]:
    """The atrous rates whose kernel reads only its centre at *every* position of an
    ``feature_size`` x ``feature_size`` map (all other taps fall on zero padding):
    such a branch is a 1x1 convolution in disguise (``rate >= feature_size``)."""
    from seglib.analysis.dilation import valid_tap_stats

    return sorted({int(rate) for rate in rates
                   if valid_tap_stats(int(feature_size), int(rate), kernel_size)["center_only_fraction"] == 1.0})


def probe_size(rates: Sequence[int], stride: int) -> int:
    """An input size at which some, but usually not all, of ``rates`` act as 1x1:
    the size whose ASPP map is as wide as the middle rate."""
    ordered = sorted(int(rate) for rate in rates)
    if not ordered:
        raise ValueError(f"rates must name at least one atrous rate. Received: rates={list(rates)!r}")
    return int(stride) * ordered[len(ordered) // 2]


def backbone_receptive_field(backbone: str) -> int:
    try:
        return BACKBONE_RECEPTIVE_FIELD_PX[backbone]
    except KeyError:
        raise KeyError(f"No receptive field is known for backbone {backbone!r}. "
                       f"Known: {', '.join(BACKBONE_RECEPTIVE_FIELD_PX)}.") from None


def config_numbers(model_config) -> dict[str, Any]:
    """Shape and scale numbers of a DeepLabV3+ configuration (``seglib.config.ModelConfig``),
    the same keys as ``seglib.lab.facts.model_numbers`` gives for a built model."""
    size, stride = int(model_config.image_size), int(model_config.output_stride)
    rates = [int(rate) for rate in model_config.atrous_rates]
    feature = math.ceil(size / stride)
    numbers: dict[str, Any] = {
        "image_size": size, "output_height": size, "output_width": size,
        "num_classes": int(model_config.num_classes), "backbone": model_config.backbone,
        "weights": model_config.weights, "atrous_rates": rates, "stride": float(stride),
        "feature_size": feature, "one_by_one_rates": one_by_one_rates(rates, feature),
        "backbone_field": backbone_receptive_field(model_config.backbone),
        "output_values": size * size * int(model_config.num_classes),
    }
    atrous = [rate for rate in rates if rate > 1]
    if atrous:
        widest = max(atrous)
        numbers["widest_rate"] = widest
        numbers["widest_spacing"] = widest * stride
        numbers["widest_receptive_field"] = (backbone_receptive_field(model_config.backbone)
                                             + (ASPP_KERNEL - 1) * widest * stride)
    return numbers


# ---------------------------------------------------------------------------
# Class balance: a model that always answers "background"
# ---------------------------------------------------------------------------

def always_background(class_counts: Sequence[int]) -> dict[str, Any]:
    """Pixel accuracy and mean IoU of a model that labels every pixel background (class 0),
    over a split with these pixels per class, with the dashboard's own metrics.

    Its confusion matrix has one column: every true class is predicted 0. So the
    accuracy is the background share, background's IoU is that share too (its
    union is every pixel), and every other class present scores IoU 0: the mean
    IoU is the background share divided by the number of classes present.
    """
    from seglib.evaluation import metrics

    counts = np.asarray(class_counts, dtype=np.int64)
    confusion = np.zeros((counts.size, counts.size), dtype=np.int64)
    confusion[:, 0] = counts
    return {"pixel_accuracy": metrics.pixel_accuracy(confusion), "mean_iou": metrics.mean_iou(confusion),
            "classes_present": int(np.count_nonzero(counts))}


def rare_weight_ratio(class_counts: Sequence[int]) -> dict[str, Any] | None:
    """How many times one pixel of the rarest class present weighs one background pixel under
    median-frequency weights (``seglib.evaluation.losses.median_frequency_weights``, the weighted
    cross-entropy of the Dataset explorer): ``w_c = median(f) / f_c``, so the ratio is
    ``f_background / f_rarest``, two numbers of the class-balance chart. None without both."""
    from seglib.evaluation.losses import median_frequency_weights

    counts = np.asarray(class_counts, dtype=np.int64)
    present = [c for c in range(1, counts.size) if counts[c] > 0]
    if not present or counts[0] <= 0:
        return None
    rarest = min(present, key=lambda c: (counts[c], c))
    weights = median_frequency_weights(counts)
    return {"class": int(rarest), "ratio": float(weights[rarest] / weights[0])}


# ---------------------------------------------------------------------------
# Left and right
# ---------------------------------------------------------------------------

def flip_pair(class_counts: Sequence[int] | None = None) -> tuple[int, int]:
    """``(left class, the class it becomes after a horizontal flip)``.

    The first left class of ``LEFT_RIGHT_PAIRS`` that the data contains (Left-arm
    when counts are unknown); its partner comes from ``swap_left_right``, the
    function the training pipeline's flip uses.
    """
    counts = None if class_counts is None else np.asarray(class_counts)
    left = next((left for left, _ in LEFT_RIGHT_PAIRS if counts is None or counts[left] > 0),
                LEFT_RIGHT_PAIRS[0][0])
    return left, int(swap_left_right(np.array([left], dtype=np.uint8))[0])


def left_right_image(image_counts: np.ndarray) -> int:
    """Index of the first image (rows of per-image class counts) with a left or right part; 0 if none."""
    sided = [cls for pair in LEFT_RIGHT_PAIRS for cls in pair]
    counts = np.asarray(image_counts)
    if counts.ndim != 2 or not counts.shape[0]:
        return 0
    found = np.flatnonzero(counts[:, sided].sum(axis=1) > 0)
    return int(found[0]) if found.size else 0


def swap_error(mask: np.ndarray, num_classes: int = len(CLASS_NAMES)) -> dict[str, Any]:
    """The course's numbers for a prediction that is perfect except that left and right
    are exchanged everywhere (``swap_left_right`` of the truth).

    Each swapped pixel is wrong (the misclassified share counts it fully), but its
    ids differ by 1, so it adds only ``1 / (num_classes - 1)`` to the average
    error: the difference view shows it nearly black.
    """
    from seglib.evaluation import metrics

    mask = np.asarray(mask)
    swapped = swap_left_right(mask)
    return {"average_error": metrics.average_error(mask, swapped, num_classes),
            "misclassified_rate": metrics.misclassified_rate(mask, swapped),
            "swapped_pixels": int(np.count_nonzero(mask != swapped))}


# ---------------------------------------------------------------------------
# One pixel's logits
# ---------------------------------------------------------------------------

#: The temperature of the pixel question: every logit divided by it before the softmax.
TEMPERATURE = 2.0
#: The winning probability the lab's pixel is chosen near: an uncertain pixel, whose numbers are worth
#: reasoning about (the page would print a confident one as 100.0 %).
UNCERTAIN_TARGET = 0.6


def softmax_at(logits: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` (float64, the largest logit subtracted first)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature!r}")
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    exps = np.exp(scaled - scaled.max())
    return exps / exps.sum()


def pixel_numbers(logits: Sequence[float], temperature: float = TEMPERATURE) -> dict[str, Any]:
    """The winning class of one pixel, its softmax probability (what the Predictions page's
    pixel inspector prints), the probability it would get with every logit divided by
    ``temperature`` (what the page does not print), the runner-up and the margin (how far the
    winning logit could drop before another class wins)."""
    from seglib.evaluation.evaluate import pixel_table

    table = pixel_table(np.asarray(logits, dtype=np.float32), CLASS_NAMES)
    ranked = table.sort_values("logit", ascending=False, kind="stable")
    winner, runner_up = ranked.iloc[0], ranked.iloc[1]
    return {"winner": int(winner["id"]), "probability": float(winner["probability"]),
            "temperature": float(temperature),
            "tempered_probability": float(softmax_at(table["logit"], temperature)[int(winner["id"])]),
            "runner_up": int(runner_up["id"]), "margin": float(winner["logit"] - runner_up["logit"]),
            "logits": [float(value) for value in table["logit"]]}


def uncertain_pixel(prediction, target: float = UNCERTAIN_TARGET) -> tuple[int, int]:
    """``(row, column)`` of the pixel of the inspector's clickable grid whose winning probability
    is closest to ``target`` (the first such pixel in reading order): an uncertain pixel for the
    lab's softmax questions rather than one the page prints as 100.0 %.

    ``prediction``: a ``seglib.evaluation.inference.Prediction`` (its logits are read on the
    grid, resized as the inspector resizes them).
    """
    from seglib.evaluation.inference import softmax
    from seglib.figures.inspector import inspector_grid

    rows, columns = inspector_grid(prediction.height, prediction.width)
    winning = softmax(prediction.logits_on(rows, columns)).max(axis=-1)
    index = int(np.argmin(np.abs(winning - target)))  # the first in reading order on a tie
    return int(rows[index // len(columns)]), int(columns[index % len(columns)])
