"""``python -m seglib <command> ...``: the command-line interface.

Each command lives in the module that owns its logic; that module defines
``register(subparsers)`` which adds its sub-parser and sets ``func`` to a
function taking the parsed arguments and returning an exit code. This file only
collects them, so adding a command never touches another module's code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from seglib._tf import quiet_environment
from seglib.errors import SeglibError

#: Modules that contribute commands, in the order they appear in ``--help``.
COMMAND_MODULES = (
    "seglib.cli.data",            # data synth | check | stats
    "seglib.model.deeplab",       # model
    "seglib.training.worker",     # train
    "seglib.analysis.receptive",  # receptive
    "seglib.training.demo",       # demo-model
    "seglib.model.pretrain",      # pretrain
    "seglib.training.reference",  # reference-runs
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seglib",
        description="Semantic segmentation teaching toolkit (DeepLabV3+ on CIHP-style data).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SeglibError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
