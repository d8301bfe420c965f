"""Figures for slides: what the download costs, and what it adds to a page run.

The slide export (``ui/components/slide_export.js``) runs in the viewer's browser on a click: Plotly.js
draws the chart as a 1920 × 1080 SVG or PNG with the caption line. This script measures

* the server's share: what the sidebar's figure description, the export's mount and one chart
  config per figure add to a page run (AppTest, warm, median);
* the click: the seconds from a click on a chart's slide button to the downloaded file, in headless
  Chromium on the Dataset page (a bar chart and a mask panel, PNG and SVG, median of ``repeats``);
* for comparison, a server-side export with kaleido (Plotly's Chrome-based engine), when it is
  installed: the first export (it starts Chrome) and a warm one from a kept Chrome.

    python benchmarks/bench_slides.py            # 3 downloads of each
    python benchmarks/bench_slides.py --quick    # 1 of each

Like ``bench_pages.py``, the dashboard reads the machine's own data (the synthetic default) and
models. ``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from machine import browser_as_desktop_user, describe, load_average  # benchmarks/ is on the path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300
#: Charts a page draws, for the per-run cost of their configs (the Dataset page draws about 15).
CHARTS_PER_PAGE = 20

_SERVER_SHARE = f"""
import json, time
import streamlit as st
from ui import drawing

started = time.perf_counter()
drawing.describe_sidebar_figures()
drawing.slide_export()
for index in range({CHARTS_PER_PAGE}):
    drawing.chart_config(f"chart-{{index}}")
st.session_state.setdefault("seconds", []).append(time.perf_counter() - started)
"""


def server_share(repeats: int) -> float:
    """Median seconds the slide export adds to a warm page run (sidebar description, mount, configs)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(_SERVER_SHARE, default_timeout=TIMEOUT)
    for _ in range(repeats + 1):
        at.run()
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return statistics.median(at.session_state["seconds"][1:])


def browser_downloads(repeats: int) -> list[dict]:
    """Click-to-file seconds of the slide downloads of the Dataset page's first bar chart and mask panel."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from from_tests import browser_support, dashboard_support  # benchmarks/ is on the path

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return [{"benchmark": "slide download", "value": None, "unit": "s", "note": "no chromium"}]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-slides-") as folder, \
            dashboard_support.running_dashboard(Path(folder) / "streamlit.log", {"SEGLIB_PREWARM": "0"}) as (url, _):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=browser_as_desktop_user(chromium, Path(folder)), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 4000})
            page.goto(url + "/dataset", wait_until="domcontentloaded")
            browser_support.settle(page, timeout=TIMEOUT)
            charts = {
                "bar chart": page.locator(".js-plotly-plot").filter(has=page.locator(".barlayer")).first,
                "mask panel": page.locator('[class*="st-key-sample-"][class*="-mask"] .js-plotly-plot').first,
            }
            for name, chart in charts.items():
                for fmt in ("png", "svg"):
                    seconds, size, width = [], 0, None
                    for _ in range(repeats):
                        chart.scroll_into_view_if_needed()
                        chart.hover()
                        button = chart.locator(f'.modebar-btn[data-seglib-slide="{fmt}"]')
                        button.wait_for(state="visible", timeout=30_000)
                        started = time.perf_counter()
                        with page.expect_download(timeout=60_000) as info:
                            button.click()
                        data = Path(info.value.path()).read_bytes()
                        seconds.append(time.perf_counter() - started)
                        size = len(data)
                        if fmt == "png":
                            width = Image.open(io.BytesIO(data)).size[0]
                    rows.append({"benchmark": f"slide download, {name}, {fmt}", "value": statistics.median(seconds),
                                 "unit": "s", "load_1min": load_average(),
                                 "note": f"{size / 1024:.0f} KiB" + (f", {width} px wide" if width else "")})
            browser.close()
    return rows


def kaleido_exports() -> list[dict]:
    """A server-side export of the same kinds of figure with kaleido, when it is installed."""
    try:
        import kaleido  # noqa: F401 - only to know whether it is there
    except ImportError:
        return [{"benchmark": "kaleido export (server side)", "value": None, "unit": "s",
                 "note": "kaleido not installed (the dashboard does not need it)"}]
    import numpy as np
    import plotly.graph_objects as go

    from seglib.figures.masks import mask_figure

    rng = np.random.default_rng(0)
    figures = {"bar chart": go.Figure(go.Bar(y=rng.random(20))),
               "mask panel": mask_figure(rng.integers(0, 20, (256, 256)).astype(np.uint8), kind="mask")}
    rows = []
    for name, figure in figures.items():
        started = time.perf_counter()
        figure.to_image(format="png", width=1920, height=1080)
        rows.append({"benchmark": f"kaleido export, {name}, png, Chrome started per export",
                     "value": time.perf_counter() - started, "unit": "s", "load_1min": load_average()})
    import kaleido as engine

    started = time.perf_counter()
    engine.start_sync_server(silence_warnings=True)
    try:
        for index, (name, figure) in enumerate(figures.items()):
            figure.to_image(format="png", width=1920, height=1080)
            if index == 0:  # the kept Chrome starts with the first export
                rows.append({"benchmark": "kaleido: first export from a kept Chrome (starts it)",
                             "value": time.perf_counter() - started, "unit": "s", "load_1min": load_average()})
            started = time.perf_counter()
            figure.to_image(format="png", width=1920, height=1080)
            rows.append({"benchmark": f"kaleido export, {name}, png, kept Chrome",
                         "value": time.perf_counter() - started, "unit": "s", "load_1min": load_average()})
    finally:
        engine.stop_sync_server(silence_warnings=True)
    return rows


def run(quick: bool = False, repeats: int | None = None) -> list[dict]:
    repeats = repeats or (1 if quick else 3)
    rows = [{"benchmark": f"slide export added to a page run ({CHARTS_PER_PAGE} charts)",
             "value": server_share(max(repeats, 3)) * 1000, "unit": "ms", "load_1min": load_average()}]
    return rows + browser_downloads(repeats) + kaleido_exports()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one download of each")
    args = parser.parse_args(argv)
    print(describe())
    for row in run(quick=args.quick):
        value = "—" if row["value"] is None else f"{row['value']:.3f}"
        print(f"{row['benchmark']:<60} {value:>8} {row['unit']:<3} {row.get('note', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
