"""The Training page's live view of one run: status, progress, the numbers that move every few
batches (a fragment that refreshes itself while the run is live), and the charts, previews and log
below it, redrawn by a page rerun when an epoch ended (at most every 30 s) or, within a long epoch,
when the running loss moved (at most every minute)."""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd
import streamlit as st

from seglib.errors import SeglibError
from seglib.data import synthetic
from seglib.training import planning, provenance, scheduler
from seglib.training.runs import files as run_files
from seglib.training.runs import folders, readers
from seglib.training.runs.state import RunInfo, list_runs, run_state, training_config
from seglib.figures import progress_text
from seglib.figures import training as training_figures
from ui.drawing import config_source, describe_figures, guarded, plot, show_error
from ui.instructor import is_instructor
from ui.markdown import md_code, md_text, md_text_with_code
from ui.models import refresh_model_options
from ui.palette import current_palette_name
from ui.training import files
from ui.training.state import (ERROR_CHARS, LIVE_STATUSES, LOSS_LABELS, PINNED_KEY, RUN_KEY, allowed, default_run, notice,
                               on_pick_run, show_notice)

#: Seconds between two refreshes of the live view while a run is queued or starting.
POLL_SECONDS = 2.0
#: ... once it trains: the numbers move every few batches, and each refresh costs the viewer's
#: browser a redraw on the same cores (bench_lecture.py: one viewer polling every 2 s took 27 % of
#: the worker's images/s on 2 cores).
TRAINING_POLL_SECONDS = 5.0
#: Seconds between two checks for a newly started run, for a viewer who follows the active run.
IDLE_WATCH_SECONDS = 15.0
#: Least seconds between two redraws of the epoch view (curves, IoU per class, previews, the runs
#: table) while a run trains. A redraw is the whole page in the viewer's browser, on the cores the
#: worker trains on; with the lecture preset's 20-second epochs, redrawing at every epoch took a
#: tenth of the worker's images/s (bench_lecture.py). The numbers above the charts (epoch, best
#: mean IoU, running loss) still move at every poll. The first epoch is drawn at once.
EPOCH_REDRAW_SECONDS = 30.0
#: Least seconds between two redraws for the running loss alone (no epoch ended meanwhile): long
#: epochs still show their batches' loss fall. Its chart used to move at every poll; in the viewer's
#: browser that one Plotly chart cost about as much as all the numbers of the poll together.
RUNNING_LOSS_REDRAW_SECONDS = 60.0
STATUS_COLORS = {"queued": "gray", "running": "blue", "stopping": "orange", "stopped": "orange",
                 "finished": "green", "failed": "red", "interrupted": "orange"}


@guarded("Stopping the run")
def _on_stop(run_id: str) -> None:
    if not allowed("live", "Stopping"):
        return
    try:
        progress = scheduler.request_stop(run_id)
    except SeglibError as error:
        notice("live", "error", md_text(error, limit=ERROR_CHARS))
        return
    if progress.get("status") == "stopped":
        notice("live", "info", "Taken out of the queue.")
    else:
        notice("live", "info", "Stop requested: the worker finishes the current batch and saves last.keras.",
               while_status=LIVE_STATUSES)


@guarded("Resuming the run")
def _on_resume(run_id: str, epochs_key: str | None = None) -> None:
    if not allowed("live", "Resuming"):
        return
    try:
        epochs = int(st.session_state[epochs_key]) if epochs_key else None
        scheduler.resume_run(run_id, epochs=epochs)
    except SeglibError as error:
        notice("live", "error", md_text(error, limit=ERROR_CHARS))
        return
    notice("live", "success", "Resumed from last.keras: the history continues and the learning-rate schedule "
                       "picks up where it stopped.", while_status=LIVE_STATUSES)


def _status_line(run_id: str, progress: dict, config) -> None:
    """One line: status and preset badges, the run id and what it trains; Stop / Resume on the right."""
    status = str(progress.get("status") or "unknown")
    parts = [f":{STATUS_COLORS.get(status, 'gray')}-badge[{status}]"]
    if config is not None:
        parts.append(f":violet-badge[:material/tune: {config.preset}]")
    if progress.get("resume"):
        parts.append(":gray-badge[:material/replay: resumed]")
    parts.append(md_code(run_id))
    if config is not None:
        parts[-1] += " · " + config.summary().split(": ", 1)[-1]
    text_column, button_column = st.columns([5, 1], vertical_alignment="center")
    text_column.markdown(" ".join(parts))
    if progress.get("start"):  # the worker's own words for the start it used (from the run folder)
        text_column.caption(":material/model_training: " + md_text(progress["start"], limit=400))
    if status in LIVE_STATUSES:
        button_column.button("Stop", key=f"stop_{run_id}", icon=":material/stop_circle:", on_click=_on_stop,
                             args=(run_id,), disabled=not is_instructor() or status == "stopping", width="stretch",
                             help="Ends at the next batch and keeps last.keras; Resume continues from there.")
    elif status in ("stopped", "interrupted", "failed"):
        button_column.button("Resume", key=f"resume_{run_id}", icon=":material/play_arrow:",
                             on_click=_on_resume, args=(run_id,), disabled=not is_instructor(), width="stretch",
                             help="Continue from last.keras; the history and the learning-rate schedule go on.")


def _progress_block(progress: dict) -> None:
    status = str(progress.get("status") or "")
    phase = str(progress.get("phase") or "")
    elapsed = time.time() - float(progress.get("started_at") or time.time())
    fraction = progress_text.progress_fraction(progress)
    label = progress_text.progress_label(progress)
    if status == "queued":
        position = progress.get("queue_position") or 1
        st.info(f"**Queued, position {position}.** One run trains at a time on this machine; this one "
                "starts by itself when the runs before it end.", icon=":material/schedule:")
    elif status in ("running", "stopping") and phase in ("", "starting", "compiling"):
        title = ("**Compiling.** TensorFlow turns the model and the training step into a graph before the first "
                 "step; nothing is stuck." if phase == "compiling" else "**Starting** the training worker.")
        st.info(title + "\n\n" + progress_text.startup_text(progress, elapsed), icon=":material/hourglass_top:")
    elif status == "failed":
        st.error(progress.get("message") or progress.get("error") or "The run failed.", icon=":material/error:")
    elif status == "interrupted":
        st.warning(progress.get("message") or "The worker is gone.", icon=":material/warning:")
    elif status in ("stopped", "finished", "stopping") and progress.get("message"):
        st.caption(progress["message"])
    st.progress(fraction, text=label)


def _metrics_row(progress: dict, history: pd.DataFrame) -> None:
    status = str(progress.get("status") or "")
    columns = st.columns(5)
    epochs = int(progress.get("epochs") or 0)
    columns[0].metric("Epoch", f"{int(progress.get('epoch') or 0)} / {epochs}" if epochs else "—")
    speed = progress.get("images_per_second")
    columns[1].metric("Images / s", f"{float(speed):.1f}" if speed else "—",
                      help="Training throughput over the last steps.")
    if status == "finished":
        wall = float(progress.get("finished_at") or progress.get("updated_at") or 0) - float(
            progress.get("started_at") or 0)
        columns[2].metric("Wall time", progress_text.format_duration(wall))
    else:
        columns[2].metric("Time left", progress_text.format_duration(progress.get("eta_seconds"))
                          if status in LIVE_STATUSES else "—", help="Estimated from the recent throughput.")
    running = progress.get("running_loss")
    columns[3].metric("Running loss", f"{float(running):.4f}" if running is not None else "—",
                      help="Mean training loss so far in the current epoch.")
    best = history["val_mean_iou"].max() if len(history) and history["val_mean_iou"].notna().any() else None
    columns[4].metric("Best val mean IoU", f"{best:.3f}" if best is not None else "—")


def _controls(run_id: str, progress: dict, config) -> None:
    """Messages of the buttons; for a finished run, training it for more epochs."""
    status = str(progress.get("status") or "")
    if folders.is_reference(run_id):
        note = readers.read_meta(folders.run_dir(run_id))[0].get("note") or ""
        st.caption(":material/inventory_2: A **recorded reference run** shipped with the project (read-only): "
                   + md_text_with_code(note, limit=400))
        show_notice("live", status)
    elif status == "finished" and config is not None and is_instructor():
        columns = st.columns([1.1, 1.1, 3], vertical_alignment="bottom")
        epochs_key = f"more_epochs_{run_id}"
        columns[0].number_input("Train on up to epoch", min_value=config.train.epochs + 1,
                                value=config.train.epochs + 5, step=1, key=epochs_key)
        columns[1].button("Continue", key=f"continue_{run_id}", icon=":material/fast_forward:",
                          on_click=_on_resume, args=(run_id, epochs_key),
                          help="Train this finished run for more epochs, from last.keras.")
        with columns[2]:
            show_notice("live", status)
    else:
        show_notice("live", status)


def _epoch_charts(run_id: str, progress: dict, config, history: pd.DataFrame) -> None:
    """What changes once per epoch: loss and accuracy curves, the learning rate, IoU per class."""
    epochs = int(progress.get("epochs") or (config.train.epochs if config else 0))
    loss_figure, accuracy_figure = files.history_figures(
        run_id, epochs, config.train.loss if config is not None else "cross-entropy")
    left, right = st.columns(2)
    with left:
        plot(loss_figure, key="live_loss")
    with right:
        plot(accuracy_figure, key="live_accuracy")
    st.caption("Training solid, validation dashed, on the same axes. When the gap between them widens and "
               "the validation loss turns up while the training loss keeps falling, the model is memorising its "
               "training images (over-fitting). A validation curve that merely jumps from epoch to epoch is "
               "something else: a step too large, or the noise of a small validation set and of BatchNorm at "
               "small batches (the reference runs under Compare runs tell the two apart). Pixel accuracy is "
               "dominated by the background, which covers most pixels; mean IoU weighs every class the same, "
               "so it shows whether the small parts are learned.")
    if config is not None and config.train.loss != "cross-entropy":
        st.caption(f"This run trains with the **{LOSS_LABELS[config.train.loss].lower()}** loss: both loss "
                   "curves measure that loss, so they can be read against each other but not against a run "
                   "with another loss. Compare such runs on mean IoU and on the IoU of each class.")
    left, right = st.columns(2)
    with left:
        plot(files.class_iou_figure(run_id, current_palette_name()), key="live_class_iou")
    with right:
        if config is not None:
            spe = int(progress.get("steps_per_epoch") or 0) or planning.steps_per_epoch(config)
            schedule = planning.lr_schedule(config, steps=spe * config.train.epochs)
            position = None
            if progress.get("epoch"):
                position = (int(progress["epoch"]) - 1) + int(progress.get("step") or 0) / max(spe, 1)
            plot(training_figures.lr_figure(schedule, steps_per_epoch=spe, history=history,
                                                   position=position), key="live_lr")


def _running_loss(run_id: str, progress: dict) -> None:
    """The running loss of the current epoch, batch by batch (the last epoch between two)."""
    steps = files.load_steps(run_id)
    epoch = int(progress.get("epoch") or 0) or None
    if epoch is not None and len(steps) and not (steps["epoch"] == epoch).any():
        epoch = int(steps["epoch"].max())  # between epochs: keep the last one drawn
    plot(files.running_loss_figure(run_id, epoch, int(progress.get("steps_per_epoch") or 0)),
         key="live_running_loss")


def _preview_strip(run_id: str) -> None:
    st.markdown("**Validation previews**: the same images after every epoch (image, ground truth, "
                "prediction). Hover a mask for class names.")
    previews = files.load_previews(run_id)
    if previews is None:
        st.caption("The preview images appear once the worker has read the dataset.")
        return
    if "damaged" in previews:
        st.warning(f"No previews: {previews['damaged']}.", icon=":material/broken_image:")
        return
    try:
        trained_on = provenance.folder_record(folders.run_dir(run_id))
    except SeglibError:  # deleted meanwhile: the previews say nothing more
        trained_on = None
    if trained_on is not None and trained_on.synthetic:  # the previews are the generator's drawings
        st.caption(":material/draw: " + synthetic.SYNTHETIC_NOTE)
    epochs = previews["epochs"]
    epoch = None
    if epochs:
        slider_key, latest_key = f"preview_epoch_{run_id}", f"preview_latest_{run_id}"
        # Follow the newest epoch unless the viewer moved the slider back.
        if (st.session_state.get(slider_key) not in epochs
                or st.session_state.get(slider_key) == st.session_state.get(latest_key)):
            st.session_state[slider_key] = epochs[-1]
        st.session_state[latest_key] = epochs[-1]
        if len(epochs) > 1:
            epoch = st.select_slider("Epoch of the predictions", epochs, key=slider_key)
        else:
            epoch = epochs[0]
    plot(files.preview_figure(run_id, epoch, current_palette_name()), key="live_previews")


def _read_run(run_id: str) -> tuple[dict, object, str] | None:
    """Progress (with a pending stop shown as 'stopping'), config and status; None when the run is gone."""
    try:
        progress = run_state(run_id)
    except SeglibError as error:  # deleted meanwhile
        show_error(error)
        return None
    if progress.get("stop_requested") and progress.get("status") == "running":
        # The STOP file is written; the worker notices it at the end of the current batch.
        progress = {**progress, "status": "stopping"}
    config = None
    try:
        config = training_config(folders.run_dir(run_id))
    except SeglibError as error:
        show_error(error)
    return progress, config, str(progress.get("status") or "")


def redraw_due(stamps: tuple, drawn: tuple | None, drawn_at: float, now: float,
               first_epoch: bool = False) -> bool:
    """Whether the live view should redraw the page for the charts below it. ``stamps`` and
    ``drawn`` are the (epoch files, steps file) stamps now and when the page was drawn at
    ``drawn_at``. An epoch's files changed: at most every EPOCH_REDRAW_SECONDS (the first epoch at
    once); only the running loss moved: at most every RUNNING_LOSS_REDRAW_SECONDS."""
    drawn = drawn or (None, None)
    if stamps[0] != drawn[0]:
        return first_epoch or now - drawn_at >= EPOCH_REDRAW_SECONDS
    return stamps[1] != drawn[1] and now - drawn_at >= RUNNING_LOSS_REDRAW_SECONDS


def _stamps(run_id: str) -> tuple:
    return files.epoch_stamp(run_id), files.run_file_stamp(run_id, run_files.STEPS_FILE)


@guarded("Live view")
def live_view(run_id: str, polling: bool, drawn: tuple, drawn_at: float, first_epoch: bool) -> None:
    """The part of a run that moves every few seconds; a fragment that reruns every POLL_SECONDS while
    ``polling``. It stays light (status, progress, numbers; no chart) so a projector or a lecture hall
    watching costs the worker little; the charts below are redrawn by a rerun of the page that this
    fragment asks for when the run's files changed (``redraw_due``). ``drawn``, ``drawn_at`` and
    ``first_epoch`` say what the page drew them from: the fragment keeps the arguments of the page
    run that drew it."""
    read = _read_run(run_id)
    if read is None:
        return
    progress, config, status = read
    if polling != (status in LIVE_STATUSES):
        # The run started or ended since the page was drawn: redraw the whole page, so polling
        # starts or stops, the runs table is current and the sidebar offers the new checkpoint.
        refresh_model_options()
        st.rerun(scope="app")
    if polling and redraw_due(_stamps(run_id), drawn, drawn_at, time.time(), first_epoch):
        st.rerun(scope="app")  # an epoch ended or the running loss moved: redraw the charts (not on every poll)
    history = files.load_history(run_id)
    _status_line(run_id, progress, config)
    _progress_block(progress)
    _metrics_row(progress, history)
    _controls(run_id, progress, config)


def epoch_view(run_id: str) -> None:
    """The run's charts: the running loss, then per epoch the curves, learning rate, IoU per class,
    previews; the log."""
    read = _read_run(run_id)
    if read is None:
        return
    progress, config, status = read
    # The caption line of this run's figures on a slide: this run, its model and dataset.
    describe_figures(**(config_source(config, run=run_id) if config is not None
                        else {"run": run_id, "model": None, "dataset": None}))
    history = files.load_history(run_id)
    class_iou = files.load_class_iou(run_id)
    damage = [progress.get("damaged")] + [table.attrs.get("damaged") or readers.damage_note(table)
                                          for table in (history, files.load_steps(run_id), class_iou)]
    if any(damage):
        st.warning("Some of this run's files are damaged; what can be read is shown: "
                   + "; ".join(text for text in damage if text) + ".", icon=":material/broken_image:")
    _running_loss(run_id, progress)
    _epoch_charts(run_id, progress, config, history)
    _preview_strip(run_id)
    if status in ("failed", "interrupted") or (status and is_instructor() and status != "queued"):
        with st.expander("Worker log", icon=":material/description:"):
            log = readers.read_log(folders.run_dir(run_id), max_chars=8_000)
            st.code(files.clean_log(log) if log.strip() else "(empty)", language="text")


@guarded("Watching for a new run")
def watch_for_new_run(shown: str | None) -> None:
    """For a viewer who follows the active run: notice a run started elsewhere (idle polling)."""
    if default_run(list_runs()) != shown:
        st.rerun(scope="app")


def live_section(infos: list[RunInfo], labels: dict[str, str]) -> None:
    """The run picker and the shown run's live and epoch views (a note when there is no run yet)."""
    st.subheader("Live view")
    if not is_instructor():
        st.caption(":material/lock: Viewing only: starting, stopping and deleting runs is for the instructor "
                   "(passcode in the sidebar). Everything else on this page is yours to explore.")
    if not infos:
        st.info("No runs yet. Start one above: the curves, the progress and the predictions of the run "
                "appear here while it trains.", icon=":material/monitoring:")
        return
    by_id = {info.id: info for info in infos}
    st.selectbox("Run", list(by_id), key=RUN_KEY, on_change=on_pick_run,
                 format_func=lambda run_id: f"{labels[run_id]} · {by_id[run_id].preset} · "
                                            f"{datetime.fromtimestamp(by_id[run_id].created_at):%d %b %H:%M}",
                 help="The running run is shown by default; pick any other run of this machine.")
    shown = st.session_state[RUN_KEY]
    polling = by_id[shown].status in LIVE_STATUSES
    every = None
    if polling:  # fast while the start-up steps tick by, slower once the batches flow
        phase = by_id[shown].phase if by_id[shown].status == "running" else ""
        every = TRAINING_POLL_SECONDS if phase in ("training", "validating", "saving") else POLL_SECONDS
    # The stamps before the charts are drawn below; before the first epoch there are no curves to
    # keep, so the first one is drawn as soon as it lands.
    st.fragment(live_view, run_every=every)(shown, polling, _stamps(shown), time.time(),
                                            not by_id[shown].epochs_done)
    epoch_view(shown)
    if not polling and not st.session_state.get(PINNED_KEY):
        st.fragment(watch_for_new_run, run_every=IDLE_WATCH_SECONDS)(shown)
