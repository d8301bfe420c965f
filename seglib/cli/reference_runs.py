"""``python -m seglib reference-runs``: train and record the optimizer reference runs shipped in
``assets/reference_runs/`` (``seglib.training.reference``), or the weight-decay sweep that chose run (c)'s
weight decay.

Example::

    python -m seglib reference-runs                                  # (a), (b), (c) into assets/reference_runs
    python -m seglib reference-runs --sweep --out runs/sweep         # run (c) at every weight decay of the sweep
    python -m seglib reference-runs --sweep --out runs/sweep --table # print the table of a recorded sweep
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seglib.cli.options import add_command
from seglib.training.reference import (EPOCHS, TRAIN_IMAGES, WEIGHT_DECAY_SWEEP, record_optimizer_runs,
                                       record_weight_decay_sweep, sweep_key)


def register(subparsers) -> None:
    """Add ``python -m seglib reference-runs``."""
    parser = add_command(subparsers, "reference-runs", run)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--train", type=int, default=TRAIN_IMAGES, help="training images of every run")
    parser.add_argument("--out", help="folder for the recorded runs (default: assets/reference_runs)")
    parser.add_argument("--sweep", action="store_true",
                        help="train run (c) at each weight decay of --weight-decays instead, then print the table")
    parser.add_argument("--weight-decays", type=float, nargs="+", default=list(WEIGHT_DECAY_SWEEP),
                        help="the sweep's weight decays")
    parser.add_argument("--table", action="store_true",
                        help="with --sweep: only print the table of the sweep already recorded in --out")


def run(args: argparse.Namespace) -> int:
    """train and record the optimizer reference runs shipped in assets/

    Train the lecture model with (a) the Keras example's optimizer, (b) a lower, decaying learning rate
    and (c) that plus AdamW's weight decay, on the same images, and record the runs in
    assets/reference_runs (read-only in the dashboard). With --sweep, train (c) at several weight decays
    and print what each did (weight norm, losses, gap, validation mean IoU).
    """
    from seglib.training.runs import readers

    if args.sweep:
        if not args.out:
            print("--sweep needs --out: the sweep's runs are not shipped.")
            return 2
        if not args.table:
            record_weight_decay_sweep(tuple(args.weight_decays), args.epochs, args.train, args.out)
        print_sweep(Path(args.out), args.weight_decays)
        return 0
    for path in record_optimizer_runs(args.epochs, args.train, args.out):
        history = readers.read_history(path)
        print(f"{path.name}: {len(history)} epochs, best val mean IoU {history['val_mean_iou'].max():.3f}, "
              f"last val loss {history['val_loss'].iloc[-1]:.3f}")
    return 0


def print_sweep(folder: Path, weight_decays: list[float]) -> None:
    """The sweep's table (``seglib.training.diagnosis.sweep_rows``) for the runs recorded in ``folder``."""
    from seglib.training import diagnosis
    from seglib.training.runs import files, folders, readers

    histories = {}
    for value in weight_decays:
        run_folder = folder / f"{folders.REFERENCE_PREFIX}{sweep_key(value)}"
        if (run_folder / files.HISTORY_FILE).exists():
            histories[value] = readers.read_history(run_folder)
        else:
            print(f"weight decay {value:g}: no recorded run in {folder} ({run_folder.name})")
    rows = diagnosis.sweep_rows(histories)
    if not rows:
        return
    columns = list(rows[0])
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[column]:g}" if column == "weight decay" else f"{row[column]:.4g}"
                         for column in columns))
