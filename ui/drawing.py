"""Drawing helpers every page uses: Plotly figures at the page's width (each downloads for a slide,
with a caption line naming its run, model and dataset), the class legend, library source code, and
errors shown as messages (never as a traceback for students).
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
from seglib.figures import slides
from ui.instructor import is_instructor, presentation_mode
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


#: Session key of what this page run's figures were drawn from: ``{"run", "model", "dataset"}``
#: (the sidebar sets it at every run; a page changes a part with ``describe_figures``).
FIGURE_SOURCE_KEY = "figure_source"
#: Session key of the slide export mounted in the sidebar.
SLIDE_EXPORT_KEY = "slide_export"


def for_presentation(figure):
    """In presentation mode, the figure as on a slide (``seglib.figures.slides``: fonts, margins and
    height the slide's scale larger, for a projector), as a new figure; else ``figure`` unchanged.

    ``plot`` calls it; pages that draw with ``st.plotly_chart`` themselves
    (clickable figures) call it before drawing.
    """
    if presentation_mode():
        return slides.presentation_figure(figure)
    return figure


def describe_figures(**parts: str | None) -> None:
    """Say what the figures drawn from here on in this page run show (``run``, ``model``, ``dataset``;
    None for a part that does not apply): their caption line on a slide. The sidebar describes its
    selection at every run; a page that draws something else (an upload, a preset) changes a part."""
    unknown = set(parts) - {"run", "model", "dataset"}
    if unknown:
        raise ValueError(f"describe_figures takes run, model and dataset. Received: {sorted(unknown)}")
    st.session_state[FIGURE_SOURCE_KEY] = {**_figure_source(), **parts}


def describe_sidebar_figures() -> None:
    """Start the page run's figure description from the sidebar's selection (the sidebar calls it).
    A selection that cannot be described leaves the parts unnamed: a caption never stops a page."""
    try:
        source = sidebar_figure_source()
    except (SeglibError, OSError, ValueError, KeyError):
        source = {"run": None, "model": None, "dataset": None}
    st.session_state[FIGURE_SOURCE_KEY] = source


def _figure_source() -> dict:
    if not isinstance(st.session_state.get(FIGURE_SOURCE_KEY), dict):  # a page run without the sidebar
        describe_sidebar_figures()
    return st.session_state[FIGURE_SOURCE_KEY]


def figure_caption() -> str:
    """The caption line of this page run's figures: ``run … · model … · dataset …``."""
    return slides.caption_line(**_figure_source())


@st.cache_data(show_spinner=False, max_entries=64)
def _checkpoint_model_summary(key: tuple, _ref) -> str | None:
    """The model summary of the demo model (its card) or of a run (its config.json); None if unreadable
    (``key``: ``ui.models.model_key`` of the checkpoint ``_ref`` names)."""
    from seglib.config import RunConfig
    from seglib.training import demo
    from seglib.training.runs.folders import run_dir
    from seglib.training.runs.state import training_config

    try:
        if _ref.kind == "demo":
            card = demo.load_demo_card() or {}
            return RunConfig.from_dict(card["config"]).model_summary()
        return training_config(run_dir(_ref.id)).model_summary()
    except (SeglibError, OSError, KeyError, TypeError, ValueError):
        return None


def sidebar_figure_source() -> dict:
    """``{"run", "model", "dataset"}`` of the sidebar's selection: the run of the chosen checkpoint
    ('demo model' for the shipped one, none for an untrained preset), its model summary and the
    dataset's name."""
    from ui.datasets import DATASET_KEY, dataset_options
    from ui.models import current_model_choice, model_key

    choice = current_model_choice()
    if choice.kind == "untrained":
        run, model = None, untrained_summary(choice.preset)
    else:
        run = "demo model" if choice.kind == "demo" else choice.ref.id
        model = _checkpoint_model_summary(model_key(choice), choice.ref) or choice.label
    dataset = st.session_state.get(DATASET_KEY) or next(iter(dataset_options()), None)
    return {"run": run, "model": model, "dataset": dataset}


def untrained_summary(preset: str, image_size: int | None = None) -> str:
    """A preset's model with random weights (at ``image_size``), as a caption names it."""
    from seglib.presets import get_preset

    config = get_preset(preset)
    if image_size:
        config = config.with_overrides({"model.image_size": int(image_size)})
    return config.model_summary() + ", untrained"


def config_source(config, run: str | None = None) -> dict:
    """``{"run", "model", "dataset"}`` of a run's config (a run's own figures, or a planned run's)."""
    return {"run": run, "model": config.model_summary(), "dataset": dataset_name(config.data.root)}


def runs_source(run_ids) -> dict:
    """``{"run", "model", "dataset"}`` of a figure comparing runs: their ids, and their model and
    dataset where they share one ('several' where they differ)."""
    from seglib.training.runs.folders import run_dir
    from seglib.training.runs.state import training_config

    run_ids = list(run_ids)
    models, names = set(), set()
    for run_id in run_ids:
        try:
            config = training_config(run_dir(run_id))
        except SeglibError:
            models.add(None)
            names.add(None)
            continue
        models.add(config.model_summary())
        names.add(dataset_name(config.data.root))

    def shared(values: set) -> str | None:
        return next(iter(values)) if len(values) == 1 else ("several" if values else None)

    return {"run": ", ".join(run_ids) or None, "model": shared(models), "dataset": shared(names)}


def dataset_name(root) -> str:
    """A dataset as a caption names it: its folder's name ('synthetic'), never a server path."""
    return Path(str(root)).name or str(root)


def chart_config(name: str | None = None, caption: str | None = None) -> dict:
    """``PLOTLY_CONFIG`` for one chart: its download (the toolbar's camera, and the slide export of
    ``slide_export``) is a slide named after ``name``, with ``caption`` (default: ``figure_caption``)."""
    layout = slides.SLIDE
    return {**PLOTLY_CONFIG, "toImageButtonOptions": {
        # Plotly's own download (without the slide export: no caption line) is slide-sized too (16:9).
        "format": "png", "width": round(layout.layout_width), "height": round(layout.chart_layout_height),
        "scale": layout.scale, "filename": slides.chart_filename(name),
        "caption": figure_caption() if caption is None else caption}}


def slide_export() -> None:
    """Mount the slide export (the sidebar does, on every page): PNG and SVG downloads with the caption
    line in the toolbar of every chart. It draws nothing; the browser does the work, on a click."""
    from ui.components.browser import slide_export as mount

    mount({**slides.slide_spec(), "caption": figure_caption()}, key=SLIDE_EXPORT_KEY)


def plot(figure, *, key: str | None = None, height: int | None = None, caption: str | None = None) -> None:
    """Draw a Plotly figure at the container's width with the project's toolbar settings; its download
    is a slide with ``caption`` (default: ``figure_caption``, what the sidebar and the page selected).

    The figure itself is never changed (a copy takes the height or the presentation
    size), so figures cached with ``st.cache_resource`` can be shared by all viewers.
    """
    if height is not None:
        figure = go.Figure(figure)
        figure.update_layout(height=height)
    figure = for_presentation(figure)
    name = key or _title_text(figure)
    st.plotly_chart(figure, width="stretch", config=chart_config(name, caption), key=key, theme=None)


def _title_text(figure) -> str | None:
    try:
        return figure.layout.title.text
    except AttributeError:
        return None


def class_legend(palette: np.ndarray | str | None = None, classes=None, hidden=()) -> None:
    """Colour chips with class ids and names (defaults to the sidebar's palette)."""
    palette = current_palette() if palette is None else palette
    st.markdown(mask_figures.legend_html(palette, classes=classes, hidden=hidden), unsafe_allow_html=True)


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
