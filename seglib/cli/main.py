"""``python -m seglib <command> ...``: the command-line interface.

Every command has its module in this package, named after it (``demo-model`` is
``seglib.cli.demo_model``). A module's ``register(subparsers)`` adds the command's
parser (with ``seglib.cli.options.add_command``) and points it at its ``run(args)``,
which calls the library and returns the exit code. This file only collects them.
"""

from __future__ import annotations

import argparse
import sys

from seglib._tf import quiet_environment
from seglib.cli import data, demo_model, model, pretrain, receptive, reference_runs, train
from seglib.errors import SeglibError

#: The command modules, in the order their commands appear in ``--help``.
COMMANDS = (data, model, train, receptive, demo_model, pretrain, reference_runs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seglib",
        description="Semantic segmentation teaching toolkit (DeepLabV3+ on CIHP-style data).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
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
