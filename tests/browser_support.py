"""Helpers for the browser tests: wait for Streamlit to settle on an event (its script run has
ended and the status widget is gone), never for a fixed time."""

from __future__ import annotations

import time

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
