"""Run a segmentation model on images of any size.

``predict(model, image)`` is the course's ``infer`` made explicit, step by step:

1. resize the image to the model's square input size (bilinear; pixel
   averaging when shrinking, like the training pipeline);
2. run the model once -> **logits**, one score per class and pixel;
3. resize the logits (bilinear) back to the image's original size;
4. **probabilities** = softmax over the class axis (they sum to 1 per pixel);
5. **mask** = argmax over the class axis, as uint8 label ids.

The mask is never interpolated as labels (label ids have no "in between"):
it is the argmax of the resized logits, so at every pixel the mask agrees with
the logits and probabilities a pixel inspector shows. With
``interpolation="nearest"`` the logits are resized nearest instead, and the
mask is exactly the model-size mask resized nearest.

>>> prediction = predict(model, image)            # doctest: +SKIP
>>> prediction.logits.shape, prediction.mask.shape  # doctest: +SKIP
((480, 640, 20), (480, 640))
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

__all__ = ["Prediction", "predict", "predict_batch", "prepare_image", "softmax", "model_input_size"]


@dataclass(frozen=True)
class Prediction:
    """What the model says about one image, at the image's original size.

    ``logits``: float32 ``(H, W, C)``; ``probabilities``: float32 ``(H, W, C)``
    (softmax of the logits); ``mask``: uint8 ``(H, W)`` (argmax);
    ``input_size``: the square size the model actually saw.
    """

    logits: np.ndarray
    probabilities: np.ndarray
    mask: np.ndarray
    input_size: int

    @property
    def num_classes(self) -> int:
        return int(self.logits.shape[-1])

    def pixel(self, row: int, column: int) -> dict:
        """Logits, probabilities and the chosen class of one pixel (for the inspector)."""
        return {"logits": self.logits[row, column].copy(),
                "probabilities": self.probabilities[row, column].copy(),
                "label": int(self.mask[row, column])}


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (float32)."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def prepare_image(image) -> np.ndarray:
    """Return ``image`` as float32 ``(H, W, 3)`` in 0..255.

    Accepts a path (read with ``seglib.dataset.read_image``), grayscale
    ``(H, W)`` or ``(H, W, 1)``, RGB, or RGBA (alpha dropped); uint8 or floats
    in 0..255. Raises ``ValueError`` for anything else.
    """
    if isinstance(image, (str, os.PathLike)):
        from seglib.dataset import read_image

        image = read_image(Path(image))
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"An image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). "
                         f"Received: image.shape={image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"The image is empty. Received: image.shape={image.shape}")
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"Image values must be numbers. Received: image.dtype={image.dtype}")
    return np.ascontiguousarray(image[..., :3], dtype=np.float32)


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


def _resize(array: np.ndarray, height: int, width: int, nearest: bool = False, area: bool = False) -> np.ndarray:
    """Resize (H, W, C) float32 with OpenCV (any number of channels).

    ``area=True`` averages pixels when shrinking (as ``seglib.dataset.load_pair``
    does for training images) instead of sampling them, which would alias.
    """
    if array.shape[0] == height and array.shape[1] == width:
        return array
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    if area and not nearest and height <= array.shape[0] and width <= array.shape[1]:
        interpolation = cv2.INTER_AREA
    channels = array.shape[-1]
    if channels <= 512:
        resized = cv2.resize(array, (width, height), interpolation=interpolation)
    else:  # pragma: no cover - more classes than OpenCV handles at once
        resized = np.concatenate([cv2.resize(array[..., i:i + 512], (width, height), interpolation=interpolation)
                                  for i in range(0, channels, 512)], axis=-1)
    return resized.reshape(height, width, channels)


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


def _finish(logits: np.ndarray, height: int, width: int, input_size: int, nearest: bool) -> Prediction:
    logits = _resize(np.ascontiguousarray(logits, dtype=np.float32), height, width, nearest=nearest)
    probabilities = softmax(logits)
    mask = np.argmax(logits, axis=-1).astype(np.uint8)
    return Prediction(logits=logits, probabilities=probabilities, mask=mask, input_size=input_size)


def _check_interpolation(interpolation: str) -> bool:
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest'. Received: interpolation={interpolation!r}")
    return interpolation == "nearest"


def predict(model, image, interpolation: str = "bilinear") -> Prediction:
    """Segment one image of any size; results come back at the image's size.

    ``image``: a path or an array (see ``prepare_image``). ``interpolation``
    is how the logits are resized back ('bilinear', or 'nearest').
    """
    return predict_batch(model, [image], interpolation=interpolation)[0]


def predict_batch(model, images, batch_size: int = 8, interpolation: str = "bilinear") -> list[Prediction]:
    """Segment several images (sizes may differ), ``batch_size`` at a time."""
    nearest = _check_interpolation(interpolation)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    prepared = [prepare_image(image) for image in images]
    size = model_input_size(model)
    results: list[Prediction] = []
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start:start + batch_size]
        if size is None:  # a model that takes any size: run images one by one as they are
            outputs = [_run(model, image[None])[0] for image in chunk]
            sizes = [image.shape[0] for image in chunk]
        else:
            batch = np.stack([_resize(image, size, size, area=True) for image in chunk])
            outputs = list(_run(model, batch))
            sizes = [size] * len(chunk)
        for image, logits, seen in zip(chunk, outputs, sizes):
            results.append(_finish(logits, image.shape[0], image.shape[1], seen, nearest))
    return results
