"""The Training page under Streamlit's AppTest, with real training workers.

The page starts the real worker process (``python -m seglib train``) on the
tiny synthetic dataset with a tiny model, exactly as a click on Start does;
AppTest never fires ``run_every`` by itself, so the tests re-run the page in a
loop until the run gets where they want it (with a deadline). Every worker
still alive at the end of a test is stopped, then killed.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import bug_free as _bug_free
from apptest_support import open_app, param
from apptest_support import text as _text
from dashboard_support import wait_until
from run_support import HISTORY, end_workers
from seglib.presets import get_preset
from seglib.training import planning, scheduler
from seglib.training.runs import files, folders, readers, state

pytestmark = pytest.mark.slow  # every test runs the page, most with a real worker

PAGE = "pages/training.py"
LIVE = ("queued", "running", "stopping")

#: A tiny run: 64 px, 8 training / 4 validation images, batch 4, a narrow model.
TINY_FORM = {
    "form_model_image_size": 64, "form_train_batch_size": 4, "form_train_epochs": 2,
    "form_data_train_count": 8, "form_data_val_count": 4, "form_model_width": 0.35,
    "form_model_aspp_filters": 16, "form_model_decoder_filters": 16, "form_data_augment": False,
}


@pytest.fixture(autouse=True)
def _no_worker_left(tiny_dataset):
    """Stop (then kill) every worker a test leaves running; a test never leaks a process."""
    yield
    end_workers()


def _page(run: str | None = None) -> AppTest:
    """The page, run once; ``run`` is the run id a link names (``?run=``)."""
    return open_app(PAGE, query=None if run is None else {"run": run})


def _fill(at: AppTest, name: str, **fields) -> None:
    for key, value in {**TINY_FORM, **fields}.items():
        widget = at.checkbox(key=key) if isinstance(value, bool) else at.number_input(key=key)
        widget.set_value(value)
    at.text_input(key="form_name").set_value(name)


def _start(at: AppTest) -> str:
    at.button(key="training_start").click().run()
    _bug_free(at)
    run_id = at.session_state["training_run"]
    assert param(at, "run") == run_id
    return run_id


def _charts(at: AppTest) -> dict[str, dict]:
    charts = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = ((spec.get("layout") or {}).get("title") or {}).get("text") or ""
        charts[title] = spec
    return charts


def _progress(at: AppTest) -> tuple[int, str]:
    bar = at.get("progress")[0].proto
    return bar.value, bar.text


def _rerun_until(at: AppTest, run_id: str, done, seconds: float, every: float = 2.0) -> dict:
    """Re-run the page (as run_every would) until ``done(progress)`` or the deadline."""
    def rerun() -> dict | None:
        at.run()
        _bug_free(at)
        progress = state.run_state(run_id)
        return progress if done(progress) else None

    progress = wait_until(rerun, seconds, interval=every, message=lambda: (
        f"run {run_id} did not get there: {state.run_state(run_id)}\n{readers.read_log(folders.run_dir(run_id))[-3000:]}"))
    at.run()  # one more run draws the page as of that state
    _bug_free(at)
    return progress


def test_a_tiny_run_trains_to_finished_with_a_second_run_queued_and_taken_out(tiny_dataset):
    at = _page()
    _fill(at, "apptest tiny")
    run_id = _start(at)
    text = _text(at)
    assert "Started." in text  # what the page says before step 1: test_the_page_says_what_the_worker_does_...

    # A second Start while the first trains is queued, and its position shown.
    at.text_input(key="form_name").set_value("apptest queued")
    queued_id = _start(at)
    assert queued_id != run_id
    assert state.run_state(queued_id)["status"] == "queued"
    assert "queued (position 1)" in _text(at)
    assert _progress(at)[1] == "Queued (position 1)"
    at.button(key=f"stop_{queued_id}").click().run()  # take it out of the queue
    _bug_free(at)
    assert state.run_state(queued_id)["status"] == "stopped"

    at.selectbox(key="training_run").set_value(run_id).run()
    _bug_free(at)
    assert param(at, "run") == run_id
    progress = _rerun_until(at, run_id, lambda p: p["status"] not in LIVE, seconds=150)
    assert progress["status"] == "finished", progress

    history = readers.read_history(folders.run_dir(run_id))
    assert len(history) == 2
    value, label = _progress(at)
    assert value == 100 and "finished" in label
    charts = _charts(at)
    loss = charts["Loss"]
    assert [trace["name"] for trace in loss["data"]] == ["training loss", "validation loss"]
    assert [trace["line"]["dash"] for trace in loss["data"]] == ["solid", "dash"]
    assert len(loss["data"][0]["x"]) == 2
    assert len(charts["Pixel accuracy and mean IoU"]["data"]) == 4
    assert "Running loss in epoch 2" in charts
    assert "Learning rate" in charts
    iou_title = next(title for title in charts if title.startswith("Validation IoU per class, epoch 2"))
    assert len(charts[iou_title]["data"][0]["x"]) == 20
    previews = next(spec for spec in charts.values()
                    if any(a.get("text") == "<b>prediction, epoch 2</b>" for a in spec["layout"].get("annotations", [])))
    assert sum(trace["type"] == "image" for trace in previews["data"]) == 3 * 4
    assert any(m.label == "Best val mean IoU" and m.value != "—" for m in at.metric)

    table = next(frame.value for frame in at.dataframe if "run id" in frame.value.columns)
    statuses = dict(zip(table["run id"], table["status"]))
    assert statuses[run_id] == "finished" and statuses[queued_id] == "stopped"
    assert not at.button(key=f"use_{run_id}").disabled  # the checkpoint can go to the other pages
    at.button(key=f"use_{run_id}").click().run()
    _bug_free(at)
    assert at.session_state["model"] == f"run:{run_id}"


def test_stop_keeps_the_last_checkpoint_and_resume_queues_the_run_again(tiny_dataset):
    at = _page()
    _fill(at, "apptest stop", form_train_epochs=500, form_model_image_size=32)
    run_id = _start(at)
    _rerun_until(at, run_id, lambda p: p["status"] not in LIVE or int(p.get("step") or 0) > 0 or
                 int(p.get("epoch") or 0) > 1, seconds=150)
    progress = state.run_state(run_id)
    assert progress["status"] == "running"
    # The worker is held (SIGSTOP) while Stop is pressed, so the page is read while the run is stopping:
    # a running worker can finish stopping before the page has drawn.
    worker = progress["pid"]
    os.kill(worker, signal.SIGSTOP)
    try:
        at.button(key=f"stop_{run_id}").click().run()
        _bug_free(at)
        progress = state.run_state(run_id)
        assert progress["status"] == "stopping" and progress["stop_requested"], progress
        assert sum(":orange-badge[stopping]" in m.value for m in at.markdown) == 1
    finally:
        os.kill(worker, signal.SIGCONT)
    progress = _rerun_until(at, run_id, lambda p: p["status"] not in LIVE, seconds=60, every=1.0)
    assert progress["status"] == "stopped", progress
    assert (folders.run_dir(run_id) / files.LAST_CHECKPOINT).exists()
    assert "last.keras saved" in _text(at)
    assert "stopped" in _progress(at)[1]

    at.button(key=f"resume_{run_id}").click().run()
    _bug_free(at)
    assert "Resumed from last.keras" in _text(at)
    # No other worker is alive (_no_worker_left), so Resume starts the worker at once.
    assert state.run_state(run_id)["status"] == "running"


def test_a_bad_hyperparameter_shows_an_error_and_starts_nothing(tiny_dataset):
    at = _page()
    before = {info.id for info in state.list_runs()}
    at.number_input(key="form_model_image_size").set_value(100).run()
    _bug_free(at)
    from markdown_check import plain

    errors = [plain(e.value) for e in at.error]
    assert any("multiple of the output stride" in e and "Received: model.image_size=100; try 96" in e
               for e in errors), errors
    at.button(key="training_start").click().run()
    _bug_free(at)
    assert any(e.startswith("The run was not started") for e in (x.value for x in at.error))
    assert {info.id for info in state.list_runs()} == before


def test_the_preset_fills_the_form_and_the_estimate_follows_it(tiny_dataset):
    at = _page()
    assert at.selectbox(key="form_preset").value == "lecture"
    assert at.number_input(key="form_model_image_size").value == 160
    at.selectbox(key="form_preset").set_value("keras-example").run()
    _bug_free(at)
    assert at.number_input(key="form_model_image_size").value == 512
    assert at.selectbox(key="form_train_optimizer").value == "adam"
    assert at.number_input(key="form_train_decay_rate").value == 1.0
    estimate = next(m for m in at.metric if m.label == "Estimated time on this machine")
    assert estimate.value not in ("", "—")
    assert "Planned learning rate" in _charts(at)
    assert "Adam, no weight decay." in [c.value for c in at.caption]
    # AdamW: the decoupled rule in the field's help, and what the decay can do over the planned steps.
    at.selectbox(key="form_preset").set_value("course").run()
    _bug_free(at)
    assert planning.DECOUPLED_RULE in at.number_input(key="form_train_weight_decay").help
    course = get_preset("course").with_overrides({"data.root": "synthetic"})
    steps = next(c.value for c in at.caption if "optimizer steps" in c.value).split(" = ")[1].split()[0]
    assert planning.weight_decay_sentence(course, int(steps.replace(",", ""))) in [c.value for c in at.caption]


def test_a_configured_passcode_locks_the_controls_for_viewers(tiny_dataset, monkeypatch):
    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", "lecture-hall")
    at = _page()
    assert at.button(key="training_start").disabled
    assert at.number_input(key="form_train_epochs").disabled
    assert "is for the instructor" in _text(at)
    at.session_state["instructor_unlocked"] = True
    at.run()
    assert not at.button(key="training_start").disabled


def test_a_passcode_in_streamlit_secrets_locks_the_controls_too(tiny_dataset):
    at = _page()
    at.secrets["instructor_passcode"] = "from-secrets"
    at.run()
    assert at.button(key="training_start").disabled
    assert "is for the instructor" in _text(at)


def test_a_failed_run_shows_its_message_and_can_be_resumed(tiny_dataset):
    from seglib.presets import get_preset

    config = get_preset("lecture").with_overrides({"data.root": "no-such-dataset", "train.epochs": 1})
    # Start refuses a missing dataset before any folder exists; a queued run whose dataset was deleted
    # meanwhile reaches the worker, which fails it.
    run_id = folders.create_run(config, name="apptest failing").name
    scheduler.schedule()
    at = open_app(PAGE, query={"run": run_id}, run=False)
    progress = _rerun_until(at, run_id, lambda p: p["status"] not in LIVE, seconds=90, every=1.0)
    assert progress["status"] == "failed", progress
    assert at.session_state["training_run"] == run_id
    assert any("no-such-dataset" in e.value for e in at.error), [e.value for e in at.error]
    assert "failed" in _progress(at)[1]
    resume = at.button(key=f"resume_{run_id}")
    assert resume.label == "Resume" and not resume.disabled
    log = next(code.value for code in at.code if "Training failed" in code.value)
    assert settings_free(log)


def settings_free(text: str) -> bool:
    """No absolute folder of this machine (runs, data, project) in text shown to people."""
    from seglib import settings

    return all(str(folder) not in text for folder in (settings.runs_dir(), settings.PROJECT_ROOT,
                                                      *settings.data_roots()))


def test_damaged_runs_show_what_is_damaged_and_the_page_keeps_working(tiny_dataset, run_folder):
    header, rows = HISTORY.split("\n", 1)
    broken = run_folder("finished", "apptest broken header", history=header.replace("val_loss", "loss") + "\n" + rows)
    bad_row = run_folder("finished", "apptest bad row",
                         history=HISTORY + "inf,x,y,z,,,,,\n3,1.9,1.8,0.7,0.7,0.3,7.5,0.002,28.0\n")
    for folder, shown, best in ((broken, "history.csv is damaged (repeated column names: loss)", float("nan")),
                                (bad_row, "history.csv: 2 damaged rows skipped", 0.22)):
        at = _page(folder.name)
        assert at.session_state["training_run"] == folder.name
        assert shown in _text(at), _text(at)
        table = at.dataframe[0].value
        row = table[table["run id"] == folder.name].iloc[0]
        assert shown in row["damaged"]
        assert row["best val mIoU"] == pytest.approx(best, nan_ok=True)  # never the 7.5 of the bad row
    assert "7.500" not in _text(at)


def test_the_stop_notice_stays_until_the_user_moves_on(tiny_dataset, run_folder):
    other = run_folder("finished", "apptest other", history=HISTORY)
    live = run_folder("running", "apptest notice")
    notice = "Stop requested: the worker finishes the current batch and saves last.keras."
    at = _page(live.name)
    at.button(key=f"stop_{live.name}").click().run()
    _bug_free(at)
    assert notice in _text(at)
    for _ in range(3):  # the live view's refreshes (run_every) keep it
        at.run()
        _bug_free(at)
        assert notice in _text(at)
    at.selectbox(key="training_run").set_value(other.name).run()  # the user moves on
    _bug_free(at)
    assert notice not in _text(at)


@pytest.mark.parametrize("phase, title", [
    ("starting", "**Starting** the training worker."),
    ("compiling", "**Compiling.** TensorFlow turns the model and the training step into a graph"),
])
def test_the_page_says_what_the_worker_does_before_step_1(tiny_dataset, run_folder, phase, title):
    # This test process stands in for a worker held at each start-up phase, so the page is read at a
    # known phase (a real worker passes through both in a few seconds).
    live = run_folder("running", "apptest start-up", phase=phase, epoch=0, step=0,
                      startup_steps=[["starting the worker", 0.0], ["importing TensorFlow", 0.5]])
    at = _page(live.name)
    shown = [i.value for i in at.info if i.value.startswith("**")]
    assert len(shown) == 1 and shown[0].startswith(title), shown
    assert "**importing TensorFlow**" in shown[0] and ":material/check: starting the worker (0.5 s)" in shown[0]


def test_the_form_says_where_the_backbone_starts_and_the_runs_table_shows_it(tiny_dataset):
    at = _page()
    assert at.selectbox(key="form_model_weights").value == "pretrained"   # the lecture preset's start
    assert "In-domain pretraining" in _text(at) and "never on masks" in _text(at)
    at.selectbox(key="form_model_weights").set_value("none").run()
    _bug_free(at)
    assert "From scratch" in _text(at) and "In-domain pretraining" not in _text(at)
    at.number_input(key="form_train_freeze_backbone_epochs").set_value(2).run()
    _bug_free(at)
    assert "(random weights, fixed for 2 epochs)" in _text(at)   # the config summary under the estimate
    folder = folders.create_run(get_preset("lecture"), status="finished")
    at = _page()
    table = next(frame.value for frame in at.dataframe if "run id" in frame.value.columns)
    assert table.loc[table["run id"] == folder.name, "start"].item() == "pretrained backbone, fixed for 16 epochs"


def test_a_hostile_run_id_in_the_link_is_shown_as_text_not_markdown(tiny_dataset):
    from markdown_check import inline_kinds, plain

    hostile = "x` **bold** [link](http://example.org) ![img](http://example.org/a.png) `"
    at = _page(hostile)
    warning = next(w.value for w in at.warning if "from the link does not exist" in w.value)
    assert hostile.strip() in plain(warning)
    assert not inline_kinds(warning) & {"link_open", "image", "strong_open", "em_open"}


# ---------------------------------------------------------------------------
# What a viewer costs: the page redraws for an epoch at most every EPOCH_REDRAW_SECONDS, for the
# running loss alone at most every RUNNING_LOSS_REDRAW_SECONDS, and the runs table polls only when
# the live view is not already redrawing the page for a live run.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("stamps, drawn, seconds_since, first_epoch, due", [
    ((1, 7), (1, 7), 999.0, False, False),  # nothing new: never
    ((2, 7), (1, 7), 5.0, False, False),    # a new epoch, but the page was drawn 5 s ago: wait
    ((2, 8), (1, 7), 30.0, False, True),    # a new epoch and EPOCH_REDRAW_SECONDS gone: redraw
    ((2, 7), (1, 7), 0.5, True, True),      # the first epoch: at once
    ((1, 8), (1, 7), 0.5, True, False),     # batches of the first epoch: the running loss waits
    ((1, 8), (1, 7), 30.0, False, False),   # only the running loss moved: wait longer ...
    ((1, 8), (1, 7), 60.0, False, True),    # ... RUNNING_LOSS_REDRAW_SECONDS
    ((1, 7), None, 60.0, False, True),      # never drawn for this run
])
def test_the_charts_are_redrawn_for_an_epoch_or_the_running_loss_at_most_that_often(stamps, drawn, seconds_since,
                                                                                    first_epoch, due):
    from ui.training.live import EPOCH_REDRAW_SECONDS, RUNNING_LOSS_REDRAW_SECONDS, redraw_due

    assert (EPOCH_REDRAW_SECONDS, RUNNING_LOSS_REDRAW_SECONDS) == (30.0, 60.0)
    assert redraw_due(stamps, drawn, drawn_at=1000.0, now=1000.0 + seconds_since, first_epoch=first_epoch) is due


def test_the_runs_table_polls_only_for_a_viewer_of_another_run_while_one_is_live():
    from ui.training.runs_table import table_polls

    def info(run_id: str, status: str) -> state.RunInfo:
        return state.RunInfo(id=run_id, name=run_id, status=status, preset="lecture", created_at=0.0,
                             epochs_done=0, epochs=2, best_val_mean_iou=None, path=Path(run_id))

    live, done = info("a", "running"), info("b", "finished")
    assert table_polls([live, done], shown="a") is False  # the live view redraws the page for it
    assert table_polls([live, done], shown="b") is True   # the table is where run "a" moves
    assert table_polls([done], shown="b") is False         # nothing moves
    assert table_polls([info("q", "queued"), done], shown="b") is True


# ---------------------------------------------------------------------------
# Writes that fail, files that cannot be offered, notices that went stale (issue 23 §1, §5)
# ---------------------------------------------------------------------------

def test_start_in_an_unwritable_runs_folder_says_what_to_do_without_an_exception(tiny_dataset, tmp_path):
    from run_support import private_runs_dir

    blocker = tmp_path / "a-file"
    blocker.write_text("the runs folder's parent is this file\n")
    with private_runs_dir(blocker / "runs"):
        at = _page()
        _fill(at, "apptest unwritable")
        at.button(key="training_start").click().run()
        _bug_free(at)
        assert not at.exception
        from markdown_check import plain

        errors = [plain(e.value) for e in at.error]
        assert any(e.startswith("The run was not started: Could not write to the runs folder while creating the "
                                "run: a file stands where a folder of its path should be.") and "SEGLIB_RUNS_DIR" in e
                   for e in errors), errors
        assert all(str(tmp_path) not in e and "a-file" not in e for e in errors)


def test_rename_that_cannot_write_shows_the_message(tiny_dataset, run_folder):
    folder = run_folder("finished", "apptest rename", history=HISTORY)
    (folder / files.META_FILE).unlink()
    (folder / files.META_FILE).mkdir()  # meta.json cannot be replaced: a folder holds its name
    at = _page(folder.name)
    at.text_input(key=f"rename_{folder.name}").set_value("new name")
    at.button(key=f"do_rename_{folder.name}").click().run()
    _bug_free(at)
    assert not at.exception
    assert ("Could not write to the run's folder while renaming the run: a folder stands where a file should "
            "be written.") in _text(at)


def test_a_checkpoint_that_is_a_folder_is_not_offered_for_download(tiny_dataset, run_folder):
    folder = run_folder("finished", "apptest folder checkpoint", history=HISTORY)
    (folder / files.BEST_CHECKPOINT).mkdir()
    at = _page(folder.name)
    buttons = {button.proto.label: button for button in at.get("download_button")}
    assert buttons["best.keras"].proto.disabled
    assert not buttons["history.csv"].proto.disabled
    (folder / files.BEST_CHECKPOINT).rmdir()
    (folder / files.BEST_CHECKPOINT).write_bytes(b"PK\x03\x04")
    at.run()
    assert not {b.proto.label: b for b in at.get("download_button")}["best.keras"].proto.disabled


def test_started_is_not_left_beside_the_error_of_a_killed_worker(tiny_dataset):
    import signal

    at = _page()
    _fill(at, "apptest killed", form_train_epochs=500, form_model_image_size=32)
    run_id = _start(at)
    assert any(s.value.startswith("Started.") for s in at.success)
    progress = _rerun_until(at, run_id, lambda p: isinstance(p.get("pid"), int), seconds=60, every=0.5)
    os.killpg(progress["pid"], signal.SIGKILL)
    progress = _rerun_until(at, run_id, lambda p: p["status"] not in LIVE, seconds=60, every=0.5)
    assert progress["status"] == "failed", progress
    assert at.error and not any(s.value.startswith("Started.") for s in at.success), \
        ([e.value for e in at.error], [s.value for s in at.success])


def test_a_fresh_install_shows_the_demo_models_run_and_then_the_newest_own_run(tmp_path):
    """With only the shipped reference runs, the page opens on the demo model's run (it used to open on
    whichever optimizer run was recorded last, a seed-1 repeat); once the machine has a run of its own,
    on that."""
    from run_support import make_run, private_runs_dir
    from ui.training.state import default_run

    with private_runs_dir(tmp_path):
        assert default_run(state.list_runs()) == "reference-demo-model"
        own = make_run("finished", "mine", history=HISTORY)
        assert default_run(state.list_runs()) == own.name
