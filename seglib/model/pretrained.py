"""The project's pretrained backbones on disk: where they live and what their cards say.

``seglib.training.pretrain`` makes them (``python -m seglib pretrain``);
``seglib.model.backbones`` loads one when a config says ``model.weights =
"pretrained"`` (the ``lecture`` preset's default) and reads and writes its
weights by layer name. A backbone is an ``.npz`` with one array per layer
weight (BatchNorm statistics included) beside its card (``<name>.json`` /
``<name>.md``).

>>> from seglib.presets import get_preset
>>> pretrained_file(get_preset("lecture").model).name
'mobilenetv2_0.35.npz'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.config import EXAMPLE_START, WEIGHT_STARTS, ModelConfig
from seglib.io import read_json
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
