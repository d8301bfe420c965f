"""Run folders: the contract between the training worker and the pages.

A training run lives in ``runs/<run-id>/`` (``settings.runs_dir()``). The
worker (``seglib.training.worker``, a separate process) writes it; the dashboard
only reads it, so a crash of training can never take a page down and a browser
reload never loses a run. Starting, stopping and deleting runs is
``seglib.training.scheduler``.

The modules of this package:

``files``
    The names of the files below, their columns, the run statuses and the bounds a reader keeps to.
``readers``
    One validating reader per file (``read_config``, ``read_meta``, ``read_progress``,
    ``read_history``, ``read_steps``, ``read_class_iou``, ``read_log``, ``find_checkpoint``), and
    the rule for damaged files (run files are untrusted input).
``writers``
    One writer per file (``write_config``, ``write_meta``, ``write_progress``, ``write_history``,
    ``write_steps``, ``write_class_iou``, ``save_checkpoint``, ``log_handler``), and ``writing``:
    a failed write says why and what to do, never an ``OSError``.
``previews``
    The preview strip (``previews/``): its writer and its validating reader.
``reporter``
    ``ProgressReporter``: the worker's thread that rewrites ``progress.json`` every second.
``folders``
    Run ids and folders: creating a run, the shipped reference runs, listing the folders,
    renaming, extending and cutting back a run.
``state``
    What the pages ask: a run's state (``run_state``: ``progress.json`` with a dead worker,
    a pending stop and the queue position worked in), the config it trains with, the runs table.

Files of a run folder (every whole-file write is atomic: temp file + rename):

``config.json``
    The ``RunConfig`` (data, model, training) that rebuilds the run.
``meta.json``
    ``{"name", "preset", "created_at"}``; ``name`` is the renamable display name.
    ``epochs``, once a Continue asked for more epochs than ``config.json`` plans
    (``config.json`` itself is written once, when the run is created).
``progress.json``
    Live state, rewritten at least every 2 s while the worker runs: ``status``
    (queued / running / stopping / stopped / finished / failed / interrupted),
    ``phase`` (starting / compiling / training / validating / saving / done),
    ``epoch``, ``epochs``, ``step``, ``steps_per_epoch``, ``images_per_second``,
    ``eta_seconds``, ``running_loss``, ``message``, ``error``, ``pid``,
    ``created_at``, ``queued_at``, ``started_at``, ``updated_at`` (Unix seconds);
    ``pid_start`` and ``spawner`` identify the worker process and the one that
    started it (``seglib.training.liveness``).
``history.csv``
    One row per finished epoch: ``epoch, loss, val_loss, accuracy, val_accuracy,
    mean_iou, val_mean_iou, lr, seconds, weight_norm`` (IoUs from an exact int64
    confusion matrix; ``seconds`` = wall time of the epoch including validation;
    ``weight_norm`` = L2 norm of the trainable kernels at the epoch's end,
    ``seglib.training.steps.weight_norm``; empty in runs recorded before it).
``steps.csv``
    ``epoch, step, loss, accuracy`` after every training step (running means
    within the epoch), for the live running-loss curve.
``class_iou.csv``
    ``epoch`` + the validation IoU of every class, one row per epoch.
``previews/``
    ``inputs.npz`` (a few FIXED validation images, their ground truth and
    stems, written once) and ``epoch_NNN.npz`` (the predicted masks of those
    images after each epoch) so the room can watch the masks improve.
``best.keras`` / ``last.keras``
    Checkpoints: best validation mean IoU so far, and the latest state
    (written at each epoch end and on stop). Each is saved under a temporary
    name in the same folder and renamed, so an interrupted save leaves the
    previous checkpoint intact. ``last.keras`` holds the optimizer state, so a
    resumed run continues the learning-rate schedule where it stopped.
``train.log`` / ``console.log``
    The worker's log (tracebacks land here, never in the UI) and, for runs
    started from the dashboard, the worker process's stdout/stderr.
``STOP``
    Present when a stop was requested; the worker ends at the next batch and
    removes it when it ends.

>>> from seglib.presets import get_preset
>>> from seglib.training import scheduler
>>> from seglib.training.runs.state import run_state
>>> run_id = scheduler.start_run(get_preset("lecture"), name="first try")  # doctest: +SKIP
>>> run_state(run_id)["status"]                                             # doctest: +SKIP
'running'
"""
