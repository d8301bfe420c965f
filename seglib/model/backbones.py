"""Stage 1 of DeepLabV3+, the backbone (encoder): where it is cut, how it is built, where its weights come from.

* **The cut table** (``BACKBONE_FEATURES``). ``resnet50`` is cut exactly where
  the Keras example cuts it (ASPP on ``conv4_block6_2_relu``, low-level
  features from ``conv2_block3_2_relu``). ``mobilenetv2`` (with a width
  multiplier) is the CPU-friendly choice: ASPP on ``block_13_expand_relu``
  (stride 16), low-level features from ``block_3_expand_relu`` (stride 4).
* **Building it** (``build_backbone``): the image input, the backbone's own
  ImageNet normalisation as a weightless layer (``ImagePreprocessing``, so a
  saved model takes plain 0..255 images) and the Keras Applications network
  with random weights, every BatchNorm at ``model.bn_momentum``.
* **Its weights** (``load_start_weights``), as ``model.weights`` says:
  ``pretrained``, the project's own backbone from ``assets/pretrained``
  (``seglib.model.pretrained`` finds the file and its card; the ``.npz`` is
  read and written here by layer name, ``load_backbone`` / ``save_backbone``);
  ``imagenet``, Keras's file, only from its cache (``seglib.model.imagenet``);
  ``none``, or a start that is not on this machine: random weights.

TensorFlow is imported on first use only (``seglib._tf``).

>>> from seglib.presets import get_preset
>>> feature_layers(get_preset("course").model)["high"]
'conv4_block6_2_relu'
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seglib import keras_internals
from seglib._tf import import_tf
from seglib.config import BACKBONES, ModelConfig
from seglib.errors import ConfigError, ModelError
from seglib.io import atomic_write
from seglib.model.imagenet import cached_imagenet_weights, imagenet_weights_status
from seglib.model.pretrained import pretrained_status

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


# ---------------------------------------------------------------------------
# Building it
# ---------------------------------------------------------------------------

@functools.cache
def preprocessing_layer_class():
    """The ``ImagePreprocessing`` Keras layer, defined and registered (``seglib>ImagePreprocessing``) once."""
    _, keras = import_tf()

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

    # Saved files name the module a class comes from: seglib.keras_objects defines every seglib class.
    ImagePreprocessing.__module__ = "seglib.keras_objects"
    return ImagePreprocessing


def build_backbone(keras, model_config: ModelConfig):
    """The image input, the backbone's ImageNet preprocessing and the Keras Applications backbone
    (random weights), with every BatchNorm at ``model_config.bn_momentum``.

    Returns ``(inputs, backbone)``; ``backbone.get_layer(feature_layers(...)["high"])``
    is where the ASPP (or the pretraining heads) reads. Keras's default BN
    momentum (0.99) leaves the moving statistics stale for minutes when training
    from scratch on a CPU; one setting for every BN.
    """
    size = model_config.image_size
    cut = feature_layers(model_config)
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    images = preprocessing_layer_class()(mode=cut["preprocessing"], name="preprocessing")(inputs)
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


# ---------------------------------------------------------------------------
# Where its weights come from
# ---------------------------------------------------------------------------

def load_start_weights(backbone, model_config: ModelConfig, load_weights: bool) -> str:
    """Give the backbone the start ``model.weights`` asks for; return the sentence that says which.

    ``pretrained``: the project's own backbone from ``assets/pretrained``;
    ``imagenet``: Keras's file, only from its cache; ``none`` (or a start that
    is not on this machine): random weights. ``load_weights=False`` (a saved
    model being reloaded) leaves the random weights: the file's own replace them.
    """
    if not load_weights:
        return ("Weights come from the saved model." if model_config.weights != "none"
                else "The backbone started from random weights (weights='none').")
    if model_config.weights == "pretrained":
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


def backbone_layers(model, model_config: ModelConfig) -> list:
    """The backbone layers with weights that feed the ASPP (ancestors of the ``high`` cut)."""
    high = feature_layers(model_config)["high"]
    wanted: set[str] = set()
    frontier = [model.get_layer(high)]
    while frontier:
        layer = frontier.pop()
        if layer.name in wanted:
            continue
        wanted.add(layer.name)
        frontier.extend(keras_internals.parent_layers(layer))
    return [layer for layer in model.layers if layer.name in wanted and layer.weights]


def save_backbone(model, model_config: ModelConfig, path: str | os.PathLike) -> Path:
    """Write the backbone's weights (by layer name) to an ``.npz``, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for layer in backbone_layers(model, model_config):
        for index, weight in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{index}"] = np.asarray(weight, np.float32)

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez_compressed(file, **arrays)

    return atomic_write(path, write)


def load_backbone(model, model_config: ModelConfig, path: str | os.PathLike) -> int:
    """Set the backbone layers of ``model`` from ``path``; return the number of layers set.

    Raises ``ModelError`` when the file is unreadable or its shapes do not fit
    (another width), so a wrong file never half-loads silently.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError) as error:
        raise ModelError(f"{path.name} is not a readable pretrained backbone ({error}).") from error
    by_layer: dict[str, dict[int, np.ndarray]] = {}
    for key, value in stored.items():
        name, _, index = key.rpartition("/")
        if not name or not index.isdigit():
            raise ModelError(f"{path.name} holds an unexpected entry {key!r}; rebuild it with "
                             "`python -m seglib pretrain`.")
        by_layer.setdefault(name, {})[int(index)] = value
    layers = backbone_layers(model, model_config)
    missing = [layer.name for layer in layers if layer.name not in by_layer]
    if missing:
        raise ModelError(f"{path.name} has no weights for {len(missing)} backbone layers (e.g. {missing[0]}); "
                         "it was made for another backbone. Rebuild it with `python -m seglib pretrain`.")
    plans = []
    for layer in layers:
        values = [by_layer[layer.name][i] for i in sorted(by_layer[layer.name])]
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(v.shape) for v in values] != expected:
            raise ModelError(f"{path.name} does not fit layer {layer.name} (shapes "
                             f"{[tuple(v.shape) for v in values]} vs {expected}); it was made for another width.")
        plans.append((layer, values))
    for layer, values in plans:
        layer.set_weights(values)
    return len(plans)


def __getattr__(name: str):
    """``seglib.model.backbones.ImagePreprocessing`` imports TensorFlow on first access."""
    if name == "ImagePreprocessing":
        return preprocessing_layer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
