"""The predictions page in headless Chromium: a dataset sample shows truth,
prediction and difference; an uploaded PNG of an odd size is segmented at its
own size; a click on the prediction opens the pixel inspector at that pixel.

Runs the real dashboard (fixture ``dashboard_url``) on the tiny synthetic
dataset with the sidebar's default model (the demo model when shipped).
Screenshots go to the session's temporary folder, or ``SEGLIB_SCREENSHOTS_DIR``.
"""

from __future__ import annotations


import numpy as np
import pytest

from browser_support import click_inspected_pixel, no_problems, screenshot, settle
from dashboard_support import wait_until
from image_support import encoded

pytestmark = pytest.mark.e2e



def _chart_titles(page) -> list[str]:
    titles = page.locator('[data-testid="stPlotlyChart"] .gtitle')
    return [titles.nth(i).text_content() for i in range(titles.count())]


def _titles_showing(page, expected: tuple[str, ...], timeout: float = 30.0) -> list[str]:
    """The chart titles once all of ``expected`` are drawn: Plotly draws after the script
    has finished, and under load a chart can still show its previous figure for a moment."""
    def drawn() -> list[str] | None:
        titles = _chart_titles(page)
        return titles if all(title in titles for title in expected) else None

    return wait_until(drawn, timeout, interval=0.25, message=lambda: f"expected {expected}, drawn {_chart_titles(page)}")


def _png(height: int, width: int) -> bytes:
    rng = np.random.default_rng(1)
    picture = np.full((height, width, 3), 200, np.uint8)
    picture[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = rng.integers(0, 256, 3)
    return encoded(picture)


def test_sample_upload_and_pixel_click(dashboard_url, page, session_tmp):
    page.goto(f"{dashboard_url}/predictions")
    settle(page)
    no_problems(page)
    expected = ("Ground truth", "Prediction", "|truth − prediction| (label ids)",
                "Right (black) and wrong (white) pixels")
    titles = _titles_showing(page, expected)
    for title in expected:
        assert title in titles, titles
    assert page.get_by_text("Average error (course)").count() >= 1
    screenshot(page, session_tmp, "predictions-sample.png")

    # A click on the clickable prediction moves the inspected pixel (fragment rerun).
    column, row = click_inspected_pixel(page, 0.2, 0.7)
    assert abs(column - 0.2 * 64) <= 3 and abs(row - 0.7 * 64) <= 3, (column, row)
    assert any(title.startswith(f"Pixel x {column}, y {row}") for title in _chart_titles(page))
    no_problems(page)

    # Upload a PNG of an odd size: the prediction comes back at that size.
    page.locator('[data-testid="stMain"]').get_by_role("radio", name="Upload", exact=True).click()
    settle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "odd size.png", "mimeType": "image/png", "buffer": _png(90, 150)}])
    settle(page)
    no_problems(page)
    titles = _titles_showing(page, ("Image", "Prediction", "Prediction over the image"))
    for title in ("Image", "Prediction", "Prediction over the image"):
        assert title in titles, titles
    assert "Ground truth" not in titles
    assert page.get_by_text("150 × 90 px", exact=False).count() >= 1
    assert page.get_by_text("An uploaded image has no ground truth", exact=False).count() == 1
    assert any(title.startswith("Pixel x ") for title in titles)  # the inspector works on uploads too
    screenshot(page, session_tmp, "predictions-upload.png")

    # A file that is not an image is a clear message, not a traceback.
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"not a png at all"}])
    settle(page)
    assert page.get_by_text("broken.png cannot be decoded", exact=False).count() == 1
    no_problems(page)
