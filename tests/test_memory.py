"""Memory is bounded: large uploads on the Predictions page do not pile up in the server.

A real dashboard server (``streamlit run dashboard.py``, its own data root) and
headless Chromium upload four distinct 1-bit 4000 x 4000 PNGs (a few kB each,
16 megapixels decoded) one after the other; the server's resident memory
(``/proc/<pid>/status``) must stay under ``RSS_BOUND_MB`` (2000 MB) and grow
by at most ``GROWTH_BOUND_MB`` (300 MB) from the first upload to the last.
Before the fix the first upload alone took the server from 0.9 GB to 3.4 GB and
the second to 5.9 GB. The measurement is ``benchmarks/bench_memory.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "benchmarks" / "bench_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_large_uploads_keep_the_server_memory_bounded(browser, session_tmp):
    bench = _bench()
    workdir = session_tmp / "memory-server"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        with bench.dashboard_server(workdir) as (url, pid):
            rows = bench.measure_uploads(page, url, pid, uploads=4, size=4000)
    finally:
        context.close()
    table = "\n".join(f"{r['step']}: RSS {r['rss_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB" for r in rows)
    assert not [r["problem"] for r in rows if r["problem"]], table
    assert all(r["shown"] for r in rows), table  # every upload was segmented and drawn
    final, first = rows[-1]["rss_mb"], rows[1]["rss_mb"]
    assert final < bench.RSS_BOUND_MB, table
    assert final - first <= bench.GROWTH_BOUND_MB, table
