"""One configuration object per run: data, model and training.

A ``RunConfig`` is built from a preset (``seglib.presets``) and overrides, validated, and saved as
``config.json`` in the run folder; everything else (pipeline, model builder,
training worker, pages) reads its numbers from it. No module keeps its own
copy of image size, class count or learning rate.

>>> from seglib.presets import get_preset
>>> cfg = get_preset("lecture").with_overrides({"train.epochs": 3, "model.image_size": 64})
>>> cfg.train.epochs, cfg.model.image_size
(3, 64)
>>> RunConfig.from_dict(cfg.to_dict()) == cfg
True

**Saved configs have a version.** ``config.json`` holds ``"version": CONFIG_VERSION``
beside the sections. ``RunConfig.load`` (``from_saved``) reads it strictly: a field
missing from the file is damage, named in the ``ConfigError``, unless the file's
version is older than the field (``VERSION_DEFAULTS``: then the value the code of that
version used, never today's default); a higher version, or a field or section this
code does not know, is a ``NewerConfigError`` ("written by a newer version of the
project"). ``from_dict`` is for dicts built in code and fills what is left out.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seglib.classes import NUM_CLASSES
from seglib.errors import ConfigError, NewerConfigError

BACKBONES = ("mobilenetv2", "resnet50")
#: How each backbone is written in sentences and tables.
BACKBONE_NAMES = {"mobilenetv2": "MobileNetV2", "resnet50": "ResNet50"}
OPTIMIZERS = ("adamw", "adam")
#: How each optimizer is written in sentences and in the Training form.
OPTIMIZER_NAMES = {"adamw": "AdamW", "adam": "Adam"}
WEIGHTS = ("pretrained", "none", "imagenet")
#: How each backbone start reads in the UI and in run summaries.
WEIGHT_LABELS = {"pretrained": "pretrained backbone", "none": "random weights", "imagenet": "ImageNet backbone"}
#: What each backbone start is, in a phrase ("... starts from <phrase>"): the one wording of where the
#: backbone starts, for the Home and Model pages, the exercises, the Training form and the cards.
WEIGHT_STARTS = {
    "pretrained": ("the weights of a backbone this project pretrained itself on image-level labels of synthetic images "
                   "(which parts and how many people an image shows; other seeds than the lab's data), never on masks"),
    "none": "random weights",
    "imagenet": "ImageNet weights when they are already in the Keras cache, random weights otherwise",
}
#: Why the pretrained start is not the Keras example's ImageNet start, in a phrase.
IN_DOMAIN = ("in-domain pretraining on the generator's own drawings, not transfer from another domain, so it has "
             "never seen a photo")
#: Where the Keras example's backbone starts, in a phrase.
EXAMPLE_START = "ImageNet weights: transfer learning from photos of everyday objects to people"
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
#: Every loss ``seglib.evaluation.losses.make_loss`` builds (the values ``train.loss`` may take).
LOSSES = ("cross-entropy", "weighted-cross-entropy", "focal", "dice", "cross-entropy+dice")


@dataclass(frozen=True)
class DataConfig:
    """Which data, how much of it, and how it is fed."""

    root: str = "synthetic"          #: dataset folder; relative = under the data root
    train_count: int = 0             #: images used for training; 0 = all
    val_count: int = 0               #: images used for validation; 0 = all
    augment: bool = True             #: random flip (left/right labels swapped) + scale jitter
    cache: bool = True               #: keep decoded, resized images in memory after epoch 1
    seed: int = 0                    #: shuffle / augmentation / split seed

    def validate(self) -> None:
        _check_int(self, "train_count", minimum=0)
        _check_int(self, "val_count", minimum=0)
        if not str(self.root).strip():
            raise ConfigError("data.root must name a dataset folder. Received: data.root=''")


@dataclass(frozen=True)
class ModelConfig:
    """DeepLabV3+ architecture."""

    backbone: str = "mobilenetv2"    #: 'mobilenetv2' or 'resnet50'
    width: float = 0.35              #: MobileNetV2 width multiplier (alpha); unused for ResNet50
    image_size: int = 128            #: square input size in pixels (multiple of 16)
    num_classes: int = NUM_CLASSES
    atrous_rates: tuple[int, ...] = (6, 12, 18)
    aspp_filters: int = 256
    low_level_filters: int = 48
    decoder_filters: int = 256
    separable: bool = False          #: depthwise-separable 3x3 convs in ASPP and decoder (as the DeepLabV3+ paper)
    upsample_logits: bool = False    #: 1x1 logits conv at stride 4, then upsample the logits (same function as the example's order, far fewer operations)
    bn_momentum: float = 0.9         #: 0.99 / 0.999 leave inference stats stale when training from scratch
    weights: str = "none"            #: backbone start: 'pretrained' (the project's, assets/pretrained), 'none' (random) or 'imagenet' (only if already cached)
    output_stride: int = 16          #: stride of the ASPP input (fixed by the backbone cut)

    def backbone_text(self) -> str:
        """The backbone in words: "MobileNetV2 (width 0.35)" or "ResNet50"."""
        name = BACKBONE_NAMES.get(self.backbone, self.backbone)
        return f"{name} (width {self.width:g})" if self.backbone == "mobilenetv2" else name

    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"model.backbone must be one of {BACKBONES}. Received: {self.backbone!r}")
        if self.weights not in WEIGHTS:
            raise ConfigError(f"model.weights must be one of {WEIGHTS}. Received: {self.weights!r}")
        _check_int(self, "image_size", minimum=32, maximum=2048)
        if self.image_size % self.output_stride:
            raise ConfigError(
                f"model.image_size must be a multiple of the output stride {self.output_stride}. "
                f"Received: model.image_size={self.image_size}; try "
                f"{max(self.output_stride * 2, round(self.image_size / self.output_stride) * self.output_stride)}."
            )
        _check_int(self, "num_classes", minimum=2, maximum=255)
        _check_int(self, "aspp_filters", minimum=1)
        _check_int(self, "low_level_filters", minimum=1)
        _check_int(self, "decoder_filters", minimum=1)
        _check_number(self, "width", 0.05, 2.0)
        for name in ("separable", "upsample_logits"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.{name} must be true or false. Received: model.{name}={getattr(self, name)!r}")
        _check_number(self, "bn_momentum", 0.0, 0.9999)
        if not self.atrous_rates or any(
            not isinstance(r, int) or isinstance(r, bool) or r < 1 for r in self.atrous_rates
        ):
            raise ConfigError(
                f"model.atrous_rates must be positive integers. Received: {self.atrous_rates!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    epochs: int = 12
    batch_size: int = 16             #: per replica; under tf.distribute the global batch is batch x replicas
    optimizer: str = "adamw"         #: 'adamw' (with weight decay) or 'adam'
    learning_rate: float = 3e-3      #: initial learning rate
    decay_steps: int = 100           #: exponential decay: lr * decay_rate ** (step / decay_steps)
    decay_rate: float = 0.9          #: 1.0 = constant learning rate
    weight_decay: float = 1e-4       #: AdamW decoupled weight decay (ignored by 'adam')
    loss: str = "cross-entropy"      #: one of LOSSES (cross-entropy, weighted (median frequency), focal, Dice, CE + Dice)
    freeze_backbone_epochs: int = 0  #: epochs the (pretrained) backbone stays fixed while the new layers learn; 0 = trained from the start
    early_stopping_patience: int = 0  #: epochs without val_loss improvement; 0 = off
    mixed_precision: str = "auto"    #: 'auto' (on with a GPU), 'on', 'off'
    jit_compile: str = "auto"        #: 'auto' (XLA on GPU only; 4x slower on CPU here), 'on', 'off'
    steps_per_execution: int = 1
    strategy: str = "auto"           #: tf.distribute: 'auto', 'default', 'mirrored', 'multiworker'
    seed: int = 0

    def optimizer_text(self) -> str:
        """The optimizer in words: "AdamW, weight decay 0.001" or "Adam, no weight decay"."""
        name = OPTIMIZER_NAMES.get(self.optimizer, self.optimizer)
        if self.optimizer == "adamw" and self.weight_decay:
            return f"{name}, weight decay {self.weight_decay:g}"
        return f"{name}, no weight decay"

    def learning_rate_text(self) -> str:
        """The learning rate and its schedule: "0.006 (× 0.9 every 100 steps)" or "0.001 (constant)"."""
        decay = ("constant" if self.decay_rate >= 1.0
                 else f"× {self.decay_rate:g} every {self.decay_steps:,} steps")
        return f"{self.learning_rate:g} ({decay})"

    def schedule_text(self) -> str:
        """Optimizer and learning rate in words (the one wording the pages, exercises and cards use):
        "AdamW, weight decay 0.001, learning rate 0.006 (× 0.9 every 100 steps)"."""
        return f"{self.optimizer_text()}, learning rate {self.learning_rate_text()}"

    def validate(self) -> None:
        _check_int(self, "epochs", minimum=1, maximum=10_000)
        _check_int(self, "batch_size", minimum=1, maximum=4096)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}. Received: {self.optimizer!r}")
        _check_number(self, "learning_rate", 1e-8, 1.0)
        _check_int(self, "decay_steps", minimum=1)
        _check_number(self, "decay_rate", 1e-6, 1.0)
        _check_number(self, "weight_decay", 0.0, 1.0)
        if self.loss not in LOSSES:
            raise ConfigError(f"train.loss must be one of {LOSSES}. Received: {self.loss!r}")
        _check_int(self, "freeze_backbone_epochs", minimum=0, maximum=10_000)
        _check_int(self, "early_stopping_patience", minimum=0)
        _check_int(self, "steps_per_execution", minimum=1)
        for name in ("mixed_precision", "jit_compile"):
            if getattr(self, name) not in ("auto", "on", "off"):
                raise ConfigError(f"train.{name} must be 'auto', 'on' or 'off'. Received: {getattr(self, name)!r}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy must be one of {STRATEGIES}. Received: {self.strategy!r}")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run."""

    preset: str = "lecture"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # -- validation ---------------------------------------------------------
    def validate(self) -> "RunConfig":
        self.data.validate()
        self.model.validate()
        self.train.validate()
        return self

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The saved form (``config.json``): the sections with the ``version`` of this code."""
        return json.dumps({"version": CONFIG_VERSION, **self.to_dict()}, indent=2)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        """A config from a dict built in code (a field left out takes its default); a saved
        config goes through ``from_saved``, which names a missing field instead."""
        if not isinstance(raw, dict):
            raise ConfigError(f"A run config must be a JSON object. Received: {type(raw).__name__}")
        raw = {key: value for key, value in raw.items() if key != "version"}
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown config sections: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            section_type = _SECTIONS.get(f.name)
            if section_type is None:
                kwargs[f.name] = _coerce(f.name, str, raw[f.name])
            else:
                kwargs[f.name] = _section_from_dict(section_type, f.name, raw[f.name])
        return cls(**kwargs).validate()

    @classmethod
    def from_saved(cls, raw: Any, source: str = "config.json") -> "RunConfig":
        """A config as saved by some version of the project (``source`` names it in messages).

        Raises ``NewerConfigError`` for a config of a newer version (higher ``version``,
        or fields this code does not know) and ``ConfigError`` naming the field for a
        field that is missing although the config's version had it.
        """
        if not isinstance(raw, dict):
            raise ConfigError(f"{source} must hold a JSON object. Received: a JSON {type(raw).__name__}")
        version = raw.get("version", 1)  # configs written before versions existed are version 1
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"{source} has an impossible version: {version!r} (a whole number from 1).")
        if version > CONFIG_VERSION:
            raise NewerConfigError(f"{source} was written by a newer version of the project (config version "
                                   f"{version}; this version reads versions 1 to {CONFIG_VERSION}). Open it "
                                   "with that version of the project, or update this one.")
        sections = {f.name: _SECTIONS.get(f.name) for f in dataclasses.fields(cls)}
        unknown = [key for key in raw if key != "version" and key not in sections]
        for name, section in sections.items():
            if section is not None and isinstance(raw.get(name), dict):
                known = {f.name for f in dataclasses.fields(section)}
                unknown += [f"{name}.{key}" for key in raw[name] if key not in known]
        if unknown:
            raise NewerConfigError(f"{source} has fields this version of the project does not know "
                                   f"({', '.join(sorted(unknown))}): it was written by a newer version of the "
                                   "project. Open it with that version, or update this one.")
        complete = {key: value for key, value in raw.items() if key != "version"}
        for name, section in sections.items():
            if name not in raw:
                _missing(source, name, version)
            if section is not None and isinstance(raw[name], dict):  # else from_dict says what is wrong
                complete[name] = _complete_section(name, raw[name], version, source)
        return cls.from_dict(complete)

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        """The config saved at ``path`` (see ``from_saved``)."""
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"No config file at {path.name}.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path.name} is not valid JSON: {error}") from error
        return cls.from_saved(raw, source=path.name)

    def save(self, path: str | Path) -> None:
        from seglib.io import atomic_write_text

        atomic_write_text(path, self.to_json() + "\n")

    # -- overrides -----------------------------------------------------------
    def with_overrides(self, overrides: dict[str, Any] | None = None, **kwargs: Any) -> "RunConfig":
        """Return a copy with dotted fields replaced: ``{"train.epochs": 3}``.

        Values are coerced to the field's type (strings from the CLI work).
        ``None`` values are skipped, so optional CLI flags can be passed as-is.
        """
        merged = {**(overrides or {}), **kwargs}
        raw = self.to_dict()
        for key, value in merged.items():
            if value is None:
                continue
            section, _, name = key.partition(".")
            if not name:
                if section not in ("preset", "description"):
                    raise ConfigError(f"Unknown config field {key!r}; use 'section.field'.")
                raw[section] = value
                continue
            if section not in _SECTIONS:
                raise ConfigError(f"Unknown config section in {key!r}. Valid: {', '.join(_SECTIONS)}.")
            if name not in raw[section]:
                valid = ", ".join(raw[section])
                raise ConfigError(f"Unknown config field {key!r}. Valid {section} fields: {valid}.")
            raw[section][name] = value
        return RunConfig.from_dict(raw)

    def start_summary(self) -> str:
        """Where the backbone starts, in words: "pretrained backbone, fixed for 1 epoch"."""
        text = WEIGHT_LABELS.get(self.model.weights, self.model.weights)
        frozen = self.train.freeze_backbone_epochs
        if frozen:
            text += ", fixed for " + (f"{frozen} epoch" if frozen == 1 else f"{frozen} epochs")
        return text

    def _backbone_name(self) -> str:
        m = self.model
        return f"{m.backbone}" + (f" x{m.width:g}" if m.backbone == "mobilenetv2" else "")

    def model_summary(self) -> str:
        """The model alone, in words: "lecture: mobilenetv2 x0.35 (pretrained backbone), 160 px"."""
        m = self.model
        return f"{self.preset}: {self._backbone_name()} ({WEIGHT_LABELS.get(m.weights, m.weights)}), {m.image_size} px"

    def summary(self) -> str:
        m, t = self.model, self.train
        return (f"{self.preset}: {self._backbone_name()} ({self.start_summary()}), {m.image_size} px, "
                f"batch {t.batch_size}, {t.epochs} epochs, {t.optimizer} lr {t.learning_rate:g}")


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

#: The version of ``config.json`` this code writes (its ``"version"`` field).
CONFIG_VERSION = 2
#: The table of versions: for each version of ``config.json``, the fields a config of that
#: version may lack because they did not exist yet when it was written, with the value the
#: code of that time used. Any other missing field is damage. A new field goes into every
#: older version's entry (with the value the code had before it) and CONFIG_VERSION grows.
VERSION_DEFAULTS: dict[int, dict[str, Any]] = {
    # Version 1: no "version" field. Written until 2026-12; its fields grew meanwhile:
    # model.separable (plain 3x3 convolutions before it), model.upsample_logits (the Keras
    # example's order: upsample, then the 1x1 logits convolution) and train.freeze_backbone_epochs
    # (the backbone trained from the first step) came with the pretrained backbone, train.loss
    # (cross-entropy, the only loss before it) with the choice of losses. The shipped reference
    # runs are version 1 configs with every field.
    1: {"model.separable": False, "model.upsample_logits": False, "train.freeze_backbone_epochs": 0,
        "train.loss": "cross-entropy"},
    # Version 2: "version" written; every field of this code.
    2: {},
}


def _complete_section(name: str, values: dict[str, Any], version: int, source: str) -> dict[str, Any]:
    """The saved section ``name`` with the fields its ``version`` lacked filled in (``VERSION_DEFAULTS``);
    ConfigError for any other missing field."""
    values = dict(values)
    for field_ in dataclasses.fields(_SECTIONS[name]):
        dotted = f"{name}.{field_.name}"
        if field_.name not in values:
            if dotted not in VERSION_DEFAULTS[version]:
                _missing(source, dotted, version)
            values[field_.name] = VERSION_DEFAULTS[version][dotted]
    return values


def model_config_from_saved(raw: Any, source: str) -> ModelConfig:
    """The ``ModelConfig`` stored in a saved model (its Keras config, which has no version of its own:
    it is read by version 1's rules, so a field missing from it is named, never a default)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"The model config in {source} must be an object. Received: {type(raw).__name__}")
    return RunConfig.from_dict({"model": _complete_section("model", raw, 1, source)}).model


def _missing(source: str, field_name: str, version: int) -> None:
    """ConfigError: ``field_name`` is missing from a config whose ``version`` had it."""
    raise ConfigError(f"{source} has no {field_name}, which every version {version} config holds (was the file "
                      "cut short or edited?); a default in its place would silently change the run.")


def field_names() -> dict[str, list[str]]:
    """Dotted field names per section (for CLI flags and the training form)."""
    return {s: [f.name for f in dataclasses.fields(t)] for s, t in _SECTIONS.items()}


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["train.epochs=3", ...]`` (the command line's ``--set``) as ``{"train.epochs": "3"}``.

    The values stay strings; ``RunConfig.with_overrides`` coerces them to the fields' types.
    """
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs SECTION.FIELD=VALUE. Received: --set {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _section_from_dict(section_type, section_name: str, raw: Any):
    if not isinstance(raw, dict):
        raise ConfigError(f"Config section {section_name!r} must be an object. Received: {raw!r}")
    hints = typing.get_type_hints(section_type)
    names = {f.name for f in dataclasses.fields(section_type)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"Unknown fields in {section_name}: {sorted(unknown)}. Valid: {sorted(names)}.")
    return section_type(**{k: _coerce(f"{section_name}.{k}", hints[k], v) for k, v in raw.items()})


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Coerce JSON/CLI values to the annotated type, with a clear error."""
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
                return False
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            raise ValueError
        if hint is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            result = float(value)
            if result != result or result in (float("inf"), float("-inf")):
                raise ValueError
            return result
        if hint is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if typing.get_origin(hint) is tuple:
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return tuple(_coerce(name, int, v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} has the wrong type: expected {getattr(hint, '__name__', hint)}. "
                          f"Received: {value!r}") from None
    return value


def _check_int(section, name: str, minimum: int | None = None, maximum: int | None = None) -> None:
    value = getattr(section, name)
    label = f"{type(section).__name__.replace('Config', '').lower()}.{name}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{label} must be an integer. Received: {label}={value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{label} must be at least {minimum}. Received: {label}={value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{label} must be at most {maximum}. Received: {label}={value}")


def _check_number(section, name: str, minimum: float, maximum: float) -> None:
    value = getattr(section, name)
    label = f"{type(section).__name__.replace('Config', '').lower()}.{name}"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        raise ConfigError(f"{label} must be a number. Received: {label}={value!r}")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{label} must be between {minimum:g} and {maximum:g}. Received: {label}={value:g}")
