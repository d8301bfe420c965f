"""A preset's size-independent numbers without building it at its own size.

The Model and Atrous pages set the sidebar model beside the Keras example (ResNet50 at
512 px). Its parameter count and its receptive fields do not depend on the input size,
and every stage's height and width scale with it, so the preset is built once at 4 cells
of output stride (64 px for stride 16) and read there: parameters, the stages' output
shapes scaled to the preset's size, the ASPP input layer and the theoretical receptive
fields of the backbone and of each atrous branch.

Building a ResNet50, even at 64 px, holds the Python interpreter for a second or more,
and two pages did it, each once per server start. ``reduced_numbers`` builds it once and
keeps the plain numbers on disk under ``settings.cache_dir()`` (keyed on the preset's
model configuration, this module's ``REDUCED_VERSION`` and the Keras version), so a
restarted dashboard reads a small JSON file instead.

>>> numbers = reduced_numbers("keras-example")        # doctest: +SKIP
>>> numbers["total"], numbers["fields"][18]             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.io import atomic_write_json, read_json

#: Bumped whenever what ``reduced_numbers`` computes changes (old cache files are then ignored).
REDUCED_VERSION = 1
#: The reduced build's input, in cells of the output stride.
CELLS = 4


def _keras_version() -> str:
    """The installed Keras's version, read without importing it (importing it imports TensorFlow)."""
    from importlib import metadata

    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "?"


def _cache_path(preset: str, model_config) -> Path:
    text = json.dumps([REDUCED_VERSION, preset, dataclasses.asdict(model_config), _keras_version()],
                      sort_keys=True, default=str)
    return settings.cache_dir() / "models" / f"{hashlib.sha1(text.encode()).hexdigest()[:24]}.json"


def _from_json(data: Any) -> dict[str, Any] | None:
    """The numbers read back from a cache file (None when it is not one this version wrote)."""
    keys = {"total", "small_size", "stages", "input_layer", "backbone_field", "fields"}
    if not isinstance(data, dict) or not keys <= set(data):
        return None
    try:
        data["fields"] = {int(rate): float(field) for rate, field in data["fields"].items()}
        data["stages"] = {str(stage): tuple(int(d) for d in shape) for stage, shape in data["stages"].items()}
    except (AttributeError, TypeError, ValueError):
        return None
    return data


def compute_reduced_numbers(preset: str) -> dict[str, Any]:
    """Build ``preset`` at ``CELLS`` x its output stride and read its size-independent numbers (no cache)."""
    from seglib.analysis.aspp import aspp_analysis
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model
    from seglib.model.summary import describe

    config = get_preset(preset)
    small_size = CELLS * config.model.output_stride
    model = build_model(config.with_overrides({"model.image_size": small_size}).model)
    found = describe(model)
    analysis = aspp_analysis(model)
    scale = config.model.image_size // small_size
    return {
        "total": int(found["total"]), "small_size": int(small_size),
        "stages": {row["stage"]: (int(row["output_shape"][1]) * scale, int(row["output_shape"][2]) * scale,
                                  int(row["output_shape"][3])) for row in found["stages"]},
        "input_layer": analysis.input_layer, "backbone_field": float(analysis.receptive_field),
        "fields": {int(b.rate): float(b.receptive_field_px) for b in analysis.branches if b.kind == "conv"},
    }


def reduced_numbers(preset: str, *, use_cache: bool = True) -> dict[str, Any]:
    """``compute_reduced_numbers(preset)``, read from (and written to) the on-disk cache.

    Returns ``total`` (parameters), ``small_size`` (the size it was built at), ``stages``
    ({stage: (height, width, channels)} at the preset's own size), ``input_layer`` (the
    ASPP input), ``backbone_field`` and ``fields`` ({atrous rate: receptive field in px}).
    """
    from seglib.presets import get_preset

    path = _cache_path(preset, get_preset(preset).model)
    if use_cache:
        cached = _from_json(read_json(path, default=None))
        if cached is not None:
            return cached
    numbers = compute_reduced_numbers(preset)
    if use_cache:
        with contextlib.suppress(OSError):  # a read-only cache folder: computed again next time
            atomic_write_json(path, {**numbers, "fields": {str(k): v for k, v in numbers["fields"].items()}})
    return numbers
