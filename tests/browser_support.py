"""Helpers for the browser tests: wait for Streamlit to settle on an event (its script run has
ended and the status widget is gone), never for a fixed time; check a page for problems; save a
screenshot."""

from __future__ import annotations

import os
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

#: Longest wait for a page's script run (a cold TensorFlow import and model load on 2 cores).
PAGE_TIMEOUT = 150

_SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""
_BUSY = "() => !(" + _SETTLED + ")()"


def settle(page, *, timeout: float = PAGE_TIMEOUT, quiet: float = 1.5, visible=None) -> float:
    """Wait until Streamlit's script run has ended and no new one starts within ``quiet`` seconds
    (a ``st.rerun`` flips the state back), then until ``visible`` (a locator) shows; the seconds waited."""
    start = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            raise AssertionError(f"The page {page.url} was still running after {timeout:.0f} s.")
        page.wait_for_function(_SETTLED, timeout=left * 1000)
        try:
            page.wait_for_function(_BUSY, timeout=quiet * 1000)  # a rerun starting: wait again
        except PlaywrightTimeout:
            break
    if visible is not None:
        visible.first.wait_for(state="visible", timeout=max(1.0, timeout - (time.monotonic() - start)) * 1000)
    return time.monotonic() - start


def navigation_links(page) -> list[tuple[str, str]]:
    """(title, href) of every link of the sidebar navigation, in order."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    found = []
    for index in range(links.count()):
        link = links.nth(index)
        # The text starts with the material icon's name; the title is the last line.
        title = link.inner_text().strip().splitlines()[-1].strip()
        found.append((title, link.get_attribute("href")))
    return found


def problems(page) -> list[str]:
    """What is wrong on the page: exception boxes, messages the dashboard calls a bug, JavaScript errors."""
    found = []
    exceptions = page.locator('[data-testid="stException"]')
    for index in range(exceptions.count()):
        found.append("exception: " + exceptions.nth(index).inner_text()[:500])
    bugs = page.get_by_text("This is a bug in the dashboard")
    for index in range(bugs.count()):
        found.append("error: " + bugs.nth(index).inner_text()[:500])
    return found + [f"javascript: {error}" for error in page.js_errors]


def no_problems(page) -> None:
    """Nothing in ``problems(page)``."""
    found = problems(page)
    assert not found, found


def screenshot_dir(session_tmp: Path) -> Path:
    """Where screenshots go: ``SEGLIB_SCREENSHOTS_DIR``, else the session's temporary folder."""
    folder = Path(os.environ.get("SEGLIB_SCREENSHOTS_DIR") or session_tmp / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page, session_tmp: Path, name: str) -> None:
    """The visible part of the page saved as ``name`` in ``screenshot_dir``."""
    page.screenshot(path=str(screenshot_dir(session_tmp) / name))


def click_inspected_pixel(page, x_fraction: float, y_fraction: float) -> tuple[int, int]:
    """Click the Predictions page's pixel inspector at fractions of its plot area's width and height,
    wait for the page to settle, and return the ``(column, row)`` its x and y inputs then show."""
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Click a pixel of the prediction")
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first.bounding_box()
    x, y = area["x"] + area["width"] * x_fraction, area["y"] + area["height"] * y_fraction
    page.mouse.move(x - 4, y - 4)  # Plotly selects on a click that follows a hover
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    settle(page)
    return int(page.get_by_label("x (column)").input_value()), int(page.get_by_label("y (row)").input_value())
