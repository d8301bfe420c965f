"""Stage 2 of DeepLabV3+, the ASPP (atrous spatial pyramid pooling), on the backbone's stride-16 features.

Parallel branches look at the same features at several scales: image pooling
(the whole image, averaged, then spread back), a 1x1 conv, and one 3x3 conv per
atrous rate (``model.atrous_rates``, 6 / 12 / 18 in the Keras example), each a
``conv_block``. Their outputs are concatenated and projected with a 1x1 conv.

Layers are named ``aspp_pool``, ``aspp_pool_conv``, ``aspp_1x1``,
``aspp_rate6`` ... ``aspp_concat``, ``aspp_project`` so pages (and the
ablation of ``seglib.analysis.ablation``) can find them; the dilation of each
atrous branch is the ``dilation_rate`` of its layer (``branch_layer_name``).
"""

from __future__ import annotations

from seglib.config import ModelConfig
from seglib.model.blocks import conv_block


def branch_layer_name(rate: int) -> str:
    """Name of the ASPP layer holding the atrous 3x3 conv at ``rate``."""
    return f"aspp_rate{int(rate)}"


def aspp_block(keras, features, model_config: ModelConfig):
    """Atrous spatial pyramid pooling: image pooling + 1x1 + one 3x3 per rate."""
    height, width = int(features.shape[1]), int(features.shape[2])
    filters, momentum = model_config.aspp_filters, model_config.bn_momentum
    separable = model_config.separable

    pooled = keras.layers.AveragePooling2D(pool_size=(height, width), name="aspp_pool")(features)
    pooled = conv_block(keras, pooled, "aspp_pool_conv", filters, kernel_size=1, use_bias=True,
                        bn_momentum=momentum)
    pooled = keras.layers.UpSampling2D(size=(height, width), interpolation="bilinear",
                                       name="aspp_pool_upsample")(pooled)
    branches = [pooled, conv_block(keras, features, "aspp_1x1", filters, kernel_size=1,
                                   bn_momentum=momentum)]
    for rate in model_config.atrous_rates:
        branches.append(conv_block(keras, features, branch_layer_name(rate), filters, kernel_size=3,
                                   dilation_rate=int(rate), separable=separable, bn_momentum=momentum))
    x = keras.layers.Concatenate(axis=-1, name="aspp_concat")(branches)
    return conv_block(keras, x, "aspp_project", filters, kernel_size=1, bn_momentum=momentum)
