"""What the worker does once an epoch is measured, one small object per duty, in the spirit of Keras callbacks.

Each object's ``on_epoch_end(epoch, logs)`` runs in the order the worker lists
them (``seglib.training.worker.Worker``): the preview masks, the checkpoints,
the history rows (an epoch's ``seconds`` include the saving), the progress
summary, the log line, the hooks a caller passed to ``train(callbacks=...)``,
and early stopping, which ends the run by setting ``stop_training``.

``logs`` holds the history columns of the epoch (``files.HISTORY_FILE_COLUMNS``;
``seconds`` is filled in by ``HistoryWriter``) and ``val_confusion`` (the
validation confusion matrix), ``train_seconds`` and ``train_images`` (the
measured throughput) and ``epoch_started`` (Unix seconds).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from seglib.training.runs import files, previews, writers

logger = logging.getLogger("seglib.training.worker")  # the run's train.log


class EpochCallback:
    """One end-of-epoch duty; ``stop_training`` set to True ends the run after this epoch."""

    stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Do this duty for ``epoch``."""


class PreviewWriter(EpochCallback):
    """``previews/epoch_NNN.npz``: the predicted masks of the fixed preview images."""

    def __init__(self, folder: Path, images: np.ndarray | None, eval_function: Callable):
        self.folder, self.images, self.eval_function = folder, images, eval_function

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        previews.write_epoch_preview(self.folder, epoch, self.images, self.eval_function)


class Checkpoints(EpochCallback):
    """``last.keras`` after every epoch, ``best.keras`` when the validation mean IoU beat the best so far."""

    def __init__(self, folder: Path, model, report: Callable[..., None], history_rows: Sequence[dict[str, Any]]):
        self.folder, self.model, self.report = folder, model, report
        #: Best validation mean IoU so far (-1 before any): the history of a resumed run counts.
        self.best_iou = max((row["val_mean_iou"] for row in history_rows if _finite(row.get("val_mean_iou"))),
                            default=-1.0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.report(phase="saving", message=f"Saving the checkpoints of epoch {epoch}.")
        improved = _finite(logs["val_mean_iou"]) and logs["val_mean_iou"] > self.best_iou
        writers.save_checkpoint(self.model, self.folder, files.LAST_CHECKPOINT)
        if improved:
            self.best_iou = logs["val_mean_iou"]
            writers.save_checkpoint(self.model, self.folder, files.BEST_CHECKPOINT)


class HistoryWriter(EpochCallback):
    """The epoch's row of ``history.csv`` (the file is rewritten whole) and of ``class_iou.csv`` (appended)."""

    def __init__(self, folder: Path, rows: list[dict[str, Any]]):
        self.folder = folder
        #: The history rows so far, this epoch's last.
        self.rows = rows

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        from seglib.evaluation import metrics

        logs["seconds"] = time.time() - logs["epoch_started"]
        self.rows.append({column: logs[column] for column in files.HISTORY_FILE_COLUMNS})
        writers.write_history(self.folder, self.rows)
        class_iou = metrics.per_class_iou(logs["val_confusion"])
        names = files.CLASS_IOU_COLUMNS[1:]
        writers.write_class_iou(self.folder, [{"epoch": epoch, **dict(zip(names, class_iou.tolist()))}])


class ProgressSummary(EpochCallback):
    """``progress.json``: the measured training throughput and the best validation mean IoU."""

    def __init__(self, report: Callable[..., None], checkpoints: Checkpoints):
        self.report, self.checkpoints = report, checkpoints

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if logs["train_seconds"] > 0 and logs["train_images"] > 0:
            self.report(measured_images_per_second=round(logs["train_images"] / logs["train_seconds"], 3))
        best_iou = self.checkpoints.best_iou
        self.report(best_val_mean_iou=best_iou if best_iou >= 0 else None)


class EpochLine(EpochCallback):
    """One line per epoch in ``train.log`` (and on stdout when ``verbose``)."""

    def __init__(self, epochs: int, verbose: bool):
        self.epochs, self.verbose = epochs, verbose

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        line = _epoch_line(logs, self.epochs)
        logger.info("%s", line)
        if self.verbose:
            print(line, flush=True)


class CallerHooks(EpochCallback):
    """The ``on_epoch_end(worker, epoch, row)`` hooks passed to ``train(callbacks=...)`` (tests inject faults)."""

    def __init__(self, worker, hooks: Sequence[Any], history: HistoryWriter):
        self.worker, self.hooks, self.history = worker, hooks, history

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for hook in self.hooks:
            if hasattr(hook, "on_epoch_end"):
                hook.on_epoch_end(self.worker, epoch, self.history.rows[-1])


class EarlyStopping(EpochCallback):
    """Stop when the validation loss has not improved for ``patience`` epochs (0 = off, the course's default)."""

    def __init__(self, patience: int, epochs: int, report: Callable[..., None],
                 history_rows: Sequence[dict[str, Any]]):
        self.patience, self.epochs, self.report = patience, epochs, report
        self.best_val_loss = min((row["val_loss"] for row in history_rows if _finite(row.get("val_loss"))),
                                 default=math.inf)
        self.epochs_without_improvement = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if _finite(logs["val_loss"]) and logs["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.epochs_without_improvement = logs["val_loss"], 0
        else:
            self.epochs_without_improvement += 1
        if self.patience and self.epochs_without_improvement >= self.patience and epoch < self.epochs:
            message = (f"Early stopping after epoch {epoch}: the validation loss has not improved for "
                       f"{self.patience} epochs (best {self.best_val_loss:.4f}).")
            logger.info("%s", message)
            self.report(message=message)
            self.stop_training = True


def _finite(value: Any) -> bool:
    """True for a number that is not NaN or infinite."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    """``epoch 3/10  loss 1.2345  val_loss ...  12.3 s``: an epoch's results in one line."""
    return (f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"accuracy {row['accuracy']:.3f}  val_accuracy {row['val_accuracy']:.3f}  "
            f"mean_iou {row['mean_iou']:.3f}  val_mean_iou {row['val_mean_iou']:.3f}  "
            f"lr {row['lr']:.2e}  {row['seconds']:.1f} s")
