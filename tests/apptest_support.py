"""Helpers for the page tests under Streamlit's AppTest: open the dashboard or one page with query
parameters and session values, fail on an exception or on the dashboard's "This is a bug" message,
and read what the page shows (text, figures, URL parameters) with exact values."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from conftest import APPTEST_TIMEOUT  # the same module pytest loaded (not a second copy)
from markdown_check import plain

ROOT = Path(__file__).resolve().parent.parent


def open_app(script: str = "dashboard.py", *, query: dict | None = None, session: dict | None = None,
             run: bool = True) -> AppTest:
    """``script`` (relative to the project) under AppTest, with URL ``query`` and ``session`` values set
    before its first run; run once (unless ``run`` is False) and checked with ``bug_free``."""
    at = AppTest.from_file(str(ROOT / script), default_timeout=APPTEST_TIMEOUT)
    return _prepared(at, query, session, run)


def open_source(source: str, *, query: dict | None = None, session: dict | None = None,
                run: bool = True) -> AppTest:
    """A script given as its ``source`` text, opened like ``open_app``."""
    return _prepared(AppTest.from_string(source, default_timeout=APPTEST_TIMEOUT), query, session, run)


def _prepared(at: AppTest, query: dict | None, session: dict | None, run: bool) -> AppTest:
    for key, value in (query or {}).items():
        at.query_params[key] = str(value)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    if run:
        at.run()
        bug_free(at)
    return at


def bug_free(at: AppTest) -> None:
    """No exception and no message that the dashboard calls a bug."""
    assert not at.exception, [e.value for e in at.exception]
    bugs = [e.value for e in at.error if "This is a bug" in e.value]
    assert not bugs, bugs


def error_free(at: AppTest) -> None:
    """No exception and no error message at all (for a page given nothing to complain about)."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def param(at: AppTest, key: str) -> str | None:
    """The URL's value of ``key`` as a copied address would carry it (None when absent)."""
    value = at.query_params.get(key)
    return value[0] if isinstance(value, list) else value


def text(at: AppTest) -> str:
    """Every text element of the page, as written and as a reader sees it (names are written escaped)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [e.value for e in at.info] + [e.value for e in at.error] + [e.value for e in at.warning]
    parts += [s.value for s in at.success]
    return "\n".join([str(p) for p in parts] + [plain(str(p)) for p in parts])


def charts(at: AppTest) -> list[dict]:
    """The Plotly figures of the page, as JSON, in drawing order."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
