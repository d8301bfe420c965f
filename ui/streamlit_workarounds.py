"""Every place where the dashboard's Python reaches into Streamlit's internals, and why.

Each function works around one behaviour of the installed version (Streamlit 1.67; Keras 3 for the
``clear_session`` that Streamlit calls); when a new release changes the internals it touches, this
module is the one to read. Nothing else in ``ui`` or ``pages`` patches or peeks at Streamlit's private
attributes or markup. The other places that rely on a library's internals (Keras's graph, Pillow's
plugin registries, the import hook, the slide export's JavaScript) are listed in the README ("Internals").
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Callable

import streamlit as st


#: Presentation mode's projector style (``ui.instructor.apply_presentation_style``): it selects Streamlit's
#: elements by their ``data-testid`` markup (and Plotly's ``.modebar-container``), which no API offers and a
#: Streamlit release may rename; the browser tests use the same names.
PRESENT_CSS = """
<style>
/* Presentation mode: larger text for a projector, secondary controls hidden. Captions stay
   (they carry the numbers and the explanations), a little smaller than the body text. */
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p, [data-testid="stMain"] input,
[data-testid="stMain"] textarea { font-size: 1.25rem !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.1rem !important; }
[data-testid="stMain"] button [data-testid="stMarkdownContainer"] p { font-size: 1rem !important; }
[data-testid="stMain"] h1 { font-size: 3rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2rem !important; }
[data-testid="stMain"] [data-testid="stExpander"],
[data-testid="stMain"] [data-testid="stDownloadButton"], [data-testid="stToolbar"],
.modebar-container { display: none !important; }
.block-container { padding-top: 1.5rem; max-width: 100% !important; }
</style>
"""


def keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every rerun.

    Streamlit's script runner calls it (``_clean_problem_modules``) whenever
    ``keras`` is imported, after *every* script run of *every* session: a full
    garbage collection plus a flush of TensorFlow's kernel cache, while other
    sessions' threads are using the shared, cached models. Profiled with 20
    viewers (``benchmarks/load_viewers.py`` under ``py-spy``) it was 14 % of the
    server's CPU. The dashboard never builds models in a loop (models come from
    ``st.cache_resource``), so there is nothing to clear; any other caller still
    gets the real ``clear_session``.
    """
    keras = sys.modules.get("keras")
    backend = getattr(keras, "backend", None)
    original = getattr(backend, "clear_session", None)
    if original is None or getattr(original, "_seglib_wrapped", False):
        return

    def clear_session(*args, **kwargs):
        caller = sys._getframe(1).f_code
        if caller.co_name == "_clean_problem_modules" and "streamlit" in caller.co_filename:
            return None
        return original(*args, **kwargs)

    clear_session._seglib_wrapped = True
    clear_session.__wrapped__ = original
    clear_session.__doc__ = original.__doc__
    backend.clear_session = clear_session


def leave_pages_directory_mode() -> None:
    """Make sure ``dashboard.py`` (and its ``st.navigation``) runs first.

    Streamlit starts every server in its old multipage mode whenever a
    ``pages/`` folder sits next to the main script, and leaves it only once
    ``st.navigation`` has been called. If the very first visitor after a
    restart opens a page URL directly (``/dataset``), Streamlit runs that page
    file on its own: no shared sidebar, and a navigation listing every file in
    ``pages/``. Every page calls this (through ``ui.page.page_header``) before
    drawing: it switches that mode off and reruns, and the rerun executes
    ``dashboard.py``, whose navigation resolves the same URL to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        # The server log says so once per server (tests/test_e2e_first_visit.py reads it: the test fails
        # when a Streamlit release no longer starts in this mode, and this function can go).
        _logger().info(PAGES_DIRECTORY_LEFT)
        st.rerun()


#: What the server log says when ``leave_pages_directory_mode`` acted.
PAGES_DIRECTORY_LEFT = ("A first visit opened a page URL while Streamlit was in its pages-directory mode: "
                        "left that mode and reran through dashboard.py's navigation.")


def _logger():
    """This module's logger, written to the server's console like Streamlit's own INFO lines (a logger
    of Python's own would print nothing under WARNING, having no handler in the server)."""
    from streamlit.logger import get_logger

    return get_logger(__name__)


def thread_with_session_context(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread (not started) that runs ``target`` with the current session's script
    context, so the ``st.cache_*`` functions it calls behave as they do in a page."""
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    thread = threading.Thread(target=target, name=name, daemon=True)
    add_script_run_ctx(thread, get_script_run_ctx(suppress_warning=True))
    return thread


def watch_sent_messages(callback: Callable[[object], None]) -> Callable[[], None]:
    """Call ``callback(message)`` in the script thread for every message the current session's runs send
    from now on (each element, block and page setting); returns a function that stops watching.

    Streamlit has no public hook for this: the session's ``ScriptRunContext.enqueue`` is wrapped (on the
    context object of this session only). ``ui.run_times`` uses it to time the steps of a page run for the
    benchmarks, and only when ``SEGLIB_RUN_TIMES`` is set.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return lambda: None
    original = type(ctx).enqueue.__get__(ctx)  # the class's own method, never an earlier wrapper

    def enqueue(message) -> None:
        callback(message)
        original(message)

    ctx.enqueue = enqueue

    def stop() -> None:
        if ctx.__dict__.get("enqueue") is enqueue:
            del ctx.enqueue

    return stop


#: The lazily loaded parts of Streamlit's frontend that the dashboard's pages use: Plotly charts, tables
#: (st.dataframe) and code listings (st.code).
FRONTEND_CODE = ("PlotlyChart", "DataFrame", "StreamlitSyntaxHighlighter")


@functools.cache
def frontend_code_files() -> tuple[str, ...]:
    """The file names of those parts in the installed Streamlit's build (``static/static/js/<name>.<hash>.js``).

    Streamlit's frontend imports each one only when the first such element appears; ``ui.components.browser
    .preload_code`` imports them ahead of time. The names and the folder are Streamlit's build layout: a
    release that changes them makes this return fewer files (nothing is preloaded then, nothing breaks).
    """
    import streamlit
    from pathlib import Path

    folder = Path(streamlit.__file__).resolve().parent / "static" / "static" / "js"
    found = []
    for name in FRONTEND_CODE:
        matches = sorted(folder.glob(f"{name}.*.js"))
        if len(matches) == 1:
            found.append(matches[0].name)
    return tuple(found)
