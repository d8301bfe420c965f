"""The training worker on real TensorFlow: a run to the end, a stop and a resume
through the real CLI, a NaN loss and crashes. Tiny model (64 px, 16 filters) on
the 64 px synthetic fixture, so the whole file takes about a minute on 2 cores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard_support import wait_until
from seglib.training import planning
from seglib.training.callbacks import Callback
from seglib.training.runs import files, folders, previews, readers, state
from seglib.classes import CLASS_NAMES
from seglib.presets import get_preset
from seglib.training.worker import train

pytestmark = pytest.mark.slow  # real training runs (seconds each)

ROOT = Path(__file__).resolve().parent.parent

#: Overrides that make the lecture preset tiny: 8 training images in 2 steps.
TINY_MODEL = {
    "model.image_size": 64, "model.width": 0.35, "model.aspp_filters": 16, "model.decoder_filters": 16,
    "model.low_level_filters": 8, "train.batch_size": 4, "train.epochs": 2,
    "data.train_count": 8, "data.val_count": 4, "data.root": "synthetic",
}


@pytest.fixture(scope="module", autouse=True)
def own_runs_dir(tmp_path_factory):
    """A runs folder for this module only: a run that another test file (a page test)
    left running never counts as 'the machine's running job' here, and ours never block theirs."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGLIB_RUNS_DIR", str(folder))
        yield folder


def tiny_config(**overrides):
    return get_preset("lecture").with_overrides({**TINY_MODEL, **overrides})


class Fault(Callback):
    """Inject a fault into the loop at a given point (a callback of ``train(callbacks=...)``)."""

    def __init__(self, on_train_begin=None, on_batch_end=None):
        super().__init__()
        self._begin, self._batch = on_train_begin, on_batch_end

    def on_train_begin(self, logs=None):
        if self._begin:
            self._begin(self.model)

    def on_train_batch_end(self, step, logs=None):
        if self._batch:
            self._batch(self.model, logs["epoch"], step)


@pytest.fixture(scope="module")
def finished_run(tiny_dataset):
    folder = folders.create_run(tiny_config(), name="tiny", status="running")
    status = train(folder)
    return folder, status


def test_a_run_trains_to_finished_and_writes_the_whole_run_folder(finished_run):
    from seglib.model.saving import load_model

    folder, status = finished_run
    run_id = folder.name
    assert status == "finished"
    progress = state.run_state(run_id)
    assert progress["status"] == "finished" and progress["phase"] == "done"
    assert progress["steps_per_epoch"] == 2 and progress["epoch"] == 2
    assert progress["first_batch_at"] >= progress["started_at"]

    history = readers.read_history(folders.run_dir(run_id))
    assert list(history.columns) == list(files.HISTORY_FILE_COLUMNS)
    assert history["epoch"].tolist() == [1, 2]
    assert history[["loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds", "weight_norm"]
                   ].notna().all().all()
    assert ((history["val_mean_iou"] >= 0) & (history["val_mean_iou"] <= 1)).all()
    # The learning rate follows the schedule the page draws (ExponentialDecay per step).
    schedule = planning.lr_schedule(state.training_config(folders.run_dir(run_id)), steps=5)
    assert history["lr"].tolist() == pytest.approx([schedule[2], schedule[4]], rel=1e-5)

    steps = readers.read_steps(folders.run_dir(run_id))
    assert steps[["epoch", "step"]].values.tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    class_iou = readers.read_class_iou(folders.run_dir(run_id))
    assert class_iou["epoch"].tolist() == [1, 2] and list(class_iou.columns[1:]) == list(CLASS_NAMES)

    strip = previews.load_previews(folders.run_dir(run_id))
    assert strip["images"].shape == (4, 64, 64, 3) and strip["truth"].shape == (4, 64, 64)
    assert strip["epochs"] == [1, 2] and strip["predictions"][2].shape == (4, 64, 64)
    assert strip["predictions"][2].max() < len(CLASS_NAMES)

    for checkpoint in (files.BEST_CHECKPOINT, files.LAST_CHECKPOINT):
        model = load_model(folder / checkpoint)
        assert model.output_shape == (None, 64, 64, len(CLASS_NAMES))
    # The weight norm of the last epoch is the L2 norm of last.keras's trainable kernels, measured again
    # here by hand: every Conv kernel the epoch trained (the backbone is fixed in this preset's first
    # epochs), no bias, no BatchNorm scale or offset.
    from seglib.training.steps import freeze_backbone

    freeze_backbone(model, state.training_config(folders.run_dir(run_id)), epoch=2)
    kernels = [v.numpy() for v in model.trainable_variables if "kernel" in v.name]
    assert kernels and not any(name in v.name for v in model.trainable_variables for name in ("gamma", "beta")
                               if "kernel" in v.name)
    assert history["weight_norm"].iloc[-1] == pytest.approx(
        float(np.sqrt(sum(np.sum(np.square(k.astype(np.float64))) for k in kernels))), rel=1e-6)
    info = [r for r in state.list_runs() if r.id == run_id][0]
    assert info.status == "finished" and info.epochs_done == 2 and info.name == "tiny"
    assert info.best_val_mean_iou == pytest.approx(history["val_mean_iou"].max())
    log = (folder / files.LOG_FILE).read_text()
    assert "First batch done" in log and "epoch 2/2" in log


def test_the_cli_trains_in_a_subprocess_stops_on_the_stop_file_and_resumes(tiny_dataset, own_runs_dir):
    folder = own_runs_dir / "cli-stop-resume"
    command = [sys.executable, "-m", "seglib", "train", "--preset", "lecture", "--epochs", "6",
               "--batch-size", "4", "--image-size", "64", "--train", "8", "--val", "4", "--lr", "0.002",
               "--decay-steps", "2", "--decay-rate", "0.5", "--set", "model.aspp_filters=16",
               "--set", "model.decoder_filters=16", "--set", "model.low_level_filters=8",
               "--data", str(tiny_dataset), "--run-dir", str(folder), "--name", "from the CLI"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The first epoch's row (then ask it to stop), or the process ended by itself (checked below).
        wait_until(lambda: process.poll() is not None or len(readers.read_history(folder)),
                   240, interval=0.2, message="the CLI run wrote no epoch")
        if process.poll() is None:
            (folder / files.STOP_FILE).write_text("stop\n")
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    # stdout: one line per epoch and the final status, no TensorFlow noise on stderr.
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("epoch 1/6  loss ")
    assert lines[-2].startswith("stopped: Stopped at epoch") and lines[-1].startswith("run folder:")
    assert stderr.strip() == ""

    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "stopped" and "last.keras saved" in progress["message"]
    assert (folder / files.LAST_CHECKPOINT).exists()
    config = json.loads((folder / files.CONFIG_FILE).read_text())
    assert config["data"]["root"] == "synthetic"  # under the data folder: stored relative
    assert config["train"]["learning_rate"] == 0.002 and config["model"]["aspp_filters"] == 16
    assert json.loads((folder / files.META_FILE).read_text())["name"] == "from the CLI"
    done = readers.read_history(folder)
    # The stop came once epoch 1 was in the history; tiny epochs are fast, so a
    # later one may have finished meanwhile, but never the whole run.
    assert 1 <= len(done) < 6 and done["epoch"].tolist() == list(range(1, len(done) + 1))

    # Resume (in-process): continues the epochs, the history and the learning-rate schedule.
    assert train(folder, resume=True) == "finished"
    history = readers.read_history(folder)
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5, 6]
    assert history.loc[: len(done) - 1].values.tolist() == done.values.tolist()  # kept as they were
    lr = history["lr"].tolist()
    # 2 steps per epoch, the rate halves every 2 steps: after epoch e at most 0.002 * 0.5**e
    # (a schedule restarted at step 0 by the resume would break this and repeat an earlier rate).
    assert all(rate <= 0.002 * 0.5 ** epoch * (1 + 1e-5) for epoch, rate in enumerate(lr, start=1))
    assert all(later < earlier for earlier, later in zip(lr, lr[1:]))
    assert json.loads((folder / files.PROGRESS_FILE).read_text())["status"] == "finished"


def test_a_nan_loss_fails_the_run_with_a_message_that_says_what_to_do(tiny_dataset):
    def poison(model, epoch, step):
        if step == 1:
            names = {layer.name for layer in model.layers}
            layer = model.get_layer("head_logits" if "head_logits" in names else "logits")  # the 1x1 conv
            layer.set_weights([np.full_like(w, np.nan) for w in layer.get_weights()])

    folder = folders.create_run(tiny_config(), status="running")
    assert train(folder, callbacks=[Fault(on_batch_end=poison)]) == "failed"
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "failed" and progress["phase"] == "done"
    assert "loss became NaN at epoch 1, step 2" in progress["message"]
    assert "Lower the learning rate" in progress["message"]
    assert not (folder / files.LAST_CHECKPOINT).exists()


def test_an_exception_fails_the_run_with_the_error_text_and_the_traceback_in_the_log(tiny_dataset):
    def crash(model):
        raise RuntimeError("injected failure")

    folder = folders.create_run(tiny_config(), status="running")
    assert train(folder, callbacks=[Fault(on_train_begin=crash)]) == "failed"
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "failed"
    assert progress["error"] == "RuntimeError: injected failure"
    assert "Traceback" not in progress["message"]
    assert "Traceback" in (folder / files.LOG_FILE).read_text()


def test_a_missing_dataset_fails_fast_with_a_clear_message(data_root):
    folder = folders.create_run(tiny_config(**{"data.root": "no-such-dataset"}), status="running")
    started = time.time()
    assert train(folder) == "failed"
    assert time.time() - started < 30
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert "no-such-dataset" in progress["message"] and "does not exist" in progress["message"]


def test_a_stop_requested_before_training_ends_the_run_as_stopped(tiny_dataset):
    folder = folders.create_run(tiny_config(), status="running")
    (folder / files.STOP_FILE).write_text("stop\n")
    assert train(folder) == "stopped"
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "stopped" and "before training started" in progress["message"]


def test_cli_rejects_config_flags_with_resume(tiny_dataset, finished_run):
    from seglib.cli.main import main

    folder, _ = finished_run
    assert main(["train", "--resume", str(folder), "--lr", "0.1"]) == 1


def test_cli_overrides_map_to_config_fields(tiny_dataset):
    import argparse

    from seglib.cli.train import config_from_args, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["train", "--preset", "course", "--epochs", "7", "--batch-size", "2",
                              "--image-size", "256", "--train", "100", "--val", "10", "--lr", "1e-4",
                              "--weight-decay", "0.001", "--decay-steps", "500", "--decay-rate", "0.8",
                              "--optimizer", "adam", "--width", "0.5", "--early-stopping", "3",
                              "--set", "model.atrous_rates=2,4,6", "--data", "synthetic"])
    config = config_from_args(args)
    assert (config.preset, config.train.epochs, config.train.batch_size, config.model.image_size) == \
        ("course", 7, 2, 256)
    assert (config.data.train_count, config.data.val_count, config.data.root) == (100, 10, "synthetic")
    assert (config.train.learning_rate, config.train.weight_decay, config.train.decay_steps,
            config.train.decay_rate, config.train.optimizer) == (1e-4, 0.001, 500, 0.8, "adam")
    assert config.model.width == 0.5 and config.model.atrous_rates == (2, 4, 6)
    assert config.train.early_stopping_patience == 3


def test_make_optimizer_follows_the_presets():
    from seglib._tf import keras
    from seglib.training.steps import make_optimizer

    lecture = make_optimizer(get_preset("lecture").train)
    assert isinstance(lecture, keras.optimizers.AdamW)
    assert lecture.weight_decay == pytest.approx(get_preset("lecture").train.weight_decay)
    example = make_optimizer(get_preset("keras-example").train)
    assert type(example) is keras.optimizers.Adam
    assert float(example.learning_rate) == pytest.approx(1e-3)


def test_a_finished_run_becomes_a_demo_model_with_its_card(finished_run, tmp_path):
    from seglib.training import demo
    from seglib.model.saving import load_model

    folder, _ = finished_run
    card = demo.write_demo_assets(folder, tmp_path, reproduce="python -m seglib demo-model --epochs 2")
    assert demo.has_demo_model(tmp_path) and demo.load_demo_card(tmp_path) == json.loads(
        (tmp_path / demo.CARD_JSON).read_text())
    history = readers.read_history(folder)
    assert card["val_mean_iou"] == pytest.approx(history["val_mean_iou"].max(), abs=1e-4)
    assert card["epochs"] == 2 and card["config"]["preset"] == "lecture"
    assert set(card["per_class_iou"]) == set(CLASS_NAMES) and card["dataset"]["synth_seed"] == 0
    load_model(demo.demo_model_path(tmp_path))  # the shipped file loads
    assert card["size_bytes"] < (folder / files.BEST_CHECKPOINT).stat().st_size
    markdown = (tmp_path / demo.CARD_MARKDOWN).read_text()
    assert "python -m seglib demo-model --epochs 2" in markdown and "| Sunglasses |" in markdown


def test_the_shipped_demo_model_loads_and_meets_its_target():
    from seglib.training import demo
    from seglib.model.saving import load_model

    if not demo.has_demo_model():
        pytest.skip("assets/demo_model has not been built yet")
    card = demo.load_demo_card()
    assert card["val_mean_iou"] >= 0.55 and card["preset"] == "lecture"
    assert demo.demo_model_path().stat().st_size < 5_000_000
    model = load_model(demo.demo_model_path())
    assert model.output_shape[-1] == len(CLASS_NAMES)


@pytest.mark.parametrize("loss", ["weighted-cross-entropy", "cross-entropy+dice"])
def test_the_loss_is_a_choice_of_the_config_and_the_run_says_which(tiny_dataset, loss):
    config = tiny_config(**{"train.loss": loss, "train.epochs": 1})
    folder = folders.create_run(config, status="running")
    assert train(folder) == "finished"
    log = (folder / files.LOG_FILE).read_text()
    assert f"Loss: {loss}" in log
    if loss == "weighted-cross-entropy":
        assert "Class weights (median frequency over 8 training masks)" in log
    history = readers.read_history(folder)
    assert len(history) == 1 and history["loss"].iloc[0] > 0
    assert json.loads((folder / files.CONFIG_FILE).read_text())["train"]["loss"] == loss


def test_an_unknown_loss_is_refused_with_the_valid_names():
    from seglib.errors import ConfigError

    with pytest.raises(ConfigError, match="train.loss must be one of .*'focal'.*Received: 'hinge'"):
        tiny_config(**{"train.loss": "hinge"})
