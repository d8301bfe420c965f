"""One writer per file of a run folder, and writes that fail with a message, never an ``OSError``.

``write_config`` (``config.json``, once), ``write_meta`` (``meta.json``), ``write_progress``
(``progress.json``), ``write_history``, ``write_steps`` and ``write_class_iou`` (the CSVs),
``save_checkpoint`` (``best.keras`` / ``last.keras``) and ``log_handler`` (``train.log``); each
takes the run's folder. The preview strip has its writers in ``seglib.training.runs.previews``.
Every whole-file write is atomic (temp file + rename); the CSVs that grow during an epoch are
appended line by line, flushed, so a reader never sees half a row.

**Writes fail with a message, never an OSError.** Every write to the runs
folder or a run's folder (creating, renaming, progress, history, checkpoints,
the STOP file, deleting) runs inside ``writing(action, role)``, which turns an
operating-system error into a ``RunFolderWriteError`` naming the action, the
folder's role (``RUNS_FOLDER`` or ``RUN_FOLDER``, never its path) and what to
do: free space, fix permissions, or set ``SEGLIB_RUNS_DIR``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from seglib.config import RunConfig
from seglib.errors import RunFolderWriteError, SeglibError
from seglib.io import atomic_write_json, atomic_write_text
from seglib.training.runs.files import (CLASS_IOU_COLUMNS, CLASS_IOU_FILE, CONFIG_FILE, HISTORY_FILE,
                                        HISTORY_FILE_COLUMNS, LOG_FILE, META_FILE, PROGRESS_FILE, STEP_COLUMNS,
                                        STEPS_FILE)
from seglib.training.runs.readers import read_progress

# ---------------------------------------------------------------------------
# Writes that fail with a message (see the module docstring)
# ---------------------------------------------------------------------------

#: The two folders a write can fail in, as messages name them (never by their path).
RUNS_FOLDER = "the runs folder"
RUN_FOLDER = "the run's folder"
#: What to do when a folder of runs cannot be written at all.
_MOVE_RUNS = ("or set SEGLIB_RUNS_DIR to a writable folder (README, Settings) and restart the dashboard")
#: Why a write failed and what to do, by the operating system's error number.
_WRITE_FAILURES = {
    errno.ENOSPC: ("the disk is full (no space left on device)",
                   "Free some space (old runs can be deleted on the Training page), then try again."),
    errno.EDQUOT: ("the disk quota is used up",
                   "Free some space (old runs can be deleted on the Training page), then try again."),
    errno.EROFS: ("it lies on a read-only file system", f"Make that disk writable, {_MOVE_RUNS}."),
    errno.EACCES: ("there is no permission to write in it",
                   f"Give the dashboard's user write permission on the folder, {_MOVE_RUNS}."),
    errno.EPERM: ("the operation is not permitted there",
                  f"Give the dashboard's user write permission on the folder, {_MOVE_RUNS}."),
    errno.ENOTDIR: ("a file stands where a folder of its path should be",
                    f"Move that file away, {_MOVE_RUNS}."),
    errno.EISDIR: ("a folder stands where a file should be written",
                   "Remove that folder from the run's folder, then try again."),
    errno.ENOENT: ("a folder on the way is missing (deleted meanwhile?)",
                   "Refresh the page; if the runs folder itself is gone, create it again, " + _MOVE_RUNS + "."),
}


def write_error(error: OSError, action: str, role: str = RUN_FOLDER) -> RunFolderWriteError:
    """The ``RunFolderWriteError`` for ``error``, raised while ``action`` ("starting the run") wrote in
    ``role`` (``RUNS_FOLDER`` or ``RUN_FOLDER``): what failed, why and what to do, without a path."""
    number = error.errno
    if number == errno.EEXIST:  # mkdir of a folder whose name a file holds
        number = errno.ENOTDIR
    why, fix = _WRITE_FAILURES.get(number, (
        f"the system said: {error.strerror or type(error).__name__}",
        f"Check the disk's free space and the folder's permissions, {_MOVE_RUNS}."))
    return RunFolderWriteError(f"Could not write to {role} while {action}: {why}. {fix}", errno=number)


@contextlib.contextmanager
def writing(action: str, role: str = RUN_FOLDER) -> Iterator[None]:
    """Run a block that writes in ``role``; an ``OSError`` leaves it as ``write_error(...)``.

    The project's own errors (some of which are also ``OSError``, such as
    ``PathNotAllowedError``) pass through unchanged.
    """
    try:
        yield
    except SeglibError:
        raise
    except OSError as error:
        raise write_error(error, action, role) from error


def disk_full(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) says the disk is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


# ---------------------------------------------------------------------------
# One writer per file
# ---------------------------------------------------------------------------

def write_config(folder: Path, config: RunConfig) -> None:
    """``config.json``: written once, when the run is created (a Continue records its epochs in ``meta.json``)."""
    config.save(folder / CONFIG_FILE)


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    """Rewrite ``meta.json`` (the name, the preset, when it was created, a Continue's epochs)."""
    atomic_write_json(folder / META_FILE, meta)


def write_progress(folder: Path, fields: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
    """Rewrite ``progress.json`` of ``folder`` with ``fields`` changed (and ``updated_at`` now); return it.

    The other fields stay as stored (validated: a damaged value is written back as ``None``);
    ``replace=True`` writes ``fields`` alone (a new run, the worker's whole state).
    """
    progress = {} if replace else read_progress(folder)[0] or {}
    progress.update(fields)
    progress["updated_at"] = time.time()
    atomic_write_json(folder / PROGRESS_FILE, progress)
    return progress


def write_history(folder: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rewrite ``history.csv`` whole (atomically) with ``rows``, one per epoch."""
    _write_table(folder / HISTORY_FILE, HISTORY_FILE_COLUMNS, rows, append=False)


def write_steps(folder: Path, rows: Sequence[dict[str, Any]], append: bool = True) -> None:
    """Append ``rows`` to ``steps.csv`` (``append=False``: rewrite it with them)."""
    _write_table(folder / STEPS_FILE, STEP_COLUMNS, rows, append=append)


def write_class_iou(folder: Path, rows: Sequence[dict[str, Any]], append: bool = True) -> None:
    """Append ``rows`` (``epoch`` + one IoU per class name) to ``class_iou.csv`` (``append=False``: rewrite it)."""
    _write_table(folder / CLASS_IOU_FILE, CLASS_IOU_COLUMNS, rows, append=append)


def save_checkpoint(model, folder: Path, name: str) -> Path:
    """Save ``model`` as ``name`` (``best.keras`` or ``last.keras``) in ``folder``, atomically, with its
    optimizer state (a resumed run continues the learning-rate schedule)."""
    from seglib.model.saving import save_model

    return save_model(model, folder / name)


def log_handler(folder: Path) -> logging.Handler:
    """The logging handler that writes the worker's ``train.log`` in ``folder`` (timestamped lines)."""
    handler = logging.FileHandler(folder / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    return handler


def _write_table(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]], append: bool) -> None:
    """Append rows to a CSV (header written once), flushed so readers see whole lines.

    ``append=False`` rewrites the file atomically.
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
        atomic_write_text(path, buffer.getvalue())


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    return str(value)
