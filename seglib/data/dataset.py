"""Open any dataset folder of images and label masks, and say what is wrong with it.

Two layouts are understood, and the synthetic generator writes the first:

- **CIHP**: ``<root>/Training/Images/*.jpg`` + ``<root>/Training/Category_ids/*.png``,
  optionally ``Validation/`` (same sub-folders), ``Human_ids/`` (person ids) and
  ``human_colormap.mat``. A folder that itself holds ``Images/`` and
  ``Category_ids/`` (e.g. just ``Training``) is read as a training split.
- **plain**: ``<root>/images/*`` + ``<root>/masks/*``; everything is training data.

Images and masks are paired by file stem. ``open_dataset`` is cheap (no file is
decoded, so 38,000 files open in well under a second): it lists, pairs and checks
sizes on disk. ``check_dataset(root, deep=True)`` also decodes every file and
reports unreadable files, size mismatches and out-of-range labels. Nothing here
raises for one bad file: bad pairs are skipped and listed as ``Problem`` rows.
Only a folder with nothing usable raises ``DatasetError``.

>>> dataset = open_dataset("data/synthetic")                      # doctest: +SKIP
>>> image, mask = load_pair(dataset.split("train")[0], size=128)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from seglib.classes import CIHP_PALETTE, COLORBLIND_PALETTE, IGNORE_LABEL, NUM_CLASSES, load_colormap
from seglib.errors import DatasetError, ImageReadError, SeglibError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")
SPLITS = ("train", "val")
#: Largest image (width x height) any reader decodes: 40 megapixels, about 120 MB
#: as RGB. The header is read first, so a huge file is refused before its pixels
#: are allocated (one student's 10,000 x 10,000 file must not exhaust the memory
#: every other viewer shares).
MAX_IMAGE_PIXELS = 40_000_000
_CIHP_SPLITS = {"train": "Training", "val": "Validation"}
_IMAGE_DIRS = ("Images", "images", "JPEGImages", "imgs")
_MASK_DIRS = ("Category_ids", "category_ids", "masks", "Masks", "labels", "Labels", "annotations",
              "SegmentationClass")
_HUMAN_DIRS = ("Human_ids", "human_ids")

EXPECTED_LAYOUT = (
    "Expected either the CIHP layout (Training/Images/*.jpg with Training/Category_ids/*.png, and "
    "optionally Validation/ likewise) or a plain layout (images/ with masks/, files paired by name)."
)


@dataclass(frozen=True)
class Pair:
    """One image and its label mask (and, in CIHP folders, its person-id map)."""

    stem: str
    image: Path
    mask: Path
    human: Path | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    ``path`` is relative to the dataset root (never a server's absolute path), so
    it can be shown to users as it is. ``kind`` is a short key (see ``PROBLEM_KINDS``).
    """

    path: str
    kind: str
    message: str
    #: True when the pair was dropped; False for notes (converted images, ignored labels).
    skipped: bool = True


#: Problem kinds and what they mean.
PROBLEM_KINDS = {
    "missing-folder": "a folder the layout needs is missing",
    "empty-folder": "a folder holds no image files",
    "unpaired-image": "an image without a mask of the same name",
    "unpaired-mask": "a mask without an image of the same name",
    "duplicate": "two files with the same name stem in one folder",
    "empty-file": "a zero-byte file",
    "unreadable": "a file that cannot be decoded (corrupt or not an image)",
    "size-mismatch": "image and mask sizes differ",
    "bad-labels": "a few mask values >= the number of classes, or colours outside the palette (mapped to the "
                  "ignore label)",
    "unknown-colours": "a colour mask whose colours are not the palette's (another palette, or JPEG): refused",
    "lossy-mask": "a mask saved as JPEG, or damaged by lossy compression: refused (masks must be PNG)",
    "unlabelled-mask": "a mask in which most or all pixels carry no label: refused",
    "empty-split": "a split in which no usable mask is left",
    "converted": "grayscale, RGBA, 16-bit, EXIF-rotated or colour-coded file converted on reading",
    "bad-colormap": "human_colormap.mat cannot be read (the CIHP palette is used)",
}


@dataclass
class Dataset:
    """An opened dataset folder: pairs per split and the problems found."""

    root: Path
    layout: str
    splits: dict[str, list[Pair]]
    problems: list[Problem] = field(default_factory=list)
    palette: np.ndarray = field(default_factory=lambda: CIHP_PALETTE.copy())
    #: Changes whenever a file is added, removed, resized or touched (cache key).
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.root.name

    def split(self, name: str) -> list[Pair]:
        """The pairs of split ``name`` ('train' or 'val'; 'training'/'validation' also work)."""
        key = {"training": "train", "validation": "val"}.get(str(name).lower(), str(name).lower())
        if key not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}. Received: split={name!r}")
        return self.splits.get(key, [])

    def counts(self) -> dict[str, int]:
        return {name: len(pairs) for name, pairs in self.splits.items()}

    def summary(self) -> dict:
        """A small dict for pages and the CLI."""
        kinds = Counter(p.kind for p in self.problems)
        return {"name": self.name, "layout": self.layout, **{f"{k}_pairs": v for k, v in self.counts().items()},
                "problems": dict(kinds), "skipped": sum(p.skipped for p in self.problems)}


# ---------------------------------------------------------------------------
# reading single files
# ---------------------------------------------------------------------------

def _read_bytes(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # works for non-ASCII names too
    except FileNotFoundError:
        raise ImageReadError(f"{path.name} does not exist.") from None
    except OSError as error:
        raise ImageReadError(f"{path.name} cannot be read: {error.strerror or error}.") from None
    if data.size == 0:
        raise ImageReadError(f"{path.name} is empty (0 bytes). Replace or remove the file.")
    return data


def _decode_data(data: np.ndarray, path: Path, declared: tuple[int, int] | None) -> np.ndarray:
    """Decode file bytes whose declared size is known to be within the limit (or unknown)."""
    if declared is not None and declared[0] * declared[1] > MAX_IMAGE_PIXELS:
        raise ImageReadError(
            f"{path.name} is {declared[0]} x {declared[1]} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; shrink it (or remove it) and reopen the dataset.")
    # IMREAD_UNCHANGED keeps bit depth and alpha and does not apply the EXIF
    # orientation: photos get it applied by ``read_image_with_notes`` (and say
    # so); masks never do (a mask drawn on the upright photo has no EXIF tag).
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.size == 0:
        raise ImageReadError(f"{path.name} cannot be decoded: it is corrupt or not an image file.")
    return array


def _decode(path: Path) -> np.ndarray:
    """Decode a file as stored (no EXIF orientation), refusing huge ones from their header."""
    path = Path(path)
    data = _read_bytes(path)
    return _decode_data(data, path, declared_size(data))


#: EXIF orientation -> (what it means, how to turn the stored pixels upright),
#: as Pillow's ``ImageOps.exif_transpose`` does.
_ORIENTATIONS = {
    2: ("mirrored", lambda a: a[:, ::-1]),
    3: ("rotated 180 degrees", lambda a: a[::-1, ::-1]),
    4: ("flipped upside down", lambda a: a[::-1]),
    5: ("mirrored and rotated", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90 degrees clockwise", lambda a: np.rot90(a, -1)),
    7: ("mirrored and rotated", lambda a: a[::-1, ::-1].swapaxes(0, 1)),
    8: ("rotated 90 degrees counter-clockwise", lambda a: np.rot90(a, 1)),
}


def _header(data) -> tuple[tuple[int, int] | None, int]:
    """((width, height) or None, EXIF orientation 1..8) from a file's header, no pixels decoded."""
    import io
    import warnings

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with Streamlit
        return None, 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(memoryview(data))) as picture:
                size = int(picture.width), int(picture.height)
                try:
                    # Image.getexif, not the PNG plugin's own (which decodes the pixels to find a late tag)
                    orientation = int(Image.Image.getexif(picture).get(0x0112, 1))
                except Exception:  # noqa: BLE001 - a broken EXIF block: no orientation
                    orientation = 1
                return size, orientation if orientation in _ORIENTATIONS else 1
    except Image.DecompressionBombError:
        return _size_beyond_pillow_limit(data), 1
    except Exception:  # noqa: BLE001 - not an image Pillow knows: let OpenCV decide
        return None, 1


def declared_size(data) -> tuple[int, int] | None:
    """(width, height) read from an image file's header, without decoding the pixels.

    Also for files Pillow itself refuses as decompression bombs: the size the
    header declares, so a message can say how big the file claims to be.
    Returns None when the header is not one Pillow knows (OpenCV then decides).
    """
    return _header(data)[0]


def _size_beyond_pillow_limit(data) -> tuple[int, int]:
    """The declared size of a file ``Image.open`` refused as a decompression bomb.

    Pillow checks the size only in ``Image.open``; its format plugins read the
    header without that check, so ask the plugin whose signature matches.
    """
    import io
    import warnings

    from PIL import Image

    Image.init()
    prefix = bytes(memoryview(data)[:16])
    for name in list(Image.ID):
        factory, accept = Image.OPEN[name]
        try:
            if accept is not None:
                accepted = accept(prefix)
                if not accepted or isinstance(accepted, str):
                    continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                picture = factory(io.BytesIO(memoryview(data)), "")
            try:
                return int(picture.width), int(picture.height)
            finally:
                picture.close()
        except Exception:  # noqa: BLE001 - not this format: try the next
            continue
    raw = bytes(memoryview(data)[:24])
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR":
        return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    # Pillow found it too large but no plugin says how large: at least over any limit.
    return (2**31, 1)


def _to_uint8(array: np.ndarray) -> tuple[np.ndarray, str | None]:
    if array.dtype == np.uint8:
        return array, None
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8), "16-bit scaled to 8-bit"
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32))
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8), f"{array.dtype} scaled to 8-bit"
    return np.clip(array, 0, 255).astype(np.uint8), f"{array.dtype} clipped to 8-bit"


def _exif_note(orientation: int) -> str:
    return (f"EXIF orientation {orientation} applied ({_ORIENTATIONS[orientation][0]} to stand upright, "
            "as photo viewers show it; its mask must be drawn on the upright photo)")


def read_image_with_notes(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Like ``read_image``, also returning what was converted (for the check report)."""
    path = Path(path)
    data = _read_bytes(path)
    declared, orientation = _header(data)
    array = _decode_data(data, path, declared)
    notes: list[str] = []
    if orientation != 1:
        array = np.ascontiguousarray(_ORIENTATIONS[orientation][1](array))
        notes.append(_exif_note(orientation))
    array, note = _to_uint8(array)
    if note:
        notes.append(note)
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        notes.append(f"{array.shape[2]} channels: the first read as grayscale")
        array = array[..., 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        notes.append("grayscale replicated to RGB")
        return cv2.cvtColor(np.ascontiguousarray(array.reshape(array.shape[:2])), cv2.COLOR_GRAY2RGB), notes
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            notes.append("transparency composited on white")
            rgb = array[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            array = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        else:
            notes.append("alpha channel dropped")
            array = np.ascontiguousarray(array[..., :3])
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGR2RGB), notes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3), turned upright by its EXIF orientation.

    Grayscale is replicated, transparency composited on white, 16-bit scaled to
    8-bit, and a photo's EXIF orientation (phone photos) applied, as photo
    viewers and browsers show it. Raises ``ImageReadError`` (naming the file)
    for missing, empty or corrupt files.
    """
    return read_image_with_notes(path)[0]


# ---------------------------------------------------------------------------
# masks: label ids, and the files that only look like them
# ---------------------------------------------------------------------------

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
class _Mask:
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


def _colour_mask(bgr: np.ndarray, path: Path, num_classes: int, palette: np.ndarray) -> _Mask:
    if bgr.dtype != np.uint8:
        bgr, _ = _to_uint8(bgr)
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
    return _Mask(ids, count, notes, colour=True)


def _grey_mask(values: np.ndarray, path: Path, num_classes: int, notes: list[str]) -> _Mask:
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
    return _Mask(np.ascontiguousarray(ids), bad, notes)


def _refuse_unlabelled(mask: _Mask, path: Path, num_classes: int) -> None:
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


def _read_mask(path: str | os.PathLike, num_classes: int = NUM_CLASSES,
               palette: np.ndarray | None = None) -> _Mask:
    path = Path(path)
    data = _read_bytes(path)
    if _is_jpeg(data):
        named = "" if path.suffix.lower() in LOSSY_MASK_EXTENSIONS else \
            f" although its name ends in {path.suffix or 'nothing'}"
        raise MaskRefusedError(
            f"{path.name} is a JPEG file{named}: JPEG is lossy and changes the class ids along every "
            f"edge, so the mask cannot be trusted. {_fix(num_classes)}", "lossy-mask")
    array = _decode_data(data, path, declared_size(data))
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


def read_mask_with_notes(path: str | os.PathLike, num_classes: int = NUM_CLASSES,
                         palette: np.ndarray | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Like ``read_mask``; also returns the number of pixels mapped to the ignore label and notes."""
    mask = _read_mask(path, num_classes, palette)
    return mask.ids, mask.bad, mask.notes


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
    return read_mask_with_notes(path, num_classes)[0]


def _colors_to_ids(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    palette = np.asarray(palette, np.int32)
    keys = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    position = np.clip(np.searchsorted(sorted_keys, codes), 0, len(keys) - 1)
    found = sorted_keys[position] == codes
    return np.where(found, order[position], IGNORE_LABEL).astype(np.uint8)


def resize_pair(image: np.ndarray, mask: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """Resize an image (area when shrinking, bilinear when enlarging) and its mask (nearest only)."""
    height, width = _size_hw(size)
    if image.shape[:2] != (height, width):
        shrink = height * width < image.shape[0] * image.shape[1]
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if mask.shape[:2] != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return image, mask


def load_pair(pair: Pair, size=None, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Read one pair: image uint8 (H, W, 3) RGB and mask uint8 (H, W).

    ``size`` (an int for a square, or ``(height, width)``) resizes both; masks
    always with nearest neighbour, so no label is invented at boundaries.
    Raises ``ImageReadError`` when a file is unreadable or the sizes differ.
    """
    image, notes = read_image_with_notes(pair.image)
    mask = read_mask(pair.mask, num_classes)
    if image.shape[:2] != mask.shape[:2]:
        raise ImageReadError(
            f"{pair.image.name} is {image.shape[1]}x{image.shape[0]} px but its mask {pair.mask.name} is "
            f"{mask.shape[1]}x{mask.shape[0]} px. "
            + _transposed_hint(image.shape, mask.shape, notes) + "Fix or remove the pair.")
    if size is not None:
        image, mask = resize_pair(image, mask, size)
    return image, mask


def _transposed_hint(image_shape, mask_shape, image_notes) -> str:
    """Why an image and its mask may have swapped width and height, or ''."""
    if image_shape[:2] != tuple(mask_shape[:2])[::-1]:
        return ""
    if any(note.startswith("EXIF orientation") for note in image_notes):
        return ("The photo has an EXIF orientation (a phone photo?), which is applied so that it stands "
                "upright as photo viewers show it; the mask must be drawn on that upright view. ")
    return ("Width and height are swapped: one of the two was probably turned, e.g. by a phone photo's EXIF "
            "orientation that an editor applied to one file and not the other; turn the mask to match the "
            "photo as the dashboard shows it. ")


def _size_hw(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        height = width = int(size)
    else:
        try:
            height, width = (int(v) for v in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or (height, width). Received: size={size!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive. Received: size={size!r}")
    return height, width


# ---------------------------------------------------------------------------
# opening a folder
# ---------------------------------------------------------------------------

def _find_dir(parent: Path, names) -> Path | None:
    for name in names:
        candidate = parent / name
        if candidate.is_dir():
            return candidate
    return None


def _list_files(folder: Path, extensions, root: Path, problems: list[Problem], digest) -> dict[str, Path]:
    """Files by stem; zero-byte files and duplicate stems become problems."""
    by_stem: dict[str, Path] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        problems.append(Problem(_rel(folder, root), "unreadable", f"Cannot list {folder.name}: {error.strerror}."))
        return by_stem
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        suffix = os.path.splitext(name)[1].lower()
        if suffix not in extensions:
            continue
        try:
            info = entry.stat()
        except OSError:
            problems.append(Problem(_rel(Path(entry.path), root), "unreadable", f"{name} cannot be read."))
            continue
        if not entry.is_file():
            continue
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        path = Path(entry.path)
        if info.st_size == 0:
            problems.append(Problem(_rel(path, root), "empty-file",
                                    f"{name} is empty (0 bytes); its pair is skipped."))
            continue
        stem = os.path.splitext(name)[0]
        if stem in by_stem:
            problems.append(Problem(_rel(path, root), "duplicate",
                                    f"{name} has the same name as {by_stem[stem].name}; only the first is used."))
            continue
        by_stem[stem] = path
    return by_stem


def _pair_folder(image_dir: Path, mask_dir: Path, human_dir: Path | None, root: Path,
                 problems: list[Problem], digest) -> list[Pair]:
    images = _list_files(image_dir, IMAGE_EXTENSIONS, root, problems, digest)
    masks = _list_files(mask_dir, MASK_EXTENSIONS, root, problems, digest)
    lossy = _list_files(mask_dir, LOSSY_MASK_EXTENSIONS, root, [], digest)
    humans = _list_files(human_dir, MASK_EXTENSIONS, root, [], digest) if human_dir else {}
    for stem in sorted(set(lossy) - set(masks)):
        name = lossy[stem].name
        problems.append(Problem(_rel(lossy[stem], root), "lossy-mask",
                                f"{name} is not used: masks must be PNG (one class id per pixel). JPEG is lossy "
                                f"and changes the ids along every edge; re-export it as {stem}.png from the "
                                "original label ids (not by converting this JPEG). Its pair is skipped."))
    if not images:
        problems.append(Problem(_rel(image_dir, root), "empty-folder", f"{_rel(image_dir, root)} holds no images."))
    elif not masks and not lossy:
        problems.append(Problem(_rel(mask_dir, root), "empty-folder", f"{_rel(mask_dir, root)} holds no masks."))
    # A stem that only exists because its partner was an empty/duplicate/JPEG file
    # is reported once (as that file), not again as unpaired.
    already = {Path(p.path).stem for p in problems if p.kind in ("empty-file", "duplicate", "lossy-mask")}
    pairs = []
    for stem in sorted(images):
        if stem in masks:
            pairs.append(Pair(stem, images[stem], masks[stem], humans.get(stem)))
        elif stem not in already:
            problems.append(Problem(_rel(images[stem], root), "unpaired-image",
                                    f"{images[stem].name} has no mask named {stem}.png in "
                                    f"{_rel(mask_dir, root)}; skipped."))
    for stem in sorted(set(masks) - set(images)):
        if stem not in already:
            problems.append(Problem(_rel(masks[stem], root), "unpaired-mask",
                                    f"{masks[stem].name} has no image named {stem}.* in "
                                    f"{_rel(image_dir, root)}; skipped."))
    return pairs


def _rel(path: Path, root: Path) -> str:
    try:
        rel = Path(path).relative_to(root)
        return str(rel) if str(rel) != "." else root.name
    except ValueError:
        return Path(path).name


def open_dataset(root: str | os.PathLike, *, deep: bool = False, num_classes: int = NUM_CLASSES) -> Dataset:
    """Find image/mask pairs under ``root`` (CIHP or plain layout) without decoding them.

    Bad files never raise: they are skipped and listed in ``Dataset.problems``.
    With ``deep=True`` every file is decoded as well (see ``check_dataset``).
    Raises ``DatasetError`` (naming the folder and the expected layout) when
    the folder is missing or holds no usable pair.
    """
    root = Path(root).expanduser()
    shown = root.name or str(root)
    if not root.exists():
        raise DatasetError(f"The dataset folder {shown!r} does not exist. {EXPECTED_LAYOUT}")
    if not root.is_dir():
        raise DatasetError(f"{shown!r} is a file, not a dataset folder. {EXPECTED_LAYOUT}")
    root = root.resolve()
    problems: list[Problem] = []
    digest = hashlib.sha1(str(root).encode())
    splits: dict[str, list[Pair]] = {"train": [], "val": []}

    cihp_dirs = {split: root / folder for split, folder in _CIHP_SPLITS.items() if (root / folder).is_dir()}
    if cihp_dirs:
        layout = "cihp"
        for split, folder in cihp_dirs.items():
            image_dir, mask_dir = _find_dir(folder, _IMAGE_DIRS), _find_dir(folder, _MASK_DIRS)
            if image_dir is None or mask_dir is None:
                missing = "Images" if image_dir is None else "Category_ids"
                problems.append(Problem(_rel(folder / missing, root), "missing-folder",
                                        f"{folder.name}/{missing} is missing; the {split} split is empty."))
                continue
            splits[split] = _pair_folder(image_dir, mask_dir, _find_dir(folder, _HUMAN_DIRS), root, problems,
                                         digest)
    elif _find_dir(root, _IMAGE_DIRS) and _find_dir(root, _MASK_DIRS):
        image_dir, mask_dir = _find_dir(root, _IMAGE_DIRS), _find_dir(root, _MASK_DIRS)
        layout = "cihp" if mask_dir.name.lower() == "category_ids" else "plain"
        splits["train"] = _pair_folder(image_dir, mask_dir, _find_dir(root, _HUMAN_DIRS), root, problems, digest)
    else:
        present = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:8]
        found = f" It holds: {', '.join(present)}." if present else " It is empty."
        raise DatasetError(f"No dataset found in {shown!r}.{found} {EXPECTED_LAYOUT}")

    palette = CIHP_PALETTE.copy()
    colormap = root / "human_colormap.mat"
    if colormap.is_file():
        try:
            loaded = load_colormap(colormap)
            if len(loaded) >= num_classes:
                palette = loaded[:num_classes]
            else:
                problems.append(Problem("human_colormap.mat", "bad-colormap",
                                        f"human_colormap.mat has {len(loaded)} colours, fewer than {num_classes} "
                                        "classes; the CIHP palette is used.", skipped=False))
        except SeglibError as error:
            problems.append(Problem("human_colormap.mat", "bad-colormap",
                                    f"{error} The CIHP palette is used.", skipped=False))

    dataset = Dataset(root=root, layout=layout, splits=splits, problems=problems, palette=palette,
                      fingerprint=digest.hexdigest())
    if deep:
        _deep_check(dataset, num_classes)
    if not any(dataset.splits.values()):
        _raise_unusable(dataset)
    return dataset


def _raise_unusable(dataset: Dataset) -> None:
    kinds = Counter(p.kind for p in dataset.problems)
    listed = "; ".join(f"{count} {kind}" for kind, count in kinds.most_common()) or "no image/mask pairs"
    error = DatasetError(f"No usable image/mask pairs in {dataset.name!r} ({listed}). {EXPECTED_LAYOUT}")
    error.problems = dataset.problems  # type: ignore[attr-defined]
    raise error


# ---------------------------------------------------------------------------
# the deep check: decode everything
# ---------------------------------------------------------------------------

def _check_pair(task: tuple) -> tuple[list[tuple[str, str, str, bool]], bool, int, int]:
    """Decode one pair; return (problems as tuples, keep?, ignored pixels, converted?)."""
    image_path, mask_path, rel_image, rel_mask, num_classes, palette = task
    found = []
    try:
        image, image_notes = read_image_with_notes(image_path)
    except ImageReadError as error:
        return [(rel_image, "empty-file" if "0 bytes" in str(error) else "unreadable", f"{error} Skipped.", True)], \
            False, 0, 0
    try:
        read = _read_mask(mask_path, num_classes, palette)
    except MaskRefusedError as error:
        return [(rel_mask, error.kind, f"{error} Skipped.", True)], False, 0, 0
    except ImageReadError as error:
        return [(rel_mask, "empty-file" if "0 bytes" in str(error) else "unreadable", f"{error} Skipped.", True)], \
            False, 0, 0
    mask, bad_pixels, mask_notes = read.ids, read.bad, read.notes
    if image.shape[:2] != mask.shape[:2]:
        return [(rel_image, "size-mismatch",
                 f"{Path(image_path).name} is {image.shape[1]}x{image.shape[0]} px but its mask is "
                 f"{mask.shape[1]}x{mask.shape[0]} px; skipped. "
                 + _transposed_hint(image.shape, mask.shape, image_notes).strip(), True)], False, 0, 0
    converted = 0
    if image_notes:
        found.append((rel_image, "converted", f"{Path(image_path).name}: {', '.join(image_notes)}.", False))
        converted = 1
    if mask_notes:
        found.append((rel_mask, "converted", f"{Path(mask_path).name}: {', '.join(mask_notes)}.", False))
        converted = 1
    if bad_pixels:
        what = "are colours outside the palette" if read.colour else f"have labels >= {num_classes}"
        found.append((rel_mask, "bad-labels",
                      f"{Path(mask_path).name}: {bad_pixels} pixels {what}; they are "
                      f"mapped to the ignore label {IGNORE_LABEL} (skipped by loss and metrics).", False))
    return found, True, bad_pixels, converted


def _deep_check(dataset: Dataset, num_classes: int, workers: int | None = None) -> None:
    tasks = []
    for split, pairs in dataset.splits.items():
        for pair in pairs:
            tasks.append((split, pair, (str(pair.image), str(pair.mask), _rel(pair.image, dataset.root),
                                        _rel(pair.mask, dataset.root), num_classes, dataset.palette)))
    results = map_in_processes(_check_pair, [t[2] for t in tasks], workers)
    keep: dict[str, list[Pair]] = {name: [] for name in dataset.splits}
    for (split, pair, _), (found, ok, _bad, _converted) in zip(tasks, results):
        dataset.problems.extend(Problem(*row) for row in found)
        if ok:
            keep[split].append(pair)
    for split, pairs in dataset.splits.items():
        if pairs and not keep[split] and any(keep.values()):  # (nothing left at all: DatasetError says it)
            where = _rel(pairs[0].mask.parent, dataset.root)
            dataset.problems.append(Problem(
                where, "empty-split",
                f"The {split} split has no usable mask left: all {len(pairs)} were refused or unreadable (listed "
                f"above), so it has no labelled pixel to {'learn from' if split == 'train' else 'measure with'}. "
                f"Fix the masks in {where}, or remove that split's folder."))
    dataset.splits = keep


def available_cpus() -> int:
    """CPU cores this process may run on (respects taskset / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def map_in_processes(function, items: list, workers: int | None = None, minimum_per_worker: int = 200) -> list:
    """Map in worker processes when there is enough work, else in this process."""
    workers = workers or available_cpus()
    if workers <= 1 or len(items) < 2 * minimum_per_worker:
        return [function(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            return list(pool.map(function, items, chunksize=max(1, len(items) // (8 * workers))))
    except BrokenProcessPool:
        # A worker died (a native crash in a decoder): doing the same work in
        # this process would take it down too.
        raise DatasetError("A worker process died while decoding the files (a crash in a native decoder). "
                           "Check the folder in smaller parts to find the file, and remove or re-export it."
                           ) from None
    except (OSError, RuntimeError):  # no processes allowed here: do it serially
        return [function(item) for item in items]


@dataclass
class CheckReport:
    """What ``check_dataset`` found: the usable dataset and every problem."""

    dataset: Dataset

    @property
    def problems(self) -> list[Problem]:
        return self.dataset.problems

    def counts(self) -> dict[str, int]:
        return Counter(p.kind for p in self.problems)

    def format(self, limit: int = 20) -> str:
        """A readable report (paths relative to the dataset root)."""
        data = self.dataset
        lines = [f"Dataset {data.name} ({data.layout} layout)"]
        for split, pairs in data.splits.items():
            lines.append(f"  {split}: {len(pairs)} usable pairs")
        skipped = sum(p.skipped for p in self.problems)
        lines.append(f"  skipped: {skipped} files or pairs; notes: {len(self.problems) - skipped}")
        if not self.problems:
            lines.append("No problems found.")
            return "\n".join(lines)
        for kind, count in self.counts().most_common():
            lines.append(f"\n{kind} ({count}): {PROBLEM_KINDS.get(kind, '')}")
            rows = [p for p in self.problems if p.kind == kind]
            for problem in rows[:limit]:
                lines.append(f"  - {_with_path(problem)}")
            if len(rows) > limit:
                lines.append(f"  ... and {len(rows) - limit} more")
        return "\n".join(lines)


def _with_path(problem: Problem) -> str:
    """The message with its leading file name replaced by the path under the root."""
    name = Path(problem.path).name
    if problem.message.startswith(name):
        return problem.path + problem.message[len(name):]
    return f"{problem.path}: {problem.message}"


def check_dataset(root: str | os.PathLike, deep: bool = True, num_classes: int = NUM_CLASSES) -> CheckReport:
    """Open ``root`` and (with ``deep``) decode every file, listing every problem.

    Returns a ``CheckReport``; raises ``DatasetError`` (with ``.problems``) when
    nothing usable is left.
    """
    return CheckReport(open_dataset(root, deep=deep, num_classes=num_classes))
