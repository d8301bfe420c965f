"""Run ids and run folders: creating a run, the shipped reference runs, listing, renaming, extending and
cutting back a run.

A run lives in ``settings.runs_dir() / <run id>``; the recorded reference runs shipped with the project
(``assets/reference_runs``, ids starting with ``REFERENCE_PREFIX``) are listed with them and are
read-only. What a folder holds is described in ``seglib.training.runs``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import unicodedata
from pathlib import Path
from typing import Any

from seglib import settings
from seglib.config import RunConfig
from seglib.errors import ConfigError, DatasetError, RunError, RunFolderWriteError
from seglib.training.runs import files, readers, writers

#: Recorded reference runs shipped with the project (``python -m seglib reference-runs``): read-only,
#: listed with the machine's own runs. Their ids start with REFERENCE_PREFIX.
REFERENCE_DIR = settings.ASSETS_DIR / "reference_runs"
REFERENCE_PREFIX = "reference-"
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ---------------------------------------------------------------------------
# Run ids and folders
# ---------------------------------------------------------------------------

def new_run_id(preset: str = "run", now: float | None = None) -> str:
    """A readable, sortable slug: ``20261125-093012-lecture`` (no folder is created)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(preset)).strip("-").lower() or "run"
    return f"{stamp}-{slug}"


def run_dir(run_id: str) -> Path:
    """The folder of ``run_id`` under ``settings.runs_dir()``; RunError if it does not exist."""
    path = _run_path(run_id)
    if not (path / files.CONFIG_FILE).exists() and not (path / files.PROGRESS_FILE).exists():
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
        with writers.writing("creating the run", writers.RUNS_FOLDER):
            if path is None:
                folder, made = _unique_folder(new_run_id(config.preset)), True
            else:
                folder = Path(path).expanduser().resolve()
                if (folder / files.CONFIG_FILE).exists():
                    raise RunError(f"The run folder {folder.name!r} already holds a run. Choose a new --run-dir, "
                                   f"or continue it with --resume {folder.name}.")
                made = not folder.exists()
                folder.mkdir(parents=True, exist_ok=True)
            now = time.time()
            writers.write_config(folder, config)
            writers.write_meta(folder, {
                "name": unicodedata.normalize("NFC", (name or "").strip()) or folder.name, "preset": config.preset,
                "created_at": now})
            writers.write_progress(folder, {
                "status": status, "phase": "", "epoch": 0, "epochs": config.train.epochs, "step": 0,
                "steps_per_epoch": 0, "images_per_second": None, "eta_seconds": None, "running_loss": None,
                "message": "Waiting for the machine to be free." if status == "queued" else "",
                "error": None, "pid": None, "created_at": now, "queued_at": now, "started_at": None,
            }, replace=True)
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
# The runs folder as a whole, and changes to one run
# ---------------------------------------------------------------------------

def run_folders(references: bool = False) -> list[Path]:
    """The machine's run folders; with ``references``, the shipped reference runs too."""
    roots = [settings.runs_dir()] + ([REFERENCE_DIR] if references else [])
    return [p for root in roots if root.exists() for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / files.PROGRESS_FILE).exists()
            and (root == REFERENCE_DIR) == p.name.startswith(REFERENCE_PREFIX)]


def rename_run(run_id: str, name: str) -> None:
    """Change a run's display name (``meta.json``); the id and folder stay."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name or len(name) > 200:
        raise RunError(f"A run name must have 1 to 200 characters. Received: name={name!r}")
    refuse_reference(run_id, "renamed")
    folder = run_dir(run_id)
    meta = readers.read_meta(folder)[0]
    meta["name"] = name
    with writers.writing("renaming the run"):
        writers.write_meta(folder, meta)


def extend_epochs(folder: Path, epochs: int) -> None:
    """Record that the run in ``folder`` trains on up to ``epochs`` epochs (Continue, ``--resume --epochs``).

    ``config.json`` stays as the run was started (a run's config is never rewritten);
    the new total goes into ``meta.json`` and ``state.training_config`` applies it.
    """
    meta = readers.read_meta(folder)[0]
    meta[files.CONTINUED_EPOCHS] = int(epochs)
    with writers.writing("continuing the run"):
        writers.write_meta(folder, meta)


def drop_epochs_after(folder: Path, epoch: int) -> list[dict[str, Any]]:
    """Cut the run in ``folder`` back to its first ``epoch`` epochs (a resume drops the rows and previews
    of a later, interrupted epoch); return the history rows kept."""
    history = readers.read_history(folder)
    rows = history[history["epoch"] <= epoch].to_dict("records")
    with writers.writing("resuming the run"):
        writers.write_history(folder, rows)
        for read, write in ((readers.read_steps, writers.write_steps),
                            (readers.read_class_iou, writers.write_class_iou)):
            frame = read(folder)
            if len(frame):
                write(folder, frame[frame["epoch"] <= epoch].to_dict("records"), append=False)
        for path in (folder / files.PREVIEWS_DIR).glob("epoch_*.npz"):
            with contextlib.suppress(ValueError):
                if int(path.stem.split("_")[1]) > epoch:
                    path.unlink(missing_ok=True)
    return rows
