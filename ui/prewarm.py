"""Warming the shared caches once per server, before a lecture hall arrives.

Measured with ``benchmarks/load_viewers.py`` (20 viewers, 2 cores): every slow
server run (10-21 s) was a first visit waiting for TensorFlow's import, the
default model or the dataset statistics, all at once when the hall switched
from Home to the other pages; afterwards every run took under 1.5 s. Loading
them while the first visitor reads the Home page takes that wait away.
"""

from __future__ import annotations

import threading

from seglib import settings
from ui import datasets, models
from ui.streamlit_workarounds import thread_with_session_context

_lock = threading.Lock()
_started: list[threading.Thread] = []  # the one prewarm thread of this server process, once started


def start_prewarm() -> threading.Thread | None:
    """Once per server process, start :func:`prewarm` in a background thread.

    Off with ``SEGLIB_PREWARM=0``. Returns the thread (None if already started or off).
    """
    if not settings.prewarm():
        return None
    with _lock:
        if _started:
            return None
        # The starting session's context: the cached functions run as they would in a page.
        thread = thread_with_session_context(lambda: prewarm(), name="seglib-prewarm")
        _started.append(thread)
    thread.start()
    return thread


def forget_started() -> None:
    """Let ``start_prewarm`` start again (for tests of the once-per-server rule)."""
    with _lock:
        _started.clear()


def _import_tensorflow() -> None:
    from seglib._tf import import_tf

    import_tf()


def _default_model():
    return models.load_choice(next(iter(models.model_options().values())))


def _default_stats():
    root = next(iter(datasets.dataset_options().values()))
    dataset = datasets.load_dataset(root)
    return datasets.load_stats(root, "train" if dataset.split("train") else next(iter(dataset.splits)))


def prewarm() -> list[str]:
    """Fill the shared caches the first visit of each page needs; the names of the steps done.

    TensorFlow, the sidebar's default model, the default preset's untrained model and
    its Model-page description, the default dataset and its training statistics. A
    step that fails (no dataset yet, no demo model) is skipped quietly: the page that
    needs it shows the error itself when visited.
    """
    from seglib.presets import get_preset, preset_names

    preset = preset_names()[0]
    steps = [("tensorflow", _import_tensorflow),
             ("default model", _default_model),
             ("untrained model", lambda: models.load_model(preset=preset)),
             ("model description", lambda: models.model_description(preset, get_preset(preset).model.image_size)),
             ("dataset statistics", _default_stats)]
    done = []
    for name, step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - a cache not warmed is a slower first visit, nothing more
            continue
        done.append(name)
    return done
