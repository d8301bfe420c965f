"""Saving and loading seglib models as ``.keras`` files.

Saving is atomic (a temporary file, then a rename), so a reader never sees a
half-written checkpoint; loading is safe (``safe_mode=True``, not compiled) and
turns every failure into a ``ModelError`` that names the file. A saved model
names ``seglib.keras_objects`` as the module of its custom classes, so it also
opens with ``keras.saving.load_model`` alone.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from seglib._tf import import_tf
from seglib.errors import ModelError
from seglib.model.deeplab import custom_objects


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
