"""Read label masks, and refuse the files that only look like them.

A mask holds one class id per pixel (uint8, 0..C-1; 255 = ignore). Colour-coded
masks are converted with the palette; values outside the classes become the
ignore label. A file whose values cannot be trusted as labels (JPEG content,
colours of another palette, lossy-compression artefacts, mostly unlabelled) is
refused with ``MaskRefusedError``, whose ``kind`` is the dataset check's
problem kind.

>>> mask = read_mask("data/synthetic/Training/Category_ids/0000000.png")  # doctest: +SKIP
>>> mask.dtype.name, int(mask.max()) < 20                                 # doctest: +SKIP
('uint8', True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from seglib.classes import CIHP_PALETTE, COLORBLIND_PALETTE, IGNORE_LABEL, NUM_CLASSES
from seglib.data.images import decode_image_data, declared_size, read_file_bytes, to_uint8
from seglib.errors import ImageReadError

#: A colour mask is refused when more than this share of its pixels (or more than
#: half of its non-background pixels) are not exact palette colours ...
UNKNOWN_COLOUR_SHARE = 0.01
#: ... and at least this many: a handful of stray pixels only become "ignore".
UNKNOWN_COLOUR_MINIMUM = 8
#: A mask is refused when more than this share of its pixels carry no label
#: (the ignore label, or values >= the number of classes), or none has a label.
IGNORE_SHARE_LIMIT = 0.5
#: Lossy-compression score (see ``_lossy_score``) above which a grey mask is
#: refused. Clean synthetic masks of 128 px and more stay below 0.45 (512 px:
#: below 0.16); masks that went through JPEG score about 0.5-1.3.
LOSSY_SCORE_LIMIT = 0.6
#: Only masks at least this many pixels high and wide are scored: in smaller
#: ones whole people are a few pixels tall, and thin parts score like artefacts.
#: (JPEG content is refused at any size, from the file's first bytes.)
LOSSY_MINIMUM_SIDE = 128
#: Fewer label edges than this is too little evidence to call a mask lossy.
LOSSY_MINIMUM_EDGES = 32
#: Masks with these extensions are reported (not read): masks must be PNG.
LOSSY_MASK_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif")


class MaskRefusedError(ImageReadError):
    """A mask file decodes, but its values are not trustworthy label ids.

    ``kind`` is the ``Problem`` kind the dataset check lists it under.
    """

    def __init__(self, message: str, kind: str = "lossy-mask"):
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):
        return type(self), (str(self), self.kind)


@dataclass
class MaskRead:
    """A mask as read: its ids, how many pixels became the ignore label, and what was converted."""

    ids: np.ndarray
    #: pixels mapped to the ignore label: values >= the classes, or unknown colours
    bad: int
    notes: list[str]
    colour: bool = False


def _fix(num_classes: int, palette_name: str = "CIHP palette") -> str:
    return (f"Masks must be PNG files that hold one class id (0..{num_classes - 1}) per pixel, or the exact "
            f"colours of the {palette_name}; re-export it as PNG from the original label ids (never "
            "through JPEG), or remove the pair.")


def _is_jpeg(data: np.ndarray) -> bool:
    return data.size >= 3 and data[0] == 0xFF and data[1] == 0xD8 and data[2] == 0xFF


def _lossy_score(ids: np.ndarray) -> tuple[float, int]:
    """(score, edges): how much a grey mask looks like lossy (JPEG) compression went over it.

    In a label mask, a 2 x 2 block holds at most two ids except where three
    regions meet, and a pixel is rarely an island of one. JPEG smears every
    edge into ramps of intermediate ids and specks: ``score`` is the number of
    2 x 2 blocks with three or more ids plus the one-pixel islands, over the
    number of blocks that straddle an edge.
    """
    if ids.shape[0] < 3 or ids.shape[1] < 3:
        return 0.0, 0
    ids = np.ascontiguousarray(ids)
    across = ids[:, 1:] != ids[:, :-1]  # (H, W-1): differs from the right neighbour
    down = ids[1:, :] != ids[:-1, :]    # (H-1, W): differs from the one below
    # block (i, j) = a b / c d with a = ids[i, j]: a!=b, c!=d, a!=c, b!=d
    edge = across[:-1] | across[1:] | down[:, :-1] | down[:, 1:]
    at = np.flatnonzero(edge)
    if at.size == 0:
        return 0.0, 0
    width = ids.shape[1]
    first = at // (width - 1) * width + at % (width - 1)  # a's index in the flat mask
    flat = ids.ravel()
    a, b, c, d = flat[first], flat[first + 1], flat[first + width], flat[first + width + 1]
    # distinct ids in the block = 1 + (b new) + (c new) + (d new)
    distinct = (a != b).view(np.uint8) + ((c != a) & (c != b)).view(np.uint8) \
        + ((d != a) & (d != b) & (d != c)).view(np.uint8)
    triples = int(np.count_nonzero(distinct >= 2))
    islands = int(np.count_nonzero(across[1:-1, :-1] & across[1:-1, 1:] & down[:-1, 1:-1] & down[1:, 1:-1]))
    return (triples + islands) / at.size, int(at.size)


def _colour_examples(rgb: np.ndarray, unknown: np.ndarray, limit: int = 3) -> list[tuple[int, int, int]]:
    pixels = rgb[unknown].reshape(-1, 3)
    if len(pixels) > 100_000:
        pixels = pixels[:: len(pixels) // 100_000]
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return [tuple(int(v) for v in colours[i]) for i in np.argsort(-counts)[:limit]]


def _palette_name(palette: np.ndarray) -> str:
    if len(palette) <= len(CIHP_PALETTE) and np.array_equal(palette, CIHP_PALETTE[:len(palette)]):
        return "CIHP palette"
    return "dataset's palette (human_colormap.mat)"


def _colour_mask(bgr: np.ndarray, path: Path, num_classes: int, palette: np.ndarray) -> MaskRead:
    if bgr.dtype != np.uint8:
        bgr, _ = to_uint8(bgr)
    rgb = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB)
    ids = _colors_to_ids(rgb, palette)
    unknown = ids == IGNORE_LABEL
    count = int(np.count_nonzero(unknown))
    notes = ["colour-coded mask converted to ids with the palette"]
    if count:
        foreground = ids.size - int(np.count_nonzero(ids == 0))
        if count >= UNKNOWN_COLOUR_MINIMUM and (count > UNKNOWN_COLOUR_SHARE * ids.size or 2 * count > foreground):
            examples = _colour_examples(rgb, unknown)
            shown = ", ".join(str(c) for c in examples)
            name = _palette_name(palette)
            message = (f"{path.name}: {count / ids.size:.0%} of its pixels are colours outside the {name} "
                       f"(e.g. {shown}).")
            colourblind = {tuple(int(v) for v in c) for c in COLORBLIND_PALETTE[1:]}
            if all(c in colourblind for c in examples):
                message += (" They are the dashboard's colour-blind palette: this is a picture of a mask, "
                            "not its label ids.")
            elif len(np.unique(rgb[unknown].reshape(-1, 3)[:: max(1, count // 20_000)], axis=0)) > 2 * num_classes:
                message += " So many different colours mean lossy compression (JPEG) went over it."
            raise MaskRefusedError(f"{message} {_fix(num_classes, name)}", "unknown-colours")
    return MaskRead(ids, count, notes, colour=True)


def _grey_mask(values: np.ndarray, path: Path, num_classes: int, notes: list[str]) -> MaskRead:
    if values.dtype != np.uint8:
        if not np.issubdtype(values.dtype, np.integer):
            values = np.rint(np.nan_to_num(values.astype(np.float64), nan=IGNORE_LABEL, posinf=IGNORE_LABEL,
                                           neginf=-1))
        notes.append(f"{values.dtype} mask read as 8-bit ids")
        out_of_range = ((values < 0) | (values >= num_classes)) & (values != IGNORE_LABEL)
        ids = np.where(out_of_range | (values == IGNORE_LABEL), IGNORE_LABEL, values).astype(np.uint8)
    else:
        out_of_range = (values >= num_classes) & (values != IGNORE_LABEL)
        ids = values
    bad = int(np.count_nonzero(out_of_range))
    if bad:
        ids = ids.copy()
        ids[out_of_range] = IGNORE_LABEL
    if min(ids.shape[:2]) >= LOSSY_MINIMUM_SIDE:
        score, edges = _lossy_score(values if values.dtype == np.uint8 else ids)
        if edges >= LOSSY_MINIMUM_EDGES and score > LOSSY_SCORE_LIMIT:
            raise MaskRefusedError(
                f"{path.name} looks damaged by lossy compression (JPEG) or noise: its label edges are "
                f"ramps of in-between ids and one-pixel specks (score {score:.2f}; clean masks stay "
                f"below {LOSSY_SCORE_LIMIT}), so many pixels hold wrong but valid class ids. "
                f"{_fix(num_classes)}", "lossy-mask")
    return MaskRead(np.ascontiguousarray(ids), bad, notes)


def _refuse_unlabelled(mask: MaskRead, path: Path, num_classes: int) -> None:
    ignored = int(np.count_nonzero(mask.ids == IGNORE_LABEL))
    if ignored == 0 or (ignored <= IGNORE_SHARE_LIMIT * mask.ids.size and ignored < mask.ids.size):
        return
    share = ignored / mask.ids.size
    relabel = f"Label its pixels with class ids 0..{num_classes - 1} (0 = background), or remove the pair."
    if mask.colour and mask.bad * 2 >= ignored:
        message = f"{path.name}: {share:.0%} of its pixels are colours outside the palette. {_fix(num_classes)}"
    elif mask.bad * 2 >= ignored:
        message = (f"{path.name}: {share:.0%} of its pixels have values >= {num_classes} (class ids are "
                   f"0..{num_classes - 1}, {IGNORE_LABEL} = ignore), so it is not a mask of these {num_classes} "
                   f"classes (an instance map, or another dataset's ids?). {relabel}")
    elif ignored == mask.ids.size:
        message = (f"{path.name} has no labelled pixel: every pixel carries the ignore label {IGNORE_LABEL}, "
                   f"so it teaches and measures nothing. {relabel}")
    else:
        message = (f"{path.name}: {share:.0%} of its pixels carry the ignore label {IGNORE_LABEL} (no label), "
                   f"so it teaches and measures little. {relabel}")
    raise MaskRefusedError(message, "unlabelled-mask")


def read_mask_details(path: str | os.PathLike, num_classes: int = NUM_CLASSES,
                      palette: np.ndarray | None = None) -> MaskRead:
    """Read a mask as ``read_mask`` does (colours by ``palette``, default CIHP), with what the check reports."""
    path = Path(path)
    data = read_file_bytes(path)
    if _is_jpeg(data):
        named = "" if path.suffix.lower() in LOSSY_MASK_EXTENSIONS else \
            f" although its name ends in {path.suffix or 'nothing'}"
        raise MaskRefusedError(
            f"{path.name} is a JPEG file{named}: JPEG is lossy and changes the class ids along every "
            f"edge, so the mask cannot be trusted. {_fix(num_classes)}", "lossy-mask")
    array = decode_image_data(data, path.name, declared_size(data))
    notes: list[str] = []
    if array.ndim == 3 and array.shape[2] >= 3:
        bgr = array[..., :3]
        if np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 1], bgr[..., 2]):
            notes.append("3-channel mask with equal channels read as ids")
            mask = _grey_mask(np.ascontiguousarray(bgr[..., 0]), path, num_classes, notes)
        else:
            mask = _colour_mask(bgr, path, num_classes, CIHP_PALETTE if palette is None else palette)
    else:
        values = array[..., 0] if array.ndim == 3 else array
        mask = _grey_mask(np.ascontiguousarray(values), path, num_classes, notes)
    _refuse_unlabelled(mask, path, num_classes)
    return mask


def read_mask(path: str | os.PathLike, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Read a label mask as uint8 (H, W); never rotated (masks carry no EXIF meaning).

    Values ``>= num_classes`` become ``IGNORE_LABEL`` (255), which loss and
    metrics skip. 16-bit masks are read as ids (not scaled); a colour-coded RGB
    mask is converted with the CIHP palette. Raises ``ImageReadError`` naming the
    file when it cannot be read, and its subclass ``MaskRefusedError`` when its
    values cannot be trusted as labels: JPEG content, colours outside the
    palette (another palette, or lossy compression), JPEG-like artefacts, or
    more than half of its pixels (or all) without a label.
    """
    return read_mask_details(path, num_classes).ids


def _colors_to_ids(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette = np.asarray(palette, np.int32)
    keys = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    position = np.clip(np.searchsorted(sorted_keys, codes), 0, len(keys) - 1)
    found = sorted_keys[position] == codes
    return np.where(found, order[position], IGNORE_LABEL).astype(np.uint8)
