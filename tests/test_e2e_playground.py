"""Issue 27 §2 and §3 in headless Chromium: the Model page's receptive field layer by layer (a plot with
both models and their tables), and the Metric playground, where a slider moved with the keyboard
redraws the prediction and the metrics show the numbers ``seglib.lab.playground`` computes for it.

Runs the real dashboard (fixture ``dashboard_url``) on the tiny synthetic dataset with the sidebar's
default model. Screenshots go to the session's temporary folder, or ``SEGLIB_SCREENSHOTS_DIR``.
"""

from __future__ import annotations

import contextlib

import pytest
from playwright.sync_api import expect

from browser_support import no_problems, screenshot, settle
from seglib.analysis import fields
from seglib.data.dataset import load_pair, open_dataset
from seglib.lab import playground
from ui.playground import SIZE

pytestmark = pytest.mark.e2e

TALL = {"width": 1400, "height": 4000}


def _metric_value(page, label: str) -> str:
    """The number the scoreboard shows for ``label``, as the reader sees it."""
    cell = page.get_by_role("group", name=label, exact=True)
    return cell.locator("div").nth(1).inner_text().strip()


@contextlib.contextmanager
def _tall_page(browser):
    """A page tall enough for a whole section in one screenshot, collecting JavaScript errors."""
    page = browser.new_page(viewport=TALL)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        page.close()


def test_the_model_page_draws_the_receptive_field_layer_by_layer(dashboard_url, browser, session_tmp):
    with _tall_page(browser) as page:
        page.goto(f"{dashboard_url}/model")
        settle(page)
        heading = page.get_by_role("heading", name="Receptive field layer by layer")
        heading.wait_for(timeout=60_000)
        heading.scroll_into_view_if_needed()
        chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=fields.FIELD_COLUMN)
        axis_titles = chart.locator(".ytitle, .y2title")
        axis_titles.first.wait_for(timeout=30_000)
        titles = [axis_titles.nth(i).text_content() for i in range(axis_titles.count())]
        assert titles == [fields.FIELD_COLUMN, fields.STRIDE_COLUMN]
        legend = chart.locator(".legendtext")
        assert [legend.nth(i).text_content() for i in range(legend.count())] == [
            "sidebar: Demo model (trained)", "Keras example (512 px)"]
        assert chart.get_by_text("input 512 px").count() == 1
        assert page.get_by_text("**").count() == 0  # the sentences are Markdown, drawn as such
        for name in ("sidebar: Demo model (trained)", "Keras example (512 px)"):
            assert page.get_by_text(name, exact=True).first.is_visible()
        # The tables draw after the chart (their code may still be loading on a slow machine): wait for both.
        grids = page.locator('[data-testid="stDataFrame"]').filter(has_text=fields.FIELD_COLUMN)
        expect(grids).to_have_count(2, timeout=30_000)
        heading.scroll_into_view_if_needed()
        screenshot(page, session_tmp, "model-receptive-field-by-layer.png")
        no_problems(page)


def test_a_slider_move_redraws_the_prediction_and_its_numbers(dashboard_url, browser, session_tmp, tiny_dataset):
    with _tall_page(browser) as page:
        page.goto(f"{dashboard_url}/playground?playground_image=1")
        settle(page, visible=page.locator(".seglib-playground img"))
        assert page.locator(".seglib-playground img").count() == 3
        before_picture = page.locator(".seglib-playground img").nth(1).get_attribute("src")
        slider = page.get_by_role("slider", name=playground.SLIDERS["background_recall"])
        start = float(slider.input_value())
        slider.focus()
        for _ in range(10):
            page.keyboard.press("ArrowLeft")
            settle(page, quiet=0.5)
        value = float(slider.input_value())
        assert value == pytest.approx(start - 0.10)

        # What the page shows is what the playground computes for these sliders on the same mask.
        _, mask = load_pair(open_dataset(tiny_dataset).split("val")[1], size=SIZE)
        board = playground.Board(mask, seed=0)
        values = {name: float(page.get_by_role("slider", name=label).input_value())
                  for name, label in playground.SLIDERS.items()}
        values["boundary_px"] = int(values["boundary_px"])
        confidence = float(page.get_by_role("slider", name="confidence (probability of the predicted class)")
                           .input_value())
        scores = board.scores(board.predict(playground.Settings(**values)), confidence)
        page.wait_for_function(
            "(expected) => document.querySelector('.seglib-score[data-name=\"wrong pixels\"]')"
            "?.getAttribute('data-value') === expected", arg=f"{scores.wrong_pixels:,}", timeout=30_000)
        assert _metric_value(page, "wrong pixels") == f"{scores.wrong_pixels:,}"
        assert _metric_value(page, "pixel accuracy") == f"{scores.pixel_accuracy:.1%}"
        assert _metric_value(page, "mean IoU") == f"{scores.mean_iou:.3f}"
        assert _metric_value(page, "Dice") == f"{scores.losses['dice']:.3f}"
        assert page.locator(".seglib-playground img").nth(1).get_attribute("src") != before_picture
        screenshot(page, session_tmp, "playground-after-a-move.png")
        no_problems(page)
