"""The names of a run folder's files, their columns, the run statuses, and the bounds a reader keeps to.

The files themselves are described in ``seglib.training.runs``; ``readers`` reads each one and
``writers`` writes each one.
"""

from __future__ import annotations

from seglib.classes import CLASS_NAMES

CONFIG_FILE = "config.json"
META_FILE = "meta.json"
PROGRESS_FILE = "progress.json"
HISTORY_FILE = "history.csv"
STEPS_FILE = "steps.csv"
CLASS_IOU_FILE = "class_iou.csv"
LOG_FILE = "train.log"
CONSOLE_FILE = "console.log"
BEST_CHECKPOINT = "best.keras"
LAST_CHECKPOINT = "last.keras"
STOP_FILE = "STOP"
PREVIEWS_DIR = "previews"
PREVIEW_INPUTS = "inputs.npz"

HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy",
                   "mean_iou", "val_mean_iou", "lr", "seconds")
#: Columns added to history.csv later: written by the worker, read as NaN from a file without them.
HISTORY_LATER_COLUMNS = ("weight_norm",)
#: Every column of history.csv, in the order the worker writes them.
HISTORY_FILE_COLUMNS = HISTORY_COLUMNS + HISTORY_LATER_COLUMNS
STEP_COLUMNS = ("epoch", "step", "loss", "accuracy")
#: class_iou.csv: the epoch, then one validation-IoU column per class name.
CLASS_IOU_COLUMNS = ("epoch", *CLASS_NAMES)
#: ``meta.json``'s record of a Continue: the total epochs the run trains to (more than ``config.json`` says).
CONTINUED_EPOCHS = "epochs"

STATUSES = ("queued", "running", "stopping", "stopped", "finished", "failed", "interrupted")
#: A worker process is (or should be) alive in these states.
ACTIVE_STATUSES = ("running", "stopping")
#: The run is over; it can be resumed (or, when finished, extended).
FINAL_STATUSES = ("stopped", "finished", "failed", "interrupted")
PHASES = ("starting", "compiling", "training", "validating", "saving", "done")

#: Largest epoch and step number a run file may hold (the config allows 10,000 epochs).
MAX_EPOCHS = 10_000
MAX_STEPS = 10_000_000
#: Bounds on what is read of one run file; a larger file is reported damaged, unread.
MAX_CSV_BYTES = {HISTORY_FILE: 16 << 20, CLASS_IOU_FILE: 16 << 20, STEPS_FILE: 64 << 20}
MAX_JSON_BYTES = 1 << 20
MAX_NPZ_BYTES = 256 << 20
