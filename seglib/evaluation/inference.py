"""Run a segmentation model on images of any size.

``predict(model, image)`` is the course's ``infer`` made explicit, step by step:

1. resize the image to the model's square input size (pixel averaging when
   shrinking, bilinear when enlarging, like the training pipeline);
2. run the model once -> **logits**, one score per class and pixel, at the
   model's size (``Prediction.model_logits``);
3. resize the logits (bilinear) back to the image's original size;
4. **probabilities** = softmax over the class axis (they sum to 1 per pixel);
5. **mask** = argmax over the class axis, as uint8 label ids.

Memory stays small whatever the image size: step 3 is never stored. The mask
is computed a band of rows at a time, and the logits of one pixel (the pixel
inspector) are interpolated from the model-size logits on demand, with the
very same arithmetic, so at every pixel the mask agrees with the logits and
probabilities the inspector shows. A 4000 x 4000 upload keeps 16 MB of mask
(or less, see ``max_mask_size``) instead of 2.5 GB of float32 logits and
probabilities. With ``interpolation="nearest"`` the logits are resized
nearest instead, and the mask is exactly the model-size mask resized nearest.

The mask is never interpolated as labels (label ids have no "in between"): it
is the argmax of the resized logits.

>>> prediction = predict(model, image)                  # doctest: +SKIP
>>> prediction.model_logits.shape, prediction.mask.shape  # doctest: +SKIP
((128, 128, 20), (480, 640))
>>> prediction.pixel(10, 20)["label"]                   # doctest: +SKIP
0
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from seglib._tf import import_tf

__all__ = ["Prediction", "predict", "predict_batch", "prepare_image", "model_batch", "softmax", "model_input_size",
           "mask_grid", "prediction_from_logits", "resize_logits", "pixel_logits", "model_pixel", "image_pixel"]

#: Values of one band of rows computed at once while resizing logits (rows x width x classes):
#: about 8 MB of float32 per temporary array, whatever the image size.
_BAND_VALUES = 2_000_000


@dataclass(frozen=True)
class Prediction:
    """What the model says about one image.

    ``model_logits``: float32 ``(s, s, C)``, the model's raw output at the size
    it saw (``input_size``); ``mask``: uint8 label ids, the argmax of the logits
    resized to the image, at the image's size ``image_size`` = ``(H, W)`` or,
    when ``predict`` was given ``max_mask_size``, shrunk nearest so that its
    longer side fits (``mask[i, j]`` is then the label of image pixel
    ``mask_grid(...)``); ``class_counts``: int64 ``(C,)`` predicted pixels per
    class over the whole image at its own size; ``interpolation``: how the
    logits are resized ('bilinear' or 'nearest').
    """

    model_logits: np.ndarray
    mask: np.ndarray
    input_size: int
    image_size: tuple[int, int]
    class_counts: np.ndarray
    interpolation: str = "bilinear"

    @property
    def num_classes(self) -> int:
        return int(self.model_logits.shape[-1])

    @property
    def height(self) -> int:
        return int(self.image_size[0])

    @property
    def width(self) -> int:
        return int(self.image_size[1])

    @property
    def full_size(self) -> bool:
        """True when ``mask`` has one label per image pixel (not shrunk for display)."""
        return tuple(self.mask.shape) == tuple(self.image_size)

    def logits_at(self, row: int, column: int) -> np.ndarray:
        """The ``C`` logits of image pixel (row, column), resized as for the mask (float32)."""
        return pixel_logits(self.model_logits, self.image_size, row, column, self.interpolation)

    def pixel(self, row: int, column: int) -> dict:
        """Logits, probabilities and the chosen class of one image pixel (for the inspector)."""
        logits = self.logits_at(row, column)
        return {"logits": logits, "probabilities": softmax(logits), "label": int(np.argmax(logits))}

    def image_logits(self) -> np.ndarray:
        """All logits at the image's size, float32 ``(H, W, C)``: H x W x C x 4 bytes, so only
        for small images (tests, teaching); the pages use ``pixel`` and ``mask``."""
        return self.logits_on(np.arange(self.height), np.arange(self.width))

    def logits_on(self, rows, columns) -> np.ndarray:
        """The logits of the image pixels on a grid (every ``rows`` x ``columns`` pair), resized as
        for the mask: float32 ``(len(rows), len(columns), C)``."""
        nearest = self.interpolation == "nearest"
        rows = _axis(self.model_logits.shape[0], self.height, np.asarray(rows), nearest)
        columns = _axis(self.model_logits.shape[1], self.width, np.asarray(columns), nearest)
        return resize_logits(self.model_logits, rows, columns)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float32)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def _checked_image(image) -> np.ndarray:
    """``image`` as a numeric ``(H, W, 3)`` or ``(H, W)`` array in its own dtype (no float copy)."""
    if isinstance(image, (str, os.PathLike)):
        from seglib.data.images import read_image

        image = read_image(Path(image))
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))):
        raise ValueError(f"An image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). "
                         f"Received: image.shape={image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"The image is empty. Received: image.shape={image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"Image values must be numbers. Received: image.dtype={image.dtype}")
    return image[..., :3] if image.ndim == 3 else image


def prepare_image(image) -> np.ndarray:
    """Return ``image`` as float32 ``(H, W, 3)`` in 0..255.

    Accepts a path (read with ``seglib.data.images.read_image``), grayscale
    ``(H, W)`` or ``(H, W, 1)``, RGB, or RGBA (alpha dropped); uint8 or floats
    in 0..255. Raises ``ValueError`` for anything else.
    """
    image = _checked_image(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image, dtype=np.float32)


def _model_input(image: np.ndarray, size: int) -> np.ndarray:
    """A checked image resized to ``size`` x ``size`` float32 RGB.

    Resized in its own dtype first (area averaging when shrinking, as
    ``seglib.data.dataset.resize_pair`` does for training), then converted: a
    40-megapixel upload never becomes a 480 MB float32 copy.
    """
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    shrink = size <= image.shape[0] and size <= image.shape[1]
    if image.shape[:2] != (size, size):
        image = cv2.resize(np.ascontiguousarray(image), (size, size),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return np.ascontiguousarray(image, dtype=np.float32)


def model_batch(images, size: int) -> np.ndarray:
    """Images as ``predict_batch`` feeds them to a model of input ``size``: checked, resized
    (area when shrinking, bilinear when enlarging) and stacked, float32 ``(N, size, size, 3)``."""
    return np.stack([_model_input(_checked_image(image), int(size)) for image in images])


def model_input_size(model) -> int | None:
    """The square input size of ``model`` (``None`` if it takes any size)."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    height, width = shape[1], shape[2]
    if height is None or width is None:
        return None
    if height != width:
        raise ValueError(f"Only square model inputs are supported. Received: input shape {shape}")
    return int(height)


def _axis(source: int, target: int, positions: np.ndarray, nearest: bool):
    """Resizing ``source`` cells to ``target`` pixels, for the pixels at ``positions``: the two
    source cells each pixel reads and the weight of the second (OpenCV's conventions: pixel
    centres for bilinear, ``floor(position * source / target)`` for nearest)."""
    positions = np.asarray(positions, dtype=np.float64)
    scale = source / target
    if nearest:
        low = np.minimum(np.floor(positions * scale).astype(np.int64), source - 1)
        return low, low, np.zeros(len(positions), np.float32)
    centre = (positions + 0.5) * scale - 0.5
    low = np.floor(centre)
    weight = (centre - low).astype(np.float32)
    low = low.astype(np.int64)
    weight[low < 0] = 0.0
    low = np.clip(low, 0, source - 1)
    high = np.minimum(low + 1, source - 1)
    return low, high, weight


def resize_logits(logits: np.ndarray, rows, columns) -> np.ndarray:
    """The logits resized to the chosen rows and columns of the image (float32, rows x columns x C).

    Separable: first between two rows of the model's grid, then between two
    columns. The mask and the pixel inspector both call this, so they agree.
    """
    low, high, weight = rows
    lines = logits[high] - logits[low]          # rows x s x C
    lines *= weight[:, None, None]
    lines += logits[low]
    low, high, weight = columns
    values = lines[:, high] - lines[:, low]     # rows x columns x C
    values *= weight[None, :, None]
    values += lines[:, low]
    return values


def pixel_logits(model_logits: np.ndarray, image_size: tuple[int, int], row: int, column: int,
                 interpolation: str = "bilinear") -> np.ndarray:
    """The ``C`` logits of pixel (row, column) of an image of ``image_size`` = ``(H, W)``, interpolated
    from the model-size logits ``(s, s, C)`` exactly as the mask is (float32)."""
    height, width = int(image_size[0]), int(image_size[1])
    row, column = int(row), int(column)
    if not (0 <= row < height and 0 <= column < width):
        raise ValueError(f"The pixel must lie inside the {width} x {height} image. "
                         f"Received: row={row}, column={column}")
    nearest = _check_interpolation(interpolation)
    rows = _axis(model_logits.shape[0], height, np.array([row]), nearest)
    columns = _axis(model_logits.shape[1], width, np.array([column]), nearest)
    return resize_logits(model_logits, rows, columns)[0, 0]


def model_pixel(pixel: tuple[int, int], image_size: tuple[int, int], input_size: int) -> tuple[int, int]:
    """The model-input pixel ``(row, column)`` whose footprint holds image pixel ``pixel`` (the image of
    ``image_size`` = ``(H, W)`` resized to ``input_size`` a side, as ``predict`` does)."""
    return tuple(min(int(input_size) - 1, max(0, int(np.floor((int(p) + 0.5) * int(input_size) / int(n)))))
                 for p, n in zip(pixel, image_size))


def image_pixel(pixel: tuple[int, int], input_size: int, image_size: tuple[int, int]) -> tuple[int, int]:
    """The image pixel at the centre of model-input pixel ``pixel``'s footprint in the image.

    The inverse of ``model_pixel`` where one exists: ``model_pixel(image_pixel(p))`` is ``p`` for an
    image at least as large as the model's input (each model pixel covers image pixels), and
    ``image_pixel(model_pixel(q))`` is ``q`` for one at most as large."""
    return tuple(min(int(n) - 1, max(0, int(np.floor((int(p) + 0.5) * int(n) / int(input_size)))))
                 for p, n in zip(pixel, image_size))


def mask_grid(height: int, width: int, max_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The image rows and columns a mask of at most ``max_size`` a side samples
    (nearest neighbour, as ``cv2.resize(..., INTER_NEAREST)``); every pixel when it fits."""
    scale = 1.0 if max_size is None else min(1.0, float(max_size) / max(height, width))
    shown_height, shown_width = max(1, round(height * scale)), max(1, round(width * scale))
    rows = np.minimum(np.floor(np.arange(shown_height) * (height / shown_height)).astype(np.int64), height - 1)
    columns = np.minimum(np.floor(np.arange(shown_width) * (width / shown_width)).astype(np.int64), width - 1)
    return rows, columns


# One compiled forward function per model, traced once per input size.
_functions: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_functions_lock = threading.Lock()


def _forward(model):
    """``model(x, training=False)`` as a ``tf.function`` (no Keras ``predict`` overhead)."""
    tf, _ = import_tf()
    with _functions_lock:
        function = _functions.get(model)
        if function is None:
            model_ref = weakref.ref(model)  # the cache must not keep the model alive

            @tf.function(reduce_retracing=True)
            def function(images):
                return tf.cast(model_ref()(images, training=False), tf.float32)

            _functions[model] = function
    return function


def _run(model, batch: np.ndarray) -> np.ndarray:
    tf, _ = import_tf()
    return _forward(model)(tf.convert_to_tensor(batch, dtype=tf.float32)).numpy()


def prediction_from_logits(model_logits: np.ndarray, height: int, width: int, input_size: int, nearest: bool,
                           max_mask_size: int | None = None) -> Prediction:
    """The ``Prediction`` of a ``height`` x ``width`` image from the model's logits (steps 3-5 above):
    the logits resized a band of rows at a time, their argmax as the mask, and the class counts."""
    model_logits = np.ascontiguousarray(model_logits, dtype=np.float32)   # the model's grid: s x s x C
    classes = model_logits.shape[-1]
    columns = _axis(model_logits.shape[1], width, np.arange(width), nearest)
    kept_rows, kept_columns = mask_grid(height, width, max_mask_size)
    mask = np.zeros((len(kept_rows), len(kept_columns)), np.uint8)
    counts = np.zeros(classes, np.int64)
    band = max(1, _BAND_VALUES // (width * classes))
    for top in range(0, height, band):  # a band of image rows at a time: never H x W x C at once
        rows = np.arange(top, min(top + band, height))
        logits = resize_logits(model_logits, _axis(model_logits.shape[0], height, rows, nearest), columns)
        labels = np.argmax(logits, axis=-1).astype(np.uint8)  # = argmax of softmax(logits, axis=-1)
        counts += np.bincount(labels.ravel(), minlength=classes)[:classes]
        inside = (kept_rows >= top) & (kept_rows < top + len(rows))
        mask[inside] = labels[kept_rows[inside] - top][:, kept_columns]
    return Prediction(model_logits=model_logits, mask=mask, input_size=input_size, image_size=(height, width),
                      class_counts=counts, interpolation="nearest" if nearest else "bilinear")


def _check_interpolation(interpolation: str) -> bool:
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest'. Received: interpolation={interpolation!r}")
    return interpolation == "nearest"


def predict(model, image, interpolation: str = "bilinear", max_mask_size: int | None = None) -> Prediction:
    """Segment one image of any size; the mask comes back at the image's size.

    ``image``: a path or an array (see ``prepare_image``). ``interpolation``
    is how the logits are resized back ('bilinear', or 'nearest').
    ``max_mask_size``: keep the mask at most this many pixels a side (nearest,
    for display; the class counts and ``pixel`` still use every image pixel).
    """
    return predict_batch(model, [image], interpolation=interpolation, max_mask_size=max_mask_size)[0]


def predict_batch(model, images, batch_size: int = 8, interpolation: str = "bilinear",
                  max_mask_size: int | None = None) -> list[Prediction]:
    """Segment several images (sizes may differ), ``batch_size`` at a time."""
    nearest = _check_interpolation(interpolation)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    if max_mask_size is not None and (isinstance(max_mask_size, bool) or not isinstance(max_mask_size, int)
                                      or max_mask_size < 1):
        raise ValueError(f"max_mask_size must be a positive integer or None. Received: max_mask_size={max_mask_size!r}")
    size = model_input_size(model)
    images = list(images)
    results: list[Prediction] = []
    for start in range(0, len(images), batch_size):
        chunk = [_checked_image(image) for image in images[start:start + batch_size]]
        if size is None:  # a model that takes any size: run images one by one as they are
            outputs = [_run(model, prepare_image(image)[None])[0] for image in chunk]
            sizes = [image.shape[0] for image in chunk]
        else:
            outputs = list(_run(model, model_batch(chunk, size)))
            sizes = [size] * len(chunk)
        for image, logits, seen in zip(chunk, outputs, sizes):
            results.append(prediction_from_logits(logits, image.shape[0], image.shape[1], seen, nearest,
                                                  max_mask_size))
    return results
