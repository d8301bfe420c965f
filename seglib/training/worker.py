"""The training worker: ``python -m seglib train ...`` writes one run folder.

Training never runs inside a page. This worker is a separate process (started
by the dashboard through ``seglib.training.scheduler.start_run``, or by hand
from a terminal) that reads ``config.json`` from a run folder and writes
everything a page needs to follow it live; see ``seglib.training.runs``
for the files.

Why it is a hand-written loop rather than ``model.fit``:

* **Stop at the next batch.** A stop request (the ``STOP`` file, SIGTERM, or
  Ctrl+C in a terminal) is checked after every batch; the worker saves
  ``last.keras`` and ends with status ``stopped``, without running a final
  validation pass first.
* **Exact metrics.** Every training step also returns its batch's confusion
  matrix (counted with ``tf.math.bincount``); validation counts one with
  ``seglib.evaluation.metrics.confusion_matrix``. Both are summed in int64, so mean IoU is
  exact for any number of pixels (Keras ``MeanIoU`` accumulates in float32).
  Pixels labelled 255 (ignore) count nowhere: not in the loss
  (``ignore_class=255``), not in accuracy, not in IoU.
* **Honest progress.** A background thread rewrites ``progress.json`` every
  second. The phase is ``compiling`` from the model build until the first
  batch ends (TensorFlow traces the graph), so
  the page shows what is happening instead of a frozen bar.
* **Clear failures.** A NaN loss ends the run as ``failed`` with a message
  saying where and what to try; any other exception ends it as ``failed``
  with the error text (the traceback goes to ``train.log`` only).

The optimiser is AdamW with decoupled weight decay and an exponentially
decaying learning rate (the course's change to the Keras example), or Adam
with a constant rate (``keras-example`` preset). Each history row also
records the trainable kernels' L2 norm, so the effect of weight decay is
measured, not assumed.
The model is compiled with that optimiser so that ``last.keras`` carries the
optimiser state: ``--resume`` continues the schedule (optimizer iterations)
and appends to the history.

The parts: ``splits`` (the images), ``startup`` (what a run trains, built from
its config: strategy, pipelines, model and optimiser, loss), ``steps`` (optimiser,
strategy, compiled steps), ``epoch`` (the batches and the validation pass), ``callbacks`` (the
Keras-style duties around each epoch), and the run folder's ``runs.reporter``
(``progress.json``), ``runs.previews`` and ``runs.writers``; the
``python -m seglib train`` command is ``seglib.cli.train``.

>>> from seglib.training.runs.folders import create_run          # doctest: +SKIP
>>> from seglib.presets import get_preset                        # doctest: +SKIP
>>> folder = create_run(get_preset("lecture"), status="running")  # doctest: +SKIP
>>> train(folder)                                                # doctest: +SKIP
'finished'
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from seglib.config import RunConfig
from seglib.errors import RunError, SeglibError
from seglib.training import callbacks as epoch_callbacks
from seglib.training import liveness, scheduler, splits, startup, steps
from seglib.training.epoch import NaNLossError, TrainingEpochs
from seglib.training.runs import files, folders, previews, readers, state, writers
from seglib.training.runs.reporter import ProgressReporter

logger = logging.getLogger("seglib.training.worker")


class StopRequested(Exception):
    """Raised inside the loop when a stop was asked for; handled by ``train``."""


@dataclasses.dataclass(frozen=True)
class _Training:
    """What the start-up built for the epochs (``Worker._set_up``): the strategy, the pipelines (global
    batches of ``batch_size``), the compiled steps (``make_train_step`` traces a new one) and where the
    epochs start."""

    tf: Any
    strategy: Any
    train_data: Any
    val_data: Any
    steps_per_epoch: int
    batch_size: int
    val_images: int
    make_train_step: Callable[[], Any]
    step_function: Any
    eval_function: Any
    done_epochs: int
    frozen: bool


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------

def train(run_dir: str | os.PathLike, resume: bool = False, *, verbose: bool = False,
          callbacks: Sequence[epoch_callbacks.Callback] = ()) -> str:
    """Train the run in ``run_dir`` (which holds ``config.json``); return the final status.

    Args:
        run_dir: the run folder (see ``seglib.training.runs``).
        resume: continue from ``last.keras`` and append to ``history.csv``.
        verbose: print one line per epoch to stdout (the CLI does).
        callbacks: ``seglib.training.callbacks.Callback`` objects, called by the
            training loop after the worker's own (tests use them to inject
            faults; a page never does).

    The final status is ``finished``, ``stopped`` or ``failed``; it is also in
    ``progress.json``. Never raises for problems inside the run.
    """
    worker = Worker(run_dir, resume=resume, verbose=verbose, callbacks=callbacks)
    return worker.run()


# ---------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------

class Worker:
    """One training run, from ``config.json`` to the final status."""

    def __init__(self, run_dir: str | os.PathLike, resume: bool = False, verbose: bool = False,
                 callbacks: Sequence[epoch_callbacks.Callback] = ()):
        self.folder = Path(run_dir).expanduser().resolve()
        self.resume = bool(resume)
        self.verbose = bool(verbose)
        #: The caller's callbacks; once the model is built, the worker's own and then these.
        self.callbacks = epoch_callbacks.CallbackList(callbacks)
        self.config: RunConfig | None = None
        self.model = None
        self.optimizer = None
        self.epoch = 0
        self.step = 0
        self.started = time.time()
        self.epoch_started = self.started  #: when the current epoch began (Unix seconds)
        self.reporter: ProgressReporter | None = None
        #: The best validation mean IoU of the run so far (a resumed run's earlier epochs count); None before any.
        self.best_val_mean_iou: float | None = None
        self._stop_signal = threading.Event()
        self._log_handler: logging.Handler | None = None

    # -- lifecycle -------------------------------------------------------------

    def run(self) -> str:
        if not self.folder.is_dir():
            raise RunError(f"The run folder {self.folder.name!r} does not exist.")
        self._open_log()
        if self.resume:
            self._remove_stale_stop_file()
        self.reporter = ProgressReporter(self.folder, {
            "status": "running", "phase": "starting", "pid": os.getpid(),
            "pid_start": liveness.process_start_time(os.getpid()), "started_at": self.started,
            "first_batch_at": None, "finished_at": None, "error": None, "resume": False, "epoch": 0, "step": 0,
            "startup_steps": [["starting the worker", 0.0]],
            "message": "Starting: importing TensorFlow and reading the dataset.",
        }).start()
        status, final = "failed", {}
        restore = self._install_signal_handlers()
        try:
            self._train()
            status = "finished"
            final = {"message": self.reporter.get("message") or "Finished."}
            if self.stop_requested():  # asked for after the last batch: say so, not "finishing the batch"
                final = {"message": _finished_after_stop(final["message"], self.reporter.get("epoch"),
                                                         self.reporter.get("epochs"))}
        except StopRequested:
            status = "stopped"
            final = self._save_on_stop()
        except NaNLossError as error:
            status = "failed"
            final = {"message": str(error), "error": str(error)}
            logger.error("%s", error)
        except Exception as error:  # noqa: BLE001 - any crash must end as 'failed', never hang
            status = "failed"
            final = self._failure(error)
        finally:
            restore()
        with scheduler.ending_lock():  # a stop request lands before the end (and its STOP file goes) or sees it
            self.reporter.close(status=status, phase="done", eta_seconds=0 if status == "finished" else None,
                                finished_at=time.time(), **final)
            with contextlib.suppress(OSError):
                (self.folder / files.STOP_FILE).unlink(missing_ok=True)
        logger.info("Run ended: %s. %s", status, final.get("message", ""))
        self._close_log()
        if self.verbose:
            print(f"{status}: {final.get('message', '')}", flush=True)
        with contextlib.suppress(Exception):  # start the next queued run, if any
            scheduler.schedule()
        return status

    def _failure(self, error: Exception) -> dict[str, Any]:
        """The final message of a run that ``error`` ended (the traceback goes to train.log only)."""
        if writers.disk_full(error):
            logger.error("The disk is full:\n%s", traceback.format_exc())
            return {"message": self._disk_full_message(), "error": str(error)[:2000]}
        if isinstance(error, SeglibError):
            logger.error("Training failed: %s\n%s", error, traceback.format_exc())
            return {"message": f"Training failed: {error}", "error": str(error)}
        text = f"{type(error).__name__}: {error}".strip()
        logger.error("Training crashed:\n%s", traceback.format_exc())
        return {"message": f"Training crashed: {text[:500]}", "error": text[:2000]}

    def _disk_full_message(self) -> str:
        """What a full disk means for this run: where it stopped, that its last checkpoint is intact
        (checkpoints are written under a temporary name, then renamed), and that Resume continues."""
        where = f" in epoch {self.epoch}" if self.epoch else " before the first epoch ended"
        done = 0
        with contextlib.suppress(SeglibError, OSError):
            done = state.epochs_done(self.folder)
        last = self.folder / files.LAST_CHECKPOINT
        free = "Free some space (old runs can be deleted on the Training page), then press Resume"
        if not last.is_file():
            return (f"The disk is full (no space left on device): training stopped{where}. No checkpoint had been "
                    f"saved yet. {free}: the run starts again from its first epoch.")
        # last.keras of this epoch when it was written after the epoch began (then its results may be missing)
        saved = self.epoch if self.epoch and readers.modified_time(last) >= self.epoch_started else done
        again = "" if saved <= done else (f"; epoch {done + 1} is trained again (from that checkpoint), since its "
                                          "results could not be recorded")
        return (f"The disk is full (no space left on device): training stopped{where}. The last checkpoint "
                f"(last.keras, after epoch {saved}) is intact. {free}: the run continues from that checkpoint"
                f"{again}.")

    def _remove_stale_stop_file(self) -> None:
        """Forget the STOP file of the stop that ended the previous session of this run.

        A STOP written after that session ended (a new request while queued or
        starting) is newer than its ``finished_at`` and is kept.
        """
        stop_file = self.folder / files.STOP_FILE
        previous = readers.read_progress(self.folder)[0] or {}
        ended = previous.get("finished_at")
        with contextlib.suppress(OSError):
            if ended is None or stop_file.stat().st_mtime <= float(ended):
                stop_file.unlink()

    def stop_requested(self) -> bool:
        return self._stop_signal.is_set() or (self.folder / files.STOP_FILE).exists()

    def check_stop(self) -> None:
        """Raise ``StopRequested`` when a stop was asked for (called before every batch)."""
        if self.stop_requested():
            raise StopRequested()

    def _install_signal_handlers(self) -> Callable[[], None]:
        """SIGTERM (and Ctrl+C) ask for a stop at the next batch, in the main thread only."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}

        def handler(signum, frame):  # noqa: ARG001
            self._stop_signal.set()
            if self.reporter is not None:
                self.reporter.update(status="stopping",
                                     message="Stop requested: finishing the current batch and saving.")

        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, OSError):
                previous[signum] = signal.signal(signum, handler)

        def restore() -> None:
            for signum, old in previous.items():
                with contextlib.suppress(ValueError, OSError):
                    signal.signal(signum, old)

        return restore

    def _open_log(self) -> None:
        handler = writers.log_handler(self.folder)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self._log_handler = handler

    def _close_log(self) -> None:
        if self._log_handler is not None:
            logger.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    # -- the training run ---------------------------------------------------------

    def _train(self) -> None:
        self.config = config = state.training_config(self.folder)  # config.json, epochs as continued
        self.reporter.update(epochs=config.train.epochs)
        niceness = os.nice(0) if hasattr(os, "nice") else 0
        logger.info("Run %s: %s%s%s", self.folder.name, config.summary(), " (resume)" if self.resume else "",
                    f" (CPU priority lowered: nice {niceness})" if niceness else "")
        training = self._set_up()
        if training is not None:
            self._run_epochs(training)

    def _set_up(self) -> _Training | None:
        """The start-up steps (``seglib.training.startup``), each reported as it happens: the data, TensorFlow
        and the device strategy, the input pipelines, the model and optimiser (restored on resume), the loss,
        the compiled steps and the callbacks. None when every epoch is already done."""
        report = self.reporter.update
        config = self.config
        train_config, model_config = config.train, config.model

        # -- data (listed before TensorFlow is imported: a wrong folder fails in a second) --
        self.startup_step("reading the dataset", "Starting: listing the dataset's images and masks.")
        train_pairs, val_pairs, data_note = splits.split_pairs(config)
        self.check_stop()
        self.startup_step("importing TensorFlow", "Starting: importing TensorFlow.")

        from seglib._tf import import_tf

        tf, keras = import_tf()
        keras.utils.set_random_seed(train_config.seed)
        strategy, on_gpu = startup.device_strategy(tf, train_config)
        replicas = strategy.num_replicas_in_sync
        self.check_stop()

        size, num_classes = model_config.image_size, model_config.num_classes
        batch_size = train_config.batch_size * replicas
        self.startup_step("building the input pipeline", "Starting: building the input pipeline.")
        train_data, val_data, steps_per_epoch = startup.input_pipelines(config, train_pairs, val_pairs, batch_size)
        report(steps_per_epoch=steps_per_epoch, train_images=len(train_pairs), val_images=len(val_pairs))
        report(replicas=replicas, global_batch_size=batch_size)
        logger.info("Data: %d training and %d validation images at %d px, batch %d (%d per replica x %d), "
                    "%d steps per epoch. %s", len(train_pairs), len(val_pairs), size, batch_size,
                    train_config.batch_size, replicas, steps_per_epoch, data_note)

        # -- model and optimiser ----------------------------------------------------
        self.startup_step("building the model", "Building the model.", phase="compiling")
        mixed = train_config.mixed_precision == "on" or (train_config.mixed_precision == "auto" and on_gpu)
        jit = train_config.jit_compile == "on" or (train_config.jit_compile == "auto" and on_gpu)
        keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
        with strategy.scope():
            self.model, self.optimizer, done_epochs = startup.model_and_optimizer(keras, config, self.folder,
                                                                                  self.resume, mixed)
        history_rows = self._prepare_resume(done_epochs)
        if done_epochs >= train_config.epochs:
            report(epoch=done_epochs, message=f"All {train_config.epochs} epochs were already done.")
            return None
        start = getattr(self.model, "weights_message", "")
        if not self.resume:
            report(start=start)
        logger.info("Start: %s", start)
        logger.info("Model: %s parameters; optimiser %s; strategy %s (%d replica%s); mixed precision %s; "
                    "XLA %s.", f"{self.model.count_params():,}", type(self.optimizer).__name__,
                    type(strategy).__name__, replicas, "" if replicas == 1 else "s",
                    "on" if mixed else "off", "on" if jit else "off")

        # -- compiled steps and callbacks ---------------------------------------------
        loss = startup.training_loss(config, train_pairs)
        frozen = steps.freeze_backbone(self.model, self.config, done_epochs + 1)
        self.startup_step("tracing the training step and running the first batch",
                          "Tracing the training step into a graph, then the first batch.", phase="compiling")

        def make_train_step():
            return steps.make_train_step(tf, keras, self.model, self.optimizer, strategy, num_classes, size, jit,
                                         train_config.steps_per_execution, loss=loss)

        step_function = make_train_step()
        eval_function = steps.make_eval_step(tf, self.model, num_classes, size, jit,
                                             loss=None if train_config.loss == "cross-entropy" else loss)
        if replicas > 1 or not steps.is_default_strategy(tf, strategy):
            train_data = strategy.experimental_distribute_dataset(train_data)
        with writers.writing("writing the preview images"):
            preview_images = previews.write_preview_inputs(self.folder, val_pairs, size, num_classes)
        own = [
            epoch_callbacks.PreviewWriter(self.folder, preview_images, eval_function),
            epoch_callbacks.Checkpoints(self.folder, report),
            epoch_callbacks.HistoryWriter(self.folder, history_rows),
            epoch_callbacks.ProgressSummary(report),
            epoch_callbacks.EpochLine(train_config.epochs, self.verbose),
            epoch_callbacks.EarlyStopping(train_config.early_stopping_patience, train_config.epochs, report,
                                          history_rows),
        ]
        self.callbacks = epoch_callbacks.CallbackList([*own, *self.callbacks.callbacks], self.model)
        self.best_val_mean_iou = max((row["val_mean_iou"] for row in history_rows
                                      if epoch_callbacks.finite(row.get("val_mean_iou"))), default=None)
        return _Training(tf=tf, strategy=strategy, train_data=train_data, val_data=val_data,
                         steps_per_epoch=steps_per_epoch, batch_size=batch_size, val_images=len(val_pairs),
                         make_train_step=make_train_step, step_function=step_function,
                         eval_function=eval_function, done_epochs=done_epochs, frozen=frozen)

    def _run_epochs(self, training: _Training) -> None:
        """The epochs after those already done: the batches (``TrainingEpochs``), the validation pass and the
        callbacks; the backbone joins in once it is no longer kept fixed."""
        report = self.reporter.update
        epochs = self.config.train.epochs
        step_function, frozen = training.step_function, training.frozen
        self.model.stop_training = False
        self.callbacks.on_train_begin()
        loop = TrainingEpochs(self, training.tf, training.train_data, training.steps_per_epoch,
                              training.batch_size, training.val_images)
        logs: dict[str, Any] = {}
        for epoch in range(training.done_epochs + 1, epochs + 1):
            self.epoch, self.step = epoch, 0
            self.epoch_started = time.time()
            if frozen and not steps.freeze_backbone(self.model, self.config, epoch):
                # The backbone joins in: a new graph with its variables (traced again, ~5-10 s).
                frozen = False
                report(phase="compiling", message=f"Epoch {epoch}: the backbone is trained from now on; "
                                                  "tracing the new training graph.")
                with training.strategy.scope():
                    step_function = training.make_train_step()
            trained = loop.run(epoch, step_function)
            logs = loop.validate_epoch(epoch, training.val_data, training.eval_function, trained)
            with writers.writing(f"saving epoch {epoch}"):  # a failed write says why, never an OSError
                self.callbacks.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        else:
            report(message=f"Finished {epochs} epochs; best validation mean IoU "
                           f"{self.best_val_mean_iou or 0:.3f}.")
        self.callbacks.on_train_end(logs)

    # -- pieces -------------------------------------------------------------------

    def startup_step(self, name: str, message: str | None, **fields: Any) -> None:
        """Record a start-up step in progress.json (``startup_steps``: [name, seconds since the worker
        started]) so the page can show each one while it happens, and how long the earlier ones took."""
        recorded = list(self.reporter.get("startup_steps") or [])
        recorded.append([name, round(time.time() - self.started, 2)])
        self.reporter.update(startup_steps=recorded, **({"message": message} if message else {}), **fields)

    def _prepare_resume(self, done_epochs: int) -> list[dict[str, Any]]:
        """Keep the history of the epochs done (a new run starts with none); return its rows."""
        if not self.resume:
            with writers.writing("starting the run's history"):
                for name in (files.HISTORY_FILE, files.STEPS_FILE, files.CLASS_IOU_FILE):
                    (self.folder / name).unlink(missing_ok=True)
            return []
        rows = folders.drop_epochs_after(self.folder, done_epochs)
        self.reporter.update(resume=True)
        return rows

    def _save_on_stop(self) -> dict[str, Any]:
        """Save last.keras after a stop (if a model exists) and say where the run stands."""
        where = f"epoch {self.epoch}, step {self.step}" if self.epoch else "before training started"
        if self.model is not None and self.epoch:
            self.reporter.update(phase="saving", message="Stop requested: saving last.keras.")
            try:
                writers.save_checkpoint(self.model, self.folder, files.LAST_CHECKPOINT)
            except Exception as error:  # noqa: BLE001
                logger.error("Could not save last.keras on stop:\n%s", traceback.format_exc())
                return {"message": f"Stopped at {where}, but last.keras could not be saved: {error}",
                        "error": str(error)}
            message = f"Stopped at {where}; last.keras saved. Resume to continue from there."
        else:
            message = f"Stopped {where}."
        logger.info("%s", message)
        return {"message": message}


def _finished_after_stop(message: str, epoch: Any, epochs: Any) -> str:
    """The final message of a run that ended normally while a stop request was pending."""
    if message.startswith("Stop requested"):  # the progress writer's note of the request, not how it ended
        message = f"Finished epoch {epoch} of {epochs}." if epoch else "Finished."
    return f"{message} A stop was requested after the last batch, so nothing was left to stop."
