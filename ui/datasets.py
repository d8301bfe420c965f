"""The datasets the sidebar offers and the chosen one, opened, counted and read through caches
shared by every session (keyed on the folder and its modification times).

Only folders under the allowed data roots are ever offered or opened
(``seglib.settings.check_data_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from seglib import settings
from seglib.data import layout
from seglib.errors import DatasetError
from ui import kept, models, url_state
from ui.stamps import folder_stamp

#: Session-state key of the sidebar's dataset, also the URL query parameter.
DATASET_KEY = "dataset"


@st.cache_data(ttl=30, show_spinner=False)
def _discover_datasets(roots: tuple[str, ...]) -> dict[str, str]:
    """``seglib.data.layout.find_datasets`` under the data roots, by key (cached for 30 s)."""
    return {key: str(path) for key, path in layout.find_datasets(roots).items()}


def refresh_dataset_options() -> None:
    """Forget the cached list of dataset folders (it is otherwise kept for 30 s)."""
    _discover_datasets.clear()


def dataset_options() -> dict[str, Path]:
    """Datasets the sidebar offers, by key: the synthetic default first, then
    every folder under the allowed data roots that looks like a dataset."""
    default = settings.default_dataset_dir()
    options = {layout.dataset_key(default): default}
    found = _discover_datasets(tuple(str(r) for r in settings.data_roots()))
    for key, path in sorted(found.items()):
        options.setdefault(key, Path(path))
    return options


def current_dataset_root() -> Path:
    """The folder of the dataset chosen in the sidebar (checked against the data roots)."""
    options = dataset_options()
    key = url_state.read(DATASET_KEY, next(iter(options)), cast=str)
    path = options.get(key)
    if path is None:  # a stale or hand-written URL value: only folders under the roots
        path = settings.check_data_path(key)
    return path


@st.cache_resource(show_spinner="Checking every file of the dataset (once per version of its files)...",
                   max_entries=8)
def _open_dataset(root: str, stamp: tuple):
    from seglib.data.dataset import open_dataset

    # Every file decoded (in child processes, the result kept on disk): the pages count the usable
    # pairs, as `python -m seglib data check` and the training worker do, and never show a refused one.
    return open_dataset(root, deep=True, isolate=True, use_cache=True)


def load_dataset(root: str | os.PathLike):
    """``seglib.data.dataset.open_dataset`` (every file checked: its usable pairs) through a shared
    cache keyed on the path and the folder's modification times (a regenerated dataset is reopened)."""
    root = settings.check_data_path(root)
    if not root.is_dir():
        raise DatasetError(
            f"The dataset folder {settings.display_path(root)} does not exist. "
            "Generate the synthetic default with `python -m seglib data synth --default` "
            "(or `make run`), or pick another dataset in the sidebar.")
    return _open_dataset(str(root), folder_stamp(root))


def current_dataset():
    """The dataset chosen in the sidebar, opened through the cache (may raise SeglibError)."""
    return load_dataset(current_dataset_root())


def opening_split(dataset) -> str:
    """The split the Predictions page and the Metric playground open with: validation when it has images,
    else training (the exercises' pixel numbers and the prewarm are of this split's first image)."""
    return "val" if dataset.split("val") else "train"


def statistics_split(dataset) -> str:
    """The split the dataset's numbers are read from: training when it has images, else the first."""
    return "train" if dataset.split("train") else next(iter(dataset.splits))


@st.cache_data(show_spinner=False, max_entries=16)
def _stats(root: str, stamp: tuple, split: str, size: int | None):
    from seglib.data.stats import dataset_stats

    return dataset_stats(_open_dataset(root, stamp), split=split, size=size)


def load_stats(root: str | os.PathLike, split: str = "train", size: int | None = None):
    """``seglib.data.stats.dataset_stats`` for a split, cached in memory (and on disk by seglib)."""
    root = settings.check_data_path(root)
    return _stats(str(root), folder_stamp(root), split, size)


@st.cache_data(show_spinner=False, max_entries=256)
def _sample(root: str, stamp: tuple, split: str, index: int, size: int | None):
    from seglib.data.dataset import load_pair

    dataset = _open_dataset(root, stamp)
    pairs = dataset.split(split)
    if not 0 <= index < len(pairs):
        raise DatasetError(f"The {split} split of {dataset.name} has {len(pairs)} images; "
                           f"there is no image number {index}.")
    pair = pairs[index]
    image, mask = load_pair(pair, size=size)
    return pair.stem, image, mask


def load_sample(root: str | os.PathLike, split: str, index: int, size: int | None = None):
    """``(stem, image, mask)`` of image ``index`` of a split (optionally resized), cached."""
    root = settings.check_data_path(root)
    return _sample(str(root), folder_stamp(root), split, int(index), size)


@st.cache_resource(show_spinner=False, max_entries=64)
def _sample_figure(root: str, stamp: tuple, split: str, index: int, kind: str, opacity: float, visible: tuple,
                   palette_name: str, max_size: int, height: int):
    from seglib.classes import get_palette
    from seglib.figures import masks as mask_figures

    _, image, mask = load_sample(root, split, index)
    return mask_figures.mask_figure(mask, image, kind=kind, opacity=opacity, visible=list(visible),
                                    palette=get_palette(palette_name), max_size=max_size, height=height)


def sample_figure(root: str | os.PathLike, split: str, index: int, kind: str, opacity: float, visible,
                  palette_name: str, *, max_size: int = 256, height: int = 280):
    """``seglib.figures.masks.mask_figure`` of one dataset sample (its image, colour mask or overlay), built
    once per input and shared by every viewer: a lecture hall on the Dataset explorer draws the same seeded
    samples (``ui.drawing.plot`` never mutates a figure)."""
    root = settings.check_data_path(root)
    return _sample_figure(str(root), folder_stamp(root), split, int(index), kind, float(opacity),
                          tuple(int(v) for v in visible), palette_name, int(max_size), int(height))


#: How many images of a split the Dataset explorer's loss chart measures by default (its choices).
LOSS_IMAGES = (4, 8, 16, 32, 64)
LOSS_IMAGES_DEFAULT = 16


@st.cache_data(show_spinner=False, max_entries=32)
@kept.on_disk("loss_table", keep_if=lambda arguments: models.keeps_on_disk(arguments["model_key"]))
def _loss_table(model_key: tuple, root: str, data_stamp: tuple, split: str, limit: int, class_counts: tuple,
                _choice):
    from seglib.classes import CLASS_NAMES
    from seglib.presets import get_preset
    from seglib.evaluation import inference
    from seglib.analysis import loss_shares
    from seglib.evaluation import losses

    model = models.load_choice(_choice)
    size = inference.model_input_size(model) or get_preset("lecture").model.image_size
    pairs = _open_dataset(root, data_stamp).split(split)
    return loss_shares.loss_shares(model, pairs, int(size), len(CLASS_NAMES),
                                   losses.median_frequency_weights(np.asarray(class_counts)), limit=limit)


def loss_table(choice, root: str | os.PathLike, split: str, limit: int, class_counts):
    """``seglib.analysis.loss_shares.loss_shares`` of a sidebar model (``choice``, a ``ui.models.ModelChoice``) on
    the first ``limit`` images of a split, at the model's input size, with median-frequency weights from the
    split's ``class_counts``: once per model file, dataset and split, shared by every session and kept on disk
    (``ui.kept``) for a checkpoint, so the model is loaded only to compute it (its choice and its file's stamp
    stand for it). ``frame.attrs`` says how many images and at which size."""
    root = settings.check_data_path(root)
    pairs = load_dataset(root).split(split)
    return _loss_table(models.model_key(choice), str(root), folder_stamp(root), split, int(min(limit, len(pairs))),
                       tuple(int(c) for c in class_counts), choice)


def synthetic_note(dataset, *, link: bool = True) -> bool:
    """Under a view of ``dataset``'s images: say that they are synthetic drawings, not photos, when the
    generator's marker says so (``seglib.data.synthetic.is_synthetic``), with a link to the Home section on
    how the data differs from CIHP. Returns whether the dataset is synthetic (nothing is drawn otherwise)."""
    from seglib.data import synthetic
    from ui import registry

    if not synthetic.is_synthetic(dataset.root):
        return False
    st.caption(":material/draw: " + synthetic.SYNTHETIC_NOTE)
    if link:
        registry.page_link("home.py", "How it differs from CIHP, and what to expect on real photos",
                           {"section": synthetic.SECTION_ANCHOR})
    return True
