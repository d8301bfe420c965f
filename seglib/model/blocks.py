"""The building block the ASPP and the decoder share: conv -> BatchNorm -> ReLU.

It is the Keras example's ``convolution_block``: a He-normal, ``"same"``-padded
convolution (optionally depthwise-separable, as in DeepLabV3+'s Xception
variant) followed by BatchNorm and ReLU. The conv layer itself carries the
block's name, so its ``kernel_size`` and ``dilation_rate`` can be read from a
built model; BN and ReLU add ``_bn`` and ``_relu``.
"""

from __future__ import annotations


def conv_block(keras, x, name: str, filters: int, kernel_size: int = 3, dilation_rate: int = 1,
               use_bias: bool = False, separable: bool = False, bn_momentum: float = 0.9):
    """Conv (He-normal, 'same') -> BatchNorm -> ReLU, as the Keras example's ``convolution_block``.

    The conv layer itself is called ``name`` so its ``dilation_rate`` and
    ``kernel_size`` can be read from the model; BN and ReLU add suffixes.
    """
    if separable and kernel_size > 1:
        x = keras.layers.SeparableConv2D(
            filters, kernel_size=kernel_size, dilation_rate=dilation_rate, padding="same",
            use_bias=use_bias, depthwise_initializer=keras.initializers.HeNormal(),
            pointwise_initializer=keras.initializers.HeNormal(), name=name)(x)
    else:
        x = keras.layers.Conv2D(
            filters, kernel_size=kernel_size, dilation_rate=dilation_rate, padding="same",
            use_bias=use_bias, kernel_initializer=keras.initializers.HeNormal(), name=name)(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)
