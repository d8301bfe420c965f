"""``python -m seglib demo-model``: train the demo model shipped in ``assets/demo_model/``, or ship a
finished run's best checkpoint as it (``seglib.training.demo``).

Examples::

    python -m seglib demo-model --out assets/demo_model
    python -m seglib demo-model --from-run runs/<run> --reproduce "python -m seglib train ..."
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seglib import settings
from seglib.cli.options import add_command
from seglib.training.demo import DEMO_DIR, DEMO_EPOCHS, MODEL_FILE, build_demo_model, write_demo_assets


def register(subparsers) -> None:
    """Add ``python -m seglib demo-model``."""
    parser = add_command(subparsers, "demo-model", run)
    parser.add_argument("--out", default=str(DEMO_DIR), help="output folder (default: assets/demo_model)")
    parser.add_argument("--epochs", type=int, help=f"epochs (default {DEMO_EPOCHS})")
    parser.add_argument("--data", help="dataset folder (default: the synthetic default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--run-dir", help="run folder of the training run (default: a new one in runs/)")
    parser.add_argument("--from-run", metavar="RUN_DIR",
                        help="do not train: ship the best checkpoint of this finished run")
    parser.add_argument("--reproduce", metavar="COMMANDS",
                        help="with --from-run: the commands that trained that run, for the model card")


def run(args: argparse.Namespace) -> int:
    """train the demo model shipped in assets/ (20-30 minutes on 2 cores)

    Train the lecture preset on the synthetic default with the training worker, then copy
    the best checkpoint and a model card to --out.
    """
    if args.from_run:
        card = write_demo_assets(args.from_run, args.out, reproduce=args.reproduce)
    else:
        card = build_demo_model(args.out, epochs=args.epochs, data=args.data, overrides=args.overrides,
                                run_dir=args.run_dir)
    print(f"demo model: val pixel accuracy {card['val_pixel_accuracy']:.3f}, val mean IoU "
          f"{card['val_mean_iou']:.3f} (epoch {card['best_epoch']} of {card['epochs']}) -> "
          f"{settings.display_path(Path(args.out) / MODEL_FILE)} ({card['size_bytes'] / 1e6:.1f} MB)")
    return 0
