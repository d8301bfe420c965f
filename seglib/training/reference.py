"""Recorded reference runs, shipped so the Training page shows the course's point on a fresh install.

The lab changes the Keras example's optimizer: Adam at a constant 1e-3 with no
weight decay gives erratic validation curves and over-fits; the course uses
AdamW (decoupled weight decay) with a lower, exponentially decaying rate. A
fresh install has no runs, so the comparison would wait for an hour of
training. ``python -m seglib reference-runs`` trains the two once, with the
real training worker, on the same model (the ``lecture`` preset) and the same
data (``TRAIN_IMAGES`` images of the synthetic default, few enough for
over-fitting to show within ``EPOCHS`` epochs), and records them in
``assets/reference_runs/``:

``reference-keras-example-optimizer``
    Adam, learning rate 1e-3, constant, no weight decay (the Keras example's).
``reference-course-optimizer``
    AdamW, weight decay 1e-4, learning rate 5e-4 (the ``course`` preset's),
    decaying by 0.9 every 100 steps.

``seglib.training.demo`` records the demo model's own run the same way
(``reference-demo-model``). A recorded run keeps what the pages read (config,
name, final progress, history, steps, IoU per class, previews) and nothing of
the machine that made it (no checkpoints, log, process ids or paths).
``seglib.training.runfolder`` lists these runs with the machine's own; stopping,
resuming, renaming or deleting one is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seglib.training import runfiles, runfolder

from seglib import settings
from seglib.config import RunConfig, get_preset
from seglib.errors import RunError
from seglib.io import atomic_write_json, read_json

#: Training images of the two optimizer runs: few, so the over-fitting shows within EPOCHS.
TRAIN_IMAGES = 300
EPOCHS = 20
#: The two optimizers the course compares, as overrides of the lecture preset (same model, same data).
OPTIMIZER_RUNS: dict[str, dict[str, Any]] = {
    "keras-example-optimizer": {
        "name": "Keras example's optimizer: Adam 1e-3, constant, no weight decay",
        "overrides": {"train.optimizer": "adam", "train.learning_rate": 1e-3, "train.decay_rate": 1.0,
                      "train.weight_decay": 0.0},
    },
    "course-optimizer": {
        "name": "Course's optimizer: AdamW, weight decay 1e-4, 5e-4 decaying",
        "overrides": {"train.optimizer": "adamw", "train.learning_rate": 5e-4, "train.decay_steps": 100,
                      "train.decay_rate": 0.9, "train.weight_decay": 1e-4},
    },
}
#: What a recorded progress.json keeps (nothing about the machine's processes).
_PROGRESS_FIELDS = ("status", "phase", "epoch", "epochs", "step", "steps_per_epoch", "message", "start",
                    "startup_seconds", "measured_images_per_second", "best_val_mean_iou", "train_images",
                    "val_images", "global_batch_size", "replicas", "created_at", "queued_at", "started_at",
                    "first_batch_at", "finished_at", "startup_steps")
#: Files copied from a run folder (checkpoints and the log stay behind).
_FILES = (runfiles.CONFIG_FILE, runfiles.HISTORY_FILE, runfiles.STEPS_FILE, runfiles.CLASS_IOU_FILE)


def optimizer_config(key: str, epochs: int = EPOCHS, train_images: int = TRAIN_IMAGES) -> RunConfig:
    """The config of one of the two optimizer runs (``OPTIMIZER_RUNS`` keys)."""
    overrides = {**OPTIMIZER_RUNS[key]["overrides"], "train.epochs": epochs, "data.train_count": train_images,
                 "data.root": "synthetic", "train.freeze_backbone_epochs": 0, "train.loss": "cross-entropy"}
    return get_preset("lecture").with_overrides(overrides)


def record(folder: str | Path, key: str, name: str, note: str = "", out: str | Path | None = None) -> Path:
    """Copy the finished run in ``folder`` to ``<out>/reference-<key>/`` as a read-only reference run."""
    folder = Path(folder)
    progress = read_json(folder / runfiles.PROGRESS_FILE, default={}) or {}
    if progress.get("status") != "finished":
        raise RunError(f"Only a finished run can be recorded; {folder.name} is {progress.get('status')!r}.")
    target = Path(out or runfolder.REFERENCE_DIR) / f"{runfolder.REFERENCE_PREFIX}{key}"
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file_name in _FILES:
        if (folder / file_name).exists():
            shutil.copy2(folder / file_name, staging / file_name)
    if (folder / runfiles.PREVIEWS_DIR).is_dir():
        shutil.copytree(folder / runfiles.PREVIEWS_DIR, staging / runfiles.PREVIEWS_DIR)
    meta = read_json(folder / runfiles.META_FILE, default={}) or {}
    atomic_write_json(staging / runfiles.META_FILE, {"name": name, "preset": meta.get("preset", ""),
                                                     "created_at": meta.get("created_at", time.time()),
                                                     "reference": True, "note": note})
    atomic_write_json(staging / runfiles.PROGRESS_FILE,
                      {field: progress[field] for field in _PROGRESS_FIELDS if field in progress})
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def record_optimizer_runs(epochs: int = EPOCHS, train_images: int = TRAIN_IMAGES, out: str | Path | None = None,
                          quiet: bool = False) -> list[Path]:
    """Train the two optimizer runs with the training worker, one after the other, and record them."""
    recorded = []
    with tempfile.TemporaryDirectory(prefix="seglib-reference-") as temporary:
        for key, spec in OPTIMIZER_RUNS.items():
            config = optimizer_config(key, epochs, train_images)
            config_file = Path(temporary) / f"{key}.json"
            config.save(config_file)
            folder = Path(temporary) / key
            command = [sys.executable, "-m", "seglib", "train", "--config", str(config_file),
                       "--data", str(settings.default_dataset_dir()), "--run-dir", str(folder), "--name", key]
            if not quiet:
                print(f"training {key}: {config.summary()}", flush=True)
            result = subprocess.run(command, cwd=settings.PROJECT_ROOT,
                                    stdout=subprocess.DEVNULL if quiet else None)
            if result.returncode != 0:
                raise RunError(f"The reference run {key} did not finish (exit {result.returncode}).")
            note = (f"Same model and data as the other optimizer run ({train_images} training images of the "
                    f"synthetic default, {epochs} epochs); recorded by `python -m seglib reference-runs`.")
            recorded.append(record(folder, key, spec["name"], note, out))
    return recorded

