"""The Training page's runs on this machine: a table that refreshes itself while a run is live,
the comparison of several runs' curves, and the actions on the shown run (download, use its
checkpoint on the other pages, rename, delete)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from seglib.errors import SeglibError
from seglib.training import diagnosis, reference, scheduler
from seglib.training.runs import files as run_files
from seglib.training.runs import folders
from seglib.training.runs.state import RunInfo, list_runs
from seglib.figures import slides
from seglib.figures import training as training_figures
from ui.drawing import guarded, plot, runs_source
from ui.instructor import is_instructor
from ui.markdown import md_code, md_text
from ui.models import MODEL_KEY, ModelRef, choose_model, forget_model, model_options, refresh_model_options
from ui.training import files
from ui.training.state import (ERROR_CHARS, LIVE_STATUSES, RUN_KEY, allowed, notice, run_labels, show_notice,
                               show_run)

#: Seconds between two refreshes of the runs table while a run is live.
TABLE_POLL_SECONDS = 15.0


@guarded("Renaming the run")
def _on_rename(run_id: str) -> None:
    if not allowed("actions", "Renaming"):
        return
    try:
        folders.rename_run(run_id, st.session_state.get(f"rename_{run_id}", ""))
    except SeglibError as error:
        notice("actions", "error", md_text(error, limit=ERROR_CHARS))
        return
    notice("actions", "success", "Renamed.")


@guarded("Deleting the run")
def _on_delete(run_id: str) -> None:
    if not allowed("actions", "Deleting"):
        return
    if not st.session_state.get(f"confirm_delete_{run_id}"):
        notice("actions", "error", "Tick the confirmation box first.")
        return
    try:
        scheduler.delete_run(run_id)
    except SeglibError as error:
        notice("actions", "error", md_text(error, limit=ERROR_CHARS))
        return
    st.session_state.pop(f"confirm_delete_{run_id}", None)
    refresh_model_options()
    forget_model(ModelRef.run(run_id))  # when the sidebar used its checkpoint
    if st.session_state.get(RUN_KEY) == run_id:
        show_run(None)
    notice("actions", "success", f"Deleted run {md_code(run_id)}.")


@guarded("Using the run's model")
def _on_use_model(run_id: str) -> None:
    """Make the run's checkpoint the sidebar's model."""
    refresh_model_options()  # the sidebar caches the list of run checkpoints for a few seconds
    ref = ModelRef.run(run_id)
    if ref.to_url() not in model_options():
        notice("actions", "error", "This run has no checkpoint the other pages can use yet (wait for an epoch "
                                   "to finish, or stop the run).")
        return
    choose_model(ref)
    notice("actions", "success", "The sidebar's model is now this run's checkpoint: the Predictions and Atrous "
                                 "pages use it.")


def _file_reader(path: Path):
    """Read a file only when its download button is clicked (checkpoints can be 100+ MB)."""
    return lambda: path.read_bytes()


def _downloadable(path: Path) -> bool:
    """Whether ``path`` is a regular file this server may read: a button is offered for nothing else (a
    folder named best.keras gave an enabled button that downloaded nothing)."""
    return path.is_file() and os.access(path, os.R_OK)


@guarded("The runs table")
def runs_table(polling: bool, labels: dict[str, str]) -> None:
    """The table of runs; a fragment that refreshes itself while ``polling`` (see ``runs_section``)."""
    current = list_runs()
    if polling and not any(info.status in LIVE_STATUSES for info in current):
        st.rerun(scope="app")  # the last live run ended: stop polling, redraw the page
    names = {**labels, **run_labels(current)}
    table = pd.DataFrame([{
        "name": names[info.id],
        "status": info.status + (f" (#{info.queue_position})" if info.queue_position else "")
                  + (" (reference)" if info.reference else ""),
        "preset": info.preset,
        "created": datetime.fromtimestamp(info.created_at),
        "epochs": f"{info.epochs_done} / {info.epochs}",
        "best val mIoU": info.best_val_mean_iou,
        "start": info.start,
        "run id": info.id,
        **({"damaged": info.damaged} if any(i.damaged for i in current) else {}),
    } for info in current])
    st.dataframe(table, hide_index=True, width="stretch", key="runs_table",
                 column_config={
                     "created": st.column_config.DatetimeColumn(format="D MMM YYYY, HH:mm"),
                     "best val mIoU": st.column_config.ProgressColumn(format="%.3f", min_value=0.0,
                                                                      max_value=1.0),
                 })


def table_polls(infos: list[RunInfo], shown: str | None) -> bool:
    """Whether the runs table refreshes itself: while a run is live and the live view shows another
    run. While the live view follows a live run, its redraws of the page refresh this table too (at
    the epochs, and when a run starts or ends), so a second poll would only cost the viewer's browser."""
    live = {info.id for info in infos if info.status in LIVE_STATUSES}
    return bool(live) and shown not in live


def runs_section(infos: list[RunInfo], labels: dict[str, str], shown: str | None) -> None:
    """The runs table, the comparison of runs, and the actions on the run shown in the live view."""
    st.subheader("Runs on this machine")
    by_id = {info.id: info for info in infos}
    polling = table_polls(infos, shown)
    st.fragment(runs_table, run_every=TABLE_POLL_SECONDS if polling else None)(polling, labels)

    st.markdown(
        "**Compare runs.** Curves of several runs on the same axes: one colour per run, training solid, "
        "validation dashed. The recorded reference runs train the same model on the same images, each one "
        "change from the one before: " + "; ".join(md_text(spec["name"]) for spec in reference.OPTIMIZER_RUNS.values())
        + "; and " + ", ".join(md_text(spec["name"]) for spec in reference.REPEAT_RUNS.values())
        + ", to show how far runs with the same settings end apart. Three different things can make curves look bad, with different remedies: a **step too large** "
        "(the jumps shrink when only the learning rate is lowered and decays: compare two runs that differ "
        "there alone), the **noise** of a small validation set and of BatchNorm statistics taken from small "
        "batches (jumps that a lower rate leaves in place), and **over-fitting** proper (the gap between training "
        "and validation widens while validation stops improving). What the reference runs show, computed from "
        "their history files:")
    comparison = files.reference_comparison()
    if comparison is None:
        st.caption("The reference runs are not on this machine: `python -m seglib reference-runs` records them.")
    else:
        st.markdown("\n".join(f"- {bullet}" for bullet in comparison["bullets"]))
        with st.expander("Each reference run's numbers"):
            for name, reading in comparison["runs"].values():
                st.markdown(diagnosis.reading_text(md_text(name), reading))
    with_history = [info.id for info in infos if info.epochs_done > 0]
    own = [run_id for run_id in with_history if not folders.is_reference(run_id)]
    optimizer_references = [folders.REFERENCE_PREFIX + key for key in reference.OPTIMIZER_RUNS]
    default = own[:3] or [run_id for run_id in optimizer_references if run_id in with_history]
    pick, metric_column = st.columns([3, 2], vertical_alignment="bottom")
    chosen = pick.multiselect("Runs to compare", with_history, default=default, key="training_compare",
                              format_func=labels.get, placeholder="Runs with at least one epoch")
    metric = metric_column.radio("Metric", list(training_figures.OVERLAY_METRICS), horizontal=True,
                                 format_func={"loss": "loss", "accuracy": "accuracy", "mean_iou": "mean IoU",
                                              "weight_norm": "weight norm"}.get,
                                 key="training_compare_metric")
    histories = {labels[run_id]: files.load_history(run_id) for run_id in chosen if run_id in by_id}
    plot(training_figures.overlay_figure(histories, metric=metric), key="compare_chart",
         caption=slides.caption_line(**runs_source(run_id for run_id in chosen if run_id in by_id)))

    if shown is None or shown not in by_id:
        return
    info = by_id[shown]
    st.markdown(f"**Actions for {md_text(labels[shown])}** (the run picked in the live view)")
    folder = folders.run_dir(shown)
    left, middle, right = st.columns(3)
    with left.container(border=True):
        st.markdown(":material/download: **Download**")
        st.download_button("history.csv", data=_file_reader(folder / run_files.HISTORY_FILE),
                           file_name=f"{shown}-history.csv", mime="text/csv", on_click="ignore",
                           disabled=not _downloadable(folder / run_files.HISTORY_FILE), key=f"download_history_{shown}")
        best = folder / run_files.BEST_CHECKPOINT
        st.download_button("best.keras", data=_file_reader(best), file_name=f"{shown}-best.keras",
                           mime="application/octet-stream", on_click="ignore", disabled=not _downloadable(best),
                           key=f"download_best_{shown}",
                           help="The checkpoint with the best validation mean IoU (Keras format).")
    with middle.container(border=True):
        st.markdown(":material/image_search: **Use on the other pages**")
        usable = info.status not in LIVE_STATUSES and (_downloadable(best)
                                                       or _downloadable(folder / run_files.LAST_CHECKPOINT))
        in_use = st.session_state.get(MODEL_KEY) == ModelRef.run(shown).to_url()
        st.button("Use this model", key=f"use_{shown}", on_click=_on_use_model, args=(shown,),
                  disabled=not usable or in_use,
                  help="Makes this run's checkpoint the model in the sidebar (Predictions, Atrous scales).")
        if not usable:
            st.caption("Available once the run has a checkpoint and is no longer training.")
        if in_use:
            st.caption(":material/check: This is the sidebar's model.")
    with right.container(border=True):
        st.markdown(":material/edit: **Rename or delete**")
        rename_key = f"rename_{shown}"
        if rename_key not in st.session_state:
            st.session_state[rename_key] = info.name
        locked = not is_instructor() or info.reference
        st.text_input("Name", key=rename_key, disabled=locked, max_chars=200, label_visibility="collapsed")
        buttons = st.columns(2)
        buttons[0].button("Rename", key=f"do_rename_{shown}", on_click=_on_rename, args=(shown,), disabled=locked)
        running = info.status in run_files.ACTIVE_STATUSES
        confirm = st.checkbox("Yes, delete this run and its checkpoints", key=f"confirm_delete_{shown}",
                              disabled=locked or running)
        buttons[1].button("Delete", key=f"do_delete_{shown}", type="primary", icon=":material/delete:",
                          on_click=_on_delete, args=(shown,), disabled=locked or running or not confirm)
        if running:
            st.caption("A running run cannot be deleted: stop it first.")
        if info.reference:
            st.caption("A recorded reference run is part of the project: it cannot be renamed or deleted.")
    show_notice("actions")

