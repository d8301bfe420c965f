"""The 20 CIHP classes, their colours, and masks drawn as pictures.

>>> from seglib.classes import CLASS_NAMES, class_label, colorize, numbered_label
>>> CLASS_NAMES[13]
'Face'
>>> class_label(13), class_label(255), class_label(42), numbered_label(13)
('Face', 'Ignore', 'id 42', '13 Face')
>>> colorize(np.array([[0, 13]], dtype=np.uint8))[0, 1].tolist()
[0, 0, 255]
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from seglib.errors import DatasetError

#: The CIHP / LIP class names, index = label id in the masks.
CLASS_NAMES: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "UpperClothes", "Dress", "Coat",
    "Socks", "Pants", "Torso-skin", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
    "Left-leg", "Right-leg", "Left-shoe", "Right-shoe",
)
NUM_CLASSES = len(CLASS_NAMES)

#: Label written for pixels that loss and metrics must skip (bad mask values).
IGNORE_LABEL = 255

#: (left, right) label pairs; a horizontal flip swaps them.
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = ((14, 15), (16, 17), (18, 19))

#: The standard CIHP / LIP palette in 0-255, as published with CIHP_PGN and LIP
#: parsing code (``label_colours``). It is also what ``human_colormap.mat`` holds
#: (there as floats in [0, 1]).
CIHP_PALETTE = np.array(
    [
        (0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0),
        (0, 0, 85), (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128),
        (0, 128, 0), (0, 0, 255), (51, 170, 221), (0, 255, 255), (85, 255, 170),
        (170, 255, 85), (255, 255, 0), (255, 170, 0),
    ],
    dtype=np.uint8,
)

#: A colour-blind-safe alternative built from the Okabe-Ito and Paul Tol
#: ("muted" and "light") palettes, which stay distinguishable under the common
#: forms of colour blindness. Left/right pairs differ in lightness, not only hue.
COLORBLIND_PALETTE = np.array(
    [
        (0, 0, 0),        # Background
        (136, 34, 85),    # Hat           (Tol wine)
        (153, 153, 51),   # Hair          (Tol olive)
        (255, 255, 255),  # Glove         (white)
        (51, 34, 136),    # Sunglasses    (Tol indigo)
        (0, 114, 178),    # UpperClothes  (Okabe-Ito blue)
        (204, 121, 167),  # Dress         (Okabe-Ito reddish purple)
        (17, 119, 51),    # Coat          (Tol green)
        (240, 228, 66),   # Socks         (Okabe-Ito yellow)
        (68, 170, 153),   # Pants         (Tol teal)
        (221, 204, 119),  # Torso-skin    (Tol sand)
        (170, 68, 153),   # Scarf         (Tol purple)
        (204, 102, 119),  # Skirt         (Tol rose)
        (230, 159, 0),    # Face          (Okabe-Ito orange)
        (86, 180, 233),   # Left-arm      (Okabe-Ito sky blue)
        (136, 204, 238),  # Right-arm     (Tol cyan, lighter)
        (0, 158, 115),    # Left-leg      (Okabe-Ito bluish green)
        (153, 221, 187),  # Right-leg     (lighter green)
        (213, 94, 0),     # Left-shoe     (Okabe-Ito vermillion)
        (153, 153, 153),  # Right-shoe    (grey)
    ],
    dtype=np.uint8,
)

PALETTES = {"cihp": CIHP_PALETTE, "colorblind": COLORBLIND_PALETTE}
#: Colour drawn for the ignore label and any id outside the palette.
IGNORE_COLOR = np.array((255, 0, 255), dtype=np.uint8)


def class_label(class_id: int, class_names: Sequence[str] = CLASS_NAMES) -> str:
    """The name shown for a label id: its class name, 'Ignore' for 255, else 'id N' (the one spelling of a
    class name with a fallback, for every table, figure, sentence and widget)."""
    class_id = int(class_id)
    if 0 <= class_id < len(class_names):
        return class_names[class_id]
    if class_id == IGNORE_LABEL:
        return "Ignore"
    return f"id {class_id}"


def numbered_label(class_id: int, class_names: Sequence[str] = CLASS_NAMES) -> str:
    """A label id with its name, as pickers and answers show it: '13 Face'; an id without a class is
    ``class_label``'s 'Ignore' or 'id 42'."""
    class_id = int(class_id)
    if 0 <= class_id < len(class_names):
        return f"{class_id} {class_names[class_id]}"
    return class_label(class_id, class_names)


def class_label_lookup(class_names: Sequence[str] = CLASS_NAMES) -> np.ndarray:
    """``class_label`` of every uint8 id, as an object array: ``lookup[mask]`` names every pixel."""
    return np.array([class_label(i, class_names) for i in range(256)], dtype=object)


def get_palette(palette: str | np.ndarray = "cihp") -> np.ndarray:
    """A palette as an (N, 3) uint8 array: by name ('cihp' or 'colorblind'), or an array of colours as is."""
    if not isinstance(palette, str):
        return np.asarray(palette, np.uint8)
    try:
        return PALETTES[palette]
    except KeyError:
        raise KeyError(f"Unknown palette {palette!r}. Valid names: {', '.join(PALETTES)}.") from None


def hex_color(color) -> str:
    """An RGB colour (0..255, extra channels ignored) as ``'#rrggbb'``."""
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3]))


def class_hex_colors(palette: str | np.ndarray, class_ids) -> list[str]:
    """The ``'#rrggbb'`` colour of each class id; ids outside the palette get ``IGNORE_COLOR``."""
    colors = get_palette(palette)
    return [hex_color(colors[i] if 0 <= i < len(colors) else IGNORE_COLOR) for i in (int(c) for c in class_ids)]


def swap_left_right(mask: np.ndarray) -> np.ndarray:
    """Return a copy of ``mask`` with left and right labels exchanged."""
    lut = np.arange(256, dtype=np.uint8)
    for left, right in LEFT_RIGHT_PAIRS:
        lut[left], lut[right] = right, left
    return lut[mask.astype(np.uint8)]


def colorize(mask: np.ndarray, palette: str | np.ndarray = "cihp",
             visible: set[int] | list[int] | None = None) -> np.ndarray:
    """Turn an (H, W) label mask into an (H, W, 3) uint8 RGB picture.

    ``visible`` limits the drawn classes; hidden classes are drawn black.
    Ids outside the palette (e.g. the ignore label 255) are drawn magenta.
    """
    colors = get_palette(palette)
    lut = np.tile(IGNORE_COLOR, (256, 1))
    lut[: len(colors)] = colors
    if visible is not None:
        hidden = np.ones(256, bool)
        hidden[list(visible)] = False
        hidden[len(colors):] = False  # keep ignore colour visible
        lut[hidden] = 0
    return lut[np.asarray(mask).astype(np.uint8)]


def overlay(image: np.ndarray, mask: np.ndarray, opacity: float = 0.5,
            palette: str | np.ndarray = "cihp",
            visible: set[int] | list[int] | None = None) -> np.ndarray:
    """Blend the colour mask over ``image`` (H, W, 3 uint8) with ``opacity`` in [0, 1].

    Background (0) and hidden classes leave the image untouched.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1]. Received: opacity={opacity}")
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(
            f"image and mask sizes differ. Received: image {image.shape[:2]}, mask {mask.shape[:2]}"
        )
    colors = colorize(mask, palette).astype(np.float32)
    paint = mask != 0
    if visible is not None:
        paint &= np.isin(mask, list(visible))
    out = image.astype(np.float32).copy()
    out[paint] = (1.0 - opacity) * out[paint] + opacity * colors[paint]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def load_colormap(path: str | Path) -> np.ndarray:
    """Read ``human_colormap.mat`` and return a (N, 3) uint8 palette in 0-255.

    The file stores colours as floats in [0, 1]; they are scaled by 255 and
    rounded. (The keras-io example multiplies by 100, which darkens every colour.)
    """
    from scipy.io import loadmat  # scipy is only needed for this file format

    path = Path(path)
    try:
        content = loadmat(str(path))
    except Exception as error:  # scipy raises many kinds for a bad file
        raise DatasetError(f"Cannot read the colour map {path.name}: {error}") from error
    key = "colormap" if "colormap" in content else next(
        (k for k in content if not k.startswith("__")), None)
    if key is None:
        raise DatasetError(f"{path.name} holds no colour map array.")
    colors = np.asarray(content[key], dtype=np.float64)
    if colors.ndim != 2 or colors.shape[1] != 3:
        raise DatasetError(f"{path.name}: expected an (N, 3) colour array, got shape {colors.shape}.")
    if colors.max() <= 1.0 + 1e-6:
        colors = colors * 255.0
    return np.clip(np.rint(colors), 0, 255).astype(np.uint8)


def class_table(palette: str | np.ndarray = "cihp") -> list[dict]:
    """One row per class: id, name, RGB and hex colour (for legends)."""
    colors = get_palette(palette)
    return [
        {"id": i, "name": name, "rgb": tuple(int(c) for c in colors[i]), "hex": hex_color(colors[i])}
        for i, name in enumerate(CLASS_NAMES)
    ]
