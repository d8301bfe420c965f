"""``python -m seglib receptive``: the ASPP branches' receptive fields and atrous sampling
(``seglib.analysis.aspp``), for a preset's model or a saved one.

Examples::

    python -m seglib receptive --preset lecture
    python -m seglib receptive --model runs/<run>/best.keras --json
"""

from __future__ import annotations

import argparse
import json

from seglib.analysis.aspp import analysis_summary, format_summary
from seglib.cli.options import add_command, add_shared
from seglib.presets import get_preset
from seglib.model.deeplab import build_model
from seglib.model.saving import load_model


def register(subparsers) -> None:
    """Add ``python -m seglib receptive``."""
    parser = add_command(subparsers, "receptive", run, image_size_help="override the preset's input size")
    parser.add_argument("--model", default=None, help="analyse a saved .keras model instead of a preset")
    add_shared(parser, "--json")


def run(args: argparse.Namespace) -> int:
    """receptive fields and atrous sampling of the ASPP branches

    Per ASPP branch: rate, effective kernel, tap spacing and receptive field in input
    pixels, and the fraction of taps that read real features rather than padding;
    plus the backbone's stride and receptive field at the ASPP input.
    """
    config = get_preset(args.preset)
    if args.image_size is not None:
        config = config.with_overrides({"model.image_size": args.image_size})
    if args.model:
        model = load_model(args.model)
        model_config = None
    else:
        model = build_model(config.model)
        model_config = config.model
    summary = analysis_summary(model, model_config)
    summary = {"preset": config.preset if not args.model else None, **summary}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    return 0
