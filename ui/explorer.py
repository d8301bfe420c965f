"""The Dataset explorer's parts (``pages/dataset.py``): the buttons' callbacks, the problems and the
masks left out, the grid of samples and the tables' columns. The dataset itself, its statistics and the
loss table come through the shared caches of ``ui.datasets``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from seglib import settings
from seglib.analysis import loss_shares
from seglib.classes import CLASS_NAMES
from ui import datasets, drawing
from ui.markdown import md_code, md_text
from ui.palette import current_palette_name

#: Every class id, the class toggles' options.
ALL_CLASSES = list(range(len(CLASS_NAMES)))

#: Formats of the loss table's columns.
LOSS_COLUMNS = {
    "pixels": st.column_config.NumberColumn(format="localized"),
    **{column: st.column_config.NumberColumn(format="percent")
       for column in ("pixel share", *loss_shares.SHARE_COLUMNS.values())},
    "class weight": st.column_config.NumberColumn(format="%.2f"),
    "mean cross-entropy": st.column_config.NumberColumn(format="%.3f"),
    "IoU": st.column_config.NumberColumn(format="%.2f"),
}


def reshuffle() -> None:
    """The Reshuffle button: other images (the seed plus one)."""
    st.session_state["seed"] = int(st.session_state.get("seed", 0)) + 1


def show_classes(classes: list[int]) -> None:
    """The class buttons: draw exactly ``classes``."""
    st.session_state["visible"] = list(classes)


def about(dataset) -> None:
    """The dataset's name, layout, images per split and folder, whether it is synthetic (``ui.datasets.
    synthetic_note``) and what is wrong with its files (when anything is, in a closed expander)."""
    counts = {name: len(pairs) for name, pairs in dataset.splits.items()}
    st.markdown(
        f"**{md_text(dataset.name)}** · {'CIHP layout' if dataset.layout == 'cihp' else 'images/ + masks/ layout'} · "
        + " · ".join(f"{count:,} {name} images" for name, count in counts.items() if count)
        + f" · folder {md_code(settings.display_path(dataset.root))}"
    )
    datasets.synthetic_note(dataset)
    if not dataset.problems:
        return
    skipped = sum(1 for problem in dataset.problems if problem.skipped)
    with st.expander(f":material/warning: {len(dataset.problems)} problems found "
                     f"({skipped} files skipped)"):
        st.dataframe(pd.DataFrame([{"file": p.path, "problem": p.kind, "details": p.message,
                                    "skipped": p.skipped} for p in dataset.problems]),
                     hide_index=True, width="stretch")


def sample_rows(dataset, split: str, indices: list[int], opacity: float, visible) -> list[tuple]:
    """One row per sample: image | colour mask | overlay, with a caption. Returns ``(index, stem, image,
    mask)`` of each sample that could be read (one that cannot is an error in its row)."""
    samples = []
    count = len(dataset.split(split))
    for column, heading in zip(st.columns(3), ("Image", "Colour mask", "Overlay")):
        column.markdown(f"**{heading}**")
    for index in indices:
        with drawing.error_boundary(f"Reading image {index}", stop=False):
            stem, image, mask = datasets.load_sample(dataset.root, split, index)
            samples.append((index, stem, image, mask))
            for column, kind in zip(st.columns(3), ("image", "mask", "overlay")):
                with column:
                    drawing.plot(datasets.sample_figure(dataset.root, split, index, kind, opacity, visible,
                                                        current_palette_name()),
                                 key=f"sample-{split}-{index}-{kind}")
            st.caption(f"{md_text(split)} image {index + 1} of {count} · {md_code(stem)} · "
                       f"{image.shape[1]} × {image.shape[0]} px")
    return samples


def skipped_masks(stats, split: str, images: int) -> None:
    """A warning and a table when some of the split's ``images`` masks are left out of the statistics."""
    if not stats.skipped:
        return
    reasons = list(stats.skipped_reasons)
    reasons += ["cannot be read"] * (len(stats.skipped) - len(reasons))
    st.warning(f"{len(stats.skipped):,} of the {images:,} masks of the {split} split are left out of these "
               "statistics: they cannot be read, or they are not label ids (see why below). Training feeds "
               "them as unlabelled. Fix or remove them; `python -m seglib data check` lists every problem.",
               icon=":material/warning:")
    with st.expander(f"Masks left out ({len(reasons):,})"):
        st.dataframe(pd.DataFrame({"mask": list(stats.skipped), "why": reasons[:len(stats.skipped)]}).head(500),
                     hide_index=True, width="stretch")
