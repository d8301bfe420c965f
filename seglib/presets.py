"""The presets: a ``RunConfig`` for each way the course runs the model, with why each value was chosen.

* ``lecture`` (the default): the live demo on a laptop CPU;
* ``course``: the lab on a GPU VM, the Keras example plus the course's optimizer changes and nothing else;
* ``keras-example``: the published Keras example, setting by setting (``seglib.keras_example``).

The comments beside the values record what was measured to choose them. ``get_preset`` returns a
validated copy; change it with ``RunConfig.with_overrides`` (``seglib.config``).

>>> get_preset("lecture").model.image_size, preset_names()
(160, ['lecture', 'course', 'keras-example'])
"""

from __future__ import annotations

import dataclasses

from seglib.config import DataConfig, ModelConfig, RunConfig, TrainConfig


def _lecture() -> RunConfig:
    return RunConfig(
        preset="lecture",
        description="Live demo on a laptop CPU: narrow MobileNetV2 from the project's pretrained backbone, "
                    "small images, AdamW + exponential decay, cross-entropy + Dice so the small parts count "
                    "from the first minutes.",
        # No augmentation in a lecture's minutes: with the backbone fixed, flips and zooms slowed the
        # first epochs' learning (val mean IoU 0.227 vs 0.252 after 2,000 images) and cost a third
        # of the CPU (41 vs 72 images/s, benchmarks/bench_training.py on 2 cores).
        data=DataConfig(root="synthetic", train_count=0, val_count=0, augment=False),
        # Separable 3x3 convs and 128 filters in ASPP and decoder: 0.36 M weights (1.4 MB).
        # 160 px gives a 10x10 map at output stride 16, so the atrous rates are scaled to
        # it (2/4/6 instead of 6/12/18, which at this size read mostly padding: rates 12
        # and 18 would act as 1x1 convs everywhere; the Atrous page shows both).
        # The 1x1 logits conv runs before the last upsampling (the same function, a sixth
        # of the head's work), and the backbone starts from the project's pretrained one.
        model=ModelConfig(backbone="mobilenetv2", width=0.35, image_size=160, atrous_rates=(2, 4, 6),
                          aspp_filters=128, decoder_filters=128, separable=True, upsample_logits=True,
                          weights="pretrained"),
        # Measured on 2 CPU cores from the pretrained start, val mean IoU after 1,000 / 2,000 images:
        # backbone fixed 0.174 / 0.227, trained from the first step 0.117 / 0.156, fixed for one
        # epoch then trained 0.174 / 0.159 (unfreezing at this rate costs what the head had learnt).
        # Fixed for the whole lecture run, each step also skips the backbone's backward pass.
        # Batch 8 learnt faster per image than 4 (0.227 vs 0.209) and a rate of 1e-2 no faster.
        # Cross-entropy weighs each class by its pixels, so for the first epochs the small parts
        # hardly count; adding the Dice loss (one overlap score per class) raised val mean IoU after
        # 2,000 images from 0.252 to 0.312 (pixel accuracy 0.863 -> 0.861). The course presets keep
        # plain cross-entropy, as the Keras example.
        # Weight decay: Keras's AdamW shrinks a kernel by lr x wd per step, so the old 1e-4 at these rates
        # (6e-7 a step) did nothing. 0.032 lets the decay alone shrink the kernels over the run's planned
        # steps as much as the value the reference runs' sweep chose (seglib.training.reference) did there.
        train=TrainConfig(epochs=16, batch_size=8, optimizer="adamw", learning_rate=6e-3,
                          decay_steps=250, decay_rate=0.9, weight_decay=0.032, freeze_backbone_epochs=16,
                          loss="cross-entropy+dice"),
    )


def _keras_example() -> RunConfig:
    # The published example, setting by setting (seglib.keras_example.SETTINGS names where each is read;
    # tests/test_config.py compares this preset with that table field by field). ImageNet weights are
    # used where they are in the Keras cache (fetched once with `python -m seglib model --fetch-weights`
    # on a machine with internet); without them the backbone starts from random weights and every run
    # says so.
    return RunConfig(
        preset="keras-example",
        description="The Keras example as published: ResNet50 from ImageNet weights (where they can be had), "
                    "512 px, batch 4, no augmentation, Adam at a constant 1e-3 without weight decay.",
        data=DataConfig(root="synthetic", train_count=1000, val_count=50, augment=False),
        model=ModelConfig(backbone="resnet50", image_size=512, atrous_rates=(6, 12, 18), aspp_filters=256,
                          low_level_filters=48, decoder_filters=256, separable=False, upsample_logits=False,
                          bn_momentum=0.99, weights="imagenet"),
        train=TrainConfig(epochs=25, batch_size=4, optimizer="adam", learning_rate=1e-3, decay_rate=1.0,
                          weight_decay=0.0, loss="cross-entropy", freeze_backbone_epochs=0),
    )


def _course() -> RunConfig:
    # The Keras example plus the course's changes to its optimizer, and nothing else
    # (seglib.keras_example.COURSE_CHANGES gives the reason for each changed field). BatchNorm keeps the
    # example's momentum 0.99: 250 steps an epoch leave its moving statistics current (the lecture preset's
    # short CPU runs need 0.9). The weight decay is the sweep's choice (seglib.training.reference) rescaled
    # to the course's planned learning rates: over its 6,250 steps the decay alone shrinks a kernel as much
    # as in reference run (c) (tests/test_config.py checks it).
    example = _keras_example()
    return dataclasses.replace(
        example,
        preset="course",
        description="The lab on a GPU VM: the Keras example with the course's optimizer, AdamW (decoupled weight "
                    "decay) and a lower learning rate that decays exponentially.",
        train=dataclasses.replace(example.train, optimizer="adamw", learning_rate=5e-4, decay_steps=1000,
                                  decay_rate=0.9, weight_decay=0.11),
    )


PRESETS = {"lecture": _lecture, "course": _course, "keras-example": _keras_example}
#: The input sizes the Model and Atrous pages offer for a preset (multiples of the output stride 16).
INPUT_SIZES = (64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> RunConfig:
    """Return the preset ``name`` as a validated ``RunConfig``."""
    try:
        return PRESETS[name]().validate()
    except KeyError:
        raise KeyError(f"Unknown preset {name!r}. Valid presets: {', '.join(PRESETS)}.") from None
