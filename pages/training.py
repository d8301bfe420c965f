"""Training: start a run, watch it learn live, compare runs.

The page never trains. ``seglib.training.runs.start_run`` launches the training worker
(``python -m seglib train``) as a separate process that writes a run folder;
this page only reads that folder. A reload, a page switch or a second viewer
therefore see the same run, and a crash of training cannot take the page down.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pages import common
from seglib.training import reference, runs
from seglib import settings
from seglib.figures import training as training_figures
from seglib.model.pretrain import start_explanation
from seglib.classes import CLASS_NAMES
from seglib.config import WEIGHT_LABELS, WEIGHTS, get_preset, preset_names
from seglib.training.losses import LOSSES
from seglib.errors import SeglibError

common.page_header(
    "Training",
    "Training runs in a **worker process** on this machine, not in your browser: a reload, another page "
    "or a second viewer all see the same run, and one run trains at a time (a second one waits in a "
    "queue). Start a run here, watch its curves and predictions improve, and compare runs at the bottom.",
)

#: How each training loss reads in the form.
LOSS_LABELS = {"cross-entropy": "Cross-entropy", "weighted-cross-entropy": "Weighted cross-entropy",
               "focal": "Focal", "dice": "Dice", "cross-entropy+dice": "Cross-entropy + Dice"}
#: Seconds between two refreshes of the live view while a run is queued or training.
POLL_SECONDS = 2.0
#: ... once it trains: the numbers move every few batches, and each refresh costs the viewer's
#: browser a redraw on the same cores (bench_lecture.py: one viewer polling every 2 s took 27 % of
#: the worker's images/s on 2 cores).
TRAINING_POLL_SECONDS = 5.0
#: Seconds between two refreshes of the runs table while a run is live.
TABLE_POLL_SECONDS = 15.0
#: Seconds between two checks for a newly started run, for a viewer who follows the active run.
IDLE_WATCH_SECONDS = 15.0
#: Statuses during which the live view refreshes itself.
LIVE_STATUSES = ("queued", "running", "stopping")
#: Session keys (small values only; the truth is on disk).
RUN_KEY = "training_run"          # the run shown (also ?run= in the URL once chosen)
PINNED_KEY = "training_run_pinned"  # True once the user (or a Start) chose the run
NOTICE_KEY = "training_notice"      # (kind, text) left by a button callback for the next run
#: Error texts are escaped for Markdown and cut here (names in them are cut shorter by seglib).
ERROR_CHARS = 1_000
EPOCH_STAMP_KEY = "training_epoch_stamp"  # the epoch files' stamp when the epoch view was last drawn
STATUS_COLORS = {"queued": "gray", "running": "blue", "stopping": "orange", "stopped": "orange",
                 "finished": "green", "failed": "red", "interrupted": "orange"}

can_control = common.is_instructor()


# ---------------------------------------------------------------------------
# Small helpers (widget glue only; the logic is in seglib.training.runs)
# ---------------------------------------------------------------------------

def _notice(area: str, kind: str, text: str) -> None:
    """Leave a message, shown in ``area`` ('start', 'live' or 'actions') until the user moves on.

    It replaces any earlier message: the live view's refreshes keep it, the
    user's next action on this page (a button, picking a run) or leaving the
    page clears it.
    """
    _clear_notices()
    st.session_state[f"{NOTICE_KEY}_{area}"] = (kind, text)


def _clear_notices() -> None:
    for area in ("start", "live", "actions"):
        st.session_state.pop(f"{NOTICE_KEY}_{area}", None)


def _show_notice(area: str) -> None:
    kind, text = st.session_state.get(f"{NOTICE_KEY}_{area}", (None, None))
    if kind == "error":
        st.error(text, icon=":material/error:")
    elif kind == "success":
        st.success(text, icon=":material/check_circle:")
    elif kind == "info":
        st.info(text, icon=":material/info:")


def _show_run(run_id: str | None) -> None:
    """Make ``run_id`` the shown run and keep it in the URL (callbacks only: before widgets exist)."""
    if run_id is None:
        st.session_state.pop(RUN_KEY, None)
        st.session_state[PINNED_KEY] = False
        if "run" in st.query_params:
            del st.query_params["run"]
        return
    st.session_state[RUN_KEY] = run_id
    st.session_state[PINNED_KEY] = True
    st.query_params["run"] = run_id


def _on_pick_run() -> None:
    _clear_notices()  # the user moved on to another run
    _show_run(st.session_state.get(RUN_KEY))


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def _table_or_empty(reader, run_id: str, name: str) -> pd.DataFrame:
    """A run's CSV; an empty one that says why (``attrs["damaged"]``) when the file is damaged."""
    try:
        return reader(run_id)
    except runs.DamagedRunError as error:
        table = runs.empty_table(name)
        table.attrs["damaged"] = getattr(error, "reason", str(error))
        return table


# Run files change only when the worker writes them: cache on their stamp, shared by all viewers.
@st.cache_data(show_spinner=False, max_entries=64)
def _history(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(runs.read_history, run_id, runs.HISTORY_FILE)


@st.cache_data(show_spinner=False, max_entries=64)
def _steps(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(runs.read_steps, run_id, runs.STEPS_FILE)


@st.cache_data(show_spinner=False, max_entries=64)
def _class_iou(run_id: str, stamp: tuple) -> pd.DataFrame:
    return _table_or_empty(runs.read_class_iou, run_id, runs.CLASS_IOU_FILE)


@st.cache_data(show_spinner=False, max_entries=16)
def _previews(run_id: str, stamp: tuple):
    try:
        return runs.read_previews(run_id)
    except runs.DamagedRunError as error:
        return {"damaged": getattr(error, "reason", str(error))}


def load_history(run_id: str) -> pd.DataFrame:
    return _history(run_id, _stamp(runs.run_dir(run_id) / runs.HISTORY_FILE))


def load_steps(run_id: str) -> pd.DataFrame:
    return _steps(run_id, _stamp(runs.run_dir(run_id) / runs.STEPS_FILE))


def _previews_stamp(run_id: str) -> tuple:
    folder = runs.run_dir(run_id) / runs.PREVIEWS_DIR
    return (_stamp(folder), _stamp(folder / runs.PREVIEW_INPUTS))


# Figures of the files above, built once per change and shared by every viewer: with a
# lecture hall on this page, each viewer's live view reruns every POLL_SECONDS, and
# rebuilding the preview strip (~0.1 s) for each of them is what filled the CPU.
# ``common.plot`` never mutates a figure, so sharing the objects is safe.
@st.cache_resource(show_spinner=False, max_entries=32)
def _history_figures(run_id: str, stamp: tuple, epochs: int):
    history = _history(run_id, stamp)
    return (training_figures.loss_figure(history, epochs=epochs),
            training_figures.accuracy_figure(history, epochs=epochs))


@st.cache_resource(show_spinner=False, max_entries=32)
def _class_iou_figure(run_id: str, stamp: tuple, palette_name: str):
    class_iou = _class_iou(run_id, stamp)
    shown = common.get_palette(palette_name)
    if not len(class_iou):
        return training_figures.class_iou_figure([], palette=shown)
    last = class_iou.iloc[-1]
    values = np.array([last.get(name, np.nan) for name in CLASS_NAMES], dtype=np.float64)
    return training_figures.class_iou_figure(values, palette=shown, epoch=int(last["epoch"]))


@st.cache_resource(show_spinner=False, max_entries=32)
def _preview_figure(run_id: str, stamp: tuple, epoch: int | None, palette_name: str):
    previews = _previews(run_id, stamp)
    prediction = previews["predictions"][epoch] if epoch is not None else None
    return training_figures.preview_figure(previews["images"], previews["truth"], prediction,
                                           palette=common.get_palette(palette_name),
                                           stems=previews["stems"], epoch=epoch)


def _clean_log(text: str) -> str:
    """The worker's log with this machine's folders replaced by their display names."""
    for folder in sorted({settings.PROJECT_ROOT, settings.runs_dir(), *settings.data_roots()},
                         key=lambda p: len(str(p)), reverse=True):
        text = text.replace(str(folder), settings.display_path(folder))
    return text


def _run_labels(infos: list[runs.RunInfo]) -> dict[str, str]:
    """Display names of runs, made unique with the run id where two runs share a name."""
    names = [info.name for info in infos]
    return {info.id: info.name if names.count(info.name) == 1 else f"{info.name} ({info.id})" for info in infos}


def _default_run(infos: list[runs.RunInfo]) -> str | None:
    """The run a viewer sees without choosing: the running one, else the next queued, else the newest."""
    for statuses in (runs.ACTIVE_STATUSES, ("queued",)):
        matching = [info for info in infos if info.status in statuses]
        if matching:
            return min(matching, key=lambda info: info.queue_position or 0).id
    return infos[0].id if infos else None


# ---------------------------------------------------------------------------
# Start a run: a preset, its hyperparameters, and an estimate before pressing Start
# ---------------------------------------------------------------------------

#: Form fields: dotted config field -> widget key.
FORM_FIELDS = ("train.epochs", "train.batch_size", "model.image_size", "data.train_count", "data.val_count",
               "train.optimizer", "train.learning_rate", "train.decay_steps", "train.decay_rate",
               "train.weight_decay", "train.early_stopping_patience", "model.width", "model.aspp_filters",
               "model.decoder_filters", "data.augment", "model.weights", "train.freeze_backbone_epochs",
               "train.loss")
PRESET_KEY = "form_preset"
NAME_KEY = "form_name"


def _key(field: str) -> str:
    return "form_" + field.replace(".", "_")


def _preset_value(config, field: str):
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def _fill_form(force: bool = False) -> None:
    """Prefill every field from the chosen preset (all of them when the preset changes)."""
    config = get_preset(st.session_state[PRESET_KEY])
    for field in FORM_FIELDS:
        if force or _key(field) not in st.session_state:
            st.session_state[_key(field)] = _preset_value(config, field)


def _form_config(data_root: str):
    """The RunConfig the form describes (ConfigError with the offending field if a value is wrong)."""
    overrides = {field: st.session_state[_key(field)] for field in FORM_FIELDS}
    overrides["data.root"] = data_root
    return get_preset(st.session_state[PRESET_KEY]).with_overrides(overrides)


def _on_start(data_root: str) -> None:
    if not common.is_instructor():
        _notice("start", "error", "Starting a run needs the instructor passcode (sidebar).")
        return
    try:
        config = _form_config(data_root)
        run_id = runs.start_run(config, name=st.session_state.get(NAME_KEY) or None)
        progress = runs.read_progress(run_id)
    except SeglibError as error:
        _notice("start", "error", f"The run was not started: {common.md_text(error, limit=ERROR_CHARS)}")
        return
    _show_run(run_id)
    if progress.get("status") == "queued":
        _notice("live", "info", f"Another run is training: this one is queued (position "
                        f"{progress.get('queue_position') or 1}) and starts when the machine is free.")
    else:
        _notice("live", "success", "Started. The worker imports TensorFlow and compiles the model before the "
                                   "first step; each start-up step shows below while it happens.")


def _dataset_root_value(root: Path) -> str:
    """The config's ``data.root``: relative to the data folder when inside it (a portable config)."""
    try:
        return root.relative_to(settings.data_dir()).as_posix() or "."
    except ValueError:
        return str(root)


def start_form() -> None:
    presets = preset_names()
    if st.session_state.get(PRESET_KEY) not in presets:
        st.session_state[PRESET_KEY] = presets[0]
    _fill_form()
    disabled = not can_control

    dataset = None
    with common.error_boundary("Opening the dataset", stop=False):
        dataset = common.current_dataset()
    if dataset is not None:
        counts = {name: len(pairs) for name, pairs in dataset.splits.items()}
        st.caption(f"Data: **{common.md_text(dataset.name)}** from the sidebar ("
                   + ", ".join(f"{count:,} {name}" for name, count in counts.items())
                   + " images). Change it in the sidebar.")

    top = st.columns([1, 1.3, 2.2], vertical_alignment="bottom")
    top[0].selectbox("Preset", presets, key=PRESET_KEY, on_change=_fill_form, kwargs={"force": True},
                     disabled=disabled, help="Every field below starts from the preset; change any of them.")
    top[1].text_input("Run name", key=NAME_KEY, placeholder="e.g. lecture, lower lr", disabled=disabled,
                      max_chars=200, help="Shown in the runs list; the run id stays the date and preset.")
    preset_config = get_preset(st.session_state[PRESET_KEY])
    top[2].caption(preset_config.description)

    st.markdown("**Data and schedule**")
    row = st.columns(5)
    row[0].number_input("Epochs", min_value=1, max_value=10_000, step=1, key=_key("train.epochs"),
                        disabled=disabled, help="Passes over the training images.")
    row[1].number_input("Batch size", min_value=1, max_value=4096, step=1, key=_key("train.batch_size"),
                        disabled=disabled, help="Images per optimizer step.")
    row[2].number_input("Image size (px)", min_value=32, max_value=2048, step=16, key=_key("model.image_size"),
                        disabled=disabled, help="Square input size; a multiple of 16 (the output stride).")
    row[3].number_input("Training images", min_value=0, step=50, key=_key("data.train_count"),
                        disabled=disabled, help="0 = all training images of the dataset.")
    row[4].number_input("Validation images", min_value=0, step=10, key=_key("data.val_count"),
                        disabled=disabled, help="0 = all validation images.")

    st.markdown("**Where the backbone starts**")
    row = st.columns([1.2, 1, 2.6], vertical_alignment="bottom")
    row[0].selectbox("Backbone start", list(WEIGHTS), key=_key("model.weights"), disabled=disabled,
                     format_func=lambda name: WEIGHT_LABELS[name].capitalize(),
                     help="Pretrained: the project's own backbone (assets/pretrained), trained on another task. "
                          "Random weights: everything learns from scratch. ImageNet: Keras's weights, only if "
                          "they are already in this machine's Keras cache.")
    row[1].number_input("Backbone fixed for (epochs)", min_value=0, max_value=10_000, step=1,
                        key=_key("train.freeze_backbone_epochs"), disabled=disabled,
                        help="During these first epochs only the new ASPP, decoder and head learn; the backbone "
                             "keeps its weights. 0 = the backbone learns from the first step.")
    row[2].caption(start_explanation(dataclasses.replace(preset_config.model,
                                                         weights=st.session_state[_key("model.weights")])))

    st.markdown("**Optimizer**")
    row = st.columns(7)
    row[6].selectbox("Loss", list(LOSSES), key=_key("train.loss"), disabled=disabled,
                     format_func=LOSS_LABELS.get,
                     help="Plain cross-entropy weighs every class by its pixel count. The weighted one gives "
                          "each class a median-frequency weight, focal loss down-weights easy pixels, Dice "
                          "scores the overlap of each class. Compare two runs that differ only here on the "
                          "IoU of the rare classes (exercise 13-4).")
    row[0].selectbox("Optimizer", ["adamw", "adam"], key=_key("train.optimizer"), disabled=disabled,
                     format_func={"adamw": "AdamW (weight decay)", "adam": "Adam"}.get,
                     help="AdamW shrinks the weights a little at every step (decoupled weight decay).")
    row[1].number_input("Initial learning rate", min_value=0.0, max_value=1.0, step=1e-4, format="%.1e",
                        key=_key("train.learning_rate"), disabled=disabled,
                        help="Step size at the start of training.")
    row[2].number_input("Decay steps", min_value=1, step=50, key=_key("train.decay_steps"), disabled=disabled,
                        help="lr = initial × rate ^ (step / decay steps).")
    row[3].number_input("Decay rate", min_value=0.0, max_value=1.0, step=0.05, format="%.2f",
                        key=_key("train.decay_rate"), disabled=disabled, help="1.0 keeps the rate constant.")
    row[4].number_input("Weight decay", min_value=0.0, max_value=1.0, step=1e-4, format="%.1e",
                        key=_key("train.weight_decay"), disabled=disabled, help="Used by AdamW only.")
    row[5].number_input("Early stopping", min_value=0, step=1, key=_key("train.early_stopping_patience"),
                        disabled=disabled,
                        help="Stop when the validation loss has not improved for this many epochs; 0 = off.")

    with st.expander("Model size and augmentation"):
        row = st.columns(4)
        row[0].number_input("Backbone width", min_value=0.05, max_value=2.0, step=0.05, format="%.2f",
                            key=_key("model.width"),
                            disabled=disabled or preset_config.model.backbone != "mobilenetv2",
                            help="MobileNetV2 width multiplier (ResNet50 has no width).")
        row[1].number_input("ASPP filters", min_value=1, step=16, key=_key("model.aspp_filters"),
                            disabled=disabled, help="Channels of each ASPP branch.")
        row[2].number_input("Decoder filters", min_value=1, step=16, key=_key("model.decoder_filters"),
                            disabled=disabled, help="Channels of the decoder's 3 × 3 convolutions.")
        row[3].checkbox("Augment (flip + scale)", key=_key("data.augment"), disabled=disabled,
                        help="Random horizontal flips (left/right labels swapped) and scale jitter.")

    data_root = _dataset_root_value(common.current_dataset_root()) if dataset is not None else ""
    config = None
    try:
        config = _form_config(data_root or "synthetic")
    except SeglibError as error:
        st.error(f"Fix this before starting: {common.md_text(error, limit=ERROR_CHARS)}", icon=":material/error:")

    if config is not None:
        estimate_column, schedule_column = st.columns([1, 1.6])
        with estimate_column:
            seconds = runs.estimate_seconds(config)
            _, startup, basis = runs.throughput_basis(config)
            steps_per_epoch = runs.steps_per_epoch(config)
            st.metric("Estimated time on this machine", training_figures.format_duration(seconds),
                      help=f"Start-up (import, compile) about {training_figures.format_duration(startup)}, "
                           f"then the epochs; throughput from {basis}.")
            st.caption(f"{steps_per_epoch:,} steps per epoch × {config.train.epochs} epochs = "
                       f"{steps_per_epoch * config.train.epochs:,} optimizer steps. About "
                       f"{training_figures.format_duration(startup)} of start-up (importing TensorFlow and "
                       f"compiling) comes first. Throughput: {basis}.")
            st.caption(config.summary())
        with schedule_column:
            schedule = runs.lr_schedule(config, steps=steps_per_epoch * config.train.epochs)
            common.plot(training_figures.lr_figure(schedule, steps_per_epoch=steps_per_epoch,
                                                   title="Planned learning rate", height=240),
                        key="form_lr_chart")

    st.button("Start training", key="training_start", type="primary", icon=":material/play_arrow:",
              on_click=_on_start, args=(data_root,), disabled=disabled or dataset is None)
    _show_notice("start")
    if disabled:
        st.caption(":material/lock: Starting, stopping and deleting runs is for the instructor "
                   "(passcode in the sidebar). You can watch every run.")


# ---------------------------------------------------------------------------
# The live view of one run (a fragment that refreshes itself while the run is live)
# ---------------------------------------------------------------------------

def _on_stop(run_id: str) -> None:
    if not common.is_instructor():
        _notice("live", "error", "Stopping a run needs the instructor passcode (sidebar).")
        return
    try:
        progress = runs.request_stop(run_id)
    except SeglibError as error:
        _notice("live", "error", common.md_text(error, limit=ERROR_CHARS))
        return
    if progress.get("status") == "stopped":
        _notice("live", "info", "Taken out of the queue.")
    else:
        _notice("live", "info", "Stop requested: the worker finishes the current batch and saves last.keras.")


def _on_resume(run_id: str, epochs_key: str | None = None) -> None:
    if not common.is_instructor():
        _notice("live", "error", "Resuming a run needs the instructor passcode (sidebar).")
        return
    try:
        epochs = int(st.session_state[epochs_key]) if epochs_key else None
        runs.resume_run(run_id, epochs=epochs)
    except SeglibError as error:
        _notice("live", "error", common.md_text(error, limit=ERROR_CHARS))
        return
    _notice("live", "success", "Resumed from last.keras: the history continues and the learning-rate schedule "
                       "picks up where it stopped.")


def _status_line(run_id: str, progress: dict, config) -> None:
    """One line: status and preset badges, the run id and what it trains; Stop / Resume on the right."""
    status = str(progress.get("status") or "unknown")
    parts = [f":{STATUS_COLORS.get(status, 'gray')}-badge[{status}]"]
    if config is not None:
        parts.append(f":violet-badge[:material/tune: {config.preset}]")
    if progress.get("resume"):
        parts.append(":gray-badge[:material/replay: resumed]")
    parts.append(common.md_code(run_id))
    if config is not None:
        parts[-1] += " · " + config.summary().split(": ", 1)[-1]
    text_column, button_column = st.columns([5, 1], vertical_alignment="center")
    text_column.markdown(" ".join(parts))
    if progress.get("start"):  # the worker's own words for the start it used (from the run folder)
        text_column.caption(":material/model_training: " + common.md_text(progress["start"], limit=400))
    if status in LIVE_STATUSES:
        button_column.button("Stop", key=f"stop_{run_id}", icon=":material/stop_circle:", on_click=_on_stop,
                             args=(run_id,), disabled=not can_control or status == "stopping", width="stretch",
                             help="Ends at the next batch and keeps last.keras; Resume continues from there.")
    elif status in ("stopped", "interrupted", "failed"):
        button_column.button("Resume", key=f"resume_{run_id}", icon=":material/play_arrow:",
                             on_click=_on_resume, args=(run_id,), disabled=not can_control, width="stretch",
                             help="Continue from last.keras; the history and the learning-rate schedule go on.")


def _progress_block(progress: dict) -> None:
    status = str(progress.get("status") or "")
    phase = str(progress.get("phase") or "")
    elapsed = time.time() - float(progress.get("started_at") or time.time())
    fraction = training_figures.progress_fraction(progress)
    label = training_figures.progress_label(progress)
    if status == "queued":
        position = progress.get("queue_position") or 1
        st.info(f"**Queued, position {position}.** One run trains at a time on this machine; this one "
                "starts by itself when the runs before it end.", icon=":material/schedule:")
    elif status in ("running", "stopping") and phase in ("", "starting", "compiling"):
        title = ("**Compiling.** TensorFlow turns the model and the training step into a graph before the first "
                 "step; nothing is stuck." if phase == "compiling" else "**Starting** the training worker.")
        st.info(title + "\n\n" + training_figures.startup_text(progress, elapsed), icon=":material/hourglass_top:")
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
        columns[2].metric("Wall time", training_figures.format_duration(wall))
    else:
        columns[2].metric("Time left", training_figures.format_duration(progress.get("eta_seconds"))
                          if status in LIVE_STATUSES else "—", help="Estimated from the recent throughput.")
    running = progress.get("running_loss")
    columns[3].metric("Running loss", f"{float(running):.4f}" if running is not None else "—",
                      help="Mean training loss so far in the current epoch.")
    best = history["val_mean_iou"].max() if len(history) and history["val_mean_iou"].notna().any() else None
    columns[4].metric("Best val mean IoU", f"{best:.3f}" if best is not None else "—")


def _controls(run_id: str, progress: dict, config) -> None:
    """Messages of the buttons; for a finished run, training it for more epochs."""
    status = str(progress.get("status") or "")
    if runs.is_reference(run_id):
        note = runs.read_meta(run_id).get("note") or ""
        st.caption(":material/inventory_2: A **recorded reference run** shipped with the project (read-only): "
                   + common.md_text(note, limit=400))
        _show_notice("live")
    elif status == "finished" and config is not None and can_control:
        columns = st.columns([1.1, 1.1, 3], vertical_alignment="bottom")
        epochs_key = f"more_epochs_{run_id}"
        columns[0].number_input("Train on up to epoch", min_value=config.train.epochs + 1,
                                value=config.train.epochs + 5, step=1, key=epochs_key)
        columns[1].button("Continue", key=f"continue_{run_id}", icon=":material/fast_forward:",
                          on_click=_on_resume, args=(run_id, epochs_key),
                          help="Train this finished run for more epochs, from last.keras.")
        with columns[2]:
            _show_notice("live")
    else:
        _show_notice("live")


def _epoch_charts(run_id: str, progress: dict, config, history: pd.DataFrame) -> None:
    """What changes once per epoch: loss and accuracy curves, the learning rate, IoU per class."""
    epochs = int(progress.get("epochs") or (config.train.epochs if config else 0))
    loss_figure, accuracy_figure = _history_figures(run_id, _stamp(runs.run_dir(run_id) / runs.HISTORY_FILE),
                                                    epochs)
    left, right = st.columns(2)
    with left:
        common.plot(loss_figure, key="live_loss")
    with right:
        common.plot(accuracy_figure, key="live_accuracy")
    st.caption("Training solid, validation dashed, on the same axes. When the validation loss turns up "
               "while the training loss keeps falling, the model is memorising its training images "
               "(over-fitting). Pixel accuracy is dominated by the background, which covers most pixels; "
               "mean IoU weighs every class the same, so it shows whether the small parts are learned.")
    if config is not None and config.train.loss != "cross-entropy":
        st.caption(f"This run trains with the **{LOSS_LABELS[config.train.loss].lower()}** loss: both loss "
                   "curves measure that loss, so they can be read against each other but not against a run "
                   "with another loss. Compare such runs on mean IoU and on the IoU of each class.")
    left, right = st.columns(2)
    with left:
        common.plot(_class_iou_figure(run_id, _stamp(runs.run_dir(run_id) / runs.CLASS_IOU_FILE),
                                      common.current_palette_name()), key="live_class_iou")
    with right:
        if config is not None:
            spe = int(progress.get("steps_per_epoch") or 0) or runs.steps_per_epoch(config)
            schedule = runs.lr_schedule(config, steps=spe * config.train.epochs)
            position = None
            if progress.get("epoch"):
                position = (int(progress["epoch"]) - 1) + int(progress.get("step") or 0) / max(spe, 1)
            common.plot(training_figures.lr_figure(schedule, steps_per_epoch=spe, history=history,
                                                   position=position), key="live_lr")


@st.cache_resource(show_spinner=False, max_entries=32)
def _running_loss_figure(run_id: str, stamp: tuple, epoch: int | None, steps_per_epoch: int):
    return training_figures.running_loss_figure(_steps(run_id, stamp), epoch=epoch,
                                                steps_per_epoch=steps_per_epoch)


def _live_charts(run_id: str, progress: dict) -> None:
    """What changes every few batches: the running loss of the current epoch (one small figure)."""
    stamp = _stamp(runs.run_dir(run_id) / runs.STEPS_FILE)
    steps = _steps(run_id, stamp)
    epoch = int(progress.get("epoch") or 0) or None
    if epoch is not None and len(steps) and not (steps["epoch"] == epoch).any():
        epoch = int(steps["epoch"].max())  # between epochs: keep the last one drawn
    common.plot(_running_loss_figure(run_id, stamp, epoch, int(progress.get("steps_per_epoch") or 0)),
                key="live_running_loss")


def _epoch_stamp(run_id: str) -> tuple:
    """Changes when an epoch's files change (history, IoU per class, previews) or the run ends."""
    folder = runs.run_dir(run_id)
    return (_stamp(folder / runs.HISTORY_FILE), _stamp(folder / runs.CLASS_IOU_FILE), _previews_stamp(run_id))


def _preview_strip(run_id: str) -> None:
    st.markdown("**Validation previews**: the same images after every epoch (image, ground truth, "
                "prediction). Hover a mask for class names.")
    stamp = _previews_stamp(run_id)
    previews = _previews(run_id, stamp)
    if previews is None:
        st.caption("The preview images appear once the worker has read the dataset.")
        return
    if "damaged" in previews:
        st.warning(f"No previews: {previews['damaged']}.", icon=":material/broken_image:")
        return
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
    common.plot(_preview_figure(run_id, stamp, epoch, common.current_palette_name()), key="live_previews")


def _read_run(run_id: str) -> tuple[dict, object, str] | None:
    """Progress (with a pending stop shown as 'stopping'), config and status; None when the run is gone."""
    try:
        progress = runs.read_progress(run_id)
    except SeglibError as error:  # deleted meanwhile
        common.show_error(error)
        return None
    if progress.get("stop_requested") and progress.get("status") == "running":
        # The STOP file is written; the worker notices it at the end of the current batch.
        progress = {**progress, "status": "stopping"}
    config = None
    try:
        config = runs.read_config(run_id)
    except SeglibError as error:
        common.show_error(error)
    return progress, config, str(progress.get("status") or "")


def live_view(run_id: str, polling: bool) -> None:
    """The part of a run that moves every few seconds; a fragment that reruns every POLL_SECONDS while
    ``polling``. It stays light (status, progress, numbers, one small chart) so a projector or a lecture
    hall watching costs the worker little; the epoch's charts below are redrawn once per epoch, by a
    rerun of the page that this fragment asks for when an epoch's files change."""
    read = _read_run(run_id)
    if read is None:
        return
    progress, config, status = read
    if polling != (status in LIVE_STATUSES):
        # The run started or ended since the page was drawn: redraw the whole page, so polling
        # starts or stops, the runs table is current and the sidebar offers the new checkpoint.
        common.refresh_model_options()
        st.rerun(scope="app")
    if polling and _epoch_stamp(run_id) != st.session_state.get(EPOCH_STAMP_KEY):
        st.rerun(scope="app")  # an epoch ended: redraw its charts (once, not on every poll)
    history = load_history(run_id)
    _status_line(run_id, progress, config)
    _progress_block(progress)
    _metrics_row(progress, history)
    _controls(run_id, progress, config)
    _live_charts(run_id, progress)


def epoch_view(run_id: str) -> None:
    """The run's per-epoch results: curves, learning rate, IoU per class, previews, log."""
    read = _read_run(run_id)
    if read is None:
        return
    progress, config, status = read
    history = load_history(run_id)
    class_iou = _class_iou(run_id, _stamp(runs.run_dir(run_id) / runs.CLASS_IOU_FILE))
    damage = [progress.get("damaged")] + [table.attrs.get("damaged") or runs.damage_note(table)
                                          for table in (history, load_steps(run_id), class_iou)]
    if any(damage):
        st.warning("Some of this run's files are damaged; what can be read is shown: "
                   + "; ".join(text for text in damage if text) + ".", icon=":material/broken_image:")
    _epoch_charts(run_id, progress, config, history)
    _preview_strip(run_id)
    if status in ("failed", "interrupted") or (status and can_control and status != "queued"):
        with st.expander("Worker log", icon=":material/description:"):
            log = runs.read_log(run_id, max_chars=8_000)
            st.code(_clean_log(log) if log.strip() else "(empty)", language="text")


def watch_for_new_run(shown: str | None) -> None:
    """For a viewer who follows the active run: notice a run started elsewhere (idle polling)."""
    if _default_run(runs.list_runs()) != shown:
        st.rerun(scope="app")


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

if "training_start" not in st.session_state:
    # Streamlit forgets a widget's state once a run of another page did not draw it: the
    # Start button (drawn on every run of this page) is gone, so the user left and came back.
    _clear_notices()

with common.error_boundary("Reading the runs folder"):
    infos = runs.list_runs()
by_id = {info.id: info for info in infos}
labels = _run_labels(infos)
default_id = _default_run(infos)
url_run = st.query_params.get("run")

if st.session_state.get(RUN_KEY) not in by_id:
    if url_run in by_id:
        st.session_state[RUN_KEY], st.session_state[PINNED_KEY] = url_run, True
    else:
        if url_run:
            st.warning(f"The run {common.md_code(url_run)} from the link does not exist (any more); showing the latest run.",
                       icon=":material/warning:")
            del st.query_params["run"]
        st.session_state[RUN_KEY], st.session_state[PINNED_KEY] = default_id, False
elif not st.session_state.get(PINNED_KEY) and st.session_state[RUN_KEY] != default_id:
    st.session_state[RUN_KEY] = default_id  # following the active run
if st.session_state.get(RUN_KEY) is None:
    st.session_state.pop(RUN_KEY, None)

# Open while there is no run yet; afterwards the live view comes first on the screen.
with st.expander("Start a new run", icon=":material/rocket_launch:", expanded=not infos):
    start_form()

st.subheader("Live view")
if not can_control:
    st.caption(":material/lock: Viewing only: starting, stopping and deleting runs is for the instructor "
               "(passcode in the sidebar). Everything else on this page is yours to explore.")
if not infos:
    st.info("No runs yet. Start one above: the curves, the progress and the predictions of the run "
            "appear here while it trains.", icon=":material/monitoring:")
else:
    st.selectbox("Run", list(by_id), key=RUN_KEY, on_change=_on_pick_run,
                 format_func=lambda run_id: f"{labels[run_id]} · {by_id[run_id].preset} · "
                                            f"{datetime.fromtimestamp(by_id[run_id].created_at):%d %b %H:%M}",
                 help="The running run is shown by default; pick any other run of this machine.")
    shown = st.session_state[RUN_KEY]
    polling = by_id[shown].status in LIVE_STATUSES
    st.session_state[EPOCH_STAMP_KEY] = _epoch_stamp(shown)  # before the fragment compares against it
    every = None
    if polling:  # fast while the start-up steps tick by, slower once the batches flow
        phase = by_id[shown].phase if by_id[shown].status == "running" else ""
        every = TRAINING_POLL_SECONDS if phase in ("training", "validating", "saving") else POLL_SECONDS
    st.fragment(live_view, run_every=every)(shown, polling)
    epoch_view(shown)
    if not polling and not st.session_state.get(PINNED_KEY):
        st.fragment(watch_for_new_run, run_every=IDLE_WATCH_SECONDS)(shown)


# ---------------------------------------------------------------------------
# Runs on this machine: table, comparison, actions
# ---------------------------------------------------------------------------

def _on_rename(run_id: str) -> None:
    if not common.is_instructor():
        _notice("actions", "error", "Renaming a run needs the instructor passcode (sidebar).")
        return
    try:
        runs.rename_run(run_id, st.session_state.get(f"rename_{run_id}", ""))
    except SeglibError as error:
        _notice("actions", "error", common.md_text(error, limit=ERROR_CHARS))
        return
    _notice("actions", "success", "Renamed.")


def _on_delete(run_id: str) -> None:
    if not common.is_instructor():
        _notice("actions", "error", "Deleting a run needs the instructor passcode (sidebar).")
        return
    if not st.session_state.get(f"confirm_delete_{run_id}"):
        _notice("actions", "error", "Tick the confirmation box first.")
        return
    try:
        runs.delete_run(run_id)
    except SeglibError as error:
        _notice("actions", "error", common.md_text(error, limit=ERROR_CHARS))
        return
    st.session_state.pop(f"confirm_delete_{run_id}", None)
    common.refresh_model_options()
    if st.session_state.get(common.MODEL_KEY) == f"run:{run_id}":  # the sidebar used its checkpoint
        st.session_state.pop(common.MODEL_KEY, None)
        if common.MODEL_KEY in st.query_params:
            del st.query_params[common.MODEL_KEY]
    if st.session_state.get(RUN_KEY) == run_id:
        _show_run(None)
    _notice("actions", "success", f"Deleted run {common.md_code(run_id)}.")


def _on_use_model(run_id: str) -> None:
    """Make the run's checkpoint the sidebar's model (the key ``pages.common.model_options`` uses)."""
    common.refresh_model_options()  # the sidebar caches the list of run checkpoints for a few seconds
    key = f"run:{run_id}"
    if key not in common.model_options():
        _notice("actions", "error", "This run has no checkpoint the other pages can use yet (wait for an epoch to "
                         "finish, or stop the run).")
        return
    st.session_state[common.MODEL_KEY] = key
    st.query_params[common.MODEL_KEY] = key
    _notice("actions", "success", "The sidebar's model is now this run's checkpoint: the Predictions and Atrous pages use it.")


def _file_reader(path: Path):
    """Read a file only when its download button is clicked (checkpoints can be 100+ MB)."""
    return lambda: path.read_bytes()


def runs_table(polling: bool) -> None:
    """The table of runs; a fragment that refreshes itself while any run is live."""
    current = runs.list_runs()
    if polling and not any(info.status in LIVE_STATUSES for info in current):
        st.rerun(scope="app")  # the last live run ended: stop polling, redraw the page
    names = {**labels, **_run_labels(current)}
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


def runs_section(infos: list[runs.RunInfo], shown: str | None) -> None:
    st.subheader("Runs on this machine")
    any_live = any(info.status in LIVE_STATUSES for info in infos)
    st.fragment(runs_table, run_every=TABLE_POLL_SECONDS if any_live else None)(any_live)

    st.markdown(
        "**Compare runs.** Curves of several runs on the same axes: one colour per run, training solid, "
        "validation dashed. The two recorded reference runs train the same model on the same images with the "
        "Keras example's optimizer (Adam at 1e-3, constant, no weight decay) and with the course's (AdamW, a "
        "lower rate that decays). Read them for two different diagnoses. **Erratic validation curves** (jumps "
        "from one epoch to the next) come from a step size that is too large for the noise of a small "
        "validation set; a *decaying learning rate* answers them. **Over-fitting** is a *widening gap* "
        "between the training and the validation curve; *weight decay* (and more data or augmentation) "
        "answers it. Adam at 1e-3 usually climbs faster at first, with both symptoms; the course's optimizer "
        "climbs more slowly and more smoothly.")
    with_history = [info.id for info in infos if info.epochs_done > 0]
    own = [run_id for run_id in with_history if not runs.is_reference(run_id)]
    optimizer_references = [runs.REFERENCE_PREFIX + key for key in reference.OPTIMIZER_RUNS]
    default = own[:3] or [run_id for run_id in optimizer_references if run_id in with_history]
    pick, metric_column = st.columns([3, 1.4], vertical_alignment="bottom")
    chosen = pick.multiselect("Runs to compare", with_history, default=default, key="training_compare",
                              format_func=labels.get, placeholder="Runs with at least one epoch")
    metric = metric_column.radio("Metric", list(training_figures.OVERLAY_METRICS), horizontal=True,
                                 format_func={"loss": "loss", "accuracy": "accuracy", "mean_iou": "mean IoU"}.get,
                                 key="training_compare_metric")
    histories = {labels[run_id]: load_history(run_id) for run_id in chosen if run_id in by_id}
    common.plot(training_figures.overlay_figure(histories, metric=metric), key="compare_chart")

    if shown is None or shown not in by_id:
        return
    info = by_id[shown]
    st.markdown(f"**Actions for {common.md_text(labels[shown])}** (the run picked in the live view)")
    folder = runs.run_dir(shown)
    left, middle, right = st.columns(3)
    with left.container(border=True):
        st.markdown(":material/download: **Download**")
        st.download_button("history.csv", data=_file_reader(folder / runs.HISTORY_FILE),
                           file_name=f"{shown}-history.csv", mime="text/csv", on_click="ignore",
                           disabled=not (folder / runs.HISTORY_FILE).exists(), key=f"download_history_{shown}")
        best = folder / runs.BEST_CHECKPOINT
        st.download_button("best.keras", data=_file_reader(best), file_name=f"{shown}-best.keras",
                           mime="application/octet-stream", on_click="ignore", disabled=not best.exists(),
                           key=f"download_best_{shown}",
                           help="The checkpoint with the best validation mean IoU (Keras format).")
    with middle.container(border=True):
        st.markdown(":material/image_search: **Use on the other pages**")
        usable = info.status not in LIVE_STATUSES and (best.exists() or (folder / runs.LAST_CHECKPOINT).exists())
        in_use = st.session_state.get(common.MODEL_KEY) == f"run:{shown}"
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
        locked = not can_control or info.reference
        st.text_input("Name", key=rename_key, disabled=locked, max_chars=200, label_visibility="collapsed")
        buttons = st.columns(2)
        buttons[0].button("Rename", key=f"do_rename_{shown}", on_click=_on_rename, args=(shown,), disabled=locked)
        running = info.status in runs.ACTIVE_STATUSES
        confirm = st.checkbox("Yes, delete this run and its checkpoints", key=f"confirm_delete_{shown}",
                              disabled=locked or running)
        buttons[1].button("Delete", key=f"do_delete_{shown}", type="primary", icon=":material/delete:",
                          on_click=_on_delete, args=(shown,), disabled=locked or running or not confirm)
        if running:
            st.caption("A running run cannot be deleted: stop it first.")
        if info.reference:
            st.caption("A recorded reference run is part of the project: it cannot be renamed or deleted.")
    _show_notice("actions")


if infos:
    runs_section(infos, st.session_state.get(RUN_KEY))
