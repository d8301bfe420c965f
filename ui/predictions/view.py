"""The image the Predictions page shows at the top: a dataset sample or an upload, its prediction,
and the panels that set it beside the truth, through caches shared by every session (a lecture hall
looking at the same image costs one prediction and one build of its figures, not forty)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import streamlit as st

from seglib.classes import get_palette
from seglib.data import synthetic
from seglib.evaluation import evaluate, inference
from seglib.figures import inspector as inspector_figures
from seglib.figures import masks as mask_figures
from seglib.figures import predictions as pf
from ui import datasets, drawing, models, uploads, why_pixel
from ui.stamps import folder_stamp

#: The image sources by value, as the picker and the messages name them.
SOURCE_LABELS = {"val": "Validation", "train": "Training", "upload": "Upload"}
#: The six panels of a dataset sample, in two rows of three (their keys are the charts' keys).
PANEL_ROWS = (("pred-truth", "pred-prediction", "pred-difference"), ("pred-image", "pred-overlay", "pred-correct"))


@dataclasses.dataclass(frozen=True)
class View:
    """The image at the top of the page, its prediction, and its truth when it is a dataset sample."""

    stem: str
    image: np.ndarray
    prediction: inference.Prediction
    image_id: str                             #: names the image in the inspector's caches and chart key
    truth: np.ndarray | None = None
    sample: why_pixel.Sample | None = None   #: where a dataset sample lives


@st.cache_resource(show_spinner=False, max_entries=8)
def _predict_sample(model_key: tuple, root: str, stamp: tuple, split: str, index: int, _model):
    """One dataset sample, its truth and the prediction (shared by every session; never mutated)."""
    stem, image, mask = datasets.load_sample(root, split, index)
    return stem, image, mask, inference.predict(_model, image)


@st.cache_resource(show_spinner=False, max_entries=4)
def _predict_upload(model_key: tuple, digest: str, name: str, _data: bytes, _model):
    """An upload's picture and prediction, kept small (display-size image and mask, model-size logits),
    and what reading it changed."""
    return evaluate.predict_upload(_model, _data, name, with_notes=True)


@st.cache_resource(show_spinner=False, max_entries=16)
def _comparison_figures(model_key: tuple, root: str, stamp: tuple, split: str, index: int, palette_name: str,
                        opacity: float, panel_height: int, num_classes: int, *, _truth, _image, _predicted) -> dict:
    """The six panels of one dataset sample, built once per input and shared by every viewer: a lecture
    hall looking at the same image costs one build, not forty (``drawing.plot`` never mutates them)."""
    palette = get_palette(palette_name)
    size = pf.PANEL_MAX_SIZE
    return {
        "pred-truth": mask_figures.mask_figure(_truth, kind="mask", palette=palette, max_size=size,
                                               title="Ground truth", height=panel_height),
        "pred-prediction": mask_figures.mask_figure(_predicted, kind="mask", palette=palette, max_size=size,
                                                    title="Prediction", height=panel_height),
        "pred-difference": pf.difference_figure(_truth, _predicted, num_classes,
                                                title="|truth − prediction| (label ids)",
                                                height=panel_height + 56),
        # No hover layer on the image (the masks name the classes): a third less to send.
        "pred-image": mask_figures.mask_figure(_truth, _image, kind="image", max_size=size, title="Image",
                                               height=panel_height, hover=False),
        "pred-overlay": mask_figures.mask_figure(_predicted, _image, kind="overlay", opacity=opacity,
                                                 palette=palette, max_size=size, title="Prediction over the image",
                                                 height=panel_height),
        "pred-correct": pf.correctness_figure(_truth, _predicted, title="Right (black) and wrong (white) pixels",
                                              height=panel_height + 40),
    }


def sample_view(model, model_key: tuple, dataset, split: str, index: int) -> View:
    """Image ``index`` of ``split``, its truth and the model's prediction (with the synthetic-data note)."""
    with drawing.error_boundary(f"Predicting image {index + 1}"):
        with st.spinner("Predicting..."):
            stem, image, truth, prediction = _predict_sample(
                model_key, str(dataset.root), folder_stamp(dataset.root), split, int(index), model)
    datasets.synthetic_note(dataset, link=False)
    return View(stem, image, prediction, f"{split}-{index}", truth,
                why_pixel.Sample(str(dataset.root), folder_stamp(dataset.root), split, int(index)))


def upload_view(model, model_key: tuple, choice: models.ModelChoice, upload) -> View:
    """An upload and the model's prediction, what reading it changed, and a warning when the model has only
    seen the synthetic drawings (said before the result)."""
    data = upload.getvalue()
    digest = hashlib.sha1(data).hexdigest()
    with drawing.error_boundary(f"Reading {upload.name}"):
        with st.spinner("Predicting..."):
            image, prediction, read_notes = _predict_upload(model_key, digest, upload.name, data, model)
    del data
    uploads.read_notes(st, upload.name, read_notes)
    drawing.describe_figures(dataset=f"upload {upload.name}")
    trained_on = models.training_record(choice)
    if trained_on is not None and trained_on.synthetic:
        st.warning(synthetic.synthetic_model_warning(trained_on.dataset), icon=":material/draw:")
    return View(upload.name, image, prediction, "upload-" + digest[:12])


def panel_height(view: View) -> int:
    """Pictures are a third of the page wide: a wide image gets a shorter figure (no empty band above it)."""
    height, width = view.prediction.image_size
    return 36 + int(264 * min(1.0, height / width))


def comparison_panels(view: View, model_key: tuple, palette_name: str, opacity: float, num_classes: int) -> dict:
    """The six panels of a dataset sample by chart key (``PANEL_ROWS``), from the shared cache."""
    sample = view.sample
    return _comparison_figures(model_key, sample.root, sample.stamp, sample.split, sample.index, palette_name,
                               float(opacity), panel_height(view), num_classes,
                               _truth=view.truth, _image=view.image, _predicted=view.prediction.mask)


def upload_panels(view: View, model_key: tuple, palette_name: str, opacity: float) -> dict:
    """The three panels of an upload (no truth) by chart key, in the image's own pixels, from the shared cache."""
    return _upload_figures(model_key, view.image_id, palette_name, float(opacity), panel_height(view),
                           _image=view.image, _prediction=view.prediction)


@st.cache_resource(show_spinner=False, max_entries=8)
def _upload_figures(model_key: tuple, image_id: str, palette_name: str, opacity: float, panel_height: int, *,
                    _image, _prediction) -> dict:
    """An upload's three panels, built once per input (a rerun for a clicked pixel or another widget
    reuses them; ``drawing.plot`` never mutates them)."""
    palette, size = get_palette(palette_name), pf.PANEL_MAX_SIZE
    figures = {
        "pred-image": mask_figures.mask_figure(_prediction.mask, _image, kind="image", max_size=size,
                                               title="Image", height=panel_height, hover=False),
        "pred-prediction": mask_figures.mask_figure(_prediction.mask, kind="mask", palette=palette, max_size=size,
                                                    title="Prediction", height=panel_height),
        "pred-overlay": mask_figures.mask_figure(_prediction.mask, _image, kind="overlay", opacity=opacity,
                                                 palette=palette, max_size=size, title="Prediction over the image",
                                                 height=panel_height),
    }
    return {key: inspector_figures.in_image_pixels(figure, _prediction.image_size) for key, figure in figures.items()}
