"""A first visit straight to a page URL, on a fresh server in a fresh browser (issue 26 §4).

Streamlit starts in its old pages-directory mode because ``pages/`` sits beside ``dashboard.py``, and
leaves it only once ``st.navigation`` has run; ``ui.streamlit_workarounds.leave_pages_directory_mode``
switches it off on the first page run and reruns through the dashboard's navigation. Opening
``/dataset?seed=5`` as the server's very first request checks both sides of it: the workaround acted
(the server log says so, once: when a Streamlit release no longer starts in that mode this fails, and
the workaround can go) and the page is the dashboard's (shared sidebar, the navigation's titles, the
address's seed), not the page file run on its own.
"""

from __future__ import annotations

import pytest

from browser_support import navigation_links, no_problems, screenshot, settle
from dashboard_support import running_dashboard
from ui import registry
from ui.streamlit_workarounds import PAGES_DIRECTORY_LEFT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_first_visit_to_a_page_url_shows_the_dashboards_page(tiny_dataset, page, tmp_path, session_tmp):
    log = tmp_path / "streamlit.log"
    with running_dashboard(log) as (url, _):
        page.set_viewport_size({"width": 1400, "height": 4000})
        page.goto(url + "/dataset?seed=5", wait_until="domcontentloaded")
        settle(page)
        screenshot(page, session_tmp, "first-visit-dataset.png")
        main = page.get_by_test_id("stMainBlockContainer")
        assert main.locator("h1").first.inner_text() == "Dataset explorer"
        assert page.get_by_test_id("stSidebar").get_by_text("Data and model").count() == 1  # the shared sidebar
        titles = [title for title, _ in navigation_links(page)]
        assert titles == [info.title for info in registry.available_pages()]  # not the files of pages/
        assert main.get_by_role("spinbutton", name="Seed").input_value() == "5" and "seed=5" in page.url
        no_problems(page)
    written = log.read_text(errors="replace")
    assert written.count(PAGES_DIRECTORY_LEFT) == 1, written[-3000:]
    assert "Traceback" not in written, written[-3000:]
