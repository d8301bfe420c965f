"""Why this pixel: the Predictions page's view of what one pixel's class depends on, its caches,
and the links that carry an image and a pixel between the Predictions and Atrous pages.

The arithmetic lives in ``seglib.analysis.ablation`` (parts switched off at inference),
``seglib.analysis.erf`` (effective receptive field) and ``seglib.analysis.aspp`` (taps);
the figures in ``seglib.figures.why_pixel``. Results are cached once per server and
shared by every session: one image's ablation per (model, image), a pixel's effective
field per (model, image, pixel), a split's ablation once someone pressed its button
(``ui.shared_work``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from seglib.analysis import ablation, aspp, erf, split_ablation
from seglib.evaluation import inference
from seglib.figures import why_pixel as why_figures
from ui import datasets, drawing, registry, shared_work, url_state

#: The URL parameters of the two pages that name an image and a pixel (see their ``url_state`` calls):
#: Predictions ``?split=val&image=3&px=40&py=12`` (image pixels), Atrous ``?atrous_split=val&atrous_index=3&
#: atrous_row=..&atrous_column=..`` (model-input pixels); ``px`` / ``py`` ride along to the Atrous page so
#: that its link back returns to the very pixel the student clicked.
PREDICTIONS_KEYS = {"split": "split", "index": "image", "x": "px", "y": "py"}
ATROUS_KEYS = {"split": "atrous_split", "index": "atrous_index", "row": "atrous_row", "column": "atrous_column"}
#: Images the split ablation offers at most, and by default (each is one model call for all variants).
SPLIT_MAX_IMAGES = 50
SPLIT_DEFAULT_IMAGES = 8
#: The split ablation's name in ``ui.shared_work`` (one at a time on this server, kept for everyone).
SPLIT_WORK = "split ablation"


@dataclasses.dataclass(frozen=True)
class Sample:
    """A dataset image: where it lives (``root`` and its ``stamp``, for the caches), split and index."""

    root: str
    stamp: tuple
    split: str
    index: int


# ---------------------------------------------------------------------------
# Caches (shared by every session; never mutated)
# ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=16)
def _image_ablation(model_key: tuple, image_key: tuple, image_size: tuple[int, int], *, _model, _image, _truth):
    return ablation.ablate_image(_model, _image, _truth, image_size=image_size)


def image_ablation(model, model_key: tuple, image_key: tuple, image: np.ndarray, truth: np.ndarray | None,
                   image_size: tuple[int, int]) -> ablation.ImageAblation:
    """``seglib.analysis.ablation.ablate_image`` once per (model, image) on this server: ``model_key``
    (``ui.models.model_key``) and ``image_key`` name them (a checkpoint's version, a dataset folder's stamp), ``image_size`` is the size
    the inspected pixels refer to."""
    return _image_ablation(model_key, image_key, tuple(image_size), _model=model, _image=image, _truth=truth)


@st.cache_resource(show_spinner=False, max_entries=4)
def _aspp(model_key: tuple, *, _model) -> aspp.AsppAnalysis:
    return aspp.aspp_analysis(_model)


@st.cache_resource(show_spinner=False, max_entries=8)
def _model_image(model_key: tuple, image_key: tuple, size: int, *, _image) -> np.ndarray:
    """The picture as the model sees it (resized as ``predict`` does), float32 ``(s, s, 3)``."""
    return inference.model_batch([_image], size)[0]


@st.cache_resource(show_spinner=False, max_entries=64)
def _field(model_key: tuple, image_key: tuple, pixel: tuple[int, int], class_index: int, *, _model,
           _model_image) -> erf.ErfResult:
    return erf.effective_receptive_field(_model, _model_image, pixel, class_index=class_index)


# ---------------------------------------------------------------------------
# Links between the Predictions and the Atrous page
# ---------------------------------------------------------------------------

def _page_link(file: str, label: str, params: dict) -> None:
    registry.page_link(file, label, params={key: str(value) for key, value in params.items()})


def atrous_link(sample: Sample, pixel: tuple[int, int], image_size: tuple[int, int], input_size: int) -> None:
    """A link to the Atrous page on the same dataset image and pixel (``pixel`` in image pixels)."""
    row, column = inference.model_pixel(pixel, image_size, input_size)
    _page_link("atrous.py", "The same image and pixel on the Atrous page",
               {ATROUS_KEYS["split"]: sample.split, ATROUS_KEYS["index"]: sample.index, ATROUS_KEYS["row"]: row,
                ATROUS_KEYS["column"]: column, PREDICTIONS_KEYS["x"]: pixel[1], PREDICTIONS_KEYS["y"]: pixel[0]})


def atrous_split(splits: list[str]) -> str:
    """The Atrous page's split: the link's ``atrous_split`` when the dataset has it, else the first."""
    chosen = url_state.param(ATROUS_KEYS["split"])
    return chosen if chosen in splits else splits[0]


def predictions_link(root, split: str, index: int, pixel: tuple[int, int], input_size: int) -> tuple[int, int]:
    """On the Atrous page: which pixel of the dataset image ``pixel`` (model-input pixels) is, and a
    link to the Predictions page on the same image and pixel. The image pixel the student came from
    (``px`` / ``py`` in the URL) is kept while the model pixel still holds it; otherwise the centre
    of the model pixel's footprint. Returns that image pixel ``(row, column)``."""
    image_size = tuple(datasets.load_sample(root, split, int(index))[1].shape[:2])
    target = inference.image_pixel(pixel, input_size, image_size)
    came_from = (url_state.param(PREDICTIONS_KEYS["y"]), url_state.param(PREDICTIONS_KEYS["x"]))
    try:
        came_from = (int(came_from[0]), int(came_from[1]))
        if (all(0 <= p < n for p, n in zip(came_from, image_size))
                and inference.model_pixel(came_from, image_size, input_size) == tuple(pixel)):
            target = came_from
    except (TypeError, ValueError):
        pass
    st.caption(f"Pixel ({pixel[0]}, {pixel[1]}) of the model's {input_size} × {input_size} px input is pixel "
               f"x {target[1]}, y {target[0]} of the {image_size[1]} × {image_size[0]} px image.")
    _page_link("predictions.py", "This image and pixel on the Predictions page",
               {PREDICTIONS_KEYS["split"]: split, PREDICTIONS_KEYS["index"]: index,
                PREDICTIONS_KEYS["x"]: target[1], PREDICTIONS_KEYS["y"]: target[0]})
    return target


# ---------------------------------------------------------------------------
# One pixel
# ---------------------------------------------------------------------------

def _pixel_sentences(table, has_truth: bool) -> list[str]:
    """What the table says, in words, computed from it."""
    full = table.iloc[0]
    rest = table.iloc[1:]
    flips = rest[rest["changed"]]
    lines = []
    if len(flips):
        lines.append("Without " + "; without ".join(
            f"the **{row['switched off']}** it becomes **{row['class']}** ({row['probability']:.0%})"
            for _, row in flips.iterrows()) + f" instead of **{full['class']}**.")
    else:
        kept = rest["p(full model's class)"]
        weakest = kept.idxmin()
        lines.append(f"No single part changes this pixel's class (**{full['class']}**); its probability falls "
                     f"most without the **{rest.loc[weakest, 'switched off']}**: {full['probability']:.1%} → "
                     f"{kept[weakest]:.1%}.")
    if has_truth:
        worst = rest.loc[rest["change in mean IoU"].idxmin()]
        lines.append(f"The image's mean IoU falls most without the **{worst['switched off']}**: "
                     f"{full['mean IoU']:.3f} → {worst['mean IoU']:.3f}.")
    return lines


def _number(value: float, form: str) -> str:
    return "–" if value is None or not np.isfinite(value) else format(value, form)


def _shown_pixel_table(table):
    """The ablation table of one pixel as people read it (one row per part switched off)."""
    import pandas as pd

    original = table["class"].iloc[0]
    shown = pd.DataFrame({
        "pixel's class": [f"{i} {name}" for i, name in zip(table["class id"], table["class"])],
        "probability": [_number(v, ".1%") for v in table["probability"]],
        f"p({original})": [_number(v, ".1%") for v in table["p(full model's class)"]],
        "class flips": ["yes" if changed else "" for changed in table["changed"]],
        "image mean IoU": [_number(v, ".3f") for v in table["mean IoU"]],
        "change": [_number(v, "+.3f") for v in table["change in mean IoU"]],
    }, index=pd.Index(table["switched off"], name="switched off"))
    # An upload has no truth, hence no mean IoU: no columns of dashes.
    return shown if table["mean IoU"].notna().any() else shown.drop(columns=["image mean IoU", "change"])


def _shown_split_table(result: split_ablation.SplitAblation):
    """The split ablation's table as people read it: changes in percentage points for each size group."""
    import pandas as pd

    table = result.table()
    shown = {"what it sees": list(table["reach"]),
             "mean IoU": [_number(v, ".3f") for v in table["mean IoU"]],
             "change": [_number(v, "+.3f") for v in table["change in mean IoU"]]}
    for name, heights in zip(split_ablation.SIZE_BINS, result.size_ranges()):
        shown[f"{name} people ({heights})"] = [_number(v, "+.1f") for v in table[f"{name} people (points)"]]
    shown["class hurt most (IoU)"] = list(table["class hurt most"])
    return pd.DataFrame(shown).set_index(pd.Index(table["switched off"], name="switched off"))


def _cache_key(image_key: str, sample: Sample | None) -> tuple:
    return (image_key,) + ((sample.root, sample.stamp) if sample else ())


def _ablation_and_taps(model, model_key: tuple, image_key: str, image: np.ndarray, truth: np.ndarray | None,
                       prediction: inference.Prediction, sample: Sample | None):
    """The image's ablation and the model's ASPP taps, through the caches."""
    result = image_ablation(model, model_key, _cache_key(image_key, sample), image, truth, prediction.image_size)
    return result, _aspp(model_key, _model=model)


def _pixel_field(model, model_key: tuple, image_key: str, image: np.ndarray, prediction: inference.Prediction,
                 sample: Sample | None, model_pixel: tuple[int, int], class_index: int):
    """The picture at the model's size and the effective receptive field of ``model_pixel``, through the caches."""
    key = _cache_key(image_key, sample)
    model_image = _model_image(model_key, key, prediction.input_size, _image=image)
    return model_image, _field(model_key, key, model_pixel, class_index, _model=model, _model_image=model_image)


def warm_pixel_section(model, model_key: tuple, image_key: str, image: np.ndarray, truth: np.ndarray | None,
                       prediction: inference.Prediction, pixel: tuple[int, int], sample: Sample | None) -> None:
    """Fill the caches ``pixel_section`` reads for these arguments, drawing nothing (``ui.prewarm``: the
    Predictions page's first view; its ablation and gradient were 2 of its 5 s on a fresh server)."""
    result, _ = _ablation_and_taps(model, model_key, image_key, image, truth, prediction, sample)
    row, column = int(pixel[0]), int(pixel[1])
    table = result.pixel_table(row, column)
    model_pixel = inference.model_pixel((row, column), prediction.image_size, prediction.input_size)
    _pixel_field(model, model_key, image_key, image, prediction, sample, model_pixel, int(table["class id"].iloc[0]))


def pixel_section(model, model_key: tuple, image_key: str, image: np.ndarray, truth: np.ndarray | None,
                  prediction: inference.Prediction, pixel: tuple[int, int], sample: Sample | None) -> None:
    """"Why this pixel": the effective receptive field of the image pixel ``pixel`` = ``(row, column)``
    with the ASPP taps around it, the ablation table, and the link to the Atrous page."""
    st.header("Why this pixel", divider="gray")
    st.markdown(
        "Which parts of the model decide this pixel's class? On the left, the **effective receptive field**: "
        "how strongly each input pixel changes the winning logit (the gradient), with the taps each ASPP "
        "branch reads around it. On the right, each part **switched off** in turn (its output multiplied by "
        "0 at inference, the trained weights unchanged): the pixel's class and probability, and the "
        "image's mean IoU.")
    size = prediction.input_size
    row, column = int(pixel[0]), int(pixel[1])
    with drawing.error_boundary("Switching parts of the model off", stop=False):
        with st.spinner("Running every part switched off (once per image)..."):
            result, analysis = _ablation_and_taps(model, model_key, image_key, image, truth, prediction, sample)
        table = result.pixel_table(row, column)
        model_row, model_column = inference.model_pixel((row, column), prediction.image_size, size)
        with st.spinner("Back-propagating the pixel's logit to the image..."):
            model_image, field = _pixel_field(model, model_key, image_key, image, prediction, sample,
                                              (model_row, model_column), int(table["class id"].iloc[0]))
        grid = aspp.sampling_grid(analysis, (model_row, model_column))
        left, right = st.columns([1, 1.45])
        with left:
            drawing.plot(why_figures.pixel_field_figure(
                np.clip(model_image, 0, 255).astype(np.uint8), field, analysis, grid,
                title=f"Pixel x {column}, y {row}: where its {table['class'].iloc[0]} logit looks"),
                key="pred-why-field")
            st.caption(f"At the model's {size} × {size} px input the pixel is ({model_row}, {model_column}). Half "
                       f"of the gradient lies within **{field.extent_50} px** of it, 90 % within "
                       f"**{field.extent_90} px**; the widest atrous branch could reach "
                       f"{max(b.receptive_field_px for b in analysis.branches if not b.whole_image):g} px.")
        with right:
            st.table(_shown_pixel_table(table))
            st.markdown("\n\n".join(_pixel_sentences(table, truth is not None)))
            same = (result.model_logits[0].shape == prediction.model_logits.shape
                    and np.array_equal(result.model_logits[0], prediction.model_logits))
            gap = 0.0 if same else float(np.abs(result.model_logits[0] - prediction.model_logits).max())
            st.caption(
                f"All {len(result.parts)} rows come from one model call ({result.seconds * 1000:.0f} ms), "
                "cached for this image. "
                + ("The *nothing* row's logits equal the prediction above bit for bit." if same else
                   f"The *nothing* row's logits differ from the prediction above by up to {gap:.2g} (they are "
                   "computed from the smaller copy of the upload shown here).")
                + ("" if truth is not None else " An upload has no ground truth, so there is no mean IoU."))
            if sample is not None:
                atrous_link(sample, (row, column), prediction.image_size, size)
            else:
                st.caption("The Atrous page opens dataset images; upload the same file there to see its taps.")


# ---------------------------------------------------------------------------
# Over a split
# ---------------------------------------------------------------------------

def split_section(model, model_key: tuple, dataset, stamp: tuple) -> None:
    """The ablation over the first images of a split, on demand (a button), shared by every session."""
    st.subheader("Which part covers which scale")
    st.markdown(
        "One pixel is an anecdote. The same switches over the first images of a split give evidence: the "
        "mean IoU without each part, and how much of the **pixels of small, medium and large people** (thirds "
        "of the people by height) keep their right label. A part that only large people miss reads context; "
        "one that small people miss reads detail.")
    splits = [s for s in ("val", "train") if dataset is not None and dataset.split(s)]
    if not splits:
        st.info("The split ablation needs a dataset (see the message above).", icon=":material/info:")
        return
    controls = st.columns([1.2, 1, 1.2], vertical_alignment="bottom")
    split = controls[0].segmented_control("Split", splits, default=splits[0], required=True,
                                          key="pred_ablation_split") or splits[0]
    pairs = dataset.split(split)
    count = int(controls[1].number_input(
        "Images", 1, min(SPLIT_MAX_IMAGES, len(pairs)), min(SPLIT_DEFAULT_IMAGES, len(pairs)),
        key="pred_ablation_count", help="The first images of the split; each is one model call for all parts."))
    key = (model_key, str(dataset.root), stamp, split, count)
    result = shared_work.kept(SPLIT_WORK, key)
    if controls[2].button("Switch each part off", icon=":material/play_arrow:", key="pred_ablation_button",
                          disabled=result is not None, width="stretch"):
        bar = st.progress(0.0, text="Waiting for the model (another ablation may be running)...")
        with drawing.error_boundary("Switching parts off over the split", stop=False):
            result = shared_work.compute_once(SPLIT_WORK, key, lambda: split_ablation.ablate_split(
                model, pairs, limit=count,
                progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} images")))
        bar.empty()
    if result is None:
        st.caption(f"Press **Switch each part off** to run the first {count} {split} images with every part "
                   "switched off in turn. The result is kept for everyone.")
        return
    st.caption(f"{result.count} of {result.total_images:,} {split} images, each at its own size, in "
               f"{result.seconds:.1f} s; {len(result.heights)} people, heights measured at the model's "
               f"{result.input_size} px input.")
    st.table(_shown_split_table(result))
    findings, figure_column = st.columns([1, 1.3])
    findings.markdown("\n".join(f"- {line}" for line in result.scale_findings()))
    with figure_column:
        drawing.plot(why_figures.split_ablation_figure(
            result, title=f"Switched off, over {result.count} {split} images"), key="pred-ablation-figure")
