"""Image files the tests feed to readers, uploads and datasets: encoded bytes of an array, the
same written to a path, a random picture, and a large but tiny-on-disk 1-bit PNG."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np


def encoded(array: np.ndarray, extension: str = ".png") -> bytes:
    """``array`` (BGR or grey, as OpenCV writes it) encoded as ``extension`` (".png", ".jpg")."""
    ok, data = cv2.imencode(extension, array)
    assert ok, f"OpenCV could not encode a {array.shape} array as {extension}"
    return data.tobytes()


def write_image(path: Path, array: np.ndarray) -> Path:
    """``array`` written to ``path`` in the format its suffix names (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded(array, path.suffix))
    return path


def random_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colour picture of random pixels (uint8, 3 channels)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def one_bit_png(width: int, height: int) -> bytes:
    """A large but cheap 1-bit PNG (a few kB even at 9000 × 9000): a dark rectangle on white,
    for decompression-bomb and size checks that must not allocate the picture to build it."""
    from PIL import Image, ImageDraw

    picture = Image.new("1", (width, height), 1)
    ImageDraw.Draw(picture).rectangle([width // 4, height // 4, width // 2, height // 2], fill=0)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
