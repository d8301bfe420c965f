"""Entry point: ``streamlit run dashboard.py`` (or ``make run``).

Builds the navigation over the pages in ``pages/`` (every planned page whose
file exists, in the order of ``ui.registry.PLANNED_PAGES``), draws the shared
sidebar (dataset, model, palette) and runs the selected page.

``streamlit run`` finds the ``st.App`` below (it reads this file's syntax tree) and serves
this file through it, so the dashboard has a hook for the moment the server starts (the
app's ``lifespan``): the background prewarm (``ui.prewarm``) starts there, before any
browser connects, instead of with the first visitor.
"""

import time

_run_started = time.perf_counter()

import streamlit as st


def main() -> None:
    st.set_page_config(
        page_title="Semantic segmentation lab",
        page_icon=":material/layers:",
        layout="wide",
        initial_sidebar_state="auto",
        menu_items={"About": "A teaching dashboard for semantic segmentation with DeepLabV3+ "
                             "on CIHP-style human-part data (20 classes)."},
    )
    # The page toolkit is imported here, not at the top: a multiprocessing child importing
    # this file (below) must not load it, and set_page_config comes first.
    from ui import drawing, prewarm, registry, run_times, sidebar, streamlit_workarounds

    clock = run_times.start_steps()  # the steps of this run, for the benchmarks (off unless SEGLIB_RUN_TIMES)
    page = st.navigation(registry.navigation_pages())
    # The browser tab names the page, so several open tabs stay apart.
    st.set_page_config(page_title=f"{page.title} · Segmentation lab")
    sidebar.sidebar()
    prewarm.start_prewarm()  # once per server; normally already started with the server (the lifespan below),
    # this starts it where there was no lifespan (AppTest), while the first visitor reads Home
    prewarm.run_started()  # the prewarm waits for page runs (it would stall them); ended in the finally below
    try:
        page.run()
    except Exception as error:  # noqa: BLE001 - last guard: a message, never Streamlit's exception box
        # (st.stop and st.rerun are not Exceptions and pass through). Pages catch what they expect;
        # anything reaching here is shown without a traceback or server paths for students.
        drawing.show_error(error, page.title)
    finally:
        prewarm.run_finished()
        # Once a page has imported Keras, keep Streamlit from resetting it after each run.
        streamlit_workarounds.keep_keras_state_between_reruns()
        # The server's side of a page view (SEGLIB_RUN_TIMES; off unless set, for benchmarks).
        run_times.record_run_time(page.title, _run_started, clock)


# Streamlit runs this file as ``__main__``. A multiprocessing "spawn" child (the
# dataset statistics use a process pool) re-imports the parent's main file as
# ``__mp_main__`` and must not draw a dashboard: it printed a traceback in the
# server's terminal and broke the pool (multiprocessing's "safe importing of main").
if __name__ == "__main__":
    main()
elif __name__ == "dashboard":
    # ``streamlit run`` imports this file as the module ``dashboard`` to serve the app below; each page
    # view runs it as ``__main__`` (above).
    import contextlib

    @contextlib.asynccontextmanager
    async def _server_lifespan(_app):
        """Start the prewarm when the server starts (its runtime, and so the caches, running)."""
        from ui import prewarm  # here, not above: the caches' decorators expect the runtime

        prewarm.start_with_server()
        yield

    app = st.App(__file__, lifespan=_server_lifespan)
