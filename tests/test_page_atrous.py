"""The atrous-scales page under Streamlit's AppTest, and its figure builders.

The page is run on a small model (a preset at 64 px) against the tiny
synthetic dataset; widgets are changed and the page re-run, as a student would.
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import error_free as _no_exception
from apptest_support import open_app, param
from image_support import one_bit_png
from markdown_check import plain
from seglib.analysis import aspp
from seglib.analysis import dilation
from seglib.figures import receptive as receptive_figures

PAGE = "pages/atrous.py"


def _page(query: dict | None = None, **state) -> AppTest:
    """The page, not yet run, with some widgets preset (as a student's earlier clicks would leave them)."""
    return open_app(PAGE, query=query, session=state, run=False)


def _branch_table(app: AppTest):
    tables = [frame.value for frame in app.dataframe if "valid-tap fraction" in frame.value.columns]
    assert tables, "the branch table is missing"
    return tables[0]


@pytest.mark.slow
def test_page_runs_on_a_small_preset_and_shows_the_table(tiny_dataset):
    # The course preset (the Keras example's rates 6/12/18) squeezed to 64 px.
    app = _page(atrous_model="course", atrous_size=64).run()
    _no_exception(app)
    table = _branch_table(app)
    assert list(table["branch"]) == ["image pooling", "1x1 conv", "3x3 rate 6", "3x3 rate 12", "3x3 rate 18"]
    assert list(table["spacing (px)"].dropna()) == [16, 96, 192, 288]
    assert table.loc[table["branch"] == "image pooling", "receptive field (px)"].item() == "whole image"
    # 64 px -> 4x4 map: every atrous branch is pure 1x1.
    assert (table.loc[table["branch"].str.startswith("3x3"), "acts as 1×1 at"] == 1.0).all()
    assert any("pure 1 × 1" in w.value for w in app.warning)
    assert "**ASPP map** 4 × 4" in " ".join(m.value for m in app.markdown)
    assert app.slider(key="atrous_row").max == 63
    text = " ".join(m.value for m in app.markdown)
    assert "Scales in the masks" in text and "The final layer" in text
    assert "output **64 × 64 × 20** (height × width × classes)" in text
    assert "3x3 rate 18: taps 288 px apart" in text and "image pooling: the whole image" in text


@pytest.mark.slow
def test_sliders_move_the_sampling_grid(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=64).run()
    app.slider(key="atrous_row").set_value(0)
    app.slider(key="atrous_column").set_value(63).run()
    _no_exception(app)
    table = _branch_table(app)
    # At a corner even the rate-6 kernel keeps only its centre tap on the 4x4 map.
    assert table.loc[table["branch"] == "3x3 rate 6", "valid taps here"].item() == "1 of 9"
    assert table.loc[table["branch"] == "1x1 conv", "valid taps here"].item() == "1 of 1"
    assert "ASPP output (0, 3) of 4 × 4" in " ".join(m.value for m in app.markdown)


@pytest.mark.slow
def test_rate_slider_and_bigger_size(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=128).run()
    _no_exception(app)
    table = _branch_table(app)
    assert table.loc[table["branch"] == "3x3 rate 6", "valid-tap fraction"].item() == pytest.approx(0.25)
    app.slider(key="atrous_demo_rate").set_value(4)
    app.slider(key="atrous_demo_depth").set_value(4).run()
    _no_exception(app)
    captions = " ".join(c.value for c in app.caption)
    assert "Field **9 × 9** from 9 weights; 72 cells inside it are never read" in captions
    assert "Field **31 × 31** from 36 weights; no holes" in captions  # rates 1, 2, 4, 8
    assert "Field **9 × 9** from 36 weights; no holes" in captions    # four plain 3x3 layers


@pytest.mark.slow
def test_effective_receptive_field_on_demand(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=64).run()
    app.button(key="atrous_erf_button").click().run()
    _no_exception(app)
    captions = " ".join(c.value for c in app.caption)
    assert "90 % within" in captions
    assert any("random weights" in i.value for i in app.info)


@pytest.mark.slow
def test_bad_upload_is_a_clear_message(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=64, atrous_image="Upload").run()
    _no_exception(app)
    assert any("plain grey picture" in i.value for i in app.info)


@pytest.mark.slow
@pytest.mark.parametrize("value, expected", [("-1", 0), ("999999", 3), ("abc", 0), ("1e9", 0), ("2", 2)])
def test_a_sample_index_from_the_url_is_clamped(tiny_dataset, value, expected):
    # /atrous?atrous_index=-1 showed Streamlit's exception box, with server paths in its traceback.
    app = _page({"atrous_index": value}, atrous_model="lecture", atrous_size=64).run()
    _no_exception(app)
    assert app.number_input(key="atrous_index").value == expected  # the tiny val split has 4 images


def _upload(name: str, data: bytes, mime: str = "image/png") -> AppTest:
    app = _page(atrous_model="lecture", atrous_size=64, atrous_image="Upload").run()
    app.file_uploader(key="atrous_upload").set_value((name, data, mime)).run()
    return app


@pytest.mark.slow
def test_uploads_use_the_shared_reader_types_and_limits(tiny_dataset):
    from seglib.evaluation import evaluate

    app = _page(atrous_model="lecture", atrous_size=64, atrous_image="Upload").run()
    uploader = app.file_uploader(key="atrous_upload")
    assert sorted(t.lstrip(".") for t in uploader.allowed_type) == sorted(evaluate.UPLOAD_TYPES)
    assert evaluate.UPLOAD_TYPES_TEXT in uploader.label
    # A decompression bomb (81 megapixels in ~10 kB) is refused from its header, by the shared reader.
    bomb = _upload("bomb.png", one_bit_png(9000, 9000))
    assert not bomb.exception
    messages = [plain(e.value) for e in bomb.error]
    assert any("bomb.png is 9000 × 9000 pixels" in m and "40 megapixels" in m for m in messages), messages
    broken = _upload("notes.png", b"just some text")
    assert any("notes.png cannot be decoded" in plain(e.value) for e in broken.error)
    small = _upload("photo.png", one_bit_png(50, 40))
    _no_exception(small)
    assert any("photo.png" in plain(c.value) and "64 × 64 px" in c.value for c in small.caption)


@pytest.mark.slow
def test_a_read_error_is_shown_as_the_reader_says_it(tiny_dataset, monkeypatch):
    # The page used to rewrite every read error to "cannot be decoded".
    from seglib.data import images
    from seglib.errors import ImageReadError

    def refuse(data, name):
        raise ImageReadError(f"{name} uses a colour mode this reader does not know (CMYK).")

    monkeypatch.setattr(images, "decode_image_with_notes", refuse)
    app = _upload("print.png", one_bit_png(30, 20))
    messages = [plain(e.value) for e in app.error]
    assert any("print.png uses a colour mode this reader does not know (CMYK)." in m for m in messages), messages


# ---------------------------------------------------------------------------
# What the page says about rates, sizes and kernels is true for the model shown (issue K item 4)
# ---------------------------------------------------------------------------

def _notes(app: AppTest) -> str:
    return "\n".join([w.value for w in app.warning] + [i.value for i in app.info])


@pytest.mark.slow
def test_the_rate_notes_hold_for_the_lecture_model(tiny_dataset):
    # The lecture preset (rates 2/4/6) was told "6/12/18 were chosen for 513 px" and "try 128 px".
    small = _page(atrous_model="lecture", atrous_size=64).run()
    _no_exception(small)
    notes = _notes(small)
    assert "3x3 rate 4, 3x3 rate 6 are pure 1 × 1" in notes
    assert "rates 2/4/6 need inputs of 112 px or more" in notes  # rate 6 needs a 7 x 7 map
    assert "513" not in notes and "6/12/18" not in notes
    assert dilation.valid_tap_stats(7, 6)["center_only_fraction"] < 1.0 == dilation.valid_tap_stats(6, 6)[
        "center_only_fraction"]
    lecture = _page(atrous_model="lecture", atrous_size=160).run()
    notes = _notes(lecture)
    assert "128 px" not in notes and "rates 12 and 18" not in notes
    assert "At 96 px (a 6 × 6 map) rate 6 would act as 1 × 1 everywhere (move the size slider)." in notes


@pytest.mark.slow
def test_the_513_px_note_is_shown_for_the_rates_6_12_18_only(tiny_dataset):
    app = _page(atrous_model="course", atrous_size=64).run()
    _no_exception(app)
    assert "DeepLab chose 6/12/18 for 513 px crops" in _notes(app)
    assert "rates 6/12/18 need inputs of 304 px or more" in _notes(app)


@pytest.mark.slow
def test_each_branch_has_its_own_kernel(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=64).run()
    intro = " ".join(m.value for m in app.markdown)
    assert "the same 3 × 3 kernel" not in intro
    assert "Each branch has its own 3 × 3 weights" in intro
    assert "its own 3x3 kernel (the size is shared, the weights are not)" in aspp.__doc__
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model

    model = build_model(get_preset("lecture").with_overrides({"model.image_size": 64}).model)
    analysis = aspp.aspp_analysis(model)
    atrous = [model.get_layer(name) for b in analysis.branches if b.kind == "conv" and b.rate > 1
              for name in b.layers if getattr(model.get_layer(name), "dilation_rate", (1, 1))[0] > 1]
    assert len(atrous) == 3 and len({id(v) for layer in atrous for v in layer.weights}) == \
        sum(len(layer.weights) for layer in atrous)  # no weight is shared between the branches


@pytest.mark.slow
def test_a_keras_example_column_beside_the_model(tiny_dataset):
    app = _page(atrous_model="lecture", atrous_size=160).run()
    _no_exception(app)
    table = next(frame.value for frame in app.dataframe if "Keras example (ResNet50, 512 px)" in frame.value.columns)
    rows = dict(zip(table[""], zip(table.iloc[:, 1], table.iloc[:, 2])))
    assert rows["output stride · ASPP map"] == ("16 · 10 × 10", "16 · 32 × 32")
    assert rows["atrous rates"] == ("2 / 4 / 6", "6 / 12 / 18")
    assert rows["tap spacing"] == ("32 / 64 / 96 px", "96 / 192 / 288 px")
    assert rows["ASPP input (layer)"][1] == "conv4_block6_2_relu"
    assert rows["rates that act as 1 × 1 everywhere"] == ("none", "none")
    branch_table = _branch_table(app)
    mine = branch_table.loc[branch_table["branch"].str.startswith("3x3"), "receptive field (px)"]
    assert rows["atrous branch fields"][0] == " / ".join(mine) + " px"
    # The example's fields: its backbone field plus 2 x rate x 16 px per branch.
    backbone = int(rows["backbone field"][1].split()[0])
    assert rows["atrous branch fields"][1] == " / ".join(str(backbone + 32 * r) for r in (6, 12, 18)) + " px"
    assert rows["valid taps (mean over positions)"][1] == " / ".join(
        f"{dilation.valid_tap_stats(32, r)['valid_tap_fraction']:.0%}" for r in (6, 12, 18))


def test_receptive_fields_do_not_depend_on_the_input_size():
    # Why the page may measure the Keras example's fields on a 64 px build of it.
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model

    def fields(size):
        model = build_model(get_preset("lecture").with_overrides({"model.image_size": size}).model)
        analysis = aspp.aspp_analysis(model)
        return analysis.receptive_field, [b.receptive_field_px for b in analysis.branches if b.kind == "conv"]

    assert fields(64) == fields(96)


@pytest.mark.slow
def test_the_selected_pixel_is_in_the_url(tiny_dataset):
    app = _page({"atrous_row": 10, "atrous_column": 999}, atrous_model="lecture", atrous_size=64).run()
    _no_exception(app)
    assert (app.slider(key="atrous_row").value, app.slider(key="atrous_column").value) == (10, 63)
    app.slider(key="atrous_row").set_value(20).run()
    assert param(app, "atrous_row") == "20"


# ---------------------------------------------------------------------------
# Figure builders (pure Plotly)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course_analysis():
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model

    return aspp.aspp_analysis(build_model(get_preset("course").model))


def test_sampling_figure_draws_every_branch(course_analysis):
    grid = aspp.sampling_grid(course_analysis, (256, 256))
    image = np.zeros((512, 512, 3), np.uint8)
    figure = receptive_figures.sampling_figure(image, course_analysis, grid)
    names = [trace.name for trace in figure.data]
    assert "image pooling (the whole image)" in names
    assert "3x3 rate 18 (288 px apart)" in names
    padding = [t for t in figure.data if t.name == "3x3 rate 18: on padding"][0]
    assert len(padding.x) == 8 and padding.marker.color == "rgba(0,0,0,0)"  # hollow
    valid = [t for t in figure.data if t.name == "3x3 rate 6 (96 px apart)"][0]
    assert len(valid.x) == 9 and valid.marker.line.color == "white"
    assert figure.layout.xaxis.range[0] < -32 and figure.layout.xaxis.range[1] > 256 + 288  # padding taps shown
    clipped = receptive_figures.sampling_figure(image, course_analysis, grid, show_outside=False)
    low, high = clipped.layout.xaxis.range
    assert -0.15 * 512 < low < -0.5 and 511.5 < high < 1.15 * 512  # the image plus a thin band
    grid_dots = [t for t in figure.data if t.name == "ASPP output positions"][0]
    assert len(grid_dots.x) == 32 * 32


def test_other_figures(course_analysis):
    curve = dilation.valid_tap_curve(32, range(1, 40))
    figure = receptive_figures.valid_tap_figure(curve, [6, 12, 18])
    assert len(figure.data) == 3 and list(figure.data[0].x) == list(range(1, 40))
    heat = receptive_figures.dilation_figure(dilation.dilated_stack_coverage([2]), grid_size=15)
    assert heat.data[0].z.shape == (15, 15) and np.isnan(heat.data[0].z[0, 0])
    erf = receptive_figures.erf_figure(np.ones((16, 16)), (8, 8), theoretical_field=33, extent_50=3,
                                       extent_90=9, image=np.zeros((16, 16, 3), np.uint8))
    assert any("90 % of the gradient: 9 px" == t.name for t in erf.data)
    scales = receptive_figures.scale_figure([40, 80, 120], course_analysis)
    names = [trace.name for trace in scales.data[1:]]
    assert names == ["image height: 512 px", "3x3 rate 6: taps span 192 px", "3x3 rate 12: taps span 384 px",
                     "3x3 rate 18: taps span 576 px"]
    grid = aspp.sampling_grid(course_analysis, (0, 0))
    pinned = receptive_figures.sampling_figure(np.zeros((512, 512, 3), np.uint8), course_analysis, grid,
                                               show_outside=False)
    hollow = [t for t in pinned.data if t.name == "3x3 rate 18: on padding"][0]
    assert min(hollow.x) >= pinned.layout.xaxis.range[0]  # pinned inside the view
    assert hollow.customdata[0][2] == -288  # hover still tells the true place


# ---------------------------------------------------------------------------
# Linked from the Predictions page: the same image and pixel, and the way back
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_link_from_predictions_opens_its_image_and_pixel_and_links_back(tiny_dataset):
    app = _page({"atrous_split": "train", "atrous_index": 3, "atrous_row": 10, "atrous_column": 50,
                 "px": 50, "py": 10}, atrous_model="lecture", atrous_size=64).run()
    _no_exception(app)
    assert app.number_input(key="atrous_index").value == 3
    assert "train split" in app.number_input(key="atrous_index").label
    assert (app.slider(key="atrous_row").value, app.slider(key="atrous_column").value) == (10, 50)
    stem = sorted(p.stem for p in (tiny_dataset / "Training" / "Images").iterdir())[3]
    shown = " ".join([c.value for c in app.caption] + [m.value for m in app.markdown])
    assert f"synthetic/train/{stem}" in plain(shown)
    assert "is pixel x 50, y 10 of the 64 × 64 px image" in shown
    assert "(/predictions?split=train&image=3&px=50&py=10)" in shown


LINK_BACK = """
from ui import why_pixel
why_pixel.predictions_link({root!r}, "val", 1, (5, 7), 32)
"""


@pytest.mark.parametrize("came_from, expected", [
    ({"px": 14, "py": 10}, "px=14&py=10"),  # the clicked pixel lies in model pixel (5, 7): kept
    ({"px": 16, "py": 10}, "px=15&py=11"),  # it does not: the centre of the model pixel's footprint
    ({"px": "abc"}, "px=15&py=11"),
])
def test_the_link_back_returns_to_the_clicked_pixel_while_the_model_pixel_holds_it(tiny_dataset, came_from,
                                                                                  expected):
    # The 64 px image at a 32 px model input: each model pixel covers 2 × 2 image pixels.
    from apptest_support import open_source

    app = open_source(LINK_BACK.format(root=str(tiny_dataset)), query=came_from)
    _no_exception(app)
    assert f"(/predictions?split=val&image=1&{expected})" in " ".join(m.value for m in app.markdown)
