"""The published Keras example, setting by setting: what the ``keras-example`` preset reproduces and what
the ``course`` preset changes, each change with its reason.

The lab is built on the Keras example "Multiclass semantic segmentation using DeepLabV3+" (``SOURCE``).
``SETTINGS`` is its training setup written as this project's config fields, read from the example's code;
``tests/test_config.py`` compares both presets with it field by field, so a preset cannot drift from the
example without a line in ``COURSE_CHANGES`` saying why. ``NOT_IN_THE_EXAMPLE`` names the config fields
the example has no counterpart for. ``DIFFERENCES`` lists what the whole project does differently from the
example whatever the preset (the Home and Model pages render it).

>>> SETTINGS["train.learning_rate"], SETTINGS["model.bn_momentum"]
(0.001, 0.99)
"""

from __future__ import annotations

from typing import Any

#: Where ``SETTINGS`` was read.
SOURCE = ("keras-io, examples/vision/deeplabv3_plus.py: \"Multiclass semantic segmentation using DeepLabV3+\" "
          "(Soumik Rakshit, 2021; converted to Keras 3, last modified 2024/01/05)")

#: The example's setup as config fields (dotted ``section.field`` -> value), with where each comes from.
SETTINGS: dict[str, Any] = {
    "model.backbone": "resnet50",          # keras.applications.ResNet50(include_top=False)
    "model.weights": "imagenet",           # ResNet50(weights="imagenet")
    "model.image_size": 512,               # IMAGE_SIZE = 512
    "model.num_classes": 20,               # NUM_CLASSES = 20
    "model.output_stride": 16,             # ASPP on conv4_block6_2_relu (1/16), decoder skip conv2_block3_2_relu
    "model.atrous_rates": (6, 12, 18),     # DilatedSpatialPyramidPooling: out_6, out_12, out_18
    "model.aspp_filters": 256,             # convolution_block(num_filters=256)
    "model.low_level_filters": 48,         # convolution_block(input_b, num_filters=48, kernel_size=1)
    "model.decoder_filters": 256,          # two convolution_block(x) after the concatenation
    "model.separable": False,              # layers.Conv2D everywhere
    "model.upsample_logits": False,        # UpSampling2D to the image size, then the 1x1 Conv2D to the classes
    "model.bn_momentum": 0.99,             # layers.BatchNormalization() with Keras's default momentum
    "data.train_count": 1000,              # NUM_TRAIN_IMAGES = 1000
    "data.val_count": 50,                  # NUM_VAL_IMAGES = 50
    "data.augment": False,                 # no flips, no scaling: read_image -> resize -> batch
    "train.batch_size": 4,                 # BATCH_SIZE = 4
    "train.epochs": 25,                    # model.fit(..., epochs=25)
    "train.optimizer": "adam",             # keras.optimizers.Adam(learning_rate=0.001)
    "train.learning_rate": 1e-3,
    "train.decay_rate": 1.0,               # no schedule: the rate stays 1e-3
    "train.weight_decay": 0.0,             # Adam: no weight decay
    "train.loss": "cross-entropy",         # SparseCategoricalCrossentropy(from_logits=True)
    "train.freeze_backbone_epochs": 0,     # the whole model trains from the first step
    "train.early_stopping_patience": 0,    # no callbacks
}

#: Config fields with no counterpart in the example: how the project runs it, not what it computes.
NOT_IN_THE_EXAMPLE: dict[str, str] = {
    "data.root": "which dataset folder (the example reads CIHP's Training folder)",
    "data.cache": "keeps decoded images in memory after the first epoch: speed only",
    "data.seed": "seeds the shuffling (the example does not shuffle; see DIFFERENCES)",
    "model.width": "MobileNetV2's width; unused by ResNet50",
    "train.decay_steps": "unused while the decay rate is 1.0 (a constant rate)",
    "train.mixed_precision": "float16 on a GPU, float32 logits (see DIFFERENCES)",
    "train.jit_compile": "XLA on a GPU: speed only",
    "train.steps_per_execution": "optimizer steps per compiled call: speed only",
    "train.strategy": "one device or several (tf.distribute); the batch size is per device",
    "train.seed": "seeds the weights the example leaves unseeded",
}

#: The ``course`` preset = the example + these changes (config field -> why), and nothing else.
COURSE_CHANGES: dict[str, str] = {
    "train.optimizer": "the lab asks for AdamW, an optimizer with (decoupled) weight decay",
    "train.learning_rate": "the lab asks for a lower initial learning rate than the example's 1e-3",
    "train.decay_rate": "the lab asks for an exponentially decaying learning rate",
    "train.decay_steps": "the pace of that decay (the rate is multiplied by the decay rate every so many steps)",
    "train.weight_decay": ("AdamW's weight decay, sized so that over the course's run the decay alone shrinks "
                           "the kernels as much as the value the measured sweep chose did in the reference runs"),
}

#: What the project does differently from the example whatever the preset, and why (Home, Model page).
DIFFERENCES: list[dict[str, str]] = [
    {"topic": "Mask resizing",
     "example": "masks are resized like photos, with bilinear interpolation",
     "here": "masks are resized with nearest neighbour",
     "why": "Bilinear resizing averages neighbouring label ids into ids that were not there: along an edge "
            "between Background (0) and Hair (2) it writes Hat (1). Nearest neighbour keeps every pixel's "
            "label one of those that were there."},
    {"topic": "Order of the training images",
     "example": "the same file order in every epoch (no shuffling)",
     "here": "a new, seeded order in every epoch",
     "why": "Batches that change from epoch to epoch are the usual practice for stochastic gradient descent; "
            "the seed keeps a run repeatable."},
    {"topic": "Validation images",
     "example": f"the {SETTINGS['data.val_count']} images of CIHP's Training folder that follow its first "
                f"{SETTINGS['data.train_count']:,}",
     "here": "the dataset's own Validation folder (its first `data.val_count` images)",
     "why": "The dataset's own split keeps validation apart from training whatever `data.train_count` is; a "
            "dataset without a Validation folder holds out a tenth of its training images instead."},
    {"topic": "Precision on a GPU",
     "example": "float32 throughout",
     "here": "mixed precision (float16 compute, float32 weights and logits) when a GPU trains",
     "why": "It is faster on a GPU; `train.mixed_precision=off` trains in float32 as the example does."},
]


def preset_settings(config) -> dict[str, Any]:
    """The preset ``config``'s values of the ``SETTINGS`` fields (tuples for the rates, as in ``SETTINGS``)."""
    values = {}
    for field in SETTINGS:
        section, name = field.split(".")
        value = getattr(getattr(config, section), name)
        values[field] = tuple(value) if isinstance(value, list) else value
    return values


def differing_fields(config) -> dict[str, tuple[Any, Any]]:
    """``SETTINGS`` fields where ``config`` differs from the example: field -> (example's value, config's)."""
    values = preset_settings(config)
    return {field: (SETTINGS[field], values[field]) for field in SETTINGS if values[field] != SETTINGS[field]}


def difference_sentences() -> list[str]:
    """``DIFFERENCES`` in words, one Markdown item each (one home for the Home, Model and Exercises pages)."""
    return [f"**{item['topic']}.** The example: {item['example']}; here: {item['here']}. {item['why']}"
            for item in DIFFERENCES]


def differences_markdown() -> str:
    """``difference_sentences`` as Markdown bullets."""
    return "\n".join(f"- {sentence}" for sentence in difference_sentences())
