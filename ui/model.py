"""The Model page's parts (``pages/model.py``): the preset picker's callback, and its caches: the Keras
example's numbers and the layer-by-layer receptive fields, computed once per server and kept as plain
data. The sidebar's model choice itself is ``ui.models``.
"""

from __future__ import annotations

import streamlit as st

from seglib.analysis.fields import DEPTH_COLUMN, FIELD_COLUMN, STRIDE_COLUMN, WHOLE_IMAGE_COLUMN
from seglib.presets import get_preset
from ui import kept, models

#: Column widths of the layer-by-layer tables.
PROFILE_COLUMNS = {
    DEPTH_COLUMN: st.column_config.NumberColumn(width="small"),
    "layer": st.column_config.TextColumn(width="medium"),
    "type": st.column_config.TextColumn(width="small"),
    FIELD_COLUMN: st.column_config.NumberColumn(width="small"),
    STRIDE_COLUMN: st.column_config.NumberColumn(width="small"),
    "output": st.column_config.TextColumn(width="small"),
    WHOLE_IMAGE_COLUMN: st.column_config.CheckboxColumn(width="small"),
}


def reset_size() -> None:
    """A new preset: the size slider goes to the preset's own size."""
    st.session_state["size"] = get_preset(st.session_state["preset"]).model.image_size


@st.cache_data(show_spinner=False)
@kept.on_disk("keras_example_numbers")
def keras_example_numbers() -> dict:
    """Parameters, stage shapes and layer-by-layer receptive fields of the Keras example's model.

    The Atrous page reads the example's size-independent numbers from a 64 px build instead
    (``ui.models.reduced_numbers``, why: see there); this page's layer table needs the 512 px shapes.
    Built once per machine at its own size (512 px) with random weights: none of these numbers
    depends on weights, so nothing is loaded or downloaded. Only plain numbers are kept (in memory and
    on disk, ``ui.kept``: a restarted dashboard does not build the ResNet50 again); the model is dropped.
    """
    from seglib.analysis.fields import depth_profile, layer_fields
    from seglib.model.summary import architecture, describe

    model = architecture("keras-example")
    found = describe(model)
    return {"total": found["total"], "image_size": int(model.input_shape[1]),
            "stages": {row["stage"]: tuple(row["output_shape"][1:]) for row in found["stages"]},
            "profile": depth_profile(layer_fields(model))}


@st.cache_data(show_spinner=False, max_entries=16)
def _profile(_model, key: tuple):
    """``depth_profile`` of a loaded model and its input size, per model (``key``: ``ui.models.model_key``)."""
    from seglib.analysis.fields import depth_profile, layer_fields, model_input_size

    return depth_profile(layer_fields(_model)), model_input_size(_model)[0]


def field_profiles() -> dict[str, tuple]:
    """``{model name: (depth_profile, input size)}`` for the sidebar's model and the Keras example
    (may raise SeglibError: the sidebar's model cannot be loaded)."""
    with st.spinner("Following the receptive field through both models (once per model)..."):
        model, choice = models.current_model()
        example = keras_example_numbers()
        return {f"sidebar: {choice.label}": _profile(model, models.model_key(choice, model)),
                f"Keras example ({example['image_size']} px)": (example["profile"], example["image_size"])}
