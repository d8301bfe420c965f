"""Many viewers: N headless Chromium sessions use the dashboard while a lecture run trains.

A lecture hall opens the dashboard at once. This script starts the dashboard
(or uses ``--url``), starts a lecture-preset training run through
``seglib.runs`` (so the CPU is shared with training, as in class), then opens
``--viewers`` browser contexts in ONE Chromium process (one process, many
pages, to fit a 2-core machine), driven from asyncio. Each viewer loops for
``--seconds``: click the next page in the sidebar navigation, wait until the
app has settled, then move a slider on the page (if it has one) and wait
again. Every page view and slider move records its render time (until the
script finished), the exceptions shown (``stException``) and whether it got
stuck (not settled in ``--stuck-after`` seconds).

Prints a table (views, errors, stuck, p50/p95/max render seconds) per action
and overall, and writes JSON (``--json``). Exit code 1 when any error or stuck
page was seen, or p95 exceeds ``--p95-limit``.

    python benchmarks/load_viewers.py                      # 20 viewers, 120 s
    python benchmarks/load_viewers.py --viewers 3 --seconds 20   # quick check

Without ``--url`` everything lives in a temporary folder (a small synthetic
dataset, the runs folder, the cache); the project's data/ and runs/ are not
touched. With ``--url`` the run is started in this process's SEGLIB_* folders,
which must be the server's (or pass ``--no-run``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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
    parser.add_argument("--stuck-after", type=float, default=30.0, help="seconds before a view counts as stuck")
    parser.add_argument("--p95-limit", type=float, default=3.0, help="p95 render seconds allowed (default 3)")
    parser.add_argument("--json", default=None, help="write the results here (default: load_viewers.json "
                                                     "in the temporary folder, path printed)")
    parser.add_argument("--size", type=int, default=128, help="synthetic image size for the started server")
    args = parser.parse_args(argv)
    if args.viewers < 1 or args.seconds <= 0:
        parser.error(f"--viewers and --seconds must be positive. Received: {args.viewers}, {args.seconds}")
    return args


# ---------------------------------------------------------------------------
# the server and the training run
# ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path, size: int) -> tuple[str, subprocess.Popen]:
    os.environ["SEGLIB_DATA_ROOTS"] = str(workdir / "data")
    os.environ["SEGLIB_RUNS_DIR"] = str(workdir / "runs")
    os.environ["SEGLIB_CACHE_DIR"] = str(workdir / "cache")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from seglib.synth import generate_dataset

    generate_dataset(workdir / "data" / "synthetic", train=48, val=12, size=size, seed=0)
    port = _free_port()
    log = open(workdir / "streamlit.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError("streamlit exited:\n" + (workdir / "streamlit.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return url, process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("streamlit did not become healthy in 120 s")


def start_lecture_run(seconds: float) -> str:
    sys.path.insert(0, str(ROOT))
    from seglib import runs
    from seglib.config import get_preset

    # Enough epochs to outlast the benchmark; it is stopped at the end.
    config = get_preset("lecture").with_overrides({"train.epochs": 500, "data.root": "synthetic"})
    run_id = runs.start_run(config, name="load benchmark (lecture)")
    deadline = time.time() + 180
    while time.time() < deadline and runs.read_progress(run_id).get("phase") not in ("training", "validating"):
        if runs.read_progress(run_id)["status"] in runs.FINAL_STATUSES:
            break
        time.sleep(1)
    return run_id


def stop_run(run_id: str) -> dict:
    from seglib import runs

    progress = runs.read_progress(run_id)
    if progress["status"] in ("queued", "running", "stopping"):
        runs.request_stop(run_id)
        deadline = time.time() + 60
        while time.time() < deadline and runs.read_progress(run_id)["status"] not in runs.FINAL_STATUSES:
            time.sleep(0.5)
    return runs.read_progress(run_id)


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
  const watch = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(watch, 50); return; }
    const push = () => window.__seglibStates.push(
      {state: app.getAttribute('data-test-script-state'), t: performance.now()});
    push();
    new MutationObserver(push).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  };
  watch();
}
"""


async def _now(page) -> float:
    await page.evaluate(_STATE_HOOK)
    return await page.evaluate("() => performance.now()")


async def wait_settled(page, timeout: float, since_ms: float | None = None) -> float | None:
    """Seconds from ``since_ms`` (the page's clock, taken just before the action)
    until the rerun it caused finished and stayed finished; None when stuck.

    With ``since_ms`` None (first load) any finished state counts.
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
        saw_run = since_ms is None or any(s["state"] == "running" for s in after)
        if saw_run and after and after[-1]["state"] == "notRunning" and not busy:
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

    async def record(action: str, title: str, seconds: float | None) -> None:
        problems = await _exceptions(page)
        records.append({"viewer": index, "action": action, "page": title, "seconds": seconds,
                        "stuck": seconds is None, "errors": len(problems)})
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
            await record("switch page", title, await wait_settled(page, args.stuck_after, since))
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
            await asyncio.sleep(0.5)  # a student reads for a moment
    finally:
        await context.close()


async def run_viewers(url: str, args) -> tuple[list, list]:
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
            await browser.close()
    return records, errors


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def summarise(records: list) -> list[dict]:
    rows = []
    groups = {"switch page": [], "move slider": [], "first load": []}
    for record in records:
        groups.setdefault(record["action"], []).append(record)
    groups["all views (switch + slider)"] = groups["switch page"] + groups["move slider"]
    for name, items in groups.items():
        times = [r["seconds"] for r in items if r["seconds"] is not None]
        rows.append({"action": name, "views": len(items), "errors": sum(r["errors"] for r in items),
                     "stuck": sum(r["stuck"] for r in items), "p50_s": _quantile(times, 0.5),
                     "p95_s": _quantile(times, 0.95), "max_s": max(times) if times else None})
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
        records, errors = asyncio.run(run_viewers(url, args))
        wall = time.time() - began
        run_progress = stop_run(run_id) if run_id else None
        rows = summarise(records)
        print_table(rows)
        overall = next(r for r in rows if r["action"].startswith("all views"))
        if errors:
            print(f"\n{len(errors)} problems, first ones:")
            for error in errors[:10]:
                print("  ", json.dumps(error)[:300])
        if run_progress:
            print(f"\ntraining run during the test: status {run_progress['status']}, "
                  f"epoch {run_progress.get('epoch')}, {run_progress.get('images_per_second') or '?'} images/s")
        result = {"viewers": args.viewers, "seconds": args.seconds, "wall_seconds": wall, "cpus": os.cpu_count(),
                  "summary": rows, "errors": errors, "records": records,
                  "training_run": {k: run_progress.get(k) for k in ("status", "epoch", "step", "images_per_second")}
                  if run_progress else None}
        out = Path(args.json) if args.json else workdir / "load_viewers.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str))
        print(f"results: {out}")
        ok = not errors and overall["stuck"] == 0 and (overall["p95_s"] or 0) <= args.p95_limit
        print("PASS" if ok else "FAIL", f"(p95 limit {args.p95_limit:.1f} s)")
        return 0 if ok else 1
    finally:
        if run_id:
            try:
                stop_run(run_id)
            except Exception:  # noqa: BLE001
                pass
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.json and not args.url:
            # keep the JSON (it was printed), drop the dataset and runs
            for name in ("data", "runs", "cache"):
                shutil.rmtree(workdir / name, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
