"""Figures for slides in the real dashboard (issue 27 §5): headless Chromium downloads a chart and a
mask panel from their own toolbars, as PNG and as SVG, and the files are opened: the PNG is 1920 px
wide, as high as ``picture_size`` says for the chart's proportions on the page, with the caption line
drawn under the chart; the SVG parses and carries the caption's text."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_support import no_problems, screenshot_dir, settle
from seglib.figures.slides import SLIDE, chart_layout_height, picture_size, slide_spec

pytestmark = pytest.mark.e2e

SVG = "{http://www.w3.org/2000/svg}"


def _download(page, chart, fmt: str) -> tuple[str, bytes]:
    chart.scroll_into_view_if_needed()
    chart.hover()  # the toolbar (and the slide buttons in it) shows on hover
    button = chart.locator(f'.modebar-btn[data-seglib-slide="{fmt}"]')
    button.wait_for(state="visible", timeout=15_000)
    with page.expect_download(timeout=30_000) as info:
        button.click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def _aspect(chart) -> float:
    """The chart's height / width on the page."""
    box = chart.bounding_box()
    return box["height"] / box["width"]


def _check_png(data: bytes, aspect: float) -> np.ndarray:
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.int16)
    width, height = picture_size(aspect)
    assert (picture.shape[1], picture.shape[0]) == (width, height) and width == 1920
    chart_height = height - SLIDE.caption_band
    band = picture[chart_height:]
    # The caption's letters: dark pixels in the band under the chart, starting at its left padding.
    dark_columns = np.flatnonzero((band < 128).any(axis=0))
    assert dark_columns.size > 100, "no caption drawn under the chart"
    assert SLIDE.caption_padding * 0.5 < dark_columns[0] < SLIDE.caption_padding * 2
    return picture[:chart_height]


def _check_svg(data: bytes, caption: str, aspect: float) -> None:
    root = ET.fromstring(data)  # valid XML
    assert root.tag == SVG + "svg" and root.get("width") == str(SLIDE.width)
    texts = [element.text for element in root.iter(SVG + "text") if element.text]
    assert caption in texts
    line = next(element for element in root.iter(SVG + "text") if element.text == caption)
    assert float(line.get("y")) == pytest.approx(chart_layout_height(aspect) + slide_spec()["captionBaselineOffset"])


def test_a_chart_and_a_mask_panel_download_for_slides(dashboard_url, page, session_tmp):
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.goto(f"{dashboard_url}/dataset?model=untrained:lecture", wait_until="domcontentloaded")
    settle(page)
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    caption = "run — · model lecture: mobilenetv2 x0.35 (pretrained backbone), 160 px, untrained · dataset synthetic"

    # A mask panel: the first colour mask of the sample grid.
    mask_panel = page.locator('[class*="st-key-sample-"][class*="-mask"] .js-plotly-plot').first
    name, data = _download(page, mask_panel, "png")
    assert re.fullmatch(r"sample-(train|val)-\d+-mask\.png", name), name
    chart_area = _check_png(data, _aspect(mask_panel))
    # The mask itself is drawn: black background and coloured classes, not an empty slide.
    assert (chart_area < 20).mean() > 0.2 and (chart_area > 40).mean() > 0.001
    name, data = _download(page, mask_panel, "svg")
    assert name.endswith(".svg")
    _check_svg(data, caption, _aspect(mask_panel))

    # A chart: the class-fraction bars of the split.
    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".barlayer")).first
    name, data = _download(page, chart, "png")
    chart_area = _check_png(data, _aspect(chart))
    assert chart_area.std() > 10  # bars, axes and labels
    name, data = _download(page, chart, "svg")
    _check_svg(data, caption, _aspect(chart))
    page.screenshot(path=str(screenshot_dir(session_tmp) / "slide-export-toolbar.png"))
    no_problems(page)
    assert len(downloads) == 4  # one file per click (the export is installed once per tab)
