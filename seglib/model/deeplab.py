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

TensorFlow is imported on first use only (``seglib._tf``); importing this
module stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import zipfile
from pathlib import Path
from typing import Any

from seglib._tf import import_tf
from seglib.config import BACKBONES, ModelConfig, RunConfig, get_preset, preset_names
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

#: MobileNetV2 widths (alpha) and input sizes Keras publishes ImageNet weights for.
MOBILENETV2_IMAGENET_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENETV2_IMAGENET_SIZES = (96, 128, 160, 192, 224)

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
# ImageNet weights: only from the Keras cache, never from the network
# ---------------------------------------------------------------------------

def imagenet_weights_file(model_config: ModelConfig) -> str | None:
    """File name Keras uses for the backbone's no-top ImageNet weights.

    ``None`` when Keras publishes no weights for this backbone setting
    (MobileNetV2 widths outside ``MOBILENETV2_IMAGENET_WIDTHS``).
    """
    if model_config.backbone == "resnet50":
        return "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if model_config.backbone == "mobilenetv2":
        width = float(model_config.width)
        if not any(abs(width - w) < 1e-9 for w in MOBILENETV2_IMAGENET_WIDTHS):
            return None
        rows = model_config.image_size if model_config.image_size in MOBILENETV2_IMAGENET_SIZES else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{width}_{rows}_no_top.h5"
    return None


def keras_cache_dir() -> Path:
    """The folder Keras caches downloaded weights in (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def imagenet_weights_status(model_config: ModelConfig) -> dict[str, Any]:
    """Say whether ImageNet weights will be used, and why not if they will not.

    Returns ``{"requested": bool, "available": bool, "path": Path | None,
    "message": str}``. Nothing is downloaded: weights count as available only
    when their file is already in the Keras cache (see ``fetch_imagenet_weights``).
    """
    requested = model_config.weights == "imagenet"
    file_name = imagenet_weights_file(model_config)
    path = keras_cache_dir() / file_name if file_name else None
    available = bool(path and path.is_file() and path.stat().st_size > 0)
    if file_name is None:
        message = (f"Keras publishes no ImageNet weights for MobileNetV2 at width {model_config.width:g} "
                   f"(available widths: {', '.join(f'{w:g}' for w in MOBILENETV2_IMAGENET_WIDTHS)}); "
                   "the backbone starts from random weights.")
    elif not requested:
        message = "The backbone starts from random weights (weights='none')."
    elif available:
        message = f"ImageNet weights for the {model_config.backbone} backbone loaded from the Keras cache."
    else:
        message = (f"ImageNet weights for the {model_config.backbone} backbone are not in the Keras cache "
                   f"({file_name}); the backbone starts from random weights. On a machine with internet, "
                   "fetch them once with `python -m seglib model --fetch-weights`.")
    return {"requested": requested, "available": available and requested, "path": path,
            "file_name": file_name, "message": message}


def fetch_imagenet_weights(model_config: ModelConfig, progress=None, timeout: float = 60.0) -> Path:
    """Download the backbone's ImageNet weights into the Keras cache, once.

    This is the only function in seglib that uses the network, and only when a
    person asks for it (CLI ``--fetch-weights`` or a button on a machine with
    internet). ``progress(done_bytes, total_bytes)`` is called as data arrives
    (``total_bytes`` is 0 when unknown). The file is written under a temporary
    name and renamed when complete, so an interrupted download leaves nothing
    half-written. A stalled connection fails after ``timeout`` seconds; every
    failure is a ``ModelError`` saying what happened.
    """
    import hashlib
    import urllib.error
    import urllib.request

    status = imagenet_weights_status(model_config)
    if status["file_name"] is None:
        raise ModelError(status["message"])
    target = status["path"]
    if target.is_file() and target.stat().st_size > 0:
        return target
    url = _WEIGHTS_BASE_URL[model_config.backbone] + status["file_name"]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part-{os.getpid()}")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        expected = _WEIGHTS_MD5.get(status["file_name"])
        if expected and digest.hexdigest() != expected:
            raise ModelError(f"The downloaded {status['file_name']} is damaged (checksum mismatch); try again.")
        os.replace(partial, target)
    except ModelError:
        raise
    except (OSError, urllib.error.URLError, ValueError) as error:
        raise ModelError(f"Could not download {status['file_name']}: {error}. Check the internet connection, "
                         "or copy the file into the Keras cache folder (.keras/models in the home "
                         "folder).") from error
    finally:
        if partial.exists():
            partial.unlink()
    return target


_WEIGHTS_BASE_URL = {
    "resnet50": "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
    "mobilenetv2": "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/",
}
#: Checksums Keras publishes (``keras.applications.resnet.WEIGHTS_HASHES``).
_WEIGHTS_MD5 = {"resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": "4d473c1dd8becc155b73f8504c6f6626"}


# ---------------------------------------------------------------------------
# Custom Keras classes (defined on first use, so importing seglib stays TF-free)
# ---------------------------------------------------------------------------

@functools.cache
def _classes():
    """Define and register the custom Keras classes once."""
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
            inputs, outputs, weights_message = _build_graph(keras, model_config, load_weights)
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
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def custom_objects() -> dict[str, Any]:
    """The custom classes a saved seglib model needs (all registered under 'seglib')."""
    from seglib.evaluation.metrics import streaming_mean_iou_class

    return {**_classes(), "StreamingMeanIoU": streaming_mean_iou_class()}


# ---------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------

def _as_model_config(value) -> ModelConfig:
    if isinstance(value, ModelConfig):
        return value.validate() or value
    if isinstance(value, dict):
        return RunConfig.from_dict({"model": value}).model
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


def _aspp(keras, features, model_config: ModelConfig):
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


def _backbone(keras, images, model_config: ModelConfig):
    """Build the Keras Applications backbone on ``images`` (already preprocessed)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # size/alpha notes only matter for weights, handled below
        if model_config.backbone == "resnet50":
            return keras.applications.ResNet50(weights=None, include_top=False, input_tensor=images)
        return keras.applications.MobileNetV2(alpha=float(model_config.width), weights=None,
                                              include_top=False, input_tensor=images)


def _load_backbone_weights(keras, backbone, model_config: ModelConfig, load_weights: bool) -> str:
    """Give the backbone the start ``model.weights`` asks for; return the sentence that says which.

    ``pretrained``: the project's own backbone from ``assets/pretrained``
    (``seglib.model.pretrain``); ``imagenet``: Keras's file, only from its cache;
    ``none`` (or a start that is not on this machine): random weights.
    """
    if not load_weights:
        return ("Weights come from the saved model." if model_config.weights != "none"
                else "The backbone started from random weights (weights='none').")
    if model_config.weights == "pretrained":
        from seglib.model.pretrain import load_backbone, pretrained_status

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
            backbone.load_weights(str(weights["path"]))
        except Exception as error:  # a damaged cache file must not stop the build
            message = (f"The cached ImageNet weights {weights['file_name']} could not be read ({error}); "
                       "the backbone starts from random weights.")
    if weights["requested"]:
        logger.info(message)
    return message


def _build_graph(keras, model_config: ModelConfig, load_weights: bool = True):
    _check_buildable(model_config)
    size, momentum = model_config.image_size, model_config.bn_momentum
    separable = model_config.separable
    cut = feature_layers(model_config)

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="image")
    preprocessed = _classes()["ImagePreprocessing"](mode=cut["preprocessing"], name="preprocessing")(inputs)
    backbone = _backbone(keras, preprocessed, model_config)

    message = _load_backbone_weights(keras, backbone, model_config, load_weights)

    # Keras's default BN momentum (0.99) leaves the moving statistics stale for
    # minutes when training from scratch on a CPU; one setting for every BN.
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum

    high = backbone.get_layer(cut["high"]).output
    low = backbone.get_layer(cut["low"]).output

    x = _aspp(keras, high, model_config)
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
        return _classes()["DeepLabV3Plus"](model_config)
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


# ---------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------

def save_model(model, path: str | os.PathLike, include_optimizer: bool = True) -> Path:
    """Save ``model`` as a ``.keras`` file atomically (write a temp file, then rename).

    ``include_optimizer=False`` saves an uncompiled copy: architecture and
    weights only, a third of the size of a model trained with Adam(W), which
    keeps two extra values per weight (use it for shipped demo models).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Model files end in '.keras'. Received: path={path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        copy = type(model).from_config(model.get_config())
        copy.set_weights(model.get_weights())
        model = copy
    try:
        model.save(str(temporary))
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def load_model(path: str | os.PathLike):
    """Load a ``.keras`` model safely (``safe_mode=True``, not compiled).

    Every failure (missing file, not a zip, truncated, a model with unsafe or
    unknown layers) becomes a ``ModelError`` that names the file.
    """
    from seglib.settings import display_path

    path = Path(path)
    shown = display_path(path)
    if not path.is_file():
        raise ModelError(f"No model file at {shown}. Train a model first, or pick another checkpoint.")
    if path.suffix != ".keras":
        raise ModelError(f"{shown} is not a Keras model file (expected a name ending in .keras).")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{shown} is not a valid .keras file (not a zip archive; the file may be "
                         "truncated or still being written). Pick another checkpoint or retrain.")
    _, keras = import_tf()
    objects = custom_objects()
    try:
        with keras.saving.custom_object_scope(objects):
            return keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for bad content
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"Cannot load the model in {shown}: {reason[:300]}") from error


# ---------------------------------------------------------------------------
# Tables for the model page and the CLI
# ---------------------------------------------------------------------------

def _stage_of(layer_name: str) -> str:
    if layer_name.startswith("aspp_"):
        return "aspp"
    if layer_name.startswith("decoder_"):
        return "decoder"
    if layer_name == "logits" or layer_name.startswith("head_"):
        return "head"
    return "backbone"


def _output_shape(layer) -> tuple:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def layer_table(model) -> list[dict[str, Any]]:
    """One row per layer: name, type, output shape (tuple), params, stage.

    Stages are ``backbone`` (input, preprocessing and the backbone's layers),
    ``aspp``, ``decoder`` and ``head`` (final upsampling and ``logits``).
    Conv layers also carry ``kernel_size`` and ``dilation_rate``.
    """
    rows = []
    for layer in model.layers:
        row = {"name": layer.name, "type": type(layer).__name__, "output_shape": _output_shape(layer),
               "params": int(layer.count_params()) if layer.built else 0, "stage": _stage_of(layer.name)}
        if hasattr(layer, "dilation_rate") and hasattr(layer, "kernel_size"):
            row["kernel_size"] = tuple(int(k) for k in layer.kernel_size)
            row["dilation_rate"] = tuple(int(d) for d in layer.dilation_rate)
        rows.append(row)
    return _reading_order(rows)


def _reading_order(rows: list[dict]) -> list[dict]:
    """Order rows stage by stage, and each ASPP / decoder branch as one block.

    Keras lists parallel branches interleaved (all convs, then all BNs, ...);
    grouping ``aspp_rate6``, ``aspp_rate6_bn``, ``aspp_rate6_relu`` together
    reads like the architecture. Blocks keep the order in which they finish.
    """
    def group(name: str, stage: str) -> str:
        return name.split("_")[1] if stage in ("aspp", "decoder") and name.count("_") else name

    last_index: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        last_index[(row["stage"], group(row["name"], row["stage"]))] = index
    order = {stage: position for position, stage in enumerate(STAGES)}
    keyed = sorted(enumerate(rows), key=lambda item: (
        order.get(item[1]["stage"], len(order)),
        last_index[(item[1]["stage"], group(item[1]["name"], item[1]["stage"]))],
        item[0]))
    return [row for _, row in keyed]


def stages(model) -> list[dict[str, Any]]:
    """Per stage: name, first and last layer, output shape, params, layer count.

    The backbone's output is the ASPP input (stride 16) when the model is a
    seglib model, since that is where the encoder hands over.
    """
    rows = layer_table(model)
    try:
        high = feature_layers(model_config_of(model))["high"]
    except (ModelError, ConfigError):
        high = None
    result = []
    for stage in STAGES:
        members = [r for r in rows if r["stage"] == stage]
        if not members:
            continue
        last = next((r for r in members if r["name"] == high), members[-1]) if stage == "backbone" else members[-1]
        result.append({"stage": stage, "first_layer": members[0]["name"], "last_layer": last["name"],
                       "output_shape": last["output_shape"], "params": sum(r["params"] for r in members),
                       "layers": len(members)})
    return result


def aspp_branches(model) -> list[dict[str, Any]]:
    """The ASPP's parallel branches: image pooling, 1x1, then one per atrous rate.

    Each item: ``name`` (for people), ``kind`` ('pooling' | '1x1' | 'atrous'),
    ``rate`` (dilation; ``None`` for image pooling, which sees the whole map),
    ``kernel_size`` and ``layer_name`` (the layer to read them from).
    """
    names = {layer.name: layer for layer in model.layers}
    if "aspp_concat" not in names:
        raise ModelError(f"The model {model.name!r} has no ASPP block (no layer named 'aspp_concat').")
    branches = [{"name": "image pooling", "kind": "pooling", "rate": None, "kernel_size": None,
                 "layer_name": "aspp_pool"},
                {"name": "1x1 conv", "kind": "1x1", "rate": 1, "kernel_size": 1, "layer_name": "aspp_1x1"}]
    atrous = [layer for name, layer in names.items()
              if name.startswith("aspp_rate") and name[len("aspp_rate"):].isdigit()]
    for layer in sorted(atrous, key=lambda l: int(l.dilation_rate[0])):
        rate = int(layer.dilation_rate[0])
        branches.append({"name": f"3x3 atrous, rate {rate}", "kind": "atrous", "rate": rate,
                         "kernel_size": int(layer.kernel_size[0]), "layer_name": layer.name})
    return branches


def total_params(model) -> int:
    return int(model.count_params())


def describe(model) -> dict[str, Any]:
    """Everything the Model page shows of a model, as plain data (no Keras objects).

    ``layers`` (``layer_table``), ``stages``, ``total`` and ``trainable``
    parameter counts and ``weights_message`` (how the backbone was initialised).
    Plain data can be cached and shared without keeping the model alive.
    """
    trainable = sum(math.prod(int(d) for d in weight.shape) for weight in model.trainable_weights)
    return {"layers": layer_table(model), "stages": stages(model), "total": total_params(model),
            "trainable": int(trainable), "weights_message": str(getattr(model, "weights_message", "") or "")}


def _format_shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def model_summary_text(model, stage: str | None = None) -> str:
    """A plain-text layer table (no colours or box drawing), ending with ``Total params: N``.

    ``stage`` limits the rows to one stage; the totals always cover the model.
    """
    rows = [r for r in layer_table(model) if stage is None or r["stage"] == stage]
    headers = ("Layer", "Type", "Output shape", "Params", "Stage")
    table = [(r["name"], r["type"], _format_shape(r["output_shape"]), f"{r['params']:,}", r["stage"])
             for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i != 3 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line.rstrip(), "-" * len(line.rstrip())]
    for row in table:
        out.append("  ".join(c.ljust(w) if i != 3 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    trainable = sum(math.prod(int(d) for d in v.shape) for v in model.trainable_weights)
    total = total_params(model)
    out += ["-" * len(line.rstrip()),
            f"Trainable params: {trainable}",
            f"Non-trainable params: {total - trainable}",
            f"Total params: {total}"]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# CLI: python -m seglib model
# ---------------------------------------------------------------------------

def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "model", help="print the DeepLabV3+ layer table with output shapes and parameter counts",
        description="Build the model of a preset (random weights unless ImageNet weights are cached and "
                    "asked for) and print every layer with its output shape and parameter count.")
    parser.add_argument("--preset", default="lecture", choices=preset_names())
    parser.add_argument("--image-size", type=int, default=None, help="square input size (multiple of 16)")
    parser.add_argument("--backbone", default=None, choices=BACKBONES)
    parser.add_argument("--width", type=float, default=None, help="MobileNetV2 width multiplier")
    parser.add_argument("--weights", default=None, choices=("none", "imagenet"),
                        help="'imagenet' uses cached ImageNet weights if present (no download)")
    parser.add_argument("--stage", default=None, choices=STAGES, help="show only this stage's layers")
    parser.add_argument("--fetch-weights", action="store_true",
                        help="download the backbone's ImageNet weights into the Keras cache (needs internet)")
    parser.set_defaults(func=_cli)


def _cli(args) -> int:
    import sys

    config = get_preset(args.preset).with_overrides({
        "model.image_size": args.image_size, "model.backbone": args.backbone,
        "model.width": args.width, "model.weights": args.weights})
    if args.fetch_weights:
        def show(done: int, total: int) -> None:
            of = f" of {total / 1e6:.1f}" if total else ""
            print(f"\r  {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)

        path = fetch_imagenet_weights(config.model, progress=show)
        print(file=sys.stderr)
        print(f"ImageNet weights cached: {path.name}")
        return 0
    model = build_model(config.model)
    print(f"# {config.summary()}", file=sys.stderr)
    print(f"# {model.weights_message}", file=sys.stderr)
    print(model_summary_text(model, stage=args.stage))
    return 0
