"""``python -m seglib train ...``: train a run in the foreground, from flags or a config file.

The flags build a ``RunConfig`` (a preset or ``--config``, then overrides),
a run folder is created and claimed as the machine's running job, and the
worker (``seglib.training.worker.train``) trains it; ``--resume RUN_DIR``
continues a run. The dashboard's scheduler starts its workers through this
command too (``--run-dir ... --from-queue``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

from seglib import settings
from seglib._tf import quiet_environment
from seglib.cli.options import add_command, add_shared
from seglib.config import LOSSES, OPTIMIZERS, WEIGHTS, RunConfig, parse_overrides
from seglib.presets import get_preset
from seglib.errors import RunError
from seglib.training import scheduler
from seglib.training.runs import files, folders, state, writers
from seglib.training.splits import split_pairs
from seglib.training.worker import train

#: CLI flag -> dotted config field.
CLI_FIELDS = {
    "epochs": "train.epochs", "batch_size": "train.batch_size", "image_size": "model.image_size",
    "train": "data.train_count", "val": "data.val_count", "lr": "train.learning_rate",
    "weight_decay": "train.weight_decay", "decay_steps": "train.decay_steps",
    "decay_rate": "train.decay_rate", "optimizer": "train.optimizer", "width": "model.width",
    "early_stopping": "train.early_stopping_patience", "seed": "train.seed", "loss": "train.loss",
    "weights": "model.weights", "freeze_backbone": "train.freeze_backbone_epochs",
}


def register(subparsers) -> None:
    """Add ``python -m seglib train``."""
    parser = add_command(subparsers, "train", run, image_size_help="square input size in pixels (multiple of 16)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--train", type=int, help="number of training images (0 = all)")
    parser.add_argument("--val", type=int, help="number of validation images (0 = all)")
    parser.add_argument("--lr", type=float, help="initial learning rate")
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--decay-steps", type=int)
    parser.add_argument("--decay-rate", type=float, help="1.0 = constant learning rate")
    parser.add_argument("--optimizer", choices=OPTIMIZERS)
    add_shared(parser, "--width")
    parser.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                        help="stop when val_loss has not improved for PATIENCE epochs (0 = off)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--loss", choices=LOSSES, help="training loss (default: the preset's, cross-entropy)")
    parser.add_argument("--weights", choices=WEIGHTS,
                        help="backbone start: pretrained (the project's), none (random) or imagenet (if cached)")
    parser.add_argument("--freeze-backbone", type=int, metavar="EPOCHS",
                        help="epochs the backbone stays fixed while the new layers learn")
    parser.add_argument("--data", help="dataset folder (relative = under the data folder)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any config field, e.g. --set model.aspp_filters=64 (repeatable)")
    parser.add_argument("--name", help="display name of the run")
    parser.add_argument("--run-dir", help="run folder to create (default: a new folder in the runs folder)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its last checkpoint")
    parser.add_argument("--config", help="start from this config.json instead of a preset")
    parser.add_argument("--from-queue", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="lower this worker's CPU priority by N (the dashboard passes SEGLIB_WORKER_NICE)")


def config_from_args(args) -> RunConfig:
    """The RunConfig described by the CLI flags (preset or --config, then overrides)."""
    config = RunConfig.load(args.config) if args.config else get_preset(args.preset)
    overrides: dict[str, Any] = {}
    for flag, field in CLI_FIELDS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides[field] = value
    if args.data:
        overrides["data.root"] = _data_root_value(args.data)
    overrides.update(parse_overrides(args.overrides))
    return config.with_overrides(overrides)


def _data_root_value(value: str) -> str:
    """Store a dataset under the data folder relative to it (portable config), others absolute."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        if path.exists() or not (settings.data_dir() / path).exists():
            path = path.resolve()
        else:
            return str(path)
    path = path.resolve()
    base = settings.data_dir()
    if base == path or base in path.parents:
        return str(path.relative_to(base))
    return str(path)


def _check_dataset_before_creating(config: RunConfig) -> None:
    """Refuse what the worker would refuse about the data before the run's folder exists (a wrong
    ``--data``, a folder without pairs, a validation split whose masks label no pixel), so it is an
    error on the terminal and never a failed run left behind."""
    split_pairs(config)


def run(args: argparse.Namespace) -> int:
    """train a model into a run folder (foreground)

    Train DeepLabV3+ and write a run folder (config.json, history.csv, progress.json,
    checkpoints, log). Stop with Ctrl+C, SIGTERM or a STOP file in the run folder;
    continue later with --resume RUN_DIR.
    """
    quiet_environment()
    if args.nice > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # a lower priority is a courtesy, never a reason to fail
            os.nice(min(int(args.nice), 19))
    config_flags = [flag for flag in (*CLI_FIELDS, "data", "config") if getattr(args, flag, None) is not None]
    config_flags += ["set"] if args.overrides else []
    if args.resume:
        folder = Path(args.resume).expanduser().resolve()
        if not (folder / files.CONFIG_FILE).exists():
            raise RunError(f"{folder.name!r} is not a run folder (no config.json); nothing to resume.")
        if set(config_flags) - {"epochs"}:
            raise RunError("--resume continues a run with its own config; only --epochs may be given "
                           f"(to extend it). Received: {', '.join('--' + f.replace('_', '-') for f in config_flags)}")
        if args.epochs is not None:  # beside config.json, which a resume never rewrites
            state.training_config(folder).with_overrides({"train.epochs": args.epochs})  # a valid count?
            folders.extend_epochs(folder, args.epochs)
        scheduler.claim_foreground(folder)
        status = train(folder, resume=True, verbose=True)
    else:
        folder = Path(args.run_dir).expanduser().resolve() if args.run_dir else None
        if folder is not None and (folder / files.CONFIG_FILE).exists() and args.from_queue:
            # Spawned by scheduler.schedule: the folder and config were written by start_run.
            if config_flags:
                raise RunError("This run folder already has its config; do not pass config flags.")
        else:
            config = config_from_args(args)
            _check_dataset_before_creating(config)
            folder = folders.create_run(config, args.name, path=folder, status="interrupted")
            try:
                scheduler.claim_foreground(folder)
            except RunError as error:
                writers.write_progress(folder, {"status": "failed", "phase": "done", "message": str(error),
                                                "error": str(error)})
                raise
        status = train(folder, verbose=True)
    print(f"run folder: {settings.display_path(folder)}", flush=True)
    return 0 if status in ("finished", "stopped") else 1
