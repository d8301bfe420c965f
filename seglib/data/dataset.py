"""Open a dataset folder of images and label masks, read its pairs, and say what is wrong with it.

The layouts (CIHP and plain) are described in ``seglib.data.layout``; images
and masks are read by ``seglib.data.images`` and ``seglib.data.masks``.
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

import contextlib
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from seglib.classes import CIHP_PALETTE, IGNORE_LABEL, NUM_CLASSES, load_colormap
from seglib.data.images import read_image_with_notes
from seglib.data.layout import (EXPECTED_LAYOUT, PROBLEM_KINDS, SPLITS, Pair, Problem, being_written, detect_layout,
                                find_pairs, relative_path)
from seglib.data.masks import MaskRefusedError, read_mask, read_mask_details
from seglib.data.processes import available_cpus, map_in_processes, mark_reading, run_isolated
from seglib.errors import DatasetError, ImageReadError, SeglibError


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
# opening a folder
# ---------------------------------------------------------------------------

def open_dataset(root: str | os.PathLike, *, deep: bool = False, num_classes: int = NUM_CLASSES,
                 isolate: bool = False, use_cache: bool = False) -> Dataset:
    """Find image/mask pairs under ``root`` (CIHP or plain layout) without decoding them.

    Bad files never raise: they are skipped and listed in ``Dataset.problems``.
    With ``deep=True`` every file is decoded as well (see ``check_dataset``): the
    pairs left are the usable ones, the count ``data check`` reports and the
    dashboard shows. ``isolate`` decodes in child processes (a native crash in a
    decoder names the file instead of taking this process down); ``use_cache``
    keeps the deep check's result on disk (``settings.cache_dir()``), keyed on the
    files' names, sizes and times. Raises ``DatasetError`` (naming the folder and
    the expected layout) when the folder is missing or holds no usable pair.
    """
    root = Path(root).expanduser()
    shown = root.name or str(root)
    if not root.exists():
        raise DatasetError(f"The dataset folder {shown!r} does not exist. {EXPECTED_LAYOUT}")
    if not root.is_dir():
        raise DatasetError(f"{shown!r} is a file, not a dataset folder. {EXPECTED_LAYOUT}")
    root = root.resolve()
    if being_written(root):
        raise DatasetError(f"The dataset {shown!r} is being written by the synthetic generator right now (or its "
                           "writing was stopped before the end). Wait until it is finished, then reload the page; "
                           "if no generator is running, write it again with `python -m seglib data synth "
                           "--default`.")
    problems: list[Problem] = []
    digest = hashlib.sha1(str(root).encode())
    found = detect_layout(root)
    if found is None:
        present = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:8]
        listed = f" It holds: {', '.join(present)}." if present else " It is empty."
        raise DatasetError(f"No dataset found in {shown!r}.{listed} {EXPECTED_LAYOUT}")
    layout, folders = found
    splits = find_pairs(root, folders, problems, digest)

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
        cache = _check_cache_path(dataset, num_classes) if use_cache else None
        if cache is None or not _load_check(dataset, cache):
            found_before = len(dataset.problems)
            _deep_check(dataset, num_classes, isolate=isolate)
            if cache is not None:
                _save_check(dataset, cache, dataset.problems[found_before:])
    if not any(dataset.splits.values()):
        _raise_unusable(dataset)
    return dataset


def _raise_unusable(dataset: Dataset) -> None:
    kinds = Counter(p.kind for p in dataset.problems)
    listed = "; ".join(f"{count} {kind}" for kind, count in kinds.most_common()) or "no image/mask pairs"
    raise DatasetError(f"No usable image/mask pairs in {dataset.name!r} ({listed}). {EXPECTED_LAYOUT}",
                       dataset.problems)


# ---------------------------------------------------------------------------
# reading a pair
# ---------------------------------------------------------------------------

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
        read = read_mask_details(mask_path, num_classes, palette)
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


def _check_chunk(task) -> list[tuple[int, tuple]]:
    """``(index, _check_pair(item))`` of each pair of one chunk, each marked before it is read (``run_isolated``)."""
    indices, items, trail = task
    results = []
    for index, item in zip(indices, items):
        mark_reading(trail, index)
        results.append((index, _check_pair(item)))
    mark_reading(trail, None)
    return results


def _deep_check(dataset: Dataset, num_classes: int, workers: int | None = None, isolate: bool = False) -> None:
    tasks = []
    for split, pairs in dataset.splits.items():
        for pair in pairs:
            tasks.append((split, pair, (str(pair.image), str(pair.mask), relative_path(pair.image, dataset.root),
                                        relative_path(pair.mask, dataset.root), num_classes, dataset.palette)))
    items = [t[2] for t in tasks]
    if isolate and items:
        workers = max(1, min(int(workers or available_cpus()), -(-len(items) // 200)))
        chunk = max(1, min(32, -(-len(items) // (4 * workers))))
        chunks = [(list(range(i, min(i + chunk, len(items)))), items[i:i + chunk], None)
                  for i in range(0, len(items), chunk)]
        results = [result for _, result in run_isolated(
            _check_chunk, chunks, workers, describe=lambda index: items[index][2],
            doing=f"Checking every file of {dataset.name!r}")]
    else:
        results = map_in_processes(_check_pair, items, workers)
    keep: dict[str, list[Pair]] = {name: [] for name in dataset.splits}
    for (split, pair, _), (found, ok, _bad, _converted) in zip(tasks, results):
        dataset.problems.extend(Problem(*row) for row in found)
        if ok:
            keep[split].append(pair)
    for split, pairs in dataset.splits.items():
        if pairs and not keep[split] and any(keep.values()):  # (nothing left at all: DatasetError says it)
            where = relative_path(pairs[0].mask.parent, dataset.root)
            dataset.problems.append(Problem(
                where, "empty-split",
                f"The {split} split has no usable mask left: all {len(pairs)} were refused or unreadable (listed "
                f"above), so it has no labelled pixel to {'learn from' if split == 'train' else 'measure with'}. "
                f"Fix the masks in {where}, or remove that split's folder."))
    dataset.splits = keep


#: Changes when what the deep check decides changes (the cached results of older ones are not read).
CHECK_VERSION = 1


def _check_cache_path(dataset: Dataset, num_classes: int) -> Path:
    from seglib import settings

    key = hashlib.sha1(f"{dataset.fingerprint}|{num_classes}|{CHECK_VERSION}".encode()).hexdigest()[:20]
    return settings.cache_dir() / "checks" / f"{key}.json"


def _save_check(dataset: Dataset, path: Path, problems: list[Problem]) -> None:
    """Keep what the deep check decided (the pairs kept and its problems); a cache that cannot be written
    is only slower next time."""
    import json

    from seglib.io import atomic_write_text

    data = {"keep": {split: [pair.stem for pair in pairs] for split, pairs in dataset.splits.items()},
            "problems": [[p.path, p.kind, p.message, p.skipped] for p in problems]}
    with contextlib.suppress(OSError):
        atomic_write_text(path, json.dumps(data))


def _load_check(dataset: Dataset, path: Path) -> bool:
    """Apply a cached deep check to ``dataset``; False when there is none (or it does not fit)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keep = {split: set(stems) for split, stems in data["keep"].items()}
        problems = [Problem(str(a), str(b), str(c), bool(d)) for a, b, c, d in data["problems"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False
    if set(keep) != set(dataset.splits):
        return False
    dataset.splits = {split: [pair for pair in pairs if pair.stem in keep[split]]
                      for split, pairs in dataset.splits.items()}
    dataset.problems.extend(problems)
    return True


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
                lines.append(f"  - {format_problem(problem)}")
            if len(rows) > limit:
                lines.append(f"  ... and {len(rows) - limit} more")
        return "\n".join(lines)


def format_problem(problem: Problem) -> str:
    """A problem's message with its leading file name replaced by the path under the dataset root."""
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
