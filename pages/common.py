"""The page toolkit: the shared sidebar, cached loaders and small drawing helpers.

Every page imports this module. It only wires Streamlit to ``seglib``: the
logic (datasets, statistics, models, figures) lives in the library, where it
is tested without a browser.

What a page typically looks like::

    from pages import common

    common.page_header("Dataset explorer", "Why this page exists ...", exercises=("13-1",))
    with common.error_boundary():
        dataset = common.current_dataset()
    common.plot(figures.mask_figure(mask, image, palette=common.current_palette()))

State is kept small: the sidebar's choices live in ``st.session_state`` under
the keys ``dataset``, ``model`` and ``palette`` and are mirrored to the URL's
query parameters of the same names, so a copied URL reproduces the view.
Any page widget can do the same: ``url_seed(key, default)`` before drawing it
and ``url_sync(key, default)`` after; ``url_state`` / ``set_url_state`` read and
write other small values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import importlib
import inspect
import os
import re
import string
import threading
import traceback
import unicodedata
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from seglib.figures import base as figures

from seglib import settings
from seglib.classes import CLASS_NAMES, get_palette
from seglib.errors import DatasetError, ModelError, SeglibError

# ---------------------------------------------------------------------------
# Server-side run times (for benchmarks/load_viewers.py)
# ---------------------------------------------------------------------------


def record_run_time(page_title: str, seconds: float) -> None:
    """Append ``{"page", "seconds", "time"}`` as a JSON line to ``SEGLIB_RUN_TIMES`` (if set).

    The wall time of one whole script run in the server (sidebar and page, waits for
    other sessions included): the server's part of a page view, without the browser's
    drawing. Never raises; off unless the variable is set.
    """
    path = settings.run_times_file()
    if path is None:
        return
    import json
    import time

    line = json.dumps({"page": page_title, "seconds": round(float(seconds), 4), "time": time.time()}) + "\n"
    with contextlib.suppress(OSError):
        with open(path, "a", encoding="utf-8") as handle:  # one short append: whole lines
            handle.write(line)


# ---------------------------------------------------------------------------
# Streamlit's Keras clean-up
# ---------------------------------------------------------------------------


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
    import sys

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


# ---------------------------------------------------------------------------
# Warming the shared caches before a lecture hall arrives
# ---------------------------------------------------------------------------

_prewarm_lock = threading.Lock()
_prewarm_thread: threading.Thread | None = None


def start_prewarm() -> threading.Thread | None:
    """Once per server process, start :func:`prewarm` in a background thread.

    Measured with ``benchmarks/load_viewers.py`` (20 viewers, 2 cores): every slow
    server run (10-21 s) was a first visit waiting for TensorFlow's import, the
    default model or the dataset statistics, all at once when the hall switched
    from Home to the other pages; afterwards every run took under 1.5 s. Loading
    them while the first visitor reads the Home page takes that wait away.
    Off with ``SEGLIB_PREWARM=0``. Returns the thread (None if already started or off).
    """
    global _prewarm_thread
    if not settings.prewarm():
        return None
    with _prewarm_lock:
        if _prewarm_thread is not None:
            return None
        from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

        thread = threading.Thread(target=prewarm, name="seglib-prewarm", daemon=True)
        # The starting session's context: the cached functions run as they would in a page.
        add_script_run_ctx(thread, get_script_run_ctx(suppress_warning=True))
        _prewarm_thread = thread
    thread.start()
    return thread


def prewarm() -> list[str]:
    """Fill the shared caches the first visit of each page needs; the names of the steps done.

    TensorFlow, the sidebar's default model, the default preset's untrained model and
    its Model-page description, the default dataset and its training statistics. A
    step that fails (no dataset yet, no demo model) is skipped quietly: the page that
    needs it shows the error itself when visited.
    """
    from seglib.config import get_preset, preset_names

    def default_model():
        choice = next(iter(model_options().values()))
        return load_model(choice.path) if choice.path else load_model(preset=choice.preset)

    def default_stats():
        root = next(iter(dataset_options().values()))
        dataset = load_dataset(root)
        return load_stats(root, "train" if dataset.split("train") else next(iter(dataset.splits)))

    preset = preset_names()[0]
    steps = [("tensorflow", lambda: importlib.import_module("seglib._tf").import_tf()),
             ("default model", default_model),
             ("untrained model", lambda: load_model(preset=preset)),
             ("model description", lambda: model_description(preset, get_preset(preset).model.image_size)),
             ("dataset statistics", default_stats)]
    done = []
    for name, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - a cache not warmed is a slower first visit, nothing more
            continue
        done.append(name)
    return done


# ---------------------------------------------------------------------------
# The pages of the dashboard
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PageInfo:
    """One planned page: its file under ``pages/``, title, URL path and what it is for."""

    file: str
    title: str
    url_path: str
    icon: str
    summary: str
    exercises: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file

    @property
    def exists(self) -> bool:
        return self.path.is_file()


PAGES_DIR = Path(__file__).resolve().parent
DASHBOARD_DIR = PAGES_DIR.parent

#: Every planned page, in navigation order. A page appears in the navigation
#: as soon as its file exists, so new pages need no edit of ``dashboard.py``.
PLANNED_PAGES: tuple[PageInfo, ...] = (
    PageInfo("home.py", "Home", "home", ":material/home:",
             "What semantic segmentation is and how this lab is organised."),
    PageInfo("dataset.py", "Dataset explorer", "dataset", ":material/photo_library:",
             "Images and colour masks, class imbalance and the scales of people and parts.",
             ("13-1", "13-2", "13-4")),
    PageInfo("model.py", "Model", "model", ":material/account_tree:",
             "DeepLabV3+ layer by layer: backbone, ASPP, decoder and the H × W × 20 output.",
             ("13-2", "13-3")),
    PageInfo("atrous.py", "Atrous scales", "atrous", ":material/blur_on:",
             "How atrous (dilated) convolutions at several rates see a real image.", ("13-2",)),
    PageInfo("training.py", "Training", "training", ":material/monitoring:",
             "Start a run and watch loss and accuracy curves for training and validation.", ()),
    PageInfo("predictions.py", "Predictions", "predictions", ":material/image_search:",
             "Ground truth, prediction and their difference; logits of a single pixel.",
             ("13-5", "13-6")),
    PageInfo("exercises.py", "Exercises", "exercises", ":material/school:",
             "The six questions of the lab and where the dashboard answers them."),
)


def available_pages() -> list[PageInfo]:
    """The planned pages whose files exist, in navigation order."""
    return [page for page in PLANNED_PAGES if page.exists]


def page_info(file: str) -> PageInfo | None:
    return next((page for page in PLANNED_PAGES if page.file == file), None)


def navigation_pages() -> list:
    """``st.Page`` objects for ``st.navigation`` (Home is the default page)."""
    return [
        st.Page(str(page.path.relative_to(DASHBOARD_DIR)), title=page.title, icon=page.icon,
                url_path=page.url_path, default=(page.file == "home.py"))
        for page in available_pages()
    ]


def page_link(file: str, label: str | None = None, params: dict[str, str] | None = None) -> None:
    """A link to another page of the dashboard, only if that page exists.

    ``params`` become the target's query parameters, which preselect the view
    there (``{"image": "3"}`` on Predictions); the sidebar's dataset, model and
    palette follow from the session. When the page runs outside the navigation
    (a page script on its own), the link is plain Markdown to the same URL.
    """
    info = page_info(file)
    if info is None or not info.exists:
        return
    label = label or info.title
    try:
        st.page_link(str(info.path.relative_to(DASHBOARD_DIR)), label=label, icon=info.icon,
                     query_params=params or None)
    except st.errors.StreamlitAPIException:
        from urllib.parse import urlencode

        query = f"?{urlencode(params)}" if params else ""
        st.markdown(f"[{label}](/{info.url_path}{query})")


# ---------------------------------------------------------------------------
# URL state
# ---------------------------------------------------------------------------

#: Session-state keys of the shared sidebar, also the URL query parameters.
DATASET_KEY = "dataset"
MODEL_KEY = "model"
PALETTE_KEY = "palette"

PALETTE_LABELS = {"cihp": "CIHP", "colorblind": "Colour-blind safe"}


def bound(key: str) -> dict[str, Any]:
    """Widget keyword arguments that keep the widget's value in the URL under ``key``
    (Streamlit's own ``bind="query-params"``).

    Use as ``st.selectbox("Split", ["train", "val"], **common.bound("split"))``.
    The URL holds the option *as the widget shows it* (its ``format_func``
    label); for clean values with a ``format_func`` use ``url_seed``/``url_sync``.
    The parameter disappears from the URL while the widget shows its default.
    """
    return {"key": key, "bind": "query-params"}


def url_seed(key: str, default: Any, options: Iterable[Any] | None = None,
             cast: Callable[[str], Any] | None = None) -> None:
    """Call before drawing the widget with ``key``: start it from the URL's value.

    Only the first time in a session (or after the widget was forgotten), and
    only with a valid value (one of ``options`` when given); otherwise the
    widget starts at ``default``. Pair with ``url_sync`` after the widget.
    URL values are the widget's own values (``?palette=colorblind``), not the
    labels the widget shows.
    """
    if key in st.session_state:
        return
    value = url_state(key, default, cast=cast)
    if options is not None and value not in list(options):
        value = default
    st.session_state[key] = value


def url_sync(key: str, default: Any = None) -> None:
    """Call after drawing the widget with ``key``: mirror its value into the URL
    (the parameter is dropped while the value equals ``default``)."""
    set_url_state(key, st.session_state.get(key), default)


def url_state(key: str, default: Any = None, cast: Callable[[str], Any] | None = None) -> Any:
    """The value of ``key`` from the widget state, else the URL, else ``default``.

    ``cast`` (default: the type of ``default``) turns the URL's text into a
    value; a value that does not cast falls back to ``default``.
    """
    if key in st.session_state:
        return st.session_state[key]
    raw = st.query_params.get(key)
    if raw is None:
        return default
    if cast is None:
        cast = type(default) if default is not None and not isinstance(default, bool) else str
    if isinstance(default, bool) and cast is bool:
        return raw.lower() in ("1", "true", "yes", "on")
    try:
        return cast(raw)
    except (TypeError, ValueError):
        return default


def set_url_state(key: str, value: Any, default: Any = None) -> None:
    """Write a small value to the URL (removed again when it equals ``default``).

    Only for values that are not widget-bound (``bound`` handles those).
    """
    if value is None or value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = str(value)


def clamp_int(value: Any, low: int, high: int, default: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; ``default`` (itself clamped) when it is not a number."""
    low, high = int(low), int(max(low, high))
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = low if default is None else int(default)
    return min(max(number, low), high)


def url_int(key: str, default: int, low: int, high: int) -> int:
    """An integer from the widget state, else the URL, else ``default``: always within ``[low, high]``.

    Every numeric URL parameter goes through here: ``?atrous_index=-1``,
    ``?px=1e9`` or ``?image=abc`` give a valid value, never a widget error.
    """
    return clamp_int(url_state(key, default, cast=int), low, high, default)


def seed_int(key: str, default: int, low: int, high: int, url_key: str | None = None) -> int:
    """Before drawing a number widget with ``key``: put a valid start value in its state.

    The widget's own value when it has one (clamped: the range may have
    shrunk, e.g. another dataset), else the URL's ``url_key`` (default: ``key``),
    else ``default``. Draw the widget without ``value=`` afterwards.
    """
    if key in st.session_state:
        value = clamp_int(st.session_state[key], low, high, default)
    else:
        value = clamp_int(url_state(url_key or key, default, cast=int), low, high, default)
    st.session_state[key] = value
    return value


# ---------------------------------------------------------------------------
# Text from users (names, ids, file names) written into Markdown
# ---------------------------------------------------------------------------

#: Longest user string (a run id or name, a file name) a page writes out; longer ones are cut with "…".
MAX_SHOWN_CHARS = 80
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)  # CommonMark lets a backslash escape each of these


def shorten(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` on one line (control and format characters become spaces), cut to ``limit`` characters."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))
    return text if len(text) <= limit else text[:max(1, limit - 1)] + "…"


def md_text(text: Any, limit: int | None = MAX_SHOWN_CHARS) -> str:
    r"""A user string as literal text inside Markdown (``st.markdown``, ``st.error``, captions, labels).

    Every ASCII punctuation character is backslash-escaped, so nothing in it can
    become emphasis, a link, an image, code, a heading, a list, LaTeX (``$``) or
    a coloured ``:red[...]`` span: ``*.jpg`` stays ``*.jpg``. Cut to ``limit``
    characters (``None``: whole).

    >>> print(md_text("**bold** [x](http://e.org)"))
    \*\*bold\*\* \[x\]\(http\:\/\/e\.org\)
    """
    text = shorten(text, limit) if limit is not None else shorten(text, 10**9)
    return "".join("\\" + ch if ch in _MARKDOWN_PUNCTUATION else ch for ch in text)


def md_code(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """A user string as inline code in Markdown, fenced with more backticks than it contains
    (a backslash does not escape inside code, so ``f"`{name}`"`` is not safe)."""
    text = shorten(text, limit)
    if not text.strip():
        return md_text(text, limit)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------

def _looks_like_dataset(folder: Path) -> bool:
    """CIHP layout (``Training/Images``) or a plain ``images/`` + ``masks/`` folder."""
    return ((folder / "Training" / "Images").is_dir()
            or ((folder / "images").is_dir() and (folder / "masks").is_dir()))


def _dataset_key(folder: Path) -> str:
    """A short, path-free name for a dataset folder (relative to its data root)."""
    roots = settings.data_roots()
    for index, root in enumerate(roots):
        if folder == root or root in folder.parents:
            relative = folder.relative_to(root).as_posix()
            relative = relative if relative != "." else root.name
            return relative if index == 0 else f"{root.name}/{relative}"
    return folder.name


@st.cache_data(ttl=30, show_spinner=False)
def _discover_datasets(roots: tuple[str, ...]) -> dict[str, str]:
    """Dataset folders up to two levels below each data root, by key."""
    found: dict[str, str] = {}
    for root_text in roots:
        root = Path(root_text)
        candidates = [root]
        with contextlib.suppress(OSError):
            for child in sorted(root.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    candidates.append(child)
                    with contextlib.suppress(OSError):
                        candidates.extend(sorted(g for g in child.iterdir()
                                                 if g.is_dir() and not g.name.startswith(".")))
        for folder in candidates:
            with contextlib.suppress(OSError, RuntimeError):
                resolved = folder.resolve()
                # A symlink inside a root may lead outside every root: never offer it.
                if not any(resolved == r or r in resolved.parents for r in settings.data_roots()):
                    continue
                if _looks_like_dataset(folder):
                    found.setdefault(_dataset_key(resolved), str(resolved))
    return found


def dataset_options() -> dict[str, Path]:
    """Datasets the sidebar offers, by key: the synthetic default first, then
    every folder under the allowed data roots that looks like a dataset."""
    default = settings.default_dataset_dir()
    options = {_dataset_key(default): default}
    found = _discover_datasets(tuple(str(r) for r in settings.data_roots()))
    for key, path in sorted(found.items()):
        options.setdefault(key, Path(path))
    return options


def current_dataset_root() -> Path:
    """The folder of the dataset chosen in the sidebar (checked against the data roots)."""
    options = dataset_options()
    key = url_state(DATASET_KEY, next(iter(options)), cast=str)
    path = options.get(key)
    if path is None:  # a stale or hand-written URL value: only folders under the roots
        path = settings.check_data_path(key)
    return path


def _folder_stamp(folder: Path) -> tuple:
    """Modification times of a dataset folder and its sub-folders (two levels):
    they change when files are added, removed or the generator finishes."""
    stamp = []
    with contextlib.suppress(OSError):
        stamp.append(folder.stat().st_mtime_ns)
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                stamp.append((child.name, child.stat().st_mtime_ns))
                for grandchild in sorted(child.iterdir()):
                    if grandchild.is_dir():
                        stamp.append((child.name, grandchild.name, grandchild.stat().st_mtime_ns))
            elif child.name == ".complete":
                stamp.append((child.name, child.stat().st_mtime_ns))
    return tuple(stamp)


def folder_stamp(folder: str | os.PathLike) -> tuple:
    """A cheap cache key for a dataset folder: changes when its files change."""
    return _folder_stamp(Path(folder))


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_dataset(root: str, stamp: tuple):
    from seglib.data.dataset import open_dataset

    return open_dataset(root)


def load_dataset(root: str | os.PathLike):
    """``seglib.data.dataset.open_dataset`` through a shared cache keyed on the path
    and the folder's modification times (a regenerated dataset is reopened)."""
    root = settings.check_data_path(root)
    if not root.is_dir():
        raise DatasetError(
            f"The dataset folder {settings.display_path(root)} does not exist. "
            "Generate the synthetic default with `python -m seglib data synth --default` "
            "(or `make run`), or pick another dataset in the sidebar.")
    return _open_dataset(str(root), _folder_stamp(root))


def current_dataset():
    """The dataset chosen in the sidebar, opened through the cache (may raise SeglibError)."""
    return load_dataset(current_dataset_root())


@st.cache_data(show_spinner=False, max_entries=16)
def _stats(root: str, stamp: tuple, split: str, size: int | None):
    from seglib.data.stats import dataset_stats

    return dataset_stats(_open_dataset(root, stamp), split=split, size=size)


def load_stats(root: str | os.PathLike, split: str = "train", size: int | None = None):
    """``seglib.data.stats.dataset_stats`` for a split, cached in memory (and on disk by seglib)."""
    root = settings.check_data_path(root)
    return _stats(str(root), _folder_stamp(root), split, size)


@st.cache_data(show_spinner=False, max_entries=256)
def _sample(root: str, stamp: tuple, split: str, index: int, size: int | None):
    from seglib.data.dataset import load_pair

    dataset = _open_dataset(root, stamp)
    pairs = dataset.split(split)
    if not 0 <= index < len(pairs):
        raise DatasetError(f"The {split} split of {dataset.name} has {len(pairs)} images; "
                           f"there is no image number {index}.")
    pair = pairs[index]
    image, mask = load_pair(pair, size=size)
    return pair.stem, image, mask


def load_sample(root: str | os.PathLike, split: str, index: int, size: int | None = None):
    """``(stem, image, mask)`` of image ``index`` of a split (optionally resized), cached."""
    root = settings.check_data_path(root)
    return _sample(str(root), _folder_stamp(root), split, int(index), size)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """One entry of the sidebar's model picker (nothing is loaded yet)."""

    key: str                 #: 'demo', 'run:<run id>' or 'untrained:<preset>'
    label: str               #: what the picker shows
    kind: str                #: 'demo', 'run' or 'untrained'
    path: Path | None = None  #: the .keras file (demo and runs)
    preset: str | None = None
    note: str = ""           #: one line for people (what the model is, how it was trained)


def _optional_module(name: str):
    """Import a seglib module that another part of the project may not have written yet."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name == name:
            return None
        raise


def _demo_choice() -> ModelChoice | None:
    demo = _optional_module("seglib.training.demo")
    if demo is None or not hasattr(demo, "demo_model_path"):
        return None
    with contextlib.suppress(SeglibError, OSError):
        path = demo.demo_model_path()
        if path and Path(path).is_file():
            return ModelChoice("demo", "Demo model (trained)", "demo", Path(path),
                               note="A small model trained on the synthetic dataset, shipped with the project.")
    return None


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, dict):
        return item.get(name, default)
    return getattr(item, name, default)


@st.cache_data(ttl=10, show_spinner=False)
def _run_choices(runs_dir: str) -> list[tuple[str, str, str, str]]:
    runs = _optional_module("seglib.training.runs")
    if runs is None or not hasattr(runs, "list_runs"):
        return []
    choices = []
    try:
        listed = runs.list_runs()
    except (SeglibError, OSError):
        return []
    for run in listed:
        run_id = str(_field(run, "run_id") or _field(run, "id") or _field(run, "name") or "")
        if not run_id:
            continue
        folder = Path(_field(run, "path") or _field(run, "folder") or settings.runs_dir() / run_id)
        status = str(_field(run, "status", "") or "")
        checkpoint = next((folder / name for name in ("best.keras", "last.keras")
                           if (folder / name).is_file()), None)
        if checkpoint is None or status in ("queued", "running", "stopping"):
            continue
        title = str(_field(run, "name") or _field(run, "title") or run_id)
        choices.append((run_id, title, str(checkpoint), status))
    return choices


def refresh_model_options() -> None:
    """Forget the cached list of run checkpoints (call after a run finishes or is deleted)."""
    _run_choices.clear()


def model_options() -> dict[str, ModelChoice]:
    """The models the sidebar offers: the demo model (when shipped), the
    checkpoints of finished or stopped runs, and an untrained model per preset."""
    from seglib.config import get_preset, preset_names

    options: dict[str, ModelChoice] = {}
    demo = _demo_choice()
    if demo is not None:
        options[demo.key] = demo
    for run_id, title, checkpoint, status in _run_choices(str(settings.runs_dir())):
        key = f"run:{run_id}"
        options[key] = ModelChoice(key, f"Run: {title} ({Path(checkpoint).stem})", "run", Path(checkpoint),
                                   note=f"Checkpoint {Path(checkpoint).name} of run {run_id} ({status or 'done'}).")
    for preset in preset_names():
        key = f"untrained:{preset}"
        options[key] = ModelChoice(key, f"Untrained: {preset}", "untrained", preset=preset,
                                   note="Random weights: " + get_preset(preset).summary()
                                        + ". Its predictions are noise until trained.")
    return options


def current_model_choice() -> ModelChoice:
    """The model chosen in the sidebar (not loaded)."""
    options = model_options()
    key = url_state(MODEL_KEY, next(iter(options)), cast=str)
    return options.get(key) or next(iter(options.values()))


def _file_stamp(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_model_file(path: str, stamp: tuple):
    from seglib.model.deeplab import load_model as seglib_load_model

    return seglib_load_model(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def _build_untrained(preset: str, image_size: int | None):
    from seglib.config import get_preset
    from seglib.model.deeplab import build_model

    config = get_preset(preset)
    if image_size:
        config = config.with_overrides({"model.image_size": int(image_size)})
    return build_model(config.model)


def load_model(path: str | os.PathLike | None = None, *, preset: str | None = None,
               image_size: int | None = None):
    """A Keras model through a cache shared by every session.

    Either ``path`` (a ``.keras`` file; reloaded when the file changes) or
    ``preset`` (+ optional ``image_size``) for an untrained model. Never
    mutate the returned model: it is shared.
    """
    if path is not None:
        path = Path(path)
        return _load_model_file(str(path), _file_stamp(path))
    if preset is None:
        raise ModelError("load_model needs a checkpoint path or a preset name.")
    return _build_untrained(preset, int(image_size) if image_size else None)


@st.cache_data(show_spinner=False, max_entries=64)
def model_description(preset: str, image_size: int) -> dict:
    """``seglib.model.deeplab.describe`` of the untrained preset at ``image_size``, cached as plain data.

    The Model page's size slider visits up to 3 presets x 11 sizes; keeping the
    small description (not the model) means each is built once per server.
    """
    from seglib.model.deeplab import describe

    return describe(load_model(preset=preset, image_size=image_size))


def current_model():
    """``(model, choice)`` for the model chosen in the sidebar (may raise SeglibError)."""
    choice = current_model_choice()
    if choice.kind == "untrained":
        return load_model(preset=choice.preset), choice
    return load_model(choice.path), choice


# ---------------------------------------------------------------------------
# Palette and instructor mode
# ---------------------------------------------------------------------------

def current_palette_name() -> str:
    name = url_state(PALETTE_KEY, "cihp", cast=str)
    return name if name in PALETTE_LABELS else "cihp"


def current_palette() -> np.ndarray:
    """The (20, 3) uint8 palette chosen in the sidebar."""
    return get_palette(current_palette_name())


def instructor_passcode() -> str | None:
    """The instructor passcode from Streamlit secrets or SEGLIB_INSTRUCTOR_PASSCODE (None: unlocked)."""
    # Only ask st.secrets when a secrets file exists: without one, Streamlit re-reads and fails
    # on every access (5 % of the server's CPU with 20 viewers, profiled).
    loaded = getattr(st.secrets, "_secrets", None) is not None  # parsed already (or given by AppTest)
    if loaded or any(os.path.exists(path) for path in st.get_option("secrets.files")):
        with contextlib.suppress(Exception):  # an unreadable secrets file: fall back to the setting
            value = st.secrets.get("instructor_passcode")
            if value:
                return str(value)
    return settings.instructor_passcode()


def is_instructor() -> bool:
    """True on a laptop (no passcode configured) or once the passcode was entered."""
    passcode = instructor_passcode()
    return passcode is None or bool(st.session_state.get("instructor_unlocked"))


#: URL parameter of the presentation toggle ("?present=1").
PRESENT_KEY = "present"

#: Markdown notes for the instructor, one ``## <page url path>`` section per page.
INSTRUCTOR_NOTES = DASHBOARD_DIR / "assets" / "instructor_notes.md"

#: How much taller figures are drawn in presentation mode.
PRESENT_SCALE = 1.4

_PRESENT_CSS = """
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


def presentation_mode() -> bool:
    """True while the presentation toggle is on (kept in the URL as ``present=1``).

    Instructors only: a student opening a projector link sees the normal page,
    with its controls (they have no toggle to switch the mode off).
    """
    return is_instructor() and bool(url_state(PRESENT_KEY, False, cast=bool))


def apply_presentation_style() -> None:
    """Inject the projector CSS when presentation mode is on (called by ``page_header``)."""
    if presentation_mode():
        st.markdown(_PRESENT_CSS, unsafe_allow_html=True)


def _presentation_toggle() -> None:
    """The sidebar switch; shown to instructors only (anyone when no passcode is set)."""
    if not is_instructor():
        return
    url_seed(PRESENT_KEY, False, cast=bool)
    st.toggle("Presentation mode", key=PRESENT_KEY,
              help="Larger fonts and figures for a projector; expanders and secondary controls are "
                   "hidden, captions stay (larger). The URL keeps it (present=1), so the link can be shared.")
    set_url_state(PRESENT_KEY, "1" if st.session_state.get(PRESENT_KEY) else None)


def instructor_notes_for(page: str, path: Path | None = None) -> str:
    """The section ``## <page>`` of the instructor notes file ('' when absent)."""
    path = INSTRUCTOR_NOTES if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return "\n".join(sections.get(page.lower(), [])).strip()


def instructor_notes(page: str) -> None:
    """Show the instructor's notes for ``page`` (a url path such as 'dataset'),
    only in instructor mode and only when the notes file has a section for it."""
    if not is_instructor():
        return
    notes = instructor_notes_for(page)
    if notes:
        with st.sidebar.expander(":material/co_present: Instructor notes", expanded=presentation_mode()):
            st.markdown(notes)


def _instructor_box() -> None:
    passcode = instructor_passcode()
    if passcode is None:
        return
    if st.session_state.get("instructor_unlocked"):
        st.caption(":material/lock_open: Instructor controls unlocked.")
        if st.button("Lock", key="instructor_lock"):
            st.session_state["instructor_unlocked"] = False
            st.rerun()
        return
    with st.expander(":material/lock: Instructor"):
        entered = st.text_input("Passcode", type="password", key="instructor_entry")
        if entered:
            if hmac.compare_digest(entered.encode(), passcode.encode()):
                st.session_state["instructor_unlocked"] = True
                st.rerun()
            else:
                st.error("Wrong passcode.")


# ---------------------------------------------------------------------------
# The shared sidebar
# ---------------------------------------------------------------------------

#: Session key of a dataset or model named in the URL that was not opened (shown until another is picked).
REFUSED_KEY = "url_refused"


def _dataset_refusal(value: str) -> str:
    """Why a dataset named in the URL is not one the sidebar offers (no server path in it)."""
    from seglib.errors import PathNotAllowedError

    try:
        path = settings.check_data_path(value)
    except PathNotAllowedError:
        return "it is not inside the folders this dashboard may read"
    except (SeglibError, OSError, ValueError, RuntimeError):
        return "it is not a dataset folder"
    if path.is_file():
        return "it is a file, not a dataset folder"
    if not path.is_dir():
        return "there is no such dataset"
    return ("the folder has neither the CIHP layout (Training/Images/*.jpg with Training/Category_ids/*.png) "
            "nor images/ with masks/")


def _note_refused_url_value(key: str, options, reason: Callable[[str], str]) -> None:
    """Call before ``url_seed``: remember a URL value for ``key`` that is not one of ``options``."""
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    if raw is None or raw in options:
        return
    refused = st.session_state.setdefault(REFUSED_KEY, {})
    refused[key] = (raw, reason(raw), next(iter(options)))


def _refused_url_values_notice() -> None:
    """Say which dataset or model from the link was replaced, while the replacement is shown."""
    refused = st.session_state.get(REFUSED_KEY) or {}
    for key, (value, why, replacement) in list(refused.items()):
        if st.session_state.get(key) != replacement:  # the user picked another one: done
            del refused[key]
            continue
        # A path-like value is not repeated (it may be a path of someone's machine); a name is.
        named = "" if value.startswith(("/", "~", "\\")) or ".." in value else f" {md_code(value)}"
        what = {DATASET_KEY: "dataset", MODEL_KEY: "model"}.get(key, key)
        shown = replacement if key == DATASET_KEY else model_options().get(replacement, replacement)
        shown = getattr(shown, "label", shown)
        st.warning(f"The {what}{named} named in the link was not opened: {md_text(why, limit=300)}. "
                   f"Showing {md_code(shown)} instead (pick another one in the sidebar).",
                   icon=":material/link_off:")


def _model_refusal(value: str) -> str:
    if value.startswith("run:"):
        return "no finished run with a checkpoint has this id (it may have been deleted, or still be training)"
    return "it is not one of the models this dashboard offers"


def sidebar() -> None:
    """Dataset, model and palette pickers shared by every page (kept in the URL).

    A dataset or model named in the URL that cannot be used is replaced by the
    default, and the page says so (``_refused_url_values_notice``).
    """
    with st.sidebar:
        st.subheader("Data and model")
        datasets = dataset_options()
        _note_refused_url_value(DATASET_KEY, datasets, _dataset_refusal)
        url_seed(DATASET_KEY, next(iter(datasets)), options=datasets)
        st.selectbox("Dataset", list(datasets), key=DATASET_KEY,
                     help="The synthetic default, or any dataset folder (CIHP layout or images/ + masks/) "
                          "under the allowed data roots.")
        url_sync(DATASET_KEY, next(iter(datasets)))

        models = model_options()
        _note_refused_url_value(MODEL_KEY, models, _model_refusal)
        url_seed(MODEL_KEY, next(iter(models)), options=models)
        st.selectbox("Model", list(models), key=MODEL_KEY,
                     format_func=lambda key: models[key].label if key in models else key,
                     help="Used on the pages that predict. Untrained models have random weights.")
        url_sync(MODEL_KEY, next(iter(models)))
        if current_model_choice().kind == "untrained":
            st.caption(":material/info: Random weights: predictions are noise until a model is trained.")

        url_seed(PALETTE_KEY, "cihp", options=PALETTE_LABELS)
        st.radio("Palette", list(PALETTE_LABELS), format_func=PALETTE_LABELS.get, horizontal=True,
                 key=PALETTE_KEY,
                 help="Class colours of masks, legends and charts. The colour-blind-safe palette keeps "
                      "classes apart under the common forms of colour blindness.")
        url_sync(PALETTE_KEY, "cihp")
        _instructor_box()
        _presentation_toggle()
    _refused_url_values_notice()


# ---------------------------------------------------------------------------
# Drawing helpers
# ---------------------------------------------------------------------------

#: Plotly toolbar: no logo, only the buttons a student needs.
PLOTLY_CONFIG = {
    "displaylogo": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def page_header(title: str, intro: str, exercises: tuple[str, ...] = ()) -> None:
    """Title, the exercises the page answers, and one paragraph saying why the page exists.

    Also applies presentation mode and shows the instructor notes of the page,
    so every page gets both by calling this one function.
    """
    apply_presentation_style()
    import sys

    caller = Path(sys._getframe(1).f_code.co_filename).name  # the page that called us
    info = page_info(caller) or next((page for page in PLANNED_PAGES if page.title == title), None)
    if info is not None:
        instructor_notes(info.url_path)
    st.title(title)
    if exercises:
        st.caption("Answers exercises " + ", ".join(exercises) + " of the lab.")
    st.markdown(intro)


def exercise_panel(page: str | None = None) -> None:
    """The sidebar panel with the questions of every exercise that links to this page
    (answer boxes shared with the Exercises page, kept in the browser), and the scroll
    to the section an exercise link named (``?section=<heading id>``).

    Call once per page, right after ``page_header``; ``page`` defaults to the calling
    file ('dataset.py'). Draws nothing on a page no exercise links to, and never stops
    the page. See ``seglib_components.lab.exercise_panel``.
    """
    import sys

    from seglib_components import lab

    lab.exercise_panel(page or Path(sys._getframe(1).f_code.co_filename).name)


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
    st.markdown(figures.legend_html(palette, classes=classes, hidden=hidden), unsafe_allow_html=True)


def mask_figure(mask, image=None, *, kind: str = "overlay", opacity: float = 0.5, visible=None,
                palette=None, max_size: int = figures.DEFAULT_MAX_SIZE, title: str | None = None,
                height: int | None = None):
    """``seglib.figures.base.mask_figure`` with the sidebar's palette as default."""
    palette = current_palette() if palette is None else palette
    return figures.mask_figure(mask, image, kind=kind, palette=palette, opacity=opacity, visible=visible,
                               max_size=max_size, title=title, height=height)


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
    to do); anything else as a short message, with the traceback for instructors.

    Messages are shown as literal text (file names and ids in them cannot
    become Markdown) and without absolute server paths.
    """
    if isinstance(error, SeglibError):
        st.error(md_text(scrub_paths(str(error)), limit=2000), icon=":material/error:")
        return
    lead = f"{md_text(context, limit=200)}: " if context else ""
    st.error(f"{lead}something went wrong ({type(error).__name__}: {md_text(scrub_paths(str(error)), limit=300)}). "
             "This is a bug in the dashboard; please tell the instructor.", icon=":material/bug_report:")
    if is_instructor():
        with st.expander("Details for the instructor"):
            st.code(scrub_paths("".join(traceback.format_exception(error))), language="text")


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


def class_options() -> list[int]:
    return list(range(len(CLASS_NAMES)))


def format_class(class_id: int) -> str:
    return f"{class_id} {figures.class_label(class_id)}"


# ---------------------------------------------------------------------------
# Streamlit's "pages/ folder" mode
# ---------------------------------------------------------------------------

def _leave_pages_directory_mode() -> None:
    """Make sure ``dashboard.py`` (and its ``st.navigation``) runs first.

    Streamlit starts every server in its old multipage mode whenever a
    ``pages/`` folder sits next to the main script, and leaves it only once
    ``st.navigation`` has been called. If the very first visitor after a
    restart opens a page URL directly (``/dataset``), Streamlit runs that page
    file on its own: no shared sidebar, and a navigation listing every file in
    ``pages/`` (even this one). Every page imports this module, so on the
    first import we switch that mode off and rerun: the rerun executes
    ``dashboard.py``, whose navigation resolves the same URL to the same page.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # pragma: no cover - a Streamlit without this class has no such mode
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_directory_mode()
