"""Recorded reference runs: recorded from a finished run, listed read-only with the machine's runs,
shown on the Training page, and shipped in assets/reference_runs so a fresh clone has curves to show."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from conftest import APPTEST_TIMEOUT
from seglib.training import reference, scheduler
from seglib.training.runs import files, folders, readers, state
from seglib.config import RunConfig
from seglib.presets import get_preset
from seglib.errors import RunError
from seglib.training.worker import train

pytestmark = pytest.mark.slow  # the fixture records a real run

TINY = {"model.image_size": 64, "model.aspp_filters": 16, "model.decoder_filters": 16,
        "model.low_level_filters": 8, "model.weights": "none", "train.batch_size": 4, "train.epochs": 1,
        "data.train_count": 8, "data.val_count": 4, "data.root": "synthetic"}


@pytest.fixture()
def shipped(monkeypatch):
    """The reference runs shipped in assets/ (not a copy another fixture of this module made)."""
    from seglib import settings

    monkeypatch.setattr(folders, "REFERENCE_DIR", settings.ASSETS_DIR / "reference_runs")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_dataset):
    """A tiny finished run recorded as a reference run in a folder of its own."""
    references = tmp_path_factory.mktemp("reference_runs")
    machine_runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(folders, "REFERENCE_DIR", references)
        patch.setenv("SEGLIB_RUNS_DIR", str(machine_runs))
        folder = folders.create_run(get_preset("lecture").with_overrides(TINY), status="running")
        assert train(folder) == "finished"
        target = reference.record(folder, "tiny", "Tiny reference", note="recorded by a test with `python -m seglib reference-runs`")
        yield target, folder


def test_a_recorded_run_keeps_what_the_pages_read_and_nothing_of_the_machine(recorded):
    target, source = recorded
    assert target.name == "reference-tiny"
    kept = {path.name for path in target.iterdir()}
    assert {"config.json", "meta.json", "progress.json", "history.csv", "class_iou.csv", "previews"} <= kept
    assert not {"best.keras", "last.keras", "train.log"} & kept
    progress = json.loads((target / files.PROGRESS_FILE).read_text())
    assert progress["status"] == "finished" and not {"pid", "spawner", "boot_id", "pid_start"} & set(progress)
    assert str(source.parent) not in (target / files.PROGRESS_FILE).read_text()
    meta = json.loads((target / files.META_FILE).read_text())
    assert meta["reference"] is True and meta["name"] == "Tiny reference"


def test_reference_runs_are_listed_and_read_only(recorded):
    target, _ = recorded
    infos = {info.id: info for info in state.list_runs()}
    assert infos["reference-tiny"].reference and infos["reference-tiny"].status == "finished"
    assert infos["reference-tiny"].epochs_done == 1
    assert len(readers.read_history(folders.run_dir("reference-tiny"))) == 1
    for action in (lambda: scheduler.request_stop("reference-tiny"), lambda: scheduler.resume_run("reference-tiny", 3),
                   lambda: scheduler.delete_run("reference-tiny"), lambda: folders.rename_run("reference-tiny", "x")):
        with pytest.raises(RunError, match="recorded reference run .* read-only"):
            action()
    assert target.is_dir() and json.loads((target / files.META_FILE).read_text())["name"] == "Tiny reference"


def test_the_training_page_shows_a_reference_run_read_only(recorded):
    at = AppTest.from_file("../pages/training.py", default_timeout=APPTEST_TIMEOUT)
    at.query_params["run"] = "reference-tiny"
    at.run()
    assert not at.exception
    text = "\n".join(c.value for c in at.caption)
    assert "recorded reference run" in text and "recorded by a test" in text
    assert "with `python -m seglib reference-runs`" in text  # the command as code, not escaped backticks
    table = next(frame.value for frame in at.dataframe if "run id" in frame.value.columns)
    assert table.loc[table["run id"] == "reference-tiny", "status"].item() == "finished (reference)"
    assert at.button(key="do_delete_reference-tiny").disabled and at.button(key="do_rename_reference-tiny").disabled
    charts = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert any('"training loss"' in spec for spec in charts)   # its curves are drawn


def test_a_run_that_did_not_finish_is_not_recorded(tmp_path):
    folder = folders.create_run(get_preset("lecture").with_overrides(TINY), path=tmp_path / "run", status="failed")
    with pytest.raises(RunError, match="Only a finished run can be recorded"):
        reference.record(folder, "broken", "Broken", out=tmp_path / "out")
    assert not (tmp_path / "out" / "reference-broken").exists()


def test_each_optimizer_run_is_one_change_from_the_one_before():
    a, b, c = (reference.optimizer_config(key).to_dict() for key in reference.OPTIMIZER_RUNS)
    assert list(reference.OPTIMIZER_RUNS) == ["keras-example-optimizer", "lower-decaying-rate", "weight-decay"]
    assert a["model"] == b["model"] == c["model"] and a["data"] == b["data"] == c["data"]

    def differing(first, second):
        return {key for key in first["train"] if first["train"][key] != second["train"][key]}

    assert differing(a, b) == {"learning_rate", "decay_steps", "decay_rate"}     # the learning rate only
    assert differing(b, c) == {"optimizer", "weight_decay"}                       # AdamW's weight decay only
    assert a["train"]["optimizer"] == "adam" and a["train"]["learning_rate"] == 1e-3
    assert a["train"]["decay_rate"] == 1.0 and a["train"]["weight_decay"] == 0.0
    assert b["train"]["learning_rate"] < a["train"]["learning_rate"] and b["train"]["decay_rate"] < 1.0
    assert c["train"]["weight_decay"] == reference.CHOSEN_WEIGHT_DECAY
    assert reference.CHOSEN_WEIGHT_DECAY in reference.WEIGHT_DECAY_SWEEP


def test_a_fresh_clone_ships_the_reference_runs(shipped):
    shipped = {path.name for path in folders.REFERENCE_DIR.iterdir() if path.is_dir()}
    expected = {folders.REFERENCE_PREFIX + key for key in reference.SHIPPED_RUNS} | {"reference-demo-model"}
    assert shipped == expected
    for name in shipped:
        config = RunConfig.load(folders.REFERENCE_DIR / name / files.CONFIG_FILE)
        assert config.preset == "lecture"
        assert len(readers.read_history(folders.run_dir(name))) >= 2


def test_a_fresh_install_compares_the_optimizer_runs_out_of_the_box(shipped, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_RUNS_DIR", str(tmp_path / "empty_runs"))
    at = AppTest.from_file("../pages/training.py", default_timeout=APPTEST_TIMEOUT)
    at.run()
    assert not at.exception
    assert at.multiselect(key="training_compare").value == [folders.REFERENCE_PREFIX + key
                                                            for key in reference.OPTIMIZER_RUNS]
    compare = json.loads(next(chart.proto.spec for chart in at.get("plotly_chart") if "compare" in chart.proto.id))
    names = [trace["name"] for trace in compare["data"]]   # training and validation curves of the three runs
    assert len(names) == 6 and sum("Adam 1e-3" in name for name in names) == 2
    assert sum("AdamW" in name for name in names) == 2
    text = "\n".join(m.value for m in at.markdown)
    assert "step too large" in text and "noise" in text and "over-fitting" in text
    from seglib.training import diagnosis

    for bullet in diagnosis.reference_comparison()["bullets"]:   # what the runs show, from their files
        assert bullet in text
    at.radio(key="training_compare_metric").set_value("weight_norm").run()
    compare = json.loads(next(chart.proto.spec for chart in at.get("plotly_chart") if "compare" in chart.proto.id))
    assert len(compare["data"]) == 3 and all("validation" not in trace["name"] for trace in compare["data"])
