"""DeepLabV3+ for human-part segmentation, built from a ``ModelConfig``.

The architecture follows the keras-io example "Multiclass semantic segmentation
using DeepLabV3+" (``examples/vision/deeplabv3_plus.py``), with every number
taken from the configuration instead of constants:

```
image (0..255) -> preprocessing -> backbone --(stride 16)--> ASPP -----------+
                                       |                                     | x4 bilinear
                                       +--(stride 4)--> 1x1 projection --> concat -> 2 x 3x3 conv
                                                                              -> x4 bilinear -> 1x1 conv = logits
```

* **Backbone.** ``resnet50`` is cut exactly where the Keras example cuts it
  (ASPP on ``conv4_block6_2_relu``, low-level features from
  ``conv2_block3_2_relu``); at 512 px and 20 classes the whole model has the
  example's published 11,857,236 parameters. ``mobilenetv2`` (with a width
  multiplier) is the CPU-friendly choice: ASPP on ``block_13_expand_relu``
  (stride 16), low-level features from ``block_3_expand_relu`` (stride 4).
* **ASPP** (atrous spatial pyramid pooling): image pooling, a 1x1 branch and
  one 3x3 branch per atrous rate, concatenated and projected with a 1x1 conv.
  Layers are named ``aspp_pool``, ``aspp_pool_conv``, ``aspp_1x1``,
  ``aspp_rate6`` ... ``aspp_concat``, ``aspp_project`` so pages can find them;
  the dilation of each atrous branch is the ``dilation_rate`` of its layer.
* **Decoder** layers are named ``decoder_...``; the final 1x1 conv is
  ``logits`` (float32, no softmax: the loss uses ``from_logits=True``).

Preprocessing (the backbone's own ImageNet normalisation) is a weightless layer
inside the graph, so a saved model takes plain 0..255 images and needs nothing
else to run. The model is a ``DeepLabV3Plus`` functional model whose
``get_config()`` is its ``ModelConfig``: a saved ``.keras`` file rebuilds the
same graph and reloads to equal outputs, and ``model_config_of(model)`` gives
the configuration back.

>>> from seglib.config import get_preset
>>> model = build_model(get_preset("lecture").model)       # doctest: +SKIP
>>> model.output_shape                                       # doctest: +SKIP
(None, 128, 128, 20)

The rest of the model package: ``seglib.model.summary`` (layer tables and the
``model`` command), ``seglib.model.saving`` (``.keras`` files),
``seglib.model.imagenet`` and ``seglib.model.pretrained`` (where the backbone starts).
TensorFlow is imported on first use only (``seglib._tf``); importing this
module stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from seglib._tf import import_tf
from seglib.config import BACKBONES, ModelConfig, model_config_from_saved
from seglib.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

#: Where each backbone is cut: ``high`` feeds the ASPP (output stride 16),
#: ``low`` feeds the decoder's skip connection (stride 4). ``preprocessing`` is
#: the ImageNet normalisation the backbone's weights were trained with.
BACKBONE_FEATURES: dict[str, dict[str, Any]] = {
    "resnet50": {
        "high": "conv4_block6_2_relu",
        "low": "conv2_block3_2_relu",
        "preprocessing": "caffe",
        "high_stride": 16,
        "low_stride": 4,
    },
    "mobilenetv2": {
        "high": "block_13_expand_relu",
        "low": "block_3_expand_relu",
        "preprocessing": "tf",
        "high_stride": 16,
        "low_stride": 4,
    },
}

#: Stage names in the order data flows through them.
STAGES = ("backbone", "aspp", "decoder", "head")

#: Mean BGR pixel of ImageNet, subtracted by ResNet50's "caffe" preprocessing.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# ---------------------------------------------------------------------------
# Where the backbone is cut (no TensorFlow needed)
# ---------------------------------------------------------------------------

def feature_layers(model_config: ModelConfig) -> dict[str, Any]:
    """Names of the backbone layers the head reads, and their strides.

    Returns ``{"high": <ASPP input layer>, "low": <low-level layer>,
    "high_stride": 16, "low_stride": 4, "preprocessing": "caffe"|"tf"}``. The
    receptive-field analysis walks from the input to ``high`` and then into
    each ASPP branch.
    """
    try:
        return dict(BACKBONE_FEATURES[model_config.backbone])
    except KeyError:
        raise ConfigError(f"model.backbone must be one of {BACKBONES}. "
                          f"Received: model.backbone={model_config.backbone!r}") from None


def branch_layer_name(rate: int) -> str:
    """Name of the ASPP layer holding the atrous 3x3 conv at ``rate``."""
    return f"aspp_rate{int(rate)}"


# ---------------------------------------------------------------------------
# Custom Keras classes (defined on first use, so importing seglib stays TF-free)
# ---------------------------------------------------------------------------

@functools.cache
def keras_classes() -> dict[str, Any]:
    """The custom Keras classes (``ImagePreprocessing``, ``DeepLabV3Plus``), defined and registered once."""
    tf, keras = import_tf()

    @keras.saving.register_keras_serializable(package="seglib")
    class ImagePreprocessing(keras.layers.Layer):
        """The backbone's ImageNet normalisation, as a layer without weights.

        ``mode="caffe"`` (ResNet50): RGB -> BGR, then subtract the ImageNet mean
        pixel, exactly like ``keras.applications.resnet50.preprocess_input``.
        ``mode="tf"`` (MobileNetV2): scale 0..255 to -1..1.
        Inputs are float images in 0..255.
        """

        def __init__(self, mode: str = "caffe", **kwargs):
            super().__init__(**kwargs)
            if mode not in ("caffe", "tf"):
                raise ValueError(f"mode must be 'caffe' or 'tf'. Received: mode={mode!r}")
            self.mode = mode

        def call(self, inputs):
            images = keras.ops.cast(inputs, self.compute_dtype)
            if self.mode == "caffe":
                mean = keras.ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
                return keras.ops.flip(images, axis=-1) - mean
            return images / 127.5 - 1.0

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "mode": self.mode}

    @keras.saving.register_keras_serializable(package="seglib")
    class DeepLabV3Plus(keras.Model):
        """DeepLabV3+ as a functional model whose config is its ``ModelConfig``.

        Args:
            model_config: a ``ModelConfig`` or its dict (as in ``config.json``).
            load_weights: load ImageNet backbone weights when the config asks for
                them and they are in the Keras cache. Reloading a saved model
                passes ``False``: its own weights replace them anyway.
        """

        def __init__(self, model_config, load_weights: bool = True, **kwargs):
            model_config = _as_model_config(model_config)
            inputs, outputs, weights_message = build_graph(keras, model_config, load_weights)
            kwargs.setdefault("name", f"deeplabv3plus_{model_config.backbone}")
            super().__init__(inputs=inputs, outputs=outputs, **kwargs)
            self.model_config = model_config
            self.weights_message = weights_message

        def get_config(self):
            return {"name": self.name, "trainable": self.trainable,
                    "model_config": _model_config_dict(self.model_config)}

        @classmethod
        def from_config(cls, config, custom_objects=None):
            config = dict(config)
            config.setdefault("load_weights", False)
            return cls(**config)

    # Saved files name the module a class comes from; Keras imports it to find the class when its
    # registry does not know it yet. seglib.keras_objects defines them on import, so a checkpoint
    # loads with keras.saving.load_model alone.
    for cls in (ImagePreprocessing, DeepLabV3Plus):
        cls.__module__ = "seglib.keras_objects"
    return {"ImagePreprocessing": ImagePreprocessing, "DeepLabV3Plus": DeepLabV3Plus}


def __getattr__(name: str):
    """``seglib.model.deeplab.DeepLabV3Plus`` and ``ImagePreprocessing`` import TF on first access."""
    if name in ("DeepLabV3Plus", "ImagePreprocessing"):
        return keras_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def custom_objects() -> dict[str, Any]:
    """The custom classes a saved seglib model needs (all registered under 'seglib')."""
    return keras_classes()


# ---------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------

def _as_model_config(value) -> ModelConfig:
    if isinstance(value, ModelConfig):
        return value.validate() or value
    if isinstance(value, dict):  # from a saved model's config: a missing field is named, never a default
        return model_config_from_saved(value, "the saved model")
    raise ConfigError(f"model_config must be a ModelConfig or a dict. Received: {type(value).__name__}")


def _model_config_dict(model_config: ModelConfig) -> dict[str, Any]:
    raw = dataclasses.asdict(model_config)
    raw["atrous_rates"] = list(raw["atrous_rates"])
    return raw


def _check_buildable(model_config: ModelConfig) -> None:
    model_config.validate()
    rates = list(model_config.atrous_rates)
    if len(set(rates)) != len(rates):
        raise ConfigError(f"model.atrous_rates must not repeat a rate. Received: {tuple(rates)!r}")
    if 1 in rates:
        raise ConfigError("model.atrous_rates must be greater than 1 (the 1x1 branch covers rate 1). "
                          f"Received: {tuple(rates)!r}")
    if model_config.output_stride != 16:
        raise ConfigError("Both backbones are cut at output stride 16. "
                          f"Received: model.output_stride={model_config.output_stride}")


def _conv_block(keras, x, name: str, filters: int, kernel_size: int = 3, dilation_rate: int = 1,
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


def aspp_block(keras, features, model_config: ModelConfig):
    """Atrous spatial pyramid pooling: image pooling + 1x1 + one 3x3 per rate."""
    height, width = int(features.shape[1]), int(features.shape[2])
    filters, momentum = model_config.aspp_filters, model_config.bn_momentum
    separable = model_config.separable

    pooled = keras.layers.AveragePooling2D(pool_size=(height, width), name="aspp_pool")(features)
    pooled = _conv_block(keras, pooled, "aspp_pool_conv", filters, kernel_size=1, use_bias=True,
                         bn_momentum=momentum)
    pooled = keras.layers.UpSampling2D(size=(height, width), interpolation="bilinear",
                                       name="aspp_pool_upsample")(pooled)
    branches = [pooled, _conv_block(keras, features, "aspp_1x1", filters, kernel_size=1,
                                    bn_momentum=momentum)]
    for rate in model_config.atrous_rates:
        branches.append(_conv_block(keras, features, branch_layer_name(rate), filters, kernel_size=3,
                                    dilation_rate=int(rate), separable=separable, bn_momentum=momentum))
    x = keras.layers.Concatenate(axis=-1, name="aspp_concat")(branches)
    return _conv_block(keras, x, "aspp_project", filters, kernel_size=1, bn_momentum=momentum)


def build_backbone(keras, model_config: ModelConfig):
    """The image input, the backbone's ImageNet preprocessing and the Keras Applications backbone
    (random weights), with every BatchNorm at ``model_config.bn_momentum``.

    Returns ``(inputs, backbone)``; ``backbone.get_layer(feature_layers(...)["high"])``
    is where the ASPP (or the pretraining heads) reads. Keras's default BN
    momentum (0.99) leaves the moving statistics stale for minutes when training
    from scratch on a CPU; one setting for every BN.
    """
    import warnings

    size = model_config.image_size
    cut = feature_layers(model_config)
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    images = keras_classes()["ImagePreprocessing"](mode=cut["preprocessing"], name="preprocessing")(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # size/alpha notes only matter for weights, handled apart
        if model_config.backbone == "resnet50":
            backbone = keras.applications.ResNet50(weights=None, include_top=False, input_tensor=images)
        else:
            backbone = keras.applications.MobileNetV2(alpha=float(model_config.width), weights=None,
                                                      include_top=False, input_tensor=images)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = model_config.bn_momentum
    return inputs, backbone


def _load_backbone_weights(backbone, model_config: ModelConfig, load_weights: bool) -> str:
    """Give the backbone the start ``model.weights`` asks for; return the sentence that says which.

    ``pretrained``: the project's own backbone from ``assets/pretrained``
    (``seglib.model.pretrained``); ``imagenet``: Keras's file, only from its cache;
    ``none`` (or a start that is not on this machine): random weights.
    """
    if not load_weights:
        return ("Weights come from the saved model." if model_config.weights != "none"
                else "The backbone started from random weights (weights='none').")
    if model_config.weights == "pretrained":
        from seglib.model.pretrained import load_backbone, pretrained_status

        status = pretrained_status(model_config)
        if status["available"]:
            try:
                load_backbone(backbone, model_config, status["path"])
            except ModelError as error:
                message = f"{error} The backbone starts from random weights."
                logger.warning(message)
                return message
        logger.info(status["message"])
        return status["message"]
    from seglib.model.imagenet import cached_imagenet_weights, imagenet_weights_status

    weights = imagenet_weights_status(model_config)
    message = weights["message"]
    if weights["available"]:
        try:
            backbone.load_weights(str(cached_imagenet_weights(model_config)))
        except Exception as error:  # a damaged cache file must not stop the build
            message = (f"The cached ImageNet weights {weights['file_name']} could not be read ({error}); "
                       "the backbone starts from random weights.")
    if weights["requested"]:
        logger.info(message)
    return message


def build_graph(keras, model_config: ModelConfig, load_weights: bool = True):
    """The DeepLabV3+ graph: ``(inputs, logits, weights_message)`` for ``keras.Model(inputs, logits)``."""
    _check_buildable(model_config)
    size, momentum = model_config.image_size, model_config.bn_momentum
    separable = model_config.separable
    cut = feature_layers(model_config)

    inputs, backbone = build_backbone(keras, model_config)
    message = _load_backbone_weights(backbone, model_config, load_weights)
    high = backbone.get_layer(cut["high"]).output
    low = backbone.get_layer(cut["low"]).output

    x = aspp_block(keras, high, model_config)
    x = keras.layers.UpSampling2D(size=(size // 4 // int(x.shape[1]), size // 4 // int(x.shape[2])),
                                  interpolation="bilinear", name="decoder_upsample")(x)
    skip = _conv_block(keras, low, "decoder_low_level", model_config.low_level_filters, kernel_size=1,
                       bn_momentum=momentum)
    x = keras.layers.Concatenate(axis=-1, name="decoder_concat")([x, skip])
    x = _conv_block(keras, x, "decoder_conv1", model_config.decoder_filters, separable=separable,
                    bn_momentum=momentum)
    x = _conv_block(keras, x, "decoder_conv2", model_config.decoder_filters, separable=separable,
                    bn_momentum=momentum)
    factor = (size // int(x.shape[1]), size // int(x.shape[2]))
    if model_config.upsample_logits:
        # The 1x1 conv and the bilinear upsampling are both linear and the
        # bilinear weights sum to 1, so conv-then-upsample computes the same
        # function as the example's upsample-then-conv, on 16x fewer positions
        # (and it upsamples 20 channels instead of 256).
        x = keras.layers.Conv2D(model_config.num_classes, kernel_size=1, padding="same",
                                name="head_logits")(x)
        outputs = keras.layers.UpSampling2D(size=factor, interpolation="bilinear", dtype="float32",
                                            name="logits")(x)
        return inputs, outputs, message
    x = keras.layers.UpSampling2D(size=factor, interpolation="bilinear", name="head_upsample")(x)
    outputs = keras.layers.Conv2D(model_config.num_classes, kernel_size=1, padding="same",
                                  dtype="float32", name="logits")(x)
    return inputs, outputs, message


def build_model(model_config: ModelConfig):
    """Build DeepLabV3+ for ``model_config``.

    Input: float32 images ``(B, S, S, 3)`` in 0..255 (``S = image_size``).
    Output: float32 logits ``(B, S, S, num_classes)``, no softmax.
    ImageNet weights are loaded only when ``model_config.weights == "imagenet"``
    and their file is already in the Keras cache; otherwise the backbone starts
    from random weights and ``model.weights_message`` says why.
    Raises ``ConfigError`` for settings that cannot be built.
    """
    if not isinstance(model_config, ModelConfig):
        raise ConfigError(f"build_model needs a ModelConfig. Received: {type(model_config).__name__}")
    try:
        return keras_classes()["DeepLabV3Plus"](model_config)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ModelError(f"Cannot build the model for {model_config}: {error}") from error


def model_config_of(model) -> ModelConfig:
    """The ``ModelConfig`` a seglib model was built from (also after save/load)."""
    config = getattr(model, "model_config", None)
    if isinstance(config, ModelConfig):
        return config
    raise ModelError(f"The model {getattr(model, 'name', model)!r} was not built by seglib "
                     "(it has no model_config); build it with seglib.model.deeplab.build_model.")
