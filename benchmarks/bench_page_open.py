"""A page opens at the speed of a click: one user, an idle server, headless Chromium.

For every page in the dashboard's navigation this measures the time from a click on
the page's link in the sidebar to a **settled** page: the script run has finished
(Streamlit's ``data-test-script-state`` is ``notRunning`` and its status widget is
gone), no skeleton is left (a Plotly chart or another lazily loaded element still
waiting for its code), every Plotly chart has drawn its SVG, and the document has not
changed for ``QUIET_SECONDS``. The time reported ends at the last change before that
quiet spell, so the quiet wait itself is never counted.

* **first visit after start-up** (``first_s``): a fresh server for each page (a
  cold start: TensorFlow imported, models loaded, figures built for the first time;
  the server imports TensorFlow before it answers, and its background prewarm starts with it;
  the seconds until it answered are printed below the table): the
  Home page is opened, and once it has settled (and ``--read-home`` seconds later, default
  at once) the page's link is clicked. The browser
  has been on the dashboard before (every server of the benchmark listens on one port,
  so Streamlit's and Plotly's JavaScript come from the browser's cache, as for anyone
  who opened the dashboard once): the first visit measures the server's start-up;
* **warm** (``warm_s``): the median of ``--warm`` further visits, on one server where
  a browser tab tours the pages in navigation order (each visit from the page before,
  as a student clicks through the lab); the first round of the tour is left out. By
  the next visit of a page its messages have left the browser's message cache
  (Streamlit keeps them for two script runs), so a warm visit receives the page again.

Beside the time, each visit records where it went, CPU-independent where possible:
the server's own script run time (``SEGLIB_RUN_TIMES``), the bytes the page received
over the websocket (Streamlit's messages: figures, tables, images inlined in them) and
over HTTP (media files), and the browser's own work from the Chrome DevTools Protocol
(``Performance.getMetrics``: script, layout and style seconds, and all its main-thread
tasks), plus the number of Plotly charts and DOM nodes.

    python benchmarks/bench_page_open.py              # a fresh server per page, then 3 warm tours
    python benchmarks/bench_page_open.py --quick      # one server: the first tour's visits count as first visits
    python benchmarks/bench_page_open.py --json out.json --pages "Dataset explorer" Predictions

The dashboard reads the machine's own data (``data/synthetic``, the default dataset),
the shipped demo model and the statistics cache (``SEGLIB_CACHE_DIR``; the tour runs
first and fills it, so a first visit never pays the one-off statistics of a dataset
nobody opened before); runs go to a temporary folder, so the
Training page looks as on a fresh install. Chromium runs with a desktop user's CPU
priority (``machine.browser_as_desktop_user``). ``run()`` returns the rows for
``benchmarks/run_all.py``; each row has the CPU model and the 1-minute load average.
Targets (issue 25): warm <= 1.5 s and first visit <= 3 s on every page.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from from_tests import dashboard_support  # benchmarks/ is on the path (script or run_all)
from load_viewers import CHROMIUM, server_run_times
from machine import browser_as_desktop_user, cpu_model, describe, load_average

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"warm_s": 1.5, "first_s": 3.0}
#: The document must stay unchanged this long before a page counts as settled.
QUIET_SECONDS = 0.6
#: Longest wait for one page (a cold TensorFlow import on a busy 2-core machine).
PAGE_TIMEOUT = 180.0
VIEWPORT = {"width": 1400, "height": 900}

#: Installed before any page script: the time of every change to the document and of every
#: change of Streamlit's script state, on the page's own clock (performance.now()).
_HOOK = """
(() => {
  const s = window.__pageOpen = {last: performance.now(), states: [], lastState: null};
  const note = () => {
    s.last = performance.now();
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state && state !== s.lastState) { s.lastState = state; s.states.push({state, t: s.last}); }
  };
  new MutationObserver(note).observe(document, {subtree: true, childList: true, attributes: true,
                                                characterData: true});
})();
"""

_STATUS = """
([since, titleBefore]) => {
  const s = window.__pageOpen;
  if (!s) return null;
  const app = document.querySelector('[data-testid="stApp"]');
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return {
    state: app && app.getAttribute('data-test-script-state'),
    busy: !!document.querySelector('[data-testid="stStatusWidget"]'),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    charts: charts.length,
    drawn: charts.filter(c => c.querySelector('.main-svg')).length,
    images: document.querySelectorAll('[data-testid="stMain"] img').length,
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
    title: document.title,
    // A run can start and end between two renders, so its state never shows "running": the tab's
    // title changing to the clicked page shows it ran too (every visit here changes the page).
    ran: since === null || s.states.some(x => x.t >= since && x.state === 'running')
         || (titleBefore !== null && document.title !== titleBefore),
    last: s.last,
    now: performance.now(),
  };
}
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one server for every page (first visits in navigation order) and 1 warm visit")
    parser.add_argument("--warm", type=int, default=None, help="warm visits per page (default 3; --quick 1)")
    parser.add_argument("--pages", nargs="+", help="only these pages (navigation titles)")
    parser.add_argument("--read-home", type=float, default=0.0,
                        help="seconds a first visit stays on Home before the click (default 0: at once, the "
                             "server's background prewarm has had the least time; a reader listening to the "
                             "instructor stays longer)")
    parser.add_argument("--json", help="write every visit to this file")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------
# one browser page: click, wait until settled, measure
# ---------------------------------------------------------------------------

class Visitor:
    """One Chromium tab on the dashboard, with the bytes it receives and the browser's own metrics."""

    def __init__(self, context, url: str, run_times: Path):
        self.context = context
        self.page = self.context.new_page()
        self.url = url
        self.run_times = run_times
        self.frames: list[tuple[float, int]] = []   # (monotonic time, bytes) of each websocket message
        self.http: list[tuple[float, int]] = []     # (monotonic time, body bytes) of each HTTP response
        self.page.on("websocket", self._on_websocket)
        self.page.on("requestfinished", self._on_request)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def _on_websocket(self, socket) -> None:
        socket.on("framereceived", lambda payload: self.frames.append((time.monotonic(), len(payload))))

    def _on_request(self, request) -> None:
        with contextlib.suppress(Exception):
            self.http.append((time.monotonic(), max(0, int(request.sizes().get("responseBodySize", 0)))))

    def metrics(self) -> dict[str, float]:
        return {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}

    def status(self, since: float | None, title_before: str | None = None) -> dict | None:
        with contextlib.suppress(Exception):
            return self.page.evaluate(_STATUS, [since, title_before])
        return None

    def wait_settled(self, since: float | None, title: str, timeout: float = PAGE_TIMEOUT,
                     title_before: str | None = None) -> dict:
        """Poll until the page shows ``title`` and has settled; the last status (``seconds`` from ``since``)."""
        started = time.monotonic()
        status = None
        while time.monotonic() - started < timeout:
            status = self.status(since, title_before)
            if (status and status["ran"] and status["state"] == "notRunning" and not status["busy"]
                    and not status["skeletons"] and status["drawn"] == status["charts"]
                    and status["title"].startswith(title)
                    and status["now"] - status["last"] >= QUIET_SECONDS * 1000):
                origin = since if since is not None else 0.0
                return {**status, "seconds": (status["last"] - origin) / 1000, "settled": True}
            time.sleep(0.05)
        return {**(status or {}), "seconds": None, "settled": False}

    def open_home(self) -> dict:
        started = time.monotonic()
        self.page.goto(self.url, wait_until="domcontentloaded", timeout=PAGE_TIMEOUT * 1000)
        result = self.wait_settled(None, "Home")
        result["seconds"] = time.monotonic() - started if result["settled"] else None
        return result

    def click(self, title: str) -> dict:
        """Click ``title`` in the sidebar navigation; what the visit cost once the page settled."""
        called = time.monotonic()
        links = self.page.locator('[data-testid="stSidebarNav"] a')
        link = None
        for index in range(links.count()):
            # The icon is a ligature in the link's text: the title is its last line.
            if links.nth(index).inner_text().strip().splitlines()[-1].strip() == title:
                link = links.nth(index)
                break
        if link is None:
            raise RuntimeError(f"No navigation link named {title!r}.")
        before = self.metrics()
        frames_before, http_before = len(self.frames), len(self.http)
        wall = time.time()
        since, title_before = self.page.evaluate("() => [performance.now(), document.title]")
        link.click()
        result = self.wait_settled(since, title, title_before=title_before)
        after = self.metrics()
        result["websocket_bytes"] = sum(size for _, size in self.frames[frames_before:])
        result["websocket_messages"] = len(self.frames) - frames_before
        result["http_bytes"] = sum(size for _, size in self.http[http_before:])
        for name in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration"):
            result[name] = round(after.get(name, 0.0) - before.get(name, 0.0), 3)
        result["nodes"] = int(after.get("Nodes", 0))
        time.sleep(0.2)  # the server appends its run time right after the run
        result["server_s"] = _server_seconds(self.run_times, title, wall)
        result["call_s"] = round(time.monotonic() - called, 2)  # the whole call, for the benchmark's own pace
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


def _server_seconds(path: Path, title: str, since: float) -> float | None:
    """The server's own script time of the runs of ``title`` that started after ``since`` (summed)."""
    seconds = [row["seconds"] for row in server_run_times(path, since, time.time())
               if row.get("page") == title and row["time"] - row["seconds"] >= since - 0.05]
    return round(sum(seconds), 3) if seconds else None


# ---------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------

#: Seconds from each server's start to its answer to the health check (printed with the table).
SERVER_STARTS: list[float] = []


@contextlib.contextmanager
def _server(workdir: Path, port: int | None = None):
    """A dashboard on ``port`` (default: a free one) for the duration of the block: ``(url, run-times file)``."""
    run_times = workdir / "run_times.jsonl"
    run_times.unlink(missing_ok=True)
    started = time.perf_counter()
    env = {"SEGLIB_RUNS_DIR": str(workdir / "runs"), "SEGLIB_RUN_TIMES": str(run_times)}
    with dashboard_support.running_dashboard(workdir / "streamlit.log", env, port=port) as (url, _):
        # How long the server took to answer: it imports TensorFlow first (ui.prewarm), a first visit does not.
        SERVER_STARTS.append(round(time.perf_counter() - started, 2))
        yield url, run_times


def _page_titles() -> list[str]:
    from ui.registry import available_pages

    return [page.title for page in available_pages() if page.file != "home.py"]


def _launch_browser(playwright, folder: Path):
    return playwright.chromium.launch(
        executable_path=browser_as_desktop_user(CHROMIUM, folder), headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"])


def _visit_row(title: str, kind: str, visit: dict) -> dict:
    keep = ("seconds", "settled", "server_s", "websocket_bytes", "websocket_messages", "http_bytes",
            "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration", "nodes", "charts",
            "images", "exceptions", "call_s")
    return {"page": title, "visit": kind, **{key: visit.get(key) for key in keep}}


def measure(titles: list[str] | None = None, warm: int = 3, fresh: bool = True, log=print,
            read_home: float = 0.0) -> list[dict]:
    """Every visit: one row per (page, first or warm visit)."""
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="seglib-page-open-"))
    titles = titles or _page_titles()
    visits: list[dict] = []
    # Every server listens on the same port, so the browser's HTTP cache (Streamlit's and Plotly's
    # JavaScript, served as immutable files) carries over from one server to the next, as for any
    # browser that opened the dashboard once: a first visit measures the server's start-up, not a
    # download of the frontend.
    port = dashboard_support.free_port()
    try:
        with sync_playwright() as playwright:
            browser = _launch_browser(playwright, workdir)
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(_HOOK)
            try:
                # Warm: a tour of the pages in navigation order, as a student clicks through them, each visit
                # from the page before. The first round also fills the on-disk statistics cache (as on any
                # machine where the dataset was opened once) and the browser's cache; its visits are first
                # visits of that server.
                with _server(workdir, port) as (url, run_times):
                    visitor = Visitor(context, url, run_times)
                    visits.append(_visit_row("Home", "first load", visitor.open_home()))
                    for round_ in range(warm + 1):
                        for title in titles:
                            kind = "warm" if round_ else ("tour first" if fresh else "first")
                            visits.append(_visit_row(title, kind, visitor.click(title)))
                            log(_line(visits[-1]))
                    visitor.close()
                if fresh:  # each page's first visit on a server of its own, from Home
                    for title in titles:
                        with _server(workdir, port) as (url, run_times):
                            visitor = Visitor(context, url, run_times)
                            visits.append(_visit_row("Home", "first load", visitor.open_home()))
                            time.sleep(read_home)
                            visits.append(_visit_row(title, "first", visitor.click(title)))
                            log(_line(visits[-1]))
                            visitor.close()
            finally:
                context.close()
                browser.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return visits


def _line(visit: dict) -> str:
    seconds = "stuck" if visit["seconds"] is None else f"{visit['seconds']:.2f} s"
    return (f"  {visit['page']:<18} {visit['visit']:<6} {seconds:>8}  server {visit['server_s']} s  "
            f"ws {(visit['websocket_bytes'] or 0) / 1e6:.2f} MB  http {(visit['http_bytes'] or 0) / 1e6:.2f} MB  "
            f"browser tasks {visit['TaskDuration']} s (script {visit['ScriptDuration']})  "
            f"charts {visit['charts']}  nodes {visit['nodes']}  load {load_average()}")


def summarise(visits: list[dict]) -> list[dict]:
    """Per page: the first visit and the median of the warm ones, with where the time went."""
    rows = []
    for title in dict.fromkeys(v["page"] for v in visits if v["visit"] in ("first", "warm")):
        first = next((v for v in visits if v["page"] == title and v["visit"] == "first"), None)
        warm = [v for v in visits if v["page"] == title and v["visit"] == "warm"]

        def median(key, items=warm):
            values = [v[key] for v in items if v.get(key) is not None]
            return statistics.median(values) if values else None

        warm_times = [PAGE_TIMEOUT if v["seconds"] is None else v["seconds"] for v in warm]
        rows.append({
            "page": title,
            "first_s": None if first is None or first["seconds"] is None else round(first["seconds"], 3),
            "warm_s": round(statistics.median(warm_times), 3) if warm_times else None,
            "warm_server_s": median("server_s"), "first_server_s": first and first["server_s"],
            "websocket_mb": None if median("websocket_bytes") is None else round(median("websocket_bytes") / 1e6, 3),
            "http_mb": None if median("http_bytes") is None else round(median("http_bytes") / 1e6, 3),
            "browser_task_s": median("TaskDuration"), "browser_script_s": median("ScriptDuration"),
            "browser_layout_s": median("LayoutDuration"), "charts": median("charts"), "nodes": median("nodes"),
            "stuck": sum(1 for v in visits if v["page"] == title and not v["settled"]),
            "exceptions": max((v["exceptions"] or 0) for v in visits if v["page"] == title),
        })
    return rows


def print_table(rows: list[dict], load: str) -> None:
    def fmt(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    print(f"{'page':<18} {'warm s':>7} {'first s':>8} {'server s':>9} {'ws MB':>7} {'http MB':>8} "
          f"{'browser s':>10} {'script s':>9} {'charts':>7} {'nodes':>6}")
    for row in rows:
        print(f"{row['page']:<18} {fmt(row['warm_s']):>7} {fmt(row['first_s']):>8} {fmt(row['warm_server_s']):>9} "
              f"{fmt(row['websocket_mb']):>7} {fmt(row['http_mb']):>8} {fmt(row['browser_task_s']):>10} "
              f"{fmt(row['browser_script_s']):>9} {fmt(row['charts'], 0):>7} {fmt(row['nodes'], 0):>6}"
              + ("  STUCK" if row["stuck"] else "") + ("  EXCEPTION" if row["exceptions"] else ""))
    print(f"\n{describe()}; load average before: {load}, after: {load_average('all')}. Warm: median of the "
          f"tour's later rounds; server s: its warm script run; browser s: the browser's main-thread tasks "
          f"(script s of them JavaScript). Targets: warm <= {TARGETS['warm_s']:g} s, first <= {TARGETS['first_s']:g} s.")
    if SERVER_STARTS:
        print(f"The servers answered their health check {statistics.median(SERVER_STARTS):.2f} s (median of "
              f"{len(SERVER_STARTS)}; longest {max(SERVER_STARTS):.2f} s) after they were started.")


def run(quick: bool = False, warm: int | None = None, pages: list[str] | None = None) -> list[dict]:
    """Rows for ``benchmarks/run_all.py``: per page its warm and first-visit seconds against the targets."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load = load_average()
    visits = measure(pages, warm=warm or (1 if quick else 3), fresh=not quick,
                     log=lambda text: print(text, file=sys.stderr, flush=True))
    rows = []
    for row in summarise(visits):
        note = (f"server {row['warm_server_s']} s, websocket {row['websocket_mb']} MB, http {row['http_mb']} MB, "
                f"browser tasks {row['browser_task_s']} s, {row['charts']} charts; {cpu_model()}")
        for key, label in (("warm_s", "warm"), ("first_s", "first visit" + (" (one server)" if quick else ""))):
            value = row[key]
            rows.append({"benchmark": f"open {row['page']}, {label}", "value": value, "unit": "s",
                         "target": f"<= {TARGETS[key]:g}",
                         "ok": None if value is None else value <= TARGETS[key] and not row["exceptions"],
                         "load_1min": load, "note": note, "summary": row})
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load = load_average("all")
    print(f"{describe()}; load {load}", flush=True)
    visits = measure(args.pages, warm=args.warm or (1 if args.quick else 3), fresh=not args.quick,
                     read_home=args.read_home)
    rows = summarise(visits)
    print()
    print_table(rows, load)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": describe(), "load_before": load,
                                               "load_after": load_average("all"), "summary": rows,
                                               "visits": visits}, indent=1))
    missed = [r for r in rows if r["stuck"] or r["exceptions"] or r["warm_s"] is None
              or r["warm_s"] > TARGETS["warm_s"] or (r["first_s"] or PAGE_TIMEOUT) > TARGETS["first_s"]]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
