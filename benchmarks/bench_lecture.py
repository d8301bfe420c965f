"""A lecture as the room feels it: Start pressed in a browser, the curves watched, the worker's cost of a viewer.

Starts the dashboard on the synthetic default dataset (``data/synthetic``;
runs go to a temporary folder), opens the Training page in headless Chromium
and presses **Start training** with the form as it comes (the ``lecture``
preset). Then, with that one browser on the Training page:

* **start-up**: seconds from the click to the worker's first finished batch
  (``progress.json``'s ``first_batch_at``): the worker's spawn, the TensorFlow
  import, the data, the model and the tracing (target <= 15 s on 2 cores);
* **learning in the lecture's minutes**: the best validation mean IoU of the
  epochs finished within ``--minutes`` (default 3) of the click (target >= 0.30);
* **what a viewer costs the worker** (once the backbone trains too): phases of ``--phase`` seconds without a
  browser and with one browser on the Training page, ``--rounds`` times and one
  more without at the end (without, with, without, ..., without), each measured
  from ``SETTLE_SECONDS`` after the page was opened or closed (a projector keeps
  the page open; opening it is a one-off). In each phase ``progress.json`` is
  sampled every half second and the steps done while the worker was in its
  ``training`` phase are counted (validation and saving left out), so the rate is
  the worker's training images/s. Each phase with a viewer is compared with the
  mean of the two phases without around it, which cancels the worker's own drift
  (target: with a viewer >= 0.9 x without). The CPU the viewer's Streamlit server
  and Chromium use in the phases with a viewer is reported too. Chromium runs with the CPU
  priority it has on a desktop (``machine.browser_as_desktop_user``): run as root, it would raise
  its own threads to nice -8.

    python benchmarks/bench_lecture.py                       # 3 minutes, then 3 rounds of 2 x 40 s and 40 s
    python benchmarks/bench_lecture.py --minutes 1 --rounds 1 --phase 20

``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from seglib.training import scheduler
from seglib.training.runs import files, readers, state

from seglib import settings

from from_tests import dashboard_support  # benchmarks/ is on the path (script or run_all)
from load_viewers import CHROMIUM
from machine import browser_as_desktop_user, browser_pids, cpu_seconds, describe

TARGETS = {"first_batch_s": 15.0, "val_mean_iou": 0.30, "viewer_ratio": 0.9}
#: Seconds left out after opening or closing the viewer's page: the steady cost of a page that
#: stays open is what the lecture pays, not the one-off load.
SETTLE_SECONDS = 10.0


def _machine_share(worker_pid: int | None) -> dict:
    """CPU counters now: the machine's busy and total CPU seconds, the worker's CPU seconds and its
    involuntary context switches (how often something else took its core)."""
    import psutil

    times = psutil.cpu_times()
    total = sum(times)
    sample = {"busy": total - times.idle - getattr(times, "iowait", 0.0), "total": total,
              "worker": 0.0, "preempted": 0}
    if worker_pid:
        try:
            worker = psutil.Process(worker_pid)
            sample["worker"] = cpu_seconds({worker_pid})
            sample["preempted"] = worker.num_ctx_switches().involuntary
        except psutil.Error:
            pass
    return sample


def _training_rate(folder: Path, seconds: float, batch_size: int, shares: list | None = None) -> float:
    """Training images/s of the worker over ``seconds`` of wall time (its training phase only); with
    ``shares``, appends where the machine's CPU went meanwhile (cores busy, worker cores, preemptions/s)."""
    worker_pid = (readers.read_progress(folder)[0] or {}).get("pid")
    before, started = _machine_share(worker_pid), time.time()
    deadline = time.time() + seconds
    steps, busy, last = 0, 0.0, None
    while time.time() < deadline:
        progress = readers.read_progress(folder)[0] or {}
        now = time.time()
        mark = (progress.get("epoch"), progress.get("step"), progress.get("phase"))
        if last is not None and last[1][2] == "training" == mark[2] and mark[0] == last[1][0]:
            done = int(mark[1] or 0) - int(last[1][1] or 0)
            if done >= 0:
                steps += done
                busy += now - last[0]
        last = (now, mark)
        time.sleep(0.5)
    if shares is not None:
        after, wall = _machine_share(worker_pid), time.time() - started
        shares.append({"cores busy": (after["busy"] - before["busy"]) / wall,
                       "worker cores": (after["worker"] - before["worker"]) / wall,
                       "worker preempted/s": (after["preempted"] - before["preempted"]) / wall})
    return steps * batch_size / busy if busy else 0.0


def _open_training_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{url}/training", wait_until="domcontentloaded")
    page.get_by_text("Live view").first.wait_for(timeout=120_000)
    return page


def run(minutes: float = 3.0, rounds: int = 3, phase: float = 40.0,
        after_backbone_joins: bool = True) -> list[dict]:
    from playwright.sync_api import sync_playwright

    if not (settings.default_dataset_dir() / ".complete").exists():
        raise SystemExit("No synthetic dataset: run `make data` first.")
    workdir = Path(tempfile.mkdtemp(prefix="seglib-bench-lecture-"))
    os.environ["SEGLIB_RUNS_DIR"] = str(workdir / "runs")  # the server's runs folder, read here too
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    url, server = dashboard_support.start_dashboard(workdir / "streamlit.log")
    folder = None
    rows: list[dict] = []
    try:
        with sync_playwright() as playwright:
            # With the CPU priority a desktop user's Chromium has (as root it would raise itself to nice -8).
            browser = playwright.chromium.launch(executable_path=browser_as_desktop_user(CHROMIUM, workdir),
                                                 headless=True)
            page = _open_training_page(browser, url)
            start_button = page.get_by_role("button", name="Start training")
            if not start_button.is_visible():
                page.get_by_text("Start a new run").first.click()
            # Enough epochs to outlast the viewer phases (the lecture preset's other settings as they come).
            epochs = page.get_by_label("Epochs", exact=True)
            epochs.fill("200")
            epochs.press("Enter")
            time.sleep(3)  # the form's rerun
            clicked = time.time()
            start_button.click()
            found = dashboard_support.wait_until(
                lambda: sorted((workdir / "runs").glob("*/" + files.PROGRESS_FILE)), 120, interval=0.2,
                message="pressing Start created no run folder")
            folder = found[0].parent
            config = state.training_config(folder)
            first_batch, epoch_seen = None, {}
            while time.time() - clicked < minutes * 60:
                progress = readers.read_progress(folder)[0] or {}
                if first_batch is None and progress.get("first_batch_at"):
                    first_batch = float(progress["first_batch_at"]) - clicked
                for epoch in readers.read_history(folder)["epoch"].tolist():
                    epoch_seen.setdefault(int(epoch), time.time() - clicked)
                if progress.get("status") in files.FINAL_STATUSES:
                    break
                time.sleep(0.5)
            history = readers.read_history(folder)
            in_time = history[history["epoch"].map(lambda e: epoch_seen.get(int(e), 1e9) <= minutes * 60)]
            best = float(in_time["val_mean_iou"].max()) if len(in_time) else None
            accuracy = float(in_time["val_accuracy"].max()) if len(in_time) else None
            note = (f"{config.summary()}; {len(in_time)} epochs in {minutes:g} min, finished at "
                    + ", ".join(f"{t:.0f} s" for t in sorted(epoch_seen.values())))
            rows += [
                {"benchmark": "browser Start -> first finished batch", "value": first_batch and round(first_batch, 1),
                 "unit": "s", "target": f"<= {TARGETS['first_batch_s']:g}",
                 "ok": first_batch is not None and first_batch <= TARGETS["first_batch_s"], "note": note},
                {"benchmark": f"best val mean IoU within {minutes:g} min of Start (one viewer)",
                 "value": best and round(best, 4), "unit": "", "target": f">= {TARGETS['val_mean_iou']:g}",
                 "ok": best is not None and best >= TARGETS["val_mean_iou"],
                 "note": f"val pixel accuracy {accuracy and round(accuracy, 4)}"},
            ]
            # The viewer phases start once the backbone has joined the training (the lecture preset keeps
            # it fixed for its first epochs): the step changes there, and is traced again, so a phase
            # across it would compare two different workers.
            joined = int(config.train.freeze_backbone_epochs or 0) + 1

            def backbone_joined() -> bool:
                progress = readers.read_progress(folder)[0] or {}
                return int(progress.get("epoch") or 0) > joined and progress.get("phase") == "training"

            if after_backbone_joins:
                with contextlib.suppress(TimeoutError):  # not within 15 minutes: measure from here
                    dashboard_support.wait_until(backbone_joined, 900, interval=1.0)
            rates: dict[str, list[float]] = {"without": [], "with": []}
            shares: dict[str, list[dict]] = {"without": [], "with": []}
            # Where a viewer's CPU goes (cores busy on average during the "with" phases): the
            # Streamlit server (the worker is its own process, not counted) and Chromium.
            spent = {"server": 0.0, "browser": 0.0, "seconds": 0.0}
            for _ in range(rounds):
                page.close()
                time.sleep(SETTLE_SECONDS)  # the closed page's last work drains
                rates["without"].append(_training_rate(folder, phase, config.train.batch_size, shares["without"]))
                page = _open_training_page(browser, url)
                time.sleep(SETTLE_SECONDS)  # opening the page is a one-off; the projector then keeps it open
                chromium = browser_pids()
                before = (cpu_seconds({server.pid}), cpu_seconds(chromium), time.time())
                rates["with"].append(_training_rate(folder, phase, config.train.batch_size, shares["with"]))
                spent["server"] += cpu_seconds({server.pid}) - before[0]
                spent["browser"] += cpu_seconds(chromium) - before[1]
                spent["seconds"] += time.time() - before[2]
            # One more phase without, so that every phase with a viewer sits between two without
            # (A-B-A): the worker's own drift (the backbone unfreezing, the epochs' validation) cancels.
            page.close()
            time.sleep(SETTLE_SECONDS)
            rates["without"].append(_training_rate(folder, phase, config.train.batch_size, shares["without"]))
            page.close()
            browser.close()
    finally:
        if folder is not None and state.run_state(folder.name).get("status") in ("queued", "running"):
            scheduler.request_stop(folder.name)
            with contextlib.suppress(TimeoutError):  # still stopping after a minute: cleaned up as before
                dashboard_support.wait_until(
                    lambda: state.run_state(folder.name).get("status") in files.FINAL_STATUSES, 60)
        dashboard_support.stop_dashboard(server, timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    without = sum(rates["without"]) / len(rates["without"])
    with_viewer = sum(rates["with"]) / len(rates["with"])
    # Each phase with a viewer against the mean of the two phases without around it.
    brackets = [(rates["without"][i] + rates["without"][i + 1]) / 2 for i in range(len(rates["with"]))]
    ratios = [w / b for w, b in zip(rates["with"], brackets) if b]
    ratio = sum(ratios) / len(ratios) if ratios else 0.0
    note = (f"{rounds} rounds of {phase:g} s, without-with-...-without; ratio of each phase with a viewer to "
            "the mean of the two without around it: " + ", ".join(f"{r:.3f}" for r in ratios) + "; without: "
            + ", ".join(f"{r:.1f}" for r in rates["without"]) + "; with: "
            + ", ".join(f"{r:.1f}" for r in rates["with"]))
    rows += [
        {"benchmark": "worker images/s, no viewer", "value": round(without, 2), "unit": "images/s",
         "target": None, "ok": None, "note": note},
        {"benchmark": "worker images/s, one Training-page viewer", "value": round(with_viewer, 2),
         "unit": "images/s", "target": None, "ok": None, "note": note},
        {"benchmark": "worker images/s with / without a viewer", "value": round(ratio, 3), "unit": "x",
         "target": f">= {TARGETS['viewer_ratio']:g}", "ok": ratio >= TARGETS["viewer_ratio"], "note": note},
        {"benchmark": "a viewer's CPU: Streamlit server", "value": round(spent["server"] / spent["seconds"], 3),
         "unit": "cores", "target": None, "ok": None,
         "note": f"{spent['server']:.1f} CPU s in {spent['seconds']:.0f} s with the page open"},
        {"benchmark": "a viewer's CPU: Chromium", "value": round(spent["browser"] / spent["seconds"], 3),
         "unit": "cores", "target": None, "ok": None,
         "note": f"{spent['browser']:.1f} CPU s in {spent['seconds']:.0f} s with the page open"},
    ]
    for kind in ("without", "with"):
        for measure in ("cores busy", "worker cores", "worker preempted/s"):
            values = [share[measure] for share in shares[kind]]
            rows.append({"benchmark": f"{measure}, {kind} a viewer", "value": round(sum(values) / len(values), 2),
                         "unit": "", "target": None, "ok": None,
                         "note": "per phase: " + ", ".join(f"{v:.2f}" for v in values)})
    for row in rows:
        row.update(preset="lecture", cpus=os.cpu_count())
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="the lecture's minutes after Start")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phase", type=float, default=40.0, help="seconds per viewer / no-viewer phase")
    parser.add_argument("--no-wait", action="store_true",
                        help="start the viewer phases at once, not after the backbone joined the training")
    arguments = parser.parse_args()
    print(f"CPU: {describe()}")
    for row in run(arguments.minutes, arguments.rounds, arguments.phase, not arguments.no_wait):
        flag = "" if row["ok"] is None else ("  ok" if row["ok"] else "  MISSED")
        print(f"{row['benchmark']:<58}{row['value']!s:>10} {row['unit']}{flag}")
        if row.get("note"):
            print(f"    {row['note']}")
