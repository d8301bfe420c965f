"""``python -m seglib data synth | check | stats``: the dataset commands.

Examples::

    python -m seglib data synth --out data/synthetic --default
    python -m seglib data synth --out data/tiny --train 12 --val 4 --size 64 --seed 0
    python -m seglib data check data/synthetic
    python -m seglib data stats data/synthetic --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from seglib import settings
from seglib.cli.options import add_command, add_shared
from seglib.data.dataset import check_dataset, format_problem, open_dataset
from seglib.data.stats import dataset_stats
from seglib.data.synth import generate_dataset
from seglib.errors import DatasetError


def register(subparsers) -> None:
    """Add ``python -m seglib data`` and its actions."""
    data = add_command(subparsers, "data", None, help="generate, check and describe datasets",
                       description="Generate the synthetic dataset, check a dataset folder, "
                                   "or print its class and size statistics.")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION")

    synth = add_command(actions, "synth", _synth)
    synth.add_argument("--out", type=Path, default=None,
                       help="target folder (default with --default: the data root's 'synthetic')")
    synth.add_argument("--default", action="store_true",
                       help="use the default dataset's numbers: "
                            + ", ".join(f"{k} {v}" for k, v in settings.DEFAULT_SYNTH.items()))
    synth.add_argument("--train", type=int, default=None, help="training pairs")
    synth.add_argument("--val", type=int, default=None, help="validation pairs")
    synth.add_argument("--size", type=int, default=None, help="image side in pixels")
    synth.add_argument("--seed", type=int, default=None, help="random seed (same seed, same files)")
    synth.add_argument("--workers", type=int, default=None, help="processes (default: all CPU cores)")

    check = add_command(actions, "check", _check)
    check.add_argument("folder", type=Path)
    check.add_argument("--quick", action="store_true", help="do not decode files (names and sizes only)")
    check.add_argument("--limit", type=int, default=20, help="problems listed per kind (default 20)")

    stats = add_command(actions, "stats", _stats)
    stats.add_argument("folder", type=Path)
    stats.add_argument("--split", default="train", choices=["train", "val"])
    stats.add_argument("--size", type=int, default=None,
                       help="resize masks (nearest) to this square size first, as training does")
    add_shared(stats, "--json")


def _synth(args: argparse.Namespace) -> int:
    """write the synthetic crowd dataset (CIHP layout)"""
    defaults = settings.DEFAULT_SYNTH if args.default else {"train": None, "val": 0, "size": 128, "seed": 0}
    values = {name: getattr(args, name) if getattr(args, name) is not None else defaults[name]
              for name in ("train", "val", "size", "seed")}
    if values["train"] is None:
        print("error: give --train N (and --val, --size, --seed), or --default for the default dataset.",
              file=sys.stderr)
        return 2
    out = args.out if args.out is not None else (settings.default_dataset_dir() if args.default else None)
    if out is None:
        print("error: give --out FOLDER (or --default to use the data root's 'synthetic').", file=sys.stderr)
        return 2
    total = values["train"] + values["val"]
    started = time.perf_counter()
    step = max(1, total // 10)
    last = [0]

    def progress(done: int, total: int) -> None:
        if done - last[0] >= step or done == total:
            last[0] = done
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"  {done:>6}/{total} pairs  ({rate:,.0f} pairs/s)", flush=True)

    print(f"Drawing {values['train']} training + {values['val']} validation pairs at {values['size']} px "
          f"(seed {values['seed']}) into {settings.display_path(out)} ...", flush=True)
    try:
        result = generate_dataset(out, workers=args.workers, progress=progress, **values)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result["skipped"]:
        print("Already complete with the same settings; nothing to do.")
    else:
        print(f"Done in {result['seconds']:.1f} s ({result['pairs_per_second']:,.0f} pairs/s).")
    return 0


def _check(args: argparse.Namespace) -> int:
    """find pairs and report bad files in a dataset folder"""
    try:
        report = check_dataset(args.folder, deep=not args.quick)
    except DatasetError as error:
        for problem in error.problems[: args.limit]:
            print(f"  - {format_problem(problem)}")
        if len(error.problems) > args.limit:
            print(f"  ... and {len(error.problems) - args.limit} more")
        raise
    print(report.format(limit=args.limit))
    return 0


def _stats(args: argparse.Namespace) -> int:
    """class pixel fractions, object sizes and person heights"""
    stats = dataset_stats(open_dataset(args.folder), split=args.split, size=args.size)
    if args.json:
        print(json.dumps(stats.to_json(), indent=2))
    else:
        print(stats.format())
    return 0
