"""Segmentation metrics on label masks, in plain NumPy.

Everything starts from the confusion matrix, counted in int64 so that it stays
exact for any number of pixels (Keras's ``MeanIoU`` accumulates in float32 and
stops counting past 2**24 pixels per cell):

>>> import numpy as np
>>> truth = np.array([[0, 0, 1, 1]])
>>> prediction = np.array([[0, 1, 1, 1]])
>>> cm = confusion_matrix(truth, prediction, num_classes=3)
>>> cm.tolist()                  # rows = truth, columns = prediction
[[1, 1, 0], [0, 2, 0], [0, 0, 0]]
>>> float(pixel_accuracy(cm))
0.75
>>> per_class_iou(cm).round(3).tolist()   # class 2: in neither mask -> nan
[0.5, 0.667, nan]
>>> round(float(mean_iou(cm)), 3)          # mean over the classes that occur
0.583

**Absent classes.** A class that appears in neither the truth nor the
prediction has no IoU (0 / 0): ``per_class_iou`` gives ``nan`` for it and
``mean_iou`` leaves it out of the mean (``nanmean``). A class that appears in
only one of the two has IoU 0 and counts: missing a small part, or inventing
one, lowers the mean.

Pixels whose truth is the ignore label (255) are skipped by every metric.
**No labelled pixel at all** (every pixel ignored): nothing was measured, so
every metric is ``nan`` (undefined), never 0 or 1; a page shows it as
undefined, and a training run whose validation split has no labelled pixel
fails before it starts (``seglib.training.worker``).
The course's **average error** is ``mean(|truth - prediction|) / (C - 1)`` on
label ids, in [0, 1]: 0 when every pixel is right, 1 when every pixel is off by
the largest possible id distance. It measures id distance, not semantic
distance, so use it together with the misclassified-pixel rate.
"""

from __future__ import annotations

import numpy as np

from seglib.classes import IGNORE_LABEL

#: Why the dashboard reports mean IoU where the handout suggests mAP (Markdown; Home and exercise 13-6,
#: each with its own bold lead).
MEAN_IOU_NOT_MAP = (
    "The handout wants a metric beyond accuracy, such as mAP. Mean "
    "average precision ranks scored detections (boxes or object instances) by confidence: it is the measure of "
    "detection and instance segmentation. Semantic segmentation gives every pixel one class and nothing to rank, "
    "and its usual measure is mean IoU (overlap / union per class, averaged over the classes), the one the "
    "DeepLab papers report. So the dashboard reports mean IoU and the IoU of every class, beside pixel accuracy.")

__all__ = [
    "MEAN_IOU_NOT_MAP", "confusion_matrix", "pixel_accuracy", "per_class_iou", "mean_iou", "average_error",
    "misclassified_rate", "absolute_difference", "misclassified_map",
]


def check_num_classes(num_classes) -> int:
    """``num_classes`` as an int; ValueError unless it is an integer >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2. Received: num_classes={num_classes!r}")
    return int(num_classes)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError("y_true and y_pred must have the same shape. "
                         f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.issubdtype(array.dtype, np.integer):
            if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
                continue
            raise ValueError(f"{name} must hold integer label ids. Received: {name}.dtype={array.dtype}")
    return y_true.astype(np.int64, copy=False).ravel(), y_pred.astype(np.int64, copy=False).ravel()


def _valid(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, ignore_label: int | None):
    """Drop ignored pixels; reject ids outside ``[0, num_classes)``."""
    if ignore_label is not None:
        keep = y_true != ignore_label
        y_true, y_pred = y_true[keep], y_pred[keep]
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            bad = array[(array < 0) | (array >= num_classes)][0]
            if ignore_label is not None and bad == ignore_label:
                raise ValueError(f"{name} holds the ignore label {bad}, which only the truth (y_true) may hold; "
                                 f"predictions are class ids 0..{num_classes - 1}.")
            allowed = f" (the ignore label {ignore_label} is allowed in y_true only)" if ignore_label is not None else ""
            raise ValueError(f"{name} holds the label {bad}, outside 0..{num_classes - 1}{allowed}. "
                             f"Received: num_classes={num_classes}")
    return y_true, y_pred


def confusion_matrix(y_true, y_pred, num_classes: int, ignore_label: int | None = IGNORE_LABEL) -> np.ndarray:
    """Count pixels per (true class, predicted class): int64 ``(C, C)``, rows = truth.

    Masks of any (equal) shape; a batch works too. Pixels whose truth equals
    ``ignore_label`` are skipped. Any other id outside ``0..C-1`` is a
    ``ValueError`` (it would mean the wrong ``num_classes``).
    """
    num_classes = check_num_classes(num_classes)
    y_true, y_pred = _valid(*_pair(y_true, y_pred), num_classes, ignore_label)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.astype(np.int64, copy=False).reshape(num_classes, num_classes)


def _check_cm(cm) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"A confusion matrix must be square (C, C). Received: shape={cm.shape}")
    return cm


def pixel_accuracy(cm) -> float:
    """Share of (non-ignored) pixels labelled correctly; ``nan`` when there are none."""
    cm = _check_cm(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def per_class_iou(cm) -> np.ndarray:
    """Intersection over union per class: ``TP / (TP + FP + FN)``, float64 ``(C,)``.

    ``nan`` for classes absent from both truth and prediction (0 / 0).
    """
    cm = _check_cm(cm).astype(np.float64)
    true_positive = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - true_positive
    iou = np.full(cm.shape[0], np.nan)
    present = union > 0
    iou[present] = true_positive[present] / union[present]
    return iou


def mean_iou(cm) -> float:
    """Mean of ``per_class_iou`` over the classes present in truth or prediction.

    Classes absent from both are left out (``nanmean``); ``nan`` if none is present.
    """
    iou = per_class_iou(cm)
    return float(np.mean(iou[~np.isnan(iou)])) if np.any(~np.isnan(iou)) else float("nan")


def average_error(y_true, y_pred, num_classes: int, ignore_label: int | None = IGNORE_LABEL) -> float:
    """The course's average error: ``mean(|truth - prediction|) / (num_classes - 1)`` in [0, 1].

    Computed on label ids over non-ignored pixels; ``nan`` when there are none.
    """
    num_classes = check_num_classes(num_classes)
    y_true, y_pred = _valid(*_pair(y_true, y_pred), num_classes, ignore_label)
    if not y_true.size:
        return float("nan")
    return float(np.abs(y_true - y_pred).mean() / (num_classes - 1))


def misclassified_rate(y_true, y_pred, ignore_label: int | None = IGNORE_LABEL) -> float:
    """Share of (non-ignored) pixels whose predicted class differs from the truth."""
    y_true, y_pred = _pair(y_true, y_pred)
    if ignore_label is not None:
        keep = y_true != ignore_label
        y_true, y_pred = y_true[keep], y_pred[keep]
    return float(np.mean(y_true != y_pred)) if y_true.size else float("nan")


def absolute_difference(y_true, y_pred, ignore_label: int | None = IGNORE_LABEL) -> np.ndarray:
    """Per-pixel ``|truth - prediction|`` on label ids, uint8, same shape as the masks.

    Ignored pixels are 0. This is the third panel of "truth | prediction | difference".
    """
    shape = np.shape(y_true)
    y_true, y_pred = _pair(y_true, y_pred)
    difference = np.abs(y_true - y_pred)
    if ignore_label is not None:
        difference[y_true == ignore_label] = 0
    return np.clip(difference, 0, 255).astype(np.uint8).reshape(shape)


def misclassified_map(y_true, y_pred, ignore_label: int | None = IGNORE_LABEL) -> np.ndarray:
    """Boolean map of wrongly labelled pixels (ignored pixels are ``False``)."""
    shape = np.shape(y_true)
    y_true, y_pred = _pair(y_true, y_pred)
    wrong = y_true != y_pred
    if ignore_label is not None:
        wrong &= y_true != ignore_label
    return wrong.reshape(shape)
