"""Run folders: the contract between the training worker and the pages.

A training run lives in ``runs/<run-id>/`` (``settings.runs_dir()``). The
worker (``seglib.train``, a separate process) writes it; the dashboard only
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
    Present when a stop was requested; the worker ends at the next batch.

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
from seglib.errors import ConfigError, RunError
from seglib.io import atomic_write_json, read_json

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


def _run_path(run_id: str) -> Path:
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.match(run_id):
        raise RunError(f"Not a valid run id (letters, digits, '.', '_' and '-'). Received: run_id={run_id!r}")
    root = settings.runs_dir()
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
    """The run's ``RunConfig``; RunError if ``config.json`` is missing or broken."""
    path = run_dir(run_id) / CONFIG_FILE
    try:
        return RunConfig.load(path)
    except ConfigError as error:
        raise RunError(f"Run {run_id!r}: {error} The run folder is damaged; delete the run.") from error


def read_meta(run_id: str) -> dict[str, Any]:
    folder = run_dir(run_id)
    meta = read_json(folder / META_FILE, default={}) or {}
    meta.setdefault("name", run_id)
    meta.setdefault("preset", "")
    meta.setdefault("created_at", _mtime(folder))
    return meta


def read_progress(run_id: str) -> dict[str, Any]:
    """The run's ``progress.json`` as a dict, with two computed corrections.

    A ``running``/``stopping`` run whose worker process is gone is reported
    ``failed`` when the worker alone was killed (the dashboard that started it
    is still up), ``interrupted`` when the machine or the dashboard restarted; a
    ``queued`` run gets ``queue_position`` (1 = next to start).
    """
    folder = run_dir(run_id)
    return _effective_progress(folder, _queued_order())


def read_history(run_id: str) -> "pd.DataFrame":
    """``history.csv`` as a DataFrame with ``HISTORY_COLUMNS`` (empty before epoch 1)."""
    return _read_csv(run_dir(run_id) / HISTORY_FILE, HISTORY_COLUMNS)


def read_steps(run_id: str) -> "pd.DataFrame":
    """``steps.csv`` (epoch, step, loss, accuracy) for the running-loss curve."""
    return _read_csv(run_dir(run_id) / STEPS_FILE, STEP_COLUMNS)


def read_class_iou(run_id: str) -> "pd.DataFrame":
    """``class_iou.csv``: ``epoch`` + one validation-IoU column per class name."""
    return _read_csv(run_dir(run_id) / CLASS_IOU_FILE, ("epoch", *CLASS_NAMES))


def read_previews(run_id: str) -> dict[str, Any] | None:
    """The preview strip of a run, or None before the worker wrote it.

    Returns ``{"stems": [...], "images": uint8 (K,H,W,3), "truth": uint8 (K,H,W),
    "epochs": [1, 2, ...], "predictions": {epoch: uint8 (K,H,W)}}``.
    """
    folder = run_dir(run_id) / PREVIEWS_DIR
    inputs = _load_npz(folder / PREVIEW_INPUTS)
    if inputs is None:
        return None
    predictions: dict[int, np.ndarray] = {}
    for path in sorted(folder.glob("epoch_*.npz")):
        match = re.fullmatch(r"epoch_(\d+)\.npz", path.name)
        data = _load_npz(path) if match else None
        if data is not None and "masks" in data:
            predictions[int(match.group(1))] = data["masks"]
    return {"stems": [str(s) for s in inputs.get("stems", [])], "images": inputs["images"],
            "truth": inputs["truth"], "epochs": sorted(predictions), "predictions": predictions}


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
    """All runs, newest first, with dead workers reported as ``failed`` or ``interrupted``."""
    root = settings.runs_dir()
    if not root.exists():
        return []
    order = _queued_order()
    infos = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name.startswith(".") or not (folder / PROGRESS_FILE).exists():
            continue
        progress = _effective_progress(folder, order)
        meta = read_json(folder / META_FILE, default={}) or {}
        history = _read_csv(folder / HISTORY_FILE, HISTORY_COLUMNS)
        best = None
        if len(history) and history["val_mean_iou"].notna().any():
            best = float(history["val_mean_iou"].max())
        infos.append(RunInfo(
            id=folder.name,
            name=str(meta.get("name") or folder.name),
            status=str(progress.get("status", "")),
            preset=str(meta.get("preset", "")),
            created_at=float(meta.get("created_at") or progress.get("created_at") or _mtime(folder)),
            epochs_done=int(history["epoch"].max()) if len(history) else 0,
            epochs=int(progress.get("epochs") or 0),
            best_val_mean_iou=best,
            path=folder,
            phase=str(progress.get("phase") or ""),
            message=str(progress.get("message") or ""),
            queue_position=progress.get("queue_position"),
        ))
    infos.sort(key=lambda info: (info.created_at, info.id), reverse=True)
    return infos


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
        progress = read_json(folder / PROGRESS_FILE, default={}) or {}
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
            progress = read_json(folder / PROGRESS_FILE, default={}) or {}
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
            progress = read_json(other / PROGRESS_FILE, default={}) or {}
            if progress.get("status") in ACTIVE_STATUSES:
                if _worker_alive(progress):
                    raise RunError(
                        f"Another training run ({other.name}) is running on this machine. Wait for it to "
                        "finish, or stop it from the dashboard or by creating a STOP file in its folder.")
                _mark_interrupted(other, progress)
        (folder / STOP_FILE).unlink(missing_ok=True)
        known = read_json(folder / PROGRESS_FILE, default={}) or {}
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
        progress = read_json(folder / PROGRESS_FILE, default={}) or {}
        if progress.get("status") in ACTIVE_STATUSES and progress.get("pid") == process.pid:
            _mark_dead(folder, progress, signal_number=-code)
    with contextlib.suppress(Exception):  # the next queued run, if any
        schedule()


def _queued_order() -> dict[str, int]:
    queued = []
    for folder in _run_folders():
        progress = read_json(folder / PROGRESS_FILE, default={}) or {}
        if progress.get("status") == "queued":
            queued.append((float(progress.get("queued_at") or 0), folder.name))
    return {name: index + 1 for index, (_, name) in enumerate(sorted(queued))}


def _effective_progress(folder: Path, queued_order: dict[str, int]) -> dict[str, Any]:
    progress = read_json(folder / PROGRESS_FILE, default=None)
    if not isinstance(progress, dict):
        progress = {"status": "failed", "phase": "done",
                    "message": "progress.json is missing or damaged.", "error": "progress.json unreadable"}
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
            f"was at epoch {progress.get('epoch', 0)}. Resume it to continue from the last checkpoint.")


def _killed_message(progress: dict[str, Any], signal_number: int | None = None) -> str:
    how = f" by signal {signal_number}" if signal_number else ""
    return (f"The training process was killed{how} (for example by `kill -9` or the out-of-memory killer) "
            f"while the run was at epoch {progress.get('epoch', 0)}. The last checkpoint is kept: resume the run "
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
                "message": f"Stopped at epoch {progress.get('epoch', 0)} (the worker ended on the stop request)."}
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
    progress = read_json(folder / PROGRESS_FILE, default={}) or {}
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

def _run_folders() -> list[Path]:
    root = settings.runs_dir()
    if not root.exists():
        return []
    return [p for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / PROGRESS_FILE).exists()]


def _epochs_done(folder: Path) -> int:
    history = _read_csv(folder / HISTORY_FILE, HISTORY_COLUMNS)
    return int(history["epoch"].max()) if len(history) else 0


def _read_csv(path: Path, columns: tuple[str, ...]) -> "pd.DataFrame":
    """Read a CSV another process may be appending to: a line cut mid-write is dropped."""
    import pandas as pd

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return pd.DataFrame(columns=list(columns))
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    lines = text.splitlines()
    if len(lines) < 1:
        return pd.DataFrame(columns=list(columns))
    header = next(csv.reader([lines[0]]))
    width = len(header)
    rows = [row for row in csv.reader(lines[1:]) if len(row) == width]
    frame = pd.DataFrame(rows, columns=header)
    for column in frame.columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in columns:
        if column not in frame.columns:
            frame[column] = np.nan
    if "epoch" in frame.columns:
        frame = frame[frame["epoch"].notna()]
        frame["epoch"] = frame["epoch"].astype(int)
    if "step" in frame.columns:
        frame = frame[frame["step"].notna()]
        frame["step"] = frame["step"].astype(int)
    return frame.reset_index(drop=True)


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError):
        return None
    except Exception:  # noqa: BLE001 - zipfile.BadZipFile and friends: treat as not yet written
        return None


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
