"""The images a run trains and validates on: its dataset's splits, limited by the config.

A dataset without a validation split gives ``HOLDOUT_FRACTION`` of its training
images to validation (a fixed, seeded choice). A validation split whose masks
label no pixel is refused before TensorFlow starts: it would measure nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seglib import settings
from seglib.classes import IGNORE_LABEL
from seglib.config import RunConfig
from seglib.errors import DatasetError, SeglibError

#: Share of the training images held out when a dataset has no validation split.
HOLDOUT_FRACTION = 0.1


def dataset_root(root: str) -> Path:
    """A config's ``data.root``: relative paths are under ``settings.data_dir()``."""
    path = Path(root).expanduser()
    return path if path.is_absolute() else settings.data_dir() / path


def split_pairs(config: RunConfig) -> tuple[list, list, str]:
    """``(training pairs, validation pairs, note)`` from the dataset folder of ``config``, limited by it."""
    from seglib.data.dataset import open_dataset

    root = dataset_root(config.data.root)
    # The usable pairs (every file checked, the result shared with the dashboard's through the cache):
    # the count the pages and `data check` show, and no refused mask reaches training.
    dataset = open_dataset(root, num_classes=config.model.num_classes, deep=True, use_cache=True)
    train_pairs = list(dataset.split("train"))
    val_pairs = list(dataset.split("val")) if "val" in dataset.splits else []
    emptied = [p for p in dataset.problems if p.kind == "empty-split" and p.message.startswith("The val split")]
    if emptied and not val_pairs:  # a Validation folder whose every mask was refused: never replaced silently
        raise DatasetError(f"The validation split has no labelled pixel: every one of its masks was refused when "
                           f"read. {emptied[0].message}")
    notes = []
    if not val_pairs:
        if len(train_pairs) < 2:
            raise DatasetError(f"The dataset {settings.display_path(root)} has {len(train_pairs)} "
                               "training image(s) and no validation split; at least 2 are needed.")
        rng = np.random.default_rng(config.data.seed)
        order = rng.permutation(len(train_pairs))
        held = max(1, int(round(len(train_pairs) * HOLDOUT_FRACTION)))
        val_pairs = [train_pairs[i] for i in sorted(order[:held])]
        train_pairs = [train_pairs[i] for i in sorted(order[held:])]
        notes.append(f"No validation split: {held} training images held out for validation.")
    if config.data.train_count:
        if config.data.train_count > len(train_pairs):
            notes.append(f"Asked for {config.data.train_count} training images; the dataset has "
                         f"{len(train_pairs)}.")
        train_pairs = train_pairs[:config.data.train_count]
    if config.data.val_count:
        val_pairs = val_pairs[:config.data.val_count]
    if not train_pairs:
        raise DatasetError(f"The dataset {settings.display_path(root)} has no training images.")
    require_labelled(val_pairs, config.model.num_classes, held_out=not dataset.split("val"))
    return train_pairs, val_pairs, " ".join(notes)


def require_labelled(val_pairs, num_classes: int, held_out: bool) -> None:
    """DatasetError unless a validation mask has a labelled pixel (reads masks until the first one).

    Without one, validation loss, accuracy and IoU are undefined: the run would
    train for hours and measure nothing. A normal dataset costs one mask read.
    """
    from seglib.data.masks import read_mask

    first_problem = ""
    for pair in val_pairs:
        try:
            mask = read_mask(pair.mask, num_classes)
        except SeglibError as error:
            first_problem = first_problem or str(error)
            continue
        if np.any(mask != IGNORE_LABEL):
            return
    what = (f"the {len(val_pairs)} training images held out for it (the dataset has no Validation split)"
            if held_out else f"its {len(val_pairs)} masks")
    fix = (f"Label the masks with class ids 0..{num_classes - 1}." if held_out else
           f"Label the validation masks with class ids 0..{num_classes - 1}, or remove the Validation folder "
           "so that part of the training images is held out for validation instead.")
    example = f" The first mask: {first_problem}" if first_problem else ""
    raise DatasetError(f"The validation split has no labelled pixel: in {what}, every pixel is the ignore label "
                       f"{IGNORE_LABEL} or the mask is refused, so validation loss, accuracy and IoU would be "
                       f"undefined.{example} {fix}")
