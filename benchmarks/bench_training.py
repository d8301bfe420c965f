"""Training benchmark: the ``lecture`` preset on the synthetic default, as a lecture runs it.

Starts the real worker (``python -m seglib train --preset lecture ...``) in a
subprocess with its own temporary runs folder, watches its run folder like the
dashboard does, and reports against the targets (issue J):

* time from the worker's start (process spawn) to the first finished batch:
  <= 15 s on 2 cores (``bench_lecture.py`` measures it from the browser's Start);
* validation mean IoU >= 0.30 and pixel accuracy >= 0.85 after at most 2,000
  training images seen (two epochs of the default set), whatever the machine:
  this counts images, not seconds;
* training throughput (images/s, measured by the worker over whole epochs,
  graph tracing excluded) and the best validation figures within the wall time,
  reported without a target (machines differ about 2x; ``bench_speedup.py``
  compares configurations as a ratio in one run).

    python benchmarks/bench_training.py                 # lecture preset, 5 minutes
    python benchmarks/bench_training.py --minutes 3 --set train.batch_size=8

The worker is stopped (STOP file) once the time is up. The machine may be
shared: the table prints the load average next to the figures, as measured
throughput is pessimistic when other jobs use the cores. ``run()`` returns the
rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from machine import load_average  # benchmarks/ is on the path (script or run_all)

from seglib.training.runs import files, readers

from seglib import settings

#: Issue J's targets: start-up seconds, and validation figures after IMAGES_SEEN training images.
TARGETS = {"first_batch_s": 15.0, "val_mean_iou_seen": 0.30, "val_accuracy_seen": 0.85}
IMAGES_SEEN = 2000
WALL_SECONDS = 300.0


def run(preset: str = "lecture", minutes: float = WALL_SECONDS / 60, overrides: list[str] | None = None,
        data: str | None = None, keep: str | None = None) -> list[dict]:
    """Train for ``minutes`` of wall time and return one row of measured figures."""
    data = data or str(settings.default_dataset_dir())
    if not (Path(data) / ".complete").exists() and not Path(data, "Training").is_dir():
        raise SystemExit(f"No dataset at {settings.display_path(data)}: run "
                         "`python -m seglib data synth --out data/synthetic --default` first.")
    temporary = Path(tempfile.mkdtemp(prefix="seglib-bench-train-"))
    folder = temporary / "run"
    command = [sys.executable, "-m", "seglib", "train", "--preset", preset, "--data", data,
               "--run-dir", str(folder)]
    for item in overrides or []:
        command += ["--set", item]
    env = dict(os.environ, SEGLIB_RUNS_DIR=str(temporary), PYTHONUNBUFFERED="1")
    load_before = load_average("all")
    wall = minutes * 60.0
    started = time.time()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    seen_epochs: dict[int, float] = {}
    first_batch = None
    try:
        while process.poll() is None:
            now = time.time()
            progress = readers.read_progress(folder)[0] or {}
            if first_batch is None and progress.get("first_batch_at"):
                first_batch = float(progress["first_batch_at"]) - started
            history = readers.read_history(folder)
            for epoch in history["epoch"].tolist():
                seen_epochs.setdefault(int(epoch), now - started)
            if now - started >= wall and not (folder / files.STOP_FILE).exists():
                (folder / files.STOP_FILE).write_text("benchmark time is up\n")
            time.sleep(0.5)
        output = process.stdout.read() if process.stdout else ""
    finally:
        if process.poll() is None:
            process.kill()
    history = readers.read_history(folder)
    for epoch in history["epoch"].tolist():  # rows written in the last half second
        seen_epochs.setdefault(int(epoch), time.time() - started)
    in_time = history[history["epoch"].map(lambda e: seen_epochs.get(int(e), 1e9) <= wall)]
    progress = readers.read_progress(folder)[0] or {}
    config = json.loads((folder / files.CONFIG_FILE).read_text())
    best = in_time.loc[in_time["val_mean_iou"].idxmax()] if len(in_time) else None
    train_images = int(progress.get("train_images") or 0)
    seen = history[history["epoch"] * train_images <= IMAGES_SEEN] if train_images else history.iloc[:0]
    last_seen = seen.iloc[-1] if len(seen) else None
    row = {
        "benchmark": "training_lecture_5min",
        "preset": preset,
        "overrides": " ".join(overrides or []),
        "image_size": config["model"]["image_size"],
        "batch_size": config["train"]["batch_size"],
        "train_images": progress.get("train_images"),
        "first_batch_s": None if first_batch is None else round(first_batch, 1),
        "images_per_second": progress.get("measured_images_per_second"),
        "epochs_in_time": len(in_time),
        "wall_s": round(wall, 0),
        "best_epoch": None if best is None else int(best["epoch"]),
        "val_accuracy": None if best is None else round(float(best["val_accuracy"]), 4),
        "val_mean_iou": None if best is None else round(float(best["val_mean_iou"]), 4),
        "epoch_times_s": {e: round(t, 1) for e, t in sorted(seen_epochs.items())},
        "status": progress.get("status"),
        "images_seen": None if last_seen is None else int(last_seen["epoch"]) * train_images,
        "val_mean_iou_seen": None if last_seen is None else round(float(last_seen["val_mean_iou"]), 4),
        "val_accuracy_seen": None if last_seen is None else round(float(last_seen["val_accuracy"]), 4),
        "per_epoch": [{"epoch": int(r["epoch"]), "images_seen": int(r["epoch"]) * train_images,
                       "val_mean_iou": round(float(r["val_mean_iou"]), 4),
                       "val_accuracy": round(float(r["val_accuracy"]), 4)} for _, r in history.iterrows()],
        "load_before": load_before,
        "load_after": load_average("all"),
        "cpus": os.cpu_count(),
    }
    row["ok"] = all(row[k] is not None and (row[k] <= v if k == "first_batch_s" else row[k] >= v)
                    for k, v in TARGETS.items())
    if process.returncode not in (0, None):
        row["error"] = output[-2000:]
    if keep:
        shutil.copytree(folder, keep, dirs_exist_ok=True)
    shutil.rmtree(temporary, ignore_errors=True)
    return [row]


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print(f"training benchmark: {row['preset']} {row['overrides']}".rstrip())
        print(f"  {'measure':<34}{'value':>10}   target")
        items = [
            ("first batch after worker start (s)", row["first_batch_s"], f"<= {TARGETS['first_batch_s']:g}"),
            (f"val mean IoU after {row['images_seen']} images", row["val_mean_iou_seen"],
             f">= {TARGETS['val_mean_iou_seen']:g}"),
            (f"val pixel accuracy after {row['images_seen']} images", row["val_accuracy_seen"],
             f">= {TARGETS['val_accuracy_seen']:g}"),
            ("training images / s", row["images_per_second"], ""),
            (f"best val pixel accuracy in {row['wall_s'] / 60:g} min", row["val_accuracy"], ""),
            (f"best val mean IoU in {row['wall_s'] / 60:g} min", row["val_mean_iou"], ""),
        ]
        for name, value, target in items:
            print(f"  {name:<34}{'-' if value is None else value:>10}   {target}")
        print(f"  epochs done in time: {row['epochs_in_time']} (best epoch {row['best_epoch']}), "
              f"{row['train_images']} train images at {row['image_size']} px, batch {row['batch_size']}; "
              f"status {row['status']}")
        print(f"  epoch finished at (s): {row['epoch_times_s']}")
        print("  per epoch: " + ", ".join(f"{e['images_seen']} images -> mIoU {e['val_mean_iou']:.3f} / "
                                          f"acc {e['val_accuracy']:.3f}" for e in row["per_epoch"]))
        print(f"  load average before: {row['load_before']}, after: {row['load_after']} ({row['cpus']} CPUs)"
              f"  -> {'all targets met' if row['ok'] else 'TARGET MISSED'}")
        if row.get("error"):
            print(row["error"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lecture")
    parser.add_argument("--minutes", type=float, default=WALL_SECONDS / 60)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--data", help="dataset folder (default: the synthetic default)")
    parser.add_argument("--keep", help="copy the run folder here afterwards")
    arguments = parser.parse_args()
    print_table(run(arguments.preset, arguments.minutes, arguments.overrides, arguments.data, arguments.keep))
