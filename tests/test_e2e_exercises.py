"""Headless Chromium on the real dashboard: a student answers a checkable
question on the Exercises page, sees the feedback, and downloads the answers.

The expected answer comes from the model's configuration (the untrained
lecture preset chosen through the URL), not from a constant.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seglib.config import get_preset
from test_e2e_browser import wait_until_settled

pytestmark = pytest.mark.e2e


def _screenshots(session_tmp: Path) -> Path:
    folder = Path(os.environ.get("SEGLIB_SCREENSHOTS_DIR") or session_tmp / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_answer_a_question_and_download_the_answers(dashboard_url, page, session_tmp):
    channels = get_preset("lecture").model.num_classes
    page.goto(f"{dashboard_url}/exercises?exercise=13-3&model=untrained:lecture")
    wait_until_settled(page)
    assert page.get_by_text("Exercise 13-3", exact=False).first.is_visible()

    box = page.get_by_label("How many channels does the last layer output?")
    box.fill(str(channels + 3))
    box.press("Enter")
    page.locator('[data-testid="stAlert"]', has_text="Not yet").first.wait_for(timeout=60_000)
    box.fill(str(channels))
    box.press("Enter")
    page.locator('[data-testid="stAlert"]', has_text=f"Correct: {channels}").first.wait_for(timeout=60_000)
    wait_until_settled(page)
    page.screenshot(path=str(_screenshots(session_tmp) / "exercises.png"))

    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("button", name="Download my answers (Markdown)").click()
    download = download_info.value
    assert download.suggested_filename == "segmentation-lab-answers.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert f"**Answer:** {channels}" in text
    assert f"Computed value: {channels} (correct)" in text
    assert "**Dataset:** synthetic" in text and "Untrained: lecture" in text
    assert not page.js_errors, page.js_errors


def test_presentation_mode_screenshot(dashboard_url, page, session_tmp):
    page.goto(f"{dashboard_url}/exercises?exercise=13-4&model=untrained:lecture&present=1")
    wait_until_settled(page)
    page.screenshot(path=str(_screenshots(session_tmp) / "exercises-present.png"))
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("Presentation mode").is_visible()
    assert sidebar.locator('input[type="checkbox"]').last.is_checked()
    title_size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    assert title_size >= 40, title_size
    page.screenshot(path=str(_screenshots(session_tmp) / "exercises-present.png"))
    assert not page.js_errors, page.js_errors
