"""DeepLabV3+ for human-part segmentation, built from a ``ModelConfig``: the four stages, assembled.

The architecture follows the keras-io example "Multiclass semantic segmentation
using DeepLabV3+" (``examples/vision/deeplabv3_plus.py``), with every number
taken from the configuration instead of constants:

```
image (0..255) -> preprocessing -> backbone --(stride 16)--> ASPP -----------+
                                       |                                     | x4 bilinear
                                       +--(stride 4)--> 1x1 projection --> concat -> 2 x 3x3 conv
                                                                              -> x4 bilinear -> 1x1 conv = logits
```

Each stage has its module, in the order data flows through them (``STAGES``):

1. ``seglib.model.backbones``: the cut table (which backbone layer feeds the
   ASPP and which the decoder), building the backbone with its preprocessing
   layer, and where its weights come from (ImageNet, the project's pretrained
   file, none). At 512 px and 20 classes the ``resnet50`` model has the
   example's published 11,857,236 parameters.
2. ``seglib.model.aspp``: image pooling, a 1x1 branch and one 3x3 branch per
   atrous rate, concatenated and projected (layers ``aspp_...``).
3. ``seglib.model.decoder``: the ASPP output upsampled to stride 4 and joined
   with the projected low-level features (layers ``decoder_...``).
4. ``seglib.model.head``: the 1x1 conv to one logit per class at the input
   size; the last layer is ``logits`` (float32, no softmax: the loss uses
   ``from_logits=True``).

This module joins them (``build_graph``) into a ``DeepLabV3Plus`` functional
model whose ``get_config()`` is its ``ModelConfig``: a saved ``.keras`` file
rebuilds the same graph and reloads to equal outputs, and
``model_config_of(model)`` gives the configuration back.

>>> from seglib.presets import get_preset
>>> model = build_model(get_preset("lecture").model)       # doctest: +SKIP
>>> model.output_shape                                       # doctest: +SKIP
(None, 128, 128, 20)

The rest of the model package: ``seglib.model.summary`` (layer tables and the
``model`` command), ``seglib.model.saving`` (``.keras`` files),
``seglib.model.imagenet`` and ``seglib.model.pretrained`` (the backbone's
weight files). TensorFlow is imported on first use only (``seglib._tf``);
importing this module stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from seglib._tf import import_tf
from seglib.config import ModelConfig, model_config_from_saved
from seglib.errors import ConfigError, ModelError
from seglib.model.aspp import aspp_block
from seglib.model.backbones import build_backbone, feature_layers, load_start_weights, preprocessing_layer_class
from seglib.model.decoder import decoder_block
from seglib.model.head import head_block

#: Stage names in the order data flows through them.
STAGES = ("backbone", "aspp", "decoder", "head")


# ---------------------------------------------------------------------------
# The model class (defined on first use, so importing seglib stays TF-free)
# ---------------------------------------------------------------------------

@functools.cache
def deeplab_class():
    """The ``DeepLabV3Plus`` Keras model class, defined and registered (``seglib>DeepLabV3Plus``) once."""
    tf, keras = import_tf()

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
    DeepLabV3Plus.__module__ = "seglib.keras_objects"
    return DeepLabV3Plus


def __getattr__(name: str):
    """``seglib.model.deeplab.DeepLabV3Plus`` imports TF on first access."""
    if name == "DeepLabV3Plus":
        return deeplab_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def custom_objects() -> dict[str, Any]:
    """The custom classes a saved seglib model needs (all registered under 'seglib')."""
    return {"ImagePreprocessing": preprocessing_layer_class(), "DeepLabV3Plus": deeplab_class()}


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


def build_graph(keras, model_config: ModelConfig, load_weights: bool = True):
    """The DeepLabV3+ graph: ``(inputs, logits, weights_message)`` for ``keras.Model(inputs, logits)``.

    backbone (with its start weights) -> ASPP on the stride-16 features -> decoder with the
    stride-4 features -> head.
    """
    _check_buildable(model_config)
    cut = feature_layers(model_config)
    inputs, backbone = build_backbone(keras, model_config)
    message = load_start_weights(backbone, model_config, load_weights)
    high = backbone.get_layer(cut["high"]).output
    low = backbone.get_layer(cut["low"]).output
    x = aspp_block(keras, high, model_config)
    x = decoder_block(keras, x, low, model_config)
    return inputs, head_block(keras, x, model_config), message


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
        return deeplab_class()(model_config)
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
