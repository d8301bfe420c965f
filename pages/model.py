"""Model: DeepLabV3+ layer by layer (exercises 13-2 part 3 and 13-3)."""

import pandas as pd
import streamlit as st

from seglib import keras_example
from seglib.presets import INPUT_SIZES, get_preset, preset_names
from seglib.model import deeplab as seglib_model
from seglib.model.aspp import aspp_block
from seglib.model.decoder import decoder_block
from seglib.model.head import head_block
from seglib.model import summary
from seglib.model.pretrained import start_explanation
from seglib.lab import comparison
from seglib.figures import slides
from seglib.analysis import fields
from seglib.figures import fields as field_figures
from seglib.figures import stages as stage_figures
from ui import drawing, models, url_state
from ui import model as page_state
from ui.page import page_header

page_header(
    "model.py",
    "DeepLabV3+ is *fully convolutional*: there is no dense layer, so the output keeps a spatial "
    "layout. A **backbone** (encoder) turns the image into features at 1/16 of its size, the "
    "**ASPP** block looks at those features at several scales at once, the **decoder** brings the "
    "result back to 1/4 of the size and sharpens it with early, detailed features, and the **head** "
    "upsamples to the input size and gives every pixel one score (logit) per class.",
)

# ---------------------------------------------------------------------------
# Which model to look at: a preset, at an image size. Building is cached, so
# a second visit (by anyone) costs nothing.
# ---------------------------------------------------------------------------
presets = preset_names()


picker, size_picker, about = st.columns([1, 1, 2], vertical_alignment="bottom")
url_state.seed("preset", presets[0], options=presets)
preset = picker.selectbox("Preset", presets, on_change=page_state.reset_size, key="preset",
                          help="lecture: narrow MobileNetV2 for a laptop CPU; course and keras-example: "
                               "ResNet50 at 512 px as in the Keras example.")
url_state.sync("preset", presets[0])
base_config = get_preset(preset)
# The size follows the preset unless the user (or the URL) picked another one.
url_state.seed("size", base_config.model.image_size, options=INPUT_SIZES, cast=int)
image_size = size_picker.select_slider("Input size (pixels)", INPUT_SIZES, key="size",
                                       help="The model is built for square images of this size.")
url_state.sync("size", base_config.model.image_size)
about.caption(base_config.description)

with drawing.error_boundary("Building the model"):
    config = base_config.with_overrides({"model.image_size": int(image_size)})
    with st.spinner(f"Building DeepLabV3+ ({config.model.backbone}, {image_size} px)..."):
        description = models.model_description(preset, int(image_size))
    rows = description["layers"]
    stage_rows = description["stages"]

st.caption(":material/info: " + start_explanation(config.model))

# ---------------------------------------------------------------------------
# Totals
# ---------------------------------------------------------------------------
trainable = description["trainable"]
total = description["total"]
metrics = st.columns(4)
metrics[0].metric("Parameters", f"{total:,}")
metrics[1].metric("Trainable", f"{trainable:,}")
metrics[2].metric("Non-trainable", f"{total - trainable:,}",
                  help="Batch-normalisation moving means and variances: updated by statistics, not gradients.")
metrics[3].metric("Layers", f"{len(rows):,}")
st.caption(f"Move the input size: the layer shapes follow it, the **{total:,} parameters stay the same** at every "
           "size. No weight depends on the image's height or width (there is no dense layer), so one set of "
           "trained weights *runs* at any size. Whether it labels well there is another matter: the atrous rates "
           "were chosen for one feature-map size (at smaller inputs the wide rates read only padding, see the "
           "Atrous scales page) and people's sizes in pixels change with the input. (The page builds the model "
           "again for each size, so the output following the size alone would prove nothing; the unchanged "
           "count does.)")

# ---------------------------------------------------------------------------
# Stages: backbone -> ASPP -> decoder -> head
# ---------------------------------------------------------------------------
st.subheader("Stages")
st.markdown(
    "Data flows left to right. Shapes are *height × width × channels* of each stage's output for "
    f"one {image_size} × {image_size} image: the backbone shrinks the image 16 times, the decoder "
    "works at 1/4 of the size, and the head is back at full size."
)
drawing.plot(stage_figures.stages_figure(stage_rows, height=190), key="model-stages",
             caption=slides.caption_line(model=drawing.untrained_summary(preset, int(image_size))))
stage_table = pd.DataFrame([{
    "stage": stage_figures.STAGE_TITLES.get(row["stage"], row["stage"]),
    "output shape": " × ".join("B" if d is None else str(d) for d in row["output_shape"][1:]),
    "layers": row["layers"], "parameters": row["params"],
    "first layer": row["first_layer"], "last layer": row["last_layer"],
} for row in stage_rows])
st.dataframe(stage_table, hide_index=True, width="stretch",
             column_config={"parameters": st.column_config.NumberColumn(format="localized")})

# ---------------------------------------------------------------------------
# Next to the Keras example: its numbers at 512 px, without building it at 512 px
# ---------------------------------------------------------------------------
st.subheader("Next to the Keras example")
with drawing.error_boundary("Describing the Keras example's model", stop=False):
    with st.spinner("Describing the Keras example's ResNet50 (once per server)..."):
        example_description = page_state.keras_example_numbers()
    example_config = get_preset("keras-example")
    this_stages = {row["stage"]: tuple(row["output_shape"][1:]) for row in stage_rows}
    table = pd.DataFrame({
        "": comparison.TABLE_ROWS,
        f"this model ('{preset}', {image_size} px)": comparison.table_column(
            config.model, config.train, this_stages, total, example=False),
        f"Keras example ({example_config.model.backbone_text()}, {example_config.model.image_size} px)":
            comparison.table_column(example_config.model, example_config.train, example_description["stages"],
                                    example_description["total"], example=True),
    })
    st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3)
    text_column = st.container()
    text_column.markdown(
        "The same design at different sizes: backbone, ASPP, decoder and a 1 × 1 convolution to the "
        "logits, and both end with one logit per class for every input pixel. The optimizer rows are the "
        "course's change to the example (the reference runs on the Training page measure what each part of it "
        "does on the lecture model). The project also departs from the example in where the backbone starts and, "
        "whatever the preset, in these:")
    lecture_model = get_preset("lecture").model
    text_column.markdown("- " + comparison.start_item(lecture_model, "the `lecture` preset's "
                                                      + lecture_model.backbone_text()) + "\n"
                         + keras_example.differences_markdown())
    text_column.caption(f"The Keras example's parameters and shapes come from its preset built once at "
                        f"{example_description['image_size']} px with random weights: neither depends on the "
                        "weights, so nothing is downloaded.")

# ---------------------------------------------------------------------------
# Receptive field layer by layer: the sidebar's model beside the Keras example
# ---------------------------------------------------------------------------
st.subheader("Receptive field layer by layer", anchor="receptive-field-layer-by-layer")
st.markdown(f"A layer whose kernel spans k units (dilation included) widens the **{fields.FIELD_NAME}** of a "
            f"unit (the input pixels it can depend on) by (k − 1) × the **{fields.STRIDE_NAME}** of its input (how "
            "many input pixels apart its units sit). Below, every layer that moves the field in the sidebar's model "
            "and in the Keras example; dashed lines: their input sizes. The spikes in the stride are the image "
            "pooling (one unit for the whole map), the dips the decoder's early, low-level branch.")
with drawing.error_boundary("Following the receptive field through the layers", stop=False):
    profiles = page_state.field_profiles()
    drawing.plot(field_figures.depth_figure(profiles))
    st.markdown("\n".join("- " + fields.profile_sentence(name, *profile) for name, profile in profiles.items()))
    for name, (profile, _) in profiles.items():
        st.markdown(f"**{name}**")
        st.dataframe(profile, hide_index=True, width="stretch", height=320, column_config=page_state.PROFILE_COLUMNS)

# ---------------------------------------------------------------------------
# The final layer (exercise 13-3)
# ---------------------------------------------------------------------------
last_layer, (height, width, channels) = summary.final_layer(rows)
st.subheader("The final layer")
st.info(
    f"{last_layer} **{height} × {width} × {channels}** for a {image_size} × {image_size} input.\n\n"
    f"- **{height} × {width}**: the same height and width as the input image, so there is one "
    "answer *per pixel*: a segmentation must label every pixel, and a fully convolutional network "
    "keeps the image's layout all the way through.\n"
    f"- **{channels}** channels: one score (*logit*) per class, one for each of the "
    f"{channels} labels in the masks. The predicted label of a pixel is the class with the largest "
    "logit (argmax over the channels).\n"
    "- **No softmax** in the model: the loss, sparse categorical cross-entropy with "
    "`from_logits=True`, applies it internally (more stable), and the argmax is the same with or "
    "without it.",
    icon=":material/grid_on:",
)

# ---------------------------------------------------------------------------
# The layer table, searchable
# ---------------------------------------------------------------------------
st.subheader("Layers")
search_column, stage_column = st.columns([2, 3])
search = search_column.text_input("Search layers", placeholder="e.g. aspp, Conv2D, block_13, (None, 8",
                                  help="Matches layer name, type, stage or output shape.")
stage_names = [row["stage"] for row in stage_rows]
shown_stages = stage_column.pills("Stages", stage_names, selection_mode="multi", default=stage_names,
                                  format_func=lambda s: stage_figures.STAGE_TITLES.get(s, s))
layers = summary.layer_frame(rows)
mask = summary.matching_layers(layers, search, shown_stages or stage_names)
st.caption(f"{int(mask.sum())} of {len(layers)} layers shown. The ASPP's atrous branches are the "
           "Conv2D layers with a dilation above 1.")
st.dataframe(layers[mask], hide_index=True, width="stretch", height=420,
             column_config={"parameters": st.column_config.NumberColumn(format="localized"),
                            "#": st.column_config.NumberColumn(width="small")})

# ---------------------------------------------------------------------------
# The code that builds it
# ---------------------------------------------------------------------------
st.subheader("How it is built")
st.markdown("The same function builds the model for training, for predictions and for this page; "
            "every number (size, classes, atrous rates, filters) comes from the run's configuration.")
drawing.show_source(seglib_model.build_model)
drawing.show_source(seglib_model.build_graph, label="Source of `seglib.model.deeplab.build_graph` (the DeepLabV3+ graph)")
drawing.show_source(aspp_block, label="Source of `seglib.model.aspp.aspp_block` (the ASPP block)")
drawing.show_source(decoder_block, label="Source of `seglib.model.decoder.decoder_block` (the decoder)")
drawing.show_source(head_block, label="Source of `seglib.model.head.head_block` (the head)")
