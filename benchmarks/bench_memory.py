"""Server memory while images are uploaded on the Predictions page.

Starts a real dashboard (``streamlit run dashboard.py``) on a free port with a
tiny synthetic dataset in a temporary data root, opens the Predictions page in
headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright), and
uploads several large but cheap images one after the other: 1-bit PNGs of
4000 x 4000 pixels (16 megapixels each, a few kB on disk). After each upload
has been segmented and drawn, it reads the server process's resident memory
(``VmRSS`` in ``/proc/<pid>/status``) and its peak (``VmHWM``).

    python benchmarks/bench_memory.py                       # 5 uploads of 4000 x 4000
    python benchmarks/bench_memory.py --uploads 8 --size 6000

The bound the dashboard must keep (``RSS_BOUND_MB``) is printed with the
figures; ``tests/test_memory.py`` runs the same measurement and fails above it.
Before the fix, two such uploads took the server from about 1 GB to 6 GB
(full-size float32 logits and probabilities, 20 channels, were cached per upload).
``run()`` returns the rows for ``benchmarks/run_all.py``-style tables.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

try:  # loaded by tests/test_memory.py: tests/ is on the path
    import browser_support
    import dashboard_support
except ImportError:  # run as a script (or by run_all): benchmarks/ is on the path
    from from_tests import browser_support, dashboard_support

#: Resident memory (MB) the server must stay under after the uploads.
RSS_BOUND_MB = 2000
#: Growth (MB) allowed from the first large upload to the last: the caches are bounded.
GROWTH_BOUND_MB = 300
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE_TIMEOUT = 300


def memory_mb(pid: int) -> dict[str, float]:
    """``{"rss": ..., "peak": ...}`` in MB for a process (Linux ``/proc``)."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values["rss" if key == "VmRSS" else "peak"] = int(rest.split()[0]) / 1024
    return values


def one_bit_png(size: int, seed: int) -> bytes:
    """A ``size`` x ``size`` 1-bit PNG with a few rectangles (distinct per ``seed``; a few kB)."""
    import numpy as np
    from PIL import Image, ImageDraw

    picture = Image.new("1", (size, size), 1)
    draw = ImageDraw.Draw(picture)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        x, y = (int(v) for v in rng.integers(0, size * 3 // 4, 2))
        w, h = (int(v) for v in rng.integers(size // 20, size // 4, 2))
        draw.rectangle([x, y, x + w, y + h], fill=0)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@contextlib.contextmanager
def dashboard_server(workdir: Path, dataset: bool = True):
    """A fresh ``streamlit run dashboard.py`` with its own data root; yields ``(url, pid)``."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {"SEGLIB_DATA_ROOTS": str(data), "SEGLIB_RUNS_DIR": str(workdir / "runs"),
           "SEGLIB_CACHE_DIR": str(workdir / "cache"), "SEGLIB_PREWARM": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if dataset and not (data / "synthetic" / ".complete").exists():
        from seglib.data.synth import generate_dataset

        generate_dataset(data / "synthetic", train=4, val=2, size=64, seed=0, workers=1)
    with dashboard_support.running_dashboard(workdir / "streamlit.log", env, timeout=180) as (url, process):
        yield url, process.pid


def measure_uploads(page, url: str, pid: int, uploads: int = 5, size: int = 4000,
                    report=None) -> list[dict]:
    """Upload ``uploads`` distinct ``size`` px 1-bit PNGs on the Predictions page; one row per step.

    The first row is the server after the page was drawn once (model loaded), before any upload.
    Each row: ``step``, ``rss_mb``, ``peak_mb``, ``seconds`` (upload to drawn), ``shown`` (the
    page named the image's size), ``problem`` (an exception box or bug message, if any).
    """
    page.goto(f"{url}/predictions")
    browser_support.settle(page, timeout=PAGE_TIMEOUT)
    page.locator('[data-testid="stMain"]').get_by_role("radio", name="Upload", exact=True).click()
    browser_support.settle(page, timeout=PAGE_TIMEOUT)
    rows = [{"step": "page open, no upload", **_row_memory(pid), "seconds": 0.0, "shown": True, "problem": ""}]
    if report:
        report(rows[-1])
    for index in range(uploads):
        data = one_bit_png(size, seed=index)
        start = time.monotonic()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
            files=[{"name": f"big-{index}.png", "mimeType": "image/png", "buffer": data}])
        browser_support.settle(page, timeout=PAGE_TIMEOUT)
        seconds = time.monotonic() - start
        problem = ""
        if page.locator('[data-testid="stException"]').count():
            problem = page.locator('[data-testid="stException"]').first.inner_text()[:300]
        elif page.get_by_text("This is a bug in the dashboard").count():
            problem = "bug message"
        shown = page.get_by_text(f"{size} × {size} px", exact=False).count() > 0
        rows.append({"step": f"upload {index + 1} ({len(data) / 1024:.1f} kB, {size} x {size} px)",
                     **_row_memory(pid), "seconds": round(seconds, 1), "shown": shown, "problem": problem})
        if report:
            report(rows[-1])
    return rows


def _row_memory(pid: int) -> dict:
    memory = memory_mb(pid)
    return {"rss_mb": round(memory["rss"], 1), "peak_mb": round(memory["peak"], 1)}


@contextlib.contextmanager
def chromium_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            yield context.new_page()
        finally:
            browser.close()


def run(uploads: int = 5, size: int = 4000, report=None) -> list[dict]:
    """Start a server, upload, measure; the rows of ``measure_uploads``."""
    workdir = Path(tempfile.mkdtemp(prefix="seglib-bench-memory-"))
    try:
        with dashboard_server(workdir) as (url, pid), chromium_page() as page:
            return measure_uploads(page, url, pid, uploads=uploads, size=size, report=report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    from machine import cpu_model  # benchmarks/ is on the path when run as a script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=5)
    parser.add_argument("--size", type=int, default=4000, help="side of the square 1-bit PNGs, in pixels")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores visible. Bound: server RSS under {RSS_BOUND_MB} MB "
          f"after the uploads, and at most {GROWTH_BOUND_MB} MB more than after the first upload.")
    print(f"{'step':45s} {'RSS MB':>8s} {'peak MB':>8s} {'s':>6s}")

    def report(row):
        print(f"{row['step']:45s} {row['rss_mb']:8.0f} {row['peak_mb']:8.0f} {row['seconds']:6.1f}"
              + (f"  PROBLEM: {row['problem']}" if row["problem"] else "")
              + ("" if row["shown"] else "  (size not shown)"), flush=True)

    rows = run(args.uploads, args.size, report=report)
    final = rows[-1]["rss_mb"]
    growth = final - rows[1]["rss_mb"] if len(rows) > 1 else 0.0
    ok = final < RSS_BOUND_MB and growth <= GROWTH_BOUND_MB and not any(r["problem"] for r in rows)
    print(f"final RSS {final:.0f} MB (bound {RSS_BOUND_MB} MB), growth after the first upload {growth:.0f} MB "
          f"(bound {GROWTH_BOUND_MB} MB): {'OK' if ok else 'OVER THE BOUND'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
