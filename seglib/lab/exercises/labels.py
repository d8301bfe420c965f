"""Exercise 13-1: do the labels mean something, and the same thing in every image; what a flip does to them."""

from __future__ import annotations

from typing import Any

from seglib.classes import class_label, numbered_label
from seglib.presets import get_preset, preset_names
from seglib.lab import checks as lab_checks
from seglib.lab.exercises.common import DATA_LINK
from seglib.lab.questions import Exercise, Link, Question


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


def labels_exercise(facts: dict[str, Any]) -> Exercise:
    """13-1: whether the labels mean something, and the same thing in every image; which label a flipped
    pixel carries."""
    get = facts.get
    left, right = get("flip_left"), get("flip_right")
    if left is None:
        left, right = lab_checks.flip_pair()
    limb = class_label(left).split("-")[-1].lower()
    return Exercise(
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
    )
