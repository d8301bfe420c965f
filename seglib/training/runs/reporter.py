"""Live progress of a training run: the worker's state, rewritten to ``progress.json`` every second.

The page polls ``progress.json`` (through ``seglib.training.runs.state.run_state``),
so it must stay fresh while TensorFlow traces a graph or a batch takes long:
a daemon thread writes it (``writers.write_progress``), the training thread only
updates the state.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from seglib.training.runs import files, writers
from seglib.training.runs.readers import read_progress

logger = logging.getLogger("seglib.training.worker")  # the run's train.log

#: How often the background thread rewrites progress.json (seconds).
PROGRESS_INTERVAL = 1.0


class ProgressReporter:
    """Keeps the run's progress dict and rewrites ``progress.json`` every second.

    The training thread calls ``update(...)``; a daemon thread writes the
    file (atomically) so it stays fresh during graph tracing and long batches.
    """

    def __init__(self, folder: Path, initial: dict[str, Any], interval: float = PROGRESS_INTERVAL):
        if interval <= 0:
            raise ValueError(f"interval must be positive. Received: interval={interval!r}")
        self.folder = folder
        self.stop_file = folder / files.STOP_FILE
        self.interval = interval
        self._lock = threading.Lock()
        self._state = read_progress(folder)[0] or {}  # a damaged file is rewritten
        self._state.update(initial)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress-writer", daemon=True)

    def start(self) -> "ProgressReporter":
        self.write()
        self._thread.start()
        return self

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._state.get(name, default)

    def write(self) -> None:
        with self._lock:
            if self._state.get("status") == "running" and self.stop_file.exists():
                # Say 'stopping' as soon as the request is seen, not only at the next batch.
                self._state.update(status="stopping",
                                   message="Stop requested: finishing the current batch and saving.")
            self._state["updated_at"] = time.time()
            snapshot = dict(self._state)
        try:
            writers.write_progress(self.folder, snapshot, replace=True)
        except OSError as error:  # a full disk must not kill training; the log says it
            logger.warning("Could not write progress.json: %s", error)

    def close(self, **final: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.update(**final)
        self.write()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()
