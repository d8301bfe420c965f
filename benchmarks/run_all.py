"""Run every benchmark and print one table.

    python benchmarks/run_all.py --quick          # a few minutes on 2 CPU cores
    python benchmarks/run_all.py                  # the full run (longer: 5 min of training alone)
    python benchmarks/run_all.py --quick --only pipeline_vs_reference flops
    python benchmarks/run_all.py --quick --json results.json

Each ``benchmarks/bench_*.py`` has ``run(...) -> list[dict]``; this script calls
them in turn (one failing benchmark is reported as a row with its error and the
others still run) and flattens their rows into one table:
``group | measure | preset | value | unit | target | ok | load``.

``load`` is the 1-minute load average (``os.getloadavg()``) when the group
started, or the one the benchmark recorded itself. On a machine shared with other
jobs every wall-clock rate is pessimistic; the groups also report CPU time where
it matters (see each script).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

from machine import describe, load_average  # benchmarks/ is on the path (script or run_all)

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _row(group, measure, value, unit, *, preset="", target=None, ok=None, load=None, note=""):
    return {"group": group, "measure": measure, "preset": preset or "", "value": value, "unit": unit,
            "target": target or "", "ok": ok, "load": load, "note": note}


# -- one adapter per benchmark: its own rows -> table rows ----------------------------

def _data(rows, load):
    return [_row("data", r["benchmark"], r["value"], r["unit"], target=r.get("target"), ok=r.get("ok"),
                 load=load, note=r.get("note", "")) for r in rows]


def _inference(rows, load):
    return [_row("inference", "latency per 512 px image (median)", r["median_s"], "s", preset=r["preset"],
                 target=None if r.get("target_s") is None else f"<= {r['target_s']}", ok=r.get("ok"), load=load,
                 note=f"{r['backbone']}, input {r['model_input']} px, {r['repeats']} repeats")
            for r in rows]


def _training(rows, load):
    from bench_training import TARGETS

    out = []
    for r in rows:
        load_here = r.get("load_before", load).split(" / ")[0] if r.get("load_before") else load
        note = f"{r['image_size']} px, batch {r['batch_size']}, {r['epochs_in_time']} epochs in {r['wall_s']:g} s"
        seen = r.get("images_seen")
        out += [
            _row("training", "Start -> first finished batch (worker spawn, tracing included)", r["first_batch_s"],
                 "s", preset=r["preset"], target=f"<= {TARGETS['first_batch_s']:g}",
                 ok=None if r["first_batch_s"] is None else r["first_batch_s"] <= TARGETS['first_batch_s'],
                 load=load_here, note=note),
            _row("training", f"val mean IoU after {seen} training images", r["val_mean_iou_seen"], "",
                 preset=r["preset"], target=f">= {TARGETS['val_mean_iou_seen']:g}",
                 ok=None if r["val_mean_iou_seen"] is None else r["val_mean_iou_seen"] >= TARGETS["val_mean_iou_seen"],
                 load=load_here, note="per epoch: " + ", ".join(f"{e['images_seen']}: {e['val_mean_iou']:.3f}"
                                                                for e in r.get("per_epoch", []))),
            _row("training", f"val pixel accuracy after {seen} training images", r["val_accuracy_seen"], "",
                 preset=r["preset"], target=f">= {TARGETS['val_accuracy_seen']:g}",
                 ok=None if r["val_accuracy_seen"] is None else r["val_accuracy_seen"] >= TARGETS["val_accuracy_seen"],
                 load=load_here),
            _row("training", "training throughput (worker, whole epochs)", r["images_per_second"], "images/s",
                 preset=r["preset"], load=load_here, note=note),
            _row("training", "best val mean IoU in the time", r["val_mean_iou"], "", preset=r["preset"],
                 load=load_here, note=f"val pixel accuracy {r['val_accuracy']}"),
        ]
        if r.get("error"):
            out.append(_row("training", "error", None, "", preset=r["preset"], note=r["error"][-300:]))
    return out


def _memory(rows, load):
    from bench_memory import RSS_BOUND_MB as RSS_LIMIT_MB

    peak = max(r["peak_mb"] for r in rows)
    last = rows[-1]
    return [_row("memory", f"server RSS after {len(rows) - 1} large uploads", last["rss_mb"], "MB",
                 target=f"< {RSS_LIMIT_MB:g}", ok=last["rss_mb"] < RSS_LIMIT_MB, load=load,
                 note="RSS per step: " + ", ".join(f"{r['rss_mb']:.0f}" for r in rows) + f"; peak {peak:.0f} MB")]


def _generic(group):
    def adapt(rows, load):
        return [_row(group, r["benchmark"], r["value"], r["unit"], preset=r.get("preset", ""),
                     target=r.get("target"), ok=r.get("ok"), load=r.get("load_1min", load),
                     note=r.get("note", "")) for r in rows]
    return adapt


#: name -> (module, kwargs for --quick, kwargs for the full run, adapter)
BENCHMARKS = {
    "pipeline_vs_reference": ("bench_pipeline_vs_reference", {"quick": True}, {}, _generic("feed")),
    "training": ("bench_training", {"minutes": 1.0}, {}, _training),
    "flops": ("bench_flops", {"quick": True}, {}, _generic("flops")),
    "data": ("bench_data", {"count": 100, "pipeline_images": 48}, {}, _data),
    "inference": ("bench_inference", {"repeats": 2}, {}, _inference),
    "pages": ("bench_pages", {"quick": True}, {}, _generic("pages")),
    "page_open": ("bench_page_open", {"quick": True}, {}, _generic("page open")),
    "speedup": ("bench_speedup", {"rounds": 2, "steps": 10}, {}, _generic("speed-up")),
    "lecture": ("bench_lecture", {"minutes": 1.0, "rounds": 1, "phase": 20.0, "after_backbone_joins": False}, {}, _generic("lecture")),
    "memory": ("bench_memory", {"uploads": 3}, {}, _memory),
    "classroom": ("bench_classroom", {}, {}, _generic("classroom")),
    "ablation": ("bench_ablation", {"images": 3}, {}, _generic("ablation")),
    "slides": ("bench_slides", {"quick": True}, {}, _generic("slides")),
    "playground": ("bench_playground", {"moves": 15}, {}, _generic("playground")),
}


def run_all(names: list[str], quick: bool) -> list[dict]:
    table = []
    for name in names:
        module_name, quick_kwargs, full_kwargs, adapt = BENCHMARKS[name]
        load = load_average()
        started = time.perf_counter()
        print(f"[run_all] {name} ... (load {load})", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(module_name)
            rows = module.run(**(quick_kwargs if quick else full_kwargs))
            table += adapt(rows, load)
        except Exception as error:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            table.append(_row(name, "error", None, "", load=load, note=f"{type(error).__name__}: {error}"))
        print(f"[run_all] {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return table


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_table(table: list[dict], elapsed: float | None = None) -> None:
    headers = ("group", "measure", "preset", "value", "unit", "target", "ok", "load")
    lines = [(r["group"], r["measure"], r["preset"], _format(r["value"]), r["unit"], r["target"],
              "-" if r["ok"] is None else ("ok" if r["ok"] else "MISSED"), str(r["load"] or "-")) for r in table]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |")
    notes = [(r["group"], r["measure"], r["note"]) for r in table if r.get("note")]
    if notes:
        print("\nnotes:")
        for group, measure, note in notes:
            print(f"  {group} / {measure}: {note}")
    print(f"\n{describe()}; load = 1-minute load average"
          + (f"; total {elapsed:.0f} s" if elapsed is not None else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short settings (a few minutes on 2 cores)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these benchmarks")
    parser.add_argument("--json", help="also write the table rows to this JSON file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = run_all(args.only or list(BENCHMARKS), args.quick)
    print_table(table, time.perf_counter() - started)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
