"""Pretraining a CPU preset's backbone on the generator's own images (in-domain pretraining).

The Keras example starts its ResNet50 from ImageNet weights: transfer learning,
from photos of everyday objects to people. Nothing can be downloaded here, so
the project pretrains its own backbones on a task that is *not* the lab's,
**image-level labels**, of images drawn by the lab's own generator: in-domain
pretraining, not transfer from another domain (the backbone never sees a photo).

* **Data.** Images drawn by ``seglib.data.synth.render_sample`` with the seed
  ``PRETRAIN_SEED`` and the split name ``"pretrain"`` (the default dataset uses
  seed 0 and the splits ``train``/``val``), so no image of the lab's dataset
  is ever seen. They are drawn at ``RENDER_SIZE`` (the default dataset's size;
  at most 4x the input size) and shrunk to the preset's input size with area
  interpolation, as the training pipeline does.
* **Labels.** Image-level labels, of the image and of its tiles: for each
  ``TILE_PIXELS`` tile (a 5 x 5 grid at 160 px), labelled as if it were a small
  image of its own, which of the 19 parts and garments appear (multi-label; a
  class counts when it covers at least ``PRESENT_FRACTION`` of the tile); for
  the whole image, the share each class covers and how many people it shows
  (2 ... 8). No per-pixel mask is ever a target.
* **Model.** The preset's backbone (MobileNetV2 up to the layer that feeds the
  ASPP, stride 16), a 1x1 conv on the features averaged per tile, and two
  small dense heads on the globally pooled features. Only
  the backbone's weights are kept (``.npz``, one array per layer weight,
  BatchNorm statistics included); the heads are thrown away, as ImageNet's
  classifier is.

``python -m seglib pretrain --preset lecture`` writes
``assets/pretrained/<backbone>_<width>.npz`` and its card
(``<name>.json`` / ``<name>.md``: task, data, seeds, time, accuracy and the
command that reproduces it). ``seglib.model.pretrained`` finds and describes
the file, and ``seglib.model.backbones`` loads it, when a config says
``model.weights = "pretrained"`` (the ``lecture`` preset's default).

>>> tile_grid(160)
5
"""

from __future__ import annotations

import math
import os
import platform
import shlex
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from seglib import settings
from seglib.classes import CLASS_NAMES, NUM_CLASSES, swap_left_right
from seglib.config import WEIGHT_STARTS, WEIGHTS, ModelConfig
from seglib.presets import get_preset
from seglib.errors import ConfigError
from seglib.io import atomic_write_json, atomic_write_text
from seglib.model.backbones import backbone_layers, build_backbone, feature_layers, save_backbone
from seglib.model.pretrained import pretrained_file

#: Seed of the pretraining images; the default dataset is seed 0 with splits train/val.
PRETRAIN_SEED = 7919
#: The pretraining images are drawn at this size, then shrunk to the input size.
RENDER_SIZE = 512
#: A class is "present" in a tile when it covers at least this share of the tile.
PRESENT_FRACTION = 0.01
#: Tiles are this many input pixels on a side (a 5 x 5 grid at 160 px).
TILE_PIXELS = 32
#: People per synthetic image (``seglib.data.synth`` draws 2 ... 8).
MIN_PEOPLE, MAX_PEOPLE = 2, 8

# ---------------------------------------------------------------------------
# The pretraining data: synthetic images and their image-level labels
# ---------------------------------------------------------------------------

def tile_grid(size: int) -> int:
    """Tiles per side for an input of ``size`` pixels (``size // TILE_PIXELS``, at least 1)."""
    return max(1, int(size) // TILE_PIXELS)


def image_labels(mask: np.ndarray, people: int, grid: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Image-level labels of one sample: of each tile, of the whole image, and its people count.

    Returns
    * ``presence`` ``(grid, grid, 19)``: for each tile of a ``grid x grid`` split
      of the image, which of classes 1..19 appear in it (1 when a class covers at
      least ``PRESENT_FRACTION`` of the tile), i.e. the image-level labels of
      each tile as if it were a small image of its own;
    * ``shares`` ``(20,)``: the share of the whole image each class covers (sums to 1);
    * a people index (0 = two people).

    >>> mask = np.zeros((100, 100), np.uint8); mask[:10, :10] = 2; mask[99, 99] = 3
    >>> presence, shares, count = image_labels(mask, people=3, grid=2)
    >>> presence[0, 0, :3].tolist(), presence[1, 1, :3].tolist(), round(float(shares[2]), 2), count
    ([0.0, 1.0, 0.0], [0.0, 0.0, 0.0], 0.01, 1)
    """
    height, width = mask.shape
    presence = np.zeros((grid, grid, NUM_CLASSES - 1), np.float32)
    rows = np.linspace(0, height, grid + 1).astype(int)
    columns = np.linspace(0, width, grid + 1).astype(int)
    for i in range(grid):
        for j in range(grid):
            tile = mask[rows[i]:rows[i + 1], columns[j]:columns[j + 1]]
            if tile.size:
                counts = np.bincount(tile.reshape(-1), minlength=256)[1:NUM_CLASSES]
                presence[i, j] = counts >= PRESENT_FRACTION * tile.size
    counts = np.bincount(mask.reshape(-1), minlength=256)[:NUM_CLASSES]
    shares = (counts / max(int(counts.sum()), 1)).astype(np.float32)
    return presence, shares, int(np.clip(people, MIN_PEOPLE, MAX_PEOPLE)) - MIN_PEOPLE


def _render_chunk(task: tuple) -> dict[str, np.ndarray]:
    from seglib._tf import quiet_environment

    quiet_environment()
    import cv2

    from seglib.data.synth import render_sample

    size, seed, indices = task
    images, presences, shares, counts = [], [], [], []
    for index in indices:
        image, mask, humans = render_sample(min(RENDER_SIZE, 4 * size), seed, split="pretrain", index=index)
        people = len(np.unique(humans[humans > 0]))
        presence, share, count = image_labels(mask, max(people, MIN_PEOPLE), tile_grid(size))
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        presences.append(presence)
        shares.append(share)
        counts.append(count)
    return {"images": np.stack(images), "presence": np.stack(presences), "shares": np.stack(shares),
            "people": np.array(counts, np.int32)}


def make_data(count: int, size: int, seed: int = PRETRAIN_SEED, start: int = 0,
              workers: int | None = None) -> dict[str, np.ndarray]:
    """Draw ``count`` pretraining images (uint8 RGB, ``size`` px) and their labels.

    Returns ``{"images", "presence", "shares", "people"}`` (see ``image_labels``).
    """
    from seglib.data.processes import map_in_processes

    chunk = 100
    tasks = [(size, seed, range(i, min(start + count, i + chunk))) for i in range(start, start + count, chunk)]
    parts = map_in_processes(_render_chunk, tasks, workers=workers, minimum_per_worker=5)  # processes only for 1,000+ images
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


# ---------------------------------------------------------------------------
# The pretraining model and loop
# ---------------------------------------------------------------------------

def build_pretraining_model(model_config: ModelConfig):
    """Backbone (as DeepLabV3+ builds it) -> per-tile presence (average pooling to the tile grid, 1x1 conv)
    and, from global average pooling, the class shares and the people count."""
    from seglib._tf import import_tf

    _, keras = import_tf()
    inputs, backbone = build_backbone(keras, model_config)
    features = backbone.get_layer(feature_layers(model_config)["high"]).output
    grid = tile_grid(model_config.image_size)
    tiles = keras.layers.AveragePooling2D(pool_size=int(features.shape[1]) // grid, name="pretrain_tiles")(features)
    presence = keras.layers.Conv2D(NUM_CLASSES - 1, kernel_size=1, name="presence")(tiles)
    pooled = keras.layers.GlobalAveragePooling2D(name="pretrain_pool")(features)
    pooled = keras.layers.Dropout(0.1, name="pretrain_dropout")(pooled)
    shares = keras.layers.Dense(NUM_CLASSES, name="shares")(pooled)
    people = keras.layers.Dense(MAX_PEOPLE - MIN_PEOPLE + 1, name="people")(pooled)
    return keras.Model(inputs, {"presence": presence, "shares": shares, "people": people}, name="pretrain")


def evaluate(model, data: dict[str, np.ndarray], batch_size: int = 64) -> dict[str, Any]:
    """Held-out scores: tile presence accuracy / F1 (micro, classes 1..19), the same per image, share error
    (half the L1 distance between predicted and true class shares) and people-count accuracy."""
    outputs: dict[str, list[np.ndarray]] = {"presence": [], "shares": [], "people": []}
    for start in range(0, len(data["images"]), batch_size):
        result = model(data["images"][start:start + batch_size].astype(np.float32), training=False)
        for key in outputs:
            outputs[key].append(np.asarray(result[key]))
    predicted = np.concatenate(outputs["presence"]) > 0
    truth = data["presence"] > 0.5
    image_accuracy = float(np.mean(predicted.any(axis=(1, 2)) == truth.any(axis=(1, 2))))
    true_positive = float(np.sum(predicted & truth))
    precision = true_positive / max(float(np.sum(predicted)), 1.0)
    recall = true_positive / max(float(np.sum(truth)), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    logits = np.concatenate(outputs["shares"])
    shares = np.exp(logits - logits.max(axis=-1, keepdims=True))
    shares /= shares.sum(axis=-1, keepdims=True)
    people = np.argmax(np.concatenate(outputs["people"]), axis=-1)
    return {
        "presence_accuracy": float(np.mean(predicted == truth)),
        "presence_f1": float(f1),
        "presence_accuracy_per_class": {CLASS_NAMES[i + 1]: round(float(a), 4)
                                        for i, a in enumerate(np.mean(predicted == truth, axis=(0, 1, 2)))},
        "image_presence_accuracy": image_accuracy,
        "share_error": float(np.mean(np.abs(shares - data["shares"]).sum(axis=-1) / 2)),
        "people_accuracy": float(np.mean(people == data["people"])),
        "people_within_one": float(np.mean(np.abs(people - data["people"]) <= 1)),
    }


def pretrain(preset: str = "lecture", *, images: int = 8000, val_images: int = 400, epochs: int = 12,
             batch_size: int = 32, learning_rate: float = 4e-3, out: str | os.PathLike | None = None,
             image_size: int | None = None, seed: int = PRETRAIN_SEED, verbose: bool = True) -> dict[str, Any]:
    """Pretrain the backbone of ``preset`` and write it (and its card) to ``out``; return the card."""
    from seglib._tf import import_tf

    config = get_preset(preset)
    if image_size:
        config = config.with_overrides({"model.image_size": image_size})
    model_config = config.model
    for name, value, minimum in (("images", images, 10), ("val_images", val_images, 10), ("epochs", epochs, 1),
                                 ("batch_size", batch_size, 1)):
        if not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    path = Path(out) if out else pretrained_file(model_config)
    if path.suffix != ".npz":
        raise ConfigError(f"The pretrained backbone is written as .npz. Received: out={str(out)!r}")
    started = time.time()

    def say(text: str) -> None:
        if verbose:
            print(f"[{time.time() - started:6.1f} s] {text}", flush=True)

    size = model_config.image_size
    say(f"Drawing {images} + {val_images} synthetic images at {size} px (seed {seed}, split 'pretrain').")
    train = make_data(images, size, seed=seed)
    val = make_data(val_images, size, seed=seed, start=images)
    data_seconds = time.time() - started

    _, keras = import_tf()
    keras.utils.set_random_seed(seed)
    model = build_pretraining_model(model_config)
    step = _training_step(model, size, learning_rate, decay_steps=math.ceil(images / batch_size) * epochs)
    history = _train_epochs(model, step, train, val, epochs=epochs, batch_size=batch_size, seed=seed, say=say)
    final = evaluate(model, val)
    save_backbone(model, model_config, path)
    argv = ["python", "-m", "seglib", "pretrain", "--preset", preset, "--images", str(images),
            "--val-images", str(val_images), "--epochs", str(epochs), "--batch-size", str(batch_size),
            "--lr", f"{learning_rate:g}"]
    if image_size:
        argv += ["--image-size", str(image_size)]
    card = _card(path, model, model_config, train, val, seed=seed, epochs=epochs, batch_size=batch_size,
                 learning_rate=learning_rate, history=history, final=final, command=shlex.join(argv),
                 seconds=time.time() - started, data_seconds=data_seconds)
    atomic_write_json(path.with_suffix(".json"), card)
    atomic_write_text(path.with_suffix(".md"), card_markdown(card))
    say(f"Wrote {settings.display_path(path)} ({path.stat().st_size / 1e6:.2f} MB) and its card.")
    return card


def _training_step(model, size: int, learning_rate: float, decay_steps: int):
    """One compiled optimizer step on a batch: AdamW (weight decay 1e-4, not on BatchNorm scales and offsets
    or biases) with cosine decay to 5 % over ``decay_steps``; the loss is the tiles' presence (binary
    cross-entropy) plus the class shares (cross-entropy) plus half the people count's."""
    from seglib._tf import import_tf

    tf, keras = import_tf()
    grid = tile_grid(size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=decay_steps, alpha=0.05)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    presence_loss = keras.losses.BinaryCrossentropy(from_logits=True)
    shares_loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    people_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32),
                                  tf.TensorSpec([None, grid, grid, NUM_CLASSES - 1], tf.float32),
                                  tf.TensorSpec([None, NUM_CLASSES], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def step(batch, presence, shares, people):
        with tf.GradientTape() as tape:
            outputs = model(batch, training=True)
            loss = (presence_loss(presence, outputs["presence"]) + shares_loss(shares, outputs["shares"])
                    + 0.5 * people_loss(people, outputs["people"]))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        return loss

    return step


def _train_epochs(model, step, train: dict[str, np.ndarray], val: dict[str, np.ndarray], *, epochs: int,
                  batch_size: int, seed: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Train ``epochs`` passes over ``train`` in a shuffled order, half the images flipped (their left and
    right labels, and their tiles, swapped), scoring ``val`` after each; return one history row per epoch."""
    from seglib._tf import import_tf

    tf, _ = import_tf()
    images = len(train["images"])
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        epoch_started = time.time()
        order = rng.permutation(images)
        losses = []
        for start in range(0, images, batch_size):
            index = order[start:start + batch_size]
            batch = train["images"][index]
            flip = rng.random(len(index)) < 0.5
            batch = np.where(flip[:, None, None, None], batch[:, :, ::-1], batch)
            presence = swap_left_right_labels(train["presence"][index], flip)
            presence = np.where(flip[:, None, None, None], presence[:, :, ::-1], presence)  # tiles mirror too
            shares = swap_left_right_labels(train["shares"][index], flip, offset=0)
            losses.append(float(step(tf.constant(batch, tf.float32), tf.constant(presence),
                                     tf.constant(shares), tf.constant(train["people"][index]))))
        scores = evaluate(model, val)
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": round(time.time() - epoch_started, 1),
               **{k: round(v, 4) for k, v in scores.items() if isinstance(v, float)}}
        history.append(row)
        say(f"epoch {epoch}/{epochs}: loss {row['loss']:.4f}, presence accuracy {row['presence_accuracy']:.3f}, "
            f"F1 {row['presence_f1']:.3f}, share error {row['share_error']:.3f}, people exact {row['people_accuracy']:.3f} "
            f"(±1 {row['people_within_one']:.3f}), {row['seconds']:.0f} s")
    return history


def _card(path: Path, model, model_config: ModelConfig, train: dict[str, np.ndarray], val: dict[str, np.ndarray],
          *, seed: int, epochs: int, batch_size: int, learning_rate: float, history: list[dict[str, Any]],
          final: dict[str, Any], command: str, seconds: float, data_seconds: float) -> dict[str, Any]:
    """The card of a pretrained backbone: its task, data, training, held-out scores beside the always-majority
    baselines, and the command that reproduces it."""
    # The always-absent / always-present baseline, so the card's accuracy can be judged.
    baseline = float(np.mean((val["presence"] > 0.5) == (np.mean(train["presence"], axis=0) > 0.5)))
    image_baseline = float(np.mean(val["presence"].any(axis=(1, 2)) == (np.mean(
        train["presence"].any(axis=(1, 2)), axis=0) > 0.5)))
    grid = tile_grid(model_config.image_size)
    return {
        "file": path.name,
        "backbone": model_config.backbone,
        "width": model_config.width,
        "cut": "up to the ASPP input (stride 16)",
        "image_size": model_config.image_size,
        "bn_momentum": model_config.bn_momentum,
        "task_short": "which parts and garments appear in each tile of the image, how much of the image each "
                      "covers and how many people (image-level labels)",
        "task": (f"Image-level labels: for each tile of a {grid} x {grid} grid ({TILE_PIXELS} px tiles, each "
                 "labelled as if it were a small image of its own), which of the 19 non-background CIHP classes "
                 f"appear in it (multi-label; a class counts when it covers at least {PRESENT_FRACTION:.0%} of "
                 "the tile); for the whole image, the share each of the 20 classes covers and the number of "
                 f"people ({MIN_PEOPLE}-{MAX_PEOPLE}). No per-pixel mask is ever a target; the heads are "
                 "discarded."),
        "data": {"generator": "seglib.synth.render_sample", "seed": seed, "split": "pretrain",
                 "train_images": len(train["images"]), "val_images": len(val["images"]), "render_size": RENDER_SIZE,
                 "disjoint_from": "the default dataset (seed 0, splits train/val)",
                 "augmentation": "horizontal flip (left/right presence swapped)"},
        "training": {"epochs": epochs, "batch_size": batch_size, "optimizer": "AdamW, weight decay 1e-4",
                     "learning_rate": learning_rate, "schedule": "cosine decay to 5 %"},
        "history": history,
        "validation": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in final.items()},
        "baseline_presence_accuracy": round(baseline, 4),
        "baseline_image_presence_accuracy": round(image_baseline, 4),
        "tile_grid": grid,
        "parameters": int(sum(int(np.prod(w.shape)) for layer in backbone_layers(model, model_config)
                              for w in layer.weights)),
        "seconds": round(seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "machine": _machine(),
        "created": time.strftime("%Y-%m-%d", time.gmtime()),
        "command": command,
    }


def swap_left_right_labels(labels: np.ndarray, flip: np.ndarray, offset: int = 1) -> np.ndarray:
    """Per-class labels after a horizontal flip: left and right arm, leg and shoe swap.

    The last axis holds classes ``offset, offset + 1, ...`` (presence starts at
    class 1, shares at 0); ``flip`` says which samples (first axis) are mirrored.
    """
    classes = np.arange(offset, offset + labels.shape[-1])
    mapping = swap_left_right(classes).astype(np.intp) - offset
    flip = flip.reshape((-1,) + (1,) * (labels.ndim - 1))
    return np.where(flip, labels[..., mapping], labels)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with_model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    with_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{with_model or cpu}, {os.cpu_count()} logical CPUs"


def card_markdown(card: dict[str, Any]) -> str:
    """The pretrained backbone's card as Markdown."""
    validation = card["validation"]
    lines = [
        f"# Pretrained backbone: {card['backbone']}"
        + (f" (width {card['width']:g})" if card["backbone"] == "mobilenetv2" else ""),
        "",
        "The starting point of the `lecture` preset's backbone (`model.weights = \"pretrained\"`), the project's "
        "stand-in for the ImageNet weights the Keras example starts from (nothing can be downloaded here).",
        "",
        f"- **Task** (not the lab's masks): {card['task']}",
        f"- **Data**: {card['data']['train_images']:,} training and {card['data']['val_images']:,} held-out "
        f"synthetic images from `{card['data']['generator']}`, seed {card['data']['seed']}, split "
        f"`{card['data']['split']}` — disjoint from {card['data']['disjoint_from']}; drawn at "
        f"{card['data']['render_size']} px and shrunk to {card['image_size']} px.",
        f"- **Training**: {card['training']['epochs']} epochs, batch {card['training']['batch_size']}, "
        f"{card['training']['optimizer']}, learning rate {card['training']['learning_rate']:g} with "
        f"{card['training']['schedule']}; {card['seconds']:.0f} s on {card['machine']}.",
        f"- **Held-out accuracy**: tile presence {validation['presence_accuracy']:.3f} (always-majority baseline "
        f"{card['baseline_presence_accuracy']:.3f}), F1 {validation['presence_f1']:.3f}; image presence "
        f"{validation['image_presence_accuracy']:.3f} (baseline {card['baseline_image_presence_accuracy']:.3f}); "
        "class-share "
        f"error {validation['share_error']:.3f} (half the L1 distance), number of "
        f"people exact {validation['people_accuracy']:.3f}, within one {validation['people_within_one']:.3f}.",
        f"- **Kept**: {card['parameters']:,} backbone weights ({card['cut']}), BatchNorm statistics included; "
        "the classification heads are discarded.",
        "",
        "Reproduce it with",
        "",
        f"    {card['command']}",
        "",
        "Runs say which start they used (`model.weights`): "
        + "; ".join(f"`{name}`, {WEIGHT_STARTS[name]}" for name in WEIGHTS) + ".",
        "",
    ]
    return "\n".join(lines)

