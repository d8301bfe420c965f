"""The Keras classes of a saved seglib model, defined and registered when this module is imported.

A ``.keras`` file names the module of each custom class; when Keras's registry
does not know a class, ``keras.saving.load_model`` imports that module and
takes the class from it. Saved seglib models name this module, so a checkpoint
opens in a notebook the Keras way, with no seglib call first::

    import keras
    model = keras.saving.load_model("runs/<run-id>/best.keras")

This module imports TensorFlow; the light modules (``seglib.config``,
``seglib.cli.main`` ...) never import it. ``import seglib`` imports it only when
Keras is already loaded (``seglib/__init__.py``), so files saved by older
versions, which name ``seglib.model.deeplab``, load after ``import keras, seglib`` too.
"""

from __future__ import annotations

from seglib.model.deeplab import custom_objects

globals().update(custom_objects())

__all__ = sorted(custom_objects())
