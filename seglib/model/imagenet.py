"""ImageNet backbone weights: only from the Keras cache, never from the network unless asked.

Keras keeps the files it downloads in ``$KERAS_HOME/models`` (``~/.keras/models``).
``imagenet_weights_status`` says whether the file a config needs is there and,
where Keras publishes a checksum for it, whether the file matches it; a file
that does not is refused, as if it were missing. ``cached_imagenet_weights``
hands the file to the model builder through ``keras.utils.get_file`` with that
checksum, so Keras verifies it too. Only ``fetch_imagenet_weights`` (the CLI's
``--fetch-weights``) uses the network.

>>> from seglib.presets import get_preset
>>> imagenet_weights_file(get_preset("lecture").model)
'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5'
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

from seglib.config import ModelConfig
from seglib.errors import ModelError

#: MobileNetV2 widths (alpha) and input sizes Keras publishes ImageNet weights for.
MOBILENETV2_IMAGENET_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENETV2_IMAGENET_SIZES = (96, 128, 160, 192, 224)

#: Where Keras publishes each backbone's files.
WEIGHTS_BASE_URL = {
    "resnet50": "https://storage.googleapis.com/tensorflow/keras-applications/resnet/",
    "mobilenetv2": "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/",
}
#: Checksums Keras publishes (``keras.applications.resnet.WEIGHTS_HASHES``; md5). Keras publishes
#: none for the MobileNetV2 files, so those are only checked by loading them.
WEIGHTS_HASHES = {"resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": "4d473c1dd8becc155b73f8504c6f6626"}


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


def fetch_command(model_config: ModelConfig) -> str:
    """The command that fetches the ImageNet weights ``model_config`` needs (its backbone, and for
    MobileNetV2 its width and size, which pick the file)."""
    options = f"--backbone {model_config.backbone}"
    if model_config.backbone == "mobilenetv2":
        options += f" --width {model_config.width:g} --image-size {model_config.image_size}"
    return f"python -m seglib model {options} --fetch-weights"


def keras_cache_dir() -> Path:
    """The folder Keras caches downloaded weights in (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def file_digest(path: Path, expected: str) -> str:
    """The md5 (32 hex digits expected) or sha256 (64) of ``path``, as ``keras.utils.get_file`` computes it."""
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns, "md5" if len(expected) == 32 else "sha256")


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int, algorithm: str) -> str:
    del size, mtime_ns  # part of the cache key: a replaced file is hashed again
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def imagenet_weights_status(model_config: ModelConfig) -> dict[str, Any]:
    """Say whether ImageNet weights will be used, and why not if they will not.

    Returns ``{"requested": bool, "available": bool, "path": Path | None,
    "file_name": str | None, "message": str}``. Nothing is downloaded: weights
    count as available only when their file is already in the Keras cache and
    matches its published checksum (see ``fetch_imagenet_weights``).
    """
    requested = model_config.weights == "imagenet"
    file_name = imagenet_weights_file(model_config)
    path = keras_cache_dir() / file_name if file_name else None
    present = bool(path and path.is_file() and path.stat().st_size > 0)
    expected = WEIGHTS_HASHES.get(file_name or "")
    damaged = present and requested and expected is not None and file_digest(path, expected) != expected
    available = present and not damaged
    if file_name is None:
        message = (f"Keras publishes no ImageNet weights for MobileNetV2 at width {model_config.width:g} "
                   f"(available widths: {', '.join(f'{w:g}' for w in MOBILENETV2_IMAGENET_WIDTHS)}); "
                   "the backbone starts from random weights.")
    elif not requested:
        message = "The backbone starts from random weights (weights='none')."
    elif available:
        message = f"ImageNet weights for the {model_config.backbone} backbone loaded from the Keras cache."
    elif damaged:
        message = (f"The cached ImageNet weights {file_name} do not match the checksum Keras publishes; the "
                   "backbone starts from random weights. Delete the file and fetch it again with "
                   f"`{fetch_command(model_config)}`.")
    else:
        message = (f"ImageNet weights for the {model_config.backbone} backbone are not in the Keras cache "
                   f"({file_name}); the backbone starts from random weights. On a machine with internet, "
                   f"fetch them once with `{fetch_command(model_config)}`.")
    return {"requested": requested, "available": available and requested, "path": path,
            "file_name": file_name, "message": message}


def cached_imagenet_weights(model_config: ModelConfig) -> Path:
    """The verified weights file from the Keras cache, through ``keras.utils.get_file``.

    Call it only when ``imagenet_weights_status`` says the weights are available:
    the file is then in the cache and matches its checksum, so ``get_file``
    finds it there and never downloads. Raises ``ModelError`` otherwise.
    """
    from seglib._tf import import_tf

    status = imagenet_weights_status(model_config)
    if not status["available"]:
        raise ModelError(status["message"])
    cache = keras_cache_dir()
    if not os.access(cache.parent, os.W_OK):  # get_file would fall back to the temporary folder (a read-only home)
        return status["path"]
    _, keras = import_tf()
    return Path(keras.utils.get_file(
        status["file_name"], origin=WEIGHTS_BASE_URL[model_config.backbone] + status["file_name"],
        file_hash=WEIGHTS_HASHES.get(status["file_name"]), cache_subdir=cache.name, cache_dir=str(cache.parent)))


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
    import urllib.error
    import urllib.request

    status = imagenet_weights_status(model_config)
    if status["file_name"] is None:
        raise ModelError(status["message"])
    target = status["path"]
    if target.is_file() and target.stat().st_size > 0:
        return target
    url = WEIGHTS_BASE_URL[model_config.backbone] + status["file_name"]
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
        expected = WEIGHTS_HASHES.get(status["file_name"])
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
