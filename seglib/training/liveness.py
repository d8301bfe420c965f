"""Whether a run's worker process is alive, and what a run whose worker is gone reads as.

``progress.json`` records the worker's ``pid`` and the start time of that
process (``pid_start``, psutil's ``create_time``: Unix seconds), and the same
pair for the process that started it (``spawner``: the dashboard, or the shell
of a terminal). A pid counts as the recorded process only while a live process
with that pid started at the recorded time, so a pid that another process got
later (after a reboot, say) never passes for the worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from seglib.training.runs import writers

#: Seconds two readings of one process's start time may differ by: psutil adds the
#: boot time, which moves when the system clock is set. Two processes that get the
#: same pid start much further apart than this.
START_TOLERANCE = 1.0


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (Unix seconds), or None when there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_identity(pid: int) -> dict[str, Any]:
    """``{"pid", "start"}``: what ``progress.json`` records of a process (the ``spawner``)."""
    return {"pid": int(pid), "start": process_start_time(pid)}


def pid_alive(pid: int, pid_start: Any = None) -> bool:
    """True when ``pid`` is a live (non-zombie) process, and the same one that was recorded."""
    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False
        start = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists, owned by someone else
        return True
    if pid_start is not None and abs(start - float(pid_start)) > START_TOLERANCE:
        return False  # the pid was reused by another process
    return True


def worker_alive(progress: dict[str, Any]) -> bool:
    """Whether the worker a (validated) progress dict names is running."""
    pid = progress.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        # A run marked active by a worker without a pid cannot be checked; trust a fresh heartbeat.
        return time.time() - float(progress.get("updated_at") or 0) < 30
    return pid_alive(pid, progress.get("pid_start"))


def _interrupted_message(progress: dict[str, Any]) -> str:
    return ("The training worker is gone (the process was killed or the machine restarted) while the run "
            f"was at epoch {progress.get('epoch') or 0}. Resume it to continue from the last checkpoint.")


def _killed_message(progress: dict[str, Any], signal_number: int | None = None) -> str:
    how = f" by signal {signal_number}" if signal_number else ""
    return (f"The training process was killed{how} (for example by `kill -9` or the out-of-memory killer) "
            f"while the run was at epoch {progress.get('epoch') or 0}. The last checkpoint is kept: resume the run "
            "to continue from it, or start a new one.")


def dead_worker_fields(progress: dict[str, Any], signal_number: int | None = None) -> dict[str, Any]:
    """What a run whose worker is gone now reads as.

    ``failed`` ("the training process was killed") when the process that
    started the worker (the dashboard, or the terminal's shell) is still up:
    the worker alone died. ``interrupted`` when the dashboard restarted or the
    machine rebooted as well (nothing wrong with the run): then the recorded
    spawner is gone, whatever now holds its pid.
    """
    if progress.get("status") == "stopping":  # asked to stop, and it did (perhaps before saving)
        return {"status": "stopped", "phase": "done",
                "message": f"Stopped at epoch {progress.get('epoch') or 0} (the worker ended on the stop request)."}
    spawner = progress.get("spawner") or {}
    spawner_alive = (isinstance(spawner, dict) and isinstance(spawner.get("pid"), int)
                     and pid_alive(spawner["pid"], spawner.get("start")))
    if signal_number or spawner_alive:
        message = _killed_message(progress, signal_number)
        return {"status": "failed", "phase": "done", "message": message, "error": "worker killed"}
    return {"status": "interrupted", "phase": "done", "message": _interrupted_message(progress)}


def mark_dead(folder: Path, progress: dict[str, Any], signal_number: int | None = None) -> None:
    """Store the verdict of ``dead_worker_fields`` in ``progress.json``."""
    writers.write_progress(folder, {**dead_worker_fields(progress, signal_number), "finished_at": time.time()})
