"""The lab's exercises 13-1 ... 13-6: their questions, checkable answers and model answers.

The questions are written for this project. Questions with a number, a size, a
class or a set of rates for an answer are *checked*: the expected value is
taken from the ``facts`` (``seglib.lab.facts``: ``dataset_numbers``,
``model_numbers``, ``sample_numbers`` and ``run_numbers``), never typed in as
a constant, so a check stays right when a student switches dataset, preset or
input size. Several need reasoning rather than reading one number off one view
(``seglib.lab.checks`` computes those).

Students of the handout run the Keras example (ResNet50, 512 px, rates
6/12/18) while the dashboard's sidebar model is usually smaller; shape and
scale questions accept either model's answer and say which one it matches
(``Alternative``). Open questions have a model answer the page shows once the
student has submitted a real attempt (``ui.lab``). ``Question.reasoning`` names
the step a check needs beyond reading one number; no checked value is ever part
of a question's text, hint or introduction.

Every question names the section (``Question.view``, a heading anchor) of a
linked page that answers it; ``Exercise.links`` lead there. Answers are checked
by ``seglib.lab.answers`` and saved by ``seglib.lab.saving``.

No Streamlit here: the pages draw what this module returns.

>>> from seglib.lab.answers import check_answer
>>> facts = {"num_classes": 20, "output_height": 64, "output_width": 64, "image_size": 64}
>>> question = next(q for q in build_exercises(facts)[2].questions if q.key == "output_channels")
>>> check_answer(question, "20").correct
True
"""

from __future__ import annotations

from typing import Any, Sequence

import math

from seglib.analysis.aspp import BRANCH_HEADINGS
from seglib.classes import CLASS_NAMES, class_label, numbered_label
from seglib.config import get_preset, preset_names
from seglib.data import synthetic
from seglib.lab import checks as lab_checks
from seglib.lab.comparison import keras_differences
from seglib.lab.facts import keras_example_numbers, keras_label, rates_text, sidebar_label
from seglib.lab.questions import Alternative, Exercise, Link, Question, format_number, value_text
from seglib.analysis import loss_shares
from seglib.evaluation import losses

#: The Home page section on how the synthetic data differs from CIHP (13-1, 13-2 and 13-4 link to it).
DATA_LINK = Link("home.py", "How the synthetic data differs from CIHP", synthetic.SECTION_ANCHOR)

# ---------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------

def _alternative(theirs: Any, source: str) -> tuple[Alternative, ...]:
    """The Keras example's answer as an alternative (also when it equals ours: the message says 'both')."""
    if theirs is None:
        return ()
    return (Alternative(theirs, source),)


def flip_premise(augment: bool | None, trained: bool = True) -> str:
    """The first sentence of the flip question, true for the sidebar model: ``augment`` is its
    training's ``data.augment`` (``trained``) or, for an untrained model, its preset's."""
    flipping = [name for name in preset_names() if get_preset(name).data.augment]
    example = f"the `{flipping[0]}` preset" if flipping else "many training pipelines"
    verb = "does" if flipping else "do"
    if augment is None:
        return f"Suppose training flips an image left to right (augmentation, as {example} {verb})."
    if augment:
        return ("Training the sidebar model flipped some images left to right (augmentation, "
                "`data.augment = True`)." if trained else
                "Training with the sidebar model's preset flips some images left to right (augmentation, "
                "`data.augment = True`).")
    return (("The sidebar model was trained without flips" if trained else
             "Training with the sidebar model's preset does not flip images")
            + f" (`data.augment = False`), but {example} {verb}: it flips some images left to right "
              "(augmentation).")


def build_exercises(facts: dict[str, Any]) -> list[Exercise]:
    """The six exercises, with checkable answers taken from ``facts`` (the merged
    output of ``dataset_numbers``, ``model_numbers``, ``sample_numbers`` and
    ``run_numbers``; ``facts['keras']`` defaults to ``keras_example_numbers()``).

    A fact that is missing (no dataset, a model without ASPP) leaves its
    question open instead of checking against a made-up value.
    """
    get = facts.get
    keras = get("keras") or keras_example_numbers()
    mine_source = sidebar_label(facts)
    theirs_source = keras_label(keras)
    size = get("image_size")
    rate = get("widest_rate")
    rate_text = f"rate-{rate}" if rate else "widest atrous"
    stride = get("stride")
    num_classes = get("num_classes") or len(CLASS_NAMES)
    backbone_field = get("backbone_field")
    field_heading = BRANCH_HEADINGS["receptive field (px)"]
    # The Model page rebuilds the architecture of the model in use (its preset at its input size).
    model_params = {key: str(value) for key, value in
                    (("preset", get("model_preset")), ("size", size)) if value}

    def alt(key: str):
        return _alternative(keras.get(key), theirs_source)

    # -- 13-1: labels, and what a flip does to them
    left, right = get("flip_left"), get("flip_right")
    if left is None:
        left, right = lab_checks.flip_pair()
    limb = class_label(left).split("-")[-1].lower()

    # -- 13-2: which rates degenerate to 1x1 at a smaller input
    rates = get("atrous_rates")
    probe = lab_checks.probe_size(rates, int(stride)) if rates and stride else None
    probe_feature = probe // int(stride) if probe else None
    probe_answer = tuple(lab_checks.one_by_one_rates(rates, probe_feature)) if probe else None
    probe_keras = (tuple(lab_checks.one_by_one_rates(keras["atrous_rates"], probe // int(keras["stride"])))
                   if probe and keras.get("atrous_rates") else None)

    # -- 13-5 / 13-6: the image the Predictions page opens
    sample_split, sample_index = get("sample_split"), get("sample_index")
    split_name = {"val": "validation", "train": "training"}.get(sample_split, sample_split or "validation")
    image_text = f"{split_name} image {int(sample_index or 0) + 1}"
    pixel_params = {"split": str(sample_split or "val"), "image": str(int(sample_index or 0))}
    if get("pixel_row") is not None:
        pixel_params.update({"px": str(get("pixel_column")), "py": str(get("pixel_row"))})
    winner = get("pixel_winner")
    runner_up = get("pixel_runner_up")
    logits = get("pixel_logits") or []
    probability_answer = margin_answer = ""
    temperature = get("pixel_temperature") or lab_checks.TEMPERATURE
    if winner is not None and logits:
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

    background = get("background_fraction")
    present = get("classes_present")

    exercises = [
        Exercise(
            "13-1", "Labels that mean something",
            "Every mask pixel holds a class id; the colour is only how the id is drawn. Before training "
            "anything, check that the ids describe the people in the image, and that they mean the same "
            "thing in every image: a network can only learn what the labels say consistently.",
            (
                Question("labels_meaning", "13-1",
                         "Choose one person and name three coloured regions with the body part or garment under "
                         "each. Do the labels follow how a body is built? Give one example (where does the face "
                         "region sit relative to the hair and the upper clothes?).",
                         view="images-and-masks",
                         model_answer=(
                             "Yes. The regions sit where the parts are on a body: hair (and a hat, if any) on top, "
                             "the face just below the hair, upper clothes below the face with an arm region on "
                             "each side, then pants or a skirt, legs and shoes at the bottom. A region is one part "
                             "of one person, not a patch of one colour in the image: a red hat and a red shirt get "
                             "different labels because they are different parts. (The default data's masks are "
                             "drawn by its generator, so they are exact; CIHP's are drawn by people, with noise "
                             "along the boundaries.)")),
                Question("labels_consistent", "13-1",
                         "Does a class keep the same id (and colour) in every image? What would a network learn "
                         "if one id meant 'hair' in one image and 'hat' in another?",
                         view="images-and-masks",
                         model_answer=(
                             "Yes: the legend is the same for every mask (2 is always hair). Training compares the "
                             "prediction with these ids pixel by pixel, so an id must stand for one thing "
                             "everywhere. If its meaning changed between images, the loss would reward opposite "
                             "answers for the same evidence, and the best the network could do is hedge between "
                             "them.")),
                Question("flip_label", "13-1",
                         f"{flip_premise(get('augment'), get('augment_trained', True))} A pixel labelled {class_label(left)} before the flip: "
                         "which label must it carry after the flip? (name or id)",
                         kind="class", answer=right, accepted=(right,), view="images-and-masks",
                         reasoning="a mirror swaps the person's sides",
                         hint="Think of a mirror: in the flipped image the person seems to raise the other hand. "
                              "The legend lists both sides.",
                         model_answer=(
                             f"{numbered_label(right)}. The flipped image shows a mirrored person, and the "
                             f"{limb} that was on the person's left now looks exactly like a right {limb} in an "
                             "unflipped image. Keeping the old label would teach two opposite labels for the same "
                             "appearance, so the pipeline swaps 14↔15, 16↔17 and 18↔19 whenever it flips "
                             "(`seglib.classes.swap_left_right`).")),
            ),
            (Link("dataset.py", "Images and masks side by side", "images-and-masks"),),
            background=(DATA_LINK,),
        ),
        Exercise(
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
                         f"For a {size} px input, what are the height × width of the model's output?",
                         kind="size",
                         answer=(get("output_height"), get("output_width")) if get("output_height") else None,
                         view="the-final-layer", source=mine_source,
                         alternatives=(_alternative((keras["output_height"], keras["output_width"]), theirs_source)
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
        ),
        Exercise(
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
        ),
        Exercise(
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
        ),
        Exercise(
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
        ),
        Exercise(
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
        ),
    ]
    return exercises


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


def all_questions(exercises: Sequence[Exercise]) -> list[Question]:
    return [question for exercise in exercises for question in exercise.questions]


def exercises_for_page(exercises: Sequence[Exercise], page: str) -> list[Exercise]:
    """The exercises with a link to ``page`` (a file under ``pages/``), in order."""
    return [exercise for exercise in exercises if any(link.page == page for link in exercise.links)]
