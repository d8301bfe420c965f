"""The effective receptive field (Luo et al., 2016): the part of the theoretical
field that actually matters to one output logit.

``effective_receptive_field(model, image, pixel)`` is the gradient magnitude of
one output logit with respect to the input image; ``mass_extent`` measures the
square around the pixel that holds a share of it, to compare with the
theoretical field of ``seglib.analysis.fields``. ``untrained_copy`` gives the
same architecture with fresh weights, so the difference is what training learned.

>>> import numpy as np
>>> magnitude = np.zeros((9, 9)); magnitude[4, 3:6] = 1.0
>>> mass_extent(magnitude, (4, 4), 0.9), nonzero_extent(magnitude)
(3, (1, 3))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seglib.analysis.fields import model_input_size
from seglib.errors import ModelError

# ---------------------------------------------------------------------------
# Effective receptive field (Luo et al., 2016)
# ---------------------------------------------------------------------------

@dataclass
class ErfResult:
    """Gradient magnitude of one output logit with respect to the input image.

    ``gradient`` is ``(H, W)`` float32, |d logit / d input| summed over the
    colour channels and divided by its maximum (all zeros if the gradient
    vanished). ``pixel`` is ``(row, column)`` in model-input pixels.
    """

    gradient: np.ndarray
    pixel: tuple[int, int]
    class_index: int
    logit: float
    extent_50: int
    extent_90: int
    nonzero_extent: int


def mass_extent(magnitude: np.ndarray, pixel: tuple[int, int], fraction: float) -> int:
    """Side (odd, pixels) of the smallest square centred on ``pixel`` holding
    ``fraction`` of the total gradient mass (0 if the map is all zeros)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]. Received: fraction={fraction!r}")
    magnitude = np.asarray(magnitude, dtype=np.float64)
    total = magnitude.sum()
    if total <= 0:
        return 0
    height, width = magnitude.shape
    row, column = pixel
    integral = np.pad(magnitude.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    for radius in range(0, max(height, width) + 1):
        r0, r1 = max(row - radius, 0), min(row + radius + 1, height)
        c0, c1 = max(column - radius, 0), min(column + radius + 1, width)
        inside = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
        if inside >= fraction * total - 1e-12 * total:
            return 2 * radius + 1
    return 2 * max(height, width) + 1


def nonzero_extent(magnitude: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """(rows, columns) of the bounding box of cells above ``threshold``."""
    rows, columns = np.nonzero(np.asarray(magnitude) > threshold)
    if rows.size == 0:
        return (0, 0)
    return (int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1))


def _resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C). Received: shape={image.shape}")
    image = image.astype(np.float32)
    if image.shape[:2] != tuple(size):
        import cv2

        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        if image.ndim == 2:
            image = image[..., None]
    return image


def effective_receptive_field(model, image: np.ndarray, pixel: tuple[int, int],
                              class_index: int | None = None) -> ErfResult:
    """The effective receptive field of one output logit (Luo et al., 2016).

    Args:
        model: a Keras model mapping 0..255 images to logits ``(1, H, W, C)``.
        image: the input picture, any size (resized bilinearly to the model's
            input size), uint8 or float in 0..255.
        pixel: ``(row, column)`` of the output position, in model-input pixels.
        class_index: which logit; default the argmax class at that pixel.

    Returns:
        ``ErfResult``; its ``extent_50`` / ``extent_90`` are the sides of the
        centred squares holding 50 % / 90 % of the gradient mass, to compare
        with the theoretical receptive field.
    """
    from seglib._tf import tf

    size = model_input_size(model)
    row, column = int(pixel[0]), int(pixel[1])
    if not (0 <= row < size[0] and 0 <= column < size[1]):
        raise ValueError(f"pixel must lie inside the {size[0]}x{size[1]} model input. "
                         f"Received: pixel={tuple(pixel)!r}")
    batch = tf.convert_to_tensor(_resize_image(image, size)[None], dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        logits = model(batch, training=False)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        scores = tf.cast(logits[0, row, column], tf.float32)
        chosen = int(tf.argmax(scores)) if class_index is None else int(class_index)
        if not 0 <= chosen < int(scores.shape[-1]):
            raise ValueError(f"class_index must be in [0, {int(scores.shape[-1]) - 1}]. "
                             f"Received: class_index={class_index!r}")
        target = scores[chosen]
    gradient = tape.gradient(target, batch)
    magnitude = np.zeros(size, dtype=np.float32) if gradient is None else \
        np.abs(gradient.numpy()[0]).sum(axis=-1).astype(np.float32)
    peak = float(magnitude.max())
    normalised = magnitude / peak if peak > 0 else magnitude
    return ErfResult(
        gradient=normalised, pixel=(row, column), class_index=chosen, logit=float(target.numpy()),
        extent_50=mass_extent(magnitude, (row, column), 0.5),
        extent_90=mass_extent(magnitude, (row, column), 0.9),
        nonzero_extent=max(nonzero_extent(magnitude)))


def untrained_copy(model, seed: int = 0):
    """The same architecture with fresh, seeded random weights.

    ``keras.models.clone_model`` rebuilds every layer from its config and runs
    the initializers again (BatchNorm statistics back to 0 / 1), so the
    difference between the two effective fields is what training learned.
    """
    from seglib._tf import keras

    keras.utils.set_random_seed(int(seed))
    try:
        return keras.models.clone_model(model)
    except Exception as error:  # a layer without get_config, say
        raise ModelError(f"Cannot rebuild the model with random weights: {error}") from error
