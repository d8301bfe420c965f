"""The worker's callbacks keep Keras's rules: each reads only ``logs`` and its own state and none holds
another, so their order does not matter; one ends training through ``model.stop_training``.

The same three epochs' logs go through the worker's own callbacks in the worker's order and in the
reverse order, each into its own run folder, with a real (tiny) Keras model: the files and the
progress they leave must be the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from seglib.classes import CLASS_NAMES
from seglib.training import callbacks
from seglib.training.runs import files, previews, readers
from seglib.training.runs.reporter import ProgressReporter

NUM_CLASSES = len(CLASS_NAMES)
#: (val_loss, val_mean_iou) per epoch: epoch 1 and 3 set the best IoU; the loss never improves after epoch 1.
EPOCHS = ((1.0, 0.2), (1.1, 0.1), (1.2, 0.3))
PATIENCE = 2


@pytest.fixture(scope="module")
def model():
    from seglib._tf import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(NUM_CLASSES, 1, name="logits")])


def _logs(epoch: int, best: float) -> dict:
    val_loss, val_iou = EPOCHS[epoch - 1]
    confusion = np.diag(np.full(NUM_CLASSES, 10, np.int64))
    confusion[0, 1] = epoch
    return {"epoch": epoch, "loss": 1.0 / epoch, "val_loss": val_loss, "accuracy": 0.5, "val_accuracy": 0.5,
            "mean_iou": 0.25, "val_mean_iou": val_iou, "lr": 1e-3, "seconds": 2.0, "weight_norm": 3.0,
            "val_confusion": confusion, "train_seconds": 1.5, "train_images": 12, "epoch_started": 0.0,
            "best_val_mean_iou": max(best, val_iou), "new_best": val_iou > best}


def _train_three_epochs(folder, model, reverse: bool):
    """The worker's own callbacks over EPOCHS (a 5-epoch run), in its order or reversed; return the progress
    they reported and the best.keras stamp after each epoch."""
    from seglib._tf import import_tf

    tf, _ = import_tf()
    (folder / files.PREVIEWS_DIR).mkdir(parents=True)
    reporter = ProgressReporter(folder, {})
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    own = [
        callbacks.PreviewWriter(folder, images, lambda batch, masks: (tf.argmax(model(batch), -1), None, None)),
        callbacks.Checkpoints(folder, reporter.update),
        callbacks.HistoryWriter(folder, []),
        callbacks.ProgressSummary(reporter.update),
        callbacks.EpochLine(5, verbose=False),
        callbacks.EarlyStopping(PATIENCE, 5, reporter.update),
    ]
    listed = callbacks.CallbackList(own[::-1] if reverse else own, model)
    model.stop_training = False
    listed.on_train_begin()
    best, stamps, logs = -1.0, [], {}
    for epoch in range(1, len(EPOCHS) + 1):
        logs = _logs(epoch, best)
        best = logs["best_val_mean_iou"]
        listed.on_epoch_end(epoch, logs)
        stamps.append((folder / files.BEST_CHECKPOINT).stat().st_mtime_ns)
        if model.stop_training:
            break
    listed.on_train_end(logs)
    return {name: reporter.get(name) for name in ("best_val_mean_iou", "measured_images_per_second", "message",
                                                  "phase")}, stamps, epoch


def test_the_worker_callbacks_give_the_same_run_in_any_order(model, tmp_path):
    forward, forward_stamps, forward_last = _train_three_epochs(tmp_path / "forward", model, reverse=False)
    backward, _, backward_last = _train_three_epochs(tmp_path / "backward", model, reverse=True)

    assert forward == backward
    assert forward["best_val_mean_iou"] == 0.3 and forward["measured_images_per_second"] == 8.0
    # EarlyStopping ended the run after epoch 3 (two epochs without a better val_loss) and says so last,
    # whichever callback reported a message during the epoch.
    assert forward_last == backward_last == 3
    assert forward["message"].startswith("Early stopping after epoch 3: the validation loss has not improved "
                                         "for 2 epochs (best 1.0000)")
    for name in (files.HISTORY_FILE, files.CLASS_IOU_FILE):
        assert (tmp_path / "forward" / name).read_bytes() == (tmp_path / "backward" / name).read_bytes()
    history = readers.read_history(tmp_path / "forward")
    assert history["epoch"].tolist() == [1, 2, 3] and history["seconds"].tolist() == [2.0, 2.0, 2.0]
    assert readers.read_class_iou(tmp_path / "forward")["epoch"].tolist() == [1, 2, 3]
    # best.keras is written when the epoch set the best IoU (1 and 3), not at epoch 2; last.keras every time.
    assert forward_stamps[0] == forward_stamps[1] < forward_stamps[2]
    for folder in (tmp_path / "forward", tmp_path / "backward"):
        assert (folder / files.LAST_CHECKPOINT).is_file()
        assert previews.load_previews(folder) is None  # no inputs.npz: the strip is not shown
        assert sorted(path.name for path in (folder / files.PREVIEWS_DIR).iterdir()) == [
            "epoch_001.npz", "epoch_002.npz", "epoch_003.npz"]


def test_a_callback_list_takes_only_callbacks():
    class Hook:
        def on_epoch_end(self, epoch, logs=None):
            pass

    with pytest.raises(TypeError, match="Received: Hook"):
        callbacks.CallbackList([Hook()])
