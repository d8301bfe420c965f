"""Run folders: the contract between the training worker and the pages.

A training run lives in ``runs/<run-id>/`` (``settings.runs_dir()``). The
worker (``seglib.training.worker``, a separate process) writes it; the dashboard only
reads it, through the functions of this module, so a crash of training can
never take a page down and a browser reload never loses a run.

Files of a run folder (every whole-file write is atomic: temp file + rename):

``config.json``
    The ``RunConfig`` (data, model, training) that rebuilds the run.
``meta.json``
    ``{"name", "preset", "created_at"}``; ``name`` is the renamable display name.
``progress.json``
    Live state, rewritten at least every 2 s while the worker runs: ``status``
    (queued / running / stopping / stopped / finished / failed / interrupted),
    ``phase`` (starting / compiling / training / validating / saving / done),
    ``epoch``, ``epochs``, ``step``, ``steps_per_epoch``, ``images_per_second``,
    ``eta_seconds``, ``running_loss``, ``message``, ``error``, ``pid``,
    ``created_at``, ``queued_at``, ``started_at``, ``updated_at`` (Unix seconds).
``history.csv``
    One row per finished epoch: ``epoch, loss, val_loss, accuracy, val_accuracy,
    mean_iou, val_mean_iou, lr, seconds`` (IoUs from an exact int64 confusion
    matrix; ``seconds`` = wall time of the epoch including validation).
``steps.csv``
    ``epoch, step, loss, accuracy`` after every training step (running means
    within the epoch), for the live running-loss curve.
``class_iou.csv``
    ``epoch`` + the validation IoU of every class, one row per epoch.
``previews/``
    ``inputs.npz`` (a few FIXED validation images, their ground truth and
    stems, written once) and ``epoch_NNN.npz`` (the predicted masks of those
    images after each epoch) so the room can watch the masks improve.
``best.keras`` / ``last.keras``
    Checkpoints: best validation mean IoU so far, and the latest state
    (written at each epoch end and on stop). Each is saved under a temporary
    name in the same folder and renamed, so an interrupted save leaves the
    previous checkpoint intact. ``last.keras`` holds the optimizer state, so a
    resumed run continues the learning-rate schedule where it stopped.
``train.log`` / ``console.log``
    The worker's log (tracebacks land here, never in the UI) and, for runs
    started from the dashboard, the worker process's stdout/stderr.
``STOP``
    Present when a stop was requested; the worker ends at the next batch and
    removes it when it ends.

**Run files are untrusted input.** A file may be damaged (a disk filled up,
someone edited it, a bug of an older version), and one damaged run must never
break the runs list or a page. Every reader here validates what it reads, by
one rule:

* **A damaged row or entry is skipped and counted.** A CSV row whose field
  count is wrong, or whose value is not a number or impossible, is dropped:
  ``epoch`` an integer in 1..``MAX_EPOCHS``, ``step`` in 1..``MAX_STEPS``,
  losses finite and >= 0, accuracies and IoUs in [0, 1], ``lr`` finite and
  > 0, ``seconds`` finite and >= 0. An empty or ``nan`` metric is kept as
  NaN: it is undefined (for example an IoU over no pixels), never a number.
  A repeated key (epoch; epoch and step) keeps its last row. The frame's
  ``attrs["skipped_rows"]`` says how many were dropped (``damage_note``
  words it). A preview epoch file with the wrong shape or ids is skipped
  the same way (``read_previews(...)["skipped"]``); a ``progress.json``
  field with an impossible value (an epoch of 10**30, a negative step, a
  string where a number goes) reads as ``None`` and is named in
  ``progress["damaged"]``.
* **A file that is unusable as a whole is damaged**: the reader raises
  ``DamagedRunError`` (a ``RunError``) naming the run, the file and why: no
  header line, repeated column names, binary data, a file larger than the
  bound read (``MAX_CSV_BYTES``, ``MAX_JSON_BYTES``, ``MAX_NPZ_BYTES``: a
  file is never read whole when it is larger), preview inputs of the wrong
  shape. A ``progress.json`` that is not a JSON object, or holds an unknown
  status, makes the run read as ``failed`` with that reason.
* ``list_runs`` never raises because of one run's files: each run's
  ``RunInfo.damaged`` says what is damaged ("" when nothing), and its
  numbers (epochs done, best validation mean IoU) come from the rows that
  passed.

One training job runs per machine. ``start_run`` queues a run and starts it
when nothing else is running (FIFO); a worker that ends starts the next queued
run. Scheduling decisions are taken under an ``fcntl`` file lock, so two
sessions pressing Start at the same moment result in exactly one running job.

>>> from seglib.config import get_preset
>>> run_id = start_run(get_preset("lecture"), name="first try")  # doctest: +SKIP
>>> read_progress(run_id)["status"]                               # doctest: +SKIP
'running'
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from seglib import settings
from seglib.classes import CLASS_NAMES
from seglib.config import RunConfig
from seglib.errors import ConfigError, DatasetError, RunError
from seglib.io import atomic_write_json


class DamagedRunError(RunError):
    """A file of a run folder is unusable as a whole; the run's other files may be fine."""

# ---------------------------------------------------------------------------
# Names of things in a run folder
# ---------------------------------------------------------------------------

CONFIG_FILE = "config.json"
META_FILE = "meta.json"
PROGRESS_FILE = "progress.json"
HISTORY_FILE = "history.csv"
STEPS_FILE = "steps.csv"
CLASS_IOU_FILE = "class_iou.csv"
LOG_FILE = "train.log"
CONSOLE_FILE = "console.log"
BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
STOP_FILE = "STOP"
PREVIEWS_DIR = "previews"
PREVIEW_INPUTS = "inputs.npz"

HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy",
                   "mean_iou", "val_mean_iou", "lr", "seconds")
STEP_COLUMNS = ("epoch", "step", "loss", "accuracy")

STATUSES = ("queued", "running", "stopping", "stopped", "finished", "failed", "interrupted")
#: A worker process is (or should be) alive in these states.
ACTIVE_STATUSES = ("running", "stopping")
#: The run is over; it can be resumed (or, when finished, extended).
FINAL_STATUSES = ("stopped", "finished", "failed", "interrupted")
PHASES = ("starting", "compiling", "training", "validating", "saving", "done")

#: Largest epoch and step number a run file may hold (the config allows 10,000 epochs).
MAX_EPOCHS = 10_000
MAX_STEPS = 10_000_000
#: Bounds on what is read of one run file; a larger file is reported damaged, unread.
MAX_CSV_BYTES = {HISTORY_FILE: 16 << 20, CLASS_IOU_FILE: 16 << 20, STEPS_FILE: 64 << 20}
MAX_JSON_BYTES = 1 << 20
MAX_NPZ_BYTES = 256 << 20

#: Recorded reference runs shipped with the project (``python -m seglib reference-runs``): read-only,
#: listed with the machine's own runs. Their ids start with REFERENCE_PREFIX.
REFERENCE_DIR = settings.ASSETS_DIR / "reference_runs"
REFERENCE_PREFIX = "reference-"
_LOCK_FILE = ".scheduler.lock"
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

#: Fallback throughput (training images/s) when no earlier run on this machine
#: says better: measured for the lecture preset on 2 CPU cores, and a
#: conservative CPU figure for ResNet50 at 512 px. Scaled by pixel count.
_DEFAULT_THROUGHPUT = {"mobilenetv2": (128, 50.0), "resnet50": (512, 0.5)}
#: Graph tracing + first batch, seconds, before any measurement exists.
_DEFAULT_STARTUP_SECONDS = {"mobilenetv2": 20.0, "resnet50": 90.0}


# ---------------------------------------------------------------------------
# Run ids and folders
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One row of the runs table."""

    id: str
    name: str
    status: str
    preset: str
    created_at: float
    epochs_done: int
    epochs: int
    best_val_mean_iou: float | None
    path: Path
    phase: str = ""
    message: str = ""
    queue_position: int | None = None
    #: What is damaged in this run's files ("" when nothing); see the module docstring.
    damaged: str = ""
    #: Where the backbone started (``RunConfig.start_summary``), e.g. "pretrained backbone".
    start: str = ""
    #: A recorded reference run shipped with the project (read-only).
    reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["path"] = settings.display_path(self.path)
        return values


def new_run_id(preset: str = "run", now: float | None = None) -> str:
    """A readable, sortable slug: ``20261125-093012-lecture`` (no folder is created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(preset)).strip("-").lower() or "run"
    return f"{stamp}-{slug}"


def run_dir(run_id: str) -> Path:
    """The folder of ``run_id`` under ``settings.runs_dir()``; RunError if it does not exist."""
    path = _run_path(run_id)
    if not (path / CONFIG_FILE).exists() and not (path / PROGRESS_FILE).exists():
        raise RunError(f"There is no run {run_id!r} in the runs folder. It may have been deleted; "
                       "refresh the list of runs.")
    return path


def is_reference(run_id: str) -> bool:
    """Whether ``run_id`` names a recorded reference run (shipped in ``assets/reference_runs``, read-only)."""
    return isinstance(run_id, str) and run_id.startswith(REFERENCE_PREFIX)


def _refuse_reference(run_id: str, action: str) -> None:
    if is_reference(run_id):
        raise RunError(f"{run_id} is a recorded reference run shipped with the project; it is read-only, so it "
                       f"cannot be {action}. Start a new run to compare with it.")


def _run_path(run_id: str) -> Path:
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.match(run_id):
        raise RunError(f"Not a valid run id (letters, digits, '.', '_' and '-'). Received: run_id={run_id!r}")
    root = REFERENCE_DIR.resolve() if is_reference(run_id) else settings.runs_dir()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise RunError(f"A run must lie directly inside the runs folder. Received: run_id={run_id!r}")
    return path


def create_run(config: RunConfig, name: str | None = None, *, path: str | os.PathLike | None = None,
               status: str = "queued") -> Path:
    """Create a run folder with ``config.json``, ``meta.json`` and a first ``progress.json``.

    ``path`` defaults to a fresh id under the runs folder. An existing folder
    is accepted only if it holds no run yet (no config).
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"create_run needs a RunConfig. Received: config={type(config).__name__}")
    config.validate()
    _refuse_a_file_as_dataset(config)
    if path is None:
        folder = _unique_folder(new_run_id(config.preset))
    else:
        folder = Path(path).expanduser().resolve()
        if (folder / CONFIG_FILE).exists():
            raise RunError(f"The run folder {folder.name!r} already holds a run. Choose a new --run-dir, "
                           f"or continue it with --resume {folder.name}.")
        folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    config.save(folder / CONFIG_FILE)
    atomic_write_json(folder / META_FILE, {
        "name": (name or "").strip() or folder.name, "preset": config.preset, "created_at": now})
    atomic_write_json(folder / PROGRESS_FILE, {
        "status": status, "phase": "", "epoch": 0, "epochs": config.train.epochs, "step": 0,
        "steps_per_epoch": 0, "images_per_second": None, "eta_seconds": None, "running_loss": None,
        "message": "Waiting for the machine to be free." if status == "queued" else "",
        "error": None, "pid": None, "created_at": now, "queued_at": now, "started_at": None,
        "updated_at": now,
    })
    return folder


def _refuse_a_file_as_dataset(config: RunConfig) -> None:
    """DatasetError, before any run folder exists, when ``data.root`` names a file.

    (A folder that does not exist yet is left to the worker, which says so in
    the run's status.)
    """
    path = Path(config.data.root).expanduser()
    if not path.is_absolute():
        path = settings.data_dir() / path
    if path.exists() and not path.is_dir():
        from seglib.data.dataset import EXPECTED_LAYOUT

        raise DatasetError(f"{path.name!r} is a file, not a dataset folder; no run was created. "
                           f"{EXPECTED_LAYOUT}")


def _unique_folder(run_id: str) -> Path:
    root = settings.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    for index in range(1, 1000):
        candidate = root / (run_id if index == 1 else f"{run_id}-{index}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunError("Could not create a new run folder (1000 runs started in the same second?).")


# ---------------------------------------------------------------------------
# Reading a run (what the pages call)
# ---------------------------------------------------------------------------

def read_config(run_id: str) -> RunConfig:
    """The run's ``RunConfig``; ``DamagedRunError`` if ``config.json`` is missing or broken."""
    path = run_dir(run_id) / CONFIG_FILE
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise _damaged(path, f"too large ({_size_text(path.stat().st_size)}; a config is a few kB)")
    except OSError:
        pass  # missing: RunConfig.load says so
    try:
        return RunConfig.load(path)
    except ConfigError as error:
        raise DamagedRunError(f"Run {run_id!r}: {error} The run folder is damaged; delete the run.") from error


def read_meta(run_id: str) -> dict[str, Any]:
    """``{"name", "preset", "created_at"}`` of a run; damaged values fall back to the run id and folder time."""
    return _read_meta_file(run_dir(run_id))[0]


def read_progress(run_id: str) -> dict[str, Any]:
    """The run's ``progress.json`` as a validated dict, with two computed corrections.

    A ``running``/``stopping`` run whose worker process is gone is reported
    ``failed`` when the worker alone was killed (the dashboard that started it
    is still up), ``interrupted`` when the machine or the dashboard restarted; a
    ``queued`` run gets ``queue_position`` (1 = next to start). Fields with an
    impossible value read as ``None`` and are named in ``damaged`` ("" when
    none); a file that is not a JSON object reads as a ``failed`` run.
    """
    folder = run_dir(run_id)
    return _effective_progress(folder, _queued_order())


def read_history(run_id: str) -> "pd.DataFrame":
    """``history.csv`` as a DataFrame with ``HISTORY_COLUMNS`` (empty before epoch 1).

    ``epoch`` is int64, the rest float64 (NaN = undefined). Damaged rows are
    skipped and counted in ``attrs["skipped_rows"]``; ``DamagedRunError`` when
    the file is unusable as a whole (see the module docstring).
    """
    return _read_table(run_dir(run_id) / HISTORY_FILE)


def read_steps(run_id: str) -> "pd.DataFrame":
    """``steps.csv`` (epoch, step, loss, accuracy) for the running-loss curve; validated as ``read_history``."""
    return _read_table(run_dir(run_id) / STEPS_FILE)


def read_class_iou(run_id: str) -> "pd.DataFrame":
    """``class_iou.csv``: ``epoch`` + one validation-IoU column per class name; validated as ``read_history``."""
    return _read_table(run_dir(run_id) / CLASS_IOU_FILE)


def damage_note(frame: "pd.DataFrame") -> str:
    """``"history.csv: 2 damaged rows skipped"`` for a frame read here, "" when nothing was skipped."""
    count = int(frame.attrs.get("skipped_rows") or 0)
    if not count:
        return ""
    return f"{frame.attrs.get('file', 'file')}: {count} damaged row{'' if count == 1 else 's'} skipped"


def read_previews(run_id: str) -> dict[str, Any] | None:
    """The preview strip of a run, or None before the worker wrote it.

    Returns ``{"stems": [...], "images": uint8 (K,H,W,3), "truth": uint8 (K,H,W),
    "epochs": [1, 2, ...], "predictions": {epoch: uint8 (K,H,W)}, "skipped": n}``:
    an epoch file that is unreadable or whose masks do not match the inputs
    is skipped and counted; ``DamagedRunError`` when ``inputs.npz`` is unusable.
    """
    folder = run_dir(run_id) / PREVIEWS_DIR
    path = folder / PREVIEW_INPUTS
    try:
        inputs = _load_npz(path)
    except _FileProblem as problem:
        raise _damaged(path, str(problem)) from None
    if inputs is None:
        return None
    images, truth = inputs.get("images"), inputs.get("truth")
    if images is None or truth is None:
        missing = "images" if images is None else "truth"
        raise _damaged(path, f"it has no {missing!r} array")
    if (images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or not images.shape[0]
            or truth.dtype != np.uint8 or truth.shape != images.shape[:3] or not _valid_ids(truth)):
        raise _damaged(path, f"its arrays do not hold images (K, H, W, 3) and ground-truth masks (K, H, W) "
                             f"of class ids (images {images.dtype} {images.shape}, truth {truth.dtype} "
                             f"{truth.shape})")
    count = images.shape[0]
    stems = inputs.get("stems")
    if stems is not None and stems.ndim == 1 and len(stems) == count and stems.dtype.kind == "U":
        stems = [str(stem)[:200] for stem in stems]
    else:
        stems = [f"image {index + 1}" for index in range(count)]
    predictions: dict[int, np.ndarray] = {}
    skipped = 0
    for epoch_path in sorted(folder.glob("epoch_*.npz")):
        match = re.fullmatch(r"epoch_(\d{1,9})\.npz", epoch_path.name)
        epoch = int(match.group(1)) if match else 0
        try:
            data = _load_npz(epoch_path) if 1 <= epoch <= MAX_EPOCHS else None
        except _FileProblem:
            data = None
        masks = None if data is None else data.get("masks")
        if (masks is None or masks.shape != truth.shape or masks.dtype.kind not in "ui"
                or not _valid_ids(masks)):
            skipped += 1
            continue
        predictions[epoch] = masks.astype(np.uint8, copy=False)
    return {"stems": stems, "images": images, "truth": truth, "epochs": sorted(predictions),
            "predictions": predictions, "skipped": skipped}


def read_log(run_id: str, max_chars: int = 20_000) -> str:
    """The end of ``train.log`` (and ``console.log`` when the worker died before logging)."""
    folder = run_dir(run_id)
    parts = []
    for name in (LOG_FILE, CONSOLE_FILE):
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            parts.append(text)
    return "\n".join(parts)[-max_chars:]


def checkpoint_path(run_id: str, which: str = "best") -> Path:
    """Path of the run's ``best`` or ``last`` checkpoint; RunError if it does not exist yet."""
    if which not in ("best", "last"):
        raise RunError(f"which must be 'best' or 'last'. Received: which={which!r}")
    path = run_dir(run_id) / (BEST_CHECKPOINT if which == "best" else LAST_CHECKPOINT)
    if not path.exists():
        raise RunError(f"Run {run_id!r} has no {which} checkpoint yet: it is written at the end of "
                       "the first epoch. Wait for an epoch to finish, or pick another run.")
    return path


def list_runs() -> list[RunInfo]:
    """All runs, newest first, with dead workers reported as ``failed`` or ``interrupted``.

    Never raises because of one run's files: a damaged file is named in that
    run's ``RunInfo.damaged`` and the other runs read as usual.
    """
    order = _queued_order() if settings.runs_dir().exists() else {}
    infos = []
    for folder in _run_folders(references=True):
        try:
            infos.append(_run_info(folder, order))
        except Exception as error:  # noqa: BLE001 - the last guard: one run never breaks the list
            infos.append(RunInfo(id=folder.name, name=folder.name, status="failed", preset="",
                                 created_at=_mtime(folder), epochs_done=0, epochs=0, best_val_mean_iou=None,
                                 path=folder, phase="done", message="This run folder cannot be read.",
                                 damaged=f"unreadable ({type(error).__name__}: {str(error)[:200]})"))
    infos.sort(key=lambda info: (info.created_at, info.id), reverse=True)
    return infos


def _run_info(folder: Path, order: dict[str, int]) -> RunInfo:
    progress = _effective_progress(folder, order)
    meta, meta_notes = _read_meta_file(folder)
    notes = [progress["damaged"]] if progress.get("damaged") else []
    notes += meta_notes
    try:
        history = _read_table(folder / HISTORY_FILE)
    except DamagedRunError as error:
        history = empty_table(HISTORY_FILE)
        notes.append(error.reason)
    if damage_note(history):
        notes.append(damage_note(history))
    valid_iou = history["val_mean_iou"].dropna()
    epochs, start = progress.get("epochs"), ""
    with contextlib.suppress(Exception):  # a damaged config is reported where the run is opened
        config = RunConfig.load(folder / CONFIG_FILE)
        start = config.start_summary()
        epochs = config.train.epochs if epochs is None else epochs
    return RunInfo(
        id=folder.name,
        name=meta["name"],
        status=str(progress.get("status") or ""),
        preset=meta["preset"],
        created_at=meta["created_at"],
        epochs_done=int(history["epoch"].max()) if len(history) else 0,
        epochs=int(epochs or 0),
        best_val_mean_iou=float(valid_iou.max()) if len(valid_iou) else None,
        path=folder,
        phase=str(progress.get("phase") or ""),
        message=str(progress.get("message") or ""),
        queue_position=progress.get("queue_position"),
        damaged="; ".join(notes),
        start=start,
        reference=is_reference(folder.name),
    )


def active_run() -> str | None:
    """The id of the run whose worker is alive now, if any."""
    for info in list_runs():
        if info.status in ACTIVE_STATUSES:
            return info.id
    return None


# ---------------------------------------------------------------------------
# Actions (instructor controls)
# ---------------------------------------------------------------------------

def start_run(config: RunConfig, name: str | None = None) -> str:
    """Create a run and start it now, or queue it behind the running job. Returns the run id.

    The dataset folder must lie under the data roots (a page may pass user
    input). The worker is a detached ``python -m seglib train --run-dir ...``
    process; read its state with ``read_progress``.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"start_run needs a RunConfig. Received: config={type(config).__name__}")
    config.validate()
    settings.check_data_path(config.data.root)
    folder = create_run(config, name)
    schedule()
    return folder.name


def request_stop(run_id: str) -> dict[str, Any]:
    """Ask a run to stop: it ends at the next batch with ``last.keras`` saved.

    Writes the ``STOP`` file and sends SIGTERM to the worker. A queued run is
    simply taken out of the queue (status ``stopped``). Returns the progress.
    """
    _refuse_reference(run_id, "stopped")
    folder = run_dir(run_id)
    with _scheduler_lock():
        progress = _effective_progress(folder, {})
        status = progress.get("status")
        if status == "queued":
            _update_progress(folder, status="stopped", phase="done",
                             message="Taken out of the queue before it started.")
        elif status in ACTIVE_STATUSES:
            (folder / STOP_FILE).write_text(f"{time.time()}\n", encoding="utf-8")
            _update_progress(folder, status="stopping",
                             message="Stop requested: finishing the current batch and saving.")
            pid = progress.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid, progress.get("pid_start")):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
        else:
            raise RunError(f"Run {run_id!r} is not running (status: {status}); there is nothing to stop.")
    return read_progress(run_id)


def resume_run(run_id: str, epochs: int | None = None) -> str:
    """Queue a stopped / failed / interrupted run to continue from ``last.keras``.

    ``epochs`` raises the run's total epoch count (to extend a finished run).
    The history is appended to and the learning-rate schedule continues.
    """
    _refuse_reference(run_id, "resumed")
    folder = run_dir(run_id)
    with _scheduler_lock():
        progress = _effective_progress(folder, {})
        status = progress.get("status")
        if status not in FINAL_STATUSES:
            raise RunError(f"Run {run_id!r} is {status}; only a stopped, failed, interrupted or finished "
                           "run can be resumed.")
        config = read_config(run_id)
        done = _epochs_done(folder)
        if epochs is not None:
            if not isinstance(epochs, int) or epochs <= done:
                raise RunError(f"To continue run {run_id!r}, epochs must be more than the {done} already "
                               f"done. Received: epochs={epochs!r}")
            config = config.with_overrides({"train.epochs": epochs})
            config.save(folder / CONFIG_FILE)
        if done >= config.train.epochs:
            raise RunError(f"Run {run_id!r} has already trained all {config.train.epochs} epochs. "
                           "Give a larger number of epochs to continue it.")
        (folder / STOP_FILE).unlink(missing_ok=True)
        now = time.time()
        _update_progress(folder, status="queued", phase="", resume=True, queued_at=now, pid=None,
                         error=None, epochs=config.train.epochs,
                         message="Waiting for the machine to be free (resume).")
    schedule()
    return run_id


def delete_run(run_id: str) -> None:
    """Delete a run folder (only inside the runs folder; never a running run)."""
    _refuse_reference(run_id, "deleted")
    folder = run_dir(run_id)
    with _scheduler_lock():
        progress = _effective_progress(folder, {})
        if progress.get("status") in ACTIVE_STATUSES:
            raise RunError(f"Run {run_id!r} is running; stop it first, then delete it.")
        root = settings.runs_dir()
        if folder.parent != root or folder.is_symlink():
            raise RunError(f"Refusing to delete {run_id!r}: it is not a run folder inside the runs folder.")
        shutil.rmtree(folder)


def rename_run(run_id: str, name: str) -> None:
    """Change a run's display name (``meta.json``); the id and folder stay."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise RunError(f"A run name must have 1 to 200 characters. Received: name={name!r}")
    _refuse_reference(run_id, "renamed")
    folder = run_dir(run_id)
    meta = read_meta(run_id)
    meta["name"] = name
    atomic_write_json(folder / META_FILE, meta)


# ---------------------------------------------------------------------------
# Planning: time estimate and the learning-rate curve
# ---------------------------------------------------------------------------

def lr_schedule(config: RunConfig, steps: int | None = None) -> np.ndarray:
    """The learning rate at every optimizer step, as the worker will apply it.

    ``lr(step) = learning_rate * decay_rate ** (step / decay_steps)`` (Keras
    ``ExponentialDecay``, not staircase); ``decay_rate`` 1.0 is constant.
    ``steps`` defaults to all steps of the run (epochs x steps per epoch).
    """
    train = config.train
    if steps is None:
        steps = config.train.epochs * steps_per_epoch(config)
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ConfigError(f"steps must be a non-negative integer. Received: steps={steps!r}")
    step = np.arange(int(steps), dtype=np.float64)
    return train.learning_rate * np.power(train.decay_rate, step / train.decay_steps)


def steps_per_epoch(config: RunConfig, train_images: int | None = None) -> int:
    """Optimizer steps in one epoch (the last, smaller batch counts as a step)."""
    if train_images is None:
        train_images = _count_images(config)[0]
    return max(1, math.ceil(train_images / config.train.batch_size))


def estimate_seconds(config: RunConfig, *, train_images: int | None = None,
                     val_images: int | None = None) -> float:
    """Expected wall time of a run before pressing Start.

    Uses the training throughput measured by earlier runs on this machine with
    the same backbone (scaled by pixel count), else a default for a 2-core CPU.
    """
    counted_train, counted_val = _count_images(config)
    train_images = counted_train if train_images is None else train_images
    val_images = counted_val if val_images is None else val_images
    images_per_second, startup, _ = throughput_basis(config)
    per_epoch = train_images / images_per_second + val_images / (3.0 * images_per_second)
    return float(startup + config.train.epochs * per_epoch)


def throughput_basis(config: RunConfig) -> tuple[float, float, str]:
    """``(training images/s, start-up seconds, where the figure comes from)`` for ``config``."""
    model = config.model
    best: tuple[int, float, float, str] | None = None
    for folder in _run_folders():
        progress = _stored_progress(folder)
        measured = progress.get("measured_images_per_second")
        if not measured:
            continue
        try:
            other_config = RunConfig.load(folder / CONFIG_FILE)
        except ConfigError:
            continue
        other = other_config.model
        if other.backbone != model.backbone:
            continue
        score = sum([other.width == model.width, other.image_size == model.image_size,
                     other.aspp_filters == model.aspp_filters,
                     other.decoder_filters == model.decoder_filters,
                     other_config.train.batch_size == config.train.batch_size])
        scaled = float(measured) * (other.image_size / model.image_size) ** 2
        startup = float(progress.get("startup_seconds") or _DEFAULT_STARTUP_SECONDS[model.backbone])
        candidate = (score, float(progress.get("updated_at") or 0), scaled, startup)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is not None:
        return best[2], best[3], "measured by an earlier run on this machine"
    size, reference = _DEFAULT_THROUGHPUT[model.backbone]
    return (reference * (size / model.image_size) ** 2, _DEFAULT_STARTUP_SECONDS[model.backbone],
            "a default for a 2-core CPU (no earlier run to measure from)")


def _count_images(config: RunConfig) -> tuple[int, int]:
    """Train / val image counts without opening the dataset (file listing only)."""
    try:
        root = settings.check_data_path(config.data.root)
    except Exception:  # noqa: BLE001 - an estimate must not fail on a bad path
        root = None
    train = val = 0
    if root is not None and root.is_dir():
        train = _count_files(root, ("Training/Images", "images", "train/images"))
        val = _count_files(root, ("Validation/Images", "val/images"))
    train = train or 1000
    if config.data.train_count:
        train = min(train, config.data.train_count) if train else config.data.train_count
    if config.data.val_count:
        val = min(val, config.data.val_count) if val else config.data.val_count
    return train, val


def _count_files(root: Path, candidates: tuple[str, ...]) -> int:
    for relative in candidates:
        folder = root / relative
        if folder.is_dir():
            with contextlib.suppress(OSError):
                return sum(1 for p in folder.iterdir()
                           if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    return 0


# ---------------------------------------------------------------------------
# The scheduler: one training job per machine, FIFO queue
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _scheduler_lock() -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``runs/.scheduler.lock`` (between processes)."""
    import fcntl

    root = settings.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(root / _LOCK_FILE, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def ending_lock() -> Iterator[None]:
    """The scheduler lock, for a worker's final status write (no lock when the runs folder cannot be locked).

    ``request_stop`` writes its STOP file under the same lock, so a stop request
    either lands before the worker's end (which removes the STOP file) or
    finds the run already ended.
    """
    lock = _scheduler_lock()
    try:
        lock.__enter__()
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


_thread_lock = threading.RLock()
_children: list[subprocess.Popen] = []


def schedule() -> str | None:
    """Start the oldest queued run if no worker is alive. Returns the started id, or None.

    Called by ``start_run``, ``resume_run`` and by a worker when it ends; also
    marks runs whose worker died as ``interrupted``.
    """
    with _scheduler_lock():
        queued = []
        for folder in _run_folders():
            progress = _stored_progress(folder)
            status = progress.get("status")
            if status in ACTIVE_STATUSES:
                if _worker_alive(progress):
                    return None
                _mark_interrupted(folder, progress)
            elif status == "queued":
                queued.append((float(progress.get("queued_at") or 0), folder.name, folder, progress))
        if not queued:
            return None
        queued.sort(key=lambda item: item[:2])
        _, _, folder, progress = queued[0]
        _spawn_worker(folder, resume=bool(progress.get("resume")))
        return folder.name


def claim_foreground(folder: str | os.PathLike) -> None:
    """Mark ``folder`` as the machine's running job for a worker started from a terminal.

    Raises RunError when another run's worker is alive (one training job per
    machine); a worker spawned for ``folder`` itself (same pid) is fine.
    """
    folder = Path(folder).resolve()
    with _scheduler_lock():
        for other in _run_folders():
            if other.resolve() == folder:
                continue
            progress = _stored_progress(other)
            if progress.get("status") in ACTIVE_STATUSES:
                if _worker_alive(progress):
                    raise RunError(
                        f"Another training run ({other.name}) is running on this machine. Wait for it to "
                        "finish, or stop it from the dashboard or by creating a STOP file in its folder.")
                _mark_interrupted(other, progress)
        (folder / STOP_FILE).unlink(missing_ok=True)
        known = _stored_progress(folder)
        spawned_here = known.get("pid") == os.getpid() and known.get("spawner")
        # A worker started from a terminal: its parent (the shell) plays the dashboard's part.
        spawner = known.get("spawner") if spawned_here else _process_identity(os.getppid())
        _update_progress(folder, status="running", phase="starting", pid=os.getpid(),
                         pid_start=_process_start_time(os.getpid()), started_at=time.time(), error=None,
                         boot_id=_boot_id(), spawner=spawner)


def queue_position(run_id: str) -> int | None:
    """1-based position of a queued run (1 = next to start), None if not queued."""
    return _queued_order().get(run_id)


def _spawn_worker(folder: Path, resume: bool) -> subprocess.Popen:
    """Start ``python -m seglib train`` detached; record its pid (caller holds the lock)."""
    command = [sys.executable, "-m", "seglib", "train"]
    command += ["--resume", str(folder)] if resume else ["--run-dir", str(folder), "--from-queue"]
    if settings.worker_nice():
        command += ["--nice", str(settings.worker_nice())]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    pythonpath = env.get("PYTHONPATH", "")
    if str(settings.PROJECT_ROOT) not in pythonpath.split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(settings.PROJECT_ROOT), pythonpath) if p)
    with open(folder / CONSOLE_FILE, "ab") as console:
        process = subprocess.Popen(command, cwd=settings.PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
    now = time.time()
    _update_progress(folder, status="running", phase="starting", pid=process.pid,
                     pid_start=_process_start_time(process.pid), started_at=now, error=None,
                     boot_id=_boot_id(), spawner=_process_identity(os.getpid()),
                     message="Starting the training worker (importing TensorFlow).")
    # Reap the child when it exits so it never lingers as a zombie (which
    # would look alive to the pid check), and record a kill at once.
    _children.append(process)
    threading.Thread(target=_reap, args=(process, folder), name=f"reap-{folder.name}", daemon=True).start()
    return process


def _reap(process: subprocess.Popen, folder: Path) -> None:
    """Wait for a spawned worker; a worker ended by a signal before writing its
    final status is marked ``failed`` (killed) at once, then the queue moves on."""
    code = process.wait()
    if code >= 0:
        return
    with contextlib.suppress(OSError, RunError), _scheduler_lock():
        progress = _stored_progress(folder)
        if progress.get("status") in ACTIVE_STATUSES and progress.get("pid") == process.pid:
            _mark_dead(folder, progress, signal_number=-code)
    with contextlib.suppress(Exception):  # the next queued run, if any
        schedule()


def _queued_order() -> dict[str, int]:
    queued = []
    for folder in _run_folders():
        progress = _stored_progress(folder)
        if progress.get("status") == "queued":
            queued.append((float(progress.get("queued_at") or 0), folder.name))
    return {name: index + 1 for index, (_, name) in enumerate(sorted(queued))}


def _effective_progress(folder: Path, queued_order: dict[str, int]) -> dict[str, Any]:
    progress, problems = _load_progress(folder)
    if progress is None:
        reason = problems[0]
        progress = {"status": "failed", "phase": "done", "error": f"progress.json {reason}",
                    "message": f"progress.json {reason}: the state of this run is unknown. Its checkpoints "
                               "and history are still readable; delete the run if it is of no use."}
    progress["damaged"] = f"progress.json: {'; '.join(problems)}" if problems else ""
    status = progress.get("status")
    if status in ACTIVE_STATUSES and not _worker_alive(progress):
        progress = {**progress, **_dead_worker_fields(progress)}
    if progress.get("status") == "queued":
        progress["queue_position"] = queued_order.get(folder.name)
    else:
        progress["queue_position"] = None
    progress["stop_requested"] = (folder / STOP_FILE).exists()
    return progress


def _interrupted_message(progress: dict[str, Any]) -> str:
    return ("The training worker is gone (the process was killed or the machine restarted) while the run "
            f"was at epoch {progress.get('epoch') or 0}. Resume it to continue from the last checkpoint.")


def _killed_message(progress: dict[str, Any], signal_number: int | None = None) -> str:
    how = f" by signal {signal_number}" if signal_number else ""
    return (f"The training process was killed{how} (for example by `kill -9` or the out-of-memory killer) "
            f"while the run was at epoch {progress.get('epoch') or 0}. The last checkpoint is kept: resume the run "
            "to continue from it, or start a new one.")


def _dead_worker_fields(progress: dict[str, Any], signal_number: int | None = None) -> dict[str, Any]:
    """What a run whose worker is gone now reads as.

    ``failed`` ("the training process was killed") when the machine and the
    process that started the worker (the dashboard, or the terminal's shell)
    are still up: the worker alone died. ``interrupted`` when the machine
    rebooted or the dashboard restarted as well (nothing wrong with the run).
    """
    if progress.get("status") == "stopping":  # asked to stop, and it did (perhaps before saving)
        return {"status": "stopped", "phase": "done",
                "message": f"Stopped at epoch {progress.get('epoch') or 0} (the worker ended on the stop request)."}
    boot = progress.get("boot_id")
    spawner = progress.get("spawner") or {}
    same_boot = boot is not None and boot == _boot_id()
    spawner_alive = (isinstance(spawner, dict) and isinstance(spawner.get("pid"), int)
                     and _pid_alive(spawner["pid"], spawner.get("start")))
    if signal_number or (same_boot and spawner_alive):
        message = _killed_message(progress, signal_number)
        return {"status": "failed", "phase": "done", "message": message, "error": "worker killed"}
    return {"status": "interrupted", "phase": "done", "message": _interrupted_message(progress)}


def _mark_dead(folder: Path, progress: dict[str, Any], signal_number: int | None = None) -> None:
    _update_progress(folder, **_dead_worker_fields(progress, signal_number), finished_at=time.time())


def _mark_interrupted(folder: Path, progress: dict[str, Any]) -> None:
    _mark_dead(folder, progress)


def _boot_id() -> str | None:
    """This machine's boot id (Linux): it changes when the machine restarts."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _process_identity(pid: int) -> dict[str, Any]:
    return {"pid": int(pid), "start": _process_start_time(pid)}


def _update_progress(folder: Path, **fields: Any) -> dict[str, Any]:
    progress = _stored_progress(folder)
    progress.update(fields)
    progress["updated_at"] = time.time()
    atomic_write_json(folder / PROGRESS_FILE, progress)
    return progress


def _worker_alive(progress: dict[str, Any]) -> bool:
    pid = progress.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        # A run marked active by a worker without a pid cannot be checked; trust a fresh heartbeat.
        return time.time() - float(progress.get("updated_at") or 0) < 30
    return _pid_alive(pid, progress.get("pid_start"))


def _pid_alive(pid: int, pid_start: Any = None) -> bool:
    """True when ``pid`` is a live (non-zombie) process, and the same one that was recorded."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (macOS): trust kill(0)
        return True
    state, start = stat
    if state in ("Z", "X"):
        return False
    if pid_start is not None and start is not None and int(pid_start) != start:
        return False  # the pid was reused by another process
    return True


def _proc_stat(pid: int) -> tuple[str, int | None] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces; everything after the last ')' is space separated.
    fields = raw[raw.rfind(")") + 2:].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return fields[0] if fields else "?", None


def _process_start_time(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _run_folders(references: bool = False) -> list[Path]:
    """The machine's run folders; with ``references``, the shipped reference runs too."""
    roots = [settings.runs_dir()] + ([REFERENCE_DIR] if references else [])
    return [p for root in roots if root.exists() for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / PROGRESS_FILE).exists()
            and (root == REFERENCE_DIR) == p.name.startswith(REFERENCE_PREFIX)]


def _epochs_done(folder: Path) -> int:
    history = _read_table(folder / HISTORY_FILE)
    return int(history["epoch"].max()) if len(history) else 0


# -- validating readers (the rule is in the module docstring) -------------------

class _FileProblem(Exception):
    """Why a run file is unusable as a whole (internal; surfaces as DamagedRunError)."""


def _damaged(path: Path, reason: str) -> DamagedRunError:
    error = DamagedRunError(f"Run {path.parent.name!r}: {path.name} is damaged ({reason}), so it is not shown. "
                            "The run's other files are read as usual; delete the run if it is of no use.")
    error.reason = f"{path.name} is damaged ({reason})"  # type: ignore[attr-defined]
    return error


def _size_text(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{size} bytes"


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` (None when it does not exist); ``_FileProblem`` past ``limit`` bytes."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise _FileProblem(f"too large: {_size_text(size)}, at most {_size_text(limit)} is read")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _FileProblem(f"cannot be read: {error.strerror or error}") from None
    if len(data) > limit:
        raise _FileProblem(f"too large: more than {_size_text(limit)}, the most that is read")
    return data


#: Columns of each CSV: the key columns (required) and all known columns, in order.
_TABLES = {
    HISTORY_FILE: (("epoch",), HISTORY_COLUMNS),
    STEPS_FILE: (("epoch", "step"), STEP_COLUMNS),
    CLASS_IOU_FILE: (("epoch",), ("epoch", *CLASS_NAMES)),
}
#: Valid values of a column, by name (class-name columns are IoUs, in [0, 1]).
_LOSS_COLUMNS = ("loss", "val_loss")
_BOUNDED_COLUMNS = {"epoch": MAX_EPOCHS, "step": MAX_STEPS}
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def empty_table(name: str) -> "pd.DataFrame":
    """An empty, typed frame of one of the run's CSVs (``HISTORY_FILE``, ``STEPS_FILE``, ``CLASS_IOU_FILE``)."""
    import pandas as pd

    keys, columns = _TABLES[name]
    frame = pd.DataFrame({column: pd.Series(dtype="int64" if column in keys else "float64")
                          for column in columns})
    frame.attrs.update(file=name, skipped_rows=0)
    return frame


def _column_ok(column: str, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Rows whose ``column`` value is valid (``values`` float64, NaN where not a number)."""
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        if column in _BOUNDED_COLUMNS:  # a key: required, an integer in 1..max
            return finite & (values >= 1) & (values <= _BOUNDED_COLUMNS[column]) & (np.mod(values, 1) == 0)
        if column in _LOSS_COLUMNS or column == "seconds":
            valid = finite & (values >= 0)
        elif column == "lr":
            valid = finite & (values > 0)
        else:  # accuracies and IoUs
            valid = finite & (values >= 0) & (values <= 1)
    return valid | missing


def _read_table(path: Path) -> "pd.DataFrame":
    """Read one of the run's CSVs (another process may be appending to it) and validate it.

    A line cut mid-write (no newline yet) is not a row yet: it is left out,
    not counted. See the module docstring for the rule.
    """
    import pandas as pd

    name = path.name
    keys, columns = _TABLES[name]
    try:
        data = _read_bounded(path, MAX_CSV_BYTES[name])
    except _FileProblem as problem:
        raise _damaged(path, str(problem)) from None
    if not data or not data.strip():
        return empty_table(name)
    first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if _JUNK.search(first_line.rstrip("\r")):
        raise _damaged(path, "not a CSV text file: binary data in its first line")
    complete = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
    lines = complete.decode("utf-8", errors="replace").split("\n")[:-1]
    if not lines:
        return empty_table(name)
    header = [field.strip() for field in lines[0].rstrip("\r").split(",")]
    repeated = sorted({field for field in header if header.count(field) > 1})
    if repeated:
        raise _damaged(path, f"repeated column names: {', '.join(repeated)}")
    if all(_is_number(field) for field in header):
        raise _damaged(path, "no header line: its first line holds numbers")
    for key in keys:
        if key not in header:
            raise _damaged(path, f"no {key!r} column")
    width = len(header)
    body = [line.rstrip("\r") for line in lines[1:] if line.strip()]
    fields = [line.split(",") for line in body]
    rows = [row for row in fields if len(row) == width]
    skipped = len(fields) - len(rows)
    raw = pd.DataFrame(rows, columns=header)
    frame = pd.DataFrame(index=raw.index)
    ok = np.ones(len(raw), dtype=bool)
    for column in columns:
        if column not in raw.columns:
            frame[column] = np.nan
            continue
        text = raw[column].str.strip()
        missing = (text.eq("") | text.str.lower().eq("nan")).to_numpy()
        values = pd.to_numeric(text.where(~missing, None), errors="coerce").astype("float64").to_numpy()
        ok &= _column_ok(column, values, missing)
        frame[column] = values
    skipped += int((~ok).sum())
    frame = frame[ok]
    for key in keys:
        frame[key] = frame[key].astype("int64")
    repeated_rows = frame.duplicated(list(keys), keep="last")
    skipped += int(repeated_rows.sum())
    frame = frame[~repeated_rows].sort_values(list(keys), kind="stable").reset_index(drop=True)
    frame.attrs.update(file=name, skipped_rows=skipped)
    return frame


def _read_csv(path: Path, columns: tuple[str, ...] | None = None) -> "pd.DataFrame":
    """Compatibility name of ``_read_table`` (``columns`` follow from the file name)."""
    return _read_table(Path(path))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _valid_ids(masks: np.ndarray) -> bool:
    """True when ``masks`` holds only class ids and the ignore label."""
    from seglib.classes import IGNORE_LABEL

    if masks.dtype.kind not in "ui":
        return False
    values = np.unique(masks)
    return bool(np.all((values < len(CLASS_NAMES)) | (values == IGNORE_LABEL)))


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an ``.npz`` (None when it does not exist); ``_FileProblem`` when unusable.

    Bounded: the file and the sum of its arrays' uncompressed sizes must stay
    under ``MAX_NPZ_BYTES``; no pickled objects are loaded.
    """
    try:
        if path.stat().st_size > MAX_NPZ_BYTES:
            raise _FileProblem(f"too large: {_size_text(path.stat().st_size)}")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _FileProblem(f"cannot be read: {error.strerror or error}") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "zip"):
                raise _FileProblem("not an .npz archive")
            unpacked = sum(info.file_size for info in data.zip.infolist())
            if unpacked > MAX_NPZ_BYTES:
                raise _FileProblem(f"too large once unpacked: {_size_text(unpacked)}")
            return {key: data[key] for key in data.files}
    except _FileProblem:
        raise
    except Exception as error:  # noqa: BLE001 - zipfile.BadZipFile, ValueError, EOFError, ...: all damage
        raise _FileProblem(f"not a readable .npz archive ({type(error).__name__})") from None


# -- progress.json and meta.json --------------------------------------------------

#: Valid ranges of progress.json's numeric fields: (integer?, minimum, maximum, minimum excluded?).
_TIMESTAMP = (False, 0.0, 1e11, False)
_PROGRESS_NUMBERS: dict[str, tuple[bool, float, float, bool]] = {
    "epoch": (True, 0, MAX_EPOCHS, False), "epochs": (True, 1, MAX_EPOCHS, False),
    "step": (True, 0, MAX_STEPS, False), "steps_per_epoch": (True, 0, MAX_STEPS, False),
    "pid": (True, 1, 1 << 22, False), "pid_start": (True, 0, 1 << 62, False),
    "train_images": (True, 0, 1 << 40, False), "val_images": (True, 0, 1 << 40, False),
    "replicas": (True, 1, 1 << 20, False), "global_batch_size": (True, 1, 1 << 30, False),
    "images_per_second": (False, 0.0, math.inf, False), "eta_seconds": (False, 0.0, math.inf, False),
    "measured_images_per_second": (False, 0.0, math.inf, True), "startup_seconds": (False, 0.0, math.inf, False),
    "running_loss": (False, 0.0, math.inf, False), "running_accuracy": (False, 0.0, 1.0, False),
    "best_val_mean_iou": (False, 0.0, 1.0, False),
    **{name: _TIMESTAMP for name in ("created_at", "queued_at", "started_at", "updated_at", "finished_at",
                                     "first_batch_at")},
}
_PROGRESS_TEXTS = ("message", "error", "boot_id")
#: Keys computed on reading, never stored.
_COMPUTED_KEYS = ("queue_position", "stop_requested", "damaged")


def _number_ok(value: Any, integer: bool, low: float, high: float, open_low: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and (not math.isfinite(value) or (integer and not value.is_integer())):
        return False
    return (value > low if open_low else value >= low) and value <= high


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _load_progress(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """``(validated progress, problems)``; ``(None, [why])`` when the file is unusable as a whole."""
    path = folder / PROGRESS_FILE
    try:
        data = _read_bounded(path, MAX_JSON_BYTES)
    except _FileProblem as problem:
        return None, [f"is damaged ({problem})"]
    if data is None:
        return None, ["is missing"]
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, ["is damaged (not valid JSON)"]
    if not isinstance(raw, dict):
        return None, [f"is damaged (a JSON {type(raw).__name__}, not an object)"]
    progress = {key: value for key, value in raw.items() if key not in _COMPUTED_KEYS}
    problems = []
    for key, (integer, low, high, open_low) in _PROGRESS_NUMBERS.items():
        value = progress.get(key)
        if value is not None and not _number_ok(value, integer, low, high, open_low):
            problems.append(f"{key} {_short(value)} refused")
            progress[key] = None
        elif value is not None and integer:
            progress[key] = int(value)
    for key in _PROGRESS_TEXTS:
        value = progress.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{key} {_short(value)} refused")
            progress[key] = "" if key == "message" else None
        elif isinstance(value, str):
            progress[key] = value[:5000]
    if progress.get("phase") not in (None, "", *PHASES):
        problems.append(f"phase {_short(progress['phase'])} refused")
        progress["phase"] = ""
    if not isinstance(progress.get("resume", False), bool):
        problems.append(f"resume {_short(progress['resume'])} refused")
        progress["resume"] = False
    spawner = progress.get("spawner")
    if spawner is not None and not (isinstance(spawner, dict)
                                    and _number_ok(spawner.get("pid"), True, 1, 1 << 22, False)
                                    and (spawner.get("start") is None
                                         or _number_ok(spawner.get("start"), True, 0, 1 << 62, False))):
        problems.append(f"spawner {_short(spawner)} refused")
        progress["spawner"] = None
    status = progress.get("status")
    if status not in STATUSES:
        problems.append(f"status {_short(status)} is not a run status")
        progress.update(status="failed", phase="done", error=f"progress.json: unknown status {_short(status)}",
                        message=f"progress.json is damaged (status {_short(status)} is not a run status): the "
                                "state of this run is unknown. Its checkpoints and history are still readable; "
                                "delete the run if it is of no use.")
    return progress, problems


def _stored_progress(folder: Path) -> dict[str, Any]:
    """The validated progress as stored ({} when the file is unusable): for the scheduler's own reads."""
    return _load_progress(folder)[0] or {}


def _read_meta_file(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """``({"name", "preset", "created_at"}, problems)``: damaged values fall back to the id and folder time."""
    path = folder / META_FILE
    problems: list[str] = []
    raw: Any = {}
    try:
        data = _read_bounded(path, MAX_JSON_BYTES)
        raw = {} if data is None else json.loads(data.decode("utf-8"))
    except _FileProblem as problem:
        problems.append(f"meta.json is damaged ({problem})")
    except (UnicodeDecodeError, ValueError):
        problems.append("meta.json is damaged (not valid JSON)")
    if not isinstance(raw, dict):
        problems.append(f"meta.json is damaged (a JSON {type(raw).__name__}, not an object)")
        raw = {}
    meta = {key: value for key, value in raw.items() if key not in ("name", "preset", "created_at")}
    name = raw.get("name")
    meta["name"] = name.strip()[:200] if isinstance(name, str) and name.strip() else folder.name
    preset = raw.get("preset")
    meta["preset"] = preset[:100] if isinstance(preset, str) else ""
    created = raw.get("created_at")
    if not _number_ok(created, False, 0.0, 1e11, True):
        if created is not None:
            problems.append(f"meta.json: created_at {_short(created)} refused")
        progress = _stored_progress(folder)
        created = progress.get("created_at") or _mtime(folder)
    meta["created_at"] = float(created)
    return meta, problems


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def write_csv_rows(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]],
                   append: bool = True) -> None:
    """Append rows to a CSV (header written once), flushed so readers see whole lines.

    ``append=False`` rewrites the file atomically (used for ``history.csv``).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    exists = path.exists() and path.stat().st_size > 0
    if not append or not exists:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(column)) for column in columns])
    if append:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
    else:
        from seglib.io import atomic_write_text

        atomic_write_text(path, buffer.getvalue())


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    return str(value)
