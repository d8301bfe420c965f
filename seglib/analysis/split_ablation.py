"""The ablation over a split, by the size of the people: which part of DeepLabV3+ covers which scale.

``ablate_split(model, pairs)`` switches each part off in turn (``seglib.analysis.ablation``:
one model call per batch of images, each image at its own size) over the first images of a
split and keeps, per person, how many of their pixels each variant labels right. People are
found with ``person_map`` (the dataset's person ids, or connected regions of foreground) and
grouped into thirds by height; ``SplitAblation.table`` and ``scale_findings`` say which part
covers which scale, from the numbers.

>>> result = ablate_split(model, dataset.split("val"), limit=8)   # doctest: +SKIP
>>> result.table()[["switched off", "small people (points)", "large people (points)"]]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import numpy as np

from seglib.analysis.ablation import AblationPart, ablated_logits, ablation_parts, predicted_mask
from seglib.classes import IGNORE_LABEL, class_label
from seglib.evaluation import evaluate, inference, metrics

#: Names of the three person-size groups of ``SplitAblation`` (terciles of the people's heights).
SIZE_BINS = ("small", "medium", "large")


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
                mask = predicted_mask(variant_logits, *truth.shape)
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
