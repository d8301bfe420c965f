"""Every place where the dashboard reaches into Streamlit's or Keras's internals, and why.

Each function works around one behaviour of the installed versions (Streamlit 1.5x-1.6x,
Keras 3); when a new release changes the internals it touches, this module is the one to
read. Nothing else in ``ui`` or ``pages`` patches or peeks at private attributes.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

import streamlit as st


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
        st.rerun()


def secrets_loaded() -> bool:
    """True when Streamlit has parsed a secrets file already (or a test gave secrets).

    Asking ``st.secrets`` without a secrets file makes Streamlit look for the files and
    fail again on every access (5 % of the server's CPU with 20 viewers, profiled), so
    callers ask this (and whether a secrets file exists) first.
    """
    return getattr(st.secrets, "_secrets", None) is not None


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


def frontend_code_files(names=FRONTEND_CODE) -> list[str]:
    """The file names of those parts in the installed Streamlit's build (``static/static/js/<name>.<hash>.js``).

    Streamlit's frontend imports each one only when the first such element appears; ``ui.components.browser
    .preload_code`` imports them ahead of time. The names and the folder are Streamlit's build layout: a
    release that changes them makes this return fewer files (nothing is preloaded then, nothing breaks).
    """
    import streamlit
    from pathlib import Path

    folder = Path(streamlit.__file__).resolve().parent / "static" / "static" / "js"
    found = []
    for name in names:
        matches = sorted(folder.glob(f"{name}.*.js"))
        if len(matches) == 1:
            found.append(matches[0].name)
    return found
