"""Custom components that run in the reader's browser (``st.components.v2``).

Their JavaScript sits next to this file and is passed inline, so they work
offline and need no build step or package:

* ``answer_store``: keeps the lab's answers in ``localStorage`` (per browser:
  they survive a reload and a closed tab, not a change of browser); with ``per_tab``,
  a value in the tab's ``sessionStorage`` (the classroom's seat: it survives a reload).
* ``scroll_to_section``: brings the heading with a given id into view (the
  section an exercise link points to).
* ``slide_export``: adds "download for a slide" (PNG and SVG, with a caption line)
  to the toolbar of every Plotly chart of the page (``ui.drawing.slide_export``).
* ``preload_code``: fetches Streamlit's chart and table code while the browser is
  idle (the first page with a Plotly chart waited 2-3 s for it after the click).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

_FOLDER = Path(__file__).resolve().parent

#: The ``localStorage`` key of the answers (one set of answers per browser and dashboard address).
STORAGE_KEY = "seglib-lab-answers"


def _component(name: str, script: str):
    return st.components.v2.component(name, js=(_FOLDER / script).read_text(encoding="utf-8"))


_answer_store = _component("seglib_answer_store", "answer_store.js")
_scroll_to_section = _component("seglib_scroll_to_section", "scroll_to_section.js")
_slide_export = _component("seglib_slide_export", "slide_export.js")
_preload_code = _component("seglib_preload_code", "preload_code.js")

def _ignore() -> None:
    """State changes are read from the session at the start of the next run."""


def answer_store(key: str, payload: str | None, *, storage_key: str = STORAGE_KEY, per_tab: bool = False) -> Any:
    """Mount the store: ``payload`` None asks the browser for what it keeps (the reply,
    ``{"value": text or None, "available": bool}``, arrives in ``st.session_state[key]["stored"]``
    on the next run); a string is written to the browser. ``per_tab``: the tab's ``sessionStorage``
    instead of the browser's ``localStorage``."""
    data = {"mode": "load" if payload is None else "save", "storage_key": storage_key, "per_tab": per_tab}
    if payload is not None:
        data["payload"] = payload
    return _answer_store(key=key, data=data, on_stored_change=_ignore, height=0)


def stored_reply(key: str) -> dict | None:
    """The browser's reply to a load request (None until it came)."""
    state = st.session_state.get(key)
    stored = state.get("stored") if hasattr(state, "get") else None
    return stored if isinstance(stored, dict) else None


def scroll_to_section(anchor: str, key: str) -> None:
    """Scroll to the heading with id ``anchor`` once it is drawn (no-op without JavaScript)."""
    _scroll_to_section(key=key, data={"anchor": str(anchor)}, height=0)


def slide_export(spec: dict, key: str) -> None:
    """Mount the slide export for the page's charts (``spec``: ``seglib.figures.slides.slide_spec``
    plus ``caption``, the caption of a chart whose config names none); it draws nothing."""
    _slide_export(key=key, data=spec, height=0)
def preload_code(files: list[str]) -> None:
    """Have the browser fetch and run Streamlit's code for charts and tables (``files``: file names in its
    build, ``ui.streamlit_workarounds.frontend_code_files``) while it is idle, so the first page with a
    chart opens without compiling it after the click. The script runs once per browser tab (it keeps a
    flag in ``window``); it is mounted on every run all the same, so the page's element tree does not
    change between its first run and the next: an element drawn on the first run only moved every
    element below it, and Streamlit drew those afresh (the Training page's open "Start a new run"
    form closed on the first value typed into it)."""
    _preload_code(key="seglib_preload_code", data={"files": list(files)}, height=0)
