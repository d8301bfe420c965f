"""The predictions page under Streamlit's AppTest, split evaluation and the
prediction figures.

The page runs against the tiny synthetic dataset (64 px) with the shipped demo
model when it is there, and with a small model saved as a finished run's
checkpoint (real ``build_model`` + ``.keras`` file) in any case. Widgets are
changed and the page re-run, as a student would click.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import error_free as _ok
from apptest_support import open_app, param
from apptest_support import text as page_text
from image_support import encoded, one_bit_png, random_picture
from markdown_check import inline_kinds, plain
from seglib.evaluation import evaluate, inference, metrics
from seglib.figures import inspector as inspector_figures
from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.errors import ImageReadError
from seglib.training.runs import folders
from seglib.figures import predictions as pf

PAGE = "pages/predictions.py"
TINY_SIZE = 64


# ---------------------------------------------------------------------------
# Models: a small checkpoint in a finished run, and the demo model when shipped
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_config(tiny_model_config):
    """The run config of the checkpoint: conftest's tiny model, trained for one epoch."""
    assert tiny_model_config.model.image_size == TINY_SIZE
    return tiny_model_config.with_overrides({"train.epochs": 1})


@pytest.fixture(scope="module")
def run_checkpoint(tiny_config, tiny_model, runs_root, tiny_dataset) -> str:
    """A finished run whose best.keras is the tiny model; returns the sidebar's model key."""
    from ui import models
    from seglib.model.saving import save_model

    folder = folders.create_run(tiny_config, name="tiny checkpoint", status="finished")
    save_model(tiny_model, folder / "best.keras", include_optimizer=False)
    models.refresh_model_options()  # the sidebar's run list is cached for a few seconds
    return f"run:{folder.name}"


def _demo_model_key() -> str | None:
    """'demo' when the demo model is shipped (assets/demo_model/model.keras)."""
    from seglib.training import demo

    return "demo" if demo.has_demo_model() else None


@pytest.fixture(scope="module")
def page_model(run_checkpoint) -> str:
    """The demo model when it is shipped, else the run checkpoint."""
    return _demo_model_key() or run_checkpoint


def _page(model_key: str, query: dict | None = None, **state) -> AppTest:
    """The page, not yet run, on the sidebar's model ``model_key``."""
    return open_app(PAGE, query=query, session={"model": model_key, **state}, run=False)


def _charts(app: AppTest) -> dict[str, dict]:
    """The page's Plotly figures by the key they were drawn with."""
    charts = {}
    for chart in app.get("plotly_chart"):
        match = re.search(r"-(pred-[\w-]+)$", chart.proto.id)
        if match:
            charts[match.group(1)] = json.loads(chart.proto.spec)
    return charts


def _metric(app: AppTest, label: str, occurrence: int = 0) -> float:
    values = [m.value for m in app.metric if m.label == label]
    text = values[occurrence]
    return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_page_shows_truth_prediction_difference_and_metrics(page_model):
    app = _page(page_model).run()
    _ok(app)
    charts = _charts(app)
    for key in ("pred-truth", "pred-prediction", "pred-difference", "pred-image", "pred-overlay", "pred-correct",
                "pred-iou", "pred-fractions", "pred-inspector-val-0", "pred-logits"):
        assert key in charts, sorted(charts)
    assert charts["pred-truth"]["layout"]["title"]["text"] == "Ground truth"
    assert charts["pred-prediction"]["layout"]["title"]["text"] == "Prediction"
    # The three masks are drawn at the image's own size (64 px), whatever size the model sees.
    for key in ("pred-truth", "pred-prediction", "pred-difference"):
        assert charts[key]["layout"]["xaxis"]["range"] == [-0.5, TINY_SIZE - 0.5]
    for label in ("Average error (course)", "Misclassified pixels", "Pixel accuracy", "Mean IoU (this image)"):
        assert 0.0 <= _metric(app, label) <= 1.0
    assert _metric(app, "Pixel accuracy") == pytest.approx(1 - _metric(app, "Misclassified pixels"), abs=0.002)
    shown = page_text(app)
    assert evaluate.ERROR_DIFFERENCE_SENTENCE in shown
    assert "however wrong it is" in shown
    assert app.segmented_control(key="pred_split").value == "val"
    assert "Press **Evaluate**" in shown  # the split evaluation waits for a click


@pytest.mark.slow
def test_the_pixel_inspector_shows_twenty_logits_and_follows_the_inputs(page_model):
    app = _page(page_model).run()
    _ok(app)
    logits = _charts(app)["pred-logits"]
    bars = [trace for trace in logits["data"] if trace["type"] == "bar"]
    assert [trace["name"] for trace in bars] == ["logit", "probability"]
    assert all(len(trace["y"]) == len(CLASS_NAMES) == 20 for trace in bars)
    assert "Pixel x 32, y 32" in logits["layout"]["title"]["text"]
    app.number_input(key="pred_px").set_value(5)
    app.number_input(key="pred_py").set_value(60).run()
    _ok(app)
    logits = _charts(app)["pred-logits"]
    assert "Pixel x 5, y 60" in logits["layout"]["title"]["text"]
    argmax = logits["layout"]["title"]["text"].split("argmax = ")[1]
    widths = logits["data"][0]["marker"]["line"]["width"]
    chosen = int(np.argmax(widths))
    assert argmax == f"{chosen} {CLASS_NAMES[chosen]}"  # the outlined bar is the argmax
    assert sum("argmax" in text for text in logits["data"][1]["text"]) == 1
    assert param(app, "px") == "5" and param(app, "py") == "60"
    code = " ".join(c.value for c in app.code)
    assert "np.argmax(logits, axis=-1)" in code  # the source of seglib.evaluation.inference
    assert "mask[60, 5]" in code


@pytest.mark.slow
def test_a_click_on_the_prediction_moves_the_inspected_pixel(page_model):
    app = _page(page_model).run()
    # What the browser sends when a point of the clickable grid is clicked.
    app.session_state["pred-inspector-val-0"] = {
        "selection": {"points": [{"x": 10, "y": 20, "curve_number": 1, "point_index": 0}],
                      "point_indices": [0], "box": [], "lasso": []}}
    app.run()
    _ok(app)
    assert app.number_input(key="pred_px").value == 10
    assert app.number_input(key="pred_py").value == 20
    inspector = _charts(app)["pred-inspector-val-0"]
    assert any(trace.get("name") == "inspected pixel (x 10, y 20)" for trace in inspector["data"])


@pytest.mark.slow
def test_selecting_another_image_and_the_url_state(page_model, tiny_dataset):
    app = _page(page_model).run()
    first = _charts(app)["pred-truth"]
    app.selectbox(key="pred_image").set_value(2).run()
    _ok(app)
    assert param(app, "image") == "2"
    assert "pred-inspector-val-2" in _charts(app)
    assert _charts(app)["pred-truth"]["data"][0]["source"] != first["data"][0]["source"]
    # A shared link reproduces the view: split, image and pixel.
    linked = _page(page_model, query={"split": "train", "image": 3, "px": 7, "py": 9}).run()
    _ok(linked)
    assert linked.segmented_control(key="pred_split").value == "train"
    assert linked.selectbox(key="pred_image").value == 3
    assert "Pixel x 7, y 9" in _charts(linked)["pred-logits"]["layout"]["title"]["text"]
    stem = sorted(p.stem for p in (tiny_dataset / "Training" / "Images").iterdir())[3]
    assert any(stem in c.value for c in linked.caption)


@pytest.mark.slow
def test_split_evaluation_ranks_the_hardest_images_and_opens_one(page_model):
    app = _page(page_model, pred_eval_split="val").run()
    app.button(key="pred_eval_button").click().run()
    _ok(app)
    for label in ("Average error (course)", "Misclassified pixels", "Pixel accuracy", "Mean IoU (split)"):
        assert 0.0 <= _metric(app, label, -1) <= 1.0
    confusion = _charts(app)["pred-confusion"]
    heatmap = confusion["data"][0]
    assert len(heatmap["x"]) == len(heatmap["y"]) == 20 and heatmap["y"][13] == "13 Face"
    table = next(frame.value for frame in app.dataframe if "avg error" in frame.value.columns
                 or "average_error" in frame.value.columns)
    assert len(table) == 4  # the tiny validation split
    errors = table["average_error"].to_numpy()
    assert np.all(np.diff(errors) <= 1e-12)  # hardest first
    assert "4 of 4 val images" in page_text(app)
    # Select the hardest image's row: the page opens it above.
    hardest_index = int(table["image"].iloc[0]) - 1
    table_key = app.session_state["pred_hardest_table"]
    app.session_state[table_key] = {"selection": {"rows": [0], "columns": []}}
    app.run()
    _ok(app)
    assert app.selectbox(key="pred_image").value == hardest_index
    assert app.segmented_control(key="pred_split").value == "val"
    # Another session asking for the same evaluation gets it from the shared cache at once.
    other = _page(page_model, pred_eval_split="val").run()
    _ok(other)
    assert "4 of 4 val images" in page_text(other)
    assert other.button(key="pred_eval_button").disabled


@pytest.mark.slow
def test_a_run_checkpoint_can_be_used_and_upload_mode_waits_for_a_file(run_checkpoint):
    app = _page(run_checkpoint).run()
    _ok(app)
    assert "Run: tiny checkpoint" in page_text(app)
    assert 0.0 <= _metric(app, "Average error (course)") <= 1.0
    app.segmented_control(key="pred_split").set_value("upload").run()
    _ok(app)
    assert any("Upload a photo" in i.value for i in app.info)
    assert param(app, "split") == "upload"


def _upload(app: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    app.run()
    app.segmented_control(key="pred_split").set_value("upload").run()
    app.file_uploader(key="pred_upload").set_value((name, data, mime)).run()
    return app


def _array(field) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array ``{"dtype", "bdata"}``."""
    if isinstance(field, dict) and "bdata" in field:
        import base64

        return np.frombuffer(base64.b64decode(field["bdata"]), dtype=field["dtype"])
    return np.asarray(field)


@pytest.mark.slow
def test_a_large_upload_is_drawn_small_and_inspected_in_its_own_pixels(page_model):
    # A link to the far corner of the upload: px and py are checked against the upload's own size.
    app = _upload(_page(page_model, query={"split": "upload", "px": 2999, "py": 1999}), "wide.png",
                  one_bit_png(3000, 2000))
    _ok(app)
    shown = page_text(app)
    assert "wide.png · 3000 × 2000 px" in shown and "1024 × 683 copy" in shown
    charts = _charts(app)
    for key in ("pred-image", "pred-prediction", "pred-overlay"):
        assert charts[key]["layout"]["xaxis"]["range"] == [-0.5, 2999.5]  # hover reads the upload's pixels
    inspector = next(chart for key, chart in charts.items() if key.startswith("pred-inspector-upload-"))
    grid = next(trace for trace in inspector["data"] if trace.get("name") == inspector_figures.INSPECTOR_GRID_NAME)
    columns, rows = _array(grid["x"]), _array(grid["y"])
    assert 2900 < columns.max() < 3000 and 1900 < rows.max() < 2000
    assert "Pixel x 2999, y 1999" in charts["pred-logits"]["layout"]["title"]["text"]
    # Why this pixel, in the upload's pixels: no truth, so no mean IoU; the ablation reads the 1024 px copy.
    why = next(table.value for table in app.table if "class flips" in table.value.columns)
    assert len(why) == 7 and "image mean IoU" not in why.columns
    assert "computed from the smaller copy of the upload" in shown
    # What the browser gets stays small: every picture is at most a few hundred pixels.
    payload = sum(len(chart.proto.spec) for chart in app.get("plotly_chart"))
    assert payload < 1_500_000, payload
    fractions = charts["pred-fractions"]
    assert fractions["data"], "the class shares of the upload are drawn"


@pytest.mark.slow
def test_every_upload_widget_takes_the_same_file_types(page_model):
    app = _page(page_model).run()
    app.segmented_control(key="pred_split").set_value("upload").run()
    uploader = app.file_uploader(key="pred_upload")
    assert sorted(t.lstrip(".") for t in uploader.allowed_type) == sorted(evaluate.UPLOAD_TYPES)
    assert evaluate.UPLOAD_TYPES_TEXT in uploader.label and "GIF" in uploader.label
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="GIF")
    app.file_uploader(key="pred_upload").set_value(("red.gif", buffer.getvalue(), "image/gif")).run()
    _ok(app)
    assert "red.gif · 40 × 30 px" in page_text(app)


HOSTILE_NAME = "**b** `c` [l](http://evil.example) ![i](http://evil.example/i.png) $x$.png"


@pytest.mark.slow
def test_an_upload_name_is_shown_as_text_never_as_markdown(page_model):
    app = _upload(_page(page_model), HOSTILE_NAME, _png_bytes(20, 30))
    _ok(app)
    caption = next(c.value for c in app.caption if "30 × 20 px" in c.value)
    assert inline_kinds(caption) <= {"text", "code_inline", "softbreak"}, caption  # no link, image or bold
    assert HOSTILE_NAME in plain(caption)
    long_name = "x" * 20_000 + ".png"
    app = _upload(_page(page_model), long_name, _png_bytes(20, 30))
    _ok(app)
    caption = next(c.value for c in app.caption if "30 × 20 px" in c.value)
    assert len(caption) < 400 and "…" in caption


@pytest.mark.slow
def test_a_decompression_bomb_upload_is_refused_with_a_message(page_model):
    app = _upload(_page(page_model), "bomb.png", one_bit_png(9000, 9000))  # 81 megapixels, ~10 kB
    assert not app.exception, [e.value for e in app.exception]
    messages = [plain(e.value) for e in app.error]
    assert any("bomb.png is 9000 × 9000 pixels" in m and "40 megapixels" in m for m in messages), messages


# ---------------------------------------------------------------------------
# seglib.evaluation.evaluate
# ---------------------------------------------------------------------------

def test_compare_masks_counts_mistakes_and_vanished_classes():
    truth = np.zeros((10, 10), np.uint8)
    truth[2:6, 2:6] = 13     # face: 16 px
    truth[8, 8] = 4          # one pixel of sunglasses
    truth[9, 9] = IGNORE_LABEL
    predicted = truth.copy()
    predicted[9, 9] = 0
    predicted[2:4, 2:6] = 2  # 8 face pixels called hair
    predicted[8, 8] = 0      # the sunglasses vanish
    predicted[0, 0] = 7      # a coat pixel is invented
    comparison = evaluate.compare_masks(truth, predicted)
    assert comparison.labelled_pixels == 99 and comparison.ignored_pixels == 1
    assert comparison.wrong_pixels == 10
    assert comparison.misclassified_rate == pytest.approx(10 / 99)
    assert comparison.average_error == pytest.approx((8 * 11 + 4 + 7) / 99 / 19)
    assert comparison.average_error == pytest.approx(metrics.average_error(truth, predicted, 20))
    assert comparison.missed_classes == [4] and comparison.invented_classes == [2, 7]
    assert comparison.difference[2, 2] == 11 and comparison.difference[9, 9] == 0
    assert not comparison.wrong[9, 9]
    assert comparison.truth_fractions.sum() == pytest.approx(1.0)
    assert np.isnan(comparison.per_class_iou[5]) and comparison.per_class_iou[4] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        evaluate.compare_masks(truth, predicted[:5])


def test_evaluate_split_matches_per_image_predictions(tiny_model, tiny_dataset):
    from seglib.data.dataset import load_pair, open_dataset
    from seglib.evaluation.inference import predict

    pairs = open_dataset(tiny_dataset).split("train")
    calls = []
    result = evaluate.evaluate_split(tiny_model, pairs, None, limit=5, batch_size=2,
                                     progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert result.count == 5 and result.total_images == 12 and result.num_classes == 20
    assert list(result.per_image.columns) == list(evaluate.PER_IMAGE_COLUMNS)
    assert list(result.per_image["index"]) == [0, 1, 2, 3, 4]
    assert result.confusion.dtype == np.int64 and result.confusion.sum() == 5 * TINY_SIZE * TINY_SIZE
    image, truth = load_pair(pairs[3])
    one = evaluate.compare_masks(truth, predict(tiny_model, image).mask)
    row = result.per_image.iloc[3]
    assert row["average_error"] == pytest.approx(one.average_error, abs=1e-6)
    assert row["misclassified_rate"] == pytest.approx(one.misclassified_rate, abs=1e-6)
    assert row["mean_iou"] == pytest.approx(one.mean_iou, abs=1e-6)
    assert result.pixel_accuracy == pytest.approx(1 - result.misclassified_rate)
    hardest = result.hardest(3, by="average_error")
    assert list(hardest["rank"]) == [1, 2, 3]
    assert list(hardest["average_error"]) == sorted(result.per_image["average_error"], reverse=True)[:3]
    best_iou_last = result.hardest(None, by="mean_iou")
    assert best_iou_last["mean_iou"].is_monotonic_increasing
    with pytest.raises(ValueError, match="by must be one of"):
        result.hardest(3, by="loss")
    with pytest.raises(ValueError, match="limit"):
        evaluate.evaluate_split(tiny_model, pairs, None, limit=0)
    with pytest.raises(ValueError, match="no images"):
        evaluate.evaluate_split(tiny_model, [], None)
    resized = evaluate.evaluate_split(tiny_model, pairs, 32, limit=2)
    assert resized.confusion.sum() == 2 * 32 * 32 and list(resized.per_image["height"]) == [32, 32]


def test_evaluate_split_with_a_saved_and_reloaded_model(tiny_model, tiny_dataset, tmp_path):
    from seglib.data.dataset import open_dataset
    from seglib.model.saving import load_model, save_model

    path = save_model(tiny_model, tmp_path / "tiny.keras", include_optimizer=False)
    reloaded = load_model(path)
    pairs = open_dataset(tiny_dataset).split("val")
    before = evaluate.evaluate_split(tiny_model, pairs, None, limit=2)
    after = evaluate.evaluate_split(reloaded, pairs, None, limit=2)
    np.testing.assert_array_equal(before.confusion, after.confusion)


def test_pixel_table_is_softmax_and_argmax():
    logits = np.linspace(-2, 3, 20).astype(np.float32)
    logits[13] = 9.0
    table = evaluate.pixel_table(logits)
    assert list(table.columns) == ["id", "name", "logit", "probability", "chosen"]
    assert table["probability"].sum() == pytest.approx(1.0, abs=1e-6)
    assert table.loc[table["chosen"], "name"].item() == "Face"
    assert table["probability"].idxmax() == 13
    with pytest.raises(ValueError, match="1-D"):
        evaluate.pixel_table(np.zeros((2, 20)))


def _png_bytes(height: int, width: int) -> bytes:
    return encoded(random_picture(height, width))


def test_read_image_bytes_accepts_images_and_explains_bad_files():
    image = evaluate.read_image_bytes(_png_bytes(30, 50), "photo.png")
    assert image.shape == (30, 50, 3) and image.dtype == np.uint8
    with pytest.raises(ImageReadError, match="notes.png cannot be decoded"):
        evaluate.read_image_bytes(b"this is not an image", "notes.png")
    with pytest.raises(ImageReadError, match="empty"):
        evaluate.read_image_bytes(b"", "empty.png")
    with pytest.raises(ImageReadError, match="under"):
        evaluate.read_image_bytes(_png_bytes(30, 50), "big.png", max_bytes=100)
    with pytest.raises(ImageReadError, match="megapixels"):
        evaluate.read_image_bytes(_png_bytes(30, 50), "wide.png", max_pixels=1000)


# ---------------------------------------------------------------------------
# seglib.figures.predictions
# ---------------------------------------------------------------------------

def _masks():
    truth = np.zeros((40, 60), np.uint8)
    truth[10:30, 10:30] = 13
    truth[0, :] = IGNORE_LABEL
    predicted = truth.copy()
    predicted[0, :] = 0
    predicted[10:20, 10:30] = 2
    return truth, predicted


def test_difference_figure_is_the_course_view():
    truth, predicted = _masks()
    figure = pf.difference_figure(truth, predicted, 20, title="diff")
    image, hover, scale_bar, legend = figure.data
    assert image.type == "image" and image.source.startswith("data:image/png")
    assert scale_bar.marker.cmin == 0 and scale_bar.marker.cmax == 19 and scale_bar.marker.showscale
    assert hover.z[15][15] == 11 and hover.text[15][15] == "truth Face → predicted Hair"
    assert hover.text[0][0].startswith("no label")
    assert legend.name == "no label (ignored)"
    assert tuple(figure.layout.xaxis.range) == (-0.5, 59.5)
    big = pf.difference_figure(np.zeros((1000, 500), np.uint8), np.ones((1000, 500), np.uint8), hover_size=50)
    assert np.asarray(big.data[1].z).shape == (50, 25)  # the hover layer stays small
    assert len(big.data) == 3  # nothing ignored: no legend entry


def test_correctness_figure_counts_without_colour():
    truth, predicted = _masks()
    figure = pf.correctness_figure(truth, predicted)
    names = [trace.name for trace in figure.data[2:]]
    labelled = 40 * 60 - 60
    assert names == [f"wrong: 200 px ({200 / labelled:.1%})", f"right: {labelled - 200:,} px "
                     f"({(labelled - 200) / labelled:.1%})", "no label: 60 px"]
    assert [trace.marker.color for trace in figure.data[2:]] == ["#ffffff", "#000000", pf.IGNORE_COLOR]
    assert figure.layout.showlegend


def test_per_class_figures():
    truth, predicted = _masks()
    comparison = evaluate.compare_masks(truth, predicted)
    iou = pf.class_iou_figure(comparison.per_class_iou, comparison.truth_counts, comparison.predicted_counts)
    assert list(iou.data[0].y) == ["0 Background", "2 Hair", "13 Face"]
    assert iou.data[0].text[1] == "0.00 (not in truth)"
    truth_counts = np.zeros(20, np.int64)
    truth_counts[[0, 4, 13]] = [1000, 3, 100]
    predicted_counts = np.zeros(20, np.int64)
    predicted_counts[[0, 13]] = [1010, 93]
    figure = pf.fraction_comparison_figure(truth_counts, predicted_counts, log=True)
    truth_bars, predicted_bars, missed = figure.data
    assert list(truth_bars.x) == ["Background", "Face", "Sunglasses"]
    assert predicted_bars.marker.pattern.shape == "/" and truth_bars.marker.pattern.shape == ""
    assert list(missed.x) == ["Sunglasses"] and missed.name == "✗ in the truth, never predicted"
    assert figure.layout.yaxis.type == "log"
    people = pf.fraction_comparison_figure(truth_counts, predicted_counts, include_background=False)
    assert "Background" not in list(people.data[0].x)
    assert sum(people.data[0].y) == pytest.approx(1.0)


def test_confusion_figure_is_row_normalised_with_counts():
    confusion = np.zeros((20, 20), np.int64)
    confusion[0, 0], confusion[0, 13] = 90, 10
    confusion[13, 13] = 5
    figure = pf.confusion_figure(confusion)
    heatmap = figure.data[0]
    z = np.asarray(heatmap.z, dtype=float)
    assert z[0, 0] == pytest.approx(0.9) and z[0, 13] == pytest.approx(0.1) and z[13, 13] == 1.0
    assert np.isnan(z[4]).all()  # no true sunglasses: the row stays blank
    assert heatmap.customdata[0][13][0] == 10 and heatmap.customdata[0][13][1] == 100
    assert heatmap.x[13] == heatmap.y[13] == "13 Face"
    assert figure.layout.yaxis.autorange == "reversed"


def test_logits_and_inspector_figures():
    logits = np.zeros(20, np.float32)
    logits[5] = 4.0
    figure = inspector_figures.logits_figure(logits)
    assert len(figure.data) == 2 and all(len(trace.x) == 20 for trace in figure.data)
    assert figure.data[0].marker.line.width[5] == 3.5 and figure.data[0].marker.line.width[0] == 1
    assert "argmax" in figure.data[1].text[5] and figure.data[1].textposition[5] == "inside"
    assert sum("argmax" in text for text in figure.data[1].text) == 1
    unsure = inspector_figures.logits_figure(np.zeros(20, np.float32))  # a tie: the first class wins, the label sits outside
    assert unsure.data[1].text[0] == "5.0% ◀ <b>argmax</b>" and unsure.data[1].textposition[0] == "outside"
    assert sum(figure.data[1].x) == pytest.approx(1.0, abs=1e-5)
    mask = np.zeros((300, 200), np.uint8)
    image = np.zeros((300, 200, 3), np.uint8)
    inspector = inspector_figures.inspector_figure(mask, image, selected=(150, 20), max_points=50)
    grid = inspector.data[1]
    assert grid.name == inspector_figures.INSPECTOR_GRID_NAME
    rows, columns = inspector_figures.inspector_grid(300, 200, 50)
    assert len(grid.x) == len(rows) * len(columns) and max(rows) < 300 and rows[1] - rows[0] == 6
    assert inspector.data[-1].x == (20,) and inspector.data[-1].y == (150,)


# ---------------------------------------------------------------------------
# Why this pixel: effective receptive field, taps and parts switched off
# ---------------------------------------------------------------------------

def _table(app: AppTest, column: str):
    return next(table.value for table in app.table if column in table.value.columns)


@pytest.mark.slow
def test_why_this_pixel_shows_the_field_the_taps_and_the_ablation_of_the_inspected_pixel(page_model, tiny_dataset):
    from seglib.analysis import ablation
    from seglib.data.dataset import load_pair, open_dataset
    from ui import models

    app = _page(page_model, query={"px": 20, "py": 40}).run()
    _ok(app)
    charts = _charts(app)
    argmax = charts["pred-logits"]["layout"]["title"]["text"].split("argmax = ")[1]
    table = _table(app, "class flips")
    assert list(table.index) == ["nothing (full model)", "image pooling", "1x1 conv", "3x3 rate 2", "3x3 rate 4",
                                 "3x3 rate 6", "low-level skip"]
    assert table["pixel's class"].iloc[0] == argmax  # the full model's row is the inspector's pixel

    # The numbers are seglib's, for this image and pixel.
    model = models.load_model(_model_path(page_model))  # the page's own model, from the shared cache
    image, truth = load_pair(open_dataset(tiny_dataset).split("val")[0])
    expected = ablation.ablate_image(model, image, truth).pixel_table(40, 20)
    assert list(table["probability"]) == [f"{p:.1%}" for p in expected["probability"]]
    assert list(table["image mean IoU"]) == [f"{v:.3f}" for v in expected["mean IoU"]]
    assert list(table["class flips"]) == ["yes" if c else "" for c in expected["changed"]]

    field = charts["pred-why-field"]
    assert field["layout"]["title"]["text"].startswith("Pixel x 20, y 40: where its ")
    names = [trace.get("name", "") for trace in field["data"]]
    assert "image pooling: the whole image" in names
    assert any(name.startswith("3x3 rate 6: ") and "taps on the map" in name for name in names)
    assert any(trace["type"] == "heatmap" for trace in field["data"])
    shown = page_text(app)
    assert "bit for bit" in shown and "90 % within" in shown
    row, column = inference.model_pixel((40, 20), (TINY_SIZE, TINY_SIZE), inference.model_input_size(model))
    assert (f"atrous_split=val&atrous_index=0&atrous_row={row}&atrous_column={column}&px=20&py=40"
            in shown)

    app.number_input(key="pred_px").set_value(5).run()
    _ok(app)
    assert _charts(app)["pred-why-field"]["layout"]["title"]["text"].startswith("Pixel x 5, y 40")


def _model_path(model_key: str) -> str:
    from ui import models

    return str(models.model_options()[model_key].path)


@pytest.mark.slow
def test_the_split_ablation_runs_on_demand_and_is_kept_for_everyone(page_model):
    app = _page(page_model).run()
    assert "Press **Switch each part off**" in page_text(app)
    app.number_input(key="pred_ablation_count").set_value(2)
    app.button(key="pred_ablation_button").click().run()
    _ok(app)
    table = _table(app, "class hurt most (IoU)")
    assert len(table) == 7 and table["change"].iloc[0] == "+0.000"
    changes = [float(value) for value in table["change"].iloc[1:]]
    worst = table.index[1 + int(np.argmin(changes))]
    assert f"- Switching off the **{worst}** costs the most" in page_text(app)  # the sentence follows the table
    assert "2 of 4 val images" in page_text(app)
    assert "pred-ablation-figure" in _charts(app)
    other = _page(page_model, pred_ablation_count=2).run()
    _ok(other)
    assert other.button(key="pred_ablation_button").disabled and _table(other, "class hurt most (IoU)").equals(table)


def _animated_gif(frames: int = 3, size: int = 24) -> bytes:
    import io

    from PIL import Image

    pictures = [Image.new("RGB", (size, size), (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return buffer.getvalue()


def _turned_jpeg() -> bytes:
    import io

    from PIL import Image

    picture = Image.new("RGB", (32, 16), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90° clockwise to stand upright
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def test_what_reading_an_upload_changed_is_said_in_one_line():
    import io

    from PIL import Image

    grey = io.BytesIO()
    Image.new("L", (16, 16), 128).save(grey, format="PNG")
    image, notes = evaluate.read_upload(grey.getvalue(), "scan.png")
    assert image.shape == (16, 16, 3)
    assert evaluate.upload_note("scan.png", notes) == ("scan.png was read as the model sees it: grayscale "
                                                       "replicated to RGB.")
    image, notes = evaluate.read_upload(_animated_gif(3), "wave.gif")
    assert notes[0] == "only the first of its 3 frames is used (an animation; the model sees one picture)"
    image, notes = evaluate.read_upload(_turned_jpeg(), "phone.jpg")
    assert image.shape[:2] == (32, 16) and notes[0].startswith("EXIF orientation 6 applied")
    colour = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(colour, format="PNG")
    assert evaluate.read_upload(colour.getvalue(), "plain.png")[1] == []  # nothing changed: nothing said
    assert evaluate.upload_note("plain.png", []) == ""


@pytest.mark.slow
def test_an_animated_or_turned_upload_says_so_on_the_page(page_model):
    app = _upload(_page(page_model), "wave.gif", _animated_gif(4), "image/gif")
    _ok(app)
    notes = [c.value for c in app.caption if "was read as the model sees it" in c.value]
    assert len(notes) == 1 and "only the first of its 4 frames is used" in notes[0], notes
    app.file_uploader(key="pred_upload").set_value(("phone.jpg", _turned_jpeg(), "image/jpeg")).run()
    _ok(app)
    notes = [c.value for c in app.caption if "was read as the model sees it" in c.value]
    assert len(notes) == 1 and "EXIF orientation 6 applied" in notes[0], notes
