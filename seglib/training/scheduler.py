"""The one-job queue: starting, stopping, resuming and deleting runs, and spawning their workers.

One training job runs per machine. ``start_run`` queues a run and starts it
when nothing else is running (FIFO); a worker that ends starts the next queued
run. Scheduling decisions are taken under a file lock (``filelock.FileLock`` on
``runs/.scheduler.lock``), so two sessions pressing Start at the same moment
result in exactly one running job. Whether a worker is alive is
``seglib.training.liveness``; what a run folder holds is
``seglib.training.runfolder``.

>>> from seglib.config import get_preset
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
from seglib.training import liveness, runfiles, runfolder, splits
from seglib.training.runfiles import ACTIVE_STATUSES, CONSOLE_FILE, FINAL_STATUSES, STOP_FILE

LOCK_FILE = ".scheduler.lock"


# ---------------------------------------------------------------------------
# Actions (instructor controls)
# ---------------------------------------------------------------------------

def start_run(config: RunConfig, name: str | None = None) -> str:
    """Create a run and start it now, or queue it behind the running job. Returns the run id.

    The dataset folder must lie under the data roots (a page may pass user
    input), and hold what the worker needs (pairs to train on, a validation split with
    labelled pixels): otherwise a ``DatasetError`` and no run folder. The worker is a detached ``python -m seglib train --run-dir ...``
    process; read its state with ``runfolder.read_progress``.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"start_run needs a RunConfig. Received: config={type(config).__name__}")
    config.validate()
    settings.check_data_path(config.data.root)
    splits.split_pairs(config)  # what the worker would refuse about the data, before any folder exists
    folder = runfolder.create_run(config, name)
    schedule()
    return folder.name


def request_stop(run_id: str) -> dict[str, Any]:
    """Ask a run to stop: it ends at the next batch with ``last.keras`` saved.

    Writes the ``STOP`` file and sends SIGTERM to the worker. A queued run is
    simply taken out of the queue (status ``stopped``). Returns the progress.
    """
    runfolder.refuse_reference(run_id, "stopped")
    folder = runfolder.run_dir(run_id)
    with scheduler_lock():
        progress = runfolder.effective_progress(folder, {})
        status = progress.get("status")
        if status == "queued":
            with runfiles.writing("taking the run out of the queue"):
                runfiles.update_progress(folder, status="stopped", phase="done",
                                         message="Taken out of the queue before it started.")
        elif status in ACTIVE_STATUSES:
            with runfiles.writing("asking the run to stop"):
                (folder / STOP_FILE).write_text(f"{time.time()}\n", encoding="utf-8")
                runfiles.update_progress(folder, status="stopping",
                                         message="Stop requested: finishing the current batch and saving.")
            pid = progress.get("pid")
            if (isinstance(pid, int) and pid != os.getpid()
                    and liveness.pid_alive(pid, progress.get("pid_start"))):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
        else:
            raise RunError(f"Run {run_id!r} is not running (status: {status}); there is nothing to stop.")
    return runfolder.read_progress(run_id)


def resume_run(run_id: str, epochs: int | None = None) -> str:
    """Queue a stopped / failed / interrupted run to continue from ``last.keras``.

    ``epochs`` raises the run's total epoch count (to extend a finished run); it is
    recorded beside the config (``runfolder.extend_epochs``): ``config.json`` is never
    rewritten. The history is appended to and the learning-rate schedule continues.
    """
    runfolder.refuse_reference(run_id, "resumed")
    folder = runfolder.run_dir(run_id)
    with scheduler_lock():
        progress = runfolder.effective_progress(folder, {})
        status = progress.get("status")
        if status not in FINAL_STATUSES:
            raise RunError(f"Run {run_id!r} is {status}; only a stopped, failed, interrupted or finished "
                           "run can be resumed.")
        config = runfolder.read_config(run_id)
        done = runfolder.epochs_done(folder)
        if epochs is not None:
            if not isinstance(epochs, int) or epochs <= done:
                raise RunError(f"To continue run {run_id!r}, epochs must be more than the {done} already "
                               f"done. Received: epochs={epochs!r}")
        elif done >= config.train.epochs:
            raise RunError(f"Run {run_id!r} has already trained all {config.train.epochs} epochs. "
                           "Give a larger number of epochs to continue it.")
        with runfiles.writing("resuming the run"):
            if epochs is not None:
                runfolder.extend_epochs(folder, epochs)
            (folder / STOP_FILE).unlink(missing_ok=True)
            now = time.time()
            runfiles.update_progress(folder, status="queued", phase="", resume=True, queued_at=now, pid=None,
                                     error=None, epochs=epochs or config.train.epochs,
                                     message="Waiting for the machine to be free (resume).")
    schedule()
    return run_id


def delete_run(run_id: str) -> None:
    """Delete a run folder (only inside the runs folder; never a running run)."""
    runfolder.refuse_reference(run_id, "deleted")
    folder = runfolder.run_dir(run_id)
    with scheduler_lock():
        progress = runfolder.effective_progress(folder, {})
        if progress.get("status") in ACTIVE_STATUSES:
            raise RunError(f"Run {run_id!r} is running; stop it first, then delete it.")
        root = settings.runs_dir()
        if folder.parent != root or folder.is_symlink():
            raise RunError(f"Refusing to delete {run_id!r}: it is not a run folder inside the runs folder.")
        with runfiles.writing("deleting the run", runfiles.RUNS_FOLDER):
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
        with runfiles.writing("taking the scheduler's lock", runfiles.RUNS_FOLDER):
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
        for folder in runfolder.run_folders():
            progress = runfiles.stored_progress(folder)
            status = progress.get("status")
            if status in ACTIVE_STATUSES:
                if liveness.worker_alive(progress):
                    return None
                with runfiles.writing("recording that a worker is gone"):
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
        for other in runfolder.run_folders():
            if other.resolve() == folder:
                continue
            progress = runfiles.stored_progress(other)
            if progress.get("status") in ACTIVE_STATUSES:
                if liveness.worker_alive(progress):
                    raise RunError(
                        f"Another training run ({other.name}) is running on this machine. Wait for it to "
                        "finish, or stop it from the dashboard or by creating a STOP file in its folder.")
                with runfiles.writing("recording that a worker is gone"):
                    liveness.mark_dead(other, progress)
        with runfiles.writing("starting the run"):
            (folder / STOP_FILE).unlink(missing_ok=True)
            known = runfiles.stored_progress(folder)
            spawned_here = known.get("pid") == os.getpid() and known.get("spawner")
            # A worker started from a terminal: its parent (the shell) plays the dashboard's part.
            spawner = known.get("spawner") if spawned_here else liveness.process_identity(os.getppid())
            runfiles.update_progress(folder, status="running", phase="starting", pid=os.getpid(),
                                     pid_start=liveness.process_start_time(os.getpid()), started_at=time.time(),
                                     error=None, spawner=spawner)


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
    with runfiles.writing("starting the training worker"):
        with open(folder / CONSOLE_FILE, "ab") as console:
            process = subprocess.Popen(command, cwd=settings.PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=console, stderr=subprocess.STDOUT, start_new_session=True)
        now = time.time()
        runfiles.update_progress(folder, status="running", phase="starting", pid=process.pid,
                                 pid_start=liveness.process_start_time(process.pid), started_at=now, error=None,
                                 spawner=liveness.process_identity(os.getpid()),
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
    with contextlib.suppress(OSError, RunError), scheduler_lock():
        progress = runfiles.stored_progress(folder)
        if progress.get("status") in ACTIVE_STATUSES and progress.get("pid") == process.pid:
            liveness.mark_dead(folder, progress, signal_number=-code)
    with contextlib.suppress(Exception):  # the next queued run, if any
        schedule()
