"""Predictions: ground truth, prediction and their difference; the logits of one
pixel; a whole split evaluated (exercises 13-5 and 13-6).

Its parts live in ``ui.predictions``: the image at the top and its shared caches (``view``), the
pixel inspector (``inspector``) and the split evaluation (``split``)."""

import streamlit as st

from seglib.figures import charts as chart_figures
from seglib.figures import predictions as pf
from seglib.evaluation import evaluate, inference
from ui import datasets, drawing, models, uploads, url_state, why_pixel
from ui.markdown import md_code, md_text
from ui.page import page_header
from ui.palette import current_palette, current_palette_name
from ui.predictions import split as split_state
from ui.predictions import view as view_state
from ui.predictions.inspector import pixel_inspector
from ui.stamps import folder_stamp

page_header(
    "predictions.py",
    "The model gives every pixel one score (**logit**) per class; the class with the highest score "
    "becomes the pixel's label in the predicted mask. Here you compare that mask with the ground truth "
    "the way the course does, **truth | prediction | difference**, measure how wrong it is, find out "
    "which classes it loses, look inside a single pixel, and rank a whole split by difficulty.",
)
SOURCE_LABELS = view_state.SOURCE_LABELS

# --- The model (from the sidebar) and the dataset ---
with drawing.error_boundary("Loading the model"):
    with st.spinner("Loading the model (once per server)..."):
        model, choice = models.current_model()
    input_size = inference.model_input_size(model)
num_classes = int(model.output_shape[-1])
palette = current_palette()
model_key = models.model_key(choice, model)  # what makes a cached prediction stale
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

# --- State: the chosen image (and pixel) live in the URL, so a copied link reproduces the view.
# A row picked in the hardest-images table opens that image. ---
split_state.open_picked_row()
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

if source == "upload":
    upload = uploads.image_uploader(chooser, "pred_upload", label="An image of any size",
                                    after="The prediction comes back at the image's own size.")
    if upload is None:
        st.info("Upload a photo to segment it, or pick a validation or training image.",
                icon=":material/upload:")
        st.stop()
    view = view_state.upload_view(model, model_key, choice, upload)
else:
    pairs = dataset.split(source)
    url_state.seed_int("pred_image", 0, 0, len(pairs) - 1, url_key="image")
    index = chooser.selectbox(f"Image ({len(pairs):,} in this split)", range(len(pairs)), key="pred_image",
                              format_func=lambda i: f"{i + 1} · {pairs[i].stem}")
    url_state.sync("pred_image", 0, url_key="image")
    view = view_state.sample_view(model, model_key, dataset, source, int(index))
prediction = view.prediction

height, width = prediction.image_size
st.caption(f"{md_code(view.stem)} · {width} × {height} px · predicted at {prediction.input_size} × "
           f"{prediction.input_size} px and resized back to {width} × {height}"
           + ("." if prediction.full_size else
              f" (the pictures below are drawn from a {prediction.mask.shape[1]} × {prediction.mask.shape[0]} "
              "copy; the class shares and the pixel inspector use every pixel)."))
drawing.class_legend(palette)

# --- Side by side (exercise 13-6) ---
comparison = None
if view.truth is not None:
    comparison = evaluate.compare_masks(view.truth, prediction.mask, num_classes)
    panels = view_state.comparison_panels(view, model_key, current_palette_name(), opacity, num_classes)
    for row_keys in view_state.PANEL_ROWS:
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
    panels = view_state.upload_panels(view, model_key, current_palette_name(), opacity)
    for column, (key, figure) in zip(st.columns(3), panels.items()):
        with column:
            drawing.plot(figure, key=key)
    st.info("An uploaded image has no ground truth: the difference, the right/wrong map, the error numbers and "
            "the per-class IoU need a dataset sample (pick *Validation* above).", icon=":material/info:")

# --- Per class: IoU, and which classes vanish from the prediction ---
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
    st.caption(comparison.presence_sentence())
else:
    drawing.plot(chart_figures.class_fraction_figure(
        predicted_counts / max(1, int(predicted_counts.sum())), counts=predicted_counts, palette=palette,
        log=scale == "log", include_background=include_background, name="prediction",
        title="Share of pixels per class in the prediction"), key="pred-fractions")

# --- Pixel inspector (exercise 13-5): a fragment, so a click reruns only this part ---
st.header("Inside one pixel", divider="gray")
st.markdown(
    "How does the model's output become a mask? For each pixel it produces "
    f"{num_classes} numbers, the **logits**. **Softmax** turns them into probabilities, and **argmax** picks "
    "the class with the largest one. Click the picture (or type a position) to see the numbers of one pixel.")
pixel_inspector(model, model_key, view.image_id, view.image, prediction, opacity, palette, view.truth, view.sample)
why_pixel.split_section(model, model_key, dataset, folder_stamp(dataset.root) if dataset is not None else ())

# --- Over a split: confusion matrix and the hardest images (computed on demand, once per server,
# shared by every session) ---
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
rank_by = controls[2].selectbox("Rank by", split_state.RANKINGS, key="pred_rank_by", format_func=split_state.ranking_name)
evaluation_key = (model_key, str(dataset.root), folder_stamp(dataset.root), eval_split, limit)
evaluation = split_state.kept_evaluation(evaluation_key)
if controls[3].button("Evaluate", icon=":material/play_arrow:", key="pred_eval_button", type="primary",
                      disabled=evaluation is not None, width="stretch"):
    evaluation = split_state.evaluate_once(evaluation_key, model, eval_pairs, limit, num_classes)

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
    split_state.hardest_table(evaluation, evaluation_key, eval_split, rank_by)
with class_column:
    split_state.class_iou_table(evaluation, num_classes)
