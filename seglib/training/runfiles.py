"""The files of a run folder: their names, their columns, and the validating readers and writers.

A training run lives in ``runs/<run-id>/`` (``settings.runs_dir()``). The
worker (``seglib.training.worker``, a separate process) writes it; the pages
read it through ``seglib.training.runfolder``, which reads each file with the
functions here; the files themselves are listed in that module's docstring.
Every whole-file write is atomic (temp file + rename).

**Run files are untrusted input.** A file may be damaged (a disk filled up,
someone edited it, a bug of an older version), and one damaged run must never
break the runs list or a page. Every reader here validates what it reads, by
one rule:

* **A damaged row or entry is skipped and counted.** A CSV row whose field
  count is wrong, or whose value is not a number or impossible, is dropped:
  ``epoch`` an integer in 1..``MAX_EPOCHS``, ``step`` in 1..``MAX_STEPS``,
  losses finite and >= 0, accuracies and IoUs in [0, 1], ``lr`` finite and
  > 0, ``seconds`` and ``weight_norm`` finite and >= 0. An empty or ``nan``
  metric is kept as NaN: it is undefined (for example an IoU over no pixels), never a number.
  A repeated key (epoch; epoch and step) keeps its last row. The frame's
  ``attrs["skipped_rows"]`` says how many were dropped (``damage_note``
  words it). A preview epoch file with the wrong shape or ids is skipped
  the same way (``previews.read_previews(...)["skipped"]``); a ``progress.json``
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
* ``runfolder.list_runs`` never raises because of one run's files: each run's
  ``RunInfo.damaged`` says what is damaged ("" when nothing), and its
  numbers (epochs done, best validation mean IoU) come from the rows that
  passed.

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
import json
import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from seglib.classes import CLASS_NAMES
from seglib.config import RunConfig
from seglib.errors import ConfigError, NewerConfigError, RunError, RunFolderWriteError, SeglibError
from seglib.io import atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # pandas is imported where a table is read, not with the module
    import pandas as pd


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
#: Columns added to history.csv later: written by the worker, read as NaN from a file without them.
HISTORY_LATER_COLUMNS = ("weight_norm",)
#: Every column of history.csv, in the order the worker writes them.
HISTORY_FILE_COLUMNS = HISTORY_COLUMNS + HISTORY_LATER_COLUMNS
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
# Validating readers (the rule is in the module docstring)
# ---------------------------------------------------------------------------

class FileProblem(Exception):
    """Why a run file is unusable as a whole (surfaces as DamagedRunError)."""


def damaged(path: Path, reason: str) -> DamagedRunError:
    """The ``DamagedRunError`` for the run file ``path``; its ``reason`` attribute words it for the runs table."""
    error = DamagedRunError(f"Run {path.parent.name!r}: {path.name} is damaged ({reason}), so it is not shown. "
                            "The run's other files are read as usual; delete the run if it is of no use.")
    error.reason = f"{path.name} is damaged ({reason})"  # type: ignore[attr-defined]
    return error


def size_text(size: int) -> str:
    """A file size for a message: ``"2.0 MB"`` or ``"512 bytes"``."""
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{size} bytes"


def _read_bounded(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` (None when it does not exist); ``FileProblem`` past ``limit`` bytes."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise FileProblem(f"too large: {size_text(size)}, at most {size_text(limit)} is read")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise FileProblem(f"cannot be read: {error.strerror or error}") from None
    if len(data) > limit:
        raise FileProblem(f"too large: more than {size_text(limit)}, the most that is read")
    return data


#: Columns of each CSV: the key columns (required) and all known columns, in order.
_TABLES = {
    HISTORY_FILE: (("epoch",), HISTORY_FILE_COLUMNS),
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
        if column in _LOSS_COLUMNS or column in ("seconds", "weight_norm"):
            valid = finite & (values >= 0)
        elif column == "lr":
            valid = finite & (values > 0)
        else:  # accuracies and IoUs
            valid = finite & (values >= 0) & (values <= 1)
    return valid | missing


def read_table(path: Path) -> "pd.DataFrame":
    """Read one of the run's CSVs (another process may be appending to it) and validate it.

    A line cut mid-write (no newline yet) is not a row yet: it is left out,
    not counted. See the module docstring for the rule.

    """
    import pandas as pd

    name = path.name
    keys, columns = _TABLES[name]
    try:
        data = _read_bounded(path, MAX_CSV_BYTES[name])
    except FileProblem as problem:
        raise damaged(path, str(problem)) from None
    if not data or not data.strip():
        return empty_table(name)
    first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if _JUNK.search(first_line.rstrip("\r")):
        raise damaged(path, "not a CSV text file: binary data in its first line")
    complete = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
    lines = complete.decode("utf-8", errors="replace").split("\n")[:-1]
    if not lines:
        return empty_table(name)
    header = [field.strip() for field in lines[0].rstrip("\r").split(",")]
    repeated = sorted({field for field in header if header.count(field) > 1})
    if repeated:
        raise damaged(path, f"repeated column names: {', '.join(repeated)}")
    if all(_is_number(field) for field in header):
        raise damaged(path, "no header line: its first line holds numbers")
    for key in keys:
        if key not in header:
            raise damaged(path, f"no {key!r} column")
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



def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def damage_note(frame: "pd.DataFrame") -> str:
    """``"history.csv: 2 damaged rows skipped"`` for a frame read here, "" when nothing was skipped."""
    count = int(frame.attrs.get("skipped_rows") or 0)
    if not count:
        return ""
    return f"{frame.attrs.get('file', 'file')}: {count} damaged row{'' if count == 1 else 's'} skipped"


def read_config_file(folder: Path) -> RunConfig:
    """The ``RunConfig`` of the run in ``folder``; ``DamagedRunError`` if ``config.json`` is missing or broken."""
    path = folder / CONFIG_FILE
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise damaged(path, f"too large ({size_text(path.stat().st_size)}; a config is a few kB)")
    except OSError:
        pass  # missing: RunConfig.load says so
    try:
        return RunConfig.load(path)
    except NewerConfigError as error:  # not damaged: this version cannot read it, a newer one can
        raise RunError(f"Run {folder.name!r}: {error} Nothing in the run was changed.") from error
    except ConfigError as error:
        raise DamagedRunError(f"Run {folder.name!r}: {error} Its {CONFIG_FILE} is damaged, so the run cannot be "
                              "resumed or continued; its history and checkpoints are still readable. Delete the run "
                              "if it is of no use.") from error


# -- progress.json and meta.json --------------------------------------------------

#: Valid ranges of progress.json's numeric fields: (integer?, minimum, maximum, minimum excluded?).
_TIMESTAMP = (False, 0.0, 1e11, False)
_PROGRESS_NUMBERS: dict[str, tuple[bool, float, float, bool]] = {
    "epoch": (True, 0, MAX_EPOCHS, False), "epochs": (True, 1, MAX_EPOCHS, False),
    "step": (True, 0, MAX_STEPS, False), "steps_per_epoch": (True, 0, MAX_STEPS, False),
    "pid": (True, 1, 1 << 22, False), "pid_start": _TIMESTAMP,
    "train_images": (True, 0, 1 << 40, False), "val_images": (True, 0, 1 << 40, False),
    "replicas": (True, 1, 1 << 20, False), "global_batch_size": (True, 1, 1 << 30, False),
    "images_per_second": (False, 0.0, math.inf, False), "eta_seconds": (False, 0.0, math.inf, False),
    "measured_images_per_second": (False, 0.0, math.inf, True), "startup_seconds": (False, 0.0, math.inf, False),
    "running_loss": (False, 0.0, math.inf, False), "running_accuracy": (False, 0.0, 1.0, False),
    "best_val_mean_iou": (False, 0.0, 1.0, False),
    **{name: _TIMESTAMP for name in ("created_at", "queued_at", "started_at", "updated_at", "finished_at",
                                     "first_batch_at")},
}
_PROGRESS_TEXTS = ("message", "error")
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


def load_progress(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """``(validated progress, problems)``; ``(None, [why])`` when the file is unusable as a whole."""
    path = folder / PROGRESS_FILE
    try:
        data = _read_bounded(path, MAX_JSON_BYTES)
    except FileProblem as problem:
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
                                         or _number_ok(spawner.get("start"), *_TIMESTAMP))):
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


def stored_progress(folder: Path) -> dict[str, Any]:
    """The validated progress as stored ({} when the file is unusable): for the scheduler's own reads."""
    return load_progress(folder)[0] or {}


def read_meta_file(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """``({"name", "preset", "created_at"}, problems)``: damaged values fall back to the id and folder time."""
    path = folder / META_FILE
    problems: list[str] = []
    raw: Any = {}
    try:
        data = _read_bounded(path, MAX_JSON_BYTES)
        raw = {} if data is None else json.loads(data.decode("utf-8"))
    except FileProblem as problem:
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
        progress = stored_progress(folder)
        created = progress.get("created_at") or modified_time(folder)
    meta["created_at"] = float(created)
    return meta, problems


def modified_time(path: Path) -> float:
    """The modification time of ``path`` (0.0 when it cannot be read)."""
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
        atomic_write_text(path, buffer.getvalue())


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    return str(value)


def update_progress(folder: Path, **fields: Any) -> dict[str, Any]:
    """Rewrite ``progress.json`` of ``folder`` with ``fields`` changed (and ``updated_at`` now); return it."""
    progress = stored_progress(folder)
    progress.update(fields)
    progress["updated_at"] = time.time()
    atomic_write_json(folder / PROGRESS_FILE, progress)
    return progress
