"""What the exercises' builders share: the Keras example beside the sidebar model, the link to the data's
background, and the pages' queries for the model and the image in use."""

from __future__ import annotations

import dataclasses
from typing import Any

from seglib.classes import CLASS_NAMES
from seglib.data import synthetic
from seglib.lab.facts import keras_example_numbers, keras_label, sidebar_label
from seglib.lab.questions import Alternative, Link

#: The Home page section on how the synthetic data differs from CIHP (13-1, 13-2 and 13-4 link to it).
DATA_LINK = Link("home.py", "How the synthetic data differs from CIHP", synthetic.SECTION_ANCHOR)


def alternative(theirs: Any, source: str) -> tuple[Alternative, ...]:
    """The Keras example's answer as an alternative (also when it equals ours: the message says 'both')."""
    if theirs is None:
        return ()
    return (Alternative(theirs, source),)


@dataclasses.dataclass(frozen=True)
class Models:
    """Whose answer a shape or scale question checks: the sidebar model's (``facts``), with the Keras
    example's (``keras``) accepted beside it."""

    keras: dict[str, Any]
    mine: str      #: the sidebar model, as a question's ``source`` names it
    theirs: str    #: the Keras example, as an ``Alternative``'s source names it

    @classmethod
    def of(cls, facts: dict[str, Any]) -> "Models":
        keras = facts.get("keras") or keras_example_numbers()
        return cls(keras, sidebar_label(facts), keras_label(keras))

    def alternative(self, key: str) -> tuple[Alternative, ...]:
        """The Keras example's value of ``key`` as the alternative answer (none when it has no such value)."""
        return alternative(self.keras.get(key), self.theirs)


def class_count(facts: dict[str, Any]) -> int:
    """The model's number of classes (the 20 CIHP classes when the facts do not say)."""
    return facts.get("num_classes") or len(CLASS_NAMES)


def model_page_params(facts: dict[str, Any]) -> dict[str, str]:
    """The Model page's query for the model in use: it rebuilds the architecture of its preset at its input
    size."""
    return {key: str(value) for key, value in
            (("preset", facts.get("model_preset")), ("size", facts.get("image_size"))) if value}


def sample_image(facts: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The image the Predictions page opens for 13-5 and 13-6, in words ('validation image 3'), and the query
    that opens it there (with the pixel 13-5 asks about, when there is one)."""
    get = facts.get
    sample_split, sample_index = get("sample_split"), get("sample_index")
    split_name = {"val": "validation", "train": "training"}.get(sample_split, sample_split or "validation")
    image_text = f"{split_name} image {int(sample_index or 0) + 1}"
    pixel_params = {"split": str(sample_split or "val"), "image": str(int(sample_index or 0))}
    if get("pixel_row") is not None:
        pixel_params.update({"px": str(get("pixel_column")), "py": str(get("pixel_row"))})
    return image_text, pixel_params
