"""Writing run folders when the disk says no, and what a run's saved config may become.

An unwritable runs folder is a real one: ``SEGLIB_RUNS_DIR`` below a regular file (every
write there fails with the operating system's own error, also for root, where a chmod
stops nothing), or a file where a run writes a folder. A full disk is the worker's
own end-of-epoch hook raising the error a full disk raises. Continue and Resume run
real workers on the tiny 64 px dataset.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from dashboard_support import wait_until
from run_support import end_workers, private_runs_dir, small_config
from seglib import settings
from seglib.errors import RunError, RunFolderWriteError
from seglib.training import scheduler
from seglib.training.callbacks import Callback
from seglib.training.runs import files, folders, readers, state, writers
from seglib.training.worker import train


@pytest.fixture(autouse=True)
def own_runs_dir(tmp_path):
    with private_runs_dir(tmp_path / "runs") as folder:
        yield folder
        end_workers()  # a worker a failed test left running is stopped, then killed


def _unwritable_runs_dir(tmp_path: Path) -> Path:
    """A runs folder whose parent is a regular file: nothing can ever be created in it."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder's parent should be\n")
    return blocker / "runs"


def _no_path_in(text: str, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in text and path.name not in text, text


def test_starting_a_run_in_an_unwritable_runs_folder_names_the_folders_role_and_what_to_do(tmp_path,
                                                                                           tiny_dataset):
    runs = _unwritable_runs_dir(tmp_path)
    with private_runs_dir(runs):
        with pytest.raises(RunFolderWriteError) as caught:
            scheduler.start_run(small_config(), name="nowhere")
        message = str(caught.value)
        assert message.startswith("Could not write to the runs folder while ")
        assert "a file stands where a folder of its path should be" in message
        assert "set SEGLIB_RUNS_DIR to a writable folder" in message
        _no_path_in(message, runs.parent)
        with pytest.raises(RunFolderWriteError, match="^Could not write to the runs folder while creating the run"):
            folders.create_run(small_config())


def test_a_rename_that_cannot_write_says_so(own_runs_dir, tiny_dataset):
    folder = folders.create_run(small_config(), name="before", status="finished")
    (folder / files.META_FILE).unlink()
    (folder / files.META_FILE).mkdir()
    with pytest.raises(RunFolderWriteError) as caught:
        folders.rename_run(folder.name, "after")
    assert str(caught.value).startswith("Could not write to the run's folder while renaming the run: a folder "
                                        "stands where a file should be written.")
    _no_path_in(str(caught.value), own_runs_dir)


@pytest.mark.slow
def test_a_full_disk_says_so_keeps_the_last_checkpoint_and_resume_continues(own_runs_dir, tiny_dataset):
    class DiskFullAt(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise OSError(errno.ENOSPC, "No space left on device")

    folder = folders.create_run(small_config(**{"train.epochs": 3, "data.train_count": 8,
                                                "data.val_count": 4}), status="running")
    assert train(folder, callbacks=[DiskFullAt()]) == "failed"
    progress = state.run_state(folder.name)
    assert progress["message"] == (
        "The disk is full (no space left on device): training stopped in epoch 2. The last checkpoint "
        "(last.keras, after epoch 2) is intact. Free some space (old runs can be deleted on the Training page), "
        "then press Resume: the run continues from that checkpoint.")
    assert "Errno" not in progress["message"]
    assert state.epochs_done(folder) == 2 and (folder / files.LAST_CHECKPOINT).is_file()
    assert train(folder, resume=True) == "finished"  # space freed: Resume continues after epoch 2
    assert list(readers.read_history(folder)["epoch"]) == [1, 2, 3]


def _config_without(folder: Path, section: str, name: str) -> bytes:
    raw = json.loads((folder / files.CONFIG_FILE).read_text())
    del raw[section][name]
    (folder / files.CONFIG_FILE).write_text(json.dumps(raw))
    return (folder / files.CONFIG_FILE).read_bytes()


def test_continue_on_a_run_whose_config_lost_a_field_is_refused_and_changes_nothing(own_runs_dir, tiny_dataset):
    folder = folders.create_run(small_config(), name="64 px", status="finished")
    saved = _config_without(folder, "model", "image_size")
    with pytest.raises(readers.DamagedRunError) as caught:
        scheduler.resume_run(folder.name, epochs=5)
    assert "config.json has no model.image_size" in str(caught.value)
    assert "damaged" in str(caught.value)
    assert (folder / files.CONFIG_FILE).read_bytes() == saved
    info = next(info for info in state.list_runs() if info.id == folder.name)
    assert "config.json is damaged (config.json has no model.image_size" in info.damaged


def test_a_run_from_a_newer_version_is_not_called_damaged(own_runs_dir, tiny_dataset):
    folder = folders.create_run(small_config(), name="newer", status="finished")
    raw = json.loads((folder / files.CONFIG_FILE).read_text())
    raw["version"] += 1
    (folder / files.CONFIG_FILE).write_text(json.dumps(raw))
    with pytest.raises(RunError) as caught:
        state.training_config(folder)
    assert "written by a newer version of the project" in str(caught.value)
    assert "damaged" not in str(caught.value) and "delete" not in str(caught.value).lower()
    assert next(info for info in state.list_runs() if info.id == folder.name).damaged == ""


@pytest.mark.slow
def test_continue_trains_at_the_runs_own_size_and_leaves_config_json_byte_identical(own_runs_dir, tiny_dataset):
    folder = folders.create_run(small_config(**{"train.epochs": 1, "data.train_count": 8, "data.val_count": 4}),
                                name="64 px", status="running")
    assert train(folder) == "finished"
    saved = (folder / files.CONFIG_FILE).read_bytes()
    scheduler.resume_run(folder.name, epochs=2)  # Continue: queued, a worker starts at once
    progress = _wait_final(folder.name)
    assert progress["status"] == "finished", (progress, readers.read_log(folder)[-2000:])
    assert (folder / files.CONFIG_FILE).read_bytes() == saved
    assert list(readers.read_history(folder)["epoch"]) == [1, 2]
    assert state.training_config(folder).train.epochs == 2  # the Continue's total, from meta.json
    assert state.training_config(folder).model.image_size == 64
    log = readers.read_log(folder)
    assert log.count("at 64 px") == 2 and "at 128 px" not in log  # both sessions trained at the run's size
    assert next(info for info in state.list_runs() if info.id == folder.name).epochs == 2


def _wait_final(run_id: str, timeout: float = 240.0) -> dict:
    def final() -> dict | None:
        progress = state.run_state(run_id)
        return progress if progress["status"] in files.FINAL_STATUSES else None

    return wait_until(final, timeout, message=lambda: f"run {run_id} still {state.run_state(run_id)}")


def test_messages_never_name_the_runs_folder_by_path(tmp_path):
    error = writers.write_error(OSError(errno.EROFS, "Read-only file system", str(settings.runs_dir())),
                                "starting the run", writers.RUNS_FOLDER)
    assert str(error) == ("Could not write to the runs folder while starting the run: it lies on a read-only file "
                          "system. Make that disk writable, or set SEGLIB_RUNS_DIR to a writable folder (README, "
                          "Settings) and restart the dashboard.")
    assert error.errno == errno.EROFS
