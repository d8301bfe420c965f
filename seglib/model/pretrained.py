"""The project's pretrained backbones on disk: where they live, what their cards say,
and how their weights are saved and loaded by layer name.

``seglib.model.pretrain`` makes them (``python -m seglib pretrain``);
``seglib.model.deeplab`` loads one when a config says ``model.weights =
"pretrained"`` (the ``lecture`` preset's default). A backbone is an ``.npz``
with one array per layer weight (BatchNorm statistics included) beside its
card (``<name>.json`` / ``<name>.md``).

>>> from seglib.config import get_preset
>>> pretrained_file(get_preset("lecture").model).name
'mobilenetv2_0.35.npz'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from seglib import keras_internals, settings
from seglib.config import EXAMPLE_START, WEIGHT_STARTS, ModelConfig
from seglib.errors import ModelError
from seglib.io import atomic_write, read_json
from seglib.model.deeplab import feature_layers
from seglib.model.imagenet import imagenet_weights_status

#: Where the pretrained backbones live (small enough to keep in git).
PRETRAINED_DIR = settings.ASSETS_DIR / "pretrained"


def pretrained_file(model_config: ModelConfig) -> Path:
    """Path of the pretrained backbone for ``model_config`` (it may not exist)."""
    if model_config.backbone == "mobilenetv2":
        return PRETRAINED_DIR / f"mobilenetv2_{float(model_config.width):g}.npz"
    return PRETRAINED_DIR / f"{model_config.backbone}.npz"


def pretrained_status(model_config: ModelConfig) -> dict[str, Any]:
    """Whether the project's pretrained backbone exists for this config, and a sentence saying so."""
    path = pretrained_file(model_config)
    card = load_card(path)
    available = path.is_file()
    if available:
        task = card.get("task_short", "image-level labels of synthetic crowd images") if card else \
            "image-level labels of synthetic crowd images"
        message = (f"Backbone pretrained by the project ({path.name}): {task}, on images whose seeds are "
                   "disjoint from the lab's dataset; ASPP, decoder and head start from random weights.")
    else:
        message = (f"No pretrained backbone for {model_config.backbone}"
                   + (f" at width {model_config.width:g}" if model_config.backbone == "mobilenetv2" else "")
                   + f" ({path.name} is not in assets/pretrained); the backbone starts from random weights. "
                   "Make one with `python -m seglib pretrain`.")
    return {"available": available, "path": path, "message": message, "card": card}


def start_explanation(model_config: ModelConfig) -> str:
    """One or two sentences (Markdown) an instructor can read out: what the backbone starts from, and what
    follows for the curves. For the Training form, the Model page and run summaries."""
    if model_config.weights == "pretrained":
        status = pretrained_status(model_config)
        if not status["available"]:
            return status["message"]
        images = (status["card"] or {}).get("data", {}).get("train_images")
        count = f"{images:,}" if isinstance(images, int) else "several thousand"
        return (f"**In-domain pretraining**, not transfer: the backbone starts from {WEIGHT_STARTS['pretrained']} "
                f"({count} images drawn by the same generator as the lab's data). (The Keras example starts from "
                f"{EXAMPLE_START}.) It already responds to this generator's skin, hair, clothes and people, so only "
                "the new ASPP, decoder and head start from scratch and the curves move within the first epoch; it "
                "has never seen a photo.")
    if model_config.weights == "imagenet":
        return imagenet_weights_status(model_config)["message"]
    return ("**From scratch**: every layer starts from random weights, so the backbone must learn to see before "
            "the head can learn to label; expect many epochs before the small parts appear.")


def load_card(path: str | os.PathLike) -> dict[str, Any] | None:
    """The card beside a pretrained ``.npz`` (``<name>.json``), or None."""
    card = read_json(Path(path).with_suffix(".json"), default=None)
    return card if isinstance(card, dict) else None


# ---------------------------------------------------------------------------
# Saving and loading backbone weights by layer name
# ---------------------------------------------------------------------------

def backbone_layers(model, model_config: ModelConfig) -> list:
    """The backbone layers with weights that feed the ASPP (ancestors of the ``high`` cut)."""
    high = feature_layers(model_config)["high"]
    wanted: set[str] = set()
    frontier = [model.get_layer(high)]
    while frontier:
        layer = frontier.pop()
        if layer.name in wanted:
            continue
        wanted.add(layer.name)
        frontier.extend(keras_internals.parent_layers(layer))
    return [layer for layer in model.layers if layer.name in wanted and layer.weights]


def save_backbone(model, model_config: ModelConfig, path: str | os.PathLike) -> Path:
    """Write the backbone's weights (by layer name) to an ``.npz``, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for layer in backbone_layers(model, model_config):
        for index, weight in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{index}"] = np.asarray(weight, np.float32)

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez_compressed(file, **arrays)

    return atomic_write(path, write)


def load_backbone(model, model_config: ModelConfig, path: str | os.PathLike) -> int:
    """Set the backbone layers of ``model`` from ``path``; return the number of layers set.

    Raises ``ModelError`` when the file is unreadable or its shapes do not fit
    (another width), so a wrong file never half-loads silently.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as error:
        raise ModelError(f"{path.name} is not a readable pretrained backbone ({error}).") from error
    by_layer: dict[str, dict[int, np.ndarray]] = {}
    for key, value in stored.items():
        name, _, index = key.rpartition("/")
        if not name or not index.isdigit():
            raise ModelError(f"{path.name} holds an unexpected entry {key!r}; rebuild it with "
                             "`python -m seglib pretrain`.")
        by_layer.setdefault(name, {})[int(index)] = value
    layers = backbone_layers(model, model_config)
    missing = [layer.name for layer in layers if layer.name not in by_layer]
    if missing:
        raise ModelError(f"{path.name} has no weights for {len(missing)} backbone layers (e.g. {missing[0]}); "
                         "it was made for another backbone. Rebuild it with `python -m seglib pretrain`.")
    plans = []
    for layer in layers:
        values = [by_layer[layer.name][i] for i in sorted(by_layer[layer.name])]
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise ModelError(f"{path.name} does not fit layer {layer.name} (shapes "
                             f"{[tuple(v.shape) for v in values]} vs {expected}); it was made for another width.")
        plans.append((layer, values))
    for layer, values in plans:
        layer.set_weights(values)
    return len(plans)
