"""The training worker: ``python -m seglib train ...`` writes one run folder.

Training never runs inside a page. This worker is a separate process (started
by the dashboard through ``seglib.training.runs.start_run``, or by hand from a
terminal) that reads ``config.json`` from a run folder and writes everything a
page needs to follow it live; see ``seglib.training.runs`` for the files.

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
with a constant rate (``keras-example`` preset, the over-fitting baseline).
The model is compiled with that optimiser so that ``last.keras`` carries the
optimiser state: ``--resume`` continues the schedule (optimizer iterations)
and appends to the history.

>>> from seglib.training.runs import create_run                     # doctest: +SKIP
>>> from seglib.config import get_preset                   # doctest: +SKIP
>>> folder = create_run(get_preset("lecture"), status="running")  # doctest: +SKIP
>>> train(folder)                                          # doctest: +SKIP
'finished'
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from seglib.training import runs

from seglib import settings
from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.config import WEIGHTS, RunConfig, get_preset, preset_names
from seglib.training.losses import LOSSES
from seglib.errors import ConfigError, DatasetError, RunError, SeglibError
from seglib.io import atomic_write_json, read_json

logger = logging.getLogger("seglib.training.worker")

#: How often the background thread rewrites progress.json (seconds).
PROGRESS_INTERVAL = 1.0
#: Number of fixed validation images in the preview strip.
PREVIEW_COUNT = 4
#: Share of the training images held out when a dataset has no validation split.
HOLDOUT_FRACTION = 0.1


class StopRequested(Exception):
    """Raised inside the loop when a stop was asked for; handled by ``train``."""


class NaNLossError(SeglibError):
    """The training loss became NaN or infinite."""


# ---------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------

def train(run_dir: str | os.PathLike, resume: bool = False, *, verbose: bool = False,
          callbacks: Sequence[Any] = ()) -> str:
    """Train the run in ``run_dir`` (which holds ``config.json``); return the final status.

    Args:
        run_dir: the run folder (see ``seglib.training.runs``).
        resume: continue from ``last.keras`` and append to ``history.csv``.
        verbose: print one line per epoch to stdout (the CLI does).
        callbacks: objects with optional ``on_train_begin(worker)``,
            ``on_batch_end(worker, epoch, step, loss)`` and
            ``on_epoch_end(worker, epoch, row)`` methods, called by the training
            loop (tests use them to inject faults; a page never does).

    The final status is ``finished``, ``stopped`` or ``failed``; it is also in
    ``progress.json``. Never raises for problems inside the run.
    """
    worker = Worker(run_dir, resume=resume, verbose=verbose, callbacks=callbacks)
    return worker.run()


# ---------------------------------------------------------------------------
# Progress reporting
# ---------------------------------------------------------------------------

class ProgressReporter:
    """Keeps the run's progress dict and rewrites ``progress.json`` every second.

    The training thread calls ``update(...)``; a daemon thread writes the
    file (atomically) so it stays fresh during graph tracing and long batches.
    """

    def __init__(self, folder: Path, initial: dict[str, Any], interval: float = PROGRESS_INTERVAL):
        if interval <= 0:
            raise ValueError(f"interval must be positive. Received: interval={interval!r}")
        self.path = folder / runs.PROGRESS_FILE
        self.stop_file = folder / runs.STOP_FILE
        self.interval = interval
        self._lock = threading.Lock()
        stored = read_json(self.path, default={})
        self._state = dict(stored) if isinstance(stored, dict) else {}  # a damaged file is rewritten
        self._state.update(initial)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress-writer", daemon=True)

    def start(self) -> "ProgressReporter":
        self.write()
        self._thread.start()
        return self

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._state.update(fields)

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._state.get(name, default)

    def write(self) -> None:
        with self._lock:
            if self._state.get("status") == "running" and self.stop_file.exists():
                # Say 'stopping' as soon as the request is seen, not only at the next batch.
                self._state.update(status="stopping",
                                   message="Stop requested: finishing the current batch and saving.")
            self._state["updated_at"] = time.time()
            snapshot = dict(self._state)
        try:
            atomic_write_json(self.path, snapshot)
        except OSError as error:  # a full disk must not kill training; the log says it
            logger.warning("Could not write progress.json: %s", error)

    def close(self, **final: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.update(**final)
        self.write()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()


# ---------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------

class Worker:
    """One training run, from ``config.json`` to the final status."""

    def __init__(self, run_dir: str | os.PathLike, resume: bool = False, verbose: bool = False,
                 callbacks: Sequence[Any] = ()):
        self.folder = Path(run_dir).expanduser().resolve()
        self.resume = bool(resume)
        self.verbose = bool(verbose)
        self.callbacks = list(callbacks)
        self.config: RunConfig | None = None
        self.model = None
        self.optimizer = None
        self.epoch = 0
        self.step = 0
        self.started = time.time()
        self._stop_signal = threading.Event()
        self._reporter: ProgressReporter | None = None
        self._log_handler: logging.Handler | None = None

    # -- lifecycle -------------------------------------------------------------

    def run(self) -> str:
        if not self.folder.is_dir():
            raise RunError(f"The run folder {self.folder.name!r} does not exist.")
        self._open_log()
        if self.resume:
            self._remove_stale_stop_file()
        self._reporter = ProgressReporter(self.folder, {
            "status": "running", "phase": "starting", "pid": os.getpid(),
            "pid_start": runs._process_start_time(os.getpid()), "started_at": self.started,
            "first_batch_at": None, "finished_at": None, "error": None, "resume": False, "epoch": 0, "step": 0,
            "startup_steps": [["starting the worker", 0.0]],
            "message": "Starting: importing TensorFlow and reading the dataset.",
        }).start()
        status, final = "failed", {}
        restore = self._install_signal_handlers()
        try:
            self._train()
            status = "finished"
            final = {"message": self._reporter.get("message") or "Finished."}
            if self.stop_requested():  # asked for after the last batch: say so, not "finishing the batch"
                final = {"message": _finished_after_stop(final["message"], self._reporter.get("epoch"),
                                                         self._reporter.get("epochs"))}
        except StopRequested:
            status = "stopped"
            final = self._save_on_stop()
        except NaNLossError as error:
            status = "failed"
            final = {"message": str(error), "error": str(error)}
            logger.error("%s", error)
        except SeglibError as error:
            status = "failed"
            final = {"message": f"Training failed: {error}", "error": str(error)}
            logger.error("Training failed: %s\n%s", error, traceback.format_exc())
        except Exception as error:  # noqa: BLE001 - any crash must end as 'failed', never hang
            text = f"{type(error).__name__}: {error}".strip()
            status = "failed"
            final = {"message": f"Training crashed: {text[:500]}", "error": text[:2000]}
            logger.error("Training crashed:\n%s", traceback.format_exc())
        finally:
            restore()
        with runs.ending_lock():  # a stop request lands before the end (and its STOP file goes) or sees it
            self._reporter.close(status=status, phase="done", eta_seconds=0 if status == "finished" else None,
                                 finished_at=time.time(), **final)
            with contextlib.suppress(OSError):
                (self.folder / runs.STOP_FILE).unlink(missing_ok=True)
        logger.info("Run ended: %s. %s", status, final.get("message", ""))
        self._close_log()
        if self.verbose:
            print(f"{status}: {final.get('message', '')}", flush=True)
        with contextlib.suppress(Exception):  # start the next queued run, if any
            runs.schedule()
        return status

    def _remove_stale_stop_file(self) -> None:
        """Forget the STOP file of the stop that ended the previous session of this run.

        A STOP written after that session ended (a new request while queued or
        starting) is newer than its ``finished_at`` and is kept.
        """
        stop_file = self.folder / runs.STOP_FILE
        previous = read_json(self.folder / runs.PROGRESS_FILE, default={}) or {}
        ended = previous.get("finished_at")
        with contextlib.suppress(OSError):
            if ended is None or stop_file.stat().st_mtime <= float(ended):
                stop_file.unlink()

    def stop_requested(self) -> bool:
        return self._stop_signal.is_set() or (self.folder / runs.STOP_FILE).exists()

    def _check_stop(self) -> None:
        if self.stop_requested():
            raise StopRequested()

    def _install_signal_handlers(self) -> Callable[[], None]:
        """SIGTERM (and Ctrl+C) ask for a stop at the next batch, in the main thread only."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}

        def handler(signum, frame):  # noqa: ARG001
            self._stop_signal.set()
            if self._reporter is not None:
                self._reporter.update(status="stopping",
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
        handler = logging.FileHandler(self.folder / runs.LOG_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
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
        report = self._reporter.update
        self.config = config = RunConfig.load(self.folder / runs.CONFIG_FILE)
        train_config, model_config = config.train, config.model
        report(epochs=train_config.epochs)
        niceness = os.nice(0) if hasattr(os, "nice") else 0
        logger.info("Run %s: %s%s%s", self.folder.name, config.summary(), " (resume)" if self.resume else "",
                    f" (CPU priority lowered: nice {niceness})" if niceness else "")

        # -- data (listed before TensorFlow is imported: a wrong folder fails in a second) --
        self._startup_step("reading the dataset", "Starting: listing the dataset's images and masks.")
        train_pairs, val_pairs, data_note = self._pairs()
        self._check_stop()
        self._startup_step("importing TensorFlow", "Starting: importing TensorFlow.")

        from seglib._tf import import_tf
        from seglib.data.pipeline import make_dataset

        tf, keras = import_tf()
        keras.utils.set_random_seed(train_config.seed)
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        # The strategy comes first: the batch scales with the replicas. train.batch_size
        # is per replica, the pipeline yields global batches that the strategy splits.
        strategy = _strategy(tf, train_config.strategy)
        replicas = strategy.num_replicas_in_sync
        if not on_gpu and _is_default_strategy(tf, strategy):
            # Grappler's graph rewrites add ~2 s (20%) to the first-batch wait on a
            # 2-core CPU and measured no faster steps there; GPUs keep them (layout, fusion),
            # and so do distributed steps (not measured without them).
            tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
        self._check_stop()

        size, num_classes = model_config.image_size, model_config.num_classes
        batch_size = train_config.batch_size * replicas
        self._startup_step("building the input pipeline", "Starting: building the input pipeline.")
        train_data = make_dataset(train_pairs, size, batch_size, training=True, augment=config.data.augment,
                                  cache=config.data.cache, seed=config.data.seed, num_classes=num_classes)
        val_data = make_dataset(val_pairs, size, batch_size, training=False, augment=False,
                                cache=config.data.cache, seed=config.data.seed, num_classes=num_classes)
        steps_per_epoch = _cardinality(train_data, math.ceil(len(train_pairs) / batch_size))
        report(steps_per_epoch=steps_per_epoch, train_images=len(train_pairs), val_images=len(val_pairs))
        report(replicas=replicas, global_batch_size=batch_size)
        logger.info("Data: %d training and %d validation images at %d px, batch %d (%d per replica x %d), "
                    "%d steps per epoch. %s", len(train_pairs), len(val_pairs), size, batch_size,
                    train_config.batch_size, replicas, steps_per_epoch, data_note)

        # -- model and optimiser ----------------------------------------------------
        self._startup_step("building the model", "Building the model.", phase="compiling")
        mixed = train_config.mixed_precision == "on" or (train_config.mixed_precision == "auto" and on_gpu)
        jit = train_config.jit_compile == "on" or (train_config.jit_compile == "auto" and on_gpu)
        keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
        with strategy.scope():
            self.model, self.optimizer, done_epochs = self._model_and_optimizer(keras, mixed)
        history_rows = self._prepare_resume(done_epochs)
        best_iou = max((r["val_mean_iou"] for r in history_rows if _finite(r.get("val_mean_iou"))),
                       default=-1.0)
        best_val_loss = min((r["val_loss"] for r in history_rows if _finite(r.get("val_loss"))),
                            default=math.inf)
        if done_epochs >= train_config.epochs:
            report(epoch=done_epochs, message=f"All {train_config.epochs} epochs were already done.")
            return
        start = getattr(self.model, "weights_message", "")
        if not self.resume:
            report(start=start)
        logger.info("Start: %s", start)
        logger.info("Model: %s parameters; optimiser %s; strategy %s (%d replica%s); mixed precision %s; "
                    "XLA %s.", f"{self.model.count_params():,}", type(self.optimizer).__name__,
                    type(strategy).__name__, replicas, "" if replicas == 1 else "s",
                    "on" if mixed else "off", "on" if jit else "off")

        loss = self._loss(train_pairs)
        frozen = self._freeze_backbone(done_epochs + 1)
        self._startup_step("tracing the training step and running the first batch",
                           "Tracing the training step into a graph, then the first batch.", phase="compiling")
        step_function = _make_train_step(tf, keras, self.model, self.optimizer, strategy, num_classes,
                                         size, jit, train_config.steps_per_execution, loss=loss)
        eval_function = _make_eval_step(tf, self.model, num_classes, size, jit,
                                        loss=None if train_config.loss == "cross-entropy" else loss)
        distributed = replicas > 1 or not _is_default_strategy(tf, strategy)
        if distributed:
            train_data = strategy.experimental_distribute_dataset(train_data)
        preview_images = self._write_preview_inputs(val_pairs)
        for callback in self.callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self)

        # -- epochs -----------------------------------------------------------------
        patience = train_config.early_stopping_patience
        epochs_without_improvement = 0
        first_batch_seen = False
        throughput_window: list[tuple[float, int]] = []
        val_seconds_estimate = None
        for epoch in range(done_epochs + 1, train_config.epochs + 1):
            self.epoch, self.step = epoch, 0
            epoch_started = time.time()
            if frozen and not self._freeze_backbone(epoch):
                # The backbone joins in: a new graph with its variables (traced again, ~5-10 s).
                frozen = False
                report(phase="compiling", message=f"Epoch {epoch}: the backbone is trained from now on; "
                                                  "tracing the new training graph.")
                with strategy.scope():
                    step_function = _make_train_step(tf, keras, self.model, self.optimizer, strategy,
                                                     num_classes, size, jit, train_config.steps_per_execution,
                                                     loss=loss)
            if first_batch_seen:
                report(phase="training", message=f"Training epoch {epoch}/{train_config.epochs}.")
            report(epoch=epoch, step=0, running_loss=None)
            loss_sum, loss_count = 0.0, 0
            confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
            train_seconds, train_images = 0.0, 0
            step_rows: list[dict[str, Any]] = []
            iterator = iter(train_data)
            while self.step < steps_per_epoch:
                self._check_stop()
                chunk = min(train_config.steps_per_execution, steps_per_epoch - self.step)
                step_started = time.time()
                try:
                    loss_value, batch_confusion, images_in_chunk = step_function(iterator, chunk)
                except (StopIteration, tf.errors.OutOfRangeError):
                    break
                now = time.time()
                self.step += chunk
                loss_value = float(loss_value)
                if not math.isfinite(loss_value):
                    raise NaNLossError(_nan_message(epoch, self.step, self.optimizer))
                loss_sum += loss_value * chunk
                loss_count += chunk
                confusion += batch_confusion
                running_loss = loss_sum / loss_count
                running_accuracy = _accuracy(confusion)
                if not first_batch_seen:
                    first_batch_seen = True
                    self._startup_step("training", None)
                    startup = now - self.started
                    report(phase="training", first_batch_at=now, startup_seconds=round(startup, 2),
                           message=f"Training epoch {epoch}/{train_config.epochs}.")
                    logger.info("First batch done %.1f s after the worker started.", startup)
                else:
                    train_seconds += now - step_started
                    train_images += images_in_chunk
                    throughput_window.append((now - step_started, images_in_chunk))
                    del throughput_window[:-20]
                images_per_second = _window_rate(throughput_window)
                eta = _eta(images_per_second, batch_size, steps_per_epoch, self.step, epoch,
                           train_config.epochs, len(val_pairs), val_seconds_estimate)
                report(step=self.step, running_loss=running_loss, running_accuracy=running_accuracy,
                       images_per_second=images_per_second, eta_seconds=eta)
                step_rows.append({"epoch": epoch, "step": self.step, "loss": running_loss,
                                  "accuracy": running_accuracy})
                if len(step_rows) >= 5 or self.step >= steps_per_epoch or now - step_started > 1.0:
                    runs.write_csv_rows(self.folder / runs.STEPS_FILE, runs.STEP_COLUMNS, step_rows)
                    step_rows = []
                for callback in self.callbacks:
                    if hasattr(callback, "on_batch_end"):
                        callback.on_batch_end(self, epoch, self.step, loss_value)
            if step_rows:
                runs.write_csv_rows(self.folder / runs.STEPS_FILE, runs.STEP_COLUMNS, step_rows)
            _drain(iterator)
            self._check_stop()

            # -- validation ---------------------------------------------------------
            report(phase="validating", message=f"Validating epoch {epoch} on {len(val_pairs)} images.")
            validation_started = time.time()
            val = self._evaluate(val_data, eval_function, num_classes)
            val_seconds_estimate = time.time() - validation_started
            self._write_preview(epoch, preview_images, eval_function)

            from seglib.evaluation import metrics

            row = {
                "epoch": epoch,
                "loss": loss_sum / max(loss_count, 1),
                "val_loss": val["loss"],
                "accuracy": metrics.pixel_accuracy(confusion),
                "val_accuracy": metrics.pixel_accuracy(val["confusion"]),
                "mean_iou": metrics.mean_iou(confusion),
                "val_mean_iou": metrics.mean_iou(val["confusion"]),
                "lr": _current_lr(keras, self.optimizer),
                "seconds": None,
            }

            # -- checkpoints, then the epoch's rows (its seconds include the saving) -----
            report(phase="saving", message=f"Saving the checkpoints of epoch {epoch}.")
            improved = _finite(row["val_mean_iou"]) and row["val_mean_iou"] > best_iou
            self._save(runs.LAST_CHECKPOINT)
            if improved:
                best_iou = row["val_mean_iou"]
                self._save(runs.BEST_CHECKPOINT)
            row["seconds"] = time.time() - epoch_started
            history_rows.append(row)
            runs.write_csv_rows(self.folder / runs.HISTORY_FILE, runs.HISTORY_COLUMNS, history_rows, append=False)
            class_iou = metrics.per_class_iou(val["confusion"])
            runs.write_csv_rows(self.folder / runs.CLASS_IOU_FILE, ("epoch", *CLASS_NAMES),
                                [{"epoch": epoch, **dict(zip(CLASS_NAMES, class_iou.tolist()))}])
            if train_seconds > 0 and train_images > 0:
                report(measured_images_per_second=round(train_images / train_seconds, 3))
            report(best_val_mean_iou=best_iou if best_iou >= 0 else None)
            line = _epoch_line(row, train_config.epochs)
            logger.info("%s", line)
            if self.verbose:
                print(line, flush=True)
            for callback in self.callbacks:
                if hasattr(callback, "on_epoch_end"):
                    callback.on_epoch_end(self, epoch, row)

            # -- early stopping (off by default: the course runs fixed epochs) -------------
            if _finite(row["val_loss"]) and row["val_loss"] < best_val_loss:
                best_val_loss, epochs_without_improvement = row["val_loss"], 0
            else:
                epochs_without_improvement += 1
            if patience and epochs_without_improvement >= patience and epoch < train_config.epochs:
                message = (f"Early stopping after epoch {epoch}: the validation loss has not improved for "
                           f"{patience} epochs (best {best_val_loss:.4f}).")
                logger.info("%s", message)
                report(message=message)
                return
        report(message=f"Finished {train_config.epochs} epochs; best validation mean IoU "
                       f"{max(best_iou, 0):.3f}.")

    # -- pieces -------------------------------------------------------------------

    def _pairs(self):
        """Training and validation pairs from the dataset folder, limited by the config."""
        from seglib.data.dataset import open_dataset

        config = self.config
        root = dataset_root(config.data.root)
        dataset = open_dataset(root, num_classes=config.model.num_classes)
        train_pairs = list(dataset.split("train"))
        val_pairs = list(dataset.split("val")) if "val" in dataset.splits else []
        notes = []
        if not val_pairs:
            if len(train_pairs) < 2:
                raise DatasetError(f"The dataset {settings.display_path(root)} has {len(train_pairs)} "
                                   "training image(s) and no validation split; at least 2 are needed.")
            rng = np.random.default_rng(config.data.seed)
            order = rng.permutation(len(train_pairs))
            held = max(1, int(round(len(train_pairs) * HOLDOUT_FRACTION)))
            val_pairs = [train_pairs[i] for i in sorted(order[:held])]
            train_pairs = [train_pairs[i] for i in sorted(order[held:])]
            notes.append(f"No validation split: {held} training images held out for validation.")
        if config.data.train_count:
            if config.data.train_count > len(train_pairs):
                notes.append(f"Asked for {config.data.train_count} training images; the dataset has "
                             f"{len(train_pairs)}.")
            train_pairs = train_pairs[:config.data.train_count]
        if config.data.val_count:
            val_pairs = val_pairs[:config.data.val_count]
        if not train_pairs:
            raise DatasetError(f"The dataset {settings.display_path(root)} has no training images.")
        _require_labelled(val_pairs, config.model.num_classes, held_out=not dataset.split("val"))
        return train_pairs, val_pairs, " ".join(notes)

    def _model_and_optimizer(self, keras, mixed: bool):
        """Build (or, on resume, restore) the model and its optimiser; return epochs already done."""
        from seglib.model.deeplab import build_model

        config = self.config
        model = build_model(config.model)
        optimizer = make_optimizer(config.train)
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL)
        # Compiled only so that model.save() stores the optimiser state with the weights.
        model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
        done = 0
        if self.resume:
            last = self.folder / runs.LAST_CHECKPOINT
            done = runs._epochs_done(self.folder)
            if last.exists():
                optimizer.build(model.trainable_variables)
                try:
                    model.load_weights(str(last))
                except Exception as error:  # noqa: BLE001
                    raise RunError(f"Cannot resume: last.keras does not match this run's model ({error}). "
                                   "Start a new run instead.") from error
                logger.info("Resumed from last.keras at optimizer step %d (%d epochs done).",
                            int(optimizer.iterations.numpy()), done)
            else:
                logger.info("Resume asked, but there is no last.keras yet: starting from scratch.")
                done = 0
        if not optimizer.built:
            # Create the slots now (inside the strategy's scope, mirrored on every replica),
            # not lazily in the first traced step: a tf.distribute step that creates
            # variables fails with "You must feed a value for placeholder".
            optimizer.build(model.trainable_variables)
        return model, optimizer, done

    def _loss(self, train_pairs) -> Callable:
        """The training loss ``train.loss`` names; the weighted one weighs each class by median frequency
        over the training masks' pixels at the model's size (logged)."""
        from seglib.training.losses import make_loss, median_frequency_weights

        config = self.config
        name, num_classes = config.train.loss, config.model.num_classes
        weights = None
        if name == "weighted-cross-entropy":
            counts = _class_pixel_counts(train_pairs, config.model.image_size, num_classes)
            weights = median_frequency_weights(counts)
            logger.info("Class weights (median frequency over %d training masks): %s", len(train_pairs),
                        ", ".join(f"{CLASS_NAMES[i] if i < len(CLASS_NAMES) else i} {w:.2f}"
                                  for i, w in enumerate(weights)))
        if name != "cross-entropy":
            logger.info("Loss: %s (training and validation loss both measure it).", name)
        return make_loss(name, num_classes, class_weights=weights, ignore_label=IGNORE_LABEL)

    def _startup_step(self, name: str, message: str | None, **fields: Any) -> None:
        """Record a start-up step in progress.json (``startup_steps``: [name, seconds since the worker
        started]) so the page can show each one while it happens, and how long the earlier ones took."""
        steps = list(self._reporter.get("startup_steps") or [])
        steps.append([name, round(time.time() - self.started, 2)])
        self._reporter.update(startup_steps=steps, **({"message": message} if message else {}), **fields)

    def _freeze_backbone(self, epoch: int) -> bool:
        """Fix the backbone during the first ``train.freeze_backbone_epochs`` epochs; return whether it is fixed.

        A fixed backbone keeps its (pretrained) weights and its BatchNorm layers
        run in inference mode with their stored statistics (Keras runs a
        ``trainable=False`` BatchNormalization that way), so the new ASPP,
        decoder and head learn on stable features, and each step skips the
        backbone's backward pass.
        """
        from seglib.model.pretrain import backbone_layers

        frozen = epoch <= self.config.train.freeze_backbone_epochs
        for layer in backbone_layers(self.model, self.config.model):
            layer.trainable = not frozen
        if frozen:
            logger.info("Epoch %d: backbone fixed (train.freeze_backbone_epochs=%d); %s trainable weights.",
                        epoch, self.config.train.freeze_backbone_epochs,
                        f"{sum(int(np.prod(v.shape)) for v in self.model.trainable_variables):,}")
        return frozen

    def _prepare_resume(self, done_epochs: int) -> list[dict[str, Any]]:
        """Keep the history of the epochs done; drop partial rows of a later, interrupted epoch."""
        if not self.resume:
            for name in (runs.HISTORY_FILE, runs.STEPS_FILE, runs.CLASS_IOU_FILE):
                (self.folder / name).unlink(missing_ok=True)
            return []
        history = runs._read_csv(self.folder / runs.HISTORY_FILE, runs.HISTORY_COLUMNS)
        history = history[history["epoch"] <= done_epochs]
        rows = history.to_dict("records")
        runs.write_csv_rows(self.folder / runs.HISTORY_FILE, runs.HISTORY_COLUMNS, rows, append=False)
        for name, columns in ((runs.STEPS_FILE, runs.STEP_COLUMNS), (runs.CLASS_IOU_FILE, ("epoch", *CLASS_NAMES))):
            frame = runs._read_csv(self.folder / name, columns)
            if len(frame):
                frame = frame[frame["epoch"] <= done_epochs]
                runs.write_csv_rows(self.folder / name, list(frame.columns), frame.to_dict("records"),
                                    append=False)
        for path in (self.folder / runs.PREVIEWS_DIR).glob("epoch_*.npz"):
            with contextlib.suppress(ValueError):
                if int(path.stem.split("_")[1]) > done_epochs:
                    path.unlink(missing_ok=True)
        self._reporter.update(resume=True)
        return rows

    def _evaluate(self, val_data, eval_function, num_classes: int) -> dict[str, Any]:
        """Validation loss and an exact int64 confusion matrix over the whole split."""
        from seglib.evaluation import metrics

        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        loss_sum, pixels = 0.0, 0
        for images, masks in val_data:
            self._check_stop()
            predicted, batch_loss, batch_pixels = eval_function(images, masks)
            confusion += metrics.confusion_matrix(masks.numpy(), predicted.numpy(), num_classes)
            loss_sum += float(batch_loss)
            pixels += int(batch_pixels)
        return {"loss": loss_sum / pixels if pixels else float("nan"), "confusion": confusion}

    def _write_preview_inputs(self, val_pairs) -> np.ndarray | None:
        """Write the fixed preview images + ground truth once; return the images for prediction."""
        from seglib.data.dataset import load_pair

        pairs = list(val_pairs[:PREVIEW_COUNT])
        if not pairs:
            return None
        size, num_classes = self.config.model.image_size, self.config.model.num_classes
        loaded = [load_pair(pair, size=size, num_classes=num_classes) for pair in pairs]
        images = np.stack([image for image, _ in loaded]).astype(np.uint8)
        truth = np.stack([mask for _, mask in loaded]).astype(np.uint8)
        folder = self.folder / runs.PREVIEWS_DIR
        folder.mkdir(exist_ok=True)
        _save_npz(folder / runs.PREVIEW_INPUTS, images=images, truth=truth,
                  stems=np.array([pair.stem for pair in pairs]))
        return images

    def _write_preview(self, epoch: int, images: np.ndarray | None, eval_function) -> None:
        if images is None:
            return
        dummy = np.zeros(images.shape[:3], dtype=np.int32)
        predicted, _, _ = eval_function(images.astype(np.float32), dummy)
        _save_npz(self.folder / runs.PREVIEWS_DIR / f"epoch_{epoch:03d}.npz",
                  masks=predicted.numpy().astype(np.uint8))

    def _save(self, name: str) -> None:
        from seglib.model.deeplab import save_model

        save_model(self.model, self.folder / name)

    def _save_on_stop(self) -> dict[str, Any]:
        """Save last.keras after a stop (if a model exists) and say where the run stands."""
        where = f"epoch {self.epoch}, step {self.step}" if self.epoch else "before training started"
        if self.model is not None and self.epoch:
            self._reporter.update(phase="saving", message="Stop requested: saving last.keras.")
            try:
                self._save(runs.LAST_CHECKPOINT)
            except Exception as error:  # noqa: BLE001
                logger.error("Could not save last.keras on stop:\n%s", traceback.format_exc())
                return {"message": f"Stopped at {where}, but last.keras could not be saved: {error}",
                        "error": str(error)}
            message = f"Stopped at {where}; last.keras saved. Resume to continue from there."
        else:
            message = f"Stopped {where}."
        logger.info("%s", message)
        return {"message": message}


# ---------------------------------------------------------------------------
# TensorFlow pieces
# ---------------------------------------------------------------------------

def make_optimizer(train_config):
    """The optimiser a ``TrainConfig`` asks for.

    ``adamw``: AdamW with decoupled weight decay (not applied to BatchNorm
    scales/offsets and biases) and, unless ``decay_rate`` is 1, Keras
    ``ExponentialDecay`` of the learning rate per optimizer step.
    ``adam``: Adam, same schedule rules, no weight decay.
    """
    from seglib._tf import keras

    learning_rate: Any = float(train_config.learning_rate)
    if train_config.decay_rate < 1.0:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate=float(train_config.learning_rate), decay_steps=int(train_config.decay_steps),
            decay_rate=float(train_config.decay_rate), staircase=False)
    if train_config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate,
                                           weight_decay=float(train_config.weight_decay))
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
        return optimizer
    if train_config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ConfigError(f"train.optimizer must be 'adamw' or 'adam'. Received: {train_config.optimizer!r}")


def _strategy(tf, name: str):
    """The tf.distribute strategy for ``train.strategy`` (the run folder is the same for all)."""
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        # Every GPU; without one, every logical CPU device (a CPU split with
        # tf.config.set_logical_device_configuration, as the tests do), since
        # MirroredStrategy() alone would take only the first CPU.
        cpus = tf.config.list_logical_devices("CPU")
        if not gpus and len(cpus) > 1:
            return tf.distribute.MirroredStrategy(devices=[device.name for device in cpus])
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_default_strategy(tf, strategy) -> bool:
    return strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy()


def _make_train_step(tf, keras, model, optimizer, strategy, num_classes: int, size: int, jit: bool,
                     steps_per_execution: int, loss: Callable | None = None):
    """Return ``step(iterator, n) -> (mean loss, int64 confusion (C, C), images)`` for ``n`` batches.

    One compiled function runs ``n`` optimizer steps (``steps_per_execution``)
    so the Python overhead per step disappears on fast devices. ``loss`` is a
    ``seglib.training.losses.make_loss`` function (default: plain cross-entropy).
    """
    from seglib.training.losses import make_loss

    loss_object = loss or make_loss("cross-entropy", num_classes, ignore_label=IGNORE_LABEL)
    replicas = strategy.num_replicas_in_sync
    distributed = replicas > 1 or not _is_default_strategy(tf, strategy)
    bins = num_classes * num_classes

    def one_step(images, masks):
        masks = tf.cast(masks, tf.int32)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_object(masks, logits)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
            scaled = optimizer.scale_loss(loss / replicas) if hasattr(optimizer, "scale_loss") else loss / replicas
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        valid = (masks >= 0) & (masks < num_classes)
        index = tf.boolean_mask(masks * num_classes + predicted, valid)
        confusion = tf.math.bincount(index, minlength=bins, maxlength=bins, dtype=tf.int64)
        return loss, confusion, tf.shape(images)[0]

    def chunk(iterator, n):
        loss_total = tf.constant(0.0, tf.float32)
        confusion_total = tf.zeros([bins], tf.int64)
        images_total = tf.constant(0, tf.int32)
        for _ in tf.range(n):
            images, masks = next(iterator)
            if distributed:
                loss, confusion, count = strategy.run(one_step, args=(images, masks))
                loss = strategy.reduce("SUM", loss, axis=None) / replicas
                confusion = strategy.reduce("SUM", confusion, axis=None)
                count = strategy.reduce("SUM", count, axis=None)
            else:
                loss, confusion, count = one_step(images, masks)
            loss_total += tf.cast(loss, tf.float32)
            confusion_total += confusion
            images_total += count
        return loss_total / tf.cast(n, tf.float32), confusion_total, images_total

    if steps_per_execution > 1 or distributed:
        compiled = tf.function(chunk, jit_compile=jit and not distributed, reduce_retracing=True)

        def step(iterator, n: int):
            loss, confusion, count = compiled(iterator, tf.constant(n, tf.int32))
            return loss.numpy(), confusion.numpy().reshape(num_classes, num_classes), int(count)

        return step

    # One batch per call: a plain graph (no while loop) traces faster and is as
    # fast on a CPU, where a step takes far longer than the Python around it.
    single = tf.function(one_step, jit_compile=jit, input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32), tf.TensorSpec([None, size, size], tf.int32)])

    def step(iterator, n: int):  # noqa: ARG001 - n is 1 here
        images, masks = next(iterator)
        loss, confusion, count = single(tf.cast(images, tf.float32), tf.cast(masks, tf.int32))
        return loss.numpy(), confusion.numpy().reshape(num_classes, num_classes), int(count)

    return step


def _make_eval_step(tf, model, num_classes: int, size: int, jit: bool, loss: Callable | None = None):
    """Return ``eval(images, masks) -> (predicted ids, summed loss, valid pixels)``.

    The summed loss divided by the pixels is the validation loss: per-pixel
    cross-entropy by default, so it is exact over the whole split; with another
    training ``loss`` (a ``seglib.training.losses.make_loss`` function, e.g. with Dice,
    which is not a sum over pixels) it is that loss per batch, weighted by the
    batch's labelled pixels, so training and validation curves measure the same thing.
    """

    @tf.function(jit_compile=jit, input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32),
                                                   tf.TensorSpec([None, size, size], tf.int32)])
    def evaluate(images, masks):
        logits = tf.cast(model(images, training=False), tf.float32)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        valid = (masks >= 0) & (masks < num_classes)
        pixels = tf.reduce_sum(tf.cast(valid, tf.int64))
        if loss is None:
            labels = tf.where(valid, masks, 0)
            per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            loss_sum = tf.reduce_sum(tf.where(valid, per_pixel, 0.0))
        else:
            loss_sum = loss(masks, logits) * tf.cast(pixels, tf.float32)
        return tf.cast(predicted, tf.uint8), loss_sum, pixels

    def run(images, masks):
        return evaluate(tf.cast(images, tf.float32), tf.cast(masks, tf.int32))

    return run


def _drain(iterator) -> None:
    """Read the iterator to its end (normally nothing is left).

    A ``tf.data`` cache is only kept when an iterator reaches the end of the
    data; an epoch that stops after exactly ``steps_per_epoch`` batches without
    seeing the end would make the pipeline decode every image again next epoch.
    """
    with contextlib.suppress(Exception):
        for _ in iterator:
            pass


def _cardinality(data, fallback: int) -> int:
    try:
        value = int(data.cardinality().numpy())
    except Exception:  # noqa: BLE001
        return max(1, fallback)
    return value if value > 0 else max(1, fallback)


def _current_lr(keras, optimizer) -> float:
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # noqa: BLE001
        return float("nan")


def _nan_message(epoch: int, step: int, optimizer) -> str:
    from seglib._tf import keras

    lr = _current_lr(keras, optimizer)
    return (f"The training loss became NaN at epoch {epoch}, step {step} (learning rate {lr:.3g}): the "
            "weights diverged. Lower the learning rate (for example 10x smaller with --lr) or the "
            "batch size, and start a new run; last.keras still holds the last good epoch.")


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def dataset_root(root: str) -> Path:
    """A config's ``data.root``: relative paths are under ``settings.data_dir()``."""
    path = Path(root).expanduser()
    return path if path.is_absolute() else settings.data_dir() / path


def _require_labelled(val_pairs, num_classes: int, held_out: bool) -> None:
    """DatasetError unless a validation mask has a labelled pixel (reads masks until the first one).

    Without one, validation loss, accuracy and IoU are undefined: the run would
    train for hours and measure nothing. A normal dataset costs one mask read.
    """
    from seglib.data.dataset import read_mask

    first_problem = ""
    for pair in val_pairs:
        try:
            mask = read_mask(pair.mask, num_classes)
        except SeglibError as error:
            first_problem = first_problem or str(error)
            continue
        if np.any(mask != IGNORE_LABEL):
            return
    what = (f"the {len(val_pairs)} training images held out for it (the dataset has no Validation split)"
            if held_out else f"its {len(val_pairs)} masks")
    fix = (f"Label the masks with class ids 0..{num_classes - 1}." if held_out else
           f"Label the validation masks with class ids 0..{num_classes - 1}, or remove the Validation folder "
           "so that part of the training images is held out for validation instead.")
    example = f" The first mask: {first_problem}" if first_problem else ""
    raise DatasetError(f"The validation split has no labelled pixel: in {what}, every pixel is the ignore label "
                       f"{IGNORE_LABEL} or the mask is refused, so validation loss, accuracy and IoU would be "
                       f"undefined.{example} {fix}")


def _finished_after_stop(message: str, epoch: Any, epochs: Any) -> str:
    """The final message of a run that ended normally while a stop request was pending."""
    if message.startswith("Stop requested"):  # the progress writer's note of the request, not how it ended
        message = f"Finished epoch {epoch} of {epochs}." if epoch else "Finished."
    return f"{message} A stop was requested after the last batch, so nothing was left to stop."


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


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


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    return (f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"accuracy {row['accuracy']:.3f}  val_accuracy {row['val_accuracy']:.3f}  "
            f"mean_iou {row['mean_iou']:.3f}  val_mean_iou {row['val_mean_iou']:.3f}  "
            f"lr {row['lr']:.2e}  {row['seconds']:.1f} s")


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    from seglib.io import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)


# ---------------------------------------------------------------------------
# Command line: python -m seglib train ...
# ---------------------------------------------------------------------------

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
    parser = subparsers.add_parser(
        "train", help="train a model into a run folder (foreground)",
        description="Train DeepLabV3+ and write a run folder (config.json, history.csv, progress.json, "
                    "checkpoints, log). Stop with Ctrl+C, SIGTERM or a STOP file in the run folder; "
                    "continue later with --resume RUN_DIR.")
    parser.add_argument("--preset", default="lecture", choices=preset_names(), help="start from this preset")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--image-size", type=int, help="square input size in pixels (multiple of 16)")
    parser.add_argument("--train", type=int, help="number of training images (0 = all)")
    parser.add_argument("--val", type=int, help="number of validation images (0 = all)")
    parser.add_argument("--lr", type=float, help="initial learning rate")
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--decay-steps", type=int)
    parser.add_argument("--decay-rate", type=float, help="1.0 = constant learning rate")
    parser.add_argument("--optimizer", choices=("adamw", "adam"))
    parser.add_argument("--width", type=float, help="MobileNetV2 width multiplier")
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
    parser.set_defaults(func=_cli)


def config_from_args(args) -> RunConfig:
    """The RunConfig described by the CLI flags (preset or --config, then overrides)."""
    config = RunConfig.load(args.config) if getattr(args, "config", None) else get_preset(args.preset)
    overrides: dict[str, Any] = {}
    for flag, field in CLI_FIELDS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    if getattr(args, "data", None):
        overrides["data.root"] = _data_root_value(args.data)
    for item in getattr(args, "overrides", []) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs SECTION.FIELD=VALUE. Received: --set {item!r}")
        overrides[key.strip()] = value.strip()
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


def _class_pixel_counts(pairs, image_size: int, num_classes: int) -> np.ndarray:
    """Labelled pixels per class over the masks of ``pairs`` at the model's size (int64, ignore left out)."""
    from seglib.data.dataset import read_mask, resize_pair

    counts = np.zeros(num_classes, np.int64)
    for pair in pairs:
        mask = read_mask(pair.mask, num_classes)
        _, mask = resize_pair(np.zeros(mask.shape + (3,), np.uint8), mask, image_size)
        counts += np.bincount(mask.reshape(-1), minlength=256)[:num_classes]
    return counts


def _check_dataset_before_creating(config: RunConfig) -> None:
    """Open the dataset a command-line run names before its folder exists, so a wrong
    ``--data`` is an error on the terminal and never a failed run left behind."""
    from seglib.data.dataset import open_dataset

    open_dataset(dataset_root(config.data.root), num_classes=config.model.num_classes)


def _cli(args) -> int:
    from seglib._tf import quiet_environment

    quiet_environment()
    if args.nice > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # a lower priority is a courtesy, never a reason to fail
            os.nice(min(int(args.nice), 19))
    config_flags = [flag for flag in (*CLI_FIELDS, "data", "config") if getattr(args, flag, None) is not None]
    config_flags += ["set"] if args.overrides else []
    if args.resume:
        folder = Path(args.resume).expanduser().resolve()
        if not (folder / runs.CONFIG_FILE).exists():
            raise RunError(f"{folder.name!r} is not a run folder (no config.json); nothing to resume.")
        if set(config_flags) - {"epochs"}:
            raise RunError("--resume continues a run with its own config; only --epochs may be given "
                           f"(to extend it). Received: {', '.join('--' + f.replace('_', '-') for f in config_flags)}")
        if args.epochs is not None:
            config = RunConfig.load(folder / runs.CONFIG_FILE).with_overrides({"train.epochs": args.epochs})
            config.save(folder / runs.CONFIG_FILE)
        runs.claim_foreground(folder)
        status = train(folder, resume=True, verbose=True)
    else:
        folder = Path(args.run_dir).expanduser().resolve() if args.run_dir else None
        if folder is not None and (folder / runs.CONFIG_FILE).exists() and args.from_queue:
            # Spawned by runs.schedule: the folder and config were written by start_run.
            if config_flags:
                raise RunError("This run folder already has its config; do not pass config flags.")
        else:
            config = config_from_args(args)
            _check_dataset_before_creating(config)
            folder = runs.create_run(config, args.name, path=folder, status="interrupted")
            try:
                runs.claim_foreground(folder)
            except RunError as error:
                runs._update_progress(folder, status="failed", phase="done", message=str(error), error=str(error))
                raise
        status = train(folder, verbose=True)
    print(f"run folder: {settings.display_path(folder)}", flush=True)
    return 0 if status in ("finished", "stopped") else 1
