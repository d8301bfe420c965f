"""Figures for slides (issue 27 §5): the slide layout the browser draws downloads from, the caption
line, and presentation mode drawing figures with the slide's fonts and scale."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from apptest_support import open_source
from seglib.figures import slides
from seglib.figures.masks import mask_figure
from seglib.figures.slides import SLIDE, SlideLayout


def test_the_slide_is_1920_wide_and_its_caption_band_follows_the_chart():
    spec = slides.slide_spec()
    assert spec["pixelWidth"] == 1920
    # The chart is laid out in page pixels and drawn `scale` times larger: exactly the picture's width.
    assert spec["layoutWidth"] * spec["scale"] == 1920
    assert (spec["maxChartHeight"] + spec["captionBand"]) * spec["scale"] == 1080  # at most 16:9
    assert spec["captionBand"] * spec["scale"] == SLIDE.caption_band
    # The caption's text sits inside its band, below the chart, with room for its letters.
    assert spec["captionFontSize"] < spec["captionBaselineOffset"] < spec["captionBand"]
    assert spec["captionFontSize"] * spec["scale"] == SLIDE.caption_font_size
    assert 0 < spec["captionX"] * spec["scale"] == SLIDE.caption_padding
    json.dumps(spec)  # the browser reads it as JSON


@pytest.mark.parametrize("aspect, height", [
    (None, 1080),            # proportions unknown: the whole slide
    (0.77, 1080),            # a mask panel, about square on the page: as high as the slide allows
    (450 / 1100, 834),       # a full-width chart keeps its proportions: 1280 x 524 laid out
    (190 / 1250, 341),       # a strip of boxes stays a strip
    (0.001, 288),            # never flatter than the least chart height (+ the caption band)
])
def test_a_chart_keeps_its_page_proportions_within_the_slide(aspect, height):
    assert slides.picture_size(aspect) == (1920, height)
    chart = slides.chart_layout_height(aspect)
    assert slides.slide_spec()["minChartHeight"] <= chart <= slides.slide_spec()["maxChartHeight"]


def test_a_slide_of_another_size_keeps_the_same_rules():
    layout = SlideLayout(width=1280, height=720, scale=1.0, caption_band=40, caption_font_size=16)
    spec = slides.slide_spec(layout)
    assert (spec["layoutWidth"], spec["maxChartHeight"]) == (1280, 680)
    assert slides.picture_size(0.25, layout) == (1280, 320 + 40)
    assert layout.caption_max_chars == int((1280 - 48) / (slides.CHARACTER_WIDTH * 16))


@pytest.mark.parametrize("arguments", [dict(width=0), dict(scale=0), dict(caption_band=1080),
                                       dict(caption_font_size=60), dict(min_chart_height=1070)])
def test_an_impossible_slide_is_refused_with_the_value(arguments):
    with pytest.raises(ValueError, match="Received"):
        SlideLayout(**arguments)


def test_the_caption_line_names_run_model_and_dataset():
    caption = slides.caption_line(run="lecture-20250101-120000", model="lecture: mobilenetv2 x0.35", dataset="cihp")
    assert caption == "run lecture-20250101-120000 · model lecture: mobilenetv2 x0.35 · dataset cihp"
    assert slides.caption_line() == "run — · model — · dataset —"
    assert slides.caption_line(run="a\nb  c") == "run a b c · model — · dataset —"  # one line


def test_a_long_caption_shortens_the_model_first_and_always_fits():
    limit = SLIDE.caption_max_chars
    caption = slides.caption_line(run="my-run", model="x" * 400, dataset="synthetic")
    assert len(caption) <= limit
    assert caption.startswith("run my-run · model xxx") and caption.endswith("… · dataset synthetic")
    caption = slides.caption_line(run="r" * 400, model="m", dataset="d")
    assert len(caption) == limit and caption.endswith("…")


def test_file_names_are_safe_slugs():
    assert slides.chart_filename("pred-truth") == "pred-truth"
    assert slides.chart_filename("IoU per class, this image") == "iou-per-class-this-image"
    assert slides.chart_filename(None) == slides.chart_filename("../..") == "figure"


def _font_sizes(node, path=""):
    """Every (path, size) of an explicit font size in a figure's JSON."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict) and "size" in value:
                found.append((f"{path}.{key}", value["size"]))
            found.extend(_font_sizes(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_font_sizes(value, f"{path}[{index}]"))
    return found


def test_presentation_scales_every_font_margin_and_the_height_like_the_slide():
    mask = np.zeros((32, 48), np.uint8)
    mask[8:24, 8:24] = 13
    figure = mask_figure(mask, kind="mask", title="Ground truth", height=300)
    figure.add_annotation(text="note", font=dict(size=10), x=0, y=0)
    unchanged = figure.to_json()
    before = json.loads(unchanged)
    shown = json.loads(slides.presentation_figure(figure).to_json())
    assert figure.to_json() == unchanged  # a cached, shared figure is never changed

    sizes_before, sizes_after = dict(_font_sizes(before)), dict(_font_sizes(shown))
    assert sizes_before and sizes_before.keys() <= sizes_after.keys()
    for path, size in sizes_before.items():
        assert sizes_after[path] == pytest.approx(size * SLIDE.scale), path
    # Text the figure does not size itself: Plotly's default, scaled the same.
    assert shown["layout"]["font"]["size"] == slides.PLOTLY_FONT_SIZE * SLIDE.scale
    for side, value in before["layout"]["margin"].items():
        assert shown["layout"]["margin"][side] == pytest.approx(value * SLIDE.scale)
    assert shown["layout"]["height"] == 300 * SLIDE.scale


def test_presentation_keeps_a_figure_within_the_slide_and_its_own_base_font():
    figure = go.Figure(go.Bar(y=[1, 2]), layout=dict(height=900, font=dict(size=14)))
    shown = slides.presentation_figure(figure).to_dict()
    assert shown["layout"]["height"] == SLIDE.chart_height  # 900 x 1.5 would not fit the slide
    assert shown["layout"]["font"]["size"] == 14 * SLIDE.scale
    assert slides.presentation_height(slides.PLOTLY_HEIGHT) == round(slides.PLOTLY_HEIGHT * SLIDE.scale)


_PAGE = """
import plotly.graph_objects as go
from ui import drawing

drawing.describe_figures(run="run-7", model="lecture: mobilenetv2 x0.35", dataset="synthetic")
figure = go.Figure(go.Scatter(y=[1, 3, 2]), layout=dict(title=dict(text="Loss", font=dict(size=14)), height=400))
drawing.plot(figure, key="loss")
drawing.plot(figure, key="other", caption="run a · model b · dataset c")
"""


def _chart(at, index):
    chart = at.get("plotly_chart")[index].proto
    return json.loads(chart.spec), json.loads(chart.config)


def test_plot_names_the_slide_and_presentation_mode_draws_the_slides_fonts(tiny_dataset):
    at = open_source(_PAGE)
    figure, config = _chart(at, 0)
    options = config["toImageButtonOptions"]
    assert options["caption"] == "run run-7 · model lecture: mobilenetv2 x0.35 · dataset synthetic"
    assert options["filename"] == "loss"
    # Plotly's own camera download (the fallback without the caption) is the slide's size too.
    assert options["width"] * options["scale"] == SLIDE.width
    assert (options["height"] * options["scale"]) == pytest.approx(SLIDE.chart_height)
    assert _chart(at, 1)[1]["toImageButtonOptions"]["caption"] == "run a · model b · dataset c"
    assert figure["layout"]["height"] == 400 and figure["layout"]["title"]["font"]["size"] == 14

    presented = open_source(_PAGE, query={"present": "1"})
    figure, _ = _chart(presented, 0)
    assert figure["layout"]["title"]["font"]["size"] == 14 * SLIDE.scale
    assert figure["layout"]["font"]["size"] == slides.PLOTLY_FONT_SIZE * SLIDE.scale
    assert figure["layout"]["height"] == slides.presentation_height(400) == 400 * SLIDE.scale


_SIDEBAR_ONLY = """
import plotly.graph_objects as go
from ui import drawing

drawing.plot(go.Figure(go.Bar(y=[1, 2])), key="bars")
"""


def test_a_figure_is_captioned_with_the_sidebar_selection(tiny_dataset):
    at = open_source(_SIDEBAR_ONLY, query={"model": "untrained:lecture"})
    caption = _chart(at, 0)[1]["toImageButtonOptions"]["caption"]
    # An untrained preset has no run; the dataset is the sidebar's (the tiny 'synthetic' one).
    assert caption.startswith("run — · model lecture: mobilenetv2 x0.35 (")
    assert caption.endswith("), 160 px, untrained · dataset synthetic")


def test_a_runs_figures_name_the_run_its_model_and_dataset(runs_root):
    from seglib.presets import get_preset
    from seglib.training.runs import folders
    from ui import drawing

    small = get_preset("lecture").with_overrides({"model.image_size": 64})
    first = folders.create_run(small, name="first").name
    second = folders.create_run(small.with_overrides({"model.image_size": 96}), name="second").name
    assert drawing.config_source(small, run=first) == {
        "run": first, "model": small.model_summary(), "dataset": "synthetic"}
    assert "64 px" in small.model_summary()
    assert drawing.runs_source([first]) == {"run": first, "model": small.model_summary(), "dataset": "synthetic"}
    assert drawing.runs_source([first, second]) == {
        "run": f"{first}, {second}", "model": "several", "dataset": "synthetic"}
    assert drawing.runs_source([]) == {"run": None, "model": None, "dataset": None}
