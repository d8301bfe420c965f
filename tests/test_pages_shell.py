"""The dashboard shell, Home, Dataset explorer and Model pages through Streamlit's AppTest.

Each test runs the real page scripts against the tiny synthetic dataset (64 px)
and real Keras models; nothing is mocked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import bug_free as _bug_free
from apptest_support import charts as _charts
from apptest_support import error_free
from apptest_support import open_app
from apptest_support import text as _text

from seglib.classes import CLASS_NAMES, get_palette
from seglib.training.runs import folders

ROOT = Path(__file__).resolve().parent.parent


def _app(script: str = "dashboard.py", **query) -> AppTest:
    return open_app(script, query=query, run=False)


def _array(value) -> list:
    """A Plotly data array from the figure JSON (plain list or base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        import base64

        import numpy as np

        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(part) for part in shape.split(",")]
        return array.reshape(shape).tolist() if shape else array.tolist()
    return list(value)


# ---------------------------------------------------------------------------
# Shell and Home
# ---------------------------------------------------------------------------

def test_planned_pages_follow_the_files():
    from ui import registry

    files = [page.file for page in registry.available_pages()]
    assert files == ["home.py", "dataset.py", "model.py", "atrous.py", "training.py", "predictions.py",
                     "playground.py", "exercises.py", "classroom.py"]
    assert [p.url_path for p in registry.PLANNED_PAGES] == [
        "home", "dataset", "model", "atrous", "training", "predictions", "playground", "exercises", "classroom"]
    for page in registry.PLANNED_PAGES:
        assert page.exists == (ROOT / "pages" / page.file).is_file()
    # pages/ holds the pages and nothing else a visitor could open.
    assert sorted(p.name for p in (ROOT / "pages").glob("*.py")) == sorted(files)
    assert {page.file: page.exercises for page in registry.PLANNED_PAGES if page.exercises} == {
        "dataset.py": ("13-1", "13-2", "13-4"), "model.py": ("13-2", "13-3"), "atrous.py": ("13-2",),
        "predictions.py": ("13-5", "13-6"), "playground.py": ("13-4", "13-6")}


@pytest.mark.slow
def test_home_shows_the_lab_and_the_loaded_dataset(tiny_dataset):
    at = _app()
    at.run()
    _bug_free(at)
    assert at.title[0].value == "Semantic segmentation lab"
    text = _text(at)
    assert "12 train images" in text and "4 val images" in text
    # The shipped demo model is the default model in use; untrained presets stay on offer.
    assert "Demo model (trained)" in text
    sidebar_labels = [w.label for w in at.sidebar.selectbox] + [w.label for w in at.sidebar.radio]
    assert sidebar_labels == ["Dataset", "Model", "Palette"]
    assert at.sidebar.selectbox[0].value == "synthetic"
    assert at.sidebar.selectbox[1].value == "demo"
    assert "Untrained: lecture" in at.sidebar.selectbox[1].options


@pytest.mark.slow
def test_url_sets_the_palette_and_the_palette_colours_the_legend(tiny_dataset):
    at = _app(palette="colorblind")
    at.run()
    assert at.sidebar.radio[0].value == "colorblind"
    at.switch_page("pages/dataset.py").run()
    _bug_free(at)
    legend = next(m.value for m in at.markdown if "seglib-legend" in m.value)
    face = "#{:02x}{:02x}{:02x}".format(*get_palette("colorblind")[13])
    assert face in legend


@pytest.mark.slow
def test_run_times_are_recorded_only_when_asked(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGLIB_RUN_TIMES", raising=False)
    at = _app()
    at.run()
    assert not at.exception
    assert not list(tmp_path.iterdir())  # off by default: nothing written anywhere here
    log = tmp_path / "times" / "run_times.jsonl"
    log.parent.mkdir()
    monkeypatch.setenv("SEGLIB_RUN_TIMES", str(log))
    for _ in range(2):  # two page views (fresh sessions: AppTest reruns an unchanged session lazily)
        _app().run()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 2 and {row["page"] for row in rows} == {"Home"}
    assert all(0 < row["seconds"] < 120 and row["time"] > 0 for row in rows)
    # Each run's steps: the page line that sent each element, its wall and thread-CPU seconds and bytes;
    # together they fill the run (from the first step to the end), never more (each step is rounded to
    # 0.1 ms: CI once summed 25 of them to 0.0270 s in a run of 0.0258 s when the last step ran past the end).
    for row in rows:
        steps = row["steps"]
        assert steps[-1][0] == "end" and any(step[0].startswith("home.py:") for step in steps)
        assert any(kind == "markdown" and size > 0 for _, kind, _, _, size in steps)
        rounding = 0.00005 * (len(steps) + 1)
        assert 0 < sum(step[2] for step in steps) <= row["seconds"] + rounding and 0 < row["cpu_seconds"]


@pytest.mark.slow
def test_home_without_a_dataset_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_DATA_ROOTS", str(tmp_path))
    at = _app()
    at.run()
    _bug_free(at)
    assert any("does not exist" in e.value and "data synth" in e.value for e in at.error)


@pytest.mark.slow
def test_a_url_outside_the_data_roots_is_not_opened(tiny_dataset):
    at = _app(dataset="../../etc")
    at.run()
    _bug_free(at)
    assert at.sidebar.selectbox[0].value == "synthetic"
    assert at.sidebar.selectbox[1].value == "demo"


# ---------------------------------------------------------------------------
# Dataset explorer
# ---------------------------------------------------------------------------

@pytest.fixture()
def dataset_page(tiny_dataset) -> AppTest:
    at = _app("pages/dataset.py")
    at.run()
    _bug_free(at)
    return at


@pytest.mark.slow
def test_dataset_page_draws_samples_with_legend_and_hover_names(dataset_page):
    at = dataset_page
    legend = next(m.value for m in at.markdown if "seglib-legend" in m.value)
    for name in CLASS_NAMES:
        assert name in legend
    samples = [c for c in _charts(at) if c["data"] and c["data"][0]["type"] == "image"]
    assert len(samples) == 3 * 3 + 1  # three rows of image | mask | overlay, plus the detail view
    hover = samples[1]["data"][1]
    assert hover["type"] == "heatmap"
    names = {name for row in hover["text"] for name in row}
    assert "Background" in names and names <= set(CLASS_NAMES) | {"Ignore"}
    assert sum("train image" in c.value for c in at.caption) == 3


@pytest.mark.slow
def test_dataset_page_reshuffle_shows_other_images(dataset_page):
    at = dataset_page
    before = [c.value for c in at.caption if "train image" in c.value]
    reshuffle = next(b for b in at.button if b.label == "Reshuffle")
    reshuffle.click().run()
    _bug_free(at)
    after = [c.value for c in at.caption if "train image" in c.value]
    assert at.number_input(key="seed").value == 1
    assert before != after


@pytest.mark.slow
def test_dataset_page_class_chart_linear_log_and_background(dataset_page):
    at = dataset_page
    chart = next(c for c in _charts(at) if c["data"][0]["type"] == "bar")
    bars = chart["data"][0]
    assert len(bars["x"]) == 20
    assert _array(bars["y"]) == sorted(_array(bars["y"]), reverse=True)
    assert bars["x"][0] == "Background"
    at.toggle(key="background").set_value(False).run()
    at.segmented_control(key="scale").set_value("log").run()
    _bug_free(at)
    chart = next(c for c in _charts(at) if c["data"][0]["type"] == "bar")
    assert len(chart["data"][0]["x"]) == 19
    assert chart["layout"]["yaxis"]["type"] == "log"


@pytest.mark.slow
def test_dataset_page_hiding_classes_updates_the_legend(dataset_page):
    at = dataset_page
    next(b for b in at.button if b.label == "People only").click().run()
    _bug_free(at)
    legend = next(m.value for m in at.markdown if "seglib-legend" in m.value)
    assert legend.count("line-through") == 1


@pytest.mark.slow
def test_dataset_page_object_scales(dataset_page):
    at = dataset_page
    charts = _charts(at)
    histogram = next(c for c in charts if c["data"] and c["data"][0]["type"] == "histogram")
    assert len(_array(histogram["data"][0]["x"])) > 0
    boxes = [c for c in charts if c["data"] and c["data"][0]["type"] == "box"]
    assert boxes and {trace["name"] for trace in boxes[0]["data"]} <= set(CLASS_NAMES)


@pytest.mark.slow
def test_dataset_page_validation_split(dataset_page):
    at = dataset_page
    at.segmented_control(key="split").set_value("val").run()
    _bug_free(at)
    assert sum("val image" in c.value for c in at.caption) == 3


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_model_page_layer_table_ends_with_per_pixel_logits(tiny_dataset):
    at = _app("pages/model.py", size=64)
    at.run()
    _bug_free(at)
    assert at.select_slider(key="size").value == 64
    layers = at.dataframe[-1].value
    assert layers["name"].iloc[-1] == "logits"
    assert layers["output shape"].iloc[-1] == "(None, 64, 64, 20)"
    stages = at.dataframe[0].value
    assert list(stages["stage"]) == ["Backbone (encoder)", "ASPP", "Decoder", "Head (logits)"]
    assert stages["output shape"].iloc[0] == "4 × 4 × " + stages["output shape"].iloc[0].split(" × ")[-1]
    callout = "\n".join(i.value for i in at.info)
    assert "64 × 64 × 20" in callout and "one score" in callout
    metrics = {m.label: m.value for m in at.metric}
    total = int(metrics["Parameters"].replace(",", ""))
    assert total == int(metrics["Trainable"].replace(",", "")) + int(metrics["Non-trainable"].replace(",", ""))
    assert any("def build_model" in code.value for code in at.code)

    at.text_input[0].input("aspp_rate").run()
    _bug_free(at)
    filtered = at.dataframe[-1].value
    assert len(filtered) and all("aspp_rate" in name for name in filtered["name"])


# ---------------------------------------------------------------------------
# Other datasets and models
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_dataset_with_problems_lists_them(tiny_dataset, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "broken"
    (broken / "images").mkdir(parents=True)
    (broken / "masks").mkdir()
    pairs = sorted((tiny_dataset / "Training" / "Images").glob("*.jpg"))[:4]
    for image in pairs:
        shutil.copy(image, broken / "images" / image.name)
        shutil.copy(tiny_dataset / "Training" / "Category_ids" / f"{image.stem}.png", broken / "masks")
    (broken / "images" / "lonely.jpg").write_bytes(pairs[0].read_bytes())  # an image without a mask
    monkeypatch.setenv("SEGLIB_DATA_ROOTS", str(tmp_path))

    at = _app(dataset="broken")
    at.run()
    assert at.sidebar.selectbox[0].value == "broken"
    at.switch_page("pages/dataset.py").run()
    _bug_free(at)
    assert "4 train images" in _text(at)
    problems = next(e for e in at.expander if "problem" in e.label)
    assert "lonely" in problems.dataframe[0].value.to_string()


@pytest.mark.slow
def test_a_finished_run_checkpoint_is_offered_and_loads(tiny_dataset, tmp_path, monkeypatch):
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model
    from seglib.model.saving import save_model

    monkeypatch.setenv("SEGLIB_RUNS_DIR", str(tmp_path))
    config = get_preset("lecture").with_overrides({"model.image_size": 64})
    folder = folders.create_run(config, name="tiny run", status="finished")
    save_model(build_model(config.model), folder / "best.keras")

    at = _app(model=f"run:{folder.name}")
    at.run()
    _bug_free(at)
    assert at.sidebar.selectbox[1].value == f"run:{folder.name}"
    assert "Run: tiny run (best)" in _text(at)

    from ui import models

    model = models.load_model(folder / "best.keras")
    assert tuple(model.output_shape) == (None, 64, 64, 20)


@pytest.mark.slow
def test_prewarm_fills_the_caches_the_first_page_visits_use(tiny_dataset, monkeypatch):
    import seglib.data.stats
    import seglib.evaluation.inference
    import seglib.model.deeplab
    import seglib.model.saving
    import streamlit as st

    from seglib.presets import get_preset, preset_names
    from ui import datasets, models, prewarm

    import seglib.analysis.loss_shares
    from ui import lab

    st.cache_data.clear()
    st.cache_resource.clear()
    assert prewarm.prewarm() == ["dataset statistics", "exercise facts", "loss table", "model description",
                                "keras example", "keras example layers", "tensorflow", "default model", "why this pixel", "statistics at the model's size", "untrained model"]

    # Every page's first visit now finds them: nothing is loaded, built, counted or predicted again.
    def refuse(*args, **kwargs):
        raise AssertionError("loaded again: the cache was not warm")

    for module, name in ((seglib.model.saving, "load_model"), (seglib.model.deeplab, "build_model"),
                         (seglib.data.stats, "dataset_stats"), (seglib.analysis.loss_shares, "loss_shares"),
                         (seglib.evaluation.inference, "predict")):
        monkeypatch.setattr(module, name, refuse)
    choice = next(iter(models.model_options().values()))
    assert models.load_choice(choice) is not None
    preset = preset_names()[0]
    assert models.load_model(preset=preset).count_params() > 0
    assert models.model_description(preset, get_preset(preset).model.image_size)["total"] > 0
    assert models.reduced_numbers("keras-example")["fields"]
    root = next(iter(datasets.dataset_options().values()))
    stats = datasets.load_stats(root, "train")
    table = datasets.loss_table(choice, root, "train", datasets.LOSS_IMAGES_DEFAULT, stats.class_counts)
    assert table.attrs["images"] == min(datasets.LOSS_IMAGES_DEFAULT, len(datasets.load_dataset(root).split("train")))
    lab.warm_facts(root, choice)


@pytest.mark.slow
def test_prewarm_at_server_start_fills_what_the_predictions_page_opens_with(tiny_dataset, monkeypatch):
    """At server start the steps the slowest first visits wait on come first, without waiting for quiet
    moments; the Predictions page's first run then finds its "why this pixel" (ablation and gradient)
    computed, under the page's own cache keys."""
    import seglib.analysis.ablation
    import seglib.analysis.erf
    import streamlit as st

    from ui import prewarm

    st.cache_data.clear()
    st.cache_resource.clear()
    events = []
    monkeypatch.setattr(prewarm, "wait_for_quiet", lambda **_: events.append("wait") or 0.0)
    monkeypatch.setattr(prewarm, "_why_this_pixel",
                        lambda original=prewarm._why_this_pixel: (events.append("why this pixel"), original())[1])
    done = prewarm.prewarm(at_server_start=True)
    assert done[:3] == list(prewarm.SERVER_START_STEPS) == ["tensorflow", "default model", "why this pixel"]
    assert done[3:] == ["dataset statistics", "exercise facts", "loss table", "model description", "keras example",
                        "keras example layers", "statistics at the model's size", "untrained model"]
    assert events == ["why this pixel"] + ["wait"] * 8  # only the steps after the server-start ones waited

    def refuse(*args, **kwargs):
        raise AssertionError("computed again: the prewarm missed the page's cache key")

    monkeypatch.setattr(seglib.analysis.ablation, "ablate_image", refuse)
    monkeypatch.setattr(seglib.analysis.erf, "effective_receptive_field", refuse)
    from ui.predictions import view  # the page's prediction of its first image is the prewarm's too

    monkeypatch.setattr(view.inference, "predict", refuse)
    app = open_app("pages/predictions.py")
    error_free(app)
    assert "Why this pixel" in [header.value for header in app.header]


@pytest.mark.slow
def test_the_server_starts_the_prewarm_before_any_browser_connects(tiny_dataset, tmp_path):
    """``streamlit run dashboard.py`` serves the file through its ``st.App``, whose lifespan starts the
    prewarm: it finishes on a server nobody has opened, with the server-start steps first."""
    from dashboard_support import running_dashboard, wait_until
    from streamlit.web.server.app_discovery import discover_asgi_app

    from ui import prewarm

    found = discover_asgi_app(Path(__file__).resolve().parent.parent / "dashboard.py")
    assert found.is_asgi_app and found.import_string == "dashboard:app"
    log = tmp_path / "streamlit.log"

    def prewarmed() -> str | None:
        return next((line for line in log.read_text(errors="replace").splitlines()
                     if line.startswith("Prewarm done")), None)

    with running_dashboard(log, env={"SEGLIB_PREWARM": "1"}):
        line = wait_until(prewarmed, 120, message=lambda: log.read_text(errors="replace")[-3000:])
    assert "(started with the server): " + ", ".join(prewarm.SERVER_START_STEPS) in line, line
    assert "TensorFlow imported in" in log.read_text(errors="replace")  # before the server answered
    assert "Traceback" not in log.read_text(errors="replace")


def test_prewarm_steps_wait_for_the_page_runs():
    """A prewarm step starts only when no page run is in progress and none ended for a quiet moment
    (TensorFlow's import beside a page run stalled it for seconds), or after the longest wait."""
    import threading

    from ui import prewarm

    prewarm.run_started()
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(prewarm.wait_for_quiet(quiet=0.2, longest=10)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive()  # a run is in progress: the step waits
    ended = time.monotonic()
    prewarm.run_finished()
    waiter.join(5)
    assert not waiter.is_alive() and time.monotonic() - ended >= 0.2 and 0.7 <= waited[0] < 5
    prewarm.run_started()
    try:
        assert prewarm.wait_for_quiet(quiet=0.2, longest=0.3) < 1  # a busy server still gets it, later
    finally:
        prewarm.run_finished()
    time.sleep(0.5)  # half of the quiet time below has passed since that run ended: only the rest is waited
    assert prewarm.wait_for_quiet(quiet=1.0, longest=10) < 0.8  # the whole quiet time would be 1.0 s


def test_prewarm_starts_once_per_server_and_only_when_on(monkeypatch):
    from ui import prewarm

    prewarm.forget_started()
    monkeypatch.setattr(prewarm, "prewarm", lambda **_: None)  # the thread itself: tested above
    monkeypatch.setenv("SEGLIB_PREWARM", "0")
    assert prewarm.start_prewarm() is None
    monkeypatch.setenv("SEGLIB_PREWARM", "1")
    thread = prewarm.start_prewarm()
    assert thread is not None and thread.daemon and thread.name == "seglib-prewarm"
    thread.join(10)
    assert prewarm.start_prewarm() is None  # a second session does not start another
    prewarm.forget_started()


@pytest.mark.slow
def test_a_multiprocessing_child_importing_the_dashboard_draws_nothing():
    """A 'spawn' process pool (dataset statistics) re-imports the main file as __mp_main__."""
    import subprocess
    import sys

    code = "import runpy; runpy.run_path('dashboard.py', run_name='__mp_main__'); print('imported')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "imported"
    assert "Traceback" not in result.stderr and "ScriptRunContext" not in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("page", ["home.py", "dataset.py", "model.py", "atrous.py", "training.py",
                                  "predictions.py", "playground.py", "exercises.py", "classroom.py"])
def test_a_pages_element_tree_is_the_same_on_its_first_and_second_run(tiny_dataset, page):
    """Streamlit matches a page's elements between runs by their place: an element drawn on the first run
    only moves everything below it, and those are drawn afresh (an open expander closes, a chart
    flickers). The Training page's "Start a new run" form closed on the first value typed into it because
    the page header mounted its code preloader on the first run only."""
    at = open_app(f"pages/{page}")

    def tree(block) -> list:
        return [(index, type(child).__name__, getattr(child, "type", None))
                for index, child in sorted(block.children.items())]

    first = tree(at.main)
    at.run()
    _bug_free(at)
    assert tree(at.main) == first
