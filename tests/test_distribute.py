"""Scale-out with TensorFlow's own tf.distribute: ``train.strategy = 'mirrored'`` on two
logical CPU devices.

Logical devices must be configured before TensorFlow initialises, so the run
happens in a fresh Python process that splits the CPU in two and then calls the
real worker (``seglib.training.worker.train``) on a run folder made here. The same tiny
model and data as ``tests/test_train.py`` (64 px, 8 training images): about
half a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from run_support import private_runs_dir
from seglib.training.runs import files, folders, readers, state
from seglib.presets import get_preset

ROOT = Path(__file__).resolve().parent.parent

TINY_MODEL = {
    "model.image_size": 64, "model.width": 0.35, "model.aspp_filters": 16, "model.decoder_filters": 16,
    "model.low_level_filters": 8, "train.batch_size": 2, "train.epochs": 1,
    "data.train_count": 8, "data.val_count": 4, "data.root": "synthetic",
}

#: Run in a fresh interpreter: two logical CPUs, then the real worker.
TWO_CPU_WORKER = """
import json, sys
from seglib._tf import import_tf
tf, keras = import_tf()
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from seglib.training.worker import train
status = train(sys.argv[1])
print("RESULT " + json.dumps({"status": status, "logical_cpus": len(tf.config.list_logical_devices("CPU"))}))
"""


@pytest.fixture(scope="module", autouse=True)
def own_runs_dir(tmp_path_factory):
    with private_runs_dir(tmp_path_factory.mktemp("runs-distribute")) as folder:
        yield folder


def _train_in_a_subprocess(worker: str, overrides: dict, name: str) -> tuple[Path, dict]:
    """A run folder for the tiny model with ``overrides``, trained by the ``worker`` script in a fresh
    interpreter; the folder and the worker's RESULT line."""
    config = get_preset("lecture").with_overrides({**TINY_MODEL, **overrides})
    folder = folders.create_run(config, name=name, status="running")
    result = subprocess.run([sys.executable, "-c", worker, str(folder)], cwd=ROOT, env=dict(os.environ),
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    return folder, json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def mirrored_run(tiny_dataset):
    folder, outcome = _train_in_a_subprocess(TWO_CPU_WORKER, {"train.strategy": "mirrored"}, "mirrored")
    assert outcome["status"] == "finished", readers.read_log(folder)[-4000:]
    return folder, outcome


@pytest.mark.slow
def test_mirrored_strategy_trains_on_two_logical_cpus_with_the_batch_scaled(mirrored_run):
    folder, result = mirrored_run
    assert result == {"status": "finished", "logical_cpus": 2}
    progress = state.run_state(folder.name)
    assert progress["status"] == "finished"
    # 2 per replica x 2 replicas = global batch 4: 8 images in 2 steps, not 4
    assert progress["replicas"] == 2 and progress["global_batch_size"] == 4
    assert progress["steps_per_epoch"] == 2
    log = readers.read_log(folder)
    assert "MirroredStrategy (2 replicas)" in log


@pytest.mark.slow
def test_a_mirrored_run_writes_the_same_run_folder_as_one_device(mirrored_run):
    from seglib.model.saving import load_model

    folder, _ = mirrored_run
    for name in (files.CONFIG_FILE, files.HISTORY_FILE, files.PROGRESS_FILE, "best.keras", "last.keras"):
        assert (folder / name).is_file(), name
    history = readers.read_history(folder)
    assert len(history) == 1
    row = history.iloc[0]
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["val_mean_iou"] <= 1.0
    assert row["loss"] > 0 and row["val_loss"] > 0
    # the checkpoint loads on one device, with float32 logits of the configured shape
    model = load_model(folder / "last.keras")
    assert tuple(model.output.shape[1:]) == (64, 64, 20)
    assert str(model.output.dtype) == "float32"


@pytest.mark.slow
def test_auto_settings_on_a_cpu_keep_float32_and_xla_off(mirrored_run):
    folder, _ = mirrored_run
    assert "mixed precision off; XLA off" in readers.read_log(folder)


ONE_DEVICE_WORKER = """
import json, sys
from seglib.training.worker import train
print("RESULT " + json.dumps({"status": train(sys.argv[1])}))
"""


@pytest.mark.slow
def test_mixed_precision_on_trains_with_float16_compute_and_float32_logits(tiny_dataset):
    """The GPU path's policy, forced on a CPU: float16 layers, loss scaling, float32 logits in the checkpoint.

    In a subprocess: the worker sets Keras' global dtype policy, which must not leak into other tests.
    """
    from seglib.model.saving import load_model

    folder, outcome = _train_in_a_subprocess(ONE_DEVICE_WORKER, {"train.mixed_precision": "on"}, "mixed")
    log = readers.read_log(folder)
    assert outcome["status"] == "finished", log[-4000:]
    assert "mixed precision on" in log
    history = readers.read_history(folder)
    assert len(history) == 1 and history.iloc[0]["loss"] > 0
    model = load_model(folder / "last.keras")
    assert str(model.output.dtype) == "float32"


def test_under_the_mixed_policy_layers_compute_in_float16_and_logits_stay_float32():
    from seglib._tf import keras
    from seglib.model.deeplab import build_model

    config = get_preset("lecture").with_overrides(TINY_MODEL).model
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(config)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert any(layer.compute_dtype == "float16" for layer in model.layers)
    assert str(model.output.dtype) == "float32"
