"""Model: DeepLabV3+ layer by layer (exercises 13-2 part 3 and 13-3)."""

import pandas as pd
import streamlit as st

from seglib.config import get_preset, preset_names
from seglib.model import deeplab as seglib_model
from seglib.model.pretrained import start_explanation
from seglib.figures import stages as stage_figures
from ui import drawing, models, url_state
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
SIZES = [64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512]
presets = preset_names()


def _reset_size() -> None:
    st.session_state["size"] = get_preset(st.session_state["preset"]).model.image_size


picker, size_picker, about = st.columns([1, 1, 2], vertical_alignment="bottom")
url_state.seed("preset", presets[0], options=presets)
preset = picker.selectbox("Preset", presets, on_change=_reset_size, key="preset",
                          help="lecture: narrow MobileNetV2 for a laptop CPU; course and keras-example: "
                               "ResNet50 at 512 px as in the Keras example.")
url_state.sync("preset", presets[0])
base_config = get_preset(preset)
# The size follows the preset unless the user (or the URL) picked another one.
url_state.seed("size", base_config.model.image_size, options=SIZES, cast=int)
image_size = size_picker.select_slider("Input size (pixels)", SIZES, key="size",
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
drawing.plot(stage_figures.stages_figure(stage_rows, height=190))
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
BACKBONE_NAMES = {"resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}
STARTS = {"pretrained": "the project's pretrained backbone", "none": "random weights",
          "imagenet": "ImageNet weights, when already in the Keras cache"}


def _optimizer(train) -> str:
    if train.optimizer == "adamw":
        return f"AdamW, weight decay {train.weight_decay:g}"
    return "Adam, no weight decay" if train.optimizer == "adam" else train.optimizer


def _learning_rate(train) -> str:
    decay = "constant" if train.decay_rate >= 1.0 else f"× {train.decay_rate:g} every {train.decay_steps:,} steps"
    return f"{train.learning_rate:g}, {decay}"


def _shape(shape) -> str:
    return " × ".join(str(d) for d in shape)


def _comparison_column(model_config, train, stages: dict, total: int, example: bool) -> list[str]:
    backbone = BACKBONE_NAMES.get(model_config.backbone, model_config.backbone)
    if model_config.backbone == "mobilenetv2":
        backbone += f" (width {model_config.width:g})"
    return [
        backbone,
        f"ImageNet (here: {STARTS.get(model_config.weights, model_config.weights)})" if example
        else STARTS.get(model_config.weights, model_config.weights),
        _shape((model_config.image_size, model_config.image_size, 3)),
        _shape(stages["backbone"]),
        " / ".join(map(str, model_config.atrous_rates)),
        f"{model_config.aspp_filters} filters, {'separable' if model_config.separable else 'full'} 3 × 3",
        _shape(stages["decoder"]),
        _shape(stages["head"]),
        f"{total:,}",
        _optimizer(train),
        _learning_rate(train),
        "bilinear (mixes label ids at boundaries)" if example else "nearest neighbour (labels stay labels)",
    ]


st.subheader("Next to the Keras example")
with drawing.error_boundary("Describing the Keras example's model", stop=False):
    with st.spinner("Describing the Keras example's ResNet50 (once per machine)..."):
        example_description = models.reduced_numbers("keras-example")
    example_config = get_preset("keras-example")
    lecture_weights = get_preset("lecture").model.weights
    this_stages = {row["stage"]: tuple(row["output_shape"][1:]) for row in stage_rows}
    comparison = pd.DataFrame({
        "": ["backbone", "backbone starts from", "input", "ASPP input (backbone output)", "atrous rates",
             "ASPP and decoder", "decoder output", "logits", "parameters", "optimizer", "learning rate",
             "mask resizing"],
        f"this model ('{preset}', {image_size} px)": _comparison_column(
            config.model, config.train, this_stages, total, example=False),
        f"Keras example ({BACKBONE_NAMES[example_config.model.backbone]}, {example_config.model.image_size} px)":
            _comparison_column(example_config.model, example_config.train, example_description["stages"],
                               example_description["total"], example=True),
    })
    st.dataframe(comparison, hide_index=True, width="stretch", height=35 * (len(comparison) + 1) + 3)
    text_column = st.container()
    text_column.markdown(
        "The same design at different sizes: backbone, ASPP, decoder and a 1 × 1 convolution to the "
        "logits, and both end with one logit per class for every input pixel. Where this project departs from the example and why: "
        "the course's optimizer (AdamW with weight decay, a decaying learning rate) against the example's "
        "over-fitting; where the backbone starts: the example's from ImageNet, the lecture preset's "
        + ("from a backbone the project pretrained itself on image-level labels of synthetic images (in-domain "
           "pretraining, not transfer: it has never seen a photo) "
           if lecture_weights == "pretrained" else f"from {STARTS.get(lecture_weights, lecture_weights)} ")
        + f"(`model.weights='{lecture_weights}'`), since nothing can be downloaded here; and masks resized with "
        "nearest neighbour, because bilinear resizing averages label ids into labels that were not there "
        "(Background 0 and Hair 2 give Hat 1).")
    text_column.caption(f"The Keras example's parameters and shapes come from its preset built once at "
                        f"{example_description['small_size']} px: parameter counts do not depend on the input "
                        "size, and the heights and widths scale with it.")

# ---------------------------------------------------------------------------
# The final layer (exercise 13-3)
# ---------------------------------------------------------------------------
logits_row = rows[-1]
height, width, channels = logits_row["output_shape"][1:]
# The last layer is the 1 x 1 convolution itself, or (model.upsample_logits) an upsampling of its
# output: say which, with the kernel only where there is one.
last_conv = next((row for row in reversed(rows) if row.get("kernel_size")), None)
if logits_row.get("kernel_size"):
    last_layer = (f"The last layer, `{logits_row['name']}` ({logits_row['type']}, "
                  f"{' × '.join(map(str, logits_row['kernel_size']))} kernel), outputs")
elif last_conv is not None:
    conv_height, conv_width = last_conv["output_shape"][1:3]
    last_layer = (f"The last convolution, `{last_conv['name']}` ({last_conv['type']}, "
                  f"{' × '.join(map(str, last_conv['kernel_size']))} kernel), gives the class scores at "
                  f"{conv_height} × {conv_width}; the last layer, `{logits_row['name']}` ({logits_row['type']}, "
                  "no weights), enlarges them and outputs")
else:
    last_layer = f"The last layer, `{logits_row['name']}` ({logits_row['type']}), outputs"
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
layers = pd.DataFrame([{
    "#": index,
    "name": row["name"],
    "type": row["type"],
    "output shape": "(" + ", ".join("None" if d is None else str(d) for d in row["output_shape"]) + ")",
    "parameters": row["params"],
    "stage": row["stage"],
    "kernel": "×".join(map(str, row["kernel_size"])) if row.get("kernel_size") else "",
    "dilation": str(row["dilation_rate"][0]) if row.get("dilation_rate") else "",
} for index, row in enumerate(rows)])
mask = layers["stage"].isin(shown_stages or stage_names)
if search.strip():
    needle = search.strip().lower()
    text = (layers["name"] + " " + layers["type"] + " " + layers["stage"] + " " + layers["output shape"]).str.lower()
    mask &= text.str.contains(needle, regex=False)
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
drawing.show_source(seglib_model.aspp_block, label="Source of `seglib.model.deeplab.aspp_block` (the ASPP block)")
