"""Run files are untrusted input: every reader of a run folder returns typed,
validated data or a typed "damaged" error for that run only.

Real files on disk: each test writes a damaged file into a real run folder and
reads it through ``seglib.training.runs`` as the pages do. A healthy run sits next to
the damaged ones, and must stay readable and unchanged.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from run_support import HISTORY, active_runs, private_runs_dir
from seglib.training import scheduler
from seglib.training.runs import files, folders, previews, readers, state
from seglib.classes import CLASS_NAMES
from seglib.presets import get_preset
from seglib.errors import RunError

HEADER = HISTORY.split("\n", 1)[0] + "\n"      # the columns the worker writes
GOOD_ROWS = HISTORY.split("\n", 1)[1]           # two good epochs


@pytest.fixture(scope="module", autouse=True)
def own_runs_dir(tmp_path_factory):
    with private_runs_dir(tmp_path_factory.mktemp("damaged-runs")) as folder:
        yield folder


@pytest.fixture()
def run(own_runs_dir, run_folder):
    """A finished run folder with a good history; deleted after the test."""
    return run_folder("finished", history=HISTORY)


@pytest.fixture()
def healthy(own_runs_dir, run_folder):
    """A second one that every damage to ``run`` must leave readable and unchanged."""
    return run_folder("finished", "healthy", history=HISTORY)


def _info(run_id: str) -> state.RunInfo:
    return next(info for info in state.list_runs() if info.id == run_id)


def _assert_healthy_untouched(healthy) -> None:
    info = _info(healthy.name)
    assert info.damaged == "" and info.epochs_done == 2 and info.best_val_mean_iou == pytest.approx(0.22)
    assert readers.read_history(healthy)["epoch"].tolist() == [1, 2]


# ---------------------------------------------------------------------------
# history.csv
# ---------------------------------------------------------------------------

def test_a_bad_history_row_is_skipped_counted_and_reported_on_the_run(run, healthy):
    (run / files.HISTORY_FILE).write_text(HEADER + GOOD_ROWS + "inf,x,y,z,,,,,\n")
    history = readers.read_history(run)
    assert history["epoch"].tolist() == [1, 2]
    assert history["epoch"].dtype == np.int64 and history["val_mean_iou"].dtype == np.float64
    assert history.attrs["skipped_rows"] == 1
    assert "1 damaged row skipped" in readers.damage_note(history)
    info = _info(run.name)
    assert info.epochs_done == 2 and info.best_val_mean_iou == pytest.approx(0.22)
    assert "history.csv" in info.damaged and "1 damaged row skipped" in info.damaged
    _assert_healthy_untouched(healthy)


@pytest.mark.parametrize("row", [
    "3,1.9,1.8,0.7,0.7,0.3,7.5,0.002,28.0",        # a mean IoU of 7.5
    "3,1.9,1.8,0.7,0.7,0.3,inf,0.002,28.0",        # an infinite mean IoU
    "99999999999999999999,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",  # an epoch past int64
    "20000,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",     # more epochs than a config may have
    "0,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",         # epochs count from 1
    "2.5,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",       # a fractional epoch
    "nan,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",       # no epoch
    "3,-1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0",        # a negative loss
    "3,1.9,inf,0.7,0.7,0.3,0.3,0.002,28.0",         # an infinite loss
    "3,1.9,1.8,1.7,0.7,0.3,0.3,0.002,28.0",         # an accuracy above 1
    "3,1.9,1.8,0.7,-0.1,0.3,0.3,0.002,28.0",        # an accuracy below 0
    "3,1.9,1.8,0.7,0.7,0.3,0.3,0,28.0",             # a learning rate of 0
    "3,1.9,1.8,0.7,0.7,0.3,0.3,0.002,-5",           # negative seconds
    "3,1.9,1.8,0.7,0.7,0.3,0.3,0.002",              # a field missing
    "3,1.9,1.8,0.7,0.7,0.3,0.3,0.002,28.0,1",       # a field too many
    "3,1.9,1.8,0.7,0.7,0.3,\x00\x01\xff,0.002,28.0",  # binary junk
])
def test_impossible_history_values_are_refused_not_shown(run, row):
    (run / files.HISTORY_FILE).write_text(HEADER + GOOD_ROWS + row + "\n", encoding="utf-8",
                                          errors="surrogateescape")
    history = readers.read_history(run)
    assert history["epoch"].tolist() == [1, 2] and history.attrs["skipped_rows"] == 1
    info = _info(run.name)
    assert info.epochs_done == 2 and info.best_val_mean_iou == pytest.approx(0.22)
    assert "1 damaged row skipped" in info.damaged


def test_an_undefined_metric_stays_undefined_and_is_never_the_best(run):
    (run / files.HISTORY_FILE).write_text(HEADER + GOOD_ROWS + "3,1.9,1.8,0.7,,0.3,nan,0.002,28.0\n")
    history = readers.read_history(run)
    assert history["epoch"].tolist() == [1, 2, 3] and history.attrs["skipped_rows"] == 0
    assert math.isnan(history["val_mean_iou"].iloc[2]) and math.isnan(history["val_accuracy"].iloc[2])
    info = _info(run.name)
    assert info.epochs_done == 3 and info.best_val_mean_iou == pytest.approx(0.22) and info.damaged == ""


def test_a_repeated_epoch_keeps_the_last_row_and_counts_the_other(run):
    (run / files.HISTORY_FILE).write_text(HEADER + GOOD_ROWS + "2,2.0,1.9,0.6,0.65,0.2,0.25,0.0029,29.0\n")
    history = readers.read_history(run)
    assert history["epoch"].tolist() == [1, 2] and history["val_mean_iou"].tolist() == [0.12, 0.25]
    assert history.attrs["skipped_rows"] == 1


@pytest.mark.parametrize("text, reason", [
    ("epoch,loss,loss,accuracy,val_accuracy,mean_iou,val_mean_iou,lr,seconds\n" + GOOD_ROWS,
     "repeated column names: loss"),
    (GOOD_ROWS, "no header line"),
    ("\x00\x13\xfe\xff garbage \x89PNG\r\n" * 50, "not a CSV text file"),
    ("when,what\n1,2\n", "no 'epoch' column"),
])
def test_a_history_whose_header_is_broken_is_reported_damaged_for_that_run_only(run, healthy, text, reason):
    (run / files.HISTORY_FILE).write_bytes(text.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(readers.DamagedRunError, match=reason) as caught:
        readers.read_history(run)
    assert isinstance(caught.value, RunError) and run.name in str(caught.value)
    assert "history.csv" in str(caught.value)
    info = _info(run.name)  # list_runs never raises because of one run
    assert reason in info.damaged and info.epochs_done == 0 and info.best_val_mean_iou is None
    assert info.status == "finished"
    _assert_healthy_untouched(healthy)


def test_a_huge_history_is_refused_without_being_read(run, healthy):
    path = run / files.HISTORY_FILE
    with open(path, "w") as handle:
        handle.write(HEADER + GOOD_ROWS)
        handle.truncate(100 * 1024 * 1024)  # 100 MB (sparse: no disk used)
    with pytest.raises(readers.DamagedRunError, match="too large"):
        readers.read_history(run)
    assert "too large" in _info(run.name).damaged
    _assert_healthy_untouched(healthy)


# ---------------------------------------------------------------------------
# steps.csv and class_iou.csv
# ---------------------------------------------------------------------------

def test_bad_steps_rows_are_skipped_and_a_broken_header_is_damage(run):
    path = run / files.STEPS_FILE
    path.write_text("epoch,step,loss,accuracy\n1,1,2.5,0.4\n1,2,2.4,0.45\n"
                    "1,-3,2.3,0.5\n1,1e12,2.3,0.5\n1,3,inf,0.5\n1,3,2.3,1.5\n1,3,abc,0.5\n")
    steps = readers.read_steps(run)
    assert steps["step"].tolist() == [1, 2] and steps["step"].dtype == np.int64
    assert steps.attrs["skipped_rows"] == 5
    assert readers.damage_note(steps) == "steps.csv: 5 damaged rows skipped"
    path.write_text("epoch,step,step,accuracy\n1,1,2.5,0.4\n")
    with pytest.raises(readers.DamagedRunError, match="repeated column names: step"):
        readers.read_steps(run)


def test_bad_class_iou_rows_are_skipped(run):
    header = "epoch," + ",".join(CLASS_NAMES) + "\n"
    good = "1," + ",".join(["0.5"] * 19 + [""]) + "\n"
    bad = "2," + ",".join(["3.0"] + ["0.5"] * 19) + "\n"
    (run / files.CLASS_IOU_FILE).write_text(header + good + bad)
    class_iou = readers.read_class_iou(run)
    assert class_iou["epoch"].tolist() == [1] and class_iou.attrs["skipped_rows"] == 1
    assert list(class_iou.columns) == ["epoch", *CLASS_NAMES]
    assert math.isnan(class_iou[CLASS_NAMES[-1]].iloc[0])


# ---------------------------------------------------------------------------
# progress.json, meta.json, config.json
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("content", ["[1, 2, 3]", '"running"', "null", "{not json", "\x00\x01"])
def test_a_progress_that_is_not_an_object_reads_as_a_damaged_failed_run(run, healthy, content):
    (run / files.PROGRESS_FILE).write_text(content)
    progress = state.run_state(run.name)
    assert progress["status"] == "failed" and "progress.json" in progress["message"]
    info = _info(run.name)
    assert info.status == "failed" and "progress.json" in info.damaged
    assert state.run_state(run.name)["queue_position"] is None and scheduler.schedule() is None
    _assert_healthy_untouched(healthy)


def test_impossible_progress_values_are_refused(run, healthy):
    progress = json.loads((run / files.PROGRESS_FILE).read_text())
    progress.update(epoch=10**30, step=-4, epochs="many", steps_per_epoch=True, images_per_second="fast",
                    eta_seconds=float("inf"), running_loss=-1.0, pid="1234", pid_start=[1],
                    updated_at="soon", queued_at="later", created_at=1e300, message=["not", "text"],
                    spawner="me", queue_position="first")
    (run / files.PROGRESS_FILE).write_text(json.dumps(progress))
    read = state.run_state(run.name)
    assert read["status"] == "finished"
    for field in ("epoch", "step", "epochs", "steps_per_epoch", "images_per_second", "eta_seconds",
                  "running_loss", "pid", "pid_start", "updated_at", "queued_at", "created_at"):
        assert read[field] is None, field
    assert read["message"] == "" and read["queue_position"] is None
    assert "epoch" in read["damaged"] and "step" in read["damaged"]
    info = _info(run.name)
    assert info.epochs == 2 and "progress.json" in info.damaged  # epochs from the config
    _assert_healthy_untouched(healthy)


def test_a_running_status_with_a_junk_pid_reads_as_a_dead_worker(run):
    progress = json.loads((run / files.PROGRESS_FILE).read_text())
    progress.update(status="running", pid=2**70, pid_start="x", updated_at=0, spawner={"pid": "x"})
    (run / files.PROGRESS_FILE).write_text(json.dumps(progress))
    # No worker and no spawner that can be checked: the machine or the dashboard restarted.
    assert state.run_state(run.name)["status"] == "interrupted"
    assert active_runs() == []


def test_an_unknown_status_is_damage(run):
    progress = json.loads((run / files.PROGRESS_FILE).read_text())
    progress["status"] = "exploded"
    (run / files.PROGRESS_FILE).write_text(json.dumps(progress))
    read = state.run_state(run.name)
    assert read["status"] == "failed" and "exploded" in read["message"]


@pytest.mark.parametrize("content, name", [("[1]", None), ('{"name": 5, "created_at": "yesterday", "preset": null}', None),
                                           ('{"name": "x", "created_at": 1e300}', "x")])
def test_a_damaged_meta_falls_back_to_the_run_id(run, content, name):
    (run / files.META_FILE).write_text(content)
    meta = readers.read_meta(run)[0]
    assert isinstance(meta["name"], str) and isinstance(meta["preset"], str)
    assert math.isfinite(meta["created_at"]) and meta["created_at"] < 1e11
    info = _info(run.name)
    assert info.name == (name or run.name) and math.isfinite(info.created_at)  # a valid name is kept


def test_a_huge_config_is_refused_as_damaged(run):
    with open(run / files.CONFIG_FILE, "w") as handle:
        handle.write("{")
        handle.truncate(100 * 1024 * 1024)
    with pytest.raises(readers.DamagedRunError, match="too large"):
        state.training_config(run)
    info = _info(run.name)
    assert info.id == run.name


# ---------------------------------------------------------------------------
# previews
# ---------------------------------------------------------------------------

def _write_inputs(run, **arrays) -> None:
    folder = run / files.PREVIEWS_DIR
    folder.mkdir(exist_ok=True)
    np.savez(folder / files.PREVIEW_INPUTS, **arrays)


def test_previews_with_wrong_shapes_are_damaged_and_bad_epochs_skipped(run):
    images = np.zeros((2, 8, 8, 3), np.uint8)
    truth = np.zeros((2, 8, 8), np.uint8)
    _write_inputs(run, images=images, truth=truth, stems=np.array(["a", "b"]))
    folder = run / files.PREVIEWS_DIR
    np.savez(folder / "epoch_001.npz", masks=np.ones((2, 8, 8), np.uint8))
    np.savez(folder / "epoch_002.npz", masks=np.ones((2, 4, 4), np.uint8))       # wrong shape
    np.savez(folder / "epoch_003.npz", masks=np.full((2, 8, 8), 77, np.uint8))   # not a class id
    np.savez(folder / "epoch_99999999999999999999.npz", masks=np.ones((2, 8, 8), np.uint8))
    (folder / "epoch_004.npz").write_bytes(b"\x00junk")
    strip = previews.load_previews(run)
    assert strip["epochs"] == [1] and strip["skipped"] == 4
    assert strip["stems"] == ["a", "b"]

    _write_inputs(run, images=np.zeros((2, 8, 8), np.uint8), truth=truth)
    with pytest.raises(readers.DamagedRunError, match="inputs.npz"):
        previews.load_previews(run)
    _write_inputs(run, images=images)  # no ground truth
    with pytest.raises(readers.DamagedRunError, match="truth"):
        previews.load_previews(run)
    (folder / files.PREVIEW_INPUTS).write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(readers.DamagedRunError):
        previews.load_previews(run)


# ---------------------------------------------------------------------------
# the runs list as a whole
# ---------------------------------------------------------------------------

def test_list_runs_survives_every_kind_of_damage_at_once(own_runs_dir, healthy):
    config = get_preset("lecture").with_overrides({"train.epochs": 2, "data.root": "synthetic"})
    damaged = [folders.create_run(config, status="finished") for _ in range(5)]
    (damaged[0] / files.HISTORY_FILE).write_text("epoch,epoch\n1,1\n")
    (damaged[1] / files.PROGRESS_FILE).write_text("[]")
    (damaged[2] / files.META_FILE).write_text("7")
    (damaged[3] / files.HISTORY_FILE).write_bytes(b"\xff\xfe\x00\x00" * 1000)
    (damaged[4] / files.PROGRESS_FILE).write_text('{"status": "queued", "queued_at": "x", "epoch": 1e400}')
    try:
        infos = {info.id: info for info in state.list_runs()}
        assert all(folder.name in infos for folder in damaged)
        assert all(infos[folder.name].damaged for folder in damaged[:2] + damaged[3:])
        assert state.run_state(damaged[4].name)["queue_position"] == 1
        _assert_healthy_untouched(healthy)
    finally:
        for folder in damaged:
            scheduler.delete_run(folder.name)
