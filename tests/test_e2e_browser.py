"""Headless Chromium walks through every page of the running dashboard.

The dashboard is the real ``streamlit run dashboard.py`` (fixture
``dashboard_url``) on the tiny synthetic dataset. The test follows the links
of the sidebar navigation, so pages added later are visited without editing
this file. On each page it waits until the script has finished, then checks
that Streamlit shows no exception, that no error reports a bug, and that the
browser logged no JavaScript error. A screenshot of each page is saved under
the session's temporary folder (or ``SEGLIB_SCREENSHOTS_DIR`` when set, to
keep them).
"""

from __future__ import annotations

import re
import time

import pytest

from browser_support import navigation_links, problems, screenshot_dir, settle

pytestmark = pytest.mark.e2e


def test_every_page_opens_without_errors(dashboard_url, page, session_tmp):
    shots = screenshot_dir(session_tmp)
    server_log = session_tmp / "streamlit.log"
    log_start = server_log.stat().st_size
    page.goto(dashboard_url, wait_until="domcontentloaded")
    settle(page)
    links = navigation_links(page)
    titles = [title for title, _ in links]
    assert titles[:3] == ["Home", "Dataset explorer", "Model"], titles
    # The shared sidebar is on every page.
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Data and model").count() == 1

    timings = {}
    for title, href in links:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
        page.wait_for_url(re.compile(re.escape(href.rstrip("/")) + r"/?(\?.*)?$"), timeout=30_000,
                          wait_until="commit")
        page.wait_for_function("title => document.title.startsWith(title)", arg=title, timeout=30_000)
        timings[title] = settle(page)
        heading = page.locator('[data-testid="stMainBlockContainer"] h1').first
        heading.wait_for(timeout=30_000)
        name = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        page.screenshot(path=str(shots / f"{name}.png"))
        found = problems(page)
        assert not found, f"{title}: {found}"
        assert page.locator('[data-testid="stSidebar"]').get_by_text("Data and model").count() == 1, title
    print("seconds per page:", {k: round(v, 1) for k, v in timings.items()})
    # What the person who started the server sees in their terminal: no tracebacks, no warnings.
    with open(server_log, "rb") as handle:
        handle.seek(log_start)
        written = handle.read().decode("utf-8", "replace")
    assert "Traceback" not in written and "WARNING" not in written, written[-3000:]


def test_a_page_url_opened_directly_keeps_the_shared_sidebar(dashboard_url, page):
    """A shared link to a sub-page (with its URL state) opens that page with the sidebar."""
    page.goto(dashboard_url + "/dataset?palette=colorblind", wait_until="domcontentloaded")
    settle(page)
    assert page.locator('[data-testid="stMainBlockContainer"] h1').first.inner_text() == "Dataset explorer"
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("Data and model").count() == 1
    assert sidebar.get_by_role("radio", name="Colour-blind safe").is_checked()
    # The navigation lists pages, never the toolkit module.
    assert "common" not in [title.lower() for title, _ in navigation_links(page)]
    assert not problems(page)


def test_dataset_page_hover_names_the_class_under_the_mouse(dashboard_url, page):
    page.goto(dashboard_url + "/dataset", wait_until="domcontentloaded")
    settle(page)
    mask_chart = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    mask_chart.scroll_into_view_if_needed()
    box = mask_chart.locator(".nsewdrag").first.bounding_box()
    assert box, "the mask figure has no plot area"
    # Sweep across the plot until a hover label appears; it must name a class.
    from seglib.classes import CLASS_NAMES

    label_text = ""
    for step in range(1, 12):
        page.mouse.move(box["x"] + box["width"] * step / 12, box["y"] + box["height"] / 2)
        label = page.locator(".hoverlayer .hovertext")
        if label.count():
            label_text = label.first.text_content() or ""
            break
        time.sleep(0.1)
    assert any(name in label_text for name in CLASS_NAMES + ("Ignore",)), label_text
