"""Segmentation metrics on label masks, in plain NumPy (plus one Keras metric).

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

import functools

import numpy as np

from seglib.classes import IGNORE_LABEL

__all__ = [
    "confusion_matrix", "pixel_accuracy", "per_class_iou", "mean_iou", "average_error",
    "misclassified_rate", "absolute_difference", "misclassified_map", "class_fractions",
    "evaluate", "StreamingMeanIoU", "streaming_mean_iou_class",
]


def _check_num_classes(num_classes) -> int:
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
    num_classes = _check_num_classes(num_classes)
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
    num_classes = _check_num_classes(num_classes)
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


def class_fractions(mask, num_classes: int, ignore_label: int | None = IGNORE_LABEL) -> np.ndarray:
    """Share of (non-ignored) pixels per class, float64 ``(C,)`` summing to 1 (zeros if empty)."""
    num_classes = _check_num_classes(num_classes)
    labels = np.asarray(mask).astype(np.int64).ravel()
    if ignore_label is not None:
        labels = labels[labels != ignore_label]
    labels = labels[(labels >= 0) & (labels < num_classes)]
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def evaluate(y_true, y_pred, num_classes: int, ignore_label: int | None = IGNORE_LABEL) -> dict:
    """All metrics of one prediction at once (what the prediction page shows).

    Returns ``confusion_matrix``, ``pixel_accuracy``, ``per_class_iou``,
    ``mean_iou``, ``average_error`` and ``misclassified_rate``.
    """
    cm = confusion_matrix(y_true, y_pred, num_classes, ignore_label)
    return {
        "confusion_matrix": cm,
        "pixel_accuracy": pixel_accuracy(cm),
        "per_class_iou": per_class_iou(cm),
        "mean_iou": mean_iou(cm),
        "average_error": average_error(y_true, y_pred, num_classes, ignore_label),
        "misclassified_rate": misclassified_rate(y_true, y_pred, ignore_label),
    }


# ---------------------------------------------------------------------------
# Keras metric (TensorFlow imported on first use)
# ---------------------------------------------------------------------------

@functools.cache
def streaming_mean_iou_class():
    """Define and register ``StreamingMeanIoU`` (a Keras metric) on first use."""
    from seglib._tf import import_tf

    tf, keras = import_tf()

    @keras.saving.register_keras_serializable(package="seglib")
    class StreamingMeanIoU(keras.metrics.Metric):
        """Mean IoU over an epoch, from an int64 confusion matrix.

        ``y_true``: label masks ``(B, H, W)`` or ``(B, H, W, 1)``; ``y_pred``:
        logits or probabilities ``(B, H, W, C)`` (argmax is taken). Pixels whose
        truth is ``ignore_label`` or outside ``0..C-1`` are skipped. Classes
        absent from both truth and prediction over the whole epoch are left out
        of the mean, as in ``seglib.evaluation.metrics.mean_iou``; with no labelled pixel
        at all the result is NaN (undefined).
        """

        def __init__(self, num_classes: int = 20, ignore_label: int = IGNORE_LABEL, name: str = "mean_iou",
                     dtype=None, **kwargs):
            super().__init__(name=name, dtype=dtype, **kwargs)
            self.num_classes = _check_num_classes(num_classes)
            self.ignore_label = int(ignore_label)
            self.total_cm = self.add_variable(shape=(self.num_classes, self.num_classes), dtype="int64",
                                              initializer="zeros", name="total_confusion_matrix",
                                              aggregation="sum")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = tf.cast(y_true, tf.int64)
            y_pred = tf.convert_to_tensor(y_pred)
            if y_true.shape.rank == y_pred.shape.rank:  # (B, H, W, 1) labels
                y_true = tf.squeeze(y_true, axis=-1)
            y_pred = tf.argmax(y_pred, axis=-1, output_type=tf.int64)
            y_true = tf.reshape(y_true, [-1])
            y_pred = tf.reshape(y_pred, [-1])
            valid = (y_true >= 0) & (y_true < self.num_classes) & (y_true != self.ignore_label)
            # Weights instead of boolean_mask: static shapes, so XLA (jit_compile) can compile it.
            cm = tf.math.confusion_matrix(tf.where(valid, y_true, 0), y_pred, num_classes=self.num_classes,
                                          weights=tf.cast(valid, tf.int64), dtype=tf.int64)
            self.total_cm.assign_add(cm)

        def result(self):
            cm = tf.cast(self.total_cm, tf.float64)
            true_positive = tf.linalg.diag_part(cm)
            union = tf.reduce_sum(cm, axis=0) + tf.reduce_sum(cm, axis=1) - true_positive
            present = union > 0
            iou = tf.math.divide_no_nan(true_positive, union)
            count = tf.reduce_sum(tf.cast(present, tf.float64))
            value = tf.math.divide_no_nan(tf.reduce_sum(tf.where(present, iou, 0.0)), count)
            # No class present (no labelled pixel seen): undefined, never a score of 0 or 1.
            value = tf.where(count > 0, value, tf.constant(float("nan"), tf.float64))
            return tf.cast(value, tf.float32)

        def reset_state(self):
            self.total_cm.assign(tf.zeros_like(self.total_cm))

        def confusion_matrix(self) -> np.ndarray:
            """The accumulated int64 confusion matrix (rows = truth)."""
            return np.asarray(self.total_cm.numpy(), dtype=np.int64)

        def get_config(self):
            return {**super().get_config(), "num_classes": self.num_classes,
                    "ignore_label": self.ignore_label}

    return StreamingMeanIoU


def __getattr__(name: str):
    """``seglib.evaluation.metrics.StreamingMeanIoU`` imports TensorFlow on first access only."""
    if name == "StreamingMeanIoU":
        return streaming_mean_iou_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
