"""What the commands' parsers share: ``add_command`` adds a sub-command that runs a function
(whose docstring is the command's help), ``add_preset_arguments`` the ``--preset`` /
``--image-size`` pair, and ``SHARED_OPTIONS`` the options several commands spell the same way
(added with ``add_shared``).
"""

from __future__ import annotations

import argparse
import inspect
from typing import Callable

from seglib.presets import preset_names

#: Options that mean the same in every command that takes them: flag -> ``add_argument`` keywords.
SHARED_OPTIONS = {
    "--json": {"action": "store_true", "help": "print JSON instead of a table"},
    "--width": {"type": float, "default": None, "help": "MobileNetV2 width multiplier"},
}


def add_command(subparsers, name: str, run: Callable[[argparse.Namespace], int] | None, *,
                help: str | None = None, description: str | None = None,
                image_size_help: str | None = None) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` to ``subparsers`` and return its parser.

    ``run`` takes the parsed arguments and returns the exit code. Its docstring is the
    command's help: the first line is listed in the parent's ``--help``, the paragraph after
    it is the description in the command's own ``--help`` (``help`` and ``description``, when
    given, replace them). ``run=None`` makes a group of actions, which prints its help and
    exits with 2 when no action is named. With ``image_size_help`` the command builds a
    preset's model: it takes ``--preset`` and ``--image-size`` (with that help) first.
    """
    summary, _, details = inspect.cleandoc(run.__doc__ or "").partition("\n") if run else ("", "", "")
    parser = subparsers.add_parser(name, help=help or summary or None,
                                   description=description or " ".join(details.split()) or None)
    if image_size_help is not None:
        add_preset_arguments(parser, image_size_help=image_size_help)

    def print_help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=run if run is not None else print_help)
    return parser


def add_preset_arguments(parser: argparse.ArgumentParser, *, image_size_help: str) -> None:
    """The ``--preset`` and ``--image-size`` options of a command that builds a preset's model."""
    parser.add_argument("--preset", default="lecture", choices=preset_names())
    parser.add_argument("--image-size", type=int, default=None, help=image_size_help)


def add_shared(parser: argparse.ArgumentParser, *flags: str) -> None:
    """Add the ``SHARED_OPTIONS`` named by ``flags``, in that order."""
    for flag in flags:
        parser.add_argument(flag, **SHARED_OPTIONS[flag])

