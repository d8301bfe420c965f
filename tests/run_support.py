"""Helpers for the tests that write run folders and start real training workers: a small run's
configuration, a runs folder of a test module's own, a progress file edited by hand, the runs alive
now, and the clean-up that stops (then kills) every worker a test leaves running."""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from seglib.config import RunConfig, get_preset
from seglib.training import scheduler
from seglib.training.runs import files, state

#: A small lecture-preset run on the tiny synthetic dataset: 64 px, narrow heads, batch 4, 2 epochs.
SMALL_RUN = {"model.image_size": 64, "model.aspp_filters": 16, "model.decoder_filters": 16,
             "train.batch_size": 4, "train.epochs": 2, "data.root": "synthetic"}


def small_config(**overrides) -> RunConfig:
    """The ``SMALL_RUN`` configuration with dotted-key ``overrides`` (``**{"train.epochs": 9}``)."""
    return get_preset("lecture").with_overrides({**SMALL_RUN, **overrides})


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
    deadline = time.time() + wait
    while time.time() < deadline and active_runs():
        time.sleep(0.5)
    for run_id in active_runs():
        pid = state.run_state(run_id).get("pid")
        if isinstance(pid, int):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
