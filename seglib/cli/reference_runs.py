"""``python -m seglib reference-runs``: train and record the two optimizer reference runs shipped in
``assets/reference_runs/`` (``seglib.training.reference``).

Example::

    python -m seglib reference-runs --epochs 20 --train 300
"""

from __future__ import annotations

import argparse

from seglib.cli.options import add_command
from seglib.training import runfiles
from seglib.training.reference import EPOCHS, TRAIN_IMAGES, record_optimizer_runs


def register(subparsers) -> None:
    """Add ``python -m seglib reference-runs``."""
    parser = add_command(subparsers, "reference-runs", run)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--train", type=int, default=TRAIN_IMAGES, help="training images of both runs")
    parser.add_argument("--out", help="folder for the recorded runs (default: assets/reference_runs)")


def run(args: argparse.Namespace) -> int:
    """train and record the two optimizer reference runs shipped in assets/

    Train the lecture model with the Keras example's optimizer and with the course's, on the
    same images, and record both runs in assets/reference_runs (read-only in the dashboard).
    """
    import pandas as pd  # only this command reads the histories; the CLI starts without pandas

    for path in record_optimizer_runs(args.epochs, args.train, args.out):
        history = pd.read_csv(path / runfiles.HISTORY_FILE)
        print(f"{path.name}: {len(history)} epochs, best val mean IoU {history['val_mean_iou'].max():.3f}, "
              f"last val loss {history['val_loss'].iloc[-1]:.3f}")
    return 0
