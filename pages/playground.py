"""Metric playground: what each metric and loss notices in a prediction (exercises 13-4 and 13-6)."""

import numpy as np
import streamlit as st

from seglib.classes import IGNORE_LABEL, LEFT_RIGHT_PAIRS, class_label
from seglib.figures import playground as playground_figures
from seglib.figures.masks import legend_html
from seglib.lab import playground
from ui import datasets, drawing, url_state
from ui import playground as page_state
from ui.page import page_header
from ui.palette import current_palette

page_header(
    "playground.py",
    "A prediction can be right at almost every pixel and still miss every small part, and the "
    "numbers disagree about how bad that is. Here the prediction is made up: start from a real "
    "ground-truth mask of the dataset, say with the sliders what the model gets right, and watch the "
    "course's metrics (pixel accuracy, mean IoU, the [0, 1] average error) and the four training losses "
    "move at once. No network runs: the wrong pixels are chosen by seeded noise, so the same settings "
    "always give the same prediction.",
)

# ---------------------------------------------------------------------------
# Which mask: an image of the sidebar's dataset (validation split when there is one)
# ---------------------------------------------------------------------------
picker, seed_picker, about = st.columns([1, 1, 3], vertical_alignment="bottom")
with drawing.error_boundary("Opening the dataset"):
    dataset = datasets.current_dataset()
    split = datasets.opening_split(dataset)
    count = len(dataset.split(split))
    if not count:
        st.info(f"The dataset {dataset.name} has no images with masks yet: pick another one in the sidebar.",
                icon=":material/image:")
        st.stop()
    url_state.seed_int("playground_image", 0, 0, max(count - 1, 0))
    index = picker.number_input(f"Image of the {split} split (0 to {count - 1})", 0, max(count - 1, 0),
                                key="playground_image")
    url_state.sync("playground_image", 0)
    url_state.seed_int("playground_seed", 0, 0, 999)
    seed = seed_picker.number_input("Noise seed", 0, 999, key="playground_seed",
                                    help="Decides which pixels go wrong first; the same seed and sliders "
                                         "always give the same prediction.")
    url_state.sync("playground_seed", 0)
    stem, board = page_state.board(dataset.root, split, int(index), int(seed))
rare_names = ", ".join(class_label(k) for k in board.rare_classes) or "none"
about.caption(f"`{dataset.name}/{split}/{stem}`, labels resized to {page_state.SIZE} × {page_state.SIZE} px "
              f"(nearest neighbour). Rare on this mask (each under {playground.RARE_SHARE:.0%} of its pixels): "
              f"{rare_names}.")

# ---------------------------------------------------------------------------
# The sliders, the prediction and its numbers: redrawn alone at every move (a fragment)
# ---------------------------------------------------------------------------
st.subheader("What the model gets right", anchor="what-the-model-gets-right")
others = board.num_classes - 1
METRIC_HELP = {
    "pixel accuracy": "Share of the labelled pixels predicted right: the background's share of the pixels "
                      "weighs in it by as much.",
    "mean IoU": "Per class present in the truth or the prediction: right pixels / (pixels of the class in "
                "either mask); then the mean over those classes, each counting the same.",
    "average error": "The course's error: mean |true id − predicted id| over the pixels, divided by the "
                     "largest id distance (0 = no error, 1 = every pixel as far off as possible).",
    "wrong pixels": "Labelled pixels whose predicted class is not the true one.",
    "cross-entropy": "Mean −log p of the true class: −log(confidence) at a right pixel, "
                     f"−log((1 − confidence) / {others}) at a wrong one.",
    "weighted-cross-entropy": "Cross-entropy with each pixel weighted by its true class's median-frequency "
                              "weight (from this mask's pixel counts; training uses the training split's).",
    "focal": "Cross-entropy times (1 − p)^γ: pixels already predicted with a high probability count less.",
    "dice": "1 − mean over the classes in the truth of 2 × overlap / (predicted + true), with probabilities: the "
            f"(1 − confidence) / {others} each other class gets at every pixel adds up over the mask, so Dice is "
            "not 0 even when every pixel is right.",
}


@st.fragment
def play(board: playground.Board, board_key: tuple) -> None:
    sliders, pictures = st.columns([1, 2], gap="large")
    with sliders:
        settings = playground.Settings(
            background_recall=st.slider(playground.SLIDERS["background_recall"], 0.0, 1.0, 0.97, 0.01,
                                        help="Share of the true background pixels predicted as background; "
                                             "the others take the class of the nearest person pixel."),
            rare_recall=st.slider(playground.SLIDERS["rare_recall"], 0.0, 1.0, 0.6, 0.01,
                                  help="Share of the rare classes' pixels predicted right; the others take the "
                                       "class of the nearest pixel of a class that is not rare."),
            swap_rate=st.slider(playground.SLIDERS["swap_rate"], 0.0, 1.0, 0.1, 0.01,
                                help="Share of the left/right pixels (arms, legs, shoes) given the other side."),
            boundary_px=st.slider(playground.SLIDERS["boundary_px"], 0, playground.MAX_BOUNDARY_PX, 1,
                                  help="Every pixel takes the majority label of the window this many pixels "
                                       "around it: corners round off and thin parts vanish."))
        confidence = st.slider("confidence (probability of the predicted class)", 0.3, 0.99, 0.8, 0.01,
                               help="The losses need probabilities: every pixel gives its predicted class this "
                                    f"probability and shares the rest equally among the other {others} classes.")
    prediction = board.predict(settings)
    scores = board.scores(prediction, confidence)
    present = sorted({*np.unique(board.truth).tolist(), *np.unique(prediction).tolist()} - {IGNORE_LABEL})
    pictures.markdown(playground_figures.panels_html(board.truth, prediction, palette=current_palette())
                      + legend_html(current_palette(), classes=present), unsafe_allow_html=True)
    moved = page_state.changes(scores, board_key)
    values = {"pixel accuracy": (scores.pixel_accuracy, "{:.1%}"), "mean IoU": (scores.mean_iou, "{:.3f}"),
              "average error": (scores.average_error, "{:.4f}"), "wrong pixels": (scores.wrong_pixels, "{:,}"),
              **{name: (scores.losses[name], "{:.3f}") for name in playground.LOSS_NAMES}}
    shown = []
    for name, (value, form) in values.items():
        unchanged = moved[name] is None or form.format(abs(moved[name])) == form.format(0)
        shown.append(playground_figures.Score(
            playground.LOSS_LABELS.get(name, name), form.format(value), help=METRIC_HELP[name],
            delta=None if unchanged else form.format(moved[name]),
            higher_is_better=name in ("pixel accuracy", "mean IoU")))
    st.markdown(playground_figures.scores_html(shown), unsafe_allow_html=True)
    measured = {name: "none on this mask" if value != value else f"{value:.3f}" for name, value in (
        ("background recall", scores.background_recall), ("rare-class recall", scores.rare_recall),
        ("left/right pixels swapped", scores.swapped))}
    st.caption(f"Measured on this prediction ({scores.labelled_pixels:,} labelled pixels): "
               + ", ".join(f"{name} {value}" for name, value in measured.items())
               + " (boundary errors add to the sliders' own).")
    with st.expander("Each mistake alone: which numbers notice it", expanded=True):
        table = playground.effects_frame(board.effects(settings, confidence)).set_index("mistake")
        st.markdown(playground_figures.table_html(table, {"pixel accuracy": "{:.1%}", "wrong pixels": "{:,}",
                                                          "average error": "{:.4f}"}), unsafe_allow_html=True)


play(board, (str(dataset.root), split, int(index), int(seed)))

st.subheader("What to try")
left, right = LEFT_RIGHT_PAIRS[0]
st.markdown(
    "- Make the model perfect (both recalls 1, no swaps, no boundary errors), then lower only the "
    "**rare-class recall** to 0. Which of pixel "
    "accuracy and mean IoU notices, and why? (Exercise 13-4.)\n"
    "- Raise the **left/right swap rate** to 1. Compare the wrong pixels with the average error: what does an "
    f"id distance of 1 ({class_label(left)} {left}, {class_label(right)} {right}) count for? (Exercise 13-6.)\n"
    "- Move the **boundary errors** from 0 to 2 px and look at the difference panel: how large are the "
    "high-error regions compared with the image, and which parts disappear?\n"
    "- Keep the mistakes and move only the **confidence**: which numbers change, and which do not? When "
    "does a surer model pay more?\n"
    "- With only rare pixels wrong, then only background pixels wrong, compare **cross-entropy** with the "
    "**weighted cross-entropy**: which one does each mistake cost more?")
drawing.show_source(playground.Board.predict, label="How the prediction is made (`Board.predict`)")
drawing.show_source(playground.confident_losses, label="The four losses from the confusion matrix")
