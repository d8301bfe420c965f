"""``python -m seglib pretrain``: pretrain a CPU preset's backbone (``seglib.training.pretrain``).

Example::

    python -m seglib pretrain --preset lecture
"""

from __future__ import annotations

import argparse
import json

from seglib.cli.options import add_command
from seglib.training.pretrain import pretrain


def register(subparsers) -> None:
    """Add ``python -m seglib pretrain``."""
    parser = add_command(subparsers, "pretrain", run, image_size_help="input size (default: the preset's)")
    parser.add_argument("--images", type=int, default=8000, help="training images (drawn fresh)")
    parser.add_argument("--val-images", type=int, default=400, help="held-out images for the card")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-3, help="initial learning rate (cosine decay)")
    parser.add_argument("--out", help="output .npz (default: assets/pretrained/<backbone>_<width>.npz)")


def run(args: argparse.Namespace) -> int:
    """pretrain a CPU preset's backbone on image-level labels of synthetic images

    Pretrain the backbone on which parts/garments appear and how many people (synthetic
    images with seeds disjoint from the default dataset); writes assets/pretrained/.
    """
    card = pretrain(args.preset, images=args.images, val_images=args.val_images, epochs=args.epochs,
                    batch_size=args.batch_size, learning_rate=args.lr, out=args.out,
                    image_size=args.image_size)
    print(json.dumps(card["validation"], indent=2))
    return 0
