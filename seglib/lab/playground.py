"""The metric playground (exercises 13-4 and 13-6): a made-up prediction of a real ground-truth
mask, built from what a model gets right, and every number the course scores a prediction with.

A ``Board`` holds one mask (the page uses a validation mask at 128 px) and, drawn once from a
seed, the order in which its pixels go wrong. ``Board.predict(settings)`` builds the prediction
for the sliders (``Settings``), always the same one for the same mask, seed and settings:

* **background recall** r: the fraction 1 - r of the true background pixels that come first in
  a smooth, seeded noise field get the class of the nearest person pixel (a model that bleeds
  people into the background);
* **rare-class recall** r: the same for the pixels of the rare classes (each one under
  ``RARE_SHARE`` of the mask's labelled pixels), which take the class of the nearest pixel of a
  class that is not rare (sunglasses become face, a glove becomes arm or background);
* **left/right swap rate** s: the fraction s of the left/right pixels (arms, legs, shoes), in
  blobs of a smoother noise field, get their mirror class;
* **boundary errors** of w px: the prediction starts from the majority label of every
  (2w + 1) x (2w + 1) window, as a coarse model rounds corners and loses thin parts: only
  pixels near a boundary change.

Boundary errors come first and the other three overwrite their own pixels, so a measured recall
can be lower than its slider; ``Scores`` reports what was measured.

``Board.scores(prediction, confidence)`` measures the prediction: pixel accuracy, mean IoU and
the course's [0, 1] average error with ``seglib.evaluation.metrics``, and the four training
losses of ``seglib.evaluation.losses`` for the probabilities of a model that gives its predicted
class the probability ``confidence`` at every pixel and shares the rest equally among the other
classes (``logits`` builds that output). For such probabilities every loss depends on the
confusion matrix alone, so ``confident_losses`` computes them from it in closed form: the same
numbers as ``make_loss`` on ``logits`` (the tests check it), in microseconds instead of a
TensorFlow call, which keeps a slider move fast.

>>> import numpy as np
>>> truth = np.zeros((32, 32), np.uint8); truth[6:26, 10:22] = 5; truth[20:26, 10:16] = 18
>>> board = Board(truth, seed=0)
>>> bool((board.predict(Settings()) == truth).all())
True
>>> scores = board.scores(board.predict(Settings(background_recall=0.9)), confidence=0.9)
>>> round(scores.background_recall, 2), round(scores.pixel_accuracy, 3)
(0.9, 0.924)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from seglib.classes import IGNORE_LABEL, LEFT_RIGHT_PAIRS, NUM_CLASSES
from seglib.evaluation import metrics
from seglib.evaluation.losses import DICE_SMOOTHING, median_frequency_weights

__all__ = ["Settings", "Scores", "Board", "SLIDERS", "LOSS_NAMES", "LOSS_LABELS", "RARE_SHARE", "MAX_BOUNDARY_PX",
           "FOCAL_GAMMA", "confident_losses", "logits", "effects_frame"]

#: A class is rare on a mask when it holds less than this share of the mask's labelled pixels.
RARE_SHARE = 0.01
#: Widest boundary error, in pixels of the mask (the page's masks are 128 px).
MAX_BOUNDARY_PX = 4
#: The focal loss's exponent: ``make_loss``'s default, which training uses.
FOCAL_GAMMA = 2.0
#: The losses the playground scores, as ``seglib.config.LOSSES`` names them.
LOSS_NAMES = ("cross-entropy", "weighted-cross-entropy", "focal", "dice")
#: How the page names each loss.
LOSS_LABELS = {"cross-entropy": "cross-entropy", "weighted-cross-entropy": "weighted cross-entropy",
               "focal": f"focal (γ = {FOCAL_GAMMA:g})", "dice": "Dice"}
#: Smoothing (Gaussian sigma, in pixels) of the noise that orders each kind of error: background
#: errors come in blobs, rare parts go wrong a few pixels at a time, swaps take whole limbs.
_NOISE_SIGMA = {"background": 3.0, "rare": 1.0, "swap": 8.0}
#: ``Settings`` field -> the name the page and the tables give it.
SLIDERS = {"background_recall": "background recall", "rare_recall": "rare-class recall",
           "swap_rate": "left/right swap rate", "boundary_px": "boundary errors (px)"}


def _fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1]. Received: {name}={value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the made-up model gets right (the playground's sliders). The defaults are a perfect model."""

    background_recall: float = 1.0
    rare_recall: float = 1.0
    swap_rate: float = 0.0
    boundary_px: int = 0

    def __post_init__(self):
        for name in ("background_recall", "rare_recall", "swap_rate"):
            object.__setattr__(self, name, _fraction(name, getattr(self, name)))
        width = self.boundary_px
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or not 0 <= width <= MAX_BOUNDARY_PX:
            raise ValueError(f"boundary_px must be an integer from 0 to {MAX_BOUNDARY_PX}. "
                             f"Received: boundary_px={width!r}")
        object.__setattr__(self, "boundary_px", int(width))

    def alone(self, name: str) -> "Settings":
        """A perfect model but for the slider ``name`` (a ``SLIDERS`` key), which keeps its value here."""
        if name not in SLIDERS:
            raise KeyError(f"No slider {name!r}; the sliders are {list(SLIDERS)}.")
        return Settings(**{name: getattr(self, name)})


@dataclasses.dataclass(frozen=True)
class Scores:
    """A prediction measured against the truth; recalls are ``nan`` when the mask has no such pixel."""

    pixel_accuracy: float
    mean_iou: float
    average_error: float
    losses: dict[str, float]       #: by ``LOSS_NAMES``
    wrong_pixels: int
    labelled_pixels: int
    background_recall: float       #: measured: true background pixels predicted background
    rare_recall: float             #: measured: rare-class pixels predicted as their class
    swapped: float                 #: measured: left/right pixels predicted as their mirror class


def _check_confidence(confidence, num_classes: int) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.integer, np.floating)) \
            or not 1.0 / num_classes < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie between 1/{num_classes} (the predicted class would not win) and 1 "
                         f"(a wrong pixel would cost an infinite loss). Received: confidence={confidence!r}")
    return float(confidence)


def confident_losses(cm, confidence: float, gamma: float = FOCAL_GAMMA, class_weights=None) -> dict[str, float]:
    """The four losses of a model that gives its predicted class the probability ``confidence`` everywhere.

    Every other class gets ``q = (1 - confidence) / (C - 1)``. With ``n`` labelled pixels, ``TP_k``
    pixels of class ``k`` predicted right, ``T_k`` pixels of class ``k`` and ``P_k`` pixels
    predicted ``k`` (all read off the confusion matrix ``cm``, rows = truth):

    * cross-entropy: right pixels cost ``-log c``, wrong ones ``-log q``, averaged over ``n``;
    * weighted cross-entropy: the same with each pixel weighted by its true class's weight,
      divided by the summed weights (``class_weights``; default: ``median_frequency_weights`` of ``T``);
    * focal: ``(1 - p) ** gamma * -log p`` with ``p = c`` or ``q``, averaged over ``n``;
    * Dice: soft counts ``I_k = c TP_k + q (T_k - TP_k)`` and ``P_k c + (n - P_k) q``, then
      ``1 - mean_k (2 I_k + s) / (soft P_k + T_k + s)`` over the classes present in the truth.

    These are ``seglib.evaluation.losses.make_loss``'s definitions evaluated on ``logits``.
    """
    cm = np.asarray(cm, dtype=np.float64)
    num_classes = cm.shape[0]
    c = _check_confidence(confidence, num_classes)
    q = (1.0 - c) / (num_classes - 1)
    right_cost, wrong_cost = -math.log(c), -math.log(q)
    true_positive = np.diag(cm)
    truth_counts = cm.sum(axis=1)
    predicted_counts = cm.sum(axis=0)
    total = truth_counts.sum()
    if total == 0:
        return {name: 0.0 for name in LOSS_NAMES}
    right = true_positive.sum()
    weights = (median_frequency_weights(truth_counts) if class_weights is None
               else np.asarray(class_weights, dtype=np.float64))
    per_class = true_positive * right_cost + (truth_counts - true_positive) * wrong_cost
    weighted_total = float((weights * truth_counts).sum())
    intersection = c * true_positive + q * (truth_counts - true_positive)
    soft_predicted = c * predicted_counts + q * (total - predicted_counts)
    dice_score = (2.0 * intersection + DICE_SMOOTHING) / (soft_predicted + truth_counts + DICE_SMOOTHING)
    present = truth_counts > 0
    return {
        "cross-entropy": float((right * right_cost + (total - right) * wrong_cost) / total),
        "weighted-cross-entropy": float((weights * per_class).sum() / weighted_total) if weighted_total else 0.0,
        "focal": float((right * (1 - c) ** gamma * right_cost + (total - right) * (1 - q) ** gamma * wrong_cost)
                       / total),
        "dice": float(np.mean(1.0 - dice_score[present])),
    }


def logits(prediction, confidence: float, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """float32 ``(H, W, C)`` logits whose softmax gives each pixel's predicted class ``confidence``
    and every other class ``(1 - confidence) / (C - 1)``: the model output ``confident_losses`` scores."""
    prediction = np.asarray(prediction)
    c = _check_confidence(confidence, num_classes)
    values = np.full(prediction.shape + (num_classes,), math.log((1.0 - c) / (num_classes - 1)), np.float32)
    np.put_along_axis(values, prediction[..., None].astype(np.int64), np.float32(math.log(c)), axis=-1)
    return values


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=sigma)


def _nearest_labels(truth: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For every pixel, the label of the nearest pixel where ``targets`` is True."""
    from scipy import ndimage

    rows, columns = ndimage.distance_transform_edt(~targets, return_distances=False, return_indices=True)
    return truth[rows, columns]


class Board:
    """One ground-truth mask, ready to be predicted wrongly in any of ``Settings``' ways.

    Everything random is drawn here from ``seed``; afterwards the board is read only, so one
    board can serve any number of viewers at once.

    Args:
        truth: ``(H, W)`` label ids ``0..num_classes-1``, or ``ignore_label`` for unlabelled pixels.
        num_classes: classes of the labels (at most 255).
        seed: seeds the noise that decides which pixels go wrong first.
        rare_share: a class is rare when it holds less than this share of the labelled pixels.
    """

    def __init__(self, truth, num_classes: int = NUM_CLASSES, seed: int = 0, rare_share: float = RARE_SHARE,
                 ignore_label: int = IGNORE_LABEL):
        truth = np.asarray(truth)
        num_classes = metrics.check_num_classes(num_classes)
        if truth.ndim != 2 or not np.issubdtype(truth.dtype, np.integer) or truth.size == 0:
            raise ValueError("truth must be a non-empty 2-D mask of integer label ids. "
                             f"Received: shape={truth.shape}, dtype={truth.dtype}")
        if num_classes > 255:
            raise ValueError(f"The playground handles at most 255 classes. Received: num_classes={num_classes}")
        bad = (truth != ignore_label) & ((truth < 0) | (truth >= num_classes))
        if bad.any():
            raise ValueError(f"truth holds the label {int(truth[bad][0])}, outside 0..{num_classes - 1} "
                             f"(and not the ignore label {ignore_label}).")
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.seed = int(seed)
        self.truth = truth.astype(np.uint8)
        self.truth.flags.writeable = False
        labelled = self.truth != ignore_label
        self.class_counts = np.bincount(self.truth[labelled], minlength=num_classes)[:num_classes]
        total = int(self.class_counts.sum())
        self.rare_classes = tuple(int(k) for k in range(1, num_classes)
                                  if 0 < self.class_counts[k] < _fraction("rare_share", rare_share) * total)
        self.mirror = np.arange(256, dtype=np.uint8)
        for left, right in LEFT_RIGHT_PAIRS:
            if max(left, right) < num_classes:
                self.mirror[left], self.mirror[right] = right, left
        mirrored = [k for k in range(num_classes) if self.mirror[k] != k]

        rng = np.random.default_rng(self.seed)
        background = labelled & (self.truth == 0)
        people = labelled & (self.truth != 0)
        rare = labelled & np.isin(self.truth, self.rare_classes)
        if people.any():
            bleed = _nearest_labels(self.truth, people)
        else:  # no person on the mask: background errors take any other class
            bleed = rng.integers(1, num_classes, self.truth.shape).astype(np.uint8)
        absorbed = _nearest_labels(self.truth, labelled & ~rare) if (labelled & ~rare).any() \
            else np.zeros_like(self.truth)
        self._errors = {
            "background_recall": self._ordered(background, bleed, rng, "background"),
            "rare_recall": self._ordered(rare, absorbed, rng, "rare"),
            "swap_rate": self._ordered(labelled & np.isin(self.truth, mirrored), self.mirror[self.truth], rng, "swap"),
        }
        self._majority = tuple(self._majority_filter(width) for width in range(MAX_BOUNDARY_PX + 1))
        for array in (*self._majority, *(part for pair in self._errors.values() for part in pair)):
            array.flags.writeable = False

    @staticmethod
    def _ordered(where: np.ndarray, wrong: np.ndarray, rng, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """The flat indices of ``where``, in the order a smooth noise field ranks them, and their wrong labels."""
        noise = _smooth_noise(rng, where.shape, _NOISE_SIGMA[kind]).ravel()
        indices = np.flatnonzero(where.ravel())
        order = indices[np.argsort(noise[indices], kind="stable")]
        return order.astype(np.int32), np.asarray(wrong).ravel()[order].astype(np.uint8)

    def _majority_filter(self, width: int) -> np.ndarray:
        """The flat mask with every pixel set to the majority label of its (2w+1)² window (ties: its own)."""
        truth = self.truth
        labelled = truth != self.ignore_label
        if width == 0:
            return np.where(labelled, truth, 0).ravel().astype(np.uint8)
        import cv2

        one_hot = (truth[..., None] == np.arange(self.num_classes, dtype=np.uint8)).astype(np.float32)
        votes = cv2.boxFilter(one_hot, -1, (2 * width + 1, 2 * width + 1), normalize=False,
                              borderType=cv2.BORDER_REFLECT)
        votes = np.asarray(votes).reshape(one_hot.shape) + 0.5 * one_hot  # a tie keeps the pixel's own label
        return np.argmax(votes, axis=-1).astype(np.uint8).ravel()

    @property
    def shape(self) -> tuple[int, int]:
        return self.truth.shape

    def predict(self, settings: Settings) -> np.ndarray:
        """The made-up prediction for ``settings``: uint8 ``(H, W)`` class ids."""
        if not isinstance(settings, Settings):
            raise TypeError(f"predict needs a Settings. Received: {type(settings).__name__}")
        prediction = self._majority[settings.boundary_px].copy()
        for name, (order, wrong) in self._errors.items():
            value = getattr(settings, name)
            count = int(round((value if name == "swap_rate" else 1.0 - value) * order.size))
            prediction[order[:count]] = wrong[:count]
        return prediction.reshape(self.truth.shape)

    def scores(self, prediction, confidence: float, gamma: float = FOCAL_GAMMA) -> Scores:
        """``prediction`` measured: the course's metrics (``seglib.evaluation.metrics``) and the four
        losses at ``confidence`` (``confident_losses``, class weights from this mask's pixel counts)."""
        prediction = np.asarray(prediction)
        cm = metrics.confusion_matrix(self.truth, prediction, self.num_classes, self.ignore_label)
        diagonal = np.diag(cm)
        rows = cm.sum(axis=1)

        def recall(classes) -> float:
            classes = list(classes)
            counted = int(rows[classes].sum()) if classes else 0
            return float(diagonal[classes].sum() / counted) if counted else float("nan")

        mirrored = [k for k in range(self.num_classes) if self.mirror[k] != k]
        lr_pixels = int(rows[mirrored].sum()) if mirrored else 0
        swapped = (float(sum(cm[k, self.mirror[k]] for k in mirrored) / lr_pixels) if lr_pixels else float("nan"))
        return Scores(
            pixel_accuracy=metrics.pixel_accuracy(cm),
            mean_iou=metrics.mean_iou(cm),
            average_error=metrics.average_error(self.truth, prediction, self.num_classes, self.ignore_label),
            losses=confident_losses(cm, confidence, gamma),
            wrong_pixels=int(cm.sum() - diagonal.sum()),
            labelled_pixels=int(cm.sum()),
            background_recall=recall([0]),
            rare_recall=recall(self.rare_classes),
            swapped=swapped,
        )

    def effects(self, settings: Settings, confidence: float) -> list[tuple[str, Scores]]:
        """``(what, scores)`` of a perfect model, then of each slider alone at its value in ``settings``,
        then of all of them together: which numbers notice which mistake."""
        rows = [("nothing wrong", Settings())]
        rows += [(f"{label} {getattr(settings, name):g} alone", settings.alone(name))
                 for name, label in SLIDERS.items()]
        rows.append(("all of them", settings))
        return [(what, self.scores(self.predict(chosen), confidence)) for what, chosen in rows]


def effects_frame(effects: list[tuple[str, Scores]]):
    """``Board.effects`` as a table (``pandas.DataFrame``): one row per case, the wrong pixels, the
    three metrics and the four losses (columns named as the page names them)."""
    import pandas as pd

    return pd.DataFrame([{
        "mistake": what, "wrong pixels": scores.wrong_pixels, "pixel accuracy": scores.pixel_accuracy,
        "mean IoU": scores.mean_iou, "average error": scores.average_error,
        **{LOSS_LABELS[name]: scores.losses[name] for name in LOSS_NAMES},
    } for what, scores in effects])
