"""Exercise 13-3: why the output has the input's height and width and one channel per class."""

from __future__ import annotations

from typing import Any

from seglib.lab.exercises.common import Models, class_count, model_page_params
from seglib.lab.questions import Exercise, Link, Question


def output_shape_exercise(facts: dict[str, Any], models: Models) -> Exercise:
    """13-3: the output's channels and number of logits, and why it has the input's height and width."""
    get = facts.get
    alt = models.alternative
    mine_source = models.mine
    size = get("image_size")
    num_classes = class_count(facts)
    model_params = model_page_params(facts)
    return Exercise(
        "13-3", "Why this output shape",
        "The network is fully convolutional: no dense layer, so its output is a map, not a vector.",
        (
            Question("output_channels", "13-3",
                     "How many channels does the last layer output?",
                     kind="number", answer=get("num_classes"), view="the-final-layer",
                     source=mine_source, alternatives=alt("num_classes"),
                     hint="The channel count is the last number of the output shape on the Model page.",
                     model_answer="One channel per class: a score for each of the classes at every pixel."),
            Question("output_values", "13-3",
                     f"How many numbers (logits) does the model output for one {size} × {size} px image?"
                     if size else "How many numbers (logits) does the model output for one image?",
                     kind="number", answer=get("output_values"), view="the-final-layer",
                     source=mine_source, alternatives=alt("output_values"),
                     reasoning="height × width × channels of the output shape",
                     hint="Every pixel gets one logit per class: multiply the three numbers of the output shape.",
                     model_answer=(f"{get('output_height')} × {get('output_width')} × {num_classes} = "
                                   f"{get('output_values'):,}: one logit per class for every pixel."
                                   if get("output_values") else "")),
            Question("why_shape", "13-3",
                     "In a sentence or two: why must the output have the input's height and width, "
                     "and why this many channels?",
                     view="the-final-layer",
                     model_answer=(
                         "Semantic segmentation makes one decision per pixel, so the output needs one position "
                         "per input pixel: the decoder upsamples back to the input's height and width and the "
                         "last 1 × 1 convolution keeps that size. At each position it gives one score per "
                         "class, as many channels as there are classes, and the highest score becomes "
                         "the pixel's label. A dense layer would discard the spatial layout; convolutions keep "
                         "it, and the same weights run at any input size (whether they label well there is "
                         "another matter: the atrous rates suit one feature-map size).")),
        ),
        (Link("model.py", "The final layer", "the-final-layer", model_params),),
    )
