"""What the pages ask of a run: its state, the config it trains with, the runs table.

Each reads a run's files through ``seglib.training.runs.readers`` (one reader per file) and
composes them: ``run_state`` is ``progress.json`` with what the file alone cannot say worked in
(a worker that died, a pending stop request, the place in the queue); ``training_config`` is
``config.json`` with a Continue's epochs from ``meta.json``; ``list_runs`` is one ``RunInfo``
per run folder, from its state, meta, history and config, and never fails because of one run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.config import RunConfig
from seglib.errors import RunError
from seglib.training import liveness
from seglib.training.runs import files, readers
from seglib.training.runs.folders import is_reference, run_dir, run_folders


# ---------------------------------------------------------------------------
# The runs table
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
    #: What is damaged in this run's files ("" when nothing); the rule is in ``readers``.
    damaged: str = ""
    #: Where the backbone started (``RunConfig.start_summary``), e.g. "pretrained backbone".
    start: str = ""
    #: A recorded reference run shipped with the project (read-only).
    reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["path"] = settings.display_path(self.path)
        return values


# ---------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------

def run_state(run_id: str) -> dict[str, Any]:
    """The run's state as the pages show it: ``progress.json``, validated, with two computed corrections.

    A ``running``/``stopping`` run whose worker process is gone is reported
    ``failed`` when the worker alone was killed (the dashboard that started it
    is still up), ``interrupted`` when the machine or the dashboard restarted; a
    ``queued`` run gets ``queue_position`` (1 = next to start), and every run
    ``stop_requested`` (its STOP file is there). Fields with an impossible value
    read as ``None`` and are named in ``damaged`` ("" when none); a file that is
    not a JSON object reads as a ``failed`` run. ``RunError`` when there is no such run.
    """
    return folder_state(run_dir(run_id), queued_order())


def folder_state(folder: Path, order: dict[str, int]) -> dict[str, Any]:
    """``run_state`` of the run in ``folder`` (``order``: ``queued_order()``, or ``{}`` where the queue
    position does not matter)."""
    progress, problems = readers.read_progress(folder)
    if progress is None:
        reason = problems[0]
        progress = {"status": "failed", "phase": "done", "error": f"progress.json {reason}",
                    "message": f"progress.json {reason}: the state of this run is unknown. Its checkpoints "
                               "and history are still readable; delete the run if it is of no use."}
    progress["damaged"] = f"progress.json: {'; '.join(problems)}" if problems else ""
    status = progress.get("status")
    if status in files.ACTIVE_STATUSES and not liveness.worker_alive(progress):
        progress = {**progress, **liveness.dead_worker_fields(progress)}
    if progress.get("status") == "queued":
        progress["queue_position"] = order.get(folder.name)
    else:
        progress["queue_position"] = None
    progress["stop_requested"] = (folder / files.STOP_FILE).exists()
    return progress


def training_config(folder: Path) -> RunConfig:
    """The ``RunConfig`` the run in ``folder`` trains with: ``config.json`` as saved (never rewritten),
    with ``train.epochs`` the total a Continue or ``--resume --epochs`` asked for (``folders.extend_epochs``).
    ``DamagedRunError`` if ``config.json`` is missing or broken."""
    config = readers.read_config(folder)
    epochs = readers.read_meta(folder)[0].get(files.CONTINUED_EPOCHS)
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= files.MAX_EPOCHS:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))
    return config


def epochs_done(folder: Path) -> int:
    """The last epoch in the history of the run in ``folder`` (0 before the first)."""
    history = readers.read_history(folder)
    return int(history["epoch"].max()) if len(history) else 0


# ---------------------------------------------------------------------------
# All runs
# ---------------------------------------------------------------------------

def queued_order() -> dict[str, int]:
    """``{run id: 1-based queue position}`` of the queued runs (FIFO by ``queued_at``)."""
    queued = []
    for folder in run_folders():
        progress = readers.read_progress(folder)[0] or {}
        if progress.get("status") == "queued":
            queued.append((float(progress.get("queued_at") or 0), folder.name))
    return {name: index + 1 for index, (_, name) in enumerate(sorted(queued))}


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
                                 created_at=readers.modified_time(folder), epochs_done=0, epochs=0,
                                 best_val_mean_iou=None, path=folder, phase="done",
                                 message="This run folder cannot be read.",
                                 damaged=f"unreadable ({type(error).__name__}: {str(error)[:200]})"))
    infos.sort(key=lambda info: (info.created_at, info.id), reverse=True)
    return infos


def _run_info(folder: Path, order: dict[str, int]) -> RunInfo:
    progress = folder_state(folder, order)
    meta, meta_notes = readers.read_meta(folder)
    notes = [progress["damaged"]] if progress.get("damaged") else []
    notes += meta_notes
    try:
        history = readers.read_history(folder)
    except readers.DamagedRunError as error:
        history = readers.empty_table(files.HISTORY_FILE)
        notes.append(error.reason)
    if readers.damage_note(history):
        notes.append(readers.damage_note(history))
    valid_iou = history["val_mean_iou"].dropna()
    epochs, start = progress.get("epochs"), ""
    try:
        config = training_config(folder)
        start = config.start_summary()
        epochs = config.train.epochs if epochs is None else epochs
    except readers.DamagedRunError as error:  # the message itself shows where the run is opened
        notes.append(f"{files.CONFIG_FILE} is damaged ({str(error.__cause__ or error)[:200]})")
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
