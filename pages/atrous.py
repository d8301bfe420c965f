"""Atrous scales: how the ASPP branches of DeepLabV3+ see an image (exercise 13-2)."""

from __future__ import annotations

import contextlib
import html

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from seglib.analysis import aspp, dilation, erf, rates
from seglib.classes import class_label
from seglib.data.stats import height_spread
from seglib.figures import receptive as receptive_figures
from seglib.presets import INPUT_SIZES
from ui import atrous as page_state
from ui import drawing, models, registry, url_state, why_pixel
from ui.markdown import md_code, shorten
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

# --- Which model: the one in the sidebar, or a preset at a chosen size. ---
sidebar_choice = models.current_model_choice()
labels = page_state.source_labels(sidebar_choice)
pick_column, size_column, note_column = st.columns([2, 1.4, 2], vertical_alignment="bottom")
url_state.seed("atrous_model", "sidebar", options=list(labels))
source = pick_column.selectbox("Model to analyse", list(labels), format_func=labels.get, key="atrous_model",
                               help="The model picked in the sidebar, or a preset's architecture at any "
                                    "input size (the numbers follow the size).")
url_state.sync("atrous_model", "sidebar")
with drawing.error_boundary("Loading the model"):
    analysed = page_state.load(source, size_column, note_column)
analysis, model = analysed.analysis, analysed.model
size = int(analysis.image_size[0])
feature_rows, feature_columns = analysis.feature_size
stride = analysis.stride

# --- Which image: a dataset sample or an upload, resized to the model's input. ---
st.subheader("Where each branch looks")
image_column, pixel_column = st.columns([2, 3])
picture = page_state.picture(image_column, size)
image = picture.image

page_state.apply_click(size)  # a click on the figure selects the nearest ASPP output position (the faint dots)
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
                    theme=None, key=page_state.CLICK_KEY, on_select="rerun", selection_mode="points")
    beyond = (" Every receptive field is larger than the image at this size, so the dashed squares lie "
              "outside the view (zoom out with the toolbar)." if analysis.receptive_field > size else "")
    st.caption(f"{md_code(picture.name)}, at the model's input size {size} × {size} px. "
               "Click a faint dot (an ASPP "
               "output position) or use the sliders. Click a legend entry to hide a branch." + beyond)
    if picture.sample is not None:  # a dataset sample: the way back to Predictions
        why_pixel.predictions_link(*picture.sample, (row, column), size)

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
        table[list(page_state.BRANCH_COLUMNS)], hide_index=True, width="stretch",
        column_config=page_state.BRANCH_COLUMNS)

with people_column:
    # People's heights, at the model's input size, next to the scales the branches read.
    heights = page_state.people_heights(size)
    if heights is not None:
        h = height_spread(heights)
        st.markdown(
            f"**People in the training split**, at {size} px: {heights.size:,} people; "
            f"10 % are under **{h['p10']:.0f} px**, the median is **{h['median']:.0f} px**, 10 % are over "
            f"**{h['p90']:.0f} px** (from {h['min']:.0f} to {h['max']:.0f}).")
        drawing.plot(receptive_figures.scale_figure(heights, analysis, height=300))
    else:
        st.caption("Person-height statistics appear here once the dataset and its statistics are available "
                   "(see the Dataset explorer).")

# --- The same numbers for the Keras example (ResNet50, 512 px, rates 6/12/18) ---
st.subheader("Next to the Keras example")
branch_rates = rates.atrous_rates(analysis)
with drawing.error_boundary("Measuring the Keras example's ResNet50", stop=False):
    comparison, sentence = page_state.keras_example_comparison(analysis, page_state.model_name(sidebar_choice, source))
    st.dataframe(comparison, hide_index=True, width="stretch", height=35 * (len(comparison) + 1) + 3)
    compare_text = st.container()
    compare_text.markdown(sentence)
    compare_text.caption("The Keras example's column is computed from its configuration (map size, spacing and "
                         "valid taps from the stride and the rates); its receptive fields are read from its "
                         "layers, built once at a small size, since fields do not depend on the input size.")

# --- Valid taps against the rate (DeepLab v3, figure 4) ---
st.subheader("Taps that land on padding")
curve_column, text_column = st.columns([3, 2])
with curve_column:
    curve = dilation.valid_tap_curve(analysis.feature_size, range(1, max([*branch_rates, feature_rows]) + 3))
    drawing.plot(receptive_figures.valid_tap_figure(curve, branch_rates))
with text_column:
    degenerate = rates.one_by_one_branches(analysis)
    st.markdown(
        f"The ASPP works on a **{feature_rows} × {feature_columns}** map ({size} px ÷ {stride:g}). A 3 × 3 "
        "kernel at rate *r* reads positions *r* cells away; when those fall off the map it multiplies "
        "zeros (padding). Once the rate reaches the map size only the centre tap is left and the "
        "kernel is just a 1 × 1 convolution: a larger rate then adds nothing.")
    if degenerate:
        st.warning(f"At {size} px, {', '.join(b.label for b in degenerate)} "
                   f"{'is' if len(degenerate) == 1 else 'are'} pure 1 × 1 at every position: "
                   f"the map is only {feature_rows} cells wide. " + rates.rates_need(branch_rates, stride),
                   icon=":material/warning:")
    else:
        st.info(f"At {size} px every atrous branch still reads neighbours at some positions. "
                + rates.collapse_hint(branch_rates, stride, size, INPUT_SIZES, analysed.from_sidebar),
                icon=":material/info:")

# --- Dilated convolution on a grid ---
st.subheader("Dilated convolution on a grid")
st.markdown(
    "Nine weights, spread out: at rate *r* one 3 × 3 kernel covers (2*r* + 1)² cells with "
    "no more parameters. Stacking layers whose rates double (1, 2, 4, ...) covers every cell of a "
    "field that grows **exponentially** with depth; plain 3 × 3 layers grow it only linearly.")
rate_column, depth_column = st.columns(2)
demo_rate = rate_column.slider("Rate of one kernel", 1, 8, 2, key="atrous_demo_rate")
depth = depth_column.slider("Layers in the stack", 1, 5, 3, key="atrous_demo_depth")
grid_size, stacks = page_state.dilation_stacks(demo_rate, depth)
for panel, (rates_stack, title, field_size, coverage, holes) in zip(st.columns(3), stacks):
    with panel:
        drawing.plot(receptive_figures.dilation_figure(coverage, grid_size=grid_size, title=title, height=300))
        st.caption(f"Field **{field_size} × {field_size}** from {9 * len(rates_stack)} weights"
                   + (f"; {holes} cells inside it are never read" if holes else "; no holes")
                   + ". Darker = more paths to the centre output.")

# --- Effective receptive field (Luo et al., 2016) ---
st.subheader("Effective receptive field")
st.markdown(
    "The theoretical field says what *can* influence an output pixel; the gradient of that pixel's "
    "logit with respect to the input image shows what *does*. It is brightest near the pixel and "
    "fades fast, so the effective field is much smaller than the theoretical one; training "
    "usually widens it.")
wanted = st.session_state.get("atrous_erf_on", False)
if st.button("Compute the effective receptive fields" if not wanted else "Effective fields are on: recompute "
             "for the selected pixel", icon=":material/calculate:", key="atrous_erf_button"):
    st.session_state["atrous_erf_on"] = wanted = True
if wanted:
    with drawing.error_boundary("Computing the effective receptive field", stop=False):
        with st.spinner("Back-propagating one logit to the image..."):
            results = page_state.effective_fields(analysed, image, (row, column),
                                                  html.escape(shorten(sidebar_choice.label)))
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
        if not analysed.trained:
            panels[1].info("This model has random weights. Pick the demo model or a trained run in the sidebar "
                    "(and 'Sidebar model' above) to compare with a trained one.", icon=":material/info:")
else:
    st.caption("Computed on demand (a second or two for the lecture model, longer for ResNet50 at 512 px) "
               "and cached for everyone.")

# --- Exercise 13-2, with the numbers it needs ---
st.subheader("Exercise 13-2")
with st.container(border=True):
    st.markdown(
        "1. **Scales in the masks.** Look at the ground-truth masks: which sizes of people and of "
        "body parts do you see? Give a few examples (a person in the background, a face, a shoe).\n"
        "2. **How the encoder handles scale.** How do the backbone and the ASPP block cope with "
        "those different sizes, and what range of scales do they cover?\n"
        "3. **The final layer.** What are the dimensions of the output convolution, and how do they "
        "match what a segmentation has to produce?")
    st.markdown(page_state.exercise_numbers(analysis, model, heights))
    for file, label in (("dataset.py", "Object scales in the Dataset explorer"),
                        ("model.py", "The layer table in the Model page")):
        # Links need the dashboard's navigation; a page run on its own (AppTest) has none.
        with contextlib.suppress(StreamlitPageNotFoundError):
            registry.page_link(file, label)

# --- The code behind the page ---
drawing.show_source(aspp.aspp_analysis)
drawing.show_source(aspp.sampling_grid)
drawing.show_source(erf.effective_receptive_field)
