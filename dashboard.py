"""Entry point: ``streamlit run dashboard.py`` (or ``make run``).

Builds the navigation over the pages in ``pages/`` (every planned page whose
file exists, in the order of ``pages.common.PLANNED_PAGES``), draws the shared
sidebar (dataset, model, palette) and runs the selected page.
"""

import sys
import threading
import time
from pathlib import Path

_run_started = time.perf_counter()

import streamlit as st

# Keep the project folder on sys.path for the whole server process. Streamlit
# adds the script's folder only for the duration of a run and removes it when
# that run ends, so with two sessions starting at once one session's run could
# remove it while the other was importing ``pages.common``; ``pages`` (a
# namespace package) then had no location ("cannot import name 'common'").
if not getattr(sys, "_seglib_project_on_path", False):
    sys.path.append(str(Path(__file__).resolve().parent))
    sys._seglib_project_on_path = True


def main() -> None:
    st.set_page_config(
        page_title="Semantic segmentation lab",
        page_icon=":material/layers:",
        layout="wide",
        initial_sidebar_state="expanded",
        menu_items={"About": "A teaching dashboard for semantic segmentation with DeepLabV3+ "
                             "on CIHP-style human-part data (20 classes)."},
    )

    # The first import of the page toolkit happens in several sessions' threads at once
    # when a lecture hall opens the dashboard together; one process-wide lock makes it
    # happen once, so no session sees a half-imported ``pages.common``.
    with sys.__dict__.setdefault("_seglib_import_lock", threading.Lock()):
        from pages import common  # (set_page_config must come first)

    page = st.navigation(common.navigation_pages())
    # The browser tab names the page, so several open tabs stay apart.
    st.set_page_config(page_title=f"{page.title} · Segmentation lab")
    common.sidebar()
    common.start_prewarm()  # once per server: the shared models and statistics load while Home is read
    try:
        page.run()
    except Exception as error:  # noqa: BLE001 - last guard: a message, never Streamlit's exception box
        # (st.stop and st.rerun are not Exceptions and pass through). Pages catch what they expect;
        # anything reaching here is shown without a traceback or server paths for students.
        common.show_error(error, page.title)
    finally:
        # Once a page has imported Keras, keep Streamlit from resetting it after each run
        # (see the function's docstring: it cost 14 % of the server's CPU with 20 viewers).
        common.keep_keras_state_between_reruns()
        # The server's side of a page view (SEGLIB_RUN_TIMES; off unless set, for benchmarks).
        common.record_run_time(page.title, time.perf_counter() - _run_started)


# Streamlit runs this file as ``__main__``. A multiprocessing "spawn" child (the
# dataset statistics use a process pool) re-imports the parent's main file as
# ``__mp_main__`` and must not draw a dashboard: it printed a traceback in the
# server's terminal and broke the pool (multiprocessing's "safe importing of main").
if __name__ == "__main__":
    main()
