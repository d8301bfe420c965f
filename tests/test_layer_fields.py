"""Receptive field and stride against depth (``seglib.analysis.fields.depth_profile``), the sentence
and the figure the Model page draws from it, checked on hand-built models whose numbers are known."""

from __future__ import annotations

import doctest

import pytest

from seglib._tf import keras
from seglib.analysis import fields
from seglib.figures import fields as field_figures

layers = keras.layers


def _small_net(size: int = 32):
    """conv 3x3 stride 2 -> BN -> ReLU -> conv 3x3 (dilation 2) -> image pooling branch -> concat -> upsample."""
    inputs = keras.Input((size, size, 1))
    x = layers.Conv2D(2, 3, strides=2, padding="same", name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.Conv2D(2, 3, dilation_rate=2, padding="same", name="atrous")(x)
    pooled = layers.AveragePooling2D(size // 2, name="pool")(x)  # image pooling as the ASPP does it
    pooled = layers.UpSampling2D(size // 2, name="pool_upsample")(pooled)
    x = layers.Concatenate(name="concat")([x, pooled])
    x = layers.UpSampling2D(2, interpolation="bilinear", name="head_upsample")(x)
    return keras.Model(inputs, x)


def test_the_profile_keeps_the_layers_that_move_the_field():
    profile = fields.depth_profile(fields.layer_fields(_small_net()))
    assert list(profile.columns) == [fields.DEPTH_COLUMN, "layer", "type", fields.FIELD_COLUMN, fields.STRIDE_COLUMN,
                                     "output", fields.WHOLE_IMAGE_COLUMN]
    assert list(profile["layer"]) == ["stem", "atrous", "pool", "pool_upsample", "concat", "head_upsample"]
    assert list(profile[fields.DEPTH_COLUMN]) == [1, 2, 3, 4, 5, 6]
    # stem: 3 px at stride 2; atrous: + (5 - 1) x 2 = 11 px; the pool covers its 16 x 16 map: 11 + 15 x 2.
    assert list(profile[fields.FIELD_COLUMN])[:3] == [3, 11, 41]
    assert list(profile[fields.STRIDE_COLUMN])[:3] == [2, 2, 32]
    assert list(profile["output"])[:3] == ["16 × 16", "16 × 16", "1 × 1"]
    assert list(profile[fields.WHOLE_IMAGE_COLUMN]) == [False, False, True, True, True, True]
    assert profile[fields.STRIDE_COLUMN].iloc[-1] == 1


def test_the_sentence_is_computed_from_the_profile():
    profile = fields.depth_profile(fields.layer_fields(_small_net()))
    text = fields.profile_sentence("tiny", profile, 32)
    # The coarsest stride of a map with more than one unit is 2 (the pool's single unit is left out).
    assert "the stride reaches 2 px at depth 1 (`stem`)" in text
    assert "the receptive field reaches the input size at depth 3 (`pool`, 41 px)" in text
    assert "from depth 3 (`pool`) the image pooling feeds every unit" in text
    # The bilinear upsampling reads two neighbouring units, one stride (2 px) apart: 41 + 2.
    assert text.endswith("`head_upsample`, has a stride of 1 px and a receptive field of 43 px.")
    wide = fields.profile_sentence("tiny", profile, 64)
    assert "stays below the input size (at most 43 px of 64)" in wide


def test_a_model_without_such_layers_has_no_profile():
    inputs = keras.Input((8, 8, 1))
    profile = fields.depth_profile(fields.layer_fields(keras.Model(inputs, layers.ReLU()(inputs))))
    assert profile.empty
    with pytest.raises(fields.ModelError, match="no convolution"):
        fields.profile_facts(profile, 8)


def test_the_figure_names_its_axes_as_the_table_does_and_marks_each_input_size():
    profile = fields.depth_profile(fields.layer_fields(_small_net()))
    figure = field_figures.depth_figure({"tiny": (profile, 32), "wide": (profile, 64)})
    assert figure.layout.yaxis.title.text == fields.FIELD_COLUMN
    assert figure.layout.yaxis2.title.text == fields.STRIDE_COLUMN
    assert figure.layout.xaxis2.title.text.startswith(fields.DEPTH_COLUMN)
    inputs = [trace for trace in figure.data if trace.name.endswith(": input size")]
    assert [(trace.name, tuple(trace.y)) for trace in inputs] == [("tiny: input size", (32, 32)),
                                                                  ("wide: input size", (64, 64))]
    assert inputs[0].text[-1] == "input 32 px"
    field_trace = next(trace for trace in figure.data if trace.name == "tiny" and trace.yaxis == "y")
    assert list(field_trace.y) == list(profile[fields.FIELD_COLUMN])
    assert doctest.testmod(field_figures).failed == 0


def test_the_model_pages_layer_table_and_its_search():
    from seglib.model.summary import layer_frame, matching_layers

    rows = [{"name": "block_1_expand", "type": "Conv2D", "output_shape": (None, 8, 8, 16), "params": 48,
             "stage": "backbone", "kernel_size": (1, 1), "dilation_rate": (1, 1)},
            {"name": "aspp_rate6", "type": "SeparableConv2D", "output_shape": (None, 4, 4, 32), "params": 600,
             "stage": "aspp", "kernel_size": (3, 3), "dilation_rate": (6, 6)},
            {"name": "logits", "type": "UpSampling2D", "output_shape": (None, 64, 64, 20), "params": 0,
             "stage": "head"}]
    frame = layer_frame(rows)
    assert list(frame["output shape"]) == ["(None, 8, 8, 16)", "(None, 4, 4, 32)", "(None, 64, 64, 20)"]
    assert list(frame["kernel"]) == ["1×1", "3×3", ""] and list(frame["dilation"]) == ["1", "6", ""]
    stages = ["backbone", "aspp", "head"]
    assert list(matching_layers(frame, "  ", stages)) == [True, True, True]
    assert list(matching_layers(frame, "ASPP", stages)) == [False, True, False]       # name or stage, any case
    assert list(matching_layers(frame, "(None, 64", stages)) == [False, False, True]  # output shape
    assert list(matching_layers(frame, "conv2d", ["backbone"])) == [True, False, False]
