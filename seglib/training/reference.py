"""Recorded reference runs, shipped so the Training page shows what the course's optimizer changes do on
a fresh install.

The lab changes the Keras example's optimizer (Adam at a constant 1e-3, no weight decay) to AdamW with a
lower, exponentially decaying learning rate, because, its handout says, the example's curves are erratic
and over-fit. A fresh install has no runs, so that claim would wait for an hour of training. ``python -m
seglib reference-runs`` trains three runs once, with the real training worker, on the same model (the
``lecture`` preset, its backbone trained from the first step, plain cross-entropy) and the same data
(``TRAIN_IMAGES`` images of the synthetic default, ``EPOCHS`` epochs, the same seeds), each one change
from the one before, and records them in ``assets/reference_runs/``:

``reference-keras-example-optimizer``
    (a) Adam, learning rate 1e-3, constant, no weight decay (the Keras example's).
``reference-lower-decaying-rate``
    (b) Adam, learning rate 5e-4, x 0.9 every 100 steps (``LOWER_DECAYING_RATE``).
``reference-weight-decay``
    (c) (b) with AdamW's decoupled weight decay at ``CHOSEN_WEIGHT_DECAY``.
``reference-keras-example-optimizer-seed-1``, ``reference-lower-decaying-rate-seed-1``
    (a′), (b′): (a) and (b) again with another seed and nothing else changed, so the page can say how far
    two runs with the same settings end apart.

Keras's AdamW shrinks each kernel by learning rate x weight decay per step, so the presets' old 1e-4 at
these rates (5e-8 per step) could not act. ``CHOSEN_WEIGHT_DECAY`` was picked by a measured sweep over
``WEIGHT_DECAY_SWEEP`` (``python -m seglib reference-runs --sweep --out DIR`` trains it and prints the
table: weight norm, losses, gap, validation mean IoU; every history records the kernels' L2 norm).
What the runs show is read from their files by ``seglib.training.diagnosis``, so the page's sentences
follow a re-recording.

``seglib.training.demo`` records the demo model's own run the same way
(``reference-demo-model``). A recorded run keeps what the pages read (config,
name, final progress, history, steps, IoU per class, previews) and nothing of
the machine that made it (no checkpoints, log, process ids or paths).
``seglib.training.runs.state.list_runs`` lists these runs with the machine's own; stopping,
resuming, renaming or deleting one is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.config import RunConfig
from seglib.presets import get_preset
from seglib.errors import RunError
from seglib.training.runs import files, folders, readers, writers

#: Training images of the optimizer runs: few, so that over-fitting could show within EPOCHS.
TRAIN_IMAGES = 300
EPOCHS = 20
#: The lower, decaying learning rate of runs (b) and (c): half the example's 1e-3, x 0.9 every 100 steps.
LOWER_DECAYING_RATE: dict[str, Any] = {"train.learning_rate": 5e-4, "train.decay_steps": 100,
                                       "train.decay_rate": 0.9}
#: Weight decays of the measured sweep (``python -m seglib reference-runs --sweep``): a decade range that can
#: act under Keras's decoupled rule (each step shrinks a kernel by learning rate x weight decay).
WEIGHT_DECAY_SWEEP = (1e-4, 1e-2, 1e-1, 3e-1, 1.0)
#: The weight decay of run (c), chosen from the sweep (`python -m seglib reference-runs --sweep` prints its table;
#: 20 epochs of 38 steps on 2 CPU cores). No value moved the validation mean IoU (0.228-0.234) or the last
#: train-validation gap (0.168-0.177) beyond the runs' epoch-to-epoch noise; the kernels' norm ended at 63.95
#: (1e-4, as without decay), 63.78 (1e-2), 62.31 (0.1), 59.16 (0.3) and 49.36 (1). The largest value, 1, is
#: the one whose effect on the weights shows, at no measurable cost (the config allows at most 1).
CHOSEN_WEIGHT_DECAY = 1.0
#: The three optimizer runs, each one change from the one before, as overrides of the lecture preset
#: (same model, same data, same seeds): (a) the Keras example's optimizer, (b) a lower, decaying learning
#: rate, (c) (b) plus AdamW's weight decay.
OPTIMIZER_RUNS: dict[str, dict[str, Any]] = {
    "keras-example-optimizer": {
        "name": "(a) Keras example's optimizer: Adam 1e-3, constant",
        "overrides": {"train.optimizer": "adam", "train.learning_rate": 1e-3, "train.decay_rate": 1.0,
                      "train.weight_decay": 0.0},
    },
    "lower-decaying-rate": {
        "name": "(b) Adam 5e-4, decaying",
        "overrides": {"train.optimizer": "adam", **LOWER_DECAYING_RATE, "train.weight_decay": 0.0},
    },
    "weight-decay": {
        "name": f"(c) AdamW 5e-4, decaying, weight decay {CHOSEN_WEIGHT_DECAY:g}",
        "overrides": {"train.optimizer": "adamw", **LOWER_DECAYING_RATE,
                      "train.weight_decay": CHOSEN_WEIGHT_DECAY},
    },
}
#: What a recorded progress.json keeps (nothing about the machine's processes).
_PROGRESS_FIELDS = ("status", "phase", "epoch", "epochs", "step", "steps_per_epoch", "message", "start",
                    "startup_seconds", "measured_images_per_second", "best_val_mean_iou", "train_images",
                    "val_images", "global_batch_size", "replicas", "created_at", "queued_at", "started_at",
                    "first_batch_at", "finished_at", "startup_steps")
#: Files copied from a run folder (checkpoints and the log stay behind).
_FILES = (files.CONFIG_FILE, files.HISTORY_FILE, files.STEPS_FILE, files.CLASS_IOU_FILE)


#: Runs (a) and (b) again with another seed (the head's first weights, the order of the batches) and nothing
#: else changed: how far two runs with the same settings end apart, the noise any comparison must beat.
REPEAT_SEED = 1
REPEAT_RUNS: dict[str, dict[str, Any]] = {
    f"{key}-seed-{REPEAT_SEED}": {
        "name": f"({label}′) ({label}) again with seed {REPEAT_SEED}", "repeats": key,
        "overrides": {**OPTIMIZER_RUNS[key]["overrides"], "train.seed": REPEAT_SEED},
    } for key, label in (("keras-example-optimizer", "a"), ("lower-decaying-rate", "b"))
}
#: Every shipped optimizer run: the three changes, then the repeats.
SHIPPED_RUNS = {**OPTIMIZER_RUNS, **REPEAT_RUNS}


def optimizer_config(key: str, epochs: int = EPOCHS, train_images: int = TRAIN_IMAGES,
                     weight_decay: float | None = None) -> RunConfig:
    """The config of one of the optimizer runs (``SHIPPED_RUNS`` keys); ``weight_decay`` replaces run (c)'s
    (the sweep's runs)."""
    overrides = {**SHIPPED_RUNS[key]["overrides"], "train.epochs": epochs, "data.train_count": train_images,
                 "data.root": "synthetic", "train.freeze_backbone_epochs": 0, "train.loss": "cross-entropy"}
    if weight_decay is not None:
        overrides["train.weight_decay"] = weight_decay
    return get_preset("lecture").with_overrides(overrides)


def sweep_key(weight_decay: float) -> str:
    """The run key of the sweep's run at ``weight_decay``: ``"weight-decay-0.1"``."""
    return f"weight-decay-{weight_decay:g}"


#: The key of the demo model's own recorded run (``reference-demo-model``): what a fresh install shows first.
DEMO_RUN_KEY = "demo-model"


def record(folder: str | Path, key: str, name: str, note: str = "", out: str | Path | None = None) -> Path:
    """Copy the finished run in ``folder`` to ``<out>/reference-<key>/`` as a read-only reference run."""
    folder = Path(folder)
    progress = readers.read_progress(folder)[0] or {}
    if progress.get("status") != "finished":
        raise RunError(f"Only a finished run can be recorded; {folder.name} is {progress.get('status')!r}.")
    target = Path(out or folders.REFERENCE_DIR) / f"{folders.REFERENCE_PREFIX}{key}"
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file_name in _FILES:
        if (folder / file_name).exists():
            shutil.copy2(folder / file_name, staging / file_name)
    if (folder / files.PREVIEWS_DIR).is_dir():
        shutil.copytree(folder / files.PREVIEWS_DIR, staging / files.PREVIEWS_DIR)
    meta = readers.read_meta(folder)[0]
    writers.write_meta(staging, {"name": name, "preset": meta["preset"], "created_at": meta["created_at"],
                                 "reference": True, "note": note})
    writers.write_progress(staging, {field: progress[field] for field in _PROGRESS_FIELDS if field in progress},
                           replace=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def train_and_record(runs: list[tuple[str, str, RunConfig]], note: str, out: str | Path | None = None,
                     quiet: bool = False) -> list[Path]:
    """Train each ``(key, name, config)`` with the training worker, one after the other, and record it."""
    recorded = []
    with tempfile.TemporaryDirectory(prefix="seglib-reference-") as temporary:
        for key, name, config in runs:
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
            recorded.append(record(folder, key, name, note, out))
    return recorded


def record_optimizer_runs(epochs: int = EPOCHS, train_images: int = TRAIN_IMAGES, out: str | Path | None = None,
                          quiet: bool = False) -> list[Path]:
    """Train the optimizer runs (a), (b), (c) and the repeats (a′), (b′), and record them
    (``python -m seglib reference-runs``)."""
    runs = [(key, spec["name"], optimizer_config(key, epochs, train_images)) for key, spec in SHIPPED_RUNS.items()]
    return train_and_record(runs, reference_note(train_images, epochs), out, quiet)


def reference_note(train_images: int = TRAIN_IMAGES, epochs: int = EPOCHS) -> str:
    """What a shipped optimizer run's card says about how it was made."""
    return (f"One of the optimizer runs of the same model on the same images ({train_images} training images of "
            f"the synthetic default, {epochs} epochs): (a), (b) and (c) one change apart with the same seeds, "
            f"(a′) and (b′) the same as (a) and (b) with seed {REPEAT_SEED}; recorded by "
            "`python -m seglib reference-runs`.")


def record_weight_decay_sweep(weight_decays: tuple[float, ...] = WEIGHT_DECAY_SWEEP, epochs: int = EPOCHS,
                              train_images: int = TRAIN_IMAGES, out: str | Path | None = None,
                              quiet: bool = False) -> list[Path]:
    """Train run (c) at each weight decay of the sweep and record each as ``reference-weight-decay-<wd>``
    in ``out`` (``python -m seglib reference-runs --sweep --out DIR``; not shipped)."""
    note = (f"Weight-decay sweep: run (c) ({train_images} training images, {epochs} epochs) at one weight decay; "
            "recorded by `python -m seglib reference-runs --sweep`.")
    runs = [(sweep_key(value), f"AdamW 5e-4, decaying, weight decay {value:g}",
             optimizer_config("weight-decay", epochs, train_images, weight_decay=value)) for value in weight_decays]
    return train_and_record(runs, note, out, quiet)
