"""A run folder's files (history, steps, IoU per class, previews, log) and the figures drawn from
them, read through caches keyed on the files' stamps and shared by every viewer.

Run files change only when the worker writes them. With a lecture hall on the Training page,
each viewer's live view reruns every few seconds; building each table and figure once per
change, not once per viewer, is what keeps the CPU for the worker. ``ui.drawing.plot`` never
mutates a figure, so sharing the objects is safe.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from seglib import settings
from seglib.classes import CLASS_NAMES, get_palette
from seglib.errors import RunError
from seglib.training import diagnosis, reference
from seglib.training.runs import files as run_files
from seglib.training.runs import folders, previews, readers
from seglib.figures import training as training_figures

from ui.stamps import file_stamp


def run_file_stamp(run_id: str, name: str) -> tuple:
    """The stamp of one file of the run (``run_files.HISTORY_FILE``, ...)."""
    return file_stamp(folders.run_dir(run_id) / name)


def previews_stamp(run_id: str) -> tuple:
    folder = folders.run_dir(run_id) / run_files.PREVIEWS_DIR
    return (file_stamp(folder), file_stamp(folder / run_files.PREVIEW_INPUTS))


def epoch_stamp(run_id: str) -> tuple:
    """Changes when an epoch's files change (history, IoU per class, previews) or the run ends."""
    return (run_file_stamp(run_id, run_files.HISTORY_FILE), run_file_stamp(run_id, run_files.CLASS_IOU_FILE),
            previews_stamp(run_id))


def _table_or_empty(reader, run_id: str, name: str) -> pd.DataFrame:
    """A run's CSV (``reader``: ``readers.read_history``, ...); an empty one that says why
    (``attrs["damaged"]``) when the file is damaged."""
    try:
        return reader(folders.run_dir(run_id))
    except readers.DamagedRunError as error:
        table = readers.empty_table(name)
        table.attrs["damaged"] = getattr(error, "reason", str(error))
        return table


@st.cache_data(show_spinner=False, max_entries=64)
def _history(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(readers.read_history, run_id, run_files.HISTORY_FILE)


@st.cache_data(show_spinner=False, max_entries=64)
def _steps(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(readers.read_steps, run_id, run_files.STEPS_FILE)


@st.cache_data(show_spinner=False, max_entries=64)
def _class_iou(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(readers.read_class_iou, run_id, run_files.CLASS_IOU_FILE)


@st.cache_data(show_spinner=False, max_entries=16)
def _previews(run_id: str, stamp: tuple):
    try:
        return previews.load_previews(folders.run_dir(run_id))
    except readers.DamagedRunError as error:
        return {"damaged": getattr(error, "reason", str(error))}


@st.cache_data(show_spinner=False, max_entries=4)
def _reference_comparison(stamps: tuple):
    return diagnosis.reference_comparison()


def reference_comparison():
    """What the shipped optimizer reference runs show (``diagnosis.reference_comparison``), read again
    only when one of their histories changes; None when one is missing."""
    try:
        stamps = tuple(run_file_stamp(folders.REFERENCE_PREFIX + key, run_files.HISTORY_FILE)
                       for key in reference.OPTIMIZER_RUNS)
    except RunError:
        return None
    return _reference_comparison(stamps)


def load_history(run_id: str) -> pd.DataFrame:
    return _history(run_id, run_file_stamp(run_id, run_files.HISTORY_FILE))


def load_steps(run_id: str) -> pd.DataFrame:
    return _steps(run_id, run_file_stamp(run_id, run_files.STEPS_FILE))


def load_class_iou(run_id: str) -> pd.DataFrame:
    return _class_iou(run_id, run_file_stamp(run_id, run_files.CLASS_IOU_FILE))


def load_previews(run_id: str):
    """The validation previews (None before the worker has read the dataset; ``{"damaged": why}``)."""
    return _previews(run_id, previews_stamp(run_id))


@st.cache_resource(show_spinner=False, max_entries=32)
def _history_figures(run_id: str, stamp: tuple, epochs: int, loss: str):
    history = _history(run_id, stamp)
    return (training_figures.loss_figure(history, epochs=epochs, loss=loss),
            training_figures.accuracy_figure(history, epochs=epochs))


def history_figures(run_id: str, epochs: int, loss: str = "cross-entropy"):
    """The loss and the accuracy figure of the run's history, on an axis of ``epochs`` epochs."""
    return _history_figures(run_id, run_file_stamp(run_id, run_files.HISTORY_FILE), epochs, loss)


@st.cache_resource(show_spinner=False, max_entries=32)
def _class_iou_figure(run_id: str, stamp: tuple, palette_name: str):
    class_iou = _class_iou(run_id, stamp)
    shown = get_palette(palette_name)
    if not len(class_iou):
        return training_figures.class_iou_figure([], palette=shown)
    last = class_iou.iloc[-1]
    values = np.array([last.get(name, np.nan) for name in CLASS_NAMES], dtype=np.float64)
    return training_figures.class_iou_figure(values, palette=shown, epoch=int(last["epoch"]))


def class_iou_figure(run_id: str, palette_name: str):
    """The validation IoU per class of the run's last epoch."""
    return _class_iou_figure(run_id, run_file_stamp(run_id, run_files.CLASS_IOU_FILE), palette_name)


@st.cache_resource(show_spinner=False, max_entries=32)
def _preview_figure(run_id: str, stamp: tuple, epoch: int | None, palette_name: str):
    previews = _previews(run_id, stamp)
    prediction = previews["predictions"][epoch] if epoch is not None else None
    return training_figures.preview_figure(previews["images"], previews["truth"], prediction,
                                           palette=get_palette(palette_name),
                                           stems=previews["stems"], epoch=epoch)


def preview_figure(run_id: str, epoch: int | None, palette_name: str):
    """Image, ground truth and the prediction after ``epoch`` of every preview image."""
    return _preview_figure(run_id, previews_stamp(run_id), epoch, palette_name)


@st.cache_resource(show_spinner=False, max_entries=32)
def _running_loss_figure(run_id: str, stamp: tuple, epoch: int | None, steps_per_epoch: int):
    return training_figures.running_loss_figure(_steps(run_id, stamp), epoch=epoch,
                                                steps_per_epoch=steps_per_epoch)


def running_loss_figure(run_id: str, epoch: int | None, steps_per_epoch: int):
    """The running loss of ``epoch`` (a step-level chart of the current epoch)."""
    return _running_loss_figure(run_id, run_file_stamp(run_id, run_files.STEPS_FILE), epoch, steps_per_epoch)


def clean_log(text: str) -> str:
    """The worker's log with this machine's folders replaced by their display names."""
    for folder in sorted({settings.PROJECT_ROOT, settings.runs_dir(), *settings.data_roots()},
                         key=lambda p: len(str(p)), reverse=True):
        text = text.replace(str(folder), settings.display_path(folder))
    return text
