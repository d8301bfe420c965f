"""One epoch of the worker's loop: the training batches, then the validation pass.

``TrainingEpochs`` runs the batches of each epoch with the compiled step of
``seglib.training.steps``: it checks for a stop request before every batch,
keeps the running loss and an exact int64 confusion matrix, reports the step,
the throughput and the time left, and appends ``steps.csv``; its
``validate_epoch`` runs the validation pass (``validate`` counts the split's
loss and confusion matrix) and returns the epoch's logs. What happens once an
epoch is measured (checkpoints, history, ...) is ``seglib.training.callbacks``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from seglib.errors import SeglibError
from seglib.training.runs import writers
from seglib.training.callbacks import finite
from seglib.training.steps import current_lr, drain, nan_message, weight_norm

logger = logging.getLogger("seglib.training.worker")  # the run's train.log


class NaNLossError(SeglibError):
    """The training loss became NaN or infinite (``seglib.training.worker`` ends the run as failed)."""


class TrainingEpochs:
    """Every epoch of one run, its batches (``run``) and then its validation pass (``validate_epoch``); keeps
    what carries over from epoch to epoch.

    ``worker`` is the ``seglib.training.worker.Worker``: its ``epoch`` and
    ``step`` are kept current (a stop reports them), and its ``callbacks`` get
    ``on_train_batch_end(step, {"epoch", "loss"})`` after every step.
    """

    def __init__(self, worker, tf, train_data, steps_per_epoch: int, batch_size: int, val_images: int):
        self.worker = worker
        self.tf = tf
        self.train_data = train_data
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.val_images = val_images
        self.first_batch_seen = False
        #: (seconds, images) of the last 20 chunks after the first: the throughput shown live.
        self.throughput_window: list[tuple[float, int]] = []
        #: Seconds the last validation pass took (None before the first): part of the time left.
        self.val_seconds_estimate: float | None = None

    def run(self, epoch: int, step_function) -> dict[str, Any]:
        """Train ``epoch``; return its ``loss``, ``confusion``, ``train_seconds`` and ``train_images``.

        ``train_seconds`` and ``train_images`` leave out the first batch of the
        run (it includes tracing the graph); a stop request raises the worker's
        ``StopRequested``; a NaN loss raises ``NaNLossError``.
        """
        worker, report = self.worker, self.worker.reporter.update
        config = worker.config
        epochs, num_classes = config.train.epochs, config.model.num_classes
        if self.first_batch_seen:
            report(phase="training", message=f"Training epoch {epoch}/{epochs}.")
        report(epoch=epoch, step=0, running_loss=None)
        loss_sum, loss_count = 0.0, 0
        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        train_seconds, train_images = 0.0, 0
        step_rows: list[dict[str, Any]] = []
        iterator = iter(self.train_data)
        while worker.step < self.steps_per_epoch:
            worker.check_stop()
            chunk = min(config.train.steps_per_execution, self.steps_per_epoch - worker.step)
            step_started = time.time()
            try:
                loss_value, batch_confusion, images_in_chunk = step_function(iterator, chunk)
            except (StopIteration, self.tf.errors.OutOfRangeError):
                break
            now = time.time()
            worker.step += chunk
            loss_value = float(loss_value)
            if not math.isfinite(loss_value):
                raise NaNLossError(nan_message(epoch, worker.step, worker.optimizer))
            loss_sum += loss_value * chunk
            loss_count += chunk
            confusion += batch_confusion
            running_loss = loss_sum / loss_count
            running_accuracy = _accuracy(confusion)
            if not self.first_batch_seen:
                self.first_batch_seen = True
                worker.startup_step("training", None)
                startup = now - worker.started
                report(phase="training", first_batch_at=now, startup_seconds=round(startup, 2),
                       message=f"Training epoch {epoch}/{epochs}.")
                logger.info("First batch done %.1f s after the worker started.", startup)
            else:
                train_seconds += now - step_started
                train_images += images_in_chunk
                self.throughput_window.append((now - step_started, images_in_chunk))
                del self.throughput_window[:-20]
            images_per_second = _window_rate(self.throughput_window)
            eta = _eta(images_per_second, self.batch_size, self.steps_per_epoch, worker.step, epoch, epochs,
                       self.val_images, self.val_seconds_estimate)
            report(step=worker.step, running_loss=running_loss, running_accuracy=running_accuracy,
                   images_per_second=images_per_second, eta_seconds=eta)
            step_rows.append({"epoch": epoch, "step": worker.step, "loss": running_loss,
                              "accuracy": running_accuracy})
            if len(step_rows) >= 5 or worker.step >= self.steps_per_epoch or now - step_started > 1.0:
                with writers.writing("saving the running loss"):
                    writers.write_steps(worker.folder, step_rows)
                step_rows = []
            worker.callbacks.on_train_batch_end(worker.step, {"epoch": epoch, "loss": loss_value})
        if step_rows:
            with writers.writing("saving the running loss"):
                writers.write_steps(worker.folder, step_rows)
        drain(iterator)
        worker.check_stop()
        return {"loss": loss_sum / max(loss_count, 1), "confusion": confusion,
                "train_seconds": train_seconds, "train_images": train_images}

    def validate_epoch(self, epoch: int, val_data, eval_function, trained: dict[str, Any]) -> dict[str, Any]:
        """The validation pass of ``epoch`` (after ``run`` returned ``trained``); return the epoch's logs
        (``seglib.training.callbacks``), the run's best validation mean IoU so far included (kept current
        in the worker's ``best_val_mean_iou``)."""
        from seglib._tf import keras
        from seglib.evaluation import metrics

        worker = self.worker
        worker.reporter.update(phase="validating",
                               message=f"Validating epoch {epoch} on {self.val_images} images.")
        validation_started = time.time()
        val = validate(val_data, eval_function, worker.config.model.num_classes, worker.check_stop)
        self.val_seconds_estimate = time.time() - validation_started
        val_mean_iou = metrics.mean_iou(val["confusion"])
        new_best = finite(val_mean_iou) and (worker.best_val_mean_iou is None
                                             or val_mean_iou > worker.best_val_mean_iou)
        if new_best:
            worker.best_val_mean_iou = val_mean_iou
        logs = {
            "epoch": epoch,
            "loss": trained["loss"],
            "val_loss": val["loss"],
            "accuracy": metrics.pixel_accuracy(trained["confusion"]),
            "val_accuracy": metrics.pixel_accuracy(val["confusion"]),
            "mean_iou": metrics.mean_iou(trained["confusion"]),
            "val_mean_iou": val_mean_iou,
            "lr": current_lr(keras, worker.optimizer),
            "seconds": None,
            "weight_norm": weight_norm(worker.model),
            "val_confusion": val["confusion"],
            "train_seconds": trained["train_seconds"],
            "train_images": trained["train_images"],
            "epoch_started": worker.epoch_started,
            "best_val_mean_iou": worker.best_val_mean_iou,
            "new_best": new_best,
        }
        logs["seconds"] = time.time() - worker.epoch_started  # training and validation
        return logs


def validate(val_data, eval_function, num_classes: int, check_stop) -> dict[str, Any]:
    """Validation loss and an exact int64 confusion matrix over the whole split (``check_stop`` per batch)."""
    from seglib.evaluation import metrics

    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    loss_sum, pixels = 0.0, 0
    for images, masks in val_data:
        check_stop()
        predicted, batch_loss, batch_pixels = eval_function(images, masks)
        confusion += metrics.confusion_matrix(masks.numpy(), predicted.numpy(), num_classes)
        loss_sum += float(batch_loss)
        pixels += int(batch_pixels)
    return {"loss": loss_sum / pixels if pixels else float("nan"), "confusion": confusion}


def _accuracy(confusion: np.ndarray) -> float | None:
    total = int(confusion.sum())
    return float(np.trace(confusion) / total) if total else None


def _window_rate(window: list[tuple[float, int]]) -> float | None:
    seconds = sum(s for s, _ in window)
    images = sum(n for _, n in window)
    return round(images / seconds, 2) if seconds > 0 and images else None


def _eta(images_per_second, batch_size, steps_per_epoch, step, epoch, epochs, val_images, val_seconds):
    if not images_per_second:
        return None
    seconds_per_step = batch_size / images_per_second
    remaining_steps = (steps_per_epoch - step) + (epochs - epoch) * steps_per_epoch
    if val_seconds is None:
        val_seconds = val_images / (3.0 * images_per_second)
    return round(remaining_steps * seconds_per_step + (epochs - epoch + 1) * val_seconds, 1)
