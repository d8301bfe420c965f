"""How good is a prediction? One image compared with its truth, a whole split
evaluated at once, and the numbers behind the pixel inspector.

The predictions page answers exercises 13-5 and 13-6 from these functions;
they take arrays and models and return arrays and tables, so they are tested
without a browser and never import Streamlit.

>>> import numpy as np
>>> truth = np.array([[0, 0, 13, 13]], np.uint8)
>>> predicted = np.array([[0, 2, 13, 13]], np.uint8)
>>> comparison = compare_masks(truth, predicted, num_classes=20)
>>> comparison.wrong_pixels, comparison.misclassified_rate
(1, 0.25)
>>> round(comparison.average_error, 4)      # |0 - 2| / 19 / 4 pixels
0.0263

Over a split (``evaluate_split``) the confusion matrix is summed in int64 and
every image gets its own row (average error, misclassified rate, pixel
accuracy, mean IoU), so the hardest images can be ranked and opened.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from seglib.evaluation import metrics
from seglib.classes import CLASS_NAMES, IGNORE_LABEL, class_label
from seglib.data.mask_stats import count_fractions
from seglib.errors import ImageReadError

__all__ = [
    "ImageComparison", "compare_masks", "SplitEvaluation", "evaluate_split", "PER_IMAGE_COLUMNS",
    "RANKING_METRICS", "check_split_arguments", "pixel_table", "read_image_bytes", "predict_upload", "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_PIXELS", "UPLOAD_TYPES", "UPLOAD_TYPES_TEXT", "UPLOAD_DISPLAY_SIZE", "ERROR_DIFFERENCE_SENTENCE",
]

#: One sentence the page shows next to the two error numbers.
ERROR_DIFFERENCE_SENTENCE = (
    "The average error weighs every wrong pixel by how far apart the two label ids are "
    "(calling a face 'hair' costs |13 − 2| = 11, calling a left arm 'right arm' costs 1), a distance "
    "that means nothing for categories; the misclassified rate counts every wrong pixel once, "
    "however wrong it is."
)

#: Largest upload the pages accept, in bytes and in decoded pixels (a small
#: compressed file can decode to gigabytes). 40 megapixels decode to 120 MB of
#: RGB while the upload is read; what stays cached is small (``predict_upload``).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
#: The file types every upload widget accepts: what ``read_image_bytes`` decodes
#: (the dataset reader: OpenCV; an animated GIF gives its first frame).
UPLOAD_TYPES = ("jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff")
#: The same list for people: "JPEG, PNG, BMP, GIF, WebP or TIFF".
UPLOAD_TYPES_TEXT = "JPEG, PNG, BMP, GIF, WebP or TIFF"
#: Longest side of the image and mask an upload keeps for display (the pictures
#: of the pages are at most 384 px; the class counts and the pixel inspector
#: still use every pixel of the upload).
UPLOAD_DISPLAY_SIZE = 1024


# ---------------------------------------------------------------------------
# One image
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImageComparison:
    """A predicted mask next to its ground truth: every number and map of the
    "truth | prediction | difference" view.

    ``difference``: uint8 ``|truth - prediction|`` on label ids (0 where the
    truth is ignored); ``wrong``: bool map of misclassified pixels;
    ``ignored``: bool map of pixels without a label; ``confusion``: int64
    ``(C, C)``, rows = truth; ``truth_counts`` / ``predicted_counts``: int64
    pixels per class over the labelled pixels.
    """

    difference: np.ndarray
    wrong: np.ndarray
    ignored: np.ndarray
    confusion: np.ndarray
    truth_counts: np.ndarray
    predicted_counts: np.ndarray
    average_error: float
    misclassified_rate: float
    pixel_accuracy: float
    per_class_iou: np.ndarray
    mean_iou: float

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def labelled_pixels(self) -> int:
        return int(self.truth_counts.sum())

    @property
    def wrong_pixels(self) -> int:
        return int(self.wrong.sum())

    @property
    def ignored_pixels(self) -> int:
        return int(self.ignored.sum())

    @property
    def truth_fractions(self) -> np.ndarray:
        return count_fractions(self.truth_counts)

    @property
    def predicted_fractions(self) -> np.ndarray:
        return count_fractions(self.predicted_counts)

    @property
    def missed_classes(self) -> list[int]:
        """Classes in the truth that the prediction never uses (they vanished)."""
        return [int(c) for c in np.flatnonzero((self.truth_counts > 0) & (self.predicted_counts == 0))]

    @property
    def invented_classes(self) -> list[int]:
        """Classes the prediction uses that are not in the truth."""
        return [int(c) for c in np.flatnonzero((self.truth_counts == 0) & (self.predicted_counts > 0))]

    def presence_sentence(self) -> str:
        """Which classes vanished from the prediction, which it invented, and how many classes have no IoU
        (in neither mask) (Markdown)."""
        missed = [class_label(c) for c in self.missed_classes]
        invented = [class_label(c) for c in self.invented_classes]
        absent = int(np.isnan(self.per_class_iou).sum())
        if absent == 1:
            without_iou = "1 class appears in neither mask and has no IoU (left out of the mean)."
        elif absent:
            without_iou = f"{absent} classes appear in neither mask and have no IoU (left out of the mean)."
        else:
            without_iou = ""
        return ((f"In the truth but never predicted: **{', '.join(missed)}**. " if missed
                 else "Every class of the truth appears in the prediction. ")
                + (f"Predicted but not in the truth: {', '.join(invented)}. " if invented else "")
                + without_iou)


def compare_masks(truth: np.ndarray, predicted: np.ndarray, num_classes: int = len(CLASS_NAMES),
                  ignore_label: int = IGNORE_LABEL) -> ImageComparison:
    """Compare a predicted mask with the truth (same shape; ignored pixels skipped).

    Raises ``ValueError`` when the shapes differ or an id is outside
    ``0..num_classes-1`` (other than the ignore label).
    """
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.shape != predicted.shape or truth.ndim != 2:
        raise ValueError("truth and predicted must be 2-D masks of the same shape. "
                         f"Received: truth.shape={truth.shape}, predicted.shape={predicted.shape}")
    confusion = metrics.confusion_matrix(truth, predicted, num_classes, ignore_label)
    ignored = truth == ignore_label
    return ImageComparison(
        difference=metrics.absolute_difference(truth, predicted, ignore_label),
        wrong=metrics.misclassified_map(truth, predicted, ignore_label),
        ignored=ignored,
        confusion=confusion,
        truth_counts=confusion.sum(axis=1),
        predicted_counts=confusion.sum(axis=0),
        average_error=metrics.average_error(truth, predicted, num_classes, ignore_label),
        misclassified_rate=metrics.misclassified_rate(truth, predicted, ignore_label),
        pixel_accuracy=metrics.pixel_accuracy(confusion),
        per_class_iou=metrics.per_class_iou(confusion),
        mean_iou=metrics.mean_iou(confusion),
    )


# ---------------------------------------------------------------------------
# A split
# ---------------------------------------------------------------------------

#: Columns of ``SplitEvaluation.per_image``.
PER_IMAGE_COLUMNS = ("index", "stem", "average_error", "misclassified_rate", "pixel_accuracy", "mean_iou",
                     "height", "width")
#: Metrics the hardest images can be ranked by, and whether larger is worse.
RANKING_METRICS = {"average_error": True, "misclassified_rate": True, "pixel_accuracy": False,
                   "mean_iou": False}


@dataclasses.dataclass(frozen=True)
class SplitEvaluation:
    """A model evaluated on (the first ``count`` images of) a split.

    ``confusion``: int64 ``(C, C)`` summed over the images, rows = truth.
    ``per_image``: one row per image (see ``PER_IMAGE_COLUMNS``); ``index`` is
    the image's position in the split, so a row can be opened again.
    ``average_error`` here is pixel-weighted over the split.
    """

    confusion: np.ndarray
    per_image: "object"  # pandas.DataFrame (pandas is imported lazily)
    total_images: int
    seconds: float
    average_error: float

    @property
    def count(self) -> int:
        return int(len(self.per_image))

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def pixel_accuracy(self) -> float:
        return metrics.pixel_accuracy(self.confusion)

    @property
    def per_class_iou(self) -> np.ndarray:
        return metrics.per_class_iou(self.confusion)

    @property
    def mean_iou(self) -> float:
        return metrics.mean_iou(self.confusion)

    @property
    def misclassified_rate(self) -> float:
        total = self.confusion.sum()
        return float(1.0 - np.trace(self.confusion) / total) if total else float("nan")

    def hardest(self, count: int | None = 10, by: str = "average_error"):
        """The ``count`` worst images by ``by`` (worst first), ranked 1, 2, ...

        ``by`` is one of ``RANKING_METRICS``; ties keep the split order.
        """
        if by not in RANKING_METRICS:
            raise ValueError(f"by must be one of {tuple(RANKING_METRICS)}. Received: by={by!r}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a positive integer or None. Received: count={count!r}")
        table = self.per_image.sort_values([by, "index"], ascending=[not RANKING_METRICS[by], True],
                                           kind="stable", na_position="last")
        table = table.head(count) if count is not None else table
        table = table.reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
        return table


def check_split_arguments(pairs: Sequence, limit, batch_size, verb: str = "evaluate") -> list:
    """``pairs`` as a list, once ``limit`` (a positive integer or None) and ``batch_size`` (a positive
    integer) are valid and there is a pair to ``verb``; ``ValueError`` with the received value otherwise."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None. Received: limit={limit!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    pairs = list(pairs)
    if not pairs:
        raise ValueError(f"There are no images to {verb}. Received: pairs=[] (an empty split)")
    return pairs


def evaluate_split(model, pairs: Sequence, image_size: int | None = None, limit: int | None = None,
                   batch_size: int = 4, num_classes: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> SplitEvaluation:
    """Predict the first ``limit`` pairs of a split and compare each with its truth.

    Args:
        model: a Keras segmentation model (logits out).
        pairs: ``seglib.data.layout.Pair`` objects (``Dataset.split(name)``).
        image_size: size at which images and masks are compared (masks
            resized nearest); ``None`` keeps each image at its own size, so
            the numbers match the single-image view of the page.
        limit: evaluate only the first ``limit`` pairs (``None``: all).
        batch_size: images per forward pass (predictions at full size take
            memory: 20 float32 channels per pixel).
        num_classes: defaults to the model's output channels.
        progress: called as ``progress(done, total)`` after every batch (a
            progress bar).

    Raises ``ValueError`` for bad arguments and ``ImageReadError`` (naming the
    file) when a pair cannot be read.
    """
    import pandas as pd

    from seglib.data.dataset import load_pair
    from seglib.evaluation.inference import predict_batch

    pairs = check_split_arguments(pairs, limit, batch_size, "evaluate")
    if num_classes is None:
        num_classes = int(model.output_shape[-1])
    chosen = pairs[:int(limit)] if limit is not None else pairs
    total = len(chosen)
    start = time.perf_counter()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    absolute_error = 0
    rows = []
    for first in range(0, total, int(batch_size)):
        batch = chosen[first:first + int(batch_size)]
        loaded = [load_pair(pair, size=image_size, num_classes=num_classes) for pair in batch]
        predictions = predict_batch(model, [image for image, _ in loaded], batch_size=int(batch_size))
        for offset, (pair, (image, truth), prediction) in enumerate(zip(batch, loaded, predictions)):
            image_confusion = metrics.confusion_matrix(truth, prediction.mask, num_classes)
            confusion += image_confusion
            valid = truth != IGNORE_LABEL
            distance = np.abs(truth[valid].astype(np.int64) - prediction.mask[valid].astype(np.int64))
            absolute_error += int(distance.sum())
            labelled = int(valid.sum())
            rows.append({
                "index": first + offset,
                "stem": pair.stem,
                "average_error": float(distance.sum() / labelled / (num_classes - 1)) if labelled else np.nan,
                "misclassified_rate": metrics.misclassified_rate(truth, prediction.mask),
                "pixel_accuracy": metrics.pixel_accuracy(image_confusion),
                "mean_iou": metrics.mean_iou(image_confusion),
                "height": int(truth.shape[0]),
                "width": int(truth.shape[1]),
            })
        if progress is not None:
            progress(min(first + len(batch), total), total)
    labelled_total = int(confusion.sum())
    per_image = pd.DataFrame(rows, columns=list(PER_IMAGE_COLUMNS))
    return SplitEvaluation(
        confusion=confusion,
        per_image=per_image,
        total_images=len(pairs),
        seconds=time.perf_counter() - start,
        average_error=(absolute_error / labelled_total / (num_classes - 1)) if labelled_total else float("nan"),
    )


# ---------------------------------------------------------------------------
# The pixel inspector
# ---------------------------------------------------------------------------

def pixel_table(logits: np.ndarray, class_names: Sequence[str] = CLASS_NAMES):
    """The scores of one pixel as a table: ``id, name, logit, probability, chosen``.

    ``logits``: the ``C`` raw scores of the pixel; the probabilities are their
    softmax and ``chosen`` marks the argmax, the class the mask shows.
    """
    import pandas as pd

    from seglib.evaluation.inference import softmax

    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 1 or logits.size < 2:
        raise ValueError(f"logits must be a 1-D array of the class scores of one pixel. "
                         f"Received: logits.shape={logits.shape}")
    names = [class_label(i, class_names) for i in range(logits.size)]
    chosen = int(np.argmax(logits))
    return pd.DataFrame({
        "id": np.arange(logits.size),
        "name": names,
        "logit": logits.astype(np.float64),
        "probability": softmax(logits).astype(np.float64),
        "chosen": np.arange(logits.size) == chosen,
    })


# ---------------------------------------------------------------------------
# Uploaded images
# ---------------------------------------------------------------------------

def read_image_bytes(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                     max_pixels: int = MAX_UPLOAD_PIXELS) -> np.ndarray:
    """Decode an uploaded file with the dataset reader (``seglib.data.images``): uint8 RGB
    ``(H, W, 3)``; grey, alpha, 16-bit and EXIF orientation are handled as for datasets.

    Raises ``ImageReadError`` naming the file when it is too large (in bytes,
    or in pixels as its header declares them), empty, or not an image; the
    reader's own explanation is passed on, with the upload's name in it.
    ``read_upload`` also says what the reading changed.
    """
    return read_upload(data, name, max_bytes, max_pixels)[0]


def read_upload(data: bytes, name: str = "upload", max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_UPLOAD_PIXELS) -> tuple[np.ndarray, list[str]]:
    """``read_image_bytes`` and what the reading changed in the picture (``upload_note`` words it):
    grey replicated to RGB, transparency, 16 bits, an EXIF orientation applied, or only the first
    frame of an animation (GIF, WebP, PNG) kept."""
    from seglib.data import images

    data = bytes(data)
    shown = Path(str(name).replace("\\", "/")).name or "upload"
    if not data:
        raise ImageReadError(f"{shown} is empty (0 bytes). Upload a {UPLOAD_TYPES_TEXT} image.")
    if len(data) > max_bytes:
        raise ImageReadError(f"{shown} is {len(data) / 1e6:.1f} MB; upload an image under "
                             f"{max_bytes / 1e6:.0f} MB.")
    size = images.declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageReadError(f"{shown} is {size[0]} × {size[1]} pixels; upload an image of at most "
                             f"{max_pixels / 1e6:.0f} megapixels (shrink it first).")
    image, notes = images.decode_image_with_notes(data, shown)
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageReadError(f"{shown} is {image.shape[1]} × {image.shape[0]} pixels; upload an image of at "
                             f"most {max_pixels / 1e6:.0f} megapixels.")
    frames = _frame_count(data)
    if frames > 1:
        notes.insert(0, f"only the first of its {frames} frames is used (an animation; the model sees one picture)")
    return image, notes


def _frame_count(data: bytes) -> int:
    """Frames of an animated GIF, WebP or PNG (1 for a still picture, or when it cannot be told)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as picture:
            return max(1, int(getattr(picture, "n_frames", 1)))
    except Exception:  # noqa: BLE001 - OpenCV decoded it; a frame count is only a note
        return 1


def upload_note(name: str, notes: list[str]) -> str:
    """One line that says what reading the upload ``name`` changed ("" when nothing): a grey, animated
    or turned photo is never converted without a word."""
    if not notes:
        return ""
    shown = Path(str(name).replace("\\", "/")).name or "upload"
    return f"{shown} was read as the model sees it: {'; '.join(notes)}."


def predict_upload(model, data: bytes, name: str = "upload", max_size: int = UPLOAD_DISPLAY_SIZE,
                   interpolation: str = "bilinear", with_notes: bool = False):
    """Read an uploaded file and segment it, keeping only what a page needs to show it.

    Returns ``(image, prediction)``: the image shrunk (area) so its longer side
    is at most ``max_size`` (as is ``prediction.mask``, nearest, same shape),
    and the ``seglib.evaluation.inference.Prediction`` (model-size logits for the pixel
    inspector, class counts over every pixel, ``image_size`` = the upload's
    own size). A 4000 x 4000 upload keeps about 6 MB instead of 2.5 GB.
    Raises ``ImageReadError`` as ``read_image_bytes``. ``with_notes``: a third item, the
    notes of ``read_upload`` (what reading it changed).
    """
    import cv2

    from seglib.evaluation.inference import predict

    image, notes = read_upload(data, name)
    prediction = predict(model, image, interpolation=interpolation, max_mask_size=max_size)
    if image.shape[:2] != prediction.mask.shape:
        height, width = prediction.mask.shape
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return (image, prediction, notes) if with_notes else (image, prediction)
