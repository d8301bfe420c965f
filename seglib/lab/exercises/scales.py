"""Exercise 13-2: the scales in the data, and how the encoder covers them (output stride, the widest branch's
tap spacing and receptive field, rates that act as 1x1 at a smaller input, the output size)."""

from __future__ import annotations

import math
from typing import Any

from seglib.analysis.aspp import BRANCH_HEADINGS
from seglib.lab import checks as lab_checks
from seglib.lab.exercises.common import DATA_LINK, Models, alternative, model_page_params
from seglib.lab.facts import rates_text
from seglib.lab.questions import Alternative, Exercise, Link, Question, format_number, value_text


def scales_exercise(facts: dict[str, Any], models: Models) -> Exercise:
    """13-2: the range of scales; the output stride, the widest branch's spacing and receptive field, the
    rates that act as a 1x1 convolution at a smaller input, and the output size."""
    get = facts.get
    alt = models.alternative
    keras, mine_source, theirs_source = models.keras, models.mine, models.theirs
    size = get("image_size")
    rate = get("widest_rate")
    rate_text = f"rate-{rate}" if rate else "widest atrous"
    stride = get("stride")
    backbone_field = get("backbone_field")
    field_heading = BRANCH_HEADINGS["receptive field (px)"]
    model_params = model_page_params(facts)
    # Which rates degenerate to 1x1 at a smaller input (the probe size), for both models.
    rates = get("atrous_rates")
    probe = lab_checks.probe_size(rates, int(stride)) if rates and stride else None
    probe_feature = probe // int(stride) if probe else None
    probe_answer = tuple(lab_checks.one_by_one_rates(rates, probe_feature)) if probe else None
    probe_keras = (tuple(lab_checks.one_by_one_rates(keras["atrous_rates"], probe // int(keras["stride"])))
                   if probe and keras.get("atrous_rates") else None)
    return Exercise(
        "13-2", "Scales, and how the encoder covers them",
        "People in the images range from a few pixels to the whole frame, and their parts even more so. "
        "The backbone shrinks the image by its output stride; the ASPP branches then combine the features "
        "of units spaced further and further apart. Number questions accept the answer of the sidebar model "
        "or of the Keras example (the Atrous scales page sets the two side by side, *Next to the Keras "
        "example*).",
        (
            Question("scales", "13-2",
                     "Describe the range of scales you see in the masks: the smallest and largest people, "
                     "and the smallest parts (shoes, gloves, sunglasses).",
                     view="object-scales",
                     model_answer=(
                         "People range from a few dozen pixels tall (far back in a crowd) to the full height "
                         "of the image, the nearest cut by its edges. Parts spread even more: the sunglasses, gloves or shoes of a small "
                         "person cover a handful of pixels, the clothes of a large one a big share of the "
                         "frame. Region sizes of one class span more than a factor of ten, so the network "
                         "must recognise the same part at very different sizes.")),
            Question("stride", "13-2",
                     "By how many input pixels does one step on the ASPP input map move (the output stride)?",
                     kind="number", answer=stride, unit="px", view="where-each-branch-looks",
                     source=mine_source, alternatives=alt("stride"),
                     hint="The Atrous scales page prints it next to the ASPP map size.",
                     model_answer=_stride_answer(stride, backbone_field, size)),
            Question("widest_spacing", "13-2",
                     f"How far apart, in input pixels, are neighbouring taps of the {rate_text} branch?",
                     kind="number", answer=get("widest_spacing"), unit="px", view="where-each-branch-looks",
                     source=mine_source, alternatives=alt("widest_spacing"),
                     hint="The spacing is the rate times the output stride; the branch table on the "
                          "Atrous scales page lists it.",
                     model_answer=(f"Rate × output stride = {rate} × {format_number(stride)} = "
                                   f"{format_number(get('widest_spacing'))} px." if rate else "")),
            Question("widest_receptive_field", "13-2",
                     f"How wide (in input pixels) is the theoretical receptive field of one unit of the "
                     f"{rate_text} branch?",
                     kind="number", answer=get("widest_receptive_field"), unit="px",
                     tolerance=max(1.0, 0.01 * (get("widest_receptive_field") or 0)),
                     view="where-each-branch-looks", source=mine_source,
                     alternatives=alt("widest_receptive_field"),
                     hint=f"Look at the '{field_heading}' column of the branch table on the Atrous scales page.",
                     model_answer=_field_answer(rate, stride, backbone_field, get("widest_receptive_field"),
                                                size)),
            Question("one_by_one", "13-2",
                     (f"Suppose the input were {probe} × {probe} px instead of {size}. Which of the atrous rates "
                      f"({rates_text(rates)}) would then act as a 1×1 convolution at every position of the ASPP "
                      "map, because all taps but the centre land on padding? List the rates, or write 'none'."
                      if probe else "Which atrous rates act as a 1×1 convolution at every position of the "
                                    "ASPP map? List the rates, or write 'none'."),
                     kind="set", answer=probe_answer, view="taps-that-land-on-padding",
                     source=mine_source, reasoning="map size = input / stride; a rate at least the map size "
                                                   "reads only padding off-centre",
                     alternatives=((Alternative(probe_keras, f"{theirs_source} at {probe} px"),)
                                   if probe_keras is not None else ()),
                     hint=(f"At {probe} px the ASPP map has {probe_feature} × {probe_feature} units; a 3×3 "
                           "kernel at rate r reads r units to each side of its centre." if probe else ""),
                     model_answer=(
                         f"At {probe} px the ASPP map is {probe} / {format_number(stride)} = {probe_feature} "
                         f"units wide. A 3 × 3 kernel at rate r reads r units to each side of its centre; once "
                         f"r ≥ {probe_feature} those taps leave the map from every position and only the centre "
                         f"reads features: {value_text('set', probe_answer)}. Such a branch adds nothing a "
                         "1×1 branch does not, which is why the rates must suit the input size."
                         if probe else "")),
            Question("encoder_scales", "13-2",
                     "Using your answers above, explain which range of scales the encoder combines and why "
                     "the image-pooling branch is there.",
                     view="where-each-branch-looks",
                     model_answer=_encoder_answer(backbone_field, size)),
            Question("output_size", "13-2",
                     (f"For a {size} px input" if size else "For an input of the model's size")
                     + ", what are the height × width of the model's output?",
                     kind="size",
                     answer=(get("output_height"), get("output_width")) if get("output_height") else None,
                     view="the-final-layer", source=mine_source,
                     alternatives=(alternative((keras["output_height"], keras["output_width"]), theirs_source)
                                   if keras.get("output_height") else ()),
                     hint="The last row of the layer table on the Model page.",
                     model_answer="The same as the input: the decoder upsamples back to full resolution, so "
                                  "every input pixel gets its own prediction."),
        ),
        (Link("dataset.py", "Object sizes in the data", "object-scales"),
         Link("atrous.py", "Atrous taps on an image", "where-each-branch-looks"),
         Link("atrous.py", "Taps that land on padding", "taps-that-land-on-padding"),
         Link("model.py", "The final layer", "the-final-layer", model_params)),
        background=(DATA_LINK,),
    )


def _stride_answer(stride: float | None, backbone_field: float | None, size: int | None) -> str:
    """The model answer of the stride question: the grid's spacing, not what a unit sees."""
    if not stride:
        return ""
    halvings = round(math.log2(stride))
    text = (f"The backbone halves the resolution {halvings} times (2^{halvings} = {stride:g}): neighbouring units of "
            f"the ASPP map sit {stride:g} input pixels apart. That is the spacing of the grid, not what a unit sees")
    if backbone_field:
        text += f": each unit's receptive field is {backbone_field:g} px wide (the Atrous scales page's backbone field)"
        if size and backbone_field >= size:
            text += f", more than the whole {size} px image"
    return text + "."


def _field_answer(rate, stride, backbone_field, field, size) -> str:
    """The model answer of the widest branch's receptive field, with the numbers of the model in use."""
    if not (rate and stride and backbone_field and field):
        return ("The backbone's field at the ASPP input plus (3 − 1) × rate × stride for the dilated 3 × 3 kernel.")
    text = (f"The backbone's field at the ASPP input, {backbone_field:g} px, plus (3 − 1) × rate × stride = "
            f"2 × {rate} × {stride:g} = {2 * rate * stride:g} px for the dilated 3 × 3 kernel: {field:g} px")
    if size and field > size:
        text += f", more than the {size} px image (the field counts padding too)"
    return text + "."


def _encoder_answer(backbone_field, size) -> str:
    """The model answer of the encoder question: branches combine features at different spacings."""
    whole = (f" At {size} px every unit of the ASPP map already has a receptive field of {backbone_field:g} px, more "
             "than the whole image, so a branch's taps do not decide what it can see; they decide which features it "
             "combines." if backbone_field and size and backbone_field >= size else "")
    return ("The backbone gives each unit of the ASPP map a large receptive field; the branches differ in which "
            "units they combine. The 1×1 branch uses the unit's own feature; each atrous branch adds the features of "
            "units rate × stride pixels away, with the same number of weights whatever the rate, so it relates a "
            "part to what lies a part, a person or more away: from about the size of a part to a whole person and "
            "beyond." + whole + " A theoretical field says what can influence a unit, not what does: the effective "
            "field is much smaller (Atrous scales page), which is why the spacing of the taps matters. Image "
            "pooling averages the whole map, adding the context of the entire image (how large the people are, how "
            "crowded it is) that a kernel with taps off the map cannot give. Concatenating the branches lets each "
            "pixel's label draw on several scales at once.")
