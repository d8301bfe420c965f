"""What the worker does around each epoch, one small Keras-style callback per duty.

The worker's loop (``seglib.training.worker``) calls its callbacks the way
Keras's ``fit`` does, through a ``CallbackList``: ``set_model`` once the model
is built, then ``on_train_begin(logs)``, ``on_train_batch_end(step, logs)``
after every training step, ``on_epoch_end(epoch, logs)`` once an epoch is
measured, and ``on_train_end(logs)`` when the epochs are over (a stop request,
an error or a NaN loss ends the run without it). The worker's own duties: the
preview masks, the checkpoints, the history rows, the progress summary, the
log line and early stopping; the callbacks a caller passes to
``train(callbacks=...)`` (tests inject faults with them) run after those.

As in Keras, each callback reads only ``logs`` and its own state: none holds
another, so their order does not matter, and one that wants training to end
sets ``self.model.stop_training``.

Epoch ``logs``: the epoch's history columns (``files.HISTORY_FILE_COLUMNS``;
``seconds`` is the epoch's wall time, training and validation), its
``val_confusion`` (the validation confusion matrix), ``train_seconds`` and
``train_images`` (the measured throughput, without the graph-tracing first
batch), ``epoch_started`` (Unix seconds), and the run's
``best_val_mean_iou`` so far (this epoch included; None before any) with
``new_best`` (this epoch set it). Batch ``logs``: ``epoch`` and ``loss`` (of
the step or steps just run); ``step`` counts the epoch's steps done (1, 2, ...).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from seglib.training.runs import files, previews, writers

logger = logging.getLogger("seglib.training.worker")  # the run's train.log


class Callback:
    """The part of Keras's callback protocol this loop calls; subclass it and override what you need.

    ``model`` is the model being trained (set by ``set_model`` before
    ``on_train_begin``); setting ``model.stop_training = True`` ends the run
    after the current epoch.
    """

    def __init__(self):
        self.model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Before the first epoch of this session (after the model and data are ready)."""

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        """After ``step`` steps of the epoch ``logs["epoch"]``."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Once ``epoch`` is trained and validated."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the last epoch (or after the epoch a callback stopped training in); ``logs`` are its logs."""


class CallbackList:
    """The callbacks of one run, called in the order given (which, for callbacks that keep to the rules
    above, does not matter)."""

    def __init__(self, callbacks: Sequence[Callback] = (), model=None):
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError("callbacks must be seglib.training.callbacks.Callback objects. "
                                f"Received: {type(callback).__name__}")
        self.callbacks = list(callbacks)
        if model is not None:
            for callback in self.callbacks:
                callback.set_model(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_batch_end(self, step: int, logs: dict[str, Any] | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(step, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_end(logs)


class PreviewWriter(Callback):
    """``previews/epoch_NNN.npz``: the predicted masks of the fixed preview images."""

    def __init__(self, folder: Path, images: np.ndarray | None, eval_function: Callable):
        super().__init__()
        self.folder, self.images, self.eval_function = folder, images, eval_function

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        previews.write_epoch_preview(self.folder, epoch, self.images, self.eval_function)


class Checkpoints(Callback):
    """``last.keras`` after every epoch, ``best.keras`` when the epoch set the run's best validation mean IoU."""

    def __init__(self, folder: Path, report: Callable[..., None]):
        super().__init__()
        self.folder, self.report = folder, report

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.report(phase="saving", message=f"Saving the checkpoints of epoch {epoch}.")
        writers.save_checkpoint(self.model, self.folder, files.LAST_CHECKPOINT)
        if logs["new_best"]:
            writers.save_checkpoint(self.model, self.folder, files.BEST_CHECKPOINT)


class HistoryWriter(Callback):
    """The epoch's row of ``history.csv`` (the file is rewritten whole) and of ``class_iou.csv`` (appended)."""

    def __init__(self, folder: Path, rows: Sequence[dict[str, Any]]):
        super().__init__()
        self.folder = folder
        #: The history rows so far (a resumed run's earlier epochs first), this epoch's last.
        self.rows = list(rows)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from seglib.evaluation import metrics

        self.rows.append({column: logs[column] for column in files.HISTORY_FILE_COLUMNS})
        writers.write_history(self.folder, self.rows)
        class_iou = metrics.per_class_iou(logs["val_confusion"])
        writers.write_class_iou(self.folder, [{"epoch": epoch, **dict(zip(files.CLASS_IOU_COLUMNS[1:],
                                                                            class_iou.tolist()))}])


class ProgressSummary(Callback):
    """``progress.json``: the measured training throughput and the best validation mean IoU."""

    def __init__(self, report: Callable[..., None]):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs["train_seconds"] > 0 and logs["train_images"] > 0:
            self.report(measured_images_per_second=round(logs["train_images"] / logs["train_seconds"], 3))
        self.report(best_val_mean_iou=logs["best_val_mean_iou"])


class EpochLine(Callback):
    """One line per epoch in ``train.log`` (and on stdout when ``verbose``)."""

    def __init__(self, epochs: int, verbose: bool):
        super().__init__()
        self.epochs, self.verbose = epochs, verbose

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        line = _epoch_line(logs, self.epochs)
        logger.info("%s", line)
        if self.verbose:
            print(line, flush=True)


class EarlyStopping(Callback):
    """Stop when the validation loss has not improved for ``patience`` epochs (0 = off, the course's default).

    ``history_rows``: the epochs a resumed run already has, whose best validation loss is the one to beat.
    """

    def __init__(self, patience: int, epochs: int, report: Callable[..., None],
                 history_rows: Sequence[dict[str, Any]] = ()):
        super().__init__()
        self.patience, self.epochs, self.report = patience, epochs, report
        self.best_val_loss = min((row["val_loss"] for row in history_rows if finite(row.get("val_loss"))),
                                 default=math.inf)
        self.epochs_without_improvement = 0
        self.stopped_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if finite(logs["val_loss"]) and logs["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.epochs_without_improvement = logs["val_loss"], 0
        else:
            self.epochs_without_improvement += 1
        if self.patience and self.epochs_without_improvement >= self.patience and epoch < self.epochs:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch:
            message = (f"Early stopping after epoch {self.stopped_epoch}: the validation loss has not improved "
                       f"for {self.patience} epochs (best {self.best_val_loss:.4f}).")
            logger.info("%s", message)
            self.report(message=message)


def finite(value: Any) -> bool:
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
