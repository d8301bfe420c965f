"""Run folders and the one-job queue: what the pages call.

The queue tests start real detached workers (``python -m seglib train``) on a
dataset folder that does not exist, so each worker fails within seconds without
training, which is enough to watch the scheduling. ``start_run`` refuses such a
folder before creating a run, so they queue with ``_queue`` (``create_run`` then
``schedule``: the dataset vanished between Start and the worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard_support import wait_until
from run_support import active_runs, private_runs_dir, set_progress, small_config
from seglib.training import liveness, planning, scheduler
from seglib.training.runs import files, folders, previews, readers, state
from seglib.presets import get_preset
from seglib.errors import PathNotAllowedError, RunError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def own_runs_dir(tmp_path_factory):
    """A runs folder for this module only: a run that another test file (a page test)
    left running never counts as 'the machine's running job' here, and ours never block theirs."""
    with private_runs_dir(tmp_path_factory.mktemp("runs")) as folder:
        yield folder




def _queue(config, name: str | None = None) -> str:
    """``scheduler.start_run`` without its dataset check: create the run, then schedule it."""
    folder = folders.create_run(config, name)
    scheduler.schedule()
    return folder.name


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _wait_final(run_ids, timeout=180.0, watch_active=True) -> int:
    """Wait until every run is in a final state; return the largest number seen active at once."""
    most_active = 0

    def all_final() -> bool:
        nonlocal most_active
        infos = {info.id: info for info in state.list_runs()}
        active = sum(1 for info in infos.values() if info.status in files.ACTIVE_STATUSES)
        most_active = max(most_active, active)
        return all(infos[run_id].status in files.FINAL_STATUSES for run_id in run_ids)

    wait_until(all_final, timeout, interval=0.1,
               message=lambda: f"runs did not end: {[state.run_state(r) for r in run_ids]}")
    return most_active


def test_create_run_writes_config_meta_and_a_queued_progress(own_runs_dir, monkeypatch):
    config = small_config()
    # One fixed second for both runs: the second id must then take a suffix (on a loaded machine the two
    # calls used to fall into different seconds, and the test judged the clock instead of the ids).
    second_of_day = time.time()
    monkeypatch.setattr(folders.time, "time", lambda: second_of_day)
    folder = folders.create_run(config, name="  my run  ")
    assert folder.parent == own_runs_dir
    assert state.training_config(folder) == config
    assert readers.read_meta(folder)[0]["name"] == "my run"
    progress = state.run_state(folder.name)
    assert progress["status"] == "queued" and progress["epochs"] == 2
    second = folders.create_run(config)
    assert second.name == folder.name + "-2"
    scheduler.delete_run(folder.name)
    scheduler.delete_run(second.name)


def test_run_ids_are_readable_sortable_slugs():
    run_id = folders.new_run_id("keras-example", now=time.mktime((2026, 11, 25, 9, 30, 12, 0, 0, -1)))
    assert run_id == "20261125-093012-keras-example"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x" * 200])
def test_bad_run_ids_are_refused(bad):
    with pytest.raises(RunError):
        state.run_state(bad)


def test_history_cut_mid_line_drops_only_the_partial_row(own_runs_dir):
    folder = folders.create_run(small_config(), status="finished")
    (folder / files.HISTORY_FILE).write_text(
        "epoch,loss,val_loss,accuracy,val_accuracy,mean_iou,val_mean_iou,lr,seconds\n"
        "1,2.5,2.4,0.5,0.55,0.1,0.12,0.003,30.5\n"
        "2,2.1,2.0,0.6,0.65,0.2,0.22,0.0029,29.0\n"
        "3,1.9,1.")
    history = readers.read_history(folder)
    assert history["epoch"].tolist() == [1, 2]
    assert history["val_mean_iou"].tolist() == [0.12, 0.22]
    assert readers.read_steps(folder).empty and previews.load_previews(folder) is None
    info = [i for i in state.list_runs() if i.id == folder.name][0]
    assert info.epochs_done == 2 and info.best_val_mean_iou == pytest.approx(0.22)
    scheduler.delete_run(folder.name)


def test_a_running_run_whose_worker_is_gone_is_reported_interrupted(own_runs_dir):
    folder = folders.create_run(small_config(), status="running")
    set_progress(folder, status="running", pid=_dead_pid(), epoch=3)
    assert state.run_state(folder.name)["status"] == "interrupted"
    assert "Resume it" in state.run_state(folder.name)["message"]
    assert [i.status for i in state.list_runs() if i.id == folder.name] == ["interrupted"]
    scheduler.schedule()  # persists the verdict
    assert json.loads((folder / files.PROGRESS_FILE).read_text())["status"] == "interrupted"
    scheduler.delete_run(folder.name)


def test_actions_on_a_running_run(own_runs_dir):
    folder = folders.create_run(small_config(), status="running")
    # This test process plays the worker: alive, and never sent SIGTERM (it is our own pid).
    set_progress(folder, status="running", pid=os.getpid(), pid_start=liveness.process_start_time(os.getpid()))
    try:
        assert state.run_state(folder.name)["status"] == "running"
        assert active_runs() == [folder.name]
        with pytest.raises(RunError, match="stop it first"):
            scheduler.delete_run(folder.name)
        with pytest.raises(RunError, match="only a stopped"):
            scheduler.resume_run(folder.name)
        assert not (folder / files.BEST_CHECKPOINT).exists()
        progress = scheduler.request_stop(folder.name)
        assert progress["status"] == "stopping" and progress["stop_requested"]
        assert (folder / files.STOP_FILE).exists()
        folders.rename_run(folder.name, "renamed")
        assert readers.read_meta(folder)[0]["name"] == "renamed"
        with pytest.raises(RunError):
            folders.rename_run(folder.name, "   ")
    finally:
        set_progress(folder, status="stopped")
    scheduler.delete_run(folder.name)
    assert not folder.exists()
    with pytest.raises(RunError, match="no run"):
        state.run_state(folder.name)


def test_stopping_a_queued_run_takes_it_out_of_the_queue(own_runs_dir):
    folder = folders.create_run(small_config())
    assert state.run_state(folder.name)["queue_position"] is not None
    assert scheduler.request_stop(folder.name)["status"] == "stopped"
    assert state.run_state(folder.name)["queue_position"] is None
    with pytest.raises(RunError, match="nothing to stop"):
        scheduler.request_stop(folder.name)
    scheduler.delete_run(folder.name)


def test_start_run_refuses_a_dataset_outside_the_data_roots(own_runs_dir, tmp_path):
    with pytest.raises(PathNotAllowedError):
        scheduler.start_run(small_config(**{"data.root": str(tmp_path)}))


@pytest.mark.slow
def test_start_run_queues_a_second_run_and_starts_it_when_the_first_ends(own_runs_dir, data_root):
    config = small_config(**{"data.root": "missing-dataset"})
    first = _queue(config, name="first")
    second = _queue(config, name="second")
    early = state.run_state(second)
    if state.run_state(first)["status"] == "running":
        assert early["status"] == "queued" and early["queue_position"] == 1
    assert _wait_final([first, second]) <= 1
    one, two = state.run_state(first), state.run_state(second)
    assert one["status"] == two["status"] == "failed"
    assert "missing-dataset" in two["message"]  # the worker really ran, and said why it failed
    assert two["started_at"] >= one["finished_at"]
    for run_id in (first, second):
        scheduler.delete_run(run_id)


@pytest.mark.slow
@pytest.mark.parametrize("nice", ["", "5", "0"])
def test_the_dashboards_workers_run_at_the_configured_lower_cpu_priority(own_runs_dir, data_root, monkeypatch,
                                                                         nice):
    """The pages a lecture hall looks at come first: spawned workers are niced (default 10)."""
    monkeypatch.setenv("SEGLIB_WORKER_NICE", nice)
    run_id = _queue(small_config(**{"data.root": "missing-dataset"}))
    _wait_final([run_id])
    log = readers.read_log(folders.run_dir(run_id))
    expected = os.nice(0) + {"": 10, "5": 5, "0": 0}[nice]
    assert state.run_state(run_id)["status"] == "failed"
    if expected:
        assert f"(CPU priority lowered: nice {min(expected, 19)})" in log, log[-2000:]
    else:
        assert "CPU priority lowered" not in log, log[-2000:]
    scheduler.delete_run(run_id)


@pytest.mark.slow
def test_two_simultaneous_starts_from_two_processes_run_one_at_a_time(own_runs_dir, data_root):
    go = time.time() + 4.0
    code = ("import time, sys; from seglib.training import scheduler; from seglib.training.runs import folders\n"
            "from seglib.presets import get_preset\n"
            "config = get_preset('lecture').with_overrides({'data.root': 'missing-dataset'})\n"
            f"time.sleep(max(0, {go} - time.time()))\n"
            "folder = folders.create_run(config); scheduler.schedule(); print(folder.name)\n")
    processes = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    run_ids = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert all(run_ids) and len(set(run_ids)) == 2
    assert _wait_final(run_ids) <= 1
    spans = sorted((state.run_state(r)["started_at"], state.run_state(r)["finished_at"])
                   for r in run_ids)
    assert spans[1][0] >= spans[0][1], f"the two workers overlapped: {spans}"
    for run_id in run_ids:
        scheduler.delete_run(run_id)


def test_resume_requeues_an_interrupted_run_and_starts_a_worker(own_runs_dir, data_root):
    folder = folders.create_run(small_config(**{"data.root": "missing-dataset"}), status="running")
    set_progress(folder, status="running", pid=_dead_pid())
    with pytest.raises(RunError, match="epochs must be more"):
        scheduler.resume_run(folder.name, epochs=0)
    scheduler.resume_run(folder.name, epochs=5)
    assert state.training_config(folder).train.epochs == 5
    _wait_final([folder.name])
    progress = state.run_state(folder.name)
    assert progress["status"] == "failed" and "missing-dataset" in progress["message"]
    assert "(resume)" in readers.read_log(folder)  # the worker was started with --resume
    scheduler.delete_run(folder.name)


def test_lr_schedule_is_the_exponential_decay_of_the_config():
    config = get_preset("lecture").with_overrides({"train.learning_rate": 1e-3, "train.decay_steps": 10,
                                                   "train.decay_rate": 0.5})
    schedule = planning.lr_schedule(config, steps=21)
    assert schedule[0] == pytest.approx(1e-3) and schedule[10] == pytest.approx(5e-4)
    assert schedule[20] == pytest.approx(2.5e-4)
    constant = planning.lr_schedule(get_preset("keras-example"), steps=50)
    assert np.allclose(constant, 1e-3)


def test_estimate_seconds_grows_with_epochs_and_image_size(tiny_dataset):
    lecture = get_preset("lecture")
    short = planning.estimate_seconds(lecture.with_overrides({"train.epochs": 2}))
    long = planning.estimate_seconds(lecture.with_overrides({"train.epochs": 20}))
    big = planning.estimate_seconds(lecture.with_overrides({"train.epochs": 2, "model.image_size": 256}))
    assert 0 < short < long and short < big
    images_per_second, startup, basis = planning.throughput_basis(lecture)
    assert images_per_second > 0 and startup > 0 and basis
