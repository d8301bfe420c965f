"""The preview strip of a run: a few fixed validation images and their predicted masks after each epoch.

The worker writes ``previews/inputs.npz`` once (the images, their ground truth
and stems) and ``previews/epoch_NNN.npz`` (the predicted masks) after each
epoch's validation, so the room can watch the masks improve; the pages read
them back, validated (``load_previews``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.io import atomic_write
from seglib.training.runs import files
from seglib.training.runs.readers import FileProblem, damaged, size_text

#: Number of fixed validation images in the preview strip.
PREVIEW_COUNT = 4


def write_preview_inputs(folder: Path, val_pairs, size: int, num_classes: int) -> np.ndarray | None:
    """Write the fixed preview images + ground truth of the run in ``folder`` once; return the images."""
    from seglib.data.dataset import load_pair

    pairs = list(val_pairs[:PREVIEW_COUNT])
    if not pairs:
        return None
    loaded = [load_pair(pair, size=size, num_classes=num_classes) for pair in pairs]
    images = np.stack([image for image, _ in loaded]).astype(np.uint8)
    truth = np.stack([mask for _, mask in loaded]).astype(np.uint8)
    previews = folder / files.PREVIEWS_DIR
    previews.mkdir(exist_ok=True)
    _save_npz(previews / files.PREVIEW_INPUTS, images=images, truth=truth,
              stems=np.array([pair.stem for pair in pairs]))
    return images


def write_epoch_preview(folder: Path, epoch: int, images: np.ndarray | None, eval_function: Callable) -> None:
    """Predict the preview images with ``eval_function`` and write ``epoch_NNN.npz`` (nothing without images)."""
    if images is None:
        return
    dummy = np.zeros(images.shape[:3], dtype=np.int32)
    predicted, _, _ = eval_function(images.astype(np.float32), dummy)
    _save_npz(folder / files.PREVIEWS_DIR / f"epoch_{epoch:03d}.npz", masks=predicted.numpy().astype(np.uint8))


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)


def load_previews(run_folder: Path) -> dict[str, Any] | None:
    """The preview strip of the run in ``run_folder``, or None before the worker wrote it.

    Returns ``{"stems": [...], "images": uint8 (K,H,W,3), "truth": uint8 (K,H,W),
    "epochs": [1, 2, ...], "predictions": {epoch: uint8 (K,H,W)}, "skipped": n}``:
    an epoch file that is unreadable or whose masks do not match the inputs
    is skipped and counted; ``DamagedRunError`` when ``inputs.npz`` is unusable.
    """
    folder = run_folder / files.PREVIEWS_DIR
    path = folder / files.PREVIEW_INPUTS
    try:
        inputs = _load_npz(path)
    except FileProblem as problem:
        raise damaged(path, str(problem)) from None
    if inputs is None:
        return None
    images, truth = inputs.get("images"), inputs.get("truth")
    if images is None or truth is None:
        missing = "images" if images is None else "truth"
        raise damaged(path, f"it has no {missing!r} array")
    if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or not images.shape[0]
            or truth.dtype != np.uint8 or truth.shape != images.shape[:3] or not _valid_ids(truth)):
        raise damaged(path, f"its arrays do not hold images (K, H, W, 3) and ground-truth masks "
                            f"(K, H, W) of class ids (images {images.dtype} {images.shape}, truth "
                            f"{truth.dtype} {truth.shape})")
    count = images.shape[0]
    stems = inputs.get("stems")
    if stems is not None and stems.ndim == 1 and len(stems) == count and stems.dtype.kind == "U":
        stems = [str(stem)[:200] for stem in stems]
    else:
        stems = [f"image {index + 1}" for index in range(count)]
    predictions: dict[int, np.ndarray] = {}
    skipped = 0
    for epoch_path in sorted(folder.glob("epoch_*.npz")):
        match = re.fullmatch(r"epoch_(\d{1,9})\.npz", epoch_path.name)
        epoch = int(match.group(1)) if match else 0
        try:
            data = _load_npz(epoch_path) if 1 <= epoch <= files.MAX_EPOCHS else None
        except FileProblem:
            data = None
        masks = None if data is None else data.get("masks")
        if (masks is None or masks.shape != truth.shape or masks.dtype.kind not in "ui"
                or not _valid_ids(masks)):
            skipped += 1
            continue
        predictions[epoch] = masks.astype(np.uint8, copy=False)
    return {"stems": stems, "images": images, "truth": truth, "epochs": sorted(predictions),
            "predictions": predictions, "skipped": skipped}


def _valid_ids(masks: np.ndarray) -> bool:
    """True when ``masks`` holds only class ids and the ignore label."""
    if masks.dtype.kind not in "ui":
        return False
    values = np.unique(masks)
    return bool(np.all((values < len(CLASS_NAMES)) | (values == IGNORE_LABEL)))


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an ``.npz`` (None when it does not exist); ``FileProblem`` when unusable.

    Bounded: the file and the sum of its arrays' uncompressed sizes must stay
    under ``files.MAX_NPZ_BYTES``; no pickled objects are loaded.
    """
    try:
        if path.stat().st_size > files.MAX_NPZ_BYTES:
            raise FileProblem(f"too large: {size_text(path.stat().st_size)}")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise FileProblem(f"cannot be read: {error.strerror or error}") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "zip"):
                raise FileProblem("not an .npz archive")
            unpacked = sum(info.file_size for info in data.zip.infolist())
            if unpacked > files.MAX_NPZ_BYTES:
                raise FileProblem(f"too large once unpacked: {size_text(unpacked)}")
            return {key: data[key] for key in data.files}
    except FileProblem:
        raise
    except Exception as error:  # noqa: BLE001 - zipfile.BadZipFile, ValueError, EOFError, ...: all damage
        raise FileProblem(f"not a readable .npz archive ({type(error).__name__})") from None
