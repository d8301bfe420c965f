"""Run folders: the contract between the training worker and the pages.

A training run lives in ``runs/<run-id>/`` (``settings.runs_dir()``). The
worker (``seglib.training.worker``, a separate process) writes it; the dashboard
only reads it, through the functions of this module, so a crash of training can
never take a page down and a browser reload never loses a run. Each file is
read with the validating readers of ``seglib.training.runfiles`` (which also
holds the names below, and the rule for damaged files); starting, stopping and
deleting runs is ``seglib.training.scheduler``.

Files of a run folder (every whole-file write is atomic: temp file + rename):

``config.json``
    The ``RunConfig`` (data, model, training) that rebuilds the run.
``meta.json``
    ``{"name", "preset", "created_at"}``; ``name`` is the renamable display name.
    ``epochs``, once a Continue asked for more epochs than ``config.json`` plans
    (``config.json`` itself is written once, when the run is created).
``progress.json``
    Live state, rewritten at least every 2 s while the worker runs: ``status``
    (queued / running / stopping / stopped / finished / failed / interrupted),
    ``phase`` (starting / compiling / training / validating / saving / done),
    ``epoch``, ``epochs``, ``step``, ``steps_per_epoch``, ``images_per_second``,
    ``eta_seconds``, ``running_loss``, ``message``, ``error``, ``pid``,
    ``created_at``, ``queued_at``, ``started_at``, ``updated_at`` (Unix seconds);
    ``pid_start`` and ``spawner`` identify the worker process and the one that
    started it (``seglib.training.liveness``).
``history.csv``
    One row per finished epoch: ``epoch, loss, val_loss, accuracy, val_accuracy,
    mean_iou, val_mean_iou, lr, seconds, weight_norm`` (IoUs from an exact int64
    confusion matrix; ``seconds`` = wall time of the epoch including validation;
    ``weight_norm`` = L2 norm of the trainable kernels at the epoch's end,
    ``seglib.training.steps.weight_norm``; empty in runs recorded before it).
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

>>> from seglib.config import get_preset
>>> from seglib.training import scheduler
>>> run_id = scheduler.start_run(get_preset("lecture"), name="first try")  # doctest: +SKIP
>>> read_progress(run_id)["status"]                                         # doctest: +SKIP
'running'
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seglib import settings
from seglib.config import RunConfig
from seglib.errors import ConfigError, DatasetError, RunError, RunFolderWriteError
from seglib.io import atomic_write_json
from seglib.training import liveness, previews, runfiles
from seglib.training.runfiles import (ACTIVE_STATUSES, CLASS_IOU_FILE, CONFIG_FILE, CONSOLE_FILE, HISTORY_FILE,
                                      LOG_FILE, META_FILE, PROGRESS_FILE, STEPS_FILE, STOP_FILE)

if TYPE_CHECKING:  # pandas is imported where a table is read, not with the module
    import pandas as pd

#: Recorded reference runs shipped with the project (``python -m seglib reference-runs``): read-only,
#: listed with the machine's own runs. Their ids start with REFERENCE_PREFIX.
REFERENCE_DIR = settings.ASSETS_DIR / "reference_runs"
REFERENCE_PREFIX = "reference-"
#: ``meta.json``'s record of a Continue: the total epochs the run trains to (more than ``config.json`` says).
CONTINUED_EPOCHS = "epochs"
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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


def refuse_reference(run_id: str, action: str) -> None:
    """RunError when ``run_id`` is a (read-only) reference run: it cannot be ``action`` ("stopped", ...)."""
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
    folder, made = None, False
    try:
        with runfiles.writing("creating the run", runfiles.RUNS_FOLDER):
            if path is None:
                folder, made = _unique_folder(new_run_id(config.preset)), True
            else:
                folder = Path(path).expanduser().resolve()
                if (folder / CONFIG_FILE).exists():
                    raise RunError(f"The run folder {folder.name!r} already holds a run. Choose a new --run-dir, "
                                   f"or continue it with --resume {folder.name}.")
                made = not folder.exists()
                folder.mkdir(parents=True, exist_ok=True)
            now = time.time()
            config.save(folder / CONFIG_FILE)
            atomic_write_json(folder / META_FILE, {
                "name": unicodedata.normalize("NFC", (name or "").strip()) or folder.name, "preset": config.preset,
                "created_at": now})
            atomic_write_json(folder / PROGRESS_FILE, {
                "status": status, "phase": "", "epoch": 0, "epochs": config.train.epochs, "step": 0,
                "steps_per_epoch": 0, "images_per_second": None, "eta_seconds": None, "running_loss": None,
                "message": "Waiting for the machine to be free." if status == "queued" else "",
                "error": None, "pid": None, "created_at": now, "queued_at": now, "started_at": None,
                "updated_at": now,
            })
    except RunFolderWriteError:
        if made and folder is not None:  # no half-written run is left behind (a full disk, say)
            shutil.rmtree(folder, ignore_errors=True)
        raise
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
        from seglib.data.layout import EXPECTED_LAYOUT

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
    """The run's ``RunConfig`` as it trains (``training_config``); ``DamagedRunError`` if ``config.json``
    is missing or broken."""
    return training_config(run_dir(run_id))


def training_config(folder: Path) -> RunConfig:
    """The ``RunConfig`` the run in ``folder`` trains with: ``config.json`` as saved (never rewritten),
    with ``train.epochs`` the total a Continue or ``--resume --epochs`` asked for (``extend_epochs``)."""
    config = runfiles.read_config_file(folder)
    epochs = runfiles.read_meta_file(folder)[0].get(CONTINUED_EPOCHS)
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= runfiles.MAX_EPOCHS:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
    return config


def extend_epochs(folder: Path, epochs: int) -> None:
    """Record that the run in ``folder`` trains on up to ``epochs`` epochs (Continue, ``--resume --epochs``).

    ``config.json`` stays as the run was started (a run's config is never rewritten);
    the new total goes into ``meta.json`` and ``training_config`` applies it.
    """
    meta = runfiles.read_meta_file(folder)[0]
    meta[CONTINUED_EPOCHS] = int(epochs)
    with runfiles.writing("continuing the run"):
        atomic_write_json(folder / META_FILE, meta)


def read_meta(run_id: str) -> dict[str, Any]:
    """``{"name", "preset", "created_at"}`` of a run; damaged values fall back to the run id and folder time."""
    return runfiles.read_meta_file(run_dir(run_id))[0]


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
    return effective_progress(folder, queued_order())


def read_history(run_id: str) -> "pd.DataFrame":
    """``history.csv`` as a DataFrame with ``HISTORY_FILE_COLUMNS`` (empty before epoch 1).

    ``epoch`` is int64, the rest float64 (NaN = undefined). Damaged rows are
    skipped and counted in ``attrs["skipped_rows"]``; ``DamagedRunError`` when
    the file is unusable as a whole (see ``seglib.training.runfiles``).
    """
    return runfiles.read_table(run_dir(run_id) / HISTORY_FILE)


def read_steps(run_id: str) -> "pd.DataFrame":
    """``steps.csv`` (epoch, step, loss, accuracy) for the running-loss curve; validated as ``read_history``."""
    return runfiles.read_table(run_dir(run_id) / STEPS_FILE)


def read_class_iou(run_id: str) -> "pd.DataFrame":
    """``class_iou.csv``: ``epoch`` + one validation-IoU column per class name; validated as ``read_history``."""
    return runfiles.read_table(run_dir(run_id) / CLASS_IOU_FILE)


def read_previews(run_id: str) -> dict[str, Any] | None:
    """The preview strip of a run, or None before the worker wrote it (``previews.load_previews``)."""
    return previews.load_previews(run_dir(run_id))


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


def list_runs() -> list[RunInfo]:
    """All runs, newest first, with dead workers reported as ``failed`` or ``interrupted``.

    Never raises because of one run's files: a damaged file is named in that
    run's ``RunInfo.damaged`` and the other runs read as usual.
    """
    order = queued_order() if settings.runs_dir().exists() else {}
    infos = []
    for folder in run_folders(references=True):
        try:
            infos.append(_run_info(folder, order))
        except Exception as error:  # noqa: BLE001 - the last guard: one run never breaks the list
            infos.append(RunInfo(id=folder.name, name=folder.name, status="failed", preset="",
                                 created_at=runfiles.modified_time(folder), epochs_done=0, epochs=0,
                                 best_val_mean_iou=None, path=folder, phase="done",
                                 message="This run folder cannot be read.",
                                 damaged=f"unreadable ({type(error).__name__}: {str(error)[:200]})"))
    infos.sort(key=lambda info: (info.created_at, info.id), reverse=True)
    return infos


def _run_info(folder: Path, order: dict[str, int]) -> RunInfo:
    progress = effective_progress(folder, order)
    meta, meta_notes = runfiles.read_meta_file(folder)
    notes = [progress["damaged"]] if progress.get("damaged") else []
    notes += meta_notes
    try:
        history = runfiles.read_table(folder / HISTORY_FILE)
    except runfiles.DamagedRunError as error:
        history = runfiles.empty_table(HISTORY_FILE)
        notes.append(error.reason)
    if runfiles.damage_note(history):
        notes.append(runfiles.damage_note(history))
    valid_iou = history["val_mean_iou"].dropna()
    epochs, start = progress.get("epochs"), ""
    try:
        config = training_config(folder)
        start = config.start_summary()
        epochs = config.train.epochs if epochs is None else epochs
    except runfiles.DamagedRunError as error:  # the message itself shows where the run is opened
        notes.append(f"{CONFIG_FILE} is damaged ({str(error.__cause__ or error)[:200]})")
    except RunError:  # written by a newer version of the project: not damaged
        pass
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


def rename_run(run_id: str, name: str) -> None:
    """Change a run's display name (``meta.json``); the id and folder stay."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name or len(name) > 200:
        raise RunError(f"A run name must have 1 to 200 characters. Received: name={name!r}")
    refuse_reference(run_id, "renamed")
    folder = run_dir(run_id)
    meta = read_meta(run_id)
    meta["name"] = name
    with runfiles.writing("renaming the run"):
        atomic_write_json(folder / META_FILE, meta)


# ---------------------------------------------------------------------------
# The runs folder as a whole (for the scheduler and the time estimate too)
# ---------------------------------------------------------------------------

def run_folders(references: bool = False) -> list[Path]:
    """The machine's run folders; with ``references``, the shipped reference runs too."""
    roots = [settings.runs_dir()] + ([REFERENCE_DIR] if references else [])
    return [p for root in roots if root.exists() for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / PROGRESS_FILE).exists()
            and (root == REFERENCE_DIR) == p.name.startswith(REFERENCE_PREFIX)]


def epochs_done(folder: Path) -> int:
    """The last epoch in the history of the run in ``folder`` (0 before the first)."""
    history = runfiles.read_table(folder / HISTORY_FILE)
    return int(history["epoch"].max()) if len(history) else 0


def drop_epochs_after(folder: Path, epoch: int) -> list[dict[str, Any]]:
    """Cut the run in ``folder`` back to its first ``epoch`` epochs (a resume drops the rows and previews
    of a later, interrupted epoch); return the history rows kept."""
    history = runfiles.read_table(folder / HISTORY_FILE)
    rows = history[history["epoch"] <= epoch].to_dict("records")
    with runfiles.writing("resuming the run"):
        runfiles.write_csv_rows(folder / HISTORY_FILE, runfiles.HISTORY_FILE_COLUMNS, rows, append=False)
        for name in (STEPS_FILE, CLASS_IOU_FILE):
            frame = runfiles.read_table(folder / name)
            if len(frame):
                frame = frame[frame["epoch"] <= epoch]
                runfiles.write_csv_rows(folder / name, list(frame.columns), frame.to_dict("records"), append=False)
        for path in (folder / runfiles.PREVIEWS_DIR).glob("epoch_*.npz"):
            with contextlib.suppress(ValueError):
                if int(path.stem.split("_")[1]) > epoch:
                    path.unlink(missing_ok=True)
    return rows


def queued_order() -> dict[str, int]:
    """``{run id: 1-based queue position}`` of the queued runs (FIFO by ``queued_at``)."""
    queued = []
    for folder in run_folders():
        progress = runfiles.stored_progress(folder)
        if progress.get("status") == "queued":
            queued.append((float(progress.get("queued_at") or 0), folder.name))
    return {name: index + 1 for index, (_, name) in enumerate(sorted(queued))}


def effective_progress(folder: Path, order: dict[str, int]) -> dict[str, Any]:
    """The validated progress of ``folder`` as ``read_progress`` reports it (``order``: ``queued_order()``)."""
    progress, problems = runfiles.load_progress(folder)
    if progress is None:
        reason = problems[0]
        progress = {"status": "failed", "phase": "done", "error": f"progress.json {reason}",
                    "message": f"progress.json {reason}: the state of this run is unknown. Its checkpoints "
                               "and history are still readable; delete the run if it is of no use."}
    progress["damaged"] = f"progress.json: {'; '.join(problems)}" if problems else ""
    status = progress.get("status")
    if status in ACTIVE_STATUSES and not liveness.worker_alive(progress):
        progress = {**progress, **liveness.dead_worker_fields(progress)}
    if progress.get("status") == "queued":
        progress["queue_position"] = order.get(folder.name)
    else:
        progress["queue_position"] = None
    progress["stop_requested"] = (folder / STOP_FILE).exists()
    return progress
