"""The browser's Back and Forward walk the pages and their URL state in order (issue 23 §4), with the
sidebar bound to the address by Streamlit and the pages' own values kept by ``ui.url_state``; a reload
and a shared link reproduce the view. Real dashboard, headless Chromium."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from browser_support import no_problems, screenshot, settle
from dashboard_support import wait_until

pytestmark = pytest.mark.e2e

COLOUR_BLIND = "Colour-blind safe"


def _where(page, base: str) -> tuple[str, dict[str, str]]:
    """The page's path and its query parameters, as the address bar shows them."""
    parts = urlsplit(page.url)
    assert page.url.startswith(base), page.url
    return parts.path, {key: values[-1] for key, values in parse_qs(parts.query).items()}


def _seed_shown(page) -> str | None:
    box = page.get_by_role("spinbutton", name="Seed")
    return box.input_value() if box.count() else None


def _check(page, base: str, path: str, seed: str | None, timeout: float = 30.0) -> None:
    """The address is ``path`` with ``seed`` (and the colour-blind palette), and the page shows them.

    After Streamlit settles, the page's elements can still be arriving (a fresh session draws in
    steps), so what the page shows is awaited, up to ``timeout`` seconds; a wrong value fails then.
    """
    settle(page)

    def shown() -> tuple:
        where, query = _where(page, base)
        return (where, query.get("seed"), query.get("palette"), _seed_shown(page),
                page.get_by_role("radio", name=COLOUR_BLIND).is_checked())

    expected = (path, seed, COLOUR_BLIND, seed, True)  # seed None: not the Dataset explorer
    wait_until(lambda: shown() == expected, timeout, interval=0.25, message=lambda: f"{page.url}: {shown()}")
    no_problems(page)


def test_back_and_forward_walk_the_pages_and_their_url_state(dashboard_url, browser, session_tmp):
    context = browser.new_context(viewport={"width": 1400, "height": 4000})
    page = context.new_page()
    page.js_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    try:
        page.goto(dashboard_url + "/dataset?seed=5")
        settle(page)
        page.get_by_text(COLOUR_BLIND).click()  # a sidebar value that must follow every page
        _check(page, dashboard_url, "/dataset", "5")
        page.get_by_role("button", name="Reshuffle").click()
        _check(page, dashboard_url, "/dataset", "6")
        page.get_by_role("link", name="Predictions").first.click()
        _check(page, dashboard_url, "/predictions", None)

        page.go_back()
        _check(page, dashboard_url, "/dataset", "6")
        page.go_back()
        _check(page, dashboard_url, "/dataset", "5")
        page.go_forward()
        _check(page, dashboard_url, "/dataset", "6")
        page.go_forward()
        _check(page, dashboard_url, "/predictions", None)
        page.go_back()
        _check(page, dashboard_url, "/dataset", "6")

        page.reload()
        _check(page, dashboard_url, "/dataset", "6")
        screenshot(page, session_tmp, "history-dataset-seed-6.png")

        shared = context.browser.new_context(viewport={"width": 1400, "height": 4000}).new_page()
        shared.js_errors = []  # type: ignore[attr-defined]
        try:
            shared.goto(page.url)  # the copied address, in a browser of its own
            _check(shared, dashboard_url, "/dataset", "6")
            # A link written before the sidebar was bound names the palette and model by their values.
            shared.goto(dashboard_url + "/dataset?palette=colorblind&model=untrained:lecture&seed=3")
            _check(shared, dashboard_url, "/dataset", "3")
            assert _where(shared, dashboard_url)[1]["model"] == "Untrained: lecture"
        finally:
            shared.context.close()
    finally:
        context.close()
