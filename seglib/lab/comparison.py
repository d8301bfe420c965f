"""Where this project departs from the Keras example, in words: the one home of that comparison for the
Home page's section, the Model page's table and notes, and exercise 13-6's list.

Every number comes from the presets (``seglib.presets``) and the example's own settings
(``seglib.keras_example``); the phrases for the optimizer (``TrainConfig.schedule_text``) and for where the
backbone starts (``seglib.config.WEIGHT_STARTS``) come from the config, so a page cannot word them apart.

>>> from seglib.presets import get_preset
>>> start_phrase(get_preset("keras-example").model)
'ImageNet weights when they are already in the Keras cache, random weights otherwise'
"""

from __future__ import annotations

import dataclasses
from typing import Any

from seglib import keras_example
from seglib.config import (BACKBONE_NAMES, EXAMPLE_START, IN_DOMAIN, WEIGHT_LABELS, WEIGHT_STARTS, ModelConfig,
                           RunConfig, TrainConfig)
from seglib.presets import get_preset, preset_names
from seglib.evaluation.metrics import MEAN_IOU_NOT_MAP
from seglib.training import planning


def start_phrase(model_config: ModelConfig) -> str:
    """What the backbone of ``model_config`` starts from ("... starts from <phrase>"), saying so when the
    project's pretrained file is missing on this machine."""
    from seglib.model.pretrained import pretrained_status

    weights = model_config.weights
    text = WEIGHT_STARTS.get(weights, weights)
    if weights == "pretrained" and not pretrained_status(model_config)["available"]:
        text += " (its file is missing here, so it falls back to random weights)"
    return text


def start_item(model_config: ModelConfig, subject: str) -> str:
    """The bullet 'Where the backbone starts': the example's ImageNet start beside ``subject``'s
    ("the `lecture` preset's MobileNetV2")."""
    example = get_preset("keras-example").model
    weights = model_config.weights
    because = "" if weights == "imagenet" else "Nothing can be downloaded here, so "
    subject = subject if because else subject[0].upper() + subject[1:]
    return (f"**Where the backbone starts.** The example's {BACKBONE_NAMES.get(example.backbone, example.backbone)} "
            f"starts from {EXAMPLE_START}. {because}{subject} starts from {start_phrase(model_config)} "
            f"(`model.weights='{weights}'`)" + (f": {IN_DOMAIN}." if weights == "pretrained" else "."))


def _field(config: RunConfig, field: str):
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def differences_markdown(example: RunConfig, course: RunConfig, lecture: RunConfig, reading: str = "") -> str:
    """The Home page's bullets of 'Where this differs from the Keras example', from the three presets, the
    project's deliberate differences (``seglib.keras_example.DIFFERENCES``) and ``reading``, what the
    reference runs show (``seglib.training.diagnosis.summary_text``)."""
    lower = "lower" if course.train.learning_rate < example.train.learning_rate else "not lower"
    lecture_vs = ("higher than the example's" if lecture.train.learning_rate > example.train.learning_rate
                  else "lower than the example's")
    changes = keras_example.differing_fields(course)
    course_changes = "; ".join(
        f"`{field}` {changes[field][0]!r} → {changes[field][1]!r} ({why})" if field in changes
        else f"`{field}` {_field(course, field)!r} ({why})"
        for field, why in keras_example.COURSE_CHANGES.items())
    lecture_model, example_model = lecture.model, example.model
    return "\n".join([
        f"- **Optimizer and learning rate.** The example trains with {example.train.schedule_text()}. The `course` "
        f"preset, as the lab asks, uses {course.train.schedule_text()}: a {lower} start that keeps shrinking, and "
        f"weight decay. {planning.DECOUPLED_RULE} {planning.weight_decay_sentence(course)} "
        f"The `lecture` preset, made for a few minutes on a laptop CPU, uses {lecture.train.schedule_text()}: a start "
        f"{lecture_vs}, tuned on two CPU cores, where a small network given {lecture.train.epochs} short epochs "
        f"with batches of {lecture.train.batch_size} got further from a higher start; the decay then steadies it.",
        "- **What the optimizer changes do, measured.** The handout reads the example's erratic curves as "
        "over-fitting; a step too large, the noise of a small validation set and over-fitting proper look alike "
        "on a chart, and the Training page tells them apart (Compare runs). " + reading,
        f"- **The `course` preset** is the example with the course's changes and nothing else: {course_changes}.",
        "- " + start_item(lecture_model, f"the `lecture` preset's {lecture_model.backbone_text()}")
        + f" The `course` and `keras-example` presets start from {start_phrase(course.model)} "
        f"(`model.weights='{course.model.weights}'`); every run records which start it used.",
        keras_example.differences_markdown(),
        f"- **A model for a CPU.** The `lecture` preset is a narrow {lecture_model.backbone_text()} at "
        f"{lecture_model.image_size} px with atrous rates {'/'.join(map(str, lecture_model.atrous_rates))}, scaled "
        f"to its {_map(lecture_model)} feature map; the example's {example_model.backbone_text()} at "
        f"{example_model.image_size} px uses rates {'/'.join(map(str, example_model.atrous_rates))} on a "
        f"{_map(example_model)} map (the Model and Atrous pages set the two side by side). Its BatchNorm layers "
        f"keep moving statistics with momentum {lecture_model.bn_momentum:g} instead of the example's "
        f"{example_model.bn_momentum:g}: in a few short epochs on a CPU, {example_model.bn_momentum:g} leaves the "
        "statistics used for validation and prediction behind the weights.",
        "- **Mean IoU where the handout suggests mAP.** " + MEAN_IOU_NOT_MAP,
    ])


def _map(model_config: ModelConfig) -> str:
    side = model_config.image_size // model_config.output_stride
    return f"{side} × {side}"


def keras_differences(facts: dict[str, Any]) -> list[str]:
    """Where the dashboard's training and data handling differ from the Keras example, and why, for the
    sidebar model of exercise 13-6 (Markdown bullet items, with the numbers of its preset)."""
    preset = facts.get("model_preset") if facts.get("model_preset") in preset_names() else "lecture"
    config = get_preset(preset)
    example = get_preset("keras-example").train
    weights = facts.get("weights") if facts.get("weights") in WEIGHT_STARTS else "none"
    start = start_item(dataclasses.replace(config.model, weights=weights), "the sidebar model")
    if weights == "none":
        start += (" The project's own pretrained backbone is one setting away "
                  f"(`model.weights='pretrained'`: {WEIGHT_STARTS['pretrained']}).")
    return [
        f"**Optimizer and learning rate.** The `{preset}` preset trains with {config.train.schedule_text()}; the "
        f"example uses {example.schedule_text()}. The handout calls the example's curves erratic and over-fitting; "
        "the reference runs on the Training page measure which part of that is the step size, which the noise of a "
        "small validation set, and whether a run over-fits. The lecture preset's rate is tuned for a small model on "
        "a CPU, so its curves differ from the course's GPU run too.",
        start + " So your numbers after the same epochs will not match the handout's.",
        *keras_example.difference_sentences(),
        "**Mean IoU, not mAP.** " + MEAN_IOU_NOT_MAP,
    ]


#: The rows of the Model page's table that sets a model beside the Keras example.
TABLE_ROWS = ("backbone", "backbone starts from", "input", "ASPP input (backbone output)", "atrous rates",
              "ASPP and decoder", "decoder output", "logits", "parameters", "optimizer", "learning rate",
              "mask resizing")


def table_column(model_config: ModelConfig, train: TrainConfig, stages: dict[str, tuple], total: int,
                 example: bool) -> list[str]:
    """One column of the Model page's table (``TABLE_ROWS``): a model's numbers from its config, its
    stages' output shapes (stage -> (H, W, C)) and parameter count; ``example`` for the Keras example's."""
    def shape(dims) -> str:
        return " × ".join(str(d) for d in dims)

    weights = model_config.weights
    start = WEIGHT_LABELS.get(weights, weights)
    if example:  # the example's own start, and what this machine gives the preset (a short cell)
        start = "ImageNet (here: " + ("only from the Keras cache" if weights == "imagenet" else start) + ")"
    return [
        model_config.backbone_text(),
        start,
        shape((model_config.image_size, model_config.image_size, 3)),
        shape(stages["backbone"]),
        " / ".join(map(str, model_config.atrous_rates)),
        f"{model_config.aspp_filters} filters, {'separable' if model_config.separable else 'full'} 3 × 3",
        shape(stages["decoder"]),
        shape(stages["head"]),
        f"{total:,}",
        train.optimizer_text(),
        train.learning_rate_text(),
        "bilinear (mixes label ids at boundaries)" if example else "nearest neighbour (labels stay labels)",
    ]
