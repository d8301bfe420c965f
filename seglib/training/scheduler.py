"""The one-job queue: starting, stopping, resuming and deleting runs, and spawning their workers.

One training job runs per machine. ``start_run`` queues a run and starts it
when nothing else is running (FIFO); a worker that ends starts the next queued
run. Scheduling decisions are taken under a file lock (``filelock.FileLock`` on
``runs/.scheduler.lock``), so two sessions pressing Start at the same moment
result in exactly one running job. Whether a worker is alive is
``seglib.training.liveness``; what a run folder holds is
``seglib.training.runs``.

>>> from seglib.presets import get_preset
>>> run_id = start_run(get_preset("lecture"), name="first try")  # doctest: +SKIP
>>> request_stop(run_id)["status"]                               # doctest: +SKIP
'stopping'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import filelock

from seglib import settings
from seglib.config import RunConfig
from seglib.errors import ConfigError, RunError, RunFolderWriteError
from seglib.training import liveness, splits
from seglib.training.runs import folders, readers, state, writers
from seglib.training.runs.files import ACTIVE_STATUSES, CONSOLE_FILE, FINAL_STATUSES, STOP_FILE

LOCK_FILE = ".scheduler.lock"


# ---------------------------------------------------------------------------
# Actions (instructor controls)
# ---------------------------------------------------------------------------

def start_run(config: RunConfig, name: str | None = None) -> str:
    """Create a run and start it now, or queue it behind the running job. Returns the run id.

    The dataset folder must lie under the data roots (a page may pass user
    input), and hold what the worker needs (pairs to train on, a validation split with
    labelled pixels): otherwise a ``DatasetError`` and no run folder. The worker is a detached ``python -m seglib train --run-dir ...``
    process; read its state with ``state.run_state``.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"start_run needs a RunConfig. Received: config={type(config).__name__}")
    config.validate()
    settings.check_data_path(config.data.root)
    splits.split_pairs(config)  # what the worker would refuse about the data, before any folder exists
    folder = folders.create_run(config, name)
    schedule()
    return folder.name


def request_stop(run_id: str) -> dict[str, Any]:
    """Ask a run to stop: it ends at the next batch with ``last.keras`` saved.

    Writes the ``STOP`` file and sends SIGTERM to the worker. A queued run is
    simply taken out of the queue (status ``stopped``). Returns the progress.
    """
    folders.refuse_reference(run_id, "stopped")
    folder = folders.run_dir(run_id)
    with scheduler_lock():
        progress = state.folder_state(folder, {})
        status = progress.get("status")
        if status == "queued":
            with writers.writing("taking the run out of the queue"):
                writers.write_progress(folder, {"status": "stopped", "phase": "done",
                                                "message": "Taken out of the queue before it started."})
        elif status in ACTIVE_STATUSES:
            with writers.writing("asking the run to stop"):
                (folder / STOP_FILE).write_text(f"{time.time()}\n", encoding="utf-8")
                writers.write_progress(folder, {"status": "stopping",
                                                "message": "Stop requested: finishing the current batch and saving."})
            pid = progress.get("pid")
            if (isinstance(pid, int) and pid != os.getpid()
                    and liveness.pid_alive(pid, progress.get("pid_start"))):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
        else:
            raise RunError(f"Run {run_id!r} is not running (status: {status}); there is nothing to stop.")
    return state.run_state(run_id)


def resume_run(run_id: str, epochs: int | None = None) -> str:
    """Queue a stopped / failed / interrupted run to continue from ``last.keras``.

    ``epochs`` raises the run's total epoch count (to extend a finished run); it is
    recorded beside the config (``folders.extend_epochs``): ``config.json`` is never
    rewritten. The history is appended to and the learning-rate schedule continues.
    """
    folders.refuse_reference(run_id, "resumed")
    folder = folders.run_dir(run_id)
    with scheduler_lock():
        progress = state.folder_state(folder, {})
        status = progress.get("status")
        if status not in FINAL_STATUSES:
            raise RunError(f"Run {run_id!r} is {status}; only a stopped, failed, interrupted or finished "
                           "run can be resumed.")
        config = state.training_config(folder)
        done = state.epochs_done(folder)
        if epochs is not None:
            if not isinstance(epochs, int) or epochs <= done:
                raise RunError(f"To continue run {run_id!r}, epochs must be more than the {done} already "
                               f"done. Received: epochs={epochs!r}")
        elif done >= config.train.epochs:
            raise RunError(f"Run {run_id!r} has already trained all {config.train.epochs} epochs. "
                           "Give a larger number of epochs to continue it.")
        with writers.writing("resuming the run"):
            if epochs is not None:
                folders.extend_epochs(folder, epochs)
            (folder / STOP_FILE).unlink(missing_ok=True)
            now = time.time()
            writers.write_progress(folder, {"status": "queued", "phase": "", "resume": True, "queued_at": now,
                                            "pid": None, "error": None, "epochs": epochs or config.train.epochs,
                                            "message": "Waiting for the machine to be free (resume)."})
    schedule()
    return run_id


def delete_run(run_id: str) -> None:
    """Delete a run folder (only inside the runs folder; never a running run)."""
    folders.refuse_reference(run_id, "deleted")
    folder = folders.run_dir(run_id)
    with scheduler_lock():
        progress = state.folder_state(folder, {})
        if progress.get("status") in ACTIVE_STATUSES:
            raise RunError(f"Run {run_id!r} is running; stop it first, then delete it.")
        root = settings.runs_dir()
        if folder.parent != root or folder.is_symlink():
            raise RunError(f"Refusing to delete {run_id!r}: it is not a run folder inside the runs folder.")
        with writers.writing("deleting the run", writers.RUNS_FOLDER):
            shutil.rmtree(folder)


# ---------------------------------------------------------------------------
# The lock: one scheduling decision at a time, across processes
# ---------------------------------------------------------------------------

_thread_lock = threading.RLock()
_children: list[subprocess.Popen] = []


@contextlib.contextmanager
def scheduler_lock() -> Iterator[None]:
    """An exclusive lock on ``runs/.scheduler.lock``, between processes and between threads."""
    root = settings.runs_dir()
    with _thread_lock:
        with writers.writing("taking the scheduler's lock", writers.RUNS_FOLDER):
            root.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(root / LOCK_FILE)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()


@contextlib.contextmanager
def ending_lock() -> Iterator[None]:
    """The scheduler lock, for a worker's final status write (no lock when the runs folder cannot be locked).

    ``request_stop`` writes its STOP file under the same lock, so a stop request
    either lands before the worker's end (which removes the STOP file) or
    finds the run already ended.
    """
    lock = scheduler_lock()
    try:
        lock.__enter__()
    except (OSError, RunFolderWriteError):
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


# ---------------------------------------------------------------------------
# The scheduler: one training job per machine, FIFO queue
# ---------------------------------------------------------------------------

def schedule() -> str | None:
    """Start the oldest queued run if no worker is alive. Returns the started id, or None.

    Called by ``start_run``, ``resume_run`` and by a worker when it ends; also
    marks runs whose worker died as ``interrupted``.
    """
    with scheduler_lock():
        queued = []
        for folder in folders.run_folders():
            progress = readers.read_progress(folder)[0] or {}
            status = progress.get("status")
            if status in ACTIVE_STATUSES:
                if liveness.worker_alive(progress):
                    return None
                with writers.writing("recording that a worker is gone"):
                    liveness.mark_dead(folder, progress)
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
    with scheduler_lock():
        for other in folders.run_folders():
            if other.resolve() == folder:
                continue
            progress = readers.read_progress(other)[0] or {}
            if progress.get("status") in ACTIVE_STATUSES:
                if liveness.worker_alive(progress):
                    raise RunError(
                        f"Another training run ({other.name}) is running on this machine. Wait for it to "
                        "finish, or stop it from the dashboard or by creating a STOP file in its folder.")
                with writers.writing("recording that a worker is gone"):
                    liveness.mark_dead(other, progress)
        with writers.writing("starting the run"):
            (folder / STOP_FILE).unlink(missing_ok=True)
            known = readers.read_progress(folder)[0] or {}
            spawned_here = known.get("pid") == os.getpid() and known.get("spawner")
            # A worker started from a terminal: its parent (the shell) plays the dashboard's part.
            spawner = known.get("spawner") if spawned_here else liveness.process_identity(os.getppid())
            writers.write_progress(folder, {"status": "running", "phase": "starting", "pid": os.getpid(),
                                            "pid_start": liveness.process_start_time(os.getpid()),
                                            "started_at": time.time(), "error": None, "spawner": spawner})


def _spawn_worker(folder: Path, resume: bool) -> subprocess.Popen:
    """Start ``python -m seglib train`` detached; record its pid (caller holds the lock).

    The package is installed (``pip install -e .``), so the worker imports it
    from any working folder.
    """
    command = [sys.executable, "-m", "seglib", "train"]
    command += ["--resume", str(folder)] if resume else ["--run-dir", str(folder), "--from-queue"]
    if settings.worker_nice():
        command += ["--nice", str(settings.worker_nice())]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with writers.writing("starting the training worker"):
        with open(folder / CONSOLE_FILE, "ab") as console:
            process = subprocess.Popen(command, cwd=settings.PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        now = time.time()
        writers.write_progress(folder, {"status": "running", "phase": "starting", "pid": process.pid,
                                        "pid_start": liveness.process_start_time(process.pid), "started_at": now,
                                        "error": None, "spawner": liveness.process_identity(os.getpid()),
                                        "message": "Starting the training worker (importing TensorFlow)."})
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
    with contextlib.suppress(OSError, RunError), scheduler_lock():
        progress = readers.read_progress(folder)[0] or {}
        if progress.get("status") in ACTIVE_STATUSES and progress.get("pid") == process.pid:
            liveness.mark_dead(folder, progress, signal_number=-code)
    with contextlib.suppress(Exception):  # the next queued run, if any
        schedule()
