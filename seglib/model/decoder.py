"""Stage 3 of DeepLabV3+, the decoder: the ASPP's coarse output meets the backbone's fine features.

The ASPP output (stride 16) is upsampled bilinearly to stride 4, the
low-level features of the backbone (stride 4, ``feature_layers(...)["low"]``)
are reduced to ``model.low_level_filters`` channels with a 1x1 conv, the two
are concatenated and refined by two 3x3 conv blocks (``conv_block``) of
``model.decoder_filters``. Layers are named ``decoder_upsample``,
``decoder_low_level``, ``decoder_concat``, ``decoder_conv1`` and
``decoder_conv2``.
"""

from __future__ import annotations

from seglib.config import ModelConfig
from seglib.model.blocks import conv_block


def decoder_block(keras, aspp_output, low_level_features, model_config: ModelConfig):
    """Upsample the ASPP output to stride 4, join the projected low-level features, refine with two 3x3 convs."""
    size, momentum = model_config.image_size, model_config.bn_momentum
    separable = model_config.separable
    x = keras.layers.UpSampling2D(
        size=(size // 4 // int(aspp_output.shape[1]), size // 4 // int(aspp_output.shape[2])),
        interpolation="bilinear", name="decoder_upsample")(aspp_output)
    skip = conv_block(keras, low_level_features, "decoder_low_level", model_config.low_level_filters,
                      kernel_size=1, bn_momentum=momentum)
    x = keras.layers.Concatenate(axis=-1, name="decoder_concat")([x, skip])
    x = conv_block(keras, x, "decoder_conv1", model_config.decoder_filters, separable=separable,
                   bn_momentum=momentum)
    return conv_block(keras, x, "decoder_conv2", model_config.decoder_filters, separable=separable,
                      bn_momentum=momentum)
