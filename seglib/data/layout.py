"""What a dataset folder looks like: the two layouts, and the image/mask pairs found in one.

- **CIHP**: ``<root>/Training/Images/*.jpg`` + ``<root>/Training/Category_ids/*.png``,
  optionally ``Validation/`` (same sub-folders), ``Human_ids/`` (person ids) and
  ``human_colormap.mat``. A folder that itself holds ``Images/`` and
  ``Category_ids/`` (e.g. just ``Training``) is read as a training split.
- **plain**: ``<root>/images/*`` + ``<root>/masks/*``; everything is training data.

``detect_layout`` is the one test of "is this a dataset folder" (``open_dataset``
and ``find_datasets``, the dashboard's list, both ask it); ``find_pairs`` lists
the files, pairs them by stem and notes every file it skips as a ``Problem``,
without decoding anything.

>>> detect_layout("data/synthetic")                 # doctest: +SKIP
('cihp', {'train': PosixPath('.../Training'), 'val': PosixPath('.../Validation')})
"""

from __future__ import annotations

import contextlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from seglib import settings
from seglib.data.masks import LOSSY_MASK_EXTENSIONS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")
SPLITS = ("train", "val")
#: The split folders of the CIHP layout.
CIHP_SPLITS = {"train": "Training", "val": "Validation"}
_IMAGE_DIRS = ("Images", "images", "JPEGImages", "imgs")
_MASK_DIRS = ("Category_ids", "category_ids", "masks", "Masks", "labels", "Labels", "annotations",
              "SegmentationClass")
_HUMAN_DIRS = ("Human_ids", "human_ids")

#: The synthetic generator's own files (``seglib.data.synth``): its parameters, written first, and
#: the marker written last. A folder with the first and without the second is being written.
SYNTH_PARAMS_FILE = "synth.json"
SYNTH_MARKER = ".complete"

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


# ---------------------------------------------------------------------------
# the layout of a folder
# ---------------------------------------------------------------------------

def detect_layout(folder: str | os.PathLike) -> tuple[str, dict[str, Path]] | None:
    """The layout of ``folder`` ('cihp' or 'plain') and the folder of each split in it; None when it
    is not a dataset folder. Only folder names are looked at (nothing is listed or decoded)."""
    folder = Path(folder)
    cihp = {split: folder / name for split, name in CIHP_SPLITS.items() if (folder / name).is_dir()}
    if cihp:
        return "cihp", cihp
    image_dir, mask_dir = _find_dir(folder, _IMAGE_DIRS), _find_dir(folder, _MASK_DIRS)
    if image_dir is None or mask_dir is None:
        return None
    return ("cihp" if mask_dir.name.lower() == "category_ids" else "plain"), {"train": folder}


def being_written(folder: str | os.PathLike) -> bool:
    """Whether the synthetic generator is writing ``folder`` now (or was stopped before it finished):
    its parameters file is there and its completion marker is not."""
    folder = Path(folder)
    return (folder / SYNTH_PARAMS_FILE).is_file() and not (folder / SYNTH_MARKER).exists()


def find_pairs(root: Path, folders: dict[str, Path], problems: list[Problem], digest) -> dict[str, list[Pair]]:
    """The pairs of each split folder (``detect_layout(root)``) of the dataset at ``root``, decoding nothing.

    Every file skipped is appended to ``problems``; names, sizes and modification
    times go into ``digest`` (a hashlib object: the dataset's fingerprint).
    """
    splits: dict[str, list[Pair]] = {"train": [], "val": []}
    for split, folder in folders.items():
        image_dir, mask_dir = _find_dir(folder, _IMAGE_DIRS), _find_dir(folder, _MASK_DIRS)
        if image_dir is None or mask_dir is None:
            missing = "Images" if image_dir is None else "Category_ids"
            problems.append(Problem(relative_path(folder / missing, root), "missing-folder",
                                    f"{folder.name}/{missing} is missing; the {split} split is empty."))
            continue
        splits[split] = _pair_folder(image_dir, mask_dir, _find_dir(folder, _HUMAN_DIRS), root, problems, digest)
    return splits


# ---------------------------------------------------------------------------
# dataset folders under the data roots (the dashboard's list)
# ---------------------------------------------------------------------------

def find_datasets(roots: Iterable[str | os.PathLike] | None = None) -> dict[str, Path]:
    """Dataset folders (``detect_layout``) up to two levels below each data root, by ``dataset_key``.

    ``roots`` defaults to ``settings.data_roots()``. A folder inside a dataset
    found already (its ``Training`` split) is not listed again, and a symlink
    that leads outside every data root is never listed.
    """
    found: dict[str, Path] = {}
    for root in (settings.data_roots() if roots is None else [Path(r) for r in roots]):
        candidates = [root]
        with contextlib.suppress(OSError):
            for child in sorted(root.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    candidates.append(child)
                    with contextlib.suppress(OSError):
                        candidates.extend(sorted(g for g in child.iterdir()
                                                 if g.is_dir() and not g.name.startswith(".")))
        for folder in candidates:
            with contextlib.suppress(OSError, RuntimeError):
                resolved = folder.resolve()
                if settings.data_root_of(resolved) is None:
                    continue
                if any(path in resolved.parents for path in found.values()):
                    continue
                if detect_layout(folder) is not None:
                    found.setdefault(dataset_key(resolved), resolved)
    return found


def dataset_key(folder: Path) -> str:
    """A short, path-free name for a (resolved) dataset folder: relative to the first data root,
    or prefixed with the name of its other data root. Unicode NFC (``normal_name``): a folder
    saved with decomposed accents (macOS) is named as it is typed, in a link too."""
    root = settings.data_root_of(folder)
    if root is None:
        return normal_name(folder.name)
    relative = folder.relative_to(root).as_posix()
    relative = relative if relative != "." else root.name
    return normal_name(relative if root == settings.data_roots()[0] else f"{root.name}/{relative}")


def normal_name(text: str) -> str:
    """``text`` in Unicode NFC: "é" as one character, however the file system or the keyboard wrote it.
    Names are compared in this form (dataset names, file stems for pairing, run names); paths on disk
    stay as they are."""
    return unicodedata.normalize("NFC", text)


# ---------------------------------------------------------------------------
# listing and pairing the files of one split
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
        problems.append(Problem(relative_path(folder, root), "unreadable",
                                f"Cannot list {folder.name}: {error.strerror}."))
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
            problems.append(Problem(relative_path(Path(entry.path), root), "unreadable", f"{name} cannot be read."))
            continue
        if not entry.is_file():
            continue
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        path = Path(entry.path)
        if info.st_size == 0:
            problems.append(Problem(relative_path(path, root), "empty-file",
                                    f"{name} is empty (0 bytes); its pair is skipped."))
            continue
        stem = normal_name(os.path.splitext(name)[0])  # "café.jpg" pairs with "café.png" however each was saved
        if stem in by_stem:
            problems.append(Problem(relative_path(path, root), "duplicate",
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
        problems.append(Problem(relative_path(lossy[stem], root), "lossy-mask",
                                f"{name} is not used: masks must be PNG (one class id per pixel). JPEG is lossy "
                                f"and changes the ids along every edge; re-export it as {stem}.png from the "
                                "original label ids (not by converting this JPEG). Its pair is skipped."))
    if not images:
        where = relative_path(image_dir, root)
        problems.append(Problem(where, "empty-folder", f"{where} holds no images."))
    elif not masks and not lossy:
        where = relative_path(mask_dir, root)
        problems.append(Problem(where, "empty-folder", f"{where} holds no masks."))
    # A stem that only exists because its partner was an empty/duplicate/JPEG file
    # is reported once (as that file), not again as unpaired.
    already = {Path(p.path).stem for p in problems if p.kind in ("empty-file", "duplicate", "lossy-mask")}
    pairs = []
    for stem in sorted(images):
        if stem in masks:
            pairs.append(Pair(stem, images[stem], masks[stem], humans.get(stem)))
        elif stem not in already:
            problems.append(Problem(relative_path(images[stem], root), "unpaired-image",
                                    f"{images[stem].name} has no mask named {stem}.png in "
                                    f"{relative_path(mask_dir, root)}; skipped."))
    for stem in sorted(set(masks) - set(images)):
        if stem not in already:
            problems.append(Problem(relative_path(masks[stem], root), "unpaired-mask",
                                    f"{masks[stem].name} has no image named {stem}.* in "
                                    f"{relative_path(image_dir, root)}; skipped."))
    return pairs


def relative_path(path: str | os.PathLike, root: Path) -> str:
    """``path`` relative to the dataset ``root`` (the root itself: its name; outside it: the file name)."""
    try:
        rel = Path(path).relative_to(root)
        return str(rel) if str(rel) != "." else root.name
    except ValueError:
        return Path(path).name
