"""Exercise 13-4: class imbalance in the split, what it does to accuracy and mean IoU, and what the loss does
with it."""

from __future__ import annotations

import math
from typing import Any

from seglib.analysis import loss_shares
from seglib.classes import class_label
from seglib.evaluation import losses
from seglib.lab.exercises.common import DATA_LINK
from seglib.lab.questions import Exercise, Link, Question, format_number


def imbalance_exercise(facts: dict[str, Any]) -> Exercise:
    """13-4: the class shares of the split, what an all-background model scores, the weighted loss's weights,
    and what cross-entropy does with the imbalance."""
    get = facts.get
    background = get("background_fraction")
    present = get("classes_present")
    return Exercise(
        "13-4", "Class imbalance and the loss",
        "Count the pixels of each class over the training split: a few classes own most of them. Then see "
        "what the loss does with that imbalance. " + loss_shares.CROSS_ENTROPY_WEIGHTING + " "
        + loss_shares.RANDOM_VS_TRAINED + " The sentence under the *Imbalance and the loss* chart reads the "
        "direction for the model in the sidebar.",
        (
            Question("background_fraction", "13-4",
                     "What fraction of the labelled pixels is background? (two decimals, e.g. 0.42)",
                     kind="number", answer=background, tolerance=0.01, view="class-imbalance",
                     hint="The class-balance chart on the Dataset explorer; background is class 0."),
            Question("most_frequent", "13-4",
                     "Apart from background, which class has the most pixels? (name or id)",
                     kind="class", answer=(get("most_frequent") or [None])[0],
                     accepted=tuple(get("most_frequent") or ()), view="class-imbalance",
                     hint="Sort the class-balance bars, skip background."),
            Question("rarest", "13-4",
                     "Which class that appears at all has the fewest pixels? (name or id)",
                     kind="class", answer=(get("rarest") or [None])[0], accepted=tuple(get("rarest") or ()),
                     view="class-imbalance",
                     hint="The shortest non-zero bar of the class-balance chart (log scale helps)."),
            Question("all_background_accuracy", "13-4",
                     "A 'model' that answers background for every pixel: what pixel accuracy would it reach "
                     "on this split? (two decimals)",
                     kind="number", answer=get("all_background_accuracy"), tolerance=0.01,
                     view="class-imbalance", reasoning="which pixels an all-background answer gets right",
                     hint="Which pixels does it get right?",
                     model_answer=(
                         f"{format_number(get('all_background_accuracy'))}: every background pixel is right and "
                         "every other pixel wrong, so the accuracy is the background share. A high pixel "
                         "accuracy says little when one class dominates." if background is not None else "")),
            Question("all_background_mean_iou", "13-4",
                     "And its mean IoU over the classes present in this split? (three decimals)",
                     kind="number", answer=get("all_background_mean_iou"),
                     tolerance=max(0.002, 0.03 * (get("all_background_mean_iou") or 0)),
                     view="class-imbalance", reasoning="IoU per class from an all-background prediction, "
                                                       "then the mean over the classes present",
                     hint="IoU = overlap / union per class, then the mean over the classes present (count the "
                          "bars). What is background's union when every pixel is predicted background?",
                     model_answer=(
                         f"Background's IoU equals its share, {format_number(background)} (the prediction covers "
                         f"every pixel, so the union is the whole split); each of the other "
                         f"{(present or 1) - 1} classes present has IoU 0. The mean over {present} classes is "
                         f"{format_number(background)} / {present} = "
                         f"{format_number(get('all_background_mean_iou'))}. Mean IoU exposes what pixel accuracy "
                         "hides." if present else "")),
            Question("rare_weight_ratio", "13-4",
                     "The weighted cross-entropy of the Dataset explorer gives each class the median-frequency "
                     "weight (median class share ÷ the class's share). How many times does one pixel of the "
                     "rarest class present weigh one background pixel?",
                     kind="number", answer=get("rare_weight_ratio"),
                     tolerance=max(0.5, 0.08 * (get("rare_weight_ratio") or 0)), view="class-imbalance",
                     reasoning="the median cancels: the ratio of two class shares",
                     hint="Write both weights as median ÷ share: the median cancels, leaving two numbers of the "
                          "class-balance chart (hover a bar for its share).",
                     model_answer=(
                         f"w(rarest) / w(background) = (median / f_rarest) / (median / f_background) = "
                         f"f_background / f_rarest = {format_number(background)} / "
                         f"{get('rarest_fraction'):.3g} ≈ {get('rare_weight_ratio'):,.0f}. One pixel of "
                         f"{class_label(get('rare_weight_class'))} counts as much as that many background "
                         "pixels: the weighting turns the pixel imbalance around."
                         if get("rare_weight_ratio") is not None and background is not None else "")),
            Question("imbalance", "13-4",
                     "What do these fractions say about class imbalance, and would you expect the same in other "
                     "segmentation problems (road scenes, medical scans)? Why?",
                     view="class-imbalance",
                     model_answer=_imbalance_answer(facts)),
            Question("loss_choice", "13-4",
                     "The handout calls sparse categorical cross-entropy a good choice *given* the imbalance. "
                     "Compare each class's share of the cross-entropy with its share of the pixels, for the "
                     "demo model and for an untrained one (switch the model in the sidebar): which way does "
                     "background's share move, and why? Does the loss correct the imbalance? Then say why it "
                     "is still a sound default, and name one change that does target the imbalance and what "
                     "it costs (per-class IoU helps).",
                     view="imbalance-and-the-loss",
                     model_answer=(
                         loss_shares.CROSS_ENTROPY_WEIGHTING + " With random weights the blue bars repeat the grey "
                         "ones: the model is about equally wrong everywhere. With the trained demo model "
                         "background carries far less of the loss than of the pixels and the rare parts "
                         "several times their pixel share, because the model is least wrong on the easy "
                         "background. So the loss leans towards what the model gets wrong, often the rare "
                         "classes, but by accident, not by design: it has no class weights, and a class with "
                         "few pixels stays a small part of the total. Cross-entropy is still a sound default. "
                         + losses.CROSS_ENTROPY_DEFAULT + " To act against the imbalance, change the "
                         "weighting: class-weighted cross-entropy (e.g. median-frequency weights), focal loss "
                         "(down-weights pixels the model already gets right, mostly background once it is "
                         "trained) or Dice (an overlap score per class, so every class counts alike). They aim "
                         "to lift the IoU of rare classes, typically at the price of more false positives for "
                         "them and a lower pixel accuracy.")),
        ),
        (Link("dataset.py", "Class balance", "class-imbalance"),
         Link("dataset.py", "Imbalance and the loss", "imbalance-and-the-loss"),
         Link("playground.py", "Metric playground: rare parts, metrics and losses", "what-the-model-gets-right")),
        background=(DATA_LINK,),
    )


def _imbalance_answer(facts: dict[str, Any]) -> str:
    """The model answer of the imbalance question, with the shares of the split in use."""
    get = facts.get
    general = ("Most segmentation problems look alike: the things of interest are small against a large background "
               "(pedestrians and signs against road and sky, a lesion inside an organ), because area grows with the "
               "square of size.")
    background, rarest = get("background_fraction"), get("rarest_fraction")
    # No number that another question checks (the background share, the classes, their ratio): this
    # answer shows after an attempt at this question, not at those.
    fewer = "very few pixels"
    if background and rarest:
        fewer = f"more than {10 ** math.floor(math.log10(background / rarest)):,} times fewer pixels than background"
    return ("Background takes most of the pixels, the large garments most of the rest, and the small parts "
            f"(sunglasses, gloves, socks) a tiny share each: the rarest class present has {fewer}. "
            + ("(On this synthetic data these shares follow the generator's settings; see the Home page.) "
               if get("synthetic_data") else "") + general)
