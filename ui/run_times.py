"""Server-side run times of page views, for ``benchmarks/load_viewers.py`` and
``benchmarks/bench_page_open.py`` (off unless ``SEGLIB_RUN_TIMES`` is set).

Each page run appends one JSON line: the page, the wall seconds of the whole script run
(sidebar and page, waits for other sessions included), the CPU seconds of the thread that ran
it, and its **steps**: for every message the run sent (an element, a block, a page setting),
the page line that sent it, the element's kind, the wall and thread-CPU seconds since the
previous message, and the message's size. A step whose wall time is far above its CPU time
waited (for a lock, a cache entry another session computes, the GIL or a core); one whose CPU
time is high worked. The benchmarks sum the steps per page line.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path

from seglib import settings

_PROJECT = Path(__file__).resolve().parent.parent
_PAGE_FILES = (str(_PROJECT / "pages") + "/", str(_PROJECT / "dashboard.py"))
_HELPERS = (str(_PROJECT / "ui") + "/",)
_NOT_HELPERS = (str(_PROJECT / "ui" / "streamlit_workarounds.py"), str(_PROJECT / "ui" / "run_times.py"))


class StepClock:
    """The steps of one script run, measured in the thread that runs it (see the module's docstring)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.wall = time.perf_counter()
        self.cpu = time.thread_time()
        self.started_cpu = self.cpu
        self.steps: list[list] = []

    def _lap(self, now: float | None = None) -> tuple[float, float]:
        wall, cpu = time.perf_counter() if now is None else now, time.thread_time()
        lap = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap

    def message(self, message) -> None:
        """One message sent by the run: close the step that produced it. Messages from other threads (a
        spinner's timer) are no step of the run: left out."""
        if threading.get_ident() != self.thread:
            return
        wall, cpu = self._lap()
        kind = message.WhichOneof("type") or ""
        if kind == "delta":
            delta = message.delta
            kind = delta.WhichOneof("type") or "delta"
            if kind == "new_element":
                kind = delta.new_element.WhichOneof("type") or kind
        size = 0
        with contextlib.suppress(Exception):
            size = message.ByteSize()
        self.steps.append([_where(), kind, round(wall, 4), round(cpu, 4), size])

    def finish(self, now: float | None = None) -> tuple[float, list[list]]:
        """The run's thread-CPU seconds and its steps (the time after the last message as step 'end', up to
        ``now``, a ``time.perf_counter()`` reading: the moment the run's wall time was taken)."""
        wall, cpu = self._lap(now)
        self.steps.append(["end", "", round(wall, 4), round(cpu, 4), 0])
        return time.thread_time() - self.started_cpu, self.steps


def _where() -> str:
    """``page.py:line`` of the page (or dashboard) line that is running, with the ``ui`` helper under it."""
    frame = sys._getframe(2)
    page, helper = None, None
    while frame is not None:
        name = frame.f_code.co_filename
        if helper is None and name.startswith(_HELPERS) and not name.startswith(_NOT_HELPERS):
            helper = f"{Path(name).stem}.{frame.f_code.co_name}"
        if name.startswith(_PAGE_FILES):
            page = f"{Path(name).name}:{frame.f_lineno}"
            break
        frame = frame.f_back
    return (page or "?") + (f" ({helper})" if helper else "")


def start_steps() -> StepClock | None:
    """Time the steps of the current script run (None, and nothing watched, unless ``SEGLIB_RUN_TIMES`` is set).

    Pass the clock to ``record_run_time`` at the end of the run.
    """
    if settings.run_times_file() is None:
        return None
    from ui.streamlit_workarounds import watch_sent_messages

    clock = StepClock()
    clock.stop = watch_sent_messages(clock.message)
    return clock


def record_run_time(page_title: str, started: float, clock: StepClock | None = None) -> None:
    """Append ``{"page", "seconds", "time"}`` (with ``cpu_seconds`` and ``steps`` from ``clock``) as a JSON
    line to ``SEGLIB_RUN_TIMES`` (if set).

    ``started``: the ``time.perf_counter()`` reading at the start of the script run; ``seconds`` is the wall
    time of the whole run in the server (sidebar and page, waits for other sessions included): the
    server's part of a page view, without the browser's drawing. The steps end at the same moment, so
    they never add up to more than ``seconds`` (but for their rounding). Never raises; off unless the
    variable is set.
    """
    ended = time.perf_counter()
    seconds = ended - started
    path = settings.run_times_file()
    if clock is not None:
        clock.stop()
    if path is None:
        return
    row = {"page": page_title, "seconds": round(float(seconds), 4), "time": time.time()}
    if clock is not None:
        cpu, steps = clock.finish(ended)
        row.update(cpu_seconds=round(cpu, 4), steps=steps)
    line = json.dumps(row) + "\n"
    with contextlib.suppress(OSError):
        with open(path, "a", encoding="utf-8") as handle:  # one short append: whole lines
            handle.write(line)
