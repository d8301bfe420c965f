"""Why this pixel in headless Chromium: a click on the prediction shows the pixel's effective
receptive field with the ASPP taps and the table of parts switched off; the link opens the
Atrous page on the same image and pixel, and its link comes back to that pixel.

Runs the real dashboard (fixture ``dashboard_url``) on the tiny synthetic dataset with the
sidebar's default model. Screenshots go to the session's temporary folder, or
``SEGLIB_SCREENSHOTS_DIR``.
"""

from __future__ import annotations


import pytest

from browser_support import click_inspected_pixel, no_problems, screenshot, settle
from dashboard_support import wait_until

pytestmark = pytest.mark.e2e

PARTS = ["nothing (full model)", "image pooling", "1x1 conv", "3x3 rate 2", "3x3 rate 4", "3x3 rate 6",
         "low-level skip"]


def _chart_titles(page) -> list[str]:
    titles = page.locator('[data-testid="stPlotlyChart"] .gtitle')
    return [titles.nth(i).text_content() for i in range(titles.count())]


def _wait_for_title(page, start: str, timeout: float = 30.0) -> list[str]:
    """The chart titles once one starts with ``start`` (Plotly draws after the script run ends)."""
    def drawn() -> list[str] | None:
        titles = _chart_titles(page)
        return titles if any(title.startswith(start) for title in titles) else None

    return wait_until(drawn, timeout, interval=0.25, message=lambda: f"no title starts {start!r}: {_chart_titles(page)}")


def _ablation_rows(page) -> list[str]:
    table = page.locator('[data-testid="stTable"]').filter(has_text="class flips")
    headers = table.locator("tbody th")
    return [headers.nth(i).inner_text().strip() for i in range(headers.count())]


def test_a_clicked_pixel_explained_and_followed_to_the_atrous_page_and_back(dashboard_url, page, session_tmp):
    page.set_viewport_size({"width": 1400, "height": 4000})
    page.goto(f"{dashboard_url}/predictions?image=2")
    settle(page)
    no_problems(page)

    column, row = click_inspected_pixel(page, 0.6, 0.3)
    assert abs(column - 0.6 * 64) <= 3 and abs(row - 0.3 * 64) <= 3, (column, row)

    # The effective receptive field of that pixel with the taps, and the ablation table.
    titles = _wait_for_title(page, f"Pixel x {column}, y {row}: where its ")
    assert any(title.startswith(f"Pixel x {column}, y {row}: where its ") for title in titles), titles
    field = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="where its")
    assert field.get_by_text("image pooling: the whole image").count() == 1
    assert field.get_by_text("3x3 rate 6:", exact=False).count() == 1
    assert _ablation_rows(page) == PARTS
    assert page.get_by_text("bit for bit", exact=False).count() == 1
    no_problems(page)
    page.get_by_text("Why this pixel", exact=True).evaluate("e => e.scrollIntoView({block: 'start'})")
    screenshot(page, session_tmp, "why-pixel.png")

    # To the Atrous page: the same image and pixel.
    page.get_by_text("The same image and pixel on the Atrous page").click()
    settle(page)
    no_problems(page)
    assert "/atrous?" in page.url and "atrous_index=2" in page.url, page.url
    assert page.get_by_label("Sample of the val split", exact=False).input_value() == "2"
    sentence = page.get_by_text(f"is pixel x {column}, y {row} of the 64 × 64 px image", exact=False)
    assert sentence.count() == 1
    screenshot(page, session_tmp, "why-pixel-atrous.png")

    # And back: the Predictions page on the same image and pixel.
    page.get_by_text("This image and pixel on the Predictions page").click()
    settle(page)
    no_problems(page)
    assert "/predictions" in page.url and "image=2" in page.url, page.url
    assert int(page.get_by_label("x (column)").input_value()) == column
    assert int(page.get_by_label("y (row)").input_value()) == row
    titles = _wait_for_title(page, f"Pixel x {column}, y {row}: where its ")
    assert any(title.startswith(f"Pixel x {column}, y {row}: where its ") for title in titles), titles
