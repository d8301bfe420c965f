"""The sidebar every page shares: dataset, model and palette pickers (kept in the URL), the
instructor's passcode and presentation toggle, and a note when a link named something unusable.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Callable

import streamlit as st

from seglib import settings
from seglib.errors import PathNotAllowedError, SeglibError
from ui import drawing, instructor, url_state
from ui.datasets import DATASET_KEY, dataset_options
from ui.markdown import md_code, md_text
from ui.models import MODEL_KEY, ModelRef, current_model_choice, model_options
from ui.palette import PALETTE_KEY, PALETTE_LABELS

#: Session key of a dataset or model named in the URL that was not opened (shown until another is picked).
REFUSED_KEY = "url_refused"


def _dataset_refusal(value: str) -> str:
    """Why a dataset named in the URL is not one the sidebar offers (no server path in it)."""
    from seglib.data.layout import detect_layout

    try:
        path = settings.check_data_path(value)
    except PathNotAllowedError:
        return "it is not inside the folders this dashboard may read"
    except (SeglibError, OSError, ValueError, RuntimeError):
        return "it is not a dataset folder"
    if path.is_file():
        return "it is a file, not a dataset folder"
    if not path.is_dir():
        return "there is no such dataset"
    for key, folder in dataset_options().items():
        folder = Path(folder).resolve()
        if path == folder:
            return (f"a link names a dataset by its name in the sidebar's list, not by a folder path; this folder "
                    f"is the dataset '{key}'")
        if folder in path.parents:
            return f"it is a folder inside the dataset '{key}', which the sidebar offers as a whole"
    if detect_layout(path) is None:
        return ("the folder has neither the CIHP layout (Training/Images/*.jpg with Training/Category_ids/*.png) "
                "nor images/ with masks/")
    return ("it is a dataset folder, but deeper below the data folder than the sidebar looks (at most two "
            "folders down); move it up")


def _model_refusal(value: str) -> str:
    ref = ModelRef.from_url(value)
    if ref is not None and ref.kind == "run":
        return "no finished run with a checkpoint has this id (it may have been deleted, or still be training)"
    return "it is not one of the models this dashboard offers"


def _note_refused_url_value(key: str, options, reason: Callable[[str], str], labels=()) -> None:
    """Call before drawing the widget: remember a URL value for ``key`` that names none of ``options``
    (neither an option nor one of the ``labels`` a bound widget's address shows)."""
    if key in st.session_state:
        return
    raw = url_state.param(key)
    if raw is None or raw in options or raw in labels or unicodedata.normalize("NFC", raw) in options:
        return
    refused = st.session_state.setdefault(REFUSED_KEY, {})
    refused[key] = (raw, reason(raw), next(iter(options)))


def _refused_url_values_notice() -> None:
    """Say which dataset or model from the link was replaced, while the replacement is shown."""
    refused = st.session_state.get(REFUSED_KEY) or {}
    for key, (value, why, replacement) in list(refused.items()):
        if st.session_state.get(key) != replacement:  # the user picked another one: done
            del refused[key]
            continue
        # A path-like value is not repeated (it may be a path of someone's machine); a name is.
        named = "" if value.startswith(("/", "~", "\\")) or ".." in value else f" {md_code(value)}"
        what = {DATASET_KEY: "dataset", MODEL_KEY: "model"}.get(key, key)
        shown = replacement if key == DATASET_KEY else model_options().get(replacement, replacement)
        shown = getattr(shown, "label", shown)
        st.warning(f"The {what}{named} named in the link was not opened: {md_text(why, limit=300)}. "
                   f"Showing {md_code(shown)} instead (pick another one in the sidebar).",
                   icon=":material/link_off:")


def sidebar() -> None:
    """Dataset, model and palette pickers shared by every page (kept in the URL).

    A dataset or model named in the URL that cannot be used is replaced by the
    default, and the page says so.
    """
    with st.sidebar:
        st.subheader("Data and model")
        # Bound to the address by Streamlit (a dataset's key is its label): see ui.url_state.
        datasets = dataset_options()
        _note_refused_url_value(DATASET_KEY, datasets, _dataset_refusal)
        url_state.accept_value_in_link(DATASET_KEY, {key: key for key in datasets})  # "cafe\u0301" is "café"
        st.selectbox("Dataset", list(datasets), key=DATASET_KEY, bind="query-params",
                     help="The synthetic default, or any dataset folder (CIHP layout or images/ + masks/) "
                          "under the allowed data roots.")

        models = model_options()
        model_labels = {key: choice.label for key, choice in models.items()}
        _note_refused_url_value(MODEL_KEY, models, _model_refusal, labels=model_labels.values())
        url_state.accept_value_in_link(MODEL_KEY, model_labels)
        st.selectbox("Model", list(models), key=MODEL_KEY, bind="query-params",
                     format_func=lambda key: model_labels.get(key, key),
                     help="Used on the pages that predict. Untrained models have random weights.")
        if current_model_choice().kind == "untrained":
            st.caption(":material/info: Random weights: predictions are noise until a model is trained.")

        url_state.accept_value_in_link(PALETTE_KEY, PALETTE_LABELS)
        st.radio("Palette", list(PALETTE_LABELS), format_func=PALETTE_LABELS.get, horizontal=True,
                 key=PALETTE_KEY, bind="query-params",
                 help="Class colours of masks, legends and charts. The colour-blind-safe palette keeps "
                      "classes apart under the common forms of colour blindness.")
        instructor.passcode_box()
        instructor.presentation_toggle()
        drawing.describe_sidebar_figures()  # the caption line of the page's figures on a slide
        drawing.slide_export()
    _refused_url_values_notice()
