"""The models the sidebar offers and the chosen one, loaded through caches shared by every session.

A model is named by a ``ModelRef``: the shipped demo model, a run's checkpoint or an
untrained preset. Its URL form (``demo``, ``run:<run id>``, ``untrained:<preset>``) is
the sidebar's value; the ``model`` query parameter holds the picker's label (Streamlit's
binding) or, in links, that URL form. Models from the caches are
shared by all viewers: never mutate one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import streamlit as st

from seglib import settings
from seglib.errors import ModelError, SeglibError
from ui import kept, url_state
from ui.stamps import file_stamp

#: Session-state key of the sidebar's model, also the URL query parameter.
MODEL_KEY = "model"
#: Statuses of a run whose checkpoint is still being written (not offered).
_TRAINING_STATUSES = ("queued", "running", "stopping")


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """Which model: ``kind`` 'demo', 'run' (``id`` = run id) or 'untrained' (``id`` = preset name)."""

    kind: str
    id: str = ""

    @classmethod
    def demo(cls) -> "ModelRef":
        return cls("demo")

    @classmethod
    def run(cls, run_id: str) -> "ModelRef":
        return cls("run", str(run_id))

    @classmethod
    def untrained(cls, preset: str) -> "ModelRef":
        return cls("untrained", str(preset))

    def to_url(self) -> str:
        """'demo', 'run:<run id>' or 'untrained:<preset>' (the sidebar's value and ``?model=``)."""
        return self.kind if self.kind == "demo" else f"{self.kind}:{self.id}"

    @classmethod
    def from_url(cls, text: str | None) -> "ModelRef | None":
        """The reference a URL value names (None when it names none)."""
        if text == "demo":
            return cls.demo()
        kind, colon, ident = str(text or "").partition(":")
        return cls(kind, ident) if colon and ident and kind in ("run", "untrained") else None


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """One entry of the sidebar's model picker (nothing is loaded yet)."""

    ref: ModelRef
    label: str                #: what the picker shows
    path: Path | None = None  #: the .keras file (demo and runs)
    note: str = ""            #: one line for people (what the model is, how it was trained)

    @property
    def key(self) -> str:
        return self.ref.to_url()

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def preset(self) -> str | None:
        """The preset of an untrained model (None for checkpoints)."""
        return self.ref.id if self.ref.kind == "untrained" else None

    @property
    def stamp(self) -> tuple:
        """Changes when the checkpoint file changes (``()`` for untrained models)."""
        return file_stamp(self.path)


def _demo_choice() -> ModelChoice | None:
    from seglib.training import demo

    with contextlib.suppress(SeglibError, OSError):
        if demo.has_demo_model():
            return ModelChoice(ModelRef.demo(), "Demo model (trained)", demo.demo_model_path(),
                               note="A small model trained on the synthetic dataset, shipped with the project.")
    return None


@st.cache_data(ttl=10, show_spinner=False)
def _run_choices(runs_dir: str) -> list[tuple[str, str, str, str]]:
    """``(run id, name, checkpoint, status)`` of every run with a checkpoint that is not training."""
    from seglib.training.runs.readers import find_checkpoint
    from seglib.training.runs.state import list_runs

    try:
        listed = list_runs()
    except (SeglibError, OSError):
        return []
    choices = []
    for info in listed:
        checkpoint = find_checkpoint(Path(info.path))
        if checkpoint is None or info.status in _TRAINING_STATUSES:
            continue
        choices.append((info.id, info.name or info.id, str(checkpoint), info.status))
    return choices


def refresh_model_options() -> None:
    """Forget the cached list of run checkpoints (call after a run finishes or is deleted)."""
    _run_choices.clear()


def model_options() -> dict[str, ModelChoice]:
    """The models the sidebar offers by URL value: the demo model (when shipped), the
    checkpoints of finished or stopped runs, and an untrained model per preset."""
    from seglib.presets import preset_names

    options: dict[str, ModelChoice] = {}
    demo = _demo_choice()
    if demo is not None:
        options[demo.key] = demo
    runs = _run_choices(str(settings.runs_dir()))
    titles = [title for _, title, _, _ in runs]
    for run_id, title, checkpoint, status in runs:
        # Labels are unique (the bound picker's address names the label): a shared name takes the run id.
        shown = title if titles.count(title) == 1 else f"{title}, {run_id}"
        choice = ModelChoice(ModelRef.run(run_id), f"Run: {shown} ({Path(checkpoint).stem})", Path(checkpoint),
                             note=f"Checkpoint {Path(checkpoint).name} of run {run_id} ({status or 'done'}).")
        options[choice.key] = choice
    for preset in preset_names():
        choice = untrained_choice(preset)
        options[choice.key] = choice
    return options


def untrained_choice(preset: str) -> ModelChoice:
    """The picker's entry for ``preset`` with random weights (the Atrous page names one at any size too)."""
    from seglib.presets import get_preset

    return ModelChoice(ModelRef.untrained(preset), f"Untrained: {preset}",
                       note="Random weights: " + get_preset(preset).summary()
                            + ". Its predictions are noise until trained.")


def current_model_choice() -> ModelChoice:
    """The model chosen in the sidebar (not loaded)."""
    options = model_options()
    key = st.session_state.get(MODEL_KEY) or url_state.option_from_link(
        MODEL_KEY, {key: choice.label for key, choice in options.items()})
    return options.get(key) or next(iter(options.values()))


def choose_model(ref: ModelRef) -> None:
    """Make ``ref`` the sidebar's model (from a callback, before the sidebar is drawn); the sidebar's
    picker is bound to the address, so Streamlit writes it there."""
    st.session_state[MODEL_KEY] = ref.to_url()


def forget_model(ref: ModelRef) -> None:
    """If ``ref`` is the sidebar's model (its checkpoint was deleted), fall back to the default."""
    if st.session_state.get(MODEL_KEY) == ref.to_url():
        st.session_state.pop(MODEL_KEY, None)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_model_file(path: str, stamp: tuple):
    from seglib.model.saving import load_model as seglib_load_model

    return seglib_load_model(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def _build_untrained(preset: str, image_size: int | None):
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model

    config = get_preset(preset)
    if image_size:
        config = config.with_overrides({"model.image_size": int(image_size)})
    return build_model(config.model)


def load_model(path: str | os.PathLike | None = None, *, preset: str | None = None,
               image_size: int | None = None):
    """A Keras model through a cache shared by every session.

    Either ``path`` (a ``.keras`` file; reloaded when the file changes) or
    ``preset`` (+ optional ``image_size``) for an untrained model.
    """
    if path is not None:
        return _load_model_file(str(Path(path)), file_stamp(path))
    if preset is None:
        raise ModelError("load_model needs a checkpoint path or a preset name.")
    return _build_untrained(preset, int(image_size) if image_size else None)


def load_choice(choice: ModelChoice, image_size: int | None = None):
    """The model of a sidebar choice (an untrained one at ``image_size`` when given)."""
    if choice.path is None:
        return load_model(preset=choice.preset, image_size=image_size)
    return load_model(choice.path)


def load_ref(ref: ModelRef, image_size: int | None = None):
    """The model ``ref`` names (ModelError when it names no model on offer)."""
    if ref.kind == "untrained":
        return load_model(preset=ref.id, image_size=image_size)
    choice = model_options().get(ref.to_url())
    if choice is None:
        raise ModelError(f"The model {ref.to_url()!r} is not on offer any more (deleted, or still training).")
    return load_choice(choice)


def current_model():
    """``(model, choice)`` for the model chosen in the sidebar (may raise SeglibError)."""
    choice = current_model_choice()
    return load_choice(choice), choice


def model_key(choice: ModelChoice, model=None, image_size: int | None = None) -> tuple:
    """The key of a model in every cache of what is computed from it (one shape for all of them).

    A model with a file (the demo model, a run's checkpoint): ``(URL value, *file stamp)``, which
    changes when the file does. An untrained preset: ``(URL value, image size)`` plus, when the
    loaded ``model`` is given, its ``id``: its random weights differ at every build, and
    ``load_model``'s cache may drop and build it again, so results of the old weights are not served
    for the new ones. Caches that compute from the choice alone (the model is loaded only on a miss)
    pass no model; ``keeps_on_disk`` tells which keys ``ui.kept`` may keep.
    """
    if choice.path is not None:
        return (choice.key, *choice.stamp)
    return (choice.key, int(image_size) if image_size else None, *(() if model is None else (id(model),)))


def keeps_on_disk(key: tuple) -> bool:
    """Whether results under ``model_key`` ``key`` may be kept on disk (``ui.kept``): only for a model
    whose file exists (its stamp is in the key); an untrained model's weights differ at every start."""
    ref = ModelRef.from_url(key[0]) if key else None
    return ref is not None and ref.kind != "untrained" and len(key) > 1


@st.cache_data(show_spinner=False, max_entries=64)
@kept.on_disk("model_description")
def model_description(preset: str, image_size: int) -> dict:
    """``seglib.model.summary.describe`` of the untrained preset at ``image_size``, cached as plain data.

    The Model page's size slider visits up to 3 presets x 11 sizes; keeping the
    small description (not the model) means each is built once per machine: it is also
    kept on disk (``ui.kept``), so a restarted dashboard shows the page without building.
    """
    from seglib.model.summary import describe

    return describe(load_model(preset=preset, image_size=image_size))


@st.cache_data(show_spinner=False, max_entries=8)
@kept.on_disk("reduced_numbers")
def reduced_numbers(preset: str) -> dict:
    """``seglib.analysis.reduced.reduced_numbers`` of a preset (the Keras example beside the sidebar model on the
    Atrous page): built once per machine, kept on disk (``ui.kept``) and here, shared by every session.

    The Keras example's numbers have two homes on purpose: the Atrous page needs only numbers that do not
    depend on the input size (receptive fields, the ASPP input layer), which this 64 px build gives in about
    a second; the Model page's layer-by-layer table lists every layer's output at the example's own 512 px,
    which only the 512 px build of ``ui.model.keras_example_numbers`` gives. Serving the Atrous page from
    that one would make its first visit wait for a ResNet50 at 512 px."""
    from seglib.analysis.reduced import reduced_numbers as numbers

    return numbers(preset)


def training_record(choice: ModelChoice):
    """What the chosen model was trained on (``seglib.training.provenance.training_record`` of its
    checkpoint's card or run config); None for an untrained model or when nothing says."""
    from seglib.training import provenance

    if choice.path is None:
        return None
    return provenance.training_record(choice.path)
