"""Server-side run times of page views, for ``benchmarks/load_viewers.py`` (off unless asked for)."""

from __future__ import annotations

import contextlib
import json
import time

from seglib import settings


def record_run_time(page_title: str, seconds: float) -> None:
    """Append ``{"page", "seconds", "time"}`` as a JSON line to ``SEGLIB_RUN_TIMES`` (if set).

    The wall time of one whole script run in the server (sidebar and page, waits for
    other sessions included): the server's part of a page view, without the browser's
    drawing. Never raises; off unless the variable is set.
    """
    path = settings.run_times_file()
    if path is None:
        return
    line = json.dumps({"page": page_title, "seconds": round(float(seconds), 4), "time": time.time()}) + "\n"
    with contextlib.suppress(OSError):
        with open(path, "a", encoding="utf-8") as handle:  # one short append: whole lines
            handle.write(line)
