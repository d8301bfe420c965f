"""The Metric playground's slider latency, as a student feels it: a key press on a slider in headless
Chromium until the metrics (and the mask pictures) show the new prediction. Target: under 100 ms.

Starts the dashboard on a small synthetic dataset of its own (a temporary folder; ``--size`` px
images, the playground works on them at 128 px), opens the Metric playground, focuses the
**background recall** slider and moves it one step left and right ``--moves`` times with the
arrow keys. Each move is timed inside the page with ``performance.now()``: from the ``keydown``
(captured before Streamlit sees it) to the DOM change of the **wrong pixels** metric (the number
changes at every move), to the change of the prediction picture, and to the next animation frame
after both (drawn on screen). The websocket frames (Chrome DevTools protocol, the browser's clock)
split off the server's part: from the rerun request sent to the first and the last message back.
On a shared machine the wall-clock figures grow with the load; the CPU time the server and the browser
spend per move (psutil, pauses included) does not, and says what an idle machine would take.
Between moves the page is given ``--pause`` seconds to rest. The
fragment's own Python work (prediction, scores, the table of single mistakes and the pictures) is
timed apart, in this process, on the same mask.

    python benchmarks/bench_playground.py               # 40 moves
    python benchmarks/bench_playground.py --moves 10

Chromium runs with the CPU priority it has on a desktop (``machine.browser_as_desktop_user``).
``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_memory import dashboard_server  # benchmarks/ is on the path (script or run_all)
from load_viewers import CHROMIUM
from machine import browser_as_desktop_user, browser_pids, cpu_seconds, describe, load_average, quantile

TARGET_MS = 100.0
PAGE_TIMEOUT_S = 240
#: How often the waits look at the page (ms): the times are taken in the page itself, so polling
#: sparsely costs no precision and keeps the waiting out of the browser's CPU time.
POLL_MS = 100
#: Seconds the page is left alone before the moves, to measure what it costs the browser at rest.
IDLE_S = 3.0

#: Installed in the page: the time of the last keydown, of the metric's and the picture's change
#: after it, and of the first animation frame once both changed.
_OBSERVER = """() => {
  const state = window.__playground = {down: null, metric: null, picture: null, painted: null};
  const metricValue = () =>
    document.querySelector('.seglib-score[data-name="wrong pixels"]')?.getAttribute('data-value') ?? null;
  const pictureSource = () => {
    const pictures = document.querySelectorAll('.seglib-playground img');
    return pictures.length > 1 ? pictures[1].getAttribute('src') : null;
  };
  let metric = null, picture = null;
  document.addEventListener('keydown', () => {
    state.down = performance.now(); state.metric = state.picture = state.painted = null;
    metric = metricValue(); picture = pictureSource();  // what the page showed before the move
  }, true);
  new MutationObserver(() => {
    if (state.down === null) return;
    const now = performance.now();
    const nextMetric = metricValue(), nextPicture = pictureSource();
    // Only a new number and a new picture count (not an element emptied while the fragment reruns).
    if (state.metric === null && nextMetric && /[0-9]/.test(nextMetric) && nextMetric !== metric) {
      state.metric = now;
    }
    if (state.picture === null && nextPicture && nextPicture !== picture) { state.picture = now; }
    if (state.metric !== null && state.picture !== null && state.painted === null) {
      state.painted = -1;
      requestAnimationFrame(() => { state.painted = performance.now(); });
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                             attributeFilter: ['src', 'data-value']});
}"""

_DONE = "() => { const s = window.__playground; return s && s.painted !== null && s.painted > 0; }"


def _settle(page, timeout: float = PAGE_TIMEOUT_S) -> None:
    page.wait_for_function(
        """() => { const app = document.querySelector('[data-testid="stApp"]');
                   return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
                          && !document.querySelector('[data-testid="stStatusWidget"]')
                          && document.querySelectorAll('.seglib-playground img').length === 3; }""",
        timeout=timeout * 1000, polling=POLL_MS)


def fragment_work_ms(data_root: Path, repeats: int = 40) -> float:
    """Median milliseconds of the fragment's Python work for one move, on the dataset's first
    validation mask at the playground's size: prediction, scores, the single-mistake table and
    the three pictures (what the server adds to Streamlit's own round trip)."""
    from seglib.data.dataset import load_pair, open_dataset
    from seglib.figures.playground import panels_html
    from seglib.lab import playground
    from ui.playground import SIZE

    _, mask = load_pair(open_dataset(data_root / "synthetic").split("val")[0], size=SIZE)
    board = playground.Board(mask, seed=0)
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        settings = playground.Settings(background_recall=0.9 + 0.01 * (index % 2), rare_recall=0.6, swap_rate=0.1,
                                       boundary_px=1)
        prediction = board.predict(settings)
        board.scores(prediction, 0.8)
        playground.effects_frame(board.effects(settings, 0.8))
        panels_html(board.truth, prediction)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(moves: int = 40, size: int = 256, pause: float = 0.3) -> dict:
    """Run the dashboard and time ``moves`` slider moves; per move ``(metric, picture, painted)`` in ms."""
    from playwright.sync_api import sync_playwright

    from seglib.data.synth import generate_dataset

    with tempfile.TemporaryDirectory(prefix="bench-playground-") as folder:
        workdir = Path(folder)
        generate_dataset(workdir / "data" / "synthetic", train=2, val=4, size=size, seed=0, workers=1)
        work_ms = fragment_work_ms(workdir / "data")
        with dashboard_server(workdir) as (url, server_pid), sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=browser_as_desktop_user(CHROMIUM, workdir), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                started = time.perf_counter()
                page.goto(f"{url}/playground", wait_until="domcontentloaded")
                _settle(page)
                first_open = time.perf_counter() - started
                page.evaluate(_OBSERVER)
                # The websocket frames, with the browser's own timestamps: the rerun request sent, the
                # deltas received. Their span is the server's round trip; the rest is the browser's.
                frames: list[tuple[str, float]] = []
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.on("Network.webSocketFrameSent", lambda event: frames.append(("sent", event["timestamp"])))
                cdp.on("Network.webSocketFrameReceived",
                       lambda event: frames.append(("received", event["timestamp"])))
                page.get_by_role("slider", name="background recall").focus()
                idle_before, idle_started = cpu_seconds(browser_pids()), time.perf_counter()
                page.wait_for_timeout(IDLE_S * 1000)
                idle_ms = (cpu_seconds(browser_pids()) - idle_before) * 1000 / (time.perf_counter() - idle_started)
                load = load_average()
                cpu_before = cpu_seconds([server_pid]), cpu_seconds(browser_pids())
                moves_started = time.perf_counter()
                samples, round_trips = [], []
                for move in range(moves):
                    frames.clear()
                    page.keyboard.press("ArrowLeft" if move % 2 == 0 else "ArrowRight")
                    page.wait_for_function(_DONE, timeout=30_000, polling=POLL_MS)
                    state = page.evaluate("() => window.__playground")
                    samples.append(tuple(state[key] - state["down"] for key in ("metric", "picture", "painted")))
                    _settle(page)
                    sent = [t for kind, t in frames if kind == "sent"]
                    received = [t for kind, t in frames if kind == "received" and sent and t > sent[0]]
                    if sent and received:
                        round_trips.append(((received[0] - sent[0]) * 1000, (received[-1] - sent[0]) * 1000))
                    page.wait_for_timeout(pause * 1000)
                cpu_after = cpu_seconds([server_pid]), cpu_seconds(browser_pids())
                moves_s = time.perf_counter() - moves_started
            finally:
                browser.close()
    cpu_ms = [(after - before) * 1000 / moves for before, after in zip(cpu_before, cpu_after)]
    cpu_ms[1] -= idle_ms * moves_s / moves  # what the page costs the browser when nothing moves
    return {"samples": samples, "round_trips": round_trips, "work_ms": work_ms, "first_open_s": first_open,
            "load": load, "server_cpu_ms": cpu_ms[0], "browser_cpu_ms": cpu_ms[1], "browser_idle_ms": idle_ms}


def run(moves: int = 40, size: int = 256) -> list[dict]:
    """Rows for ``run_all``: the median and p90 of key press -> metrics updated, the pictures and
    the painted frame, and the fragment's Python work per move."""
    found = measure(moves=moves, size=size)
    metric, picture, painted = (list(column) for column in zip(*found["samples"]))
    note = f"{len(metric)} moves of the background-recall slider (arrow keys); {describe()}"
    rows = [
        {"benchmark": "slider key press -> metrics updated (median)", "value": round(statistics.median(metric), 1),
         "unit": "ms", "target": f"< {TARGET_MS:g}", "ok": statistics.median(metric) < TARGET_MS,
         "load_1min": found["load"], "note": note},
        {"benchmark": "slider key press -> metrics updated (p90)", "value": round(quantile(metric, 0.9), 1),
         "unit": "ms", "target": f"< {TARGET_MS:g}", "ok": quantile(metric, 0.9) < TARGET_MS,
         "load_1min": found["load"], "note": f"max {max(metric):.0f} ms"},
        {"benchmark": "slider key press -> pictures updated (median)", "value": round(statistics.median(picture), 1),
         "unit": "ms", "load_1min": found["load"]},
        {"benchmark": "slider key press -> frame painted (median)", "value": round(statistics.median(painted), 1),
         "unit": "ms", "load_1min": found["load"], "note": f"p90 {quantile(painted, 0.9):.0f} ms"},
        {"benchmark": "websocket: rerun request -> first delta (median)",
         "value": round(statistics.median(first for first, _ in found["round_trips"]), 1), "unit": "ms",
         "load_1min": found["load"], "note": "the server's part: Streamlit's fragment rerun and the page's work"},
        {"benchmark": "websocket: rerun request -> last message (median)",
         "value": round(statistics.median(last for _, last in found["round_trips"]), 1), "unit": "ms",
         "load_1min": found["load"], "note": "includes the script-finished message after the fragment"},
        {"benchmark": "server CPU per move (Streamlit + the page)", "value": round(found["server_cpu_ms"], 1),
         "unit": "ms", "load_1min": found["load"],
         "note": "CPU seconds of the server process over the moves and pauses, per move: what the move costs "
                 "the server whatever else runs on the machine"},
        {"benchmark": "browser CPU per move (all Chromium processes)", "value": round(found["browser_cpu_ms"], 1),
         "unit": "ms", "load_1min": found["load"],
         "note": f"the same for the browser, less its idle CPU ({found['browser_idle_ms']:.0f} ms per second "
                 "on the page with nothing moving)"},
        {"benchmark": "fragment's Python work per move (median)", "value": round(found["work_ms"], 2), "unit": "ms",
         "load_1min": found["load"], "note": "prediction, scores, single-mistake table, pictures; no Streamlit"},
        {"benchmark": "first open of the page (cold server)", "value": round(found["first_open_s"], 2), "unit": "s",
         "load_1min": found["load"]},
    ]
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=40, help="slider moves to time (default 40)")
    parser.add_argument("--size", type=int, default=256, help="side of the dataset's images (default 256)")
    args = parser.parse_args(argv)
    rows = run(moves=args.moves, size=args.size)
    for row in rows:
        target = f"  (target {row['target']}: {'ok' if row['ok'] else 'MISSED'})" if row.get("target") else ""
        print(f"{row['benchmark']:<52}{row['value']:>9} {row['unit']}{target}"
              + (f"\n    {row['note']}" if row.get("note") else ""))
    print(f"{describe()}; load {rows[0]['load_1min']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
