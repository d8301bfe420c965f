"""Faults on a shared machine: a killed worker, an interrupted checkpoint write,
a restarted dashboard, two start requests at the same moment.

Real workers (``python -m seglib train``) train a very small model on the
tiny 64 px dataset; the worker is killed with a real SIGKILL. The module has
its own runs folder, so no other test's run is "the machine's running job".
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard_support import wait_until
from run_support import active_runs, private_runs_dir, set_progress, small_config
from seglib.training import liveness, scheduler
from seglib.training.callbacks import Callback
from seglib.training.runs import files, folders, state
from seglib.errors import SeglibError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def own_runs_dir(tmp_path_factory):
    with private_runs_dir(tmp_path_factory.mktemp("fault-runs")) as folder:
        yield folder


def tiny_config(**overrides):
    """A small run with epochs enough to be still training when a test stops or kills it."""
    return small_config(**{"train.epochs": 200, **overrides})


def _stop_and_wait(run_ids, timeout: float = 120.0) -> None:
    for run_id in run_ids:
        if state.run_state(run_id)["status"] in ("queued", "running", "stopping"):
            try:
                scheduler.request_stop(run_id)
            except SeglibError:
                pass
    final = files.FINAL_STATUSES
    wait_until(lambda: all(state.run_state(r)["status"] in final for r in run_ids), timeout,
               message=lambda: str([state.run_state(r) for r in run_ids]))


def _dead_process() -> dict:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = liveness.process_identity(process.pid)
    process.wait()
    return identity


# ---------------------------------------------------------------------------
# two start requests at the same moment
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_two_simultaneous_starts_one_runs_the_other_is_queued(tiny_dataset):
    barrier = threading.Barrier(2)
    started: list[str] = []

    def start(name):
        barrier.wait()  # both sessions press "Start" at the same moment
        started.append(scheduler.start_run(tiny_config(), name=name))

    threads = [threading.Thread(target=start, args=(f"session {i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert len(started) == 2 and len(set(started)) == 2
        progress = {run_id: state.run_state(run_id) for run_id in started}
        statuses = sorted(p["status"] for p in progress.values())
        assert statuses == ["queued", "running"], progress
        queued = next(p for p in progress.values() if p["status"] == "queued")
        assert queued["queue_position"] == 1
        active = active_runs()
        assert len(active) == 1 and active[0] in started
    finally:
        _stop_and_wait(sorted(started, key=lambda r: state.run_state(r)["status"] != "queued"))
    assert active_runs() == []


# ---------------------------------------------------------------------------
# the worker killed with SIGKILL mid-epoch
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_mid_epoch_reads_failed_within_5_s_and_the_checkpoint_loads(tiny_dataset):
    from seglib.model.saving import load_model

    run_id = scheduler.start_run(tiny_config(), name="to be killed")
    folder = folders.run_dir(run_id)
    last = folder / files.LAST_CHECKPOINT
    try:
        # Wait for the first epoch's checkpoint, then for the next epoch to be under way.
        wait_until(lambda: last.exists() and state.run_state(run_id)["epoch"] >= 2, 150, interval=0.2,
                   message=lambda: str(state.run_state(run_id)))
        progress = state.run_state(run_id)
        assert progress["status"] == "running"
        killed_at = time.time()
        os.kill(progress["pid"], signal.SIGKILL)
        wait_until(lambda: state.run_state(run_id)["status"] == "failed", 5.0, interval=0.1,
                   message=lambda: str(state.run_state(run_id)))
        assert time.time() - killed_at < 5.0
        final = state.run_state(run_id)
        assert "the training process was killed" in final["message"].lower()
        assert [i.status for i in state.list_runs() if i.id == run_id] == ["failed"]
    except BaseException:
        _stop_and_wait([run_id])
        raise

    model = load_model(last)  # the last checkpoint is intact and loads
    assert tuple(model.output_shape) == (None, 64, 64, 20)

    # A new run can start at once (the dead worker holds nothing).
    new = scheduler.start_run(tiny_config(), name="after the kill")
    try:
        assert state.run_state(new)["status"] == "running"
    finally:
        _stop_and_wait([new])
    # The killed run can be resumed from its checkpoint (queued, then stopped here).
    assert scheduler.resume_run(run_id) == run_id
    _stop_and_wait([run_id])


def test_a_dead_worker_whose_dashboard_is_alive_reads_failed(own_runs_dir):
    folder = folders.create_run(tiny_config(), name="killed", status="running")
    set_progress(folder, status="running", epoch=3, pid=_dead_process()["pid"],
                  spawner=liveness.process_identity(os.getpid()))  # this process plays the dashboard
    progress = state.run_state(folder.name)
    assert progress["status"] == "failed" and "training process was killed" in progress["message"]
    scheduler.schedule()  # persists the verdict
    assert json.loads((folder / files.PROGRESS_FILE).read_text())["status"] == "failed"
    scheduler.delete_run(folder.name)


# ---------------------------------------------------------------------------
# the dashboard (or the machine) restarted
# ---------------------------------------------------------------------------

def test_after_a_restart_every_run_keeps_its_final_status(own_runs_dir):
    created = {}
    for status in ("finished", "stopped", "failed", "interrupted", "queued"):
        created[status] = folders.create_run(tiny_config(), name=f"was {status}", status=status).name
    # Running when the dashboard died: its worker and the dashboard that started it are both gone.
    folder = folders.create_run(tiny_config(), name="was running", status="running")
    set_progress(folder, status="running", epoch=4, pid=_dead_process()["pid"], spawner=_dead_process())
    created["running"] = folder.name
    # Running when the machine rebooted: the pid of its dashboard now belongs to a process started later.
    folder = folders.create_run(tiny_config(), name="was running at reboot", status="running")
    earlier = {"pid": os.getpid(), "start": liveness.process_start_time(os.getpid()) - 3600}
    set_progress(folder, status="running", epoch=1, pid=_dead_process()["pid"], spawner=earlier)
    created["reboot"] = folder.name

    # A "restarted dashboard": a fresh Python process lists the runs.
    code = ("import json; from seglib.training.runs import state\n"
            "print(json.dumps({i.id: i.status for i in state.list_runs()}))\n")
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True,
                            text=True, timeout=120, check=True).stdout
    listed = json.loads(output.strip().splitlines()[-1])
    expected = {"finished": "finished", "stopped": "stopped", "failed": "failed", "interrupted": "interrupted",
                "queued": "queued", "running": "interrupted", "reboot": "interrupted"}
    assert {key: listed[run_id] for key, run_id in created.items()} == expected
    assert "Resume it" in state.run_state(created["running"])["message"]
    scheduler.request_stop(created["queued"])
    for run_id in created.values():
        scheduler.delete_run(run_id)


# ---------------------------------------------------------------------------
# a checkpoint write interrupted (full disk, exception mid-write)
# ---------------------------------------------------------------------------

def test_an_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, build_tiny_model):
    from seglib.model.saving import load_model, save_model

    model = build_tiny_model()  # its save is replaced below: a model of this test's own
    path = save_model(model, tmp_path / "last.keras")
    before = path.read_bytes()

    def disk_full(target, *args, **kwargs):
        Path(target).write_bytes(b"PK\x03\x04 half a checkpoint")  # some bytes reached the disk...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...then the disk was full

    model.save = disk_full
    with pytest.raises(OSError, match="No space left"):
        save_model(model, path)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.keras"]  # no half file left behind
    assert tuple(load_model(path).output_shape) == (None, 64, 64, 20)

    def crash(target, *args, **kwargs):
        Path(target).write_bytes(b"PK")
        raise KeyboardInterrupt  # the process interrupted mid-write

    model.save = crash
    with pytest.raises(KeyboardInterrupt):
        save_model(model, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.keras"]


# ---------------------------------------------------------------------------
# messages that tell the truth: a stop at the very end, data that cannot be used
# ---------------------------------------------------------------------------

#: One tiny epoch (8 training images in 2 steps, 4 validation images).
ONE_EPOCH = {"train.epochs": 1, "model.width": 0.35, "model.low_level_filters": 8,
             "data.train_count": 8, "data.val_count": 4}


class _StopAt(Callback):
    """Ask for a stop (the STOP file, as the dashboard writes it) at one point of the training loop."""

    def __init__(self, folder, batch=None, epoch_end=False):
        super().__init__()
        self.folder, self.batch, self.epoch_end = folder, batch, epoch_end

    def on_train_batch_end(self, step, logs=None):
        if self.batch is not None and (logs["epoch"], step) == self.batch:
            (self.folder / files.STOP_FILE).write_text("stop\n")

    def on_epoch_end(self, epoch, logs=None):
        if self.epoch_end:  # the request lands while the last epoch's results are being written
            (self.folder / files.STOP_FILE).write_text("stop\n")


def _tick_after_every_update(monkeypatch) -> None:
    """The worker's progress thread writes progress.json right after each update (it does once a
    second), so a stop request is seen by the very next one."""
    from seglib.training.runs.reporter import ProgressReporter

    update = ProgressReporter.update

    def update_then_tick(reporter, **fields):
        update(reporter, **fields)
        reporter.write()

    monkeypatch.setattr(ProgressReporter, "update", update_then_tick)


@pytest.mark.slow
def test_a_stop_after_the_last_epochs_work_finishes_with_a_true_message_and_no_stop_file(tiny_dataset,
                                                                                          monkeypatch):
    from seglib.training.worker import train

    folder = folders.create_run(tiny_config(**ONE_EPOCH), status="running")
    _tick_after_every_update(monkeypatch)
    assert train(folder, callbacks=[_StopAt(folder, epoch_end=True)]) == "finished"
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "finished", progress
    assert "finishing the current batch" not in progress["message"]
    assert "Finished" in progress["message"] and "nothing was left to stop" in progress["message"]
    assert not (folder / files.STOP_FILE).exists()
    assert state.run_state(folder.name)["stop_requested"] is False
    scheduler.delete_run(folder.name)


@pytest.mark.slow
def test_a_stop_in_the_last_batch_ends_stopped_and_removes_the_stop_file(tiny_dataset, monkeypatch):
    from seglib.training.worker import train

    folder = folders.create_run(tiny_config(**ONE_EPOCH), status="running")
    _tick_after_every_update(monkeypatch)
    assert train(folder, callbacks=[_StopAt(folder, batch=(1, 2))]) == "stopped"
    progress = json.loads((folder / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "stopped" and progress["message"].startswith("Stopped at epoch 1")
    assert not (folder / files.STOP_FILE).exists()
    scheduler.delete_run(folder.name)


def _unlabelled_validation_copy(tiny_dataset, root):
    """A copy of the tiny dataset at ``root`` whose validation masks label no pixel (every pixel "ignore")."""
    import shutil

    import cv2

    if not root.exists():
        shutil.copytree(tiny_dataset, root)
        for mask in (root / "Validation" / "Category_ids").glob("*.png"):
            shape = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED).shape[:2]
            cv2.imwrite(str(mask), np.full(shape, 255, np.uint8))
    return root


def test_a_validation_split_without_labelled_pixels_fails_before_training(tiny_dataset, data_root):
    from seglib.training.worker import train

    root = _unlabelled_validation_copy(tiny_dataset, data_root / "unlabelled-validation")
    folder = folders.create_run(tiny_config(**ONE_EPOCH, **{"data.root": root.name}), status="running")
    started = time.time()
    assert train(folder) == "failed"
    assert time.time() - started < 30  # before TensorFlow builds anything
    message = json.loads((folder / files.PROGRESS_FILE).read_text())["message"]
    assert "validation split" in message and "no labelled pixel" in message, message
    assert not (folder / files.HISTORY_FILE).exists()
    scheduler.delete_run(folder.name)


def test_train_on_a_file_instead_of_a_dataset_folder_creates_no_run_folder(own_runs_dir, tmp_path, capsys):
    from seglib.cli.main import main

    not_a_folder = tmp_path / "dataset.zip"
    not_a_folder.write_bytes(b"PK\x03\x04")
    before = sorted(p.name for p in own_runs_dir.iterdir())
    assert main(["train", "--data", str(not_a_folder), "--epochs", "1"]) == 1
    assert main(["train", "--data", str(not_a_folder), "--run-dir", str(own_runs_dir / "named")]) == 1
    assert sorted(p.name for p in own_runs_dir.iterdir()) == before
    error = capsys.readouterr().err
    assert "dataset.zip" in error and "is a file, not a dataset folder" in error


def test_train_on_a_missing_or_unusable_folder_creates_no_run_folder(own_runs_dir, tmp_path, capsys):
    from seglib.cli.main import main

    empty = tmp_path / "empty_dataset"
    empty.mkdir()
    before = sorted(p.name for p in own_runs_dir.iterdir())
    assert main(["train", "--data", str(tmp_path / "no_such_folder"), "--epochs", "1"]) == 1
    assert main(["train", "--data", str(empty), "--epochs", "1"]) == 1
    assert sorted(p.name for p in own_runs_dir.iterdir()) == before
    error = capsys.readouterr().err
    assert "no_such_folder" in error and "empty_dataset" in error


def test_masks_the_worker_would_refuse_create_no_run_folder(own_runs_dir, tiny_dataset, data_root, capsys):
    """The validation masks label no pixel: the worker refuses them, so neither ``train`` nor Start
    (``scheduler.start_run``) leaves a failed run folder behind."""
    from seglib.cli.main import main
    from seglib.errors import DatasetError

    root = _unlabelled_validation_copy(tiny_dataset, data_root / "unlabelled-validation-before")
    before = sorted(p.name for p in own_runs_dir.iterdir())
    assert main(["train", "--data", root.name, "--epochs", "1", "--image-size", "64"]) == 1
    assert "The validation split has no labelled pixel" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="The validation split has no labelled pixel"):
        scheduler.start_run(tiny_config(**{"data.root": root.name}))
    assert sorted(p.name for p in own_runs_dir.iterdir()) == before
