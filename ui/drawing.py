"""Drawing helpers every page uses: Plotly figures at the page's width, the class legend,
library source code, and errors shown as messages (never as a traceback for students).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re
import traceback
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from seglib import settings
from seglib.errors import SeglibError
from seglib.figures import masks as mask_figures
from seglib.figures import style as figure_style
from ui.instructor import PRESENT_SCALE, is_instructor, presentation_mode
from ui.markdown import md_text
from ui.palette import current_palette

#: Unexpected errors a page caught: their tracebacks go to the server's log (stderr), never to a student.
logger = logging.getLogger("ui.errors")

#: Plotly toolbar: no logo, only the buttons a student needs.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def for_presentation(figure):
    """In presentation mode, a taller figure with larger text (for a projector); else unchanged.

    ``plot`` calls it; pages that draw with ``st.plotly_chart`` themselves
    (clickable figures) call it before drawing.
    """
    if presentation_mode():
        current = figure.layout.height or 450
        figure.update_layout(height=int(current * PRESENT_SCALE), font={"size": 18})
    return figure


def plot(figure, *, key: str | None = None, height: int | None = None) -> None:
    """Draw a Plotly figure at the container's width with the project's toolbar settings.

    The figure itself is never changed (a copy takes the height or the presentation
    size), so figures cached with ``st.cache_resource`` can be shared by all viewers.
    """
    if height is not None or presentation_mode():
        figure = go.Figure(figure)
        if height is not None:
            figure.update_layout(height=height)
        for_presentation(figure)
    st.plotly_chart(figure, width="stretch", config=PLOTLY_CONFIG, key=key, theme=None)


def class_legend(palette: np.ndarray | str | None = None, classes=None, hidden=()) -> None:
    """Colour chips with class ids and names (defaults to the sidebar's palette)."""
    palette = current_palette() if palette is None else palette
    st.markdown(mask_figures.legend_html(palette, classes=classes, hidden=hidden), unsafe_allow_html=True)


def mask_figure(mask, image=None, *, kind: str = "overlay", opacity: float = 0.5, visible=None,
                palette=None, max_size: int = mask_figures.DEFAULT_MAX_SIZE, title: str | None = None,
                height: int | None = None):
    """``seglib.figures.masks.mask_figure`` with the sidebar's palette as default."""
    palette = current_palette() if palette is None else palette
    return mask_figures.mask_figure(mask, image, kind=kind, palette=palette, opacity=opacity, visible=visible,
                               max_size=max_size, title=title, height=height)


def format_class(class_id: int) -> str:
    return f"{class_id} {figure_style.class_label(class_id)}"


def show_source(function: Callable, label: str | None = None) -> None:
    """An expander with the source code of a library function (as Streamlit's hello demo does)."""
    name = f"{function.__module__}.{function.__qualname__}"
    with st.expander(label or f"Source of `{name}`", icon=":material/code:"):
        try:
            st.code(inspect.getsource(function), language="python")
        except (OSError, TypeError):
            st.info(f"The source of {name} is not available.")


_ABSOLUTE_PATH = re.compile(r"""(?<![\w/:.~-])/[^\s'"<>|,;()\[\]{}]+""")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path of this machine shown as ``settings.display_path``
    does (relative to its data root or the project, else only its name)."""
    def shown(match: re.Match) -> str:
        try:
            return settings.display_path(match.group(0))
        except (OSError, RuntimeError, ValueError):
            return Path(match.group(0)).name
    return _ABSOLUTE_PATH.sub(shown, str(text))


def show_error(error: BaseException, context: str | None = None) -> None:
    """Show an error in the page: a SeglibError as its own message (it says what
    to do); anything else as a short message and its traceback in the server's log.

    Only the instructor sees what the unexpected error was (its type, message and
    traceback); a student sees that something went wrong and whom to tell.
    Messages are shown as literal text (file names and ids in them cannot
    become Markdown) and without absolute server paths.
    """
    if isinstance(error, SeglibError):
        st.error(md_text(scrub_paths(str(error)), limit=2000), icon=":material/error:")
        return
    logger.error("%s: unexpected error", context or "A page", exc_info=error)
    lead = f"{md_text(context, limit=200)}: " if context else ""
    if not is_instructor():
        st.error(f"{lead}something went wrong. This is a bug in the dashboard; please tell the instructor "
                 "(the server's log has the details).", icon=":material/bug_report:")
        return
    st.error(f"{lead}something went wrong ({type(error).__name__}: {md_text(scrub_paths(str(error)), limit=300)}). "
             "This is a bug in the dashboard; please tell the instructor.", icon=":material/bug_report:")
    with st.expander("Details for the instructor"):
        st.code(scrub_paths("".join(traceback.format_exception(error))), language="text")


def guarded(context: str | None = None) -> Callable[[Callable], Callable]:
    """Decorate code that runs outside the page's own run, where ``dashboard.py``'s last guard
    cannot catch: a fragment (its reruns call the function alone) or a widget callback (it runs
    before the script). An exception is shown with ``show_error`` (a callback's message lands at the
    top of the page), never as Streamlit's exception box; ``st.rerun`` and ``st.stop`` pass."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args, **kwargs):
            with error_boundary(context, stop=False):
                return function(*args, **kwargs)
        return run
    return decorate


@contextlib.contextmanager
def error_boundary(context: str | None = None, stop: bool = True) -> Iterator[None]:
    """Run a block; on an exception show it with ``show_error`` and (by default) stop the page.

    ``st.stop()`` and ``st.rerun()`` pass through untouched.
    """
    try:
        yield
    except SeglibError as error:
        show_error(error, context)
        if stop:
            st.stop()
    except Exception as error:  # noqa: BLE001 - a page must never show a raw traceback
        if type(error).__module__.startswith("streamlit"):
            raise
        show_error(error, context)
        if stop:
            st.stop()
