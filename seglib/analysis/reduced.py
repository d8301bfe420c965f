"""A preset's size-independent numbers without building it at its own size.

The Atrous page sets the sidebar model beside the Keras example (ResNet50 at 512 px). Its
receptive fields and the layer that feeds ASPP do not depend on the input size, so the preset
is built once at ``CELLS`` cells of output stride (64 px for stride 16) and read there: the
ASPP input layer and the theoretical receptive fields of the backbone and of each atrous branch.

Building a ResNet50, even at 64 px, holds the Python interpreter for a second or more; the
dashboard keeps these plain numbers on disk (``ui.models.reduced_numbers``), so a restarted
dashboard reads them instead of building it.

>>> numbers = reduced_numbers("keras-example")        # doctest: +SKIP
>>> numbers["input_layer"], numbers["fields"][18]       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

#: The reduced build's input, in cells of the output stride.
CELLS = 4


def reduced_numbers(preset: str) -> dict[str, Any]:
    """Build ``preset`` at ``CELLS`` x its output stride and read its size-independent numbers.

    Returns ``small_size`` (the size it was built at), ``input_layer`` (the ASPP input),
    ``backbone_field`` (px) and ``fields`` ({atrous rate: receptive field in px}).
    """
    from seglib.analysis.aspp import aspp_analysis
    from seglib.model.deeplab import build_model
    from seglib.presets import get_preset

    config = get_preset(preset)
    small_size = CELLS * config.model.output_stride
    analysis = aspp_analysis(build_model(config.with_overrides({"model.image_size": small_size}).model))
    return {
        "small_size": int(small_size), "input_layer": analysis.input_layer,
        "backbone_field": float(analysis.receptive_field),
        "fields": {int(b.rate): float(b.receptive_field_px) for b in analysis.branches if b.kind == "conv"},
    }
