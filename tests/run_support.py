"""Helpers for the tests that write run folders and start real training workers: a small run's
configuration, a run folder written by hand (``make_run``, the ``run_folder`` fixture of conftest.py),
a runs folder of a test module's own, a progress file edited by hand, the runs alive now, and the
clean-up that stops (then kills) every worker a test leaves running."""

from __future__ import annotations

import json
import os
import signal
import contextlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from dashboard_support import wait_until
from seglib.config import RunConfig
from seglib.presets import get_preset
from seglib.training import liveness, scheduler
from seglib.training.runs import files, folders, state

#: A small lecture-preset run on the tiny synthetic dataset: 64 px, narrow heads, batch 4, 2 epochs.
SMALL_RUN = {"model.image_size": 64, "model.aspp_filters": 16, "model.decoder_filters": 16,
             "train.batch_size": 4, "train.epochs": 2, "data.root": "synthetic"}


def small_config(**overrides) -> RunConfig:
    """The ``SMALL_RUN`` configuration with dotted-key ``overrides`` (``**{"train.epochs": 9}``)."""
    return get_preset("lecture").with_overrides({**SMALL_RUN, **overrides})


#: ``history.csv`` of a run with two good epochs, as the worker writes it.
HISTORY = (",".join(files.HISTORY_COLUMNS) + "\n"
           "1,2.5,2.4,0.5,0.55,0.1,0.12,0.003,30.5\n"
           "2,2.1,2.0,0.6,0.65,0.2,0.22,0.0029,29.0\n")


def make_run(status: str = "finished", name: str = "test run", history: str | None = None,
             config: RunConfig | None = None, **progress) -> Path:
    """A run folder written by hand, with no worker: ``config`` (default ``small_config()``) in the
    runs folder, ``status``, ``history`` as ``history.csv`` (e.g. ``HISTORY``). A ``running`` or
    ``stopping`` run names this test process as its worker, so it stays alive while the test runs,
    at epoch 1, step 1 of 2, training. ``progress`` fields are written last (``phase="compiling"``)."""
    folder = folders.create_run(config or small_config(), name=name, status=status)
    if status in files.ACTIVE_STATUSES:
        set_progress(folder, pid=os.getpid(), pid_start=liveness.process_start_time(os.getpid()), epoch=1, step=1,
                     steps_per_epoch=2, phase="training")
    if progress:
        set_progress(folder, **progress)
    if history is not None:
        (folder / files.HISTORY_FILE).write_text(history)
    return folder


@contextmanager
def private_runs_dir(folder: Path) -> Iterator[Path]:
    """``SEGLIB_RUNS_DIR`` set to ``folder`` while the block runs: a run another test module left
    running never counts as the machine's running job there, and the block's runs block nobody."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGLIB_RUNS_DIR", str(folder))
        yield folder


def set_progress(folder: Path, **fields) -> None:
    """Overwrite ``fields`` of the run's progress file, as a worker (or a crash) would leave them."""
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    progress.update(fields)
    (folder / files.PROGRESS_FILE).write_text(json.dumps(progress))


def active_runs() -> list[str]:
    """The ids of the runs whose worker is alive now."""
    return [info.id for info in state.list_runs() if info.status in files.ACTIVE_STATUSES]


def end_workers(wait: float = 10.0) -> None:
    """Ask every queued or live run to stop, give the workers ``wait`` seconds, then kill the
    process group of each one still alive (a worker leads its own session)."""
    for info in state.list_runs():
        if info.status in ("queued", *files.ACTIVE_STATUSES):
            try:
                scheduler.request_stop(info.id)
            except Exception:  # noqa: BLE001 - it may have ended meanwhile
                pass
    with contextlib.suppress(TimeoutError):  # those still alive are killed below
        wait_until(lambda: not active_runs(), wait)
    for run_id in active_runs():
        pid = state.run_state(run_id).get("pid")
        if isinstance(pid, int):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
