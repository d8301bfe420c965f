"""Atrous scales: how the ASPP branches of DeepLabV3+ see an image (exercise 13-2)."""

from __future__ import annotations

import contextlib
import html

import cv2
import numpy as np
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from seglib.classes import class_label
from seglib.config import BACKBONE_NAMES
from seglib.presets import get_preset, preset_names
from seglib.evaluation import evaluate
from seglib.analysis import aspp
from seglib.analysis import dilation
from seglib.analysis import erf
from seglib.figures import receptive as receptive_figures
from ui import datasets, drawing, models, registry, url_state, why_pixel
from ui.markdown import md_code, md_text, shorten
from ui.models import ModelRef
from ui.page import page_header

page_header(
    "atrous.py",
    "People in a crowd image range from a few pixels to the full image height. DeepLabV3+ copes "
    "with that in its **ASPP** block: parallel 3 × 3 convolutions read the backbone's features with "
    "gaps (*atrous* or *dilated* convolution) of several feature cells (6, 12 and 18 in the Keras "
    "example at 512 px; smaller rates for the smaller lecture model). Each branch has its own 3 × 3 "
    "weights, learned separately; only the kernel size is shared. Next to them sit a 1 × 1 "
    "convolution and an average over the whole image. Pick an image and a position: the "
    "coloured dots are the pixels each branch reads, the dashed squares what each branch can see. "
    "All numbers are read from the model's own layers.",
)

SIZES = [64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512]

# ---------------------------------------------------------------------------
# Which model: the one in the sidebar, or a preset at a chosen size.
# ---------------------------------------------------------------------------
sidebar_choice = models.current_model_choice()
sources = ["sidebar", *preset_names()]
labels = {"sidebar": f"Sidebar model: {shorten(sidebar_choice.label)}",
          **{name: f"Preset '{name}' (random weights)" for name in preset_names()}}
pick_column, size_column, note_column = st.columns([2, 1.4, 2], vertical_alignment="bottom")
url_state.seed("atrous_model", "sidebar", options=sources)
source = pick_column.selectbox("Model to analyse", sources, format_func=labels.get, key="atrous_model",
                               help="The model picked in the sidebar, or a preset's architecture at any "
                                    "input size (the numbers follow the size).")
url_state.sync("atrous_model", "sidebar")

with drawing.error_boundary("Loading the model"):
    if source == "sidebar":
        with st.spinner("Loading the model..."):
            model, choice = models.current_model()
        # What the effective-field caches are keyed on: the model, its size and its file's version.
        model_ref, model_size, model_stamp = choice.ref, None, choice.stamp
        trained = choice.kind != "untrained"
        note_column.caption(md_text(choice.note, limit=300))
    else:
        default_size = get_preset(source).model.image_size
        url_state.seed("atrous_size", default_size, options=SIZES, cast=int)
        image_size = size_column.select_slider("Input size (pixels)", SIZES, key="atrous_size")
        url_state.sync("atrous_size", default_size)
        with st.spinner(f"Building the '{source}' model at {image_size} px..."):
            model = models.load_model(preset=source, image_size=int(image_size))
        model_ref, model_size, model_stamp = ModelRef.untrained(source), int(image_size), ()
        trained = False
        drawing.describe_figures(run=None, model=drawing.untrained_summary(source, int(image_size)))
        note_column.caption(get_preset(source).description)
    analysis = aspp.aspp_analysis(model)

size = int(analysis.image_size[0])
feature_rows, feature_columns = analysis.feature_size
stride = analysis.stride

# ---------------------------------------------------------------------------
# Which image: a dataset sample or an upload, resized to the model's input.
# ---------------------------------------------------------------------------


st.subheader("Where each branch looks")
image_column, pixel_column = st.columns([2, 3])
IMAGE_SOURCES = ["Dataset sample", "Upload"]
url_state.seed("atrous_image", IMAGE_SOURCES[0], options=IMAGE_SOURCES)
image_source = image_column.radio("Image", IMAGE_SOURCES, horizontal=True, key="atrous_image")
url_state.sync("atrous_image", IMAGE_SOURCES[0])
image = None
image_name = ""
if image_source == "Upload":
    upload = image_column.file_uploader(
        f"An image ({evaluate.UPLOAD_TYPES_TEXT})", type=list(evaluate.UPLOAD_TYPES), key="atrous_upload",
        help=f"{evaluate.UPLOAD_TYPES_TEXT}; at most {evaluate.MAX_UPLOAD_BYTES // (1024 * 1024)} MB and "
             f"{evaluate.MAX_UPLOAD_PIXELS // 1_000_000} megapixels. It is resized to {size} × {size} px.")
    if upload is not None:
        with drawing.error_boundary("Reading the upload", stop=False):
            picture, read_notes = evaluate.read_upload(upload.getvalue(), upload.name)  # the same reader and limits
            image = cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA)
            del picture
            image_name = upload.name
            drawing.describe_figures(dataset=f"upload {upload.name}")
            if read_notes:  # a grey, animated or turned upload is never converted without a word
                image_column.caption(":material/info: " + md_text(evaluate.upload_note(upload.name, read_notes),
                                                                  limit=600))
else:
    with drawing.error_boundary("Opening the dataset", stop=False):
        dataset = datasets.current_dataset()
        split = why_pixel.atrous_split([s for s in ("val", "train") if dataset.split(s)] or ["train"])
        count = len(dataset.split(split))
        url_state.seed_int("atrous_index", 0, 0, max(count - 1, 0))
        index = image_column.number_input(f"Sample of the {split} split (0 to {count - 1})", 0, max(count - 1, 0),
                                          key="atrous_index")
        url_state.sync("atrous_index", 0)
        stem, image, _ = datasets.load_sample(dataset.root, split, int(index), size=size)
        image_name = f"{dataset.name}/{split}/{stem}"
        with image_column:
            datasets.synthetic_note(dataset, link=False)
if image is None:
    image_column.info("No image yet: showing a plain grey picture. "
                      + (f"Upload an image above ({evaluate.UPLOAD_TYPES_TEXT})." if image_source == "Upload" else
                         "Generate the dataset (`python -m seglib data synth --default`) or upload an image."),
                      icon=":material/image:")
    image = np.full((size, size, 3), 180, dtype=np.uint8)
    image_name = "grey"
    drawing.describe_figures(dataset=None)

# A click on the figure selects the nearest ASPP output position (the faint dots).
try:
    points = list(st.session_state["atrous_click"]["selection"]["points"])
except (KeyError, TypeError):
    points = []
if points:
    clicked = (int(round(points[0]["y"])), int(round(points[0]["x"])))
    if 0 <= clicked[0] < size and 0 <= clicked[1] < size and clicked != st.session_state.get("atrous_clicked"):
        st.session_state["atrous_clicked"] = clicked
        st.session_state["atrous_row"], st.session_state["atrous_column"] = clicked
for key in ("atrous_row", "atrous_column"):  # from the URL too, so a link can point at one person
    url_state.seed_int(key, size // 2, 0, size - 1)
row_slider, column_slider = pixel_column.columns(2)
row = row_slider.slider("Row (pixels)", 0, size - 1, key="atrous_row")
column = column_slider.slider("Column (pixels)", 0, size - 1, key="atrous_column")
url_state.sync("atrous_row", size // 2)
url_state.sync("atrous_column", size // 2)
options_column, outside_column = pixel_column.columns(2)
show_squares = options_column.toggle("Receptive-field squares", value=True, key="atrous_squares")
show_outside = outside_column.toggle("True place of off-image taps", value=False, key="atrous_outside",
                                     help="Taps beyond the feature map read zero padding and are drawn hollow. "
                                          "Off: pinned to a band around the image (hover tells where they "
                                          "belong). On: drawn where they would be, which can shrink the image.")

grid = aspp.sampling_grid(analysis, (row, column))
unit = grid["unit"]
center = grid["center"]

figure_column, side_column = st.columns([3, 2])
with figure_column:
    figure = receptive_figures.sampling_figure(image, analysis, grid, show_outside=show_outside,
                                               show_squares=show_squares, height=600)
    st.plotly_chart(drawing.for_presentation(figure), width="stretch", config=drawing.chart_config("atrous-sampling"),
                    theme=None, key="atrous_click", on_select="rerun", selection_mode="points")
    beyond = (" Every receptive field is larger than the image at this size, so the dashed squares lie "
              "outside the view (zoom out with the toolbar)." if analysis.receptive_field > size else "")
    st.caption(f"{md_code(image_name)}, at the model's input size {size} × {size} px. "
               "Click a faint dot (an ASPP "
               "output position) or use the sliders. Click a legend entry to hide a branch." + beyond)
    if image_source != "Upload" and image_name != "grey":  # a dataset sample: the way back to Predictions
        why_pixel.predictions_link(dataset.root, split, int(index), (row, column), size)

with side_column:
    st.markdown(f"**Output stride** {stride:g} px · **ASPP map** {feature_rows} × {feature_columns} · "
                f"**Backbone field** {analysis.receptive_field:g} px",
                help=f"The backbone shrinks the image {stride:g} times; one unit of '{analysis.input_layer}' "
                     f"(the ASPP input) can see {analysis.receptive_field:g} input pixels (theoretical "
                     "receptive field).")
    padding_taps = sum(not t.valid for t in grid["taps"])
    st.markdown(
        f"**Selected:** ASPP output ({unit[0]}, {unit[1]}) of {feature_rows} × {feature_columns}, "
        f"centred on pixel ({center[0]:g}, {center[1]:g}).\n\n"
        "- **Filled dots**: the pixels whose features a branch's 3 × 3 kernel reads, "
        f"*rate × {stride:g} px* apart; all branches share the centre tap (the rings).\n"
        f"- **Hollow dots** ({padding_taps} here): taps that fall off the {feature_rows} × {feature_columns} "
        "feature map and read zero padding.\n"
        "- **Dashed squares**: each branch's theoretical receptive field (everything that can change its "
        "output); they often reach far beyond the image.\n"
        "- **Orange frame**: image pooling averages the whole image, so it sees everything.")
    st.caption(f"Rates and kernel sizes are read from the ASPP layers "
               f"({', '.join(b.name for b in analysis.branches)}); the ASPP input is `{analysis.input_layer}`.")

table_column, people_column = st.columns([3, 2])
with table_column:
    table = pd.DataFrame(aspp.branch_rows(analysis, grid))
    st.dataframe(
        table[["branch", "spacing (px)", "receptive field (px)", "valid-tap fraction", "acts as 1×1 at",
               "valid taps here"]],
        hide_index=True, width="stretch",
        column_config={
            "branch": st.column_config.TextColumn("branch"),
            "spacing (px)": st.column_config.NumberColumn(
                aspp.BRANCH_HEADINGS["spacing (px)"],
                help="Distance between neighbouring taps in input pixels: rate × output stride."),
            "receptive field (px)": st.column_config.TextColumn(
                aspp.BRANCH_HEADINGS["receptive field (px)"],
                help="Theoretical receptive field in input pixels: everything that can influence the "
                     "branch's output."),
            "valid-tap fraction": st.column_config.NumberColumn(
                aspp.BRANCH_HEADINGS["valid-tap fraction"], format="percent", width="small",
                help="Share of the kernel's taps that land on the feature map rather than on zero padding, "
                     "averaged over all positions."),
            "acts as 1×1 at": st.column_config.NumberColumn(
                aspp.BRANCH_HEADINGS["acts as 1×1 at"], format="percent", width="small",
                help="Share of positions where only the centre tap is on the map: the kernel is a 1 × 1 "
                     "convolution there."),
            "valid taps here": st.column_config.TextColumn(
                aspp.BRANCH_HEADINGS["valid taps here"], width="small", help="Valid taps at the selected position."),
        })

with people_column:
    # People's heights, at the model's input size, next to the scales the branches read.
    heights = None
    with drawing.error_boundary("Dataset statistics", stop=False):
        dataset = datasets.current_dataset()
        with st.spinner("Measuring people in the dataset (once per dataset and size)..."):
            stats = datasets.load_stats(dataset.root, "train", size=size)
        heights = np.asarray(stats.person_heights, dtype=np.float64)
    if heights is not None and heights.size:
        p10, median, p90 = np.percentile(heights, [10, 50, 90])
        st.markdown(
            f"**People in the training split**, at {size} px: {heights.size:,} people; "
            f"10 % are under **{p10:.0f} px**, the median is **{median:.0f} px**, 10 % are over "
            f"**{p90:.0f} px** (from {heights.min():.0f} to {heights.max():.0f}).")
        drawing.plot(receptive_figures.scale_figure(heights, analysis, height=300))
    else:
        st.caption("Person-height statistics appear here once the dataset and its statistics are available "
                   "(see the Dataset explorer).")

# ---------------------------------------------------------------------------
# The same numbers for the Keras example (ResNet50, 512 px, rates 6/12/18)
# ---------------------------------------------------------------------------


def _column(size: int, stride: float, layer: str, backbone_field: float | None, rates: list[int],
            fields: dict[int, float]) -> dict[str, str]:
    """One column of the comparison: everything but the receptive fields follows from size, stride
    and rates (``dilation.valid_tap_stats``)."""
    cells = int(size // stride)
    taps = [dilation.valid_tap_stats(cells, rate) for rate in rates]
    collapsed = [str(rate) for rate, stat in zip(rates, taps) if stat["center_only_fraction"] >= 0.99]
    return {
        "input": f"{size} × {size} px",
        "ASPP input (layer)": layer,
        "output stride · ASPP map": f"{stride:g} · {cells} × {cells}",
        "backbone field": "?" if backbone_field is None else f"{backbone_field:g} px",
        "atrous rates": " / ".join(map(str, rates)),
        "tap spacing": " / ".join(f"{rate * stride:g}" for rate in rates) + " px",
        "atrous branch fields": " / ".join(f"{fields[rate]:g}" if rate in fields else "?" for rate in rates)
                                + " px",
        "valid taps (mean over positions)": " / ".join(f"{stat['valid_tap_fraction']:.0%}" for stat in taps),
        "rates that act as 1 × 1 everywhere": ", ".join(collapsed) or "none",
    }


st.subheader("Next to the Keras example")
rates = sorted(b.rate for b in analysis.branches if b.kind == "conv" and b.kernel_size > 1)
example = get_preset("keras-example").model
with drawing.error_boundary("Measuring the Keras example's ResNet50", stop=False):
    with st.spinner("Measuring the Keras example's ResNet50 (once per machine)..."):
        example_fields = models.reduced_numbers("keras-example")
    model_name = labels.get(source, source).replace("Sidebar model: ", "").replace(" (random weights)", "")
    this_column = _column(size, stride, analysis.input_layer, analysis.receptive_field, rates,
                          {int(b.rate): b.receptive_field_px for b in analysis.branches if b.kind == "conv"})
    example_column = _column(example.image_size, float(example.output_stride), example_fields["input_layer"],
                             example_fields["backbone_field"], list(example.atrous_rates), example_fields["fields"])
    comparison = pd.DataFrame({"": list(this_column), f"this model ({model_name})": list(this_column.values()),
                               f"Keras example ({BACKBONE_NAMES.get(example.backbone, example.backbone)}, "
                               f"{example.image_size} px)":
                                   list(example_column.values())})
    st.dataframe(comparison, hide_index=True, width="stretch", height=35 * (len(comparison) + 1) + 3)
    compare_text = st.container()
    example_cells = example.image_size // example.output_stride
    widest = max(example.atrous_rates)
    example_kept = dilation.valid_tap_stats(example_cells, widest)["valid_tap_fraction"]
    this_kept = dilation.valid_tap_stats(analysis.feature_size, max(rates))["valid_tap_fraction"] if rates else None
    compare_text.markdown(
        f"The Keras example reads {example.image_size} px images on a {example_cells} × {example_cells} map: "
        f"its widest rate, {widest}, keeps {example_kept:.0%} of its taps on the map, and its taps lie "
        f"{min(example.atrous_rates) * example.output_stride} to {widest * example.output_stride} px apart."
        + (f" This model's widest rate, {max(rates)}, keeps {this_kept:.0%} of its taps on its "
           f"{feature_rows} × {feature_columns} map." if rates else "")
        + " Whether a branch's taps read neighbouring features at all depends on its rate compared with the "
        "width of the map, not on the rate alone: a smaller model on smaller images needs smaller rates for the "
        "same job.")
    compare_text.caption("The Keras example's column is computed from its configuration (map size, spacing and "
                         "valid taps from the stride and the rates); its receptive fields are read from its "
                         "layers, built once at a small size, since fields do not depend on the input size.")

# ---------------------------------------------------------------------------
# Valid taps against the rate (DeepLab v3, figure 4)
# ---------------------------------------------------------------------------


def _rates_need(rates: list[int], stride: float) -> str:
    """What this model's rates need (true for any rates): a rate-r branch reads a neighbour somewhere
    only while the map is wider than r cells."""
    if not rates:
        return ""
    cells = max(rates) + 1
    text = (f"Rate {max(rates)} reads a neighbour only on maps of at least {cells} × {cells} cells, "
            f"so this model's rates {'/'.join(map(str, rates))} need inputs of {cells * stride:g} px or more.")
    if list(rates) == [6, 12, 18] and stride == 16:
        text += " DeepLab chose 6/12/18 for 513 px crops (a 33 × 33 map)."
    return text


def _collapse_hint(rates: list[int], stride: float, size: int, fixed_size: bool) -> str:
    """The largest smaller input size of the size slider at which some of these rates act as 1 × 1."""
    for smaller in sorted((s for s in SIZES if s < size), reverse=True):
        cells = int(smaller // stride)
        collapsed = [rate for rate in rates if rate >= cells]
        if collapsed:
            how = (" (pick this model's preset above to change the size)" if fixed_size else
                   " (move the size slider)")
            return (f"At {smaller} px (a {cells} × {cells} map) rate{'s' if len(collapsed) > 1 else ''} "
                    f"{' and '.join(map(str, collapsed))} would act as 1 × 1 everywhere{how}.")
    return "No smaller size on offer turns one of them into a 1 × 1 convolution."


st.subheader("Taps that land on padding")
curve_column, text_column = st.columns([3, 2])
with curve_column:
    curve = dilation.valid_tap_curve(analysis.feature_size, range(1, max([*rates, feature_rows]) + 3))
    drawing.plot(receptive_figures.valid_tap_figure(curve, rates))
with text_column:
    degenerate = [b for b in analysis.branches if b.center_only_fraction is not None and b.center_only_fraction >= 0.99]
    st.markdown(
        f"The ASPP works on a **{feature_rows} × {feature_columns}** map ({size} px ÷ {stride:g}). A 3 × 3 "
        "kernel at rate *r* reads positions *r* cells away; when those fall off the map it multiplies "
        "zeros (padding). Once the rate reaches the map size only the centre tap is left and the "
        "kernel is just a 1 × 1 convolution: a larger rate then adds nothing.")
    if degenerate:
        st.warning(f"At {size} px, {', '.join(b.label for b in degenerate)} "
                   f"{'is' if len(degenerate) == 1 else 'are'} pure 1 × 1 at every position: "
                   f"the map is only {feature_rows} cells wide. " + _rates_need(rates, stride),
                   icon=":material/warning:")
    else:
        st.info(f"At {size} px every atrous branch still reads neighbours at some positions. "
                + _collapse_hint(rates, stride, size, source == "sidebar"),
                icon=":material/info:")

# ---------------------------------------------------------------------------
# Dilated convolution on a grid
# ---------------------------------------------------------------------------
st.subheader("Dilated convolution on a grid")
st.markdown(
    "Nine weights, spread out: at rate *r* one 3 × 3 kernel covers (2*r* + 1)² cells with "
    "no more parameters. Stacking layers whose rates double (1, 2, 4, ...) covers every cell of a "
    "field that grows **exponentially** with depth; plain 3 × 3 layers grow it only linearly.")
rate_column, depth_column = st.columns(2)
demo_rate = rate_column.slider("Rate of one kernel", 1, 8, 2, key="atrous_demo_rate")
depth = depth_column.slider("Layers in the stack", 1, 5, 3, key="atrous_demo_depth")
doubling = [2 ** i for i in range(depth)]
plain = [1] * depth
grid_size = max(dilation.stack_receptive_field(doubling), dilation.stack_receptive_field([demo_rate]))
panels = st.columns(3)
for panel, rates_stack, title in (
    (panels[0], [demo_rate], f"one 3×3 kernel, rate {demo_rate}"),
    (panels[1], doubling, f"{depth} layers, rates {', '.join(map(str, doubling))}"),
    (panels[2], plain, f"{depth} layers, rate 1"),
):
    with panel:
        field_size = dilation.stack_receptive_field(rates_stack)
        coverage = dilation.dilated_stack_coverage(rates_stack)
        drawing.plot(receptive_figures.dilation_figure(coverage, grid_size=grid_size, title=title, height=300))
        holes = int((coverage == 0).sum())
        st.caption(f"Field **{field_size} × {field_size}** from {9 * len(rates_stack)} weights"
                   + (f"; {holes} cells inside it are never read" if holes else "; no holes")
                   + ". Darker = more paths to the centre output.")

# ---------------------------------------------------------------------------
# Effective receptive field (Luo et al., 2016)
# ---------------------------------------------------------------------------
st.subheader("Effective receptive field")
st.markdown(
    "The theoretical field says what *can* influence an output pixel; the gradient of that pixel's "
    "logit with respect to the input image shows what *does*. It is brightest near the pixel and "
    "fades fast, so the effective field is much smaller than the theoretical one; training "
    "usually widens it.")


@st.cache_resource(show_spinner=False, max_entries=4)
def _untrained(model_key: str, image_size: int | None):
    return erf.untrained_copy(models.load_ref(ModelRef.from_url(model_key), image_size), seed=0)


@st.cache_data(show_spinner=False, max_entries=32)
def _erf(model_key: str, image_size: int | None, stamp: tuple, image: np.ndarray, pixel: tuple[int, int],
         untrained: bool, class_index: int | None = None):
    """The effective receptive field of one pixel (``stamp``: the checkpoint's version)."""
    model_ = (_untrained(model_key, image_size) if untrained
              else models.load_ref(ModelRef.from_url(model_key), image_size))
    return erf.effective_receptive_field(model_, image, pixel, class_index=class_index)


def _field_of(pixel: tuple[int, int], untrained: bool, class_index: int | None = None):
    return _erf(model_ref.to_url(), model_size, model_stamp, image, pixel, untrained, class_index)


wanted = st.session_state.get("atrous_erf_on", False)
if st.button("Compute the effective receptive fields" if not wanted else "Effective fields are on: recompute "
             "for the selected pixel", icon=":material/calculate:", key="atrous_erf_button"):
    st.session_state["atrous_erf_on"] = wanted = True
if wanted:
    with drawing.error_boundary("Computing the effective receptive field", stop=False):
        with st.spinner("Back-propagating one logit to the image..."):
            results = []
            if trained:
                results.append(("trained (" + html.escape(shorten(sidebar_choice.label)) + ")",
                                _field_of((row, column), False)))
                # The same class's logit in both, so the two maps answer the same question.
                results.append(("same architecture, random weights (seed 0)",
                                _field_of((row, column), True, results[0][1].class_index)))
            else:  # the model already has random weights
                results.append(("random weights", _field_of((row, column), False)))
        panels = st.columns(2)
        for panel, (title, result) in zip(panels, results):
            with panel:
                drawing.plot(receptive_figures.erf_figure(
                    result.gradient, result.pixel, theoretical_field=None, extent_50=result.extent_50,
                    extent_90=result.extent_90, image=image, title=title, height=420))
                st.caption(
                    f"Logit of **{class_label(result.class_index)}** "
                    f"({'the arg-max class' if title != results[-1][0] or len(results) == 1 else 'as on the left'}) "
                    f"at pixel ({row}, {column}). Half of the gradient lies within "
                    f"**{result.extent_50} px**, 90 % within **{result.extent_90} px**; theoretically up to "
                    f"{analysis.branches[-1].receptive_field_px:g} px through the widest atrous branch, "
                    "and the whole image through image pooling.")
        if not trained:
            panels[1].info("This model has random weights. Pick the demo model or a trained run in the sidebar "
                    "(and 'Sidebar model' above) to compare with a trained one.", icon=":material/info:")
else:
    st.caption("Computed on demand (a second or two for the lecture model, longer for ResNet50 at 512 px) "
               "and cached for everyone.")

# ---------------------------------------------------------------------------
# Exercise 13-2, with the numbers it needs
# ---------------------------------------------------------------------------
st.subheader("Exercise 13-2")
output_shape = tuple(model.output_shape)
with st.container(border=True):
    st.markdown(
        "1. **Scales in the masks.** Look at the ground-truth masks: which sizes of people and of "
        "body parts do you see? Give a few examples (a person in the background, a face, a shoe).\n"
        "2. **How the encoder handles scale.** How do the backbone and the ASPP block cope with "
        "those different sizes, and what range of scales do they cover?\n"
        "3. **The final layer.** What are the dimensions of the output convolution, and how do they "
        "match what a segmentation has to produce?")
    heights_line = (f"- People in the training split: 10th / 50th / 90th percentile **{p10:.0f} / {median:.0f} / "
                    f"{p90:.0f} px** tall at {size} px (range {heights.min():.0f} to {heights.max():.0f} px).\n"
                    if heights is not None and heights.size else "")
    st.markdown(
        "**The numbers you need** (for the model above):\n\n"
        + heights_line
        + f"- Input: **{size} × {size} px**. The backbone reaches output stride **{stride:g}** "
        f"(a {feature_rows} × {feature_columns} map) at `{analysis.input_layer}`, where one unit sees "
        f"**{analysis.receptive_field:g} px**.\n"
        "- ASPP: " + "; ".join(
            f"{b.label}: " + ("the whole image" if b.whole_image else
                              (f"taps {b.spacing_px:g} px apart, " if b.kernel_size > 1 else "")
                              + f"field {b.receptive_field_px:g} px") for b in analysis.branches) + ".\n"
        + f"- Final layer `{model.layers[-1].name}`: output **"
        + " × ".join(str(d) for d in output_shape[1:]) + "** (height × width × classes).")
    for file, label in (("dataset.py", "Object scales in the Dataset explorer"),
                        ("model.py", "The layer table in the Model page")):
        # Links need the dashboard's navigation; a page run on its own (AppTest) has none.
        with contextlib.suppress(StreamlitPageNotFoundError):
            registry.page_link(file, label)

# ---------------------------------------------------------------------------
# The code behind the page
# ---------------------------------------------------------------------------
drawing.show_source(aspp.aspp_analysis)
drawing.show_source(aspp.sampling_grid)
drawing.show_source(erf.effective_receptive_field)
