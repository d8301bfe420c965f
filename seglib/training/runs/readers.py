"""One validating reader per file of a run folder, and the rule for damaged files.

``read_config`` (``config.json``), ``read_meta`` (``meta.json``), ``read_progress``
(``progress.json``), ``read_history``, ``read_steps`` and ``read_class_iou`` (the CSVs),
``read_log`` (``train.log`` and ``console.log``) and ``find_checkpoint`` (``best.keras`` /
``last.keras``); each takes the run's folder. The preview strip has its reader in
``seglib.training.runs.previews``; what the pages ask of a run (its state, the runs table)
is ``seglib.training.runs.state``.

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
  the same way (``previews.load_previews(...)["skipped"]``); a ``progress.json``
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
* ``state.list_runs`` never raises because of one run's files: each run's
  ``RunInfo.damaged`` says what is damaged ("" when nothing), and its
  numbers (epochs done, best validation mean IoU) come from the rows that
  passed.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seglib.config import RunConfig
from seglib.errors import ConfigError, NewerConfigError, RunError
from seglib.training.runs.files import (BEST_CHECKPOINT, CLASS_IOU_COLUMNS, CLASS_IOU_FILE, CONFIG_FILE,
                                        CONSOLE_FILE, HISTORY_FILE, HISTORY_FILE_COLUMNS, LAST_CHECKPOINT,
                                        LOG_FILE, MAX_CSV_BYTES, MAX_EPOCHS, MAX_JSON_BYTES, MAX_STEPS,
                                        META_FILE, PHASES, PROGRESS_FILE, STATUSES, STEP_COLUMNS, STEPS_FILE)

if TYPE_CHECKING:  # pandas is imported where a table is read, not with the module
    import pandas as pd


class DamagedRunError(RunError):
    """A file of a run folder is unusable as a whole; the run's other files may be fine."""


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


def read_bounded(path: Path, limit: int) -> bytes | None:
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
    CLASS_IOU_FILE: (("epoch",), CLASS_IOU_COLUMNS),
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


def _read_table(path: Path) -> "pd.DataFrame":
    """Read one of the run's CSVs (another process may be appending to it) and validate it.

    A line cut mid-write (no newline yet) is not a row yet: it is left out,
    not counted. See the module docstring for the rule.
    """
    import pandas as pd

    name = path.name
    keys, columns = _TABLES[name]
    try:
        data = read_bounded(path, MAX_CSV_BYTES[name])
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


def read_history(folder: Path) -> "pd.DataFrame":
    """``history.csv`` as a DataFrame with ``HISTORY_FILE_COLUMNS`` (empty before epoch 1).

    ``epoch`` is int64, the rest float64 (NaN = undefined). Damaged rows are
    skipped and counted in ``attrs["skipped_rows"]``; ``DamagedRunError`` when
    the file is unusable as a whole (see the module docstring).
    """
    return _read_table(folder / HISTORY_FILE)


def read_steps(folder: Path) -> "pd.DataFrame":
    """``steps.csv`` (epoch, step, loss, accuracy) for the running-loss curve; validated as ``read_history``."""
    return _read_table(folder / STEPS_FILE)


def read_class_iou(folder: Path) -> "pd.DataFrame":
    """``class_iou.csv``: ``epoch`` + one validation-IoU column per class name; validated as ``read_history``."""
    return _read_table(folder / CLASS_IOU_FILE)


def read_config(folder: Path) -> RunConfig:
    """``config.json``: the ``RunConfig`` of the run in ``folder`` as it was started (the config it trains
    with is ``state.training_config``); ``DamagedRunError`` if the file is missing or broken."""
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


# -- progress.json and meta.json ---------------------------------------------------

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


def read_progress(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """``progress.json`` as stored: ``(validated progress, problems)``; ``(None, [why])`` when the file is
    unusable as a whole. What the pages show is ``state.run_state``, which works in a dead worker, a
    pending stop and the queue."""
    path = folder / PROGRESS_FILE
    try:
        data = read_bounded(path, MAX_JSON_BYTES)
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


def read_meta(folder: Path) -> tuple[dict[str, Any], list[str]]:
    """``meta.json``: ``({"name", "preset", "created_at", ...}, problems)``; damaged values fall back to the
    id and the folder's time."""
    path = folder / META_FILE
    problems: list[str] = []
    raw: Any = {}
    try:
        data = read_bounded(path, MAX_JSON_BYTES)
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
        progress = read_progress(folder)[0] or {}
        created = progress.get("created_at") or modified_time(folder)
    meta["created_at"] = float(created)
    return meta, problems


def modified_time(path: Path) -> float:
    """The modification time of ``path`` (0.0 when it cannot be read)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# -- the log and the checkpoints -------------------------------------------------------

def read_log(folder: Path, max_chars: int = 20_000) -> str:
    """The end of ``train.log`` (and ``console.log`` when the worker died before logging)."""
    parts = []
    for name in (LOG_FILE, CONSOLE_FILE):
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            parts.append(text)
    return "\n".join(parts)[-max_chars:]


def find_checkpoint(folder: Path, names: tuple[str, ...] = (BEST_CHECKPOINT, LAST_CHECKPOINT)) -> Path | None:
    """The first of ``names`` (``best.keras``, then ``last.keras``) that the run in ``folder`` holds, or None.
    ``seglib.model.saving.load_model`` reads it, turning a damaged file into a ``ModelError``."""
    return next((folder / name for name in names if (folder / name).is_file()), None)
