"""The Atrous page's parts (``pages/atrous.py``): which model and which image it analyses, a click on the
sampling figure, the Keras example beside the model, and the effective receptive fields with their caches.

The arithmetic lives in ``seglib.analysis`` (``aspp``: taps and fields read from the layers, ``rates``:
what the rates do at a size, ``dilation``: kernels without a model, ``erf``: gradients). Caches are
shared by every session and keyed on ``ui.models.model_key``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from seglib.analysis import aspp, dilation, erf, rates
from seglib.config import BACKBONE_NAMES
from seglib.data.stats import height_spread
from seglib.evaluation import evaluate
from seglib.presets import INPUT_SIZES, get_preset, preset_names
from ui import datasets, drawing, models, selection, uploads, url_state, why_pixel
from ui.markdown import md_text, shorten

#: The image sources the page offers.
IMAGE_SOURCES = ["Dataset sample", "Upload"]
#: The widget key of the sampling figure (its clicked points move the selected position).
CLICK_KEY = "atrous_click"

#: Headings and help of the branch table.
BRANCH_COLUMNS = {
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
}


@dataclasses.dataclass(frozen=True)
class Analysed:
    """The model the page analyses and what ``seglib.analysis.aspp`` read from it."""

    model: object
    key: tuple          #: ``ui.models.model_key``: what the effective-field caches are keyed on
    analysis: aspp.AsppAnalysis
    trained: bool
    from_sidebar: bool  #: the sidebar's model (its size cannot be moved here)


@dataclasses.dataclass(frozen=True)
class Picture:
    """The image the page draws on, at the model's input size, and where it came from."""

    image: np.ndarray
    name: str
    sample: tuple | None = None  #: ``(dataset root, split, index)`` of a dataset sample


def source_labels(sidebar_choice: models.ModelChoice) -> dict[str, str]:
    """The model picker's options and their labels: the sidebar's model, then each preset."""
    return {"sidebar": f"Sidebar model: {shorten(sidebar_choice.label)}",
            **{name: f"Preset '{name}' (random weights)" for name in preset_names()}}


def model_name(sidebar_choice: models.ModelChoice, source: str) -> str:
    """The picked model's name in the comparison's heading: the sidebar's model, or a preset."""
    return shorten(sidebar_choice.label) if source == "sidebar" else f"Preset '{source}'"


def load(source: str, size_column, note_column) -> Analysed:
    """The model ``source`` names (the sidebar's, or a preset at the size picked in ``size_column``),
    a line about it in ``note_column``, and its ASPP analysis (may raise SeglibError)."""
    if source == "sidebar":
        with st.spinner("Loading the model..."):
            model, choice = models.current_model()
        note_column.caption(md_text(choice.note, limit=300))
        return Analysed(model, models.model_key(choice, model), aspp.aspp_analysis(model),
                        trained=choice.kind != "untrained", from_sidebar=True)
    default_size = get_preset(source).model.image_size
    url_state.seed("atrous_size", default_size, options=INPUT_SIZES, cast=int)
    image_size = int(size_column.select_slider("Input size (pixels)", INPUT_SIZES, key="atrous_size"))
    url_state.sync("atrous_size", default_size)
    with st.spinner(f"Building the '{source}' model at {image_size} px..."):
        model = models.load_model(preset=source, image_size=image_size)
    drawing.describe_figures(run=None, model=drawing.untrained_summary(source, image_size))
    note_column.caption(get_preset(source).description)
    return Analysed(model, models.model_key(models.untrained_choice(source), model, image_size),
                    aspp.aspp_analysis(model), trained=False, from_sidebar=False)


def picture(image_column, size: int) -> Picture:
    """The image radio in ``image_column`` and what it picks: an upload or a dataset sample resized to
    ``size``, else a plain grey picture with a word on how to get a real one."""
    url_state.seed("atrous_image", IMAGE_SOURCES[0], options=IMAGE_SOURCES)
    image_source = image_column.radio("Image", IMAGE_SOURCES, horizontal=True, key="atrous_image")
    url_state.sync("atrous_image", IMAGE_SOURCES[0])
    if image_source == "Upload":
        upload = uploads.image_uploader(image_column, "atrous_upload",
                                        after=f"It is resized to {size} × {size} px.")
        if upload is not None:
            with drawing.error_boundary("Reading the upload", stop=False):
                picked, read_notes = evaluate.read_upload(upload.getvalue(), upload.name)  # the shared reader
                image = cv2.resize(picked, (size, size), interpolation=cv2.INTER_AREA)
                del picked
                drawing.describe_figures(dataset=f"upload {upload.name}")
                uploads.read_notes(image_column, upload.name, read_notes)
                return Picture(image, upload.name)
    else:
        with drawing.error_boundary("Opening the dataset", stop=False):
            dataset = datasets.current_dataset()
            split = why_pixel.atrous_split([s for s in ("val", "train") if dataset.split(s)] or ["train"])
            count = len(dataset.split(split))
            url_state.seed_int("atrous_index", 0, 0, max(count - 1, 0))
            index = image_column.number_input(f"Sample of the {split} split (0 to {count - 1})", 0,
                                              max(count - 1, 0), key="atrous_index")
            url_state.sync("atrous_index", 0)
            stem, image, _ = datasets.load_sample(dataset.root, split, int(index), size=size)
            with image_column:
                datasets.synthetic_note(dataset, link=False)
            return Picture(image, f"{dataset.name}/{split}/{stem}", (dataset.root, split, int(index)))
    image_column.info("No image yet: showing a plain grey picture. "
                      + (f"Upload an image above ({evaluate.UPLOAD_TYPES_TEXT})." if image_source == "Upload" else
                         "Generate the dataset (`python -m seglib data synth --default`) or upload an image."),
                      icon=":material/image:")
    drawing.describe_figures(dataset=None)
    return Picture(np.full((size, size, 3), 180, dtype=np.uint8), "grey")


def apply_click(size: int) -> None:
    """A new click on the sampling figure (last run) selects the nearest ASPP output position: it moves
    the row and column sliders (drawn after this)."""
    clicked = selection.points(CLICK_KEY)
    if clicked:
        pixel = (int(round(clicked[0]["y"])), int(round(clicked[0]["x"])))
        if 0 <= pixel[0] < size and 0 <= pixel[1] < size and selection.is_new("atrous_clicked", pixel):
            st.session_state["atrous_row"], st.session_state["atrous_column"] = pixel


def people_heights(size: int) -> np.ndarray | None:
    """People's heights in the training split at the model's input ``size`` (None without a dataset)."""
    with drawing.error_boundary("Dataset statistics", stop=False):
        dataset = datasets.current_dataset()
        with st.spinner("Measuring people in the dataset (once per dataset and size)..."):
            stats = datasets.load_stats(dataset.root, "train", size=size)
        heights = np.asarray(stats.person_heights, dtype=np.float64)
        return heights if heights.size else None
    return None


def keras_example_comparison(analysis: aspp.AsppAnalysis, name: str) -> tuple[pd.DataFrame, str]:
    """The table that sets this model beside the Keras example (its size-independent numbers from the
    64 px build, ``ui.models.reduced_numbers``), and the sentence that reads it."""
    example = get_preset("keras-example").model
    with st.spinner("Measuring the Keras example's ResNet50 (once per machine)..."):
        example_fields = models.reduced_numbers("keras-example")
    size, this_rates = int(analysis.image_size[0]), rates.atrous_rates(analysis)
    this_column = rates.comparison_column(size, analysis.stride, analysis.input_layer, analysis.receptive_field,
                                          this_rates, rates.branch_fields(analysis))
    example_column = rates.comparison_column(
        example.image_size, float(example.output_stride), example_fields["input_layer"],
        example_fields["backbone_field"], list(example.atrous_rates), example_fields["fields"])
    table = pd.DataFrame({"": list(this_column), f"this model ({name})": list(this_column.values()),
                          f"Keras example ({BACKBONE_NAMES.get(example.backbone, example.backbone)}, "
                          f"{example.image_size} px)": list(example_column.values())})
    return table, rates.comparison_sentence(example, this_rates, analysis.feature_size)


def dilation_stacks(demo_rate: int, depth: int) -> tuple[int, list[tuple]]:
    """The grid side that holds every panel, and the three stacks of the dilation demo: one kernel at
    ``demo_rate``, ``depth`` layers with doubling rates, ``depth`` plain layers; each as ``(rates, title,
    receptive field side, coverage (paths to the centre per cell), cells inside the field never read)``."""
    doubling = [2 ** i for i in range(depth)]
    grid_size = max(dilation.stack_receptive_field(doubling), dilation.stack_receptive_field([demo_rate]))
    stacks = []
    for stack, title in (([demo_rate], f"one 3×3 kernel, rate {demo_rate}"),
                         (doubling, f"{depth} layers, rates {', '.join(map(str, doubling))}"),
                         ([1] * depth, f"{depth} layers, rate 1")):
        coverage = dilation.dilated_stack_coverage(stack)
        stacks.append((stack, title, dilation.stack_receptive_field(stack), coverage, int((coverage == 0).sum())))
    return grid_size, stacks


@st.cache_resource(show_spinner=False, max_entries=4)
def _untrained(model_key: tuple, *, _model):
    return erf.untrained_copy(_model, seed=0)


@st.cache_data(show_spinner=False, max_entries=32)
def _erf(model_key: tuple, image: np.ndarray, pixel: tuple[int, int], untrained: bool,
         class_index: int | None = None, *, _model):
    """The effective receptive field of one pixel of the model ``model_key`` names."""
    model = _untrained(model_key, _model=_model) if untrained else _model
    return erf.effective_receptive_field(model, image, pixel, class_index=class_index)


def effective_fields(analysed: Analysed, image: np.ndarray, pixel: tuple[int, int], trained_name: str) -> list:
    """``(title, seglib.analysis.erf result)`` of ``pixel``: a trained model's and the same architecture's
    with random weights (for the same class's logit, so both answer one question), else the one model's."""
    def field(untrained: bool, class_index: int | None = None):
        return _erf(analysed.key, image, pixel, untrained, class_index, _model=analysed.model)

    if not analysed.trained:  # the model already has random weights
        return [("random weights", field(False))]
    trained = field(False)
    return [(f"trained ({trained_name})", trained),
            ("same architecture, random weights (seed 0)", field(True, trained.class_index))]


def exercise_numbers(analysis: aspp.AsppAnalysis, model, heights: np.ndarray | None) -> str:
    """The numbers exercise 13-2 needs, for the model analysed (Markdown)."""
    size = int(analysis.image_size[0])
    rows, columns = analysis.feature_size
    line = ""
    if heights is not None:
        h = height_spread(heights)
        line = (f"- People in the training split: 10th / 50th / 90th percentile **{h['p10']:.0f} / {h['median']:.0f} / "
                f"{h['p90']:.0f} px** tall at {size} px (range {h['min']:.0f} to {h['max']:.0f} px).\n")
    return ("**The numbers you need** (for the model above):\n\n" + line
            + f"- Input: **{size} × {size} px**. The backbone reaches output stride **{analysis.stride:g}** "
            f"(a {rows} × {columns} map) at `{analysis.input_layer}`, where one unit sees "
            f"**{analysis.receptive_field:g} px**.\n"
            "- ASPP: " + "; ".join(
                f"{b.label}: " + ("the whole image" if b.whole_image else
                                  (f"taps {b.spacing_px:g} px apart, " if b.kernel_size > 1 else "")
                                  + f"field {b.receptive_field_px:g} px") for b in analysis.branches) + ".\n"
            + f"- Final layer `{model.layers[-1].name}`: output **"
            + " × ".join(str(d) for d in tuple(model.output_shape)[1:]) + "** (height × width × classes).")
