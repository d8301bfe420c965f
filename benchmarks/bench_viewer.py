"""What one Training-page viewer costs the training worker, measured side by side in one run.

Starts the dashboard on a temporary synthetic dataset, starts a ``lecture``
run through ``seglib.runs`` (as the Start button does), then alternates
phases of ``--phase`` seconds: no browser, then one headless Chromium on the
Training page (it polls the run by itself, as a lecture's projector does),
``--rounds`` times. In each phase it samples ``progress.json`` every half
second and counts the optimizer steps done while the worker was in its
``training`` phase (validation and checkpoint saving are left out), so the
rate is the worker's training images/s, nothing else. Prints both rates and
their ratio; the target is ``viewer / no viewer >= 0.9``.

    python benchmarks/bench_viewer.py                   # 3 rounds of 2 x 40 s
    python benchmarks/bench_viewer.py --rounds 1 --phase 20

``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from load_viewers import CHROMIUM, start_server, stop_run  # benchmarks/ is on the path (script or run_all)
from seglib import runs
from seglib.config import get_preset

TARGET_RATIO = 0.9


def _training_rate(run_id: str, seconds: float, batch_size: int) -> tuple[float, int]:
    """Training images/s of the worker over ``seconds`` of wall time (training phase only)."""
    deadline = time.time() + seconds
    steps, busy = 0, 0.0
    last = None
    while time.time() < deadline:
        progress = runs.read_progress(run_id)
        now = time.time()
        mark = (progress.get("epoch"), progress.get("step"), progress.get("phase"))
        if last is not None and last[1][2] == "training" and mark[2] == "training" and mark[0] == last[1][0]:
            done = int(mark[1] or 0) - int(last[1][1] or 0)
            if done >= 0:
                steps += done
                busy += now - last[0]
        last = (now, mark)
        time.sleep(0.5)
    return (steps * batch_size / busy if busy else 0.0), steps


def run(rounds: int = 3, phase: float = 40.0) -> list[dict]:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="seglib-bench-viewer-"))
    url, server = start_server(workdir, size=256, train=400, val=40)
    config = get_preset("lecture").with_overrides({"train.epochs": 500, "data.root": "synthetic"})
    run_id = runs.start_run(config, name="viewer benchmark (lecture)")
    rates: dict[str, list[float]] = {"no viewer": [], "one viewer": []}
    try:
        deadline = time.time() + 240
        while runs.read_progress(run_id).get("phase") not in ("training", "validating"):
            if time.time() > deadline or runs.read_progress(run_id)["status"] in runs.FINAL_STATUSES:
                raise RuntimeError(f"the run did not start training: {runs.read_progress(run_id)}")
            time.sleep(1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            for _ in range(rounds):
                rate, _ = _training_rate(run_id, phase, config.train.batch_size)
                rates["no viewer"].append(rate)
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                page.goto(f"{url}/training", wait_until="domcontentloaded")
                page.get_by_text("Live view").first.wait_for(timeout=60_000)
                rate, _ = _training_rate(run_id, phase, config.train.batch_size)
                rates["one viewer"].append(rate)
                page.close()
            browser.close()
    finally:
        stop_run(run_id)
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    without = sum(rates["no viewer"]) / len(rates["no viewer"])
    with_viewer = sum(rates["one viewer"]) / len(rates["one viewer"])
    ratio = with_viewer / without if without else 0.0
    note = (f"{rounds} rounds of {phase:.0f} s each way, alternating; per round without: "
            + ", ".join(f"{r:.1f}" for r in rates["no viewer"]) + "; with: "
            + ", ".join(f"{r:.1f}" for r in rates["one viewer"]))
    common = {"preset": "lecture", "note": note, "cpus": os.cpu_count()}
    return [
        {"benchmark": "worker images/s, no viewer", "value": round(without, 2), "unit": "images/s",
         "target": None, "ok": None, **common},
        {"benchmark": "worker images/s, one Training-page viewer", "value": round(with_viewer, 2),
         "unit": "images/s", "target": None, "ok": None, **common},
        {"benchmark": "viewer / no viewer", "value": round(ratio, 3), "unit": "x", "target": TARGET_RATIO,
         "ok": ratio >= TARGET_RATIO, **common},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase", type=float, default=40.0, help="seconds per phase")
    arguments = parser.parse_args()
    for row in run(arguments.rounds, arguments.phase):
        flag = "" if row["ok"] is None else ("  ok" if row["ok"] else "  MISSED")
        print(f"{row['benchmark']:<46}{row['value']:>10} {row['unit']}{flag}")
    print(f"  {row['note']}")
