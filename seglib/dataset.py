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

from seglib.classes import CIHP_PALETTE, IGNORE_LABEL, NUM_CLASSES, load_colormap
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
    "bad-labels": "mask values >= the number of classes (mapped to the ignore label)",
    "converted": "grayscale, RGBA, 16-bit or colour-coded file converted on reading",
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

def _decode(path: Path) -> np.ndarray:
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # works for non-ASCII names too
    except FileNotFoundError:
        raise ImageReadError(f"{path.name} does not exist.") from None
    except OSError as error:
        raise ImageReadError(f"{path.name} cannot be read: {error.strerror or error}.") from None
    if data.size == 0:
        raise ImageReadError(f"{path.name} is empty (0 bytes). Replace or remove the file.")
    declared = declared_size(data)
    if declared is not None and declared[0] * declared[1] > MAX_IMAGE_PIXELS:
        raise ImageReadError(
            f"{path.name} is {declared[0]} x {declared[1]} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; shrink it (or remove it) and reopen the dataset.")
    # IMREAD_UNCHANGED keeps bit depth and alpha, and ignores EXIF rotation:
    # a mask has no EXIF, so rotating only the photo would misalign the pair.
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.size == 0:
        raise ImageReadError(f"{path.name} cannot be decoded: it is corrupt or not an image file.")
    return array


def declared_size(data) -> tuple[int, int] | None:
    """(width, height) read from an image file's header, without decoding the pixels.

    Returns None when the header is not one Pillow knows (OpenCV then decides).
    """
    import io

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with Streamlit
        return None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(memoryview(data))) as picture:
                return int(picture.width), int(picture.height)
    except Image.DecompressionBombError:
        return (2**31, 1)  # Pillow itself refuses it: far too many pixels
    except Exception:  # noqa: BLE001 - not an image Pillow knows: let OpenCV decide
        return None


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


def read_image_with_notes(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Like ``read_image``, also returning what was converted (for the check report)."""
    array = _decode(Path(path))
    notes: list[str] = []
    array, note = _to_uint8(array)
    if note:
        notes.append(note)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        notes.append("grayscale replicated to RGB")
        return cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2RGB), notes
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            notes.append("transparency composited on white")
            rgb = array[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            array = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        else:
            notes.append("alpha channel dropped")
            array = np.ascontiguousarray(array[..., :3])
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB), notes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3).

    Grayscale is replicated, transparency composited on white, 16-bit scaled to
    8-bit. Raises ``ImageReadError`` (naming the file) for missing, empty or
    corrupt files.
    """
    return read_image_with_notes(path)[0]


def read_mask_with_notes(path: str | os.PathLike, num_classes: int = NUM_CLASSES,
                         palette: np.ndarray | None = None) -> tuple[np.ndarray, int, list[str]]:
    """Like ``read_mask``; also returns the number of pixels mapped to the ignore label and notes."""
    array = _decode(Path(path))
    notes: list[str] = []
    if array.ndim == 3 and array.shape[2] >= 3:
        bgr = array[..., :3]
        if np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 1], bgr[..., 2]):
            array = bgr[..., 0]
            notes.append("3-channel mask with equal channels read as ids")
        else:
            array = _colors_to_ids(cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2RGB),
                                   CIHP_PALETTE if palette is None else palette)
            notes.append("colour-coded mask converted to ids with the palette")
    elif array.ndim == 3:
        array = array[..., 0]
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            array = np.rint(np.nan_to_num(array.astype(np.float64), nan=IGNORE_LABEL))
        notes.append(f"{array.dtype} mask read as 8-bit ids")
        array = np.where((array < 0) | (array >= num_classes), IGNORE_LABEL, array).astype(np.uint8)
    bad = (array >= num_classes) & (array != IGNORE_LABEL)
    bad_count = int(np.count_nonzero(bad))
    if bad_count:
        array = array.copy()
        array[bad] = IGNORE_LABEL
    return np.ascontiguousarray(array), bad_count, notes


def read_mask(path: str | os.PathLike, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Read a label mask as uint8 (H, W).

    Values ``>= num_classes`` become ``IGNORE_LABEL`` (255), which loss and
    metrics skip. 16-bit masks are read as ids (not scaled); a colour-coded RGB
    mask is converted with the CIHP palette (unknown colours -> ignore).
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
    image = read_image(pair.image)
    mask = read_mask(pair.mask, num_classes)
    if image.shape[:2] != mask.shape[:2]:
        raise ImageReadError(
            f"{pair.image.name} is {image.shape[1]}x{image.shape[0]} px but its mask {pair.mask.name} is "
            f"{mask.shape[1]}x{mask.shape[0]} px. Fix or remove the pair.")
    if size is not None:
        image, mask = resize_pair(image, mask, size)
    return image, mask


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
    humans = _list_files(human_dir, MASK_EXTENSIONS, root, [], digest) if human_dir else {}
    if not images:
        problems.append(Problem(_rel(image_dir, root), "empty-folder", f"{_rel(image_dir, root)} holds no images."))
    elif not masks:
        problems.append(Problem(_rel(mask_dir, root), "empty-folder", f"{_rel(mask_dir, root)} holds no masks."))
    # A stem that only exists because its partner was an empty/duplicate file is
    # reported once (as that file), not again as unpaired.
    already = {Path(p.path).stem for p in problems if p.kind in ("empty-file", "duplicate")}
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
        mask, bad_pixels, mask_notes = read_mask_with_notes(mask_path, num_classes, palette)
    except ImageReadError as error:
        return [(rel_mask, "empty-file" if "0 bytes" in str(error) else "unreadable", f"{error} Skipped.", True)], \
            False, 0, 0
    if image.shape[:2] != mask.shape[:2]:
        return [(rel_image, "size-mismatch",
                 f"{Path(image_path).name} is {image.shape[1]}x{image.shape[0]} px but its mask is "
                 f"{mask.shape[1]}x{mask.shape[0]} px; skipped.", True)], False, 0, 0
    converted = 0
    if image_notes:
        found.append((rel_image, "converted", f"{Path(image_path).name}: {', '.join(image_notes)}.", False))
        converted = 1
    if mask_notes:
        found.append((rel_mask, "converted", f"{Path(mask_path).name}: {', '.join(mask_notes)}.", False))
        converted = 1
    if bad_pixels:
        found.append((rel_mask, "bad-labels",
                      f"{Path(mask_path).name}: {bad_pixels} pixels have labels >= {num_classes}; they are "
                      f"mapped to the ignore label {IGNORE_LABEL} (skipped by loss and metrics).", False))
    return found, True, bad_pixels, converted


def _deep_check(dataset: Dataset, num_classes: int, workers: int | None = None) -> None:
    tasks = []
    for split, pairs in dataset.splits.items():
        for pair in pairs:
            tasks.append((split, pair, (str(pair.image), str(pair.mask), _rel(pair.image, dataset.root),
                                        _rel(pair.mask, dataset.root), num_classes, dataset.palette)))
    results = _map(_check_pair, [t[2] for t in tasks], workers)
    keep: dict[str, list[Pair]] = {name: [] for name in dataset.splits}
    for (split, pair, _), (found, ok, _bad, _converted) in zip(tasks, results):
        dataset.problems.extend(Problem(*row) for row in found)
        if ok:
            keep[split].append(pair)
    dataset.splits = keep


def available_cpus() -> int:
    """CPU cores this process may run on (respects taskset / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _map(function, items: list, workers: int | None = None, minimum_per_worker: int = 200) -> list:
    """Map in worker processes when there is enough work, else in this process."""
    workers = workers or available_cpus()
    if workers <= 1 or len(items) < 2 * minimum_per_worker:
        return [function(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            return list(pool.map(function, items, chunksize=max(1, len(items) // (8 * workers))))
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
