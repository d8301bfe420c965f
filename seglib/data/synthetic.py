"""What the synthetic default data is, in words computed from the generator's own settings.

The dashboard's default dataset is drawn by ``seglib.data.synth``: pictures this
project makes, not photos. A folder is recognised as such by the marker the
generator writes (``synth.json`` naming ``synth.GENERATOR_ID``), never by its
name. ``differences_from_cihp`` says how the data differs from CIHP (the real
Crowd Instance-level Human Parsing photos the handout uses) and what a model
trained on it will do on a real photo; every number in it is read from the
generator's settings (``synth.PEOPLE_PER_IMAGE``, ``synth.PERSON_HEIGHT`` and
the per-person probabilities of ``synth_person``) or from the folder's
``synth.json``, so the words change when the generator does.

>>> is_synthetic("/no/such/folder")
False
>>> any("faces the camera" in item for item in differences_from_cihp({"size": 512}))
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.classes import class_label
from seglib.data import synth, synth_person

#: The Home page section (its anchor) that says how the synthetic data differs from CIHP.
SECTION_ANCHOR = "synthetic-data"
SECTION_TITLE = "The data: synthetic drawings, not photos"

#: One line for every page that shows the default data (Markdown).
SYNTHETIC_NOTE = ("**Synthetic data.** These images are drawings made by this project's own generator "
                  "(`seglib.data.synth`), not photos: people drawn part by part, facing the camera, with "
                  "pixel-exact labels.")

#: How to train on real photos instead (Markdown), the CIHP folder layout the loader reads.
REAL_DATA_STEPS = (
    "To train on real photos, download CIHP (`instance-level_human_parsing`) and unpack it under the data "
    "folder, e.g. `data/cihp/Training/Images/*.jpg`, `data/cihp/Training/Category_ids/*.png` and "
    "`data/cihp/Validation/...`; pick it in the sidebar and start a run on the Training page, or run "
    "`python -m seglib train --preset course --data cihp --run-dir runs/cihp-course`.")


def synthetic_params(root: str | os.PathLike | None) -> dict[str, Any] | None:
    """The generator's parameters of the dataset folder ``root`` (its ``synth.json``), or
    None when the folder was not written by ``seglib.data.synth`` (or cannot be read)."""
    if root is None:
        return None
    path = Path(root) / synth.PARAMS_FILE
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(params, dict) or params.get("generator") != synth.GENERATOR_ID:
        return None
    return params


def is_synthetic(root: str | os.PathLike | None) -> bool:
    """True when the dataset folder ``root`` was written by the synthetic generator (its marker)."""
    return synthetic_params(root) is not None


def _percent(value: float) -> str:
    return f"{value:.0%}"


def class_share_settings() -> str:
    """The generator settings that decide the class balance, as one sentence (Markdown)."""
    accessories, tops, lowers = synth_person.ACCESSORIES, synth_person.TOP_GARMENTS, synth_person.LOWER_GARMENTS
    top_names = {"upper": class_label(synth_person.UPPER_CLOTHES), "coat": class_label(synth_person.COAT),
                 "dress": class_label(synth_person.DRESS)}
    low, high = synth.PEOPLE_PER_IMAGE
    small, large = synth.PERSON_HEIGHT
    return (
        f"each person wears a hat with probability {_percent(accessories['hat'])}, sunglasses "
        f"{_percent(accessories['sunglasses'])}, gloves {_percent(accessories['gloves'])}, socks "
        f"{_percent(accessories['socks'])} and a scarf {_percent(accessories['scarf'])}; the top is "
        + ", ".join(f"{top_names[kind]} ({_percent(p)})" for kind, p in tops.items())
        + f", and without a dress the legs wear pants ({_percent(lowers['pants'])}), shorts "
        f"({_percent(lowers['shorts'])}, labelled Pants) or a skirt ({_percent(lowers['skirt'])}). Each image "
        f"holds {low} to {high} people, {_percent(small)} to {_percent(large)} of the image height")


def differences_from_cihp(params: dict[str, Any] | None = None) -> list[str]:
    """How the synthetic data differs from CIHP and what to expect on real photos (Markdown bullets).

    ``params``: the folder's ``synth.json`` (``synthetic_params``) for its image
    size; ``None``: the default dataset's settings (``settings.DEFAULT_SYNTH``).
    """
    size = int((params or {}).get("size") or settings.DEFAULT_SYNTH["size"])
    left_arm = class_label(synth_person.SIDE_CLASSES[1]["arm"])
    right_arm = class_label(synth_person.SIDE_CLASSES[-1]["arm"])
    coat, upper = class_label(synth_person.COAT), class_label(synth_person.UPPER_CLOTHES)
    return [
        "**Everyone faces the camera.** The generator draws every person from the front, so a person's left "
        f"arm, leg and shoe are always on the image's right ({left_arm} on the right, {right_arm} on the left). "
        "In CIHP people turn sideways and away; left and right must be read from the body, not from the side "
        "of the image.",
        "**Labels are pixel-exact.** Each part is painted on the picture and on the mask with the same "
        "geometry, so no mask pixel is wrong or left unlabelled, and each garment has exactly one class (a coat "
        f"is always {coat}, sleeves take their garment's class): none of the annotation noise at boundaries, "
        f"or the doubt between {coat} and {upper}, that hand-drawn CIHP masks have.",
        f"**Class shares are generator settings:** {class_share_settings()}. The class balance measured here "
        "follows from these numbers, not from how people dress in real crowds.",
        f"**One image size.** Every image is {size} × {size} px; CIHP's photos come in many sizes and "
        "aspect ratios.",
        "**On a real photo, expect little.** A model trained only on these drawings has never seen a photo: "
        "real skin, cloth, light, poses and people seen from the side or the back are new to it, and it will "
        "take image-right for the person's left. Measure it on real data before believing its numbers. "
        + REAL_DATA_STEPS,
    ]


def synthetic_model_warning(dataset: str = "") -> str:
    """What the Predictions page says before a model trained only on synthetic data labels an upload."""
    named = f" (`{dataset}`)" if dataset else ""
    return (f"**This model was trained only on synthetic drawings**{named}, made by this project's generator; "
            "it has never seen a photo. On a real photo expect little: real skin, cloth, light and poses are "
            "new to it, and it takes image-right for the person's left. " + REAL_DATA_STEPS)
