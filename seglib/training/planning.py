"""Planning a run before pressing Start: its learning-rate curve, steps per epoch and expected wall time.

The time estimate uses the training throughput that earlier runs on this
machine measured (``measured_images_per_second`` in their ``progress.json``),
else a default for a 2-core CPU.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from seglib import settings
from seglib.config import RunConfig
from seglib.errors import ConfigError, RunError
from seglib.training.runs import folders, readers

#: Fallback throughput (training images/s) when no earlier run on this machine
#: says better: measured for the lecture preset on 2 CPU cores, and a
#: conservative CPU figure for ResNet50 at 512 px. Scaled by pixel count.
_DEFAULT_THROUGHPUT = {"mobilenetv2": (128, 50.0), "resnet50": (512, 0.5)}
#: Graph tracing + first batch, seconds, before any measurement exists.
_DEFAULT_STARTUP_SECONDS = {"mobilenetv2": 20.0, "resnet50": 90.0}


def lr_schedule(config: RunConfig, steps: int | None = None) -> np.ndarray:
    """The learning rate at every optimizer step, as the worker will apply it.

    ``lr(step) = learning_rate * decay_rate ** (step / decay_steps)`` (Keras
    ``ExponentialDecay``, not staircase); ``decay_rate`` 1.0 is constant.
    ``steps`` defaults to all steps of the run (epochs x steps per epoch).
    """
    train = config.train
    if steps is None:
        steps = config.train.epochs * steps_per_epoch(config)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ConfigError(f"steps must be a non-negative integer. Received: steps={steps!r}")
    step = np.arange(int(steps), dtype=np.float64)
    return train.learning_rate * np.power(train.decay_rate, step / train.decay_steps)


def weight_decay_factor(config: RunConfig, steps: int | None = None) -> float:
    """How much AdamW's weight decay alone would shrink a kernel over the run's planned steps.

    Keras's AdamW decays decoupled: each step multiplies a kernel by ``1 - learning_rate x weight_decay``
    (the learning rate of that step), apart from the gradient's update. Over the run that is the product
    of those factors (1.0 for Adam, which has no weight decay). ``steps`` as ``lr_schedule``.
    """
    if config.train.optimizer != "adamw" or not config.train.weight_decay:
        return 1.0
    factors = 1.0 - lr_schedule(config, steps) * config.train.weight_decay
    return float(np.prod(np.clip(factors, 0.0, None)))


#: Keras's AdamW rule in one sentence (the start form and the Home page say it).
DECOUPLED_RULE = ("Keras's AdamW decays decoupled: each step multiplies every trainable kernel (not the biases or "
                  "BatchNorm's scales) by 1 − learning rate × weight decay, whatever the gradient says.")


def weight_decay_sentence(config: RunConfig, steps: int | None = None) -> str:
    """What the weight decay of ``config`` can do over its planned steps, in a sentence with the numbers."""
    train = config.train
    if train.optimizer != "adamw":
        return train.optimizer_text() + "."
    if not train.weight_decay:
        return "AdamW with weight decay 0: the same steps as Adam."
    steps = config.train.epochs * steps_per_epoch(config) if steps is None else steps
    schedule = lr_schedule(config, steps)
    factor = weight_decay_factor(config, steps)
    first = train.learning_rate * train.weight_decay
    return (f"Weight decay {train.weight_decay:g}: the first step shrinks each trainable kernel by {first:.2g} "
            f"of itself (learning rate × weight decay); over the {len(schedule):,} planned steps the decay alone would "
            f"leave {_share(factor)} of it.")


def _share(factor: float) -> str:
    """``0.974`` as "97.4 %", and a factor within 0.05 % of 1 as "99.97 %" (enough digits to differ from 100 %)."""
    for digits in (1, 2, 3, 4):
        text = f"{100 * factor:.{digits}f} %"
        if float(text[:-2]) != 100.0 or digits == 4:
            return text
    return f"{100 * factor:.4f} %"


def steps_per_epoch(config: RunConfig, train_images: int | None = None) -> int:
    """Optimizer steps in one epoch (the last, smaller batch counts as a step)."""
    if train_images is None:
        train_images = _count_images(config)[0]
    return max(1, math.ceil(train_images / config.train.batch_size))


def estimate_seconds(config: RunConfig, *, train_images: int | None = None,
                     val_images: int | None = None) -> float:
    """Expected wall time of a run before pressing Start.

    Uses the training throughput measured by earlier runs on this machine with
    the same backbone (scaled by pixel count), else a default for a 2-core CPU.
    """
    counted_train, counted_val = _count_images(config)
    train_images = counted_train if train_images is None else train_images
    val_images = counted_val if val_images is None else val_images
    images_per_second, startup, _ = throughput_basis(config)
    per_epoch = train_images / images_per_second + val_images / (3.0 * images_per_second)
    return float(startup + config.train.epochs * per_epoch)


def throughput_basis(config: RunConfig) -> tuple[float, float, str]:
    """``(training images/s, start-up seconds, where the figure comes from)`` for ``config``."""
    model = config.model
    best: tuple[int, float, float, str] | None = None
    for folder in folders.run_folders():
        progress = readers.read_progress(folder)[0] or {}
        measured = progress.get("measured_images_per_second")
        if not measured:
            continue
        try:
            other_config = readers.read_config(folder)
        except RunError:  # a damaged config.json, or one of a newer version
            continue
        other = other_config.model
        if other.backbone != model.backbone:
            continue
        score = sum([other.width == model.width, other.image_size == model.image_size,
                     other.aspp_filters == model.aspp_filters,
                     other.decoder_filters == model.decoder_filters,
                     other_config.train.batch_size == config.train.batch_size])
        scaled = float(measured) * (other.image_size / model.image_size) ** 2
        startup = float(progress.get("startup_seconds") or _DEFAULT_STARTUP_SECONDS[model.backbone])
        candidate = (score, float(progress.get("updated_at") or 0), scaled, startup)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is not None:
        return best[2], best[3], "measured by an earlier run on this machine"
    size, reference = _DEFAULT_THROUGHPUT[model.backbone]
    return (reference * (size / model.image_size) ** 2, _DEFAULT_STARTUP_SECONDS[model.backbone],
            "a default for a 2-core CPU (no earlier run to measure from)")


def _count_images(config: RunConfig) -> tuple[int, int]:
    """Train / val image counts without opening the dataset (file listing only)."""
    try:
        root = settings.check_data_path(config.data.root)
    except Exception:  # noqa: BLE001 - an estimate must not fail on a bad path
        root = None
    train = val = 0
    if root is not None and root.is_dir():
        train = _count_files(root, ("Training/Images", "images", "train/images"))
        val = _count_files(root, ("Validation/Images", "val/images"))
    train = train or 1000
    if config.data.train_count:
        train = min(train, config.data.train_count) if train else config.data.train_count
    if config.data.val_count:
        val = min(val, config.data.val_count) if val else config.data.val_count
    return train, val


def _count_files(root: Path, candidates: tuple[str, ...]) -> int:
    for relative in candidates:
        folder = root / relative
        if folder.is_dir():
            with contextlib.suppress(OSError):
                return sum(1 for p in folder.iterdir()
                           if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    return 0

