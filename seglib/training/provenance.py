"""What a trained model was trained on, read from what it shipped or ran with.

A checkpoint sits in a folder that says how it was made: the demo model beside
its card (``card.json``: the dataset and its generator, the run's config), a
run's checkpoint beside the run's ``config.json`` (``data.root`` names the
dataset folder, whose ``synth.json`` marks it as synthetic). ``training_record``
reads them, so a page can say "this model has only seen synthetic drawings"
before it labels a photo, and a question can say whether training flipped images.

>>> training_record("/no/such/model.keras") is None
True
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from seglib.config import RunConfig
from seglib.data import synth, synthetic
from seglib.io import read_json


@dataclasses.dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained, as far as its files say.

    ``dataset``: the dataset's name (folder name); ``synthetic``: True when it
    was drawn by ``seglib.data.synth``, False for another dataset, None when
    nothing says (a run whose dataset folder is gone); ``augment``: whether
    training flipped and rescaled images (``data.augment``), None if unknown;
    ``preset``: the preset the run started from.
    """

    dataset: str = ""
    synthetic: bool | None = None
    augment: bool | None = None
    preset: str | None = None


def _from_card(card: dict) -> TrainingRecord:
    data = card.get("dataset") if isinstance(card.get("dataset"), dict) else {}
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    augment = (config.get("data") or {}).get("augment") if isinstance(config.get("data"), dict) else None
    generator = data.get("generator")
    return TrainingRecord(dataset=str(data.get("name") or ""),
                          synthetic=None if "generator" not in data else generator == synth.GENERATOR_ID,
                          augment=augment if isinstance(augment, bool) else None,
                          preset=card.get("preset") if isinstance(card.get("preset"), str) else None)


def _from_config(config: RunConfig) -> TrainingRecord:
    from seglib.training.splits import dataset_root

    root = dataset_root(config.data.root)
    if synthetic.is_synthetic(root):
        found: bool | None = True
    elif root.is_dir():
        found = False
    else:
        found = None  # the folder is gone: nothing says what it held
    return TrainingRecord(dataset=root.name, synthetic=found, augment=bool(config.data.augment),
                          preset=config.preset)


def training_record(checkpoint: str | os.PathLike) -> TrainingRecord | None:
    """What the model in the file ``checkpoint`` was trained on, from the card or the run
    config beside it; None when neither is there (or they cannot be read)."""
    return folder_record(Path(checkpoint).expanduser().parent)


def folder_record(folder: str | os.PathLike) -> TrainingRecord | None:
    """``training_record`` of a run folder (or the demo model's folder) itself."""
    from seglib.training import demo
    from seglib.training.runs import files, readers

    folder = Path(folder)
    card = read_json(folder / demo.CARD_JSON, default=None)
    if isinstance(card, dict):
        return _from_card(card)
    config_path = folder / files.CONFIG_FILE
    if config_path.is_file():
        try:
            return _from_config(readers.read_config(folder))
        except Exception:  # noqa: BLE001 - a damaged config says nothing, it never breaks a page
            return None
    return None


def preset_record(preset: str) -> TrainingRecord:
    """What a new run of ``preset`` would train with (an untrained sidebar model has seen nothing yet)."""
    from seglib.presets import get_preset

    config = get_preset(preset)
    return TrainingRecord(dataset=Path(config.data.root).name, synthetic=None,
                          augment=bool(config.data.augment), preset=preset)
