"""Exercise 13-5: from one pixel's logits to its class (argmax, softmax, temperature, the margin)."""

from __future__ import annotations

from typing import Any

from seglib.classes import class_label, numbered_label
from seglib.lab import checks as lab_checks
from seglib.lab.exercises.common import class_count, sample_image
from seglib.lab.questions import Exercise, Link, Question


def logits_exercise(facts: dict[str, Any]) -> Exercise:
    """13-5: the tempered softmax probability and the logit margin of one pixel, and how the argmax picks
    its class."""
    get = facts.get
    image_text, pixel_params = sample_image(facts)
    logits = get("pixel_logits") or []
    num_classes = class_count(facts)
    temperature = get("pixel_temperature") or lab_checks.TEMPERATURE
    probability_answer, margin_answer = _pixel_answers(facts, temperature)
    return Exercise(
        "13-5", "From logits to a class per pixel",
        "The model returns raw scores (logits), one per class for every pixel; no softmax is built into the "
        "network. The link opens the pixel these questions are about.",
        (
            Question("pixel_probability", "13-5",
                     (f"On the Predictions page, {image_text}, pixel x = {get('pixel_column')}, "
                      f"y = {get('pixel_row')}: the page prints the softmax of its {len(logits) or num_classes} "
                      f"logits. Divide every logit by {temperature:g} first (a *temperature* of {temperature:g}): "
                      "what probability does the winning class get then? (e.g. 0.42 or 42 %)"
                      if get("pixel_row") is not None else
                      f"For one pixel on the Predictions page: divide its logits by {temperature:g} and compute "
                      "the softmax probability of the winning class."),
                     kind="number", answer=get("pixel_tempered_probability"), tolerance=0.01,
                     view="inside-one-pixel", reasoning=f"softmax of the printed logits divided by {temperature:g}",
                     hint=f"p = exp(z_winner / {temperature:g}) / Σ exp(z / {temperature:g}) over all classes; "
                          f"subtracting the largest logit first keeps the numbers small.",
                     model_answer=probability_answer),
            Question("logit_margin", "13-5",
                     "By how much could the winning logit at that pixel drop before another class would win? "
                     "(two decimals)",
                     kind="number", answer=get("pixel_margin"), tolerance=0.02, view="inside-one-pixel",
                     reasoning="the difference of the two largest logits",
                     hint="The mask takes the argmax: only the order of the logits matters.",
                     model_answer=margin_answer),
            Question("argmax", "13-5",
                     "How is one class chosen from a pixel's logits, and why does applying a softmax first "
                     "not change the answer?",
                     view="inside-one-pixel",
                     model_answer=(
                         "The output holds one logit per class for every pixel; taking the argmax over the last "
                         "axis gives the index of the largest, which is the class id, and the H × W array of "
                         "ids is the mask (coloured with the palette). Softmax exponentiates every logit and "
                         "divides all by the same sum, which keeps their order, so the largest logit always "
                         "has the largest probability. Probabilities are needed for the loss or to show "
                         "confidence, not to pick the class.")),
        ),
        (Link("predictions.py", "Logits of one pixel", "inside-one-pixel", pixel_params),),
    )


def _pixel_answers(facts: dict[str, Any], temperature: float) -> tuple[str, str]:
    """The model answers of the temperature and margin questions, with the pixel's logits (empty without
    them)."""
    get = facts.get
    winner = get("pixel_winner")
    runner_up = get("pixel_runner_up")
    logits = get("pixel_logits") or []
    if winner is None or not logits:
        return "", ""
    probability_answer = (
        f"The winner is {numbered_label(winner)} with logit {logits[winner]:.2f}. Dividing by "
        f"{temperature:g} shrinks every gap between logits {temperature:g}-fold: exp({logits[winner]:.2f} / "
        f"{temperature:g}) divided by the sum of exp(z / {temperature:g}) over all {len(logits)} logits gives "
        f"{get('pixel_tempered_probability'):.3f}, down from the {get('pixel_probability'):.3f} the page prints. "
        "The winner stays the winner (the order is kept): only the confidence changes. Fitted on validation "
        "data, such a temperature is a common way to make a network's probabilities match how often it is "
        "right.")
    margin_answer = (f"Only the order matters: {class_label(winner)} stays the answer until its logit falls "
                     f"below the runner-up's ({class_label(runner_up)}, {logits[runner_up]:.2f}), a margin of "
                     f"{get('pixel_margin'):.2f}.")
    return probability_answer, margin_answer
