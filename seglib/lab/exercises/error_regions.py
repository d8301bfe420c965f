"""Exercise 13-6: where the errors are: what a left/right swap costs the average error, and how large the
wrong regions are."""

from __future__ import annotations

from typing import Any

from seglib.lab.comparison import keras_differences
from seglib.lab.exercises.common import class_count, sample_image
from seglib.lab.questions import Exercise, Link, Question


def errors_exercise(facts: dict[str, Any]) -> Exercise:
    """13-6: the average error of a left/right swap, and how large and where the wrong regions are."""
    get = facts.get
    image_text, pixel_params = sample_image(facts)
    num_classes = class_count(facts)
    return Exercise(
        "13-6", "Where the errors are",
        "The Predictions page shows ground truth | prediction | difference, as the course asks. The "
        "difference view draws |true id − predicted id|: its brightness says how far apart two *ids* are, "
        "not how wrong a pixel is, so a left arm taken for a right arm (ids 14 and 15) is nearly black. The "
        "**right/wrong map** beside it shows every mistake alike, and the per-class IoU says which classes "
        "they belong to. Only the single average error is scaled to [0, 1] (the mean difference divided "
        f"by {num_classes - 1}).",
        (
            Question("swap_error", "13-6",
                     f"Take {image_text} (the link opens it). Suppose a model labelled it perfectly except that "
                     "it swapped left and right everywhere (arms, legs, shoes). What would the course's average "
                     "error be? (Use the true pixel shares of the left and right classes in the Per class chart.)",
                     kind="number", answer=get("swap_error"),
                     tolerance=max(0.0003, 0.1 * (get("swap_error") or 0)), view="per-class",
                     reasoning="each swapped pixel is wrong but only 1 id away",
                     hint=f"Each swapped pixel's ids differ by exactly 1, out of a maximum of {num_classes - 1}.",
                     model_answer=(
                         f"Every swapped pixel is wrong, yet adds only 1/{num_classes - 1} to the difference. "
                         f"{get('swap_misclassified'):.1%} of the labelled pixels lie on left or right parts, so "
                         f"the average error is {get('swap_misclassified'):.4f} / {num_classes - 1} = "
                         f"{get('swap_error'):.4f}, while {get('swap_misclassified'):.1%} of the pixels are "
                         "misclassified. A tiny average error can hide a systematic mistake."
                         if get("swap_error") is not None else "")),
            Question("error_regions", "13-6",
                     "Using the right/wrong map rather than the brightness of the difference view: how large "
                     "are the wrong regions compared with the whole image, which classes are they, and what "
                     "does that say about class imbalance?",
                     view="one-image",
                     model_answer=(
                         "The wrong pixels form thin bands along the borders between parts and blobs on small "
                         "parts (hands, shoes, the faces of distant people), sometimes a whole small part "
                         "missing. Together they cover a small share of the image, so pixel accuracy stays "
                         "high. That they sit on the small, rare classes is the imbalance at work: a rare class "
                         "has few pixels, so even at several times its pixel share of the loss it is a small "
                         "part of what training minimises, and few examples to learn from. The per-class IoU, "
                         "low for rare classes, shows it; the average error understates it, since neighbouring "
                         "ids look nearly black.")),
        ),
        (Link("predictions.py", "Truth, prediction and difference", "one-image", pixel_params),
         Link("predictions.py", "Per-class IoU and pixel shares", "per-class", pixel_params),
         Link("playground.py", "Metric playground: which errors each number notices", "what-the-model-gets-right")),
        notes=("**Where this dashboard differs from the Keras example**, so your numbers will not match the "
               "handout's exactly:\n\n" + "\n".join(f"- {item}" for item in keras_differences(facts)),),
    )
