"""Many viewers: N headless Chromium sessions use the dashboard while a lecture run trains.

A lecture hall opens the dashboard at once. This script starts the dashboard
(or uses ``--url``), starts a lecture-preset training run through
``seglib.training.scheduler`` (so the CPU is shared with training, as in class), then opens
``--viewers`` browser contexts in ONE Chromium process (one process, many
pages, to fit a 2-core machine), driven from asyncio. Each viewer loops for
``--seconds``: click the next page in the sidebar navigation, wait until the
app has settled, then move a slider on the page (if it has one) and wait
again. Every page view and slider move records its render time (until the
script finished), the exceptions shown (``stException``) and whether it got
stuck (not settled in ``--stuck-after`` seconds).

Prints a table (views, errors, stuck, p50/p95/max render seconds) per action
and overall, as the browsers saw it; then the server's own time per page run
(the dashboard appends it to ``SEGLIB_RUN_TIMES``), and the CPU seconds used by
the server, the training worker and the browsers. A stuck view counts as
``--stuck-after`` seconds in the percentiles. Writes JSON (``--json``). Exit
code 1 when any error or stuck page was seen, or either p95 exceeds
``--p95-limit``.

On a 2-core machine the 20 browsers, which stand in for 20 students' own
laptops, share the cores with the server and the training run: they are
reniced (``--browser-nice``, default 15), and their CPU use is reported, so
the browser figures can be read for what they are. ``--think`` is how long a
viewer looks at a page before the next action (default 0.5 s: clicking as
fast as pages settle).

    python benchmarks/load_viewers.py                      # 20 viewers, 120 s
    python benchmarks/load_viewers.py --viewers 3 --seconds 20   # quick check

Without ``--url`` everything lives in a temporary folder (a small synthetic
dataset, the runs folder, the cache); the project's data/ and runs/ are not
touched. With ``--url`` the run is started in this process's SEGLIB_* folders,
which must be the server's (or pass ``--no-run``).
"""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from from_tests import dashboard_support  # benchmarks/ is on the path (script or run_all)
from machine import quantile

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The script must stay finished this long before a view counts as rendered.
SETTLE_SECONDS = 0.4


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long each viewer loops (default 120)")
    parser.add_argument("--url", help="an already running dashboard (default: start one)")
    parser.add_argument("--no-run", action="store_true", help="do not start a lecture training run")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds a viewer waits after a page settled before the next action (default 0.5)")
    parser.add_argument("--stuck-after", type=float, default=30.0, help="seconds before a view counts as stuck")
    parser.add_argument("--p95-limit", type=float, default=3.0, help="p95 render seconds allowed (default 3)")
    parser.add_argument("--json", default=None, help="write the results here (default: load_viewers.json "
                                                     "in the temporary folder, path printed)")
    parser.add_argument("--size", type=int, default=128, help="synthetic image size for the started server")
    parser.add_argument("--arrival", type=float, default=30.0,
                        help="seconds after the first server run counted as the hall's arrival (cold caches); "
                             "the server's figures are shown for it and for the rest separately (default 30)")
    parser.add_argument("--browser-nice", type=int, default=15,
                        help="niceness of the Chromium processes (default 15; 0 = leave them). They stand in "
                             "for the students' own laptops, yet here share the server's cores, and as root "
                             "Chromium raises some of its threads to nice -8, above the server it measures")
    args = parser.parse_args(argv)
    if args.viewers < 1 or args.seconds <= 0:
        parser.error(f"--viewers and --seconds must be positive. Received: {args.viewers}, {args.seconds}")
    return args


# ---------------------------------------------------------------------------
# the server and the training run
# ---------------------------------------------------------------------------

def start_server(workdir: Path, size: int, train: int = 48, val: int = 12) -> tuple[str, subprocess.Popen]:
    os.environ["SEGLIB_DATA_ROOTS"] = str(workdir / "data")
    os.environ["SEGLIB_RUNS_DIR"] = str(workdir / "runs")
    os.environ["SEGLIB_CACHE_DIR"] = str(workdir / "cache")
    os.environ["SEGLIB_RUN_TIMES"] = str(workdir / "run_times.jsonl")  # the server's side of each view
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from seglib.data.synth import generate_dataset

    generate_dataset(workdir / "data" / "synthetic", train=train, val=val, size=size, seed=0)
    return dashboard_support.start_dashboard(workdir / "streamlit.log")


def start_lecture_run(seconds: float) -> str:
    from seglib.presets import get_preset
    from seglib.training import scheduler
    from seglib.training.runs.files import FINAL_STATUSES
    from seglib.training.runs.state import run_state

    # Enough epochs to outlast the benchmark; it is stopped at the end.
    config = get_preset("lecture").with_overrides({"train.epochs": 500, "data.root": "synthetic"})
    run_id = scheduler.start_run(config, name="load benchmark (lecture)")

    def training_or_ended() -> bool:
        progress = run_state(run_id)
        return progress.get("phase") in ("training", "validating") or progress["status"] in FINAL_STATUSES

    with contextlib.suppress(TimeoutError):  # still starting after 3 minutes: measure it as it is
        dashboard_support.wait_until(training_or_ended, 180, interval=1.0)
    return run_id


def stop_run(run_id: str) -> dict:
    from seglib.training import scheduler
    from seglib.training.runs.files import FINAL_STATUSES
    from seglib.training.runs.state import run_state

    progress = run_state(run_id)
    if progress["status"] in ("queued", "running", "stopping"):
        scheduler.request_stop(run_id)
        with contextlib.suppress(TimeoutError):  # reported as it is: the caller prints the status
            dashboard_support.wait_until(lambda: run_state(run_id)["status"] in FINAL_STATUSES, 60)
    return run_state(run_id)


# ---------------------------------------------------------------------------
# the browsers' CPU priority
# ---------------------------------------------------------------------------

def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) for every process (Linux /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), name)
    return table


def cpu_seconds_by_group(server_pid: int | None, worker_pid: int | None) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server, the training worker and this script's browsers.

    Browser processes that already exited are not counted (a lower bound).
    """
    me = os.getpid()
    table = _process_table()
    ticks = os.sysconf("SC_CLK_TCK")
    groups = {"server": 0.0, "training worker": 0.0, "browsers": 0.0}
    for pid, (parent, name) in table.items():
        if pid == server_pid:
            group = "server"
        elif pid == worker_pid:
            group = "training worker"
        elif ("chrom" in name or "headless" in name) and _descends_from(pid, me, table):
            group = "browsers"
        else:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        groups[group] += (int(fields[11]) + int(fields[12])) / ticks
    return groups


def _descends_from(pid: int, ancestor: int, table: dict) -> bool:
    current, hops = table.get(pid, (0, ""))[0], 0
    while current not in (0, 1) and hops < 32:
        if current == ancestor:
            return True
        current, hops = table.get(current, (0, ""))[0], hops + 1
    return False


def server_run_times(path: Path, since: float, until: float) -> list[dict]:
    """The dashboard's own record of each page run (``SEGLIB_RUN_TIMES``) between two moments."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if since <= row.get("time", 0) <= until:
            rows.append(row)
    return rows


def renice_browsers(nice: int, stop: "threading.Event", every: float = 0.5) -> None:
    """Keep every thread of this script's Chromium processes at ``nice`` until ``stop``.

    Linux niceness is per thread and Chromium changes its threads' priorities
    itself, so the whole tree is renewed every ``every`` seconds.
    """
    me = os.getpid()
    while not stop.wait(every):
        table = _process_table()
        for pid, (parent, name) in table.items():
            if "chrom" not in name and "headless" not in name:
                continue
            if not _descends_from(pid, me, table):
                continue  # somebody else's browser
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    if os.getpriority(os.PRIO_PROCESS, int(task.name)) != nice:
                        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
                except (OSError, ValueError):
                    pass


# ---------------------------------------------------------------------------
# one viewer
# ---------------------------------------------------------------------------

#: Records every change of Streamlit's script state with the page's clock, so a
#: short run between two polls is never missed (a poll-only check under load
#: may look "finished" before the click's rerun has even reached the server).
_STATE_HOOK = """
() => {
  if (window.__seglibStates) return;
  window.__seglibStates = [];
  let last = null;
  const push = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state && state !== last) {
      last = state;
      window.__seglibStates.push({state, t: performance.now()});
    }
    // A page switch whose run is short can reach the browser as one update: the state
    // never reads "running". The tab title (set by the page's run) shows it ran.
    if (document.title !== lastTitle) {
      lastTitle = document.title;
      window.__seglibStates.push({state: 'title', title: lastTitle, t: performance.now()});
    }
  };
  let lastTitle = document.title;
  push();
  // The whole document, not one element: React may replace the app's root element, and an
  // observer on the old one then saw nothing (views counted as stuck on pages that had loaded).
  new MutationObserver(push).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state']});
}
"""


async def _now(page) -> float:
    await page.evaluate(_STATE_HOOK)
    return await page.evaluate("() => performance.now()")


async def wait_settled(page, timeout: float, since_ms: float | None = None,
                       title: str | None = None) -> float | None:
    """Seconds from ``since_ms`` (the page's clock, taken just before the action)
    until the rerun it caused finished and stayed finished; None when stuck.

    With ``since_ms`` None (first load) any finished state counts. With ``title``
    (a page switch), the tab title changing to that page also shows the run happened.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            states = await page.evaluate("() => window.__seglibStates || []")
            now_ms = await page.evaluate("() => performance.now()")
            busy = await page.locator('[data-testid="stStatusWidget"]').count()
        except Exception:  # noqa: BLE001 - navigation in progress
            states, now_ms, busy = [], 0.0, 1
        after = [s for s in states if since_ms is None or s["t"] >= since_ms]
        saw_run = since_ms is None or any(
            s["state"] == "running" or (title and s["state"] == "title" and s["title"].startswith(title))
            for s in after)
        script_states = [s for s in states if s["state"] != "title"]
        finished = bool(script_states) and script_states[-1]["state"] == "notRunning"
        if saw_run and after and finished and not busy:
            if now_ms - after[-1]["t"] >= SETTLE_SECONDS * 1000:
                return (after[-1]["t"] - (since_ms if since_ms is not None else after[0]["t"])) / 1000
        await asyncio.sleep(0.1)
    return None


async def _exceptions(page) -> list[str]:
    found = []
    boxes = page.locator('[data-testid="stException"]')
    for index in range(await boxes.count()):
        found.append((await boxes.nth(index).inner_text())[:300])
    return found


async def viewer(index: int, browser, url: str, args, records: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append({"viewer": index, "kind": "javascript", "text": str(error)}))

    async def record(action: str, title: str, seconds: float | None, detail: dict | None = None) -> None:
        problems = await _exceptions(page)
        records.append({"viewer": index, "action": action, "page": title, "seconds": seconds,
                        "stuck": seconds is None, "errors": len(problems), **({"detail": detail} if detail else {})})
        errors.extend({"viewer": index, "kind": "exception", "page": title, "text": p} for p in problems)

    try:
        started = time.monotonic()
        await page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        await _now(page)
        # The very first view waits for TensorFlow imports; it is recorded but not a page switch.
        seconds = await wait_settled(page, 180)
        await record("first load", "home", None if seconds is None else time.monotonic() - started)
        end = time.monotonic() + args.seconds
        step = index  # viewers start on different pages
        while time.monotonic() < end:
            links = page.locator('[data-testid="stSidebarNav"] a')
            count = await links.count()
            if not count:
                await record("navigation", "?", None)
                await asyncio.sleep(1)
                continue
            link = links.nth(step % count)
            step += 1
            title = (await link.inner_text()).strip().splitlines()[-1].strip()
            since = await _now(page)
            await link.click()
            seconds = await wait_settled(page, args.stuck_after, since, title=title)
            detail = None
            if seconds is None:  # what the page showed when it counted as stuck (in the JSON)
                with contextlib.suppress(Exception):
                    states = await page.evaluate("() => window.__seglibStates || []")
                    detail = {"title": await page.title(), "url": page.url,
                              "state": await page.get_attribute('[data-testid="stApp"]', "data-test-script-state"),
                              "states_since_click": [s for s in states if s["t"] >= since][-6:]}
            await record("switch page", title, seconds, detail)
            # Streamlit's slider thumb is a visually hidden range input (react-aria) inside stSlider.
            sliders = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stSlider"] '
                                   'input[type="range"], [data-testid="stMainBlockContainer"] [role="slider"]')
            if await sliders.count() and time.monotonic() < end:
                slider = sliders.first
                try:
                    await slider.focus(timeout=5_000)
                    since = await _now(page)
                    await page.keyboard.press("ArrowRight" if step % 2 else "ArrowLeft")
                    await record("move slider", title, await wait_settled(page, args.stuck_after, since))
                except Exception as error:  # noqa: BLE001 - a slider that vanished on a rerun
                    errors.append({"viewer": index, "kind": "slider", "page": title, "text": str(error)[:200]})
            await asyncio.sleep(args.think)  # a student looks at the page
    finally:
        await context.close()


async def run_viewers(url: str, args, before_close=None) -> tuple[list, list]:
    from playwright.async_api import async_playwright

    records: list = []
    errors: list = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            tasks = []
            for index in range(args.viewers):
                tasks.append(asyncio.create_task(viewer(index, browser, url, args, records, errors)))
                await asyncio.sleep(0.2)  # a lecture hall does not click in the same millisecond
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for index, result in enumerate(results):
                if isinstance(result, BaseException):
                    errors.append({"viewer": index, "kind": "viewer crashed", "text": repr(result)[:300]})
        finally:
            if before_close is not None:
                before_close()  # e.g. read the browsers' CPU time while they still exist
            await browser.close()
    return records, errors


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def summarise(records: list, stuck_after: float) -> list[dict]:
    """Per action: views, errors, stuck, and p50 / p95 / max render seconds.

    A stuck view counts as ``stuck_after`` seconds (what we know: at least
    that long), so the percentiles never look better by leaving it out.
    """
    rows = []
    groups = {"switch page": [], "move slider": [], "first load": []}
    for record in records:
        groups.setdefault(record["action"], []).append(record)
    groups["all views (switch + slider)"] = groups["switch page"] + groups["move slider"]
    for name, items in groups.items():
        times = [stuck_after if r["seconds"] is None else r["seconds"] for r in items]
        rows.append({"action": name, "views": len(items), "errors": sum(r["errors"] for r in items),
                     "stuck": sum(r["stuck"] for r in items), "p50_s": quantile(times, 0.5),
                     "p95_s": quantile(times, 0.95), "max_s": max(times) if times else None})
    return rows


def print_table(rows: list[dict]) -> None:
    def fmt(value):
        return "-" if value is None else f"{value:.2f}"

    print(f"{'action':<28} {'views':>6} {'errors':>6} {'stuck':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for row in rows:
        print(f"{row['action']:<28} {row['views']:>6} {row['errors']:>6} {row['stuck']:>6} "
              f"{fmt(row['p50_s']):>7} {fmt(row['p95_s']):>7} {fmt(row['max_s']):>7}")


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="seglib-load-"))
    server = None
    run_id = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            print("starting the dashboard on a small synthetic dataset...", flush=True)
            url, server = start_server(workdir, args.size)
        if not args.no_run:
            print("starting a lecture training run...", flush=True)
            run_id = start_lecture_run(args.seconds)
        print(f"{args.viewers} viewers for {args.seconds:.0f} s on {url} ...", flush=True)
        began = time.time()
        worker_pid = None
        if run_id:
            from seglib.training.runs.state import run_state

            worker_pid = run_state(run_id).get("pid")
        cpu_before = cpu_seconds_by_group(server.pid if server else None, worker_pid)
        stop_renicing = threading.Event()
        if args.browser_nice and sys.platform.startswith("linux"):
            threading.Thread(target=renice_browsers, args=(args.browser_nice, stop_renicing),
                             name="renice-browsers", daemon=True).start()
        cpu_after: dict[str, float] = {}

        def measure_cpu() -> None:
            cpu_after.update(cpu_seconds_by_group(server.pid if server else None, worker_pid))

        try:
            records, errors = asyncio.run(run_viewers(url, args, before_close=measure_cpu))
        finally:
            stop_renicing.set()
        wall = time.time() - began
        if not cpu_after:
            measure_cpu()
        cpu_used = {group: round(cpu_after[group] - cpu_before.get(group, 0.0), 1) for group in cpu_after}
        server_rows = server_run_times(workdir / "run_times.jsonl", began, began + wall) if server else []
        run_progress = stop_run(run_id) if run_id else None
        rows = summarise(records, args.stuck_after)
        print("in the browsers (click to settled page; the browsers share this machine's cores):")
        print_table(rows)
        server_summary = None
        if server_rows:
            times = sorted(row["seconds"] for row in server_rows)
            server_summary = {"runs": len(times), "p50_s": quantile(times, 0.5), "p95_s": quantile(times, 0.95),
                              "max_s": times[-1]}
            print(f"\nin the server (one whole script run, sidebar and page, waits for other sessions included): "
                  f"{len(times)} runs, p50 {server_summary['p50_s']:.2f} s, p95 {server_summary['p95_s']:.2f} s, "
                  f"max {server_summary['max_s']:.2f} s")
            # The hall connecting at once meets cold caches (TensorFlow, models, statistics: the
            # prewarm is still loading them); afterwards the server runs warm. Both are shown.
            start = min(row["time"] - row["seconds"] for row in server_rows)
            for label, part in (("arrival", [r for r in server_rows if r["time"] - r["seconds"] - start <= args.arrival]),
                                ("after", [r for r in server_rows if r["time"] - r["seconds"] - start > args.arrival])):
                values = sorted(row["seconds"] for row in part)
                if values:
                    server_summary[label] = {"runs": len(values), "p50_s": quantile(values, 0.5),
                                             "p95_s": quantile(values, 0.95), "max_s": values[-1]}
                    print(f"  {'first ' + format(args.arrival, 'g') + ' s (arrival)' if label == 'arrival' else 'after that'}"
                          f": {len(values)} runs, p50 {quantile(values, 0.5):.2f} s, "
                          f"p95 {quantile(values, 0.95):.2f} s, max {values[-1]:.2f} s")
            by_page: dict[str, list[float]] = {}
            for row in server_rows:
                by_page.setdefault(row["page"], []).append(row["seconds"])
            print("  " + ", ".join(f"{page} p95 {quantile(sorted(values), 0.95):.2f} s"
                                   for page, values in sorted(by_page.items())))
        available = wall * (os.cpu_count() or 1)
        print(f"\nCPU seconds used in the {wall:.0f} s ({available:.0f} available on {os.cpu_count()} cores): "
              + ", ".join(f"{group} {seconds:.1f}" for group, seconds in cpu_used.items())
              + " (browsers that exited early not counted)")
        overall = next(r for r in rows if r["action"].startswith("all views"))
        # Page problems (an exception box, a JavaScript error) are the dashboard's; the driver's
        # own time-outs (a slider not focusable in 5 s, a link not clickable in 30 s) say the
        # browser was starved of CPU. Both are listed, and both fail the run.
        page_errors = [e for e in errors if e["kind"] in ("exception", "javascript")]
        driver_errors = [e for e in errors if e not in page_errors]
        print(f"\npage errors (exceptions, JavaScript): {len(page_errors)}; "
              f"driver time-outs and crashes: {len(driver_errors)}")
        for error in (page_errors + driver_errors)[:8]:
            print("  ", json.dumps(error)[:240])
        if run_progress:
            print(f"\ntraining run during the test: status {run_progress['status']}, "
                  f"epoch {run_progress.get('epoch')}, {run_progress.get('images_per_second') or '?'} images/s")
        result = {"viewers": args.viewers, "seconds": args.seconds, "wall_seconds": wall, "cpus": os.cpu_count(),
                  "browser_nice": args.browser_nice, "think_seconds": args.think,
                  "summary": rows, "server_summary": server_summary, "server_runs": server_rows,
                  "cpu_seconds": cpu_used, "errors": errors, "records": records,
                  "training_run": {k: run_progress.get(k) for k in ("status", "epoch", "step", "images_per_second")}
                  if run_progress else None}
        out = Path(args.json) if args.json else workdir / "load_viewers.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str))
        print(f"results: {out}")
        ok_browser = not errors and overall["stuck"] == 0 and (overall["p95_s"] or 0) <= args.p95_limit
        ok_server = server_summary is None or server_summary["p95_s"] <= args.p95_limit
        print(f"in the browsers: {'PASS' if ok_browser else 'FAIL'}; in the server: "
              f"{'PASS' if ok_server else 'FAIL'} (p95 limit {args.p95_limit:.1f} s, no errors, nothing stuck)")
        return 0 if ok_browser and ok_server else 1
    finally:
        if run_id:
            try:
                stop_run(run_id)
            except Exception:  # noqa: BLE001
                pass
        if server is not None:
            dashboard_support.stop_dashboard(server)
        if not args.json and not args.url:
            # keep the JSON (it was printed), drop the dataset and runs
            for name in ("data", "runs", "cache"):
                shutil.rmtree(workdir / name, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
