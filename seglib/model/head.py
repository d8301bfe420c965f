"""Stage 4 of DeepLabV3+, the head: one 1x1 conv to a logit per class, and back to the input size.

The decoder's output (stride 4) becomes ``model.num_classes`` logits per pixel
at the input's size: float32, no softmax (the loss uses ``from_logits=True``).
The last layer is always ``logits``. The Keras example upsamples first and
then applies the 1x1 conv (``head_upsample``, ``logits``); with
``model.upsample_logits`` the conv comes first (``head_logits``) and the
upsampling is the ``logits`` layer: the same function, on 16x fewer positions.
"""

from __future__ import annotations

from seglib.config import ModelConfig


def head_block(keras, decoder_output, model_config: ModelConfig):
    """The logits ``(B, S, S, num_classes)`` (float32) from the decoder's stride-4 output."""
    size = model_config.image_size
    x = decoder_output
    factor = (size // int(x.shape[1]), size // int(x.shape[2]))
    if model_config.upsample_logits:
        # The 1x1 conv and the bilinear upsampling are both linear and the
        # bilinear weights sum to 1, so conv-then-upsample computes the same
        # function as the example's upsample-then-conv, on 16x fewer positions
        # (and it upsamples 20 channels instead of 256).
        x = keras.layers.Conv2D(model_config.num_classes, kernel_size=1, padding="same",
                                name="head_logits")(x)
        return keras.layers.UpSampling2D(size=factor, interpolation="bilinear", dtype="float32",
                                         name="logits")(x)
    x = keras.layers.UpSampling2D(size=factor, interpolation="bilinear", name="head_upsample")(x)
    return keras.layers.Conv2D(model_config.num_classes, kernel_size=1, padding="same",
                               dtype="float32", name="logits")(x)
