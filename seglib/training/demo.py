"""The demo model shipped in ``assets/demo_model/``, so a lecture works before anyone trains.

It is a ``lecture``-preset model trained by the project's own CLI on the
synthetic default, with more epochs than a live lecture runs: ``DEMO_EPOCHS``,
continued ``EXTEND_EPOCHS`` at a time while the validation mean IoU is below
``TARGET_MEAN_IOU`` (the learning-rate schedule carries on). The folder holds:

``model.keras``
    The best checkpoint of that run (highest validation mean IoU), saved
    without the optimiser state (a third of the size).
``card.json`` / ``model_card.md``
    The model card: the full config, the dataset and its seed, epochs, wall
    time, validation pixel accuracy, mean IoU and per-class IoU of the saved
    epoch, and the exact command that reproduces it.

Rebuild it with ``make demo-model`` or::

    python -m seglib demo-model --out assets/demo_model

The pages call ``demo_model_path()`` / ``has_demo_model()`` and
``load_demo_card()``; loading goes through ``seglib.model.saving.load_model``.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.classes import CLASS_NAMES
from seglib.config import WEIGHT_STARTS, RunConfig, parse_overrides
from seglib.presets import get_preset
from seglib.errors import ModelError, RunError
from seglib.io import atomic_write_json, atomic_write_text, read_json
from seglib.training.runs import files, folders, readers

DEMO_DIR = settings.ASSETS_DIR / "demo_model"
MODEL_FILE = "model.keras"
CARD_JSON = "card.json"
CARD_MARKDOWN = "model_card.md"

#: Epochs of the demo run: the lecture preset trained longer (about 20 minutes on 2 CPU cores).
DEMO_EPOCHS = 40
#: The demo model's target: validation mean IoU on the synthetic validation split.
TARGET_MEAN_IOU = 0.55
#: Below the target after the planned epochs, the run continues this many epochs at a time...
EXTEND_EPOCHS = 20
#: ... up to this many epochs in all.
MAX_EPOCHS = 130
#: Overrides of the lecture preset for the demo run, besides the epochs. A lecture keeps the
#: pretrained backbone fixed and trains without augmentation (its first minutes learn fastest that
#: way); a model meant to be good trains the backbone too after a few epochs of the head alone, and
#: needs the flips and zooms against over-fitting over forty epochs.
#: It keeps the lab's plain cross-entropy, and the weight decay it was recorded with (1e-4, from before the
#: lecture preset's weight decay was chosen by the sweep of seglib.training.reference), so that
#: `python -m seglib demo-model` still trains the shipped model.
DEMO_OVERRIDES: dict[str, Any] = {"train.freeze_backbone_epochs": 4, "data.augment": True,
                                  "train.loss": "cross-entropy", "train.weight_decay": 1e-4}


def demo_model_path(folder: str | os.PathLike | None = None) -> Path:
    """Path of the shipped demo model; ModelError (saying how to rebuild it) if it is missing."""
    path = Path(folder or DEMO_DIR) / MODEL_FILE
    if not path.is_file():
        raise ModelError("The demo model is missing (assets/demo_model/model.keras). Rebuild it with "
                         "`make demo-model`, or train a run and pick its checkpoint.")
    return path


def has_demo_model(folder: str | os.PathLike | None = None) -> bool:
    return (Path(folder or DEMO_DIR) / MODEL_FILE).is_file()


def load_demo_card(folder: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The demo model's card (``card.json``) as a dict, or None when there is none."""
    card = read_json(Path(folder or DEMO_DIR) / CARD_JSON, default=None)
    return card if isinstance(card, dict) else None


def demo_config(epochs: int | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The config of the demo run: the lecture preset with ``DEMO_EPOCHS`` epochs."""
    values = {"train.epochs": epochs or DEMO_EPOCHS, **DEMO_OVERRIDES, **(overrides or {})}
    return get_preset("lecture").with_overrides(values)


def build_demo_model(out: str | os.PathLike = DEMO_DIR, *, epochs: int | None = None,
                     data: str | None = None, overrides: list[str] | None = None,
                     run_dir: str | os.PathLike | None = None, quiet: bool = False,
                     target_iou: float = TARGET_MEAN_IOU, max_epochs: int = MAX_EPOCHS) -> dict[str, Any]:
    """Train the demo model with the real CLI worker, then write ``out/`` (model + card).

    Trains ``epochs`` (default ``DEMO_EPOCHS``); while the best validation mean
    IoU is below ``target_iou``, continues the same run (``train --resume``, the
    learning-rate schedule carries on) ``EXTEND_EPOCHS`` at a time, up to
    ``max_epochs``. The steps are deterministic (seeded data order and weights),
    so the one command reproduces the model. A ``run_dir`` that already holds a
    finished run is continued instead of trained again. Returns the card;
    raises RunError when a training step does not finish.
    """
    out = Path(out).expanduser().resolve()
    config = demo_config(epochs, parse_overrides(overrides))
    data_root = Path(data).expanduser().resolve() if data else settings.default_dataset_dir()
    folder = Path(run_dir).expanduser().resolve() if run_dir else \
        settings.runs_dir() / folders.new_run_id("demo-model")
    if not (folder / files.CONFIG_FILE).exists():
        config_file = folder.parent / f".{folder.name}.config.json"
        folder.parent.mkdir(parents=True, exist_ok=True)
        config.save(config_file)
        try:
            _run_worker(["--config", str(config_file), "--data", str(data_root), "--run-dir", str(folder),
                         "--name", "demo model"], folder, quiet)
        finally:
            config_file.unlink(missing_ok=True)
    while True:
        history = readers.read_history(folder)
        done = int(history["epoch"].max()) if len(history) else 0
        best = float(history["val_mean_iou"].max()) if len(history) else 0.0
        if best >= target_iou or done >= max_epochs:
            break
        more = min(done + EXTEND_EPOCHS, max_epochs)
        if not quiet:
            print(f"best val mean IoU {best:.3f} < {target_iou:g} after {done} epochs: continuing to {more}",
                  flush=True)
        _run_worker(["--resume", str(folder), "--epochs", str(more)], folder, quiet)
    return write_demo_assets(folder, out, reproduce=_reproduce_command(epochs, data, overrides, out))


def _run_worker(arguments: list[str], folder: Path, quiet: bool) -> None:
    command = [sys.executable, "-m", "seglib", "train", *arguments]
    result = subprocess.run(command, cwd=settings.PROJECT_ROOT, stdout=subprocess.DEVNULL if quiet else None)
    progress = readers.read_progress(folder)[0] or {}
    if result.returncode != 0 or progress.get("status") != "finished":
        raise RunError(f"The demo training run did not finish (status {progress.get('status')}): "
                       f"{progress.get('message', '')} See {settings.display_path(folder / files.LOG_FILE)}.")


def write_demo_assets(folder: str | os.PathLike, out: str | os.PathLike = DEMO_DIR, *,
                      reproduce: str | None = None) -> dict[str, Any]:
    """Copy a finished run's best checkpoint to ``out/model.keras`` and write its model card.

    The card's ``wall_seconds`` is the sum of the epoch times in ``history.csv``
    (training, validation and checkpointing; the ~15 s start-up of each worker
    session is not included).
    """
    from seglib.model.saving import load_model, save_model

    folder, out = Path(folder).resolve(), Path(out).resolve()
    config = readers.read_config(folder)
    history = readers.read_history(folder)
    if history.empty:
        raise RunError(f"The run {folder.name} has no finished epoch; nothing to ship.")
    best = history.loc[history["val_mean_iou"].idxmax()]
    class_iou = readers.read_class_iou(folder)
    best_row = class_iou[class_iou["epoch"] == int(best["epoch"])]
    per_class = {name: (None if best_row.empty or best_row.iloc[-1][name] != best_row.iloc[-1][name]
                        else round(float(best_row.iloc[-1][name]), 4)) for name in CLASS_NAMES}
    progress = readers.read_progress(folder)[0] or {}
    model = load_model(folder / files.BEST_CHECKPOINT)
    out.mkdir(parents=True, exist_ok=True)
    save_model(model, out / MODEL_FILE, include_optimizer=False)
    dataset_root = Path(config.data.root)
    if not dataset_root.is_absolute():
        dataset_root = settings.data_dir() / dataset_root
    synth = read_json(dataset_root / "synth.json", default={}) or {}
    wall_seconds = float(history["seconds"].sum())
    card = {
        "model_file": MODEL_FILE,
        "size_bytes": (out / MODEL_FILE).stat().st_size,
        "parameters": int(model.count_params()),
        "preset": config.preset,
        "differs_from_preset": _differences(config),
        "config": config.to_dict(),
        "dataset": {"name": dataset_root.name, "generator": synth.get("generator"),
                    "synth_seed": synth.get("seed"), "train": synth.get("train"), "val": synth.get("val"),
                    "size": synth.get("size"), "train_images_used": progress.get("train_images"),
                    "val_images_used": progress.get("val_images")},
        "seeds": {"data": config.data.seed, "train": config.train.seed, "synthetic_dataset": synth.get("seed")},
        "epochs": int(history["epoch"].max()),
        "best_epoch": int(best["epoch"]),
        "wall_seconds": None if wall_seconds is None else round(float(wall_seconds), 1),
        "training_images_per_second": progress.get("measured_images_per_second"),
        "val_pixel_accuracy": round(float(best["val_accuracy"]), 4),
        "val_mean_iou": round(float(best["val_mean_iou"]), 4),
        "val_loss": round(float(best["val_loss"]), 4),
        "train_pixel_accuracy": round(float(best["accuracy"]), 4),
        "train_mean_iou": round(float(best["mean_iou"]), 4),
        "per_class_iou": per_class,
        "history": history.round(5).to_dict("records"),
        "reproduce": reproduce or "python -m seglib demo-model --out assets/demo_model",
        "trained_on": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "created_at": time.strftime("%Y-%m-%d %H:%M", time.localtime()),
    }
    atomic_write_json(out / CARD_JSON, card)
    atomic_write_text(out / CARD_MARKDOWN, model_card_markdown(card))
    if out == DEMO_DIR.resolve():  # the shipped demo model: its run is shipped too, read-only
        from seglib.training.reference import DEMO_RUN_KEY, record

        record(folder, DEMO_RUN_KEY, f"Demo model: lecture preset, {card['epochs']} epochs",
               note=f"The run that trained assets/demo_model (best epoch {card['best_epoch']}); "
                    "recorded by `python -m seglib demo-model`.")
    return card


def _start_sentence(config: dict[str, Any]) -> str:
    """Where the demo model's backbone started, from its config (the card says it, as every run does)."""
    run_config = RunConfig.from_dict(config)
    weights = run_config.model.weights
    where = " (`assets/pretrained`, `python -m seglib pretrain`)" if weights == "pretrained" else ""
    return (f"{run_config.start_summary()}: the backbone starts from {WEIGHT_STARTS.get(weights, weights)}{where}; "
            "ASPP, decoder and head from random weights.")


def model_card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown (what ``model_card.md`` holds and a page may show)."""
    model, train, data = card["config"]["model"], card["config"]["train"], card["dataset"]
    minutes = "?" if card["wall_seconds"] is None else f"{card['wall_seconds'] / 60:.1f}"
    lines = [
        "# Demo model: DeepLabV3+ (lecture preset) on the synthetic crowd dataset",
        "",
        "A small model trained by this project's own training worker so that the prediction and",
        "atrous pages work before anyone trains. It was trained on generated data, so it knows the",
        "synthetic people only, not real photographs.",
        "",
        f"**Start**: {_start_sentence(card['config'])}",
        "",
        "## Reproduce",
        "",
        "```",
        card["reproduce"],
        "```",
        "",
        f"On {card['trained_on']}: {card['epochs']} epochs in {minutes} minutes of training "
        f"({card['training_images_per_second'] or '?'} training images/s).",
        "",
        "## Model",
        "",
        f"The `{card['preset']}` preset with: "
        + (", ".join(f"{key} = {value}" for key, value in card.get("differs_from_preset", {}).items()) or "no changes")
        + ".",
        "",
        f"- backbone {model['backbone']} (width {model['width']:g}), input {model['image_size']} px, "
        f"{model['num_classes']} classes",
        f"- ASPP rates {tuple(model['atrous_rates'])}, {model['aspp_filters']} filters, decoder "
        f"{model['decoder_filters']} filters, low-level {model['low_level_filters']}, "
        f"separable {model.get('separable', False)}",
        f"- {card['parameters']:,} parameters; file {card['model_file']} ({card['size_bytes'] / 1e6:.1f} MB, "
        "no optimiser state)",
        "",
        "## Training",
        "",
        f"- data: `{data['name']}` ({data['generator'] or 'dataset'}, seed {data['synth_seed']}, "
        f"{data['train_images_used']} training / {data['val_images_used']} validation images, "
        f"generated at {data['size']} px)",
        f"- {RunConfig.from_dict(card['config']).train.schedule_text()}, batch {train['batch_size']}, "
        f"{train['epochs']} epochs, augmentation {card['config']['data']['augment']}",
        f"- seeds: data {card['seeds']['data']}, training {card['seeds']['train']}",
        f"- the saved weights are those of epoch {card['best_epoch']} (best validation mean IoU)",
        "",
        "## Validation (whole validation split, exact int64 confusion matrix)",
        "",
        f"- pixel accuracy **{card['val_pixel_accuracy']:.3f}**",
        f"- mean IoU **{card['val_mean_iou']:.3f}** (over classes present in truth or prediction)",
        f"- loss {card['val_loss']:.3f}; on training batches: accuracy {card['train_pixel_accuracy']:.3f}, "
        f"mean IoU {card['train_mean_iou']:.3f}",
        "",
        "| class | IoU |",
        "|---|---|",
    ]
    for name, value in card["per_class_iou"].items():
        lines.append(f"| {name} | {'-' if value is None else f'{value:.3f}'} |")
    lines += ["", "Small, rare parts (gloves, sunglasses, socks) have the lowest IoU: they cover few pixels",
              f"at {model['image_size']} px input, so even at several times their pixel share of the loss they",
              "hold a small part of it (exercise 13-4; the Dataset explorer measures the shares).",
              ""]
    return "\n".join(lines)


def _differences(config: RunConfig) -> dict[str, Any]:
    """Dotted fields where ``config`` differs from its preset (what the demo changed)."""
    try:
        preset = get_preset(config.preset).to_dict()
    except KeyError:
        return {}
    changed = {}
    for section, values in config.to_dict().items():
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            if preset[section].get(name) != value:
                changed[f"{section}.{name}"] = list(value) if isinstance(value, tuple) else value
    return changed


def _reproduce_command(epochs, data, overrides, out: Path) -> str:
    parts = ["python", "-m", "seglib", "demo-model", "--out",
             str(out.relative_to(settings.PROJECT_ROOT)) if settings.PROJECT_ROOT in out.parents else out.name]
    if epochs:
        parts += ["--epochs", str(epochs)]
    if data:
        parts += ["--data", settings.display_path(data)]
    for item in overrides or []:
        parts += ["--set", item]
    return " ".join(shlex.quote(p) for p in parts)

