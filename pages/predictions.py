"""Predictions: ground truth, prediction and their difference; the logits of one
pixel; a whole split evaluated (exercises 13-5 and 13-6)."""

import hashlib
import inspect
import threading

import numpy as np
import pandas as pd
import streamlit as st

from seglib.classes import CLASS_NAMES, class_label, get_palette, numbered_label
from seglib.data import synthetic
from seglib.evaluation import evaluate, inference
from seglib.figures import charts as chart_figures
from seglib.figures import inspector as inspector_figures
from seglib.figures import masks as mask_figures
from seglib.figures import predictions as pf
from ui import datasets, drawing, models, url_state, why_pixel
from ui.markdown import md_code, md_text
from ui.page import page_header
from ui.palette import current_palette, current_palette_name
from ui.stamps import folder_stamp

page_header(
    "predictions.py",
    "The model gives every pixel one score (**logit**) per class; the class with the highest score "
    "becomes the pixel's label in the predicted mask. Here you compare that mask with the ground truth "
    "the way the course does, **truth | prediction | difference**, measure how wrong it is, find out "
    "which classes it loses, look inside a single pixel, and rank a whole split by difficulty.",
)

SOURCE_LABELS = {"val": "Validation", "train": "Training", "upload": "Upload"}
HARDEST_ROWS = "pred_hardest_rows"      # [(split, index), ...] of the table drawn last
HARDEST_TABLE = "pred_hardest_table"    # the key of that table (changes with the evaluation)


# ---------------------------------------------------------------------------
# The model (from the sidebar) and the dataset
# ---------------------------------------------------------------------------

with drawing.error_boundary("Loading the model"):
    with st.spinner("Loading the model (once per server)..."):
        model, choice = models.current_model()
    input_size = inference.model_input_size(model)
num_classes = int(model.output_shape[-1])
palette = current_palette()


# What makes a cached prediction stale: the model choice and its file's version (an untrained
# model: the cached model object itself).
model_id = (choice.key, *(choice.stamp or (id(model),)))
st.caption(f":material/model_training: Model: **{md_text(choice.label)}** (change it in the sidebar). "
           f"{md_text(choice.note, limit=300)} "
           + (f"It sees images at {input_size} × {input_size} px; " if input_size else "")
           + "every prediction comes back at the image's own size.")
if choice.kind == "untrained":
    st.warning("This model has random weights: its predictions are noise. Pick the demo model or a "
               "trained run in the sidebar.", icon=":material/warning:")

dataset = None
dataset_error = None
try:
    dataset = datasets.current_dataset()
except Exception as error:  # noqa: BLE001 - shown below; uploads still work without a dataset
    dataset_error = error
sources = [s for s in ("val", "train") if dataset is not None and dataset.split(s)] + ["upload"]


# ---------------------------------------------------------------------------
# State: the chosen image (and pixel) live in the URL, so a copied link
# reproduces the view. A row picked in the hardest-images table opens that image.
# ---------------------------------------------------------------------------

def _selected_rows(state) -> list[int]:
    try:
        return [int(row) for row in state["selection"]["rows"]]
    except (KeyError, TypeError, ValueError):
        return []


def _open_picked_row() -> None:
    """Apply a new selection in the hardest-images table (drawn further down, last run)."""
    table_key = st.session_state.get(HARDEST_TABLE)
    rows = _selected_rows(st.session_state.get(table_key) if table_key else None)
    listed = st.session_state.get(HARDEST_ROWS, [])
    marker = (st.session_state.get(HARDEST_TABLE), tuple(rows))
    if not rows:
        st.session_state.pop("pred_hardest_applied", None)
        return
    if marker == st.session_state.get("pred_hardest_applied") or rows[0] >= len(listed):
        return
    st.session_state["pred_hardest_applied"] = marker
    split, index = listed[rows[0]]
    st.session_state["pred_split"] = split
    st.session_state["pred_image"] = int(index)
    st.toast(f"Opened {SOURCE_LABELS.get(split, split).lower()} image {int(index) + 1} in the view at the top.",
             icon=":material/image:")


_open_picked_row()
url_state.seed("pred_split", sources[0], options=sources, url_key="split")

st.header("One image", divider="gray")
picker, chooser, opacity_column = st.columns([1.5, 2, 1], vertical_alignment="bottom")
source = picker.segmented_control("Image from", sources, format_func=SOURCE_LABELS.get, required=True,
                                  key="pred_split") or sources[0]
url_state.sync("pred_split", sources[0], url_key="split")
opacity = opacity_column.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="pred_opacity",
                                help="0 shows only the image, 1 only the colours of the predicted mask.")
if dataset_error is not None:
    drawing.show_error(dataset_error, "Opening the dataset")


@st.cache_resource(show_spinner=False, max_entries=8)
def _predict_sample(model_key: tuple, root: str, stamp: tuple, split: str, index: int, _model):
    """One dataset sample, its truth and the prediction (shared by every session; never mutated)."""
    stem, image, mask = datasets.load_sample(root, split, index)
    return stem, image, mask, inference.predict(_model, image)


@st.cache_resource(show_spinner=False, max_entries=4)
def _predict_upload(model_key: tuple, digest: str, name: str, _data: bytes, _model):
    """An upload's picture and prediction, kept small (display-size image and mask, model-size logits),
    and what reading it changed."""
    return evaluate.predict_upload(_model, _data, name, with_notes=True)


@st.cache_resource(show_spinner=False, max_entries=16)
def _comparison_figures(model_key: tuple, root: str, stamp: tuple, split: str, index: int, palette_name: str,
                        opacity: float, panel_height: int, *, _truth, _image, _predicted) -> dict:
    """The six panels of one dataset sample, built once per input and shared by every viewer: a lecture
    hall looking at the same image costs one build, not forty (``drawing.plot`` never mutates them)."""
    palette = get_palette(palette_name)
    size = pf.PANEL_MAX_SIZE
    return {
        "pred-truth": mask_figures.mask_figure(_truth, kind="mask", palette=palette, max_size=size,
                                          title="Ground truth", height=panel_height),
        "pred-prediction": mask_figures.mask_figure(_predicted, kind="mask", palette=palette, max_size=size,
                                               title="Prediction", height=panel_height),
        "pred-difference": pf.difference_figure(_truth, _predicted, num_classes,
                                                title="|truth − prediction| (label ids)",
                                                height=panel_height + 56),
        # No hover layer on the image (the masks name the classes): a third less to send.
        "pred-image": mask_figures.mask_figure(_truth, _image, kind="image", max_size=size, title="Image",
                                          height=panel_height, hover=False),
        "pred-overlay": mask_figures.mask_figure(_predicted, _image, kind="overlay", opacity=opacity, palette=palette,
                                            max_size=size, title="Prediction over the image", height=panel_height),
        "pred-correct": pf.correctness_figure(_truth, _predicted, title="Right (black) and wrong (white) pixels",
                                              height=panel_height + 40),
    }


truth = None
stem = None
image = prediction = None
if source == "upload":
    upload = chooser.file_uploader(
        f"An image of any size ({evaluate.UPLOAD_TYPES_TEXT})", type=list(evaluate.UPLOAD_TYPES),
        key="pred_upload",
        help=f"{evaluate.UPLOAD_TYPES_TEXT}; at most {evaluate.MAX_UPLOAD_BYTES // (1024 * 1024)} MB and "
             f"{evaluate.MAX_UPLOAD_PIXELS // 1_000_000} megapixels. The prediction comes back at the image's "
             "own size.")
    if upload is None:
        st.info("Upload a photo to segment it, or pick a validation or training image.",
                icon=":material/upload:")
        st.stop()
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    with drawing.error_boundary(f"Reading {upload.name}"):
        with st.spinner("Predicting..."):
            image, prediction, read_notes = _predict_upload(model_id, digest, upload.name, data, model)
    del data
    if read_notes:  # a grey, animated or turned upload is never converted without a word
        st.caption(":material/info: " + md_text(evaluate.upload_note(upload.name, read_notes), limit=600))
    stem = upload.name
    drawing.describe_figures(dataset=f"upload {upload.name}")
    image_id = "upload-" + digest[:12]
    trained_on = models.training_record(choice)
    if trained_on is not None and trained_on.synthetic:  # said before the result: it has only seen drawings
        st.warning(synthetic.synthetic_model_warning(trained_on.dataset), icon=":material/draw:")
    sample = None
else:
    pairs = dataset.split(source)
    url_state.seed_int("pred_image", 0, 0, len(pairs) - 1, url_key="image")
    index = chooser.selectbox(f"Image ({len(pairs):,} in this split)", range(len(pairs)), key="pred_image",
                              format_func=lambda i: f"{i + 1} · {pairs[i].stem}")
    url_state.sync("pred_image", 0, url_key="image")
    with drawing.error_boundary(f"Predicting image {index + 1}"):
        with st.spinner("Predicting..."):
            stem, image, truth, prediction = _predict_sample(
                model_id, str(dataset.root), folder_stamp(dataset.root), source, int(index), model)
    image_id = f"{source}-{index}"
    datasets.synthetic_note(dataset, link=False)
    sample = why_pixel.Sample(str(dataset.root), folder_stamp(dataset.root), source, int(index))

height, width = prediction.image_size
st.caption(f"{md_code(stem)} · {width} × {height} px · predicted at {prediction.input_size} × "
           f"{prediction.input_size} px and resized back to {width} × {height}"
           + ("." if prediction.full_size else
              f" (the pictures below are drawn from a {prediction.mask.shape[1]} × {prediction.mask.shape[0]} "
              "copy; the class shares and the pixel inspector use every pixel)."))
drawing.class_legend(palette)

# ---------------------------------------------------------------------------
# Side by side (exercise 13-6)
# ---------------------------------------------------------------------------
# Pictures are a third of the page wide: a wide image gets a shorter figure (no empty band above it).
PANEL_HEIGHT = 36 + int(264 * min(1.0, height / width))
comparison = None
if truth is not None:
    comparison = evaluate.compare_masks(truth, prediction.mask, num_classes)
    panels = _comparison_figures(model_id, str(dataset.root), folder_stamp(dataset.root), source,
                                 int(index), current_palette_name(), float(opacity), PANEL_HEIGHT,
                                 _truth=truth, _image=image, _predicted=prediction.mask)
    for row_keys in (("pred-truth", "pred-prediction", "pred-difference"),
                     ("pred-image", "pred-overlay", "pred-correct")):
        for column, key in zip(st.columns(3), row_keys):
            with column:
                drawing.plot(panels[key], key=key)
    st.caption("The difference panel is the course's view: brighter means the two label ids are further apart "
               "(white = 19), so a left/right mix-up (ids 1 apart) is almost black. The right/wrong map "
               "shows every mistake alike. Pixels without a label (if any) are blue-grey in both.")

    metric_columns = st.columns(4)
    metric_columns[0].metric(
        "Average error (course)", f"{comparison.average_error:.3f}",
        help="mean |true id − predicted id| / 19 over the labelled pixels: 0 = no error, 1 = every pixel "
             "as far off as possible.")
    metric_columns[1].metric("Misclassified pixels", f"{comparison.misclassified_rate:.1%}",
                             help=f"{comparison.wrong_pixels:,} of {comparison.labelled_pixels:,} labelled pixels "
                                  "have the wrong class.")
    metric_columns[2].metric("Pixel accuracy", f"{comparison.pixel_accuracy:.1%}",
                             help="1 − misclassified rate: dominated by the background.")
    metric_columns[3].metric("Mean IoU (this image)", f"{comparison.mean_iou:.3f}",
                             help="Mean over the classes present in the truth or the prediction of "
                                  "overlap / union.")
    st.markdown(evaluate.ERROR_DIFFERENCE_SENTENCE)
else:
    row = st.columns(3)
    with row[0]:
        drawing.plot(inspector_figures.in_image_pixels(mask_figures.mask_figure(
            prediction.mask, image, kind="image", max_size=pf.PANEL_MAX_SIZE, title="Image", height=PANEL_HEIGHT,
            hover=False), prediction.image_size), key="pred-image")
    with row[1]:
        drawing.plot(inspector_figures.in_image_pixels(drawing.mask_figure(
            prediction.mask, kind="mask", palette=palette, max_size=pf.PANEL_MAX_SIZE, title="Prediction",
            height=PANEL_HEIGHT), prediction.image_size), key="pred-prediction")
    with row[2]:
        drawing.plot(inspector_figures.in_image_pixels(drawing.mask_figure(
            prediction.mask, image, kind="overlay", opacity=opacity, palette=palette, max_size=pf.PANEL_MAX_SIZE,
            title="Prediction over the image", height=PANEL_HEIGHT), prediction.image_size), key="pred-overlay")
    st.info("An uploaded image has no ground truth: the difference, the right/wrong map, the error numbers and "
            "the per-class IoU need a dataset sample (pick *Validation* above).", icon=":material/info:")

# ---------------------------------------------------------------------------
# Per class: IoU, and which classes vanish from the prediction
# ---------------------------------------------------------------------------
st.subheader("Per class")
scale_column, background_column, _ = st.columns([1, 1, 2], vertical_alignment="bottom")
scale = scale_column.segmented_control("Fraction scale", ["linear", "log"], default="linear", required=True,
                                       key="pred_scale",
                                       help="On a log scale the rare classes become visible, and so does their "
                                            "absence from the prediction.") or "linear"
include_background = background_column.toggle("Include background", value=True, key="pred_background")
predicted_counts = prediction.class_counts  # every pixel of the image, even when the mask kept is smaller
if comparison is not None:
    left, right = st.columns([1, 1.6])
    with left:
        drawing.plot(pf.class_iou_figure(comparison.per_class_iou, comparison.truth_counts,
                                        comparison.predicted_counts, palette=palette,
                                        title="IoU per class, this image"), key="pred-iou")
    with right:
        drawing.plot(pf.fraction_comparison_figure(
            comparison.truth_counts, comparison.predicted_counts, palette=palette, log=scale == "log",
            include_background=include_background,
            title="Share of pixels per class: truth (solid) vs prediction (hatched)"), key="pred-fractions")
    missed = [class_label(c) for c in comparison.missed_classes]
    invented = [class_label(c) for c in comparison.invented_classes]
    absent = int(np.isnan(comparison.per_class_iou).sum())
    st.caption(
        (f"In the truth but never predicted: **{', '.join(missed)}**. " if missed
         else "Every class of the truth appears in the prediction. ")
        + (f"Predicted but not in the truth: {', '.join(invented)}. " if invented else "")
        + ({0: "", 1: "1 class appears in neither mask and has no IoU (left out of the mean)."}.get(
            absent, f"{absent} classes appear in neither mask and have no IoU (left out of the mean).")))
else:
    drawing.plot(chart_figures.class_fraction_figure(
        predicted_counts / max(1, int(predicted_counts.sum())), counts=predicted_counts, palette=palette,
        log=scale == "log", include_background=include_background, name="prediction",
        title="Share of pixels per class in the prediction"), key="pred-fractions")


# ---------------------------------------------------------------------------
# Pixel inspector (exercise 13-5): a fragment, so a click reruns only this part
# ---------------------------------------------------------------------------

def _apply_click(chart_key: str, grid_curve: int) -> None:
    """A new click on the inspector figure (last run) moves the inspected pixel."""
    state = st.session_state.get(chart_key)
    try:
        points = list(state["selection"]["points"])
    except (KeyError, TypeError):
        points = []
    points = [p for p in points if int(p.get("curve_number", -1)) == grid_curve]
    marker = (chart_key, tuple((p.get("x"), p.get("y")) for p in points))
    if not points:
        st.session_state.pop("pred_click_applied", None)
        return
    if marker == st.session_state.get("pred_click_applied"):
        return
    st.session_state["pred_click_applied"] = marker
    st.session_state["pred_px"] = int(round(float(points[-1]["x"])))
    st.session_state["pred_py"] = int(round(float(points[-1]["y"])))


@st.fragment
@drawing.guarded("Pixel inspector")  # a fragment rerun runs outside the page's guard
def pixel_inspector(image_id: str, image: np.ndarray, prediction: inference.Prediction, opacity: float,
                    truth: np.ndarray | None, sample: why_pixel.Sample | None) -> None:
    height, width = prediction.image_size
    chart_key = f"pred-inspector-{image_id}"
    grid_curve = 1  # inspector_figure: the picture, then the clickable grid
    _apply_click(chart_key, grid_curve)
    for key, axis_size, url_key in (("pred_px", width, "px"), ("pred_py", height, "py")):
        url_state.seed_int(key, axis_size // 2, 0, axis_size - 1, url_key=url_key)

    left, right = st.columns([1, 1.25])
    with left:
        inputs = st.columns(2)
        column = inputs[0].number_input("x (column)", 0, width - 1, step=1, key="pred_px")
        row = inputs[1].number_input("y (row)", 0, height - 1, step=1, key="pred_py")
        url_state.sync("pred_px", width // 2, url_key="px")
        url_state.sync("pred_py", height // 2, url_key="py")
        figure = inspector_figures.inspector_figure(prediction.mask, image, palette=palette, opacity=opacity,
                                     selected=(int(row), int(column)), height=420,
                                     title="Click a pixel of the prediction", image_size=prediction.image_size)
        st.plotly_chart(drawing.for_presentation(figure), key=chart_key, on_select="rerun", selection_mode="points",
                        width="stretch", config=drawing.chart_config("pred-inspector"), theme=None)
    scores = evaluate.pixel_table(prediction.logits_at(int(row), int(column)), CLASS_NAMES)
    chosen = scores.loc[scores["chosen"]].iloc[0]
    with right:
        drawing.plot(inspector_figures.logits_figure(scores["logit"].to_numpy(), palette=palette,
                                     title=f"Pixel x {column}, y {row}: argmax = {chosen['id']} {chosen['name']}"),
                    key="pred-logits")
    runner_up = scores.sort_values("probability", ascending=False).iloc[1]
    st.markdown(
        f"At this pixel the highest logit is **{chosen['logit']:.2f}** for **{chosen['name']}**, so the mask says "
        f"{chosen['name']} (class {chosen['id']}), with probability {chosen['probability']:.1%}; the runner-up is "
        f"{runner_up['name']} ({runner_up['probability']:.1%}). Softmax never changes which class wins: it only "
        "turns the scores into probabilities that sum to 1.")
    values = [f"{value:.2f}" for value in scores["logit"]]
    rows_of_values = ",\n#   ".join(", ".join(values[i:i + 5]) for i in range(0, len(values), 5))
    walk = st.columns(2)
    with walk[0]:
        st.markdown("**The same steps, on this pixel**")
        st.code(
            f"# one pass: a score per class for every pixel\n"
            f"logits = model(image_batch)[0]     # {prediction.input_size} x {prediction.input_size} x {num_classes}\n"
            f"logits = resize(logits, ({height}, {width}))  # image size\n"
            f"probabilities = softmax(logits, axis=-1)\n"
            f"mask = argmax(logits, axis=-1)\n\n"
            f"logits[{row}, {column}]\n# [{rows_of_values}]\n"
            f"probabilities[{row}, {column}, {chosen['id']}]  # {chosen['probability']:.4f}\n"
            f"mask[{row}, {column}]  # {chosen['id']} = {chosen['name']}",
            language="python")
    with walk[1]:
        st.markdown("**The lines of `seglib.evaluation.inference` that do it**")
        st.code(inspect.getsource(inference.prediction_from_logits) + "\n\n" + inspect.getsource(inference.resize_logits),
                language="python", wrap_lines=True)
    drawing.show_source(inference.predict_batch)
    why_pixel.pixel_section(model, model_id, image_id, image, truth, prediction, (int(row), int(column)), sample)


st.header("Inside one pixel", divider="gray")
st.markdown(
    "How does the model's output become a mask? For each pixel it produces "
    f"{num_classes} numbers, the **logits**. **Softmax** turns them into probabilities, and **argmax** picks "
    "the class with the largest one. Click the picture (or type a position) to see the numbers of one pixel.")
pixel_inspector(image_id, image, prediction, opacity, truth, sample)
why_pixel.split_section(model, model_id, dataset, folder_stamp(dataset.root) if dataset is not None else ())


# ---------------------------------------------------------------------------
# Over a split: confusion matrix and the hardest images (computed on demand,
# once per server, shared by every session)
# ---------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _evaluation_lock() -> threading.Lock:
    """One split evaluation at a time on this server (each is many model passes on its CPU)."""
    return threading.Lock()


@st.cache_resource(show_spinner=False, max_entries=8)
def _evaluation_slot(key: tuple) -> dict:
    """Where the evaluation named by ``key`` is kept once someone pressed Evaluate, for every session;
    Streamlit's cache keeps the 8 most recent."""
    return {"result": None}


st.header("Over a split", divider="gray")
st.markdown(
    "One image can be lucky or unlucky. Evaluating many images gives the **confusion matrix**: for the pixels "
    "of each true class (a row), the share given each predicted class (the columns). The diagonal holds the "
    "correctly labelled share; bright cells off the diagonal are the classes the model mixes up. The table ranks "
    "the images by error: select a row to open that image above.")
if dataset is None or not any(dataset.split(s) for s in ("val", "train")):
    st.info("The split evaluation needs a dataset (see the message above).", icon=":material/info:")
    st.stop()
eval_splits = [s for s in ("val", "train") if dataset.split(s)]
controls = st.columns([1.2, 1, 1.1, 1], vertical_alignment="bottom")
eval_split = controls[0].segmented_control("Split", eval_splits, format_func=SOURCE_LABELS.get,
                                           default=eval_splits[0],
                                           required=True, key="pred_eval_split") or eval_splits[0]
eval_pairs = dataset.split(eval_split)
limit = int(controls[1].number_input("Images", 1, len(eval_pairs), min(50, len(eval_pairs)), step=10,
                                     key="pred_eval_limit",
                                     help="The first images of the split. Each takes a model pass on this "
                                          "server's CPU."))
rank_by = controls[2].selectbox("Rank by", ["average_error", "misclassified_rate", "mean_iou"], key="pred_rank_by",
                                format_func=lambda m: m.replace("_", " ").replace("iou", "IoU"))
evaluation_key = (model_id, str(dataset.root), folder_stamp(dataset.root), eval_split, limit)
slot = _evaluation_slot(evaluation_key)
evaluation = slot["result"]
if controls[3].button("Evaluate", icon=":material/play_arrow:", key="pred_eval_button", type="primary",
                      disabled=evaluation is not None, width="stretch"):
    bar = st.progress(0.0, text="Waiting for the model (another evaluation may be running)...")
    with _evaluation_lock(), drawing.error_boundary("Evaluating the split"):
        evaluation = slot["result"]  # another session may have finished it while this one waited
        if evaluation is None:
            evaluation = evaluate.evaluate_split(
                model, eval_pairs, None, limit=limit, num_classes=num_classes,
                progress=lambda done, total: bar.progress(done / total, text=f"Predicted {done} of {total} images"))
            slot["result"] = evaluation
    bar.empty()

if evaluation is None:
    st.caption(f"Press **Evaluate** to predict the first {limit} images of the {eval_split} split "
               "(a few seconds on a CPU for the lecture model). The result is kept for everyone.")
    st.stop()

st.caption(f"{evaluation.count} of {evaluation.total_images:,} {eval_split} images, evaluated in "
           f"{evaluation.seconds:.1f} s, each at its own size.")
summary = st.columns(4)
summary[0].metric("Average error (course)", f"{evaluation.average_error:.3f}")
summary[1].metric("Misclassified pixels", f"{evaluation.misclassified_rate:.1%}")
summary[2].metric("Pixel accuracy", f"{evaluation.pixel_accuracy:.1%}")
summary[3].metric("Mean IoU (split)", f"{evaluation.mean_iou:.3f}",
                  help="From the confusion matrix summed over the images, not the mean of the per-image IoUs.")
drawing.plot(pf.confusion_figure(evaluation.confusion,
                                title=f"Confusion matrix, {eval_split} split (each row sums to 100%)"),
            key="pred-confusion")
table_column, class_column = st.columns([1.5, 1])
with table_column:
    hardest = evaluation.hardest(min(20, evaluation.count), by=rank_by)
    table_key = f"pred-hardest-{abs(hash(evaluation_key)) % 10**8}-{rank_by}"
    st.session_state[HARDEST_TABLE] = table_key
    st.session_state[HARDEST_ROWS] = [(eval_split, int(i)) for i in hardest["index"]]
    st.markdown(f"**The {len(hardest)} hardest images** by {rank_by.replace('_', ' ').replace('iou', 'IoU')} "
                "(select a row to open it above)")
    shown = hardest.assign(image=hardest["index"] + 1)[["image", "stem", "average_error", "misclassified_rate",
                                                        "mean_iou"]]
    st.dataframe(shown, key=table_key, on_select="rerun", selection_mode="single-row", hide_index=True,
                 width="stretch", height=min(38 + 35 * len(shown), 560),
                 column_config={
                     "image": st.column_config.NumberColumn("image", width="small"),
                     "stem": st.column_config.TextColumn("file"),
                     "average_error": st.column_config.NumberColumn("avg error", format="%.3f"),
                     "misclassified_rate": st.column_config.NumberColumn("misclassified", format="percent"),
                     "mean_iou": st.column_config.NumberColumn("mean IoU", format="%.3f"),
                 })
with class_column:
    st.markdown("**IoU per class over the split**")
    per_class = pd.DataFrame({"class": [numbered_label(i) for i in range(num_classes)],
                              "IoU": evaluation.per_class_iou})
    st.dataframe(per_class, hide_index=True, width="stretch", height=min(38 + 35 * len(per_class), 560),
                 column_config={"IoU": st.column_config.ProgressColumn(format="%.2f", min_value=0.0, max_value=1.0)})
