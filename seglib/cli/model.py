"""``python -m seglib model``: print a preset's DeepLabV3+ layer table, or cache its ImageNet weights.

Examples::

    python -m seglib model --preset lecture
    python -m seglib model --preset course --stage aspp
    python -m seglib model --preset course --fetch-weights
"""

from __future__ import annotations

import argparse
import sys

from seglib.cli.options import add_command, add_shared
from seglib.config import BACKBONES
from seglib.presets import get_preset
from seglib.model.deeplab import STAGES, build_model
from seglib.model.imagenet import fetch_imagenet_weights
from seglib.model.summary import model_summary_text


def register(subparsers) -> None:
    """Add ``python -m seglib model``."""
    parser = add_command(subparsers, "model", run, image_size_help="square input size (multiple of 16)")
    parser.add_argument("--backbone", default=None, choices=BACKBONES)
    add_shared(parser, "--width")
    parser.add_argument("--weights", default=None, choices=("none", "imagenet"),
                        help="'imagenet' uses cached ImageNet weights if present (no download)")
    parser.add_argument("--stage", default=None, choices=STAGES, help="show only this stage's layers")
    parser.add_argument("--fetch-weights", action="store_true",
                        help="download the backbone's ImageNet weights into the Keras cache (needs internet)")


def run(args: argparse.Namespace) -> int:
    """print the DeepLabV3+ layer table with output shapes and parameter counts

    Build the model of a preset (random weights unless ImageNet weights are cached and
    asked for) and print every layer with its output shape and parameter count.
    """
    config = get_preset(args.preset).with_overrides({
        "model.image_size": args.image_size, "model.backbone": args.backbone,
        "model.width": args.width, "model.weights": args.weights})
    if args.fetch_weights:
        def show(done: int, total: int) -> None:
            of = f" of {total / 1e6:.1f}" if total else ""
            print(f"\r  {done / 1e6:.1f}{of} MB", end="", file=sys.stderr, flush=True)

        path = fetch_imagenet_weights(config.model, progress=show)
        print(file=sys.stderr)
        print(f"ImageNet weights cached: {path.name}")
        return 0
    model = build_model(config.model)
    print(f"# {config.summary()}", file=sys.stderr)
    print(f"# {model.weights_message}", file=sys.stderr)
    print(model_summary_text(model, stage=args.stage))
    return 0
