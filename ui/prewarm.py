"""Warming the shared caches once per server, before a lecture hall arrives.

Measured with ``benchmarks/load_viewers.py`` (20 viewers, 2 cores): every slow
server run (10-21 s) was a first visit waiting for TensorFlow's import, the
default model or the dataset statistics, all at once when the hall switched
from Home to the other pages; afterwards every run took under 1.5 s. Loading
them while the first visitor reads the Home page takes that wait away.

The prewarm yields to the pages: importing TensorFlow holds the interpreter (the
GIL) for up to a second at a time, and a page run beside it stalled for seconds
(measured with ``benchmarks/bench_page_open.py``: the Dataset explorer's first
visit took 4.0 s of server time with the prewarm importing TensorFlow beside it
and 0.8 s without, its numbers read from disk either way). So each step waits
until no page run is in progress and none has ended for ``QUIET_SECONDS``
(all waits together at most ``LONGEST_WAIT`` seconds, so a busy lecture hall
still gets it), and the steps that read kept results from disk (``ui.kept``)
come first.
"""

from __future__ import annotations

import threading
import time

from seglib import settings
from ui import datasets, models
from ui.streamlit_workarounds import thread_with_session_context

#: A prewarm step starts once no page run has been in progress for this long (a reader clicks the next
#: page within a second or two of the last one drawing; with 1 s the import still met that click)...
QUIET_SECONDS = 3.0
#: ... or, all the prewarm's waits together, after this long at the latest (a lecture hall arriving is
#: never quiet: each of nine steps waiting its own 10 s delayed TensorFlow by a minute).
LONGEST_WAIT = 10.0

_runs = {"active": 0, "ended": time.monotonic()}
_runs_changed = threading.Condition()


def run_started() -> None:
    """A page run begins (``dashboard.py`` calls it): the prewarm waits for it."""
    with _runs_changed:
        _runs["active"] += 1


def run_finished() -> None:
    """A page run ended."""
    with _runs_changed:
        _runs["active"] = max(0, _runs["active"] - 1)
        _runs["ended"] = time.monotonic()
        _runs_changed.notify_all()


def wait_for_quiet(quiet: float = QUIET_SECONDS, longest: float = LONGEST_WAIT) -> float:
    """Wait until no page run is in progress and none ended in the last ``quiet`` seconds, at most
    ``longest`` seconds; the seconds waited."""
    started = time.monotonic()
    with _runs_changed:
        while True:
            now = time.monotonic()
            left = longest - (now - started)
            calm = _runs["active"] == 0 and now - _runs["ended"] >= quiet
            if calm or left <= 0:
                return now - started
            _runs_changed.wait(min(left, quiet if _runs["active"] == 0 else left))


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


def _default_choice():
    return next(iter(models.model_options().values()))


def _default_model():
    return models.load_choice(_default_choice())


def _default_root():
    return next(iter(datasets.dataset_options().values()))


def _default_split(root) -> str:
    dataset = datasets.load_dataset(root)
    return "train" if dataset.split("train") else next(iter(dataset.splits))


def _default_stats():
    root = _default_root()
    return datasets.load_stats(root, _default_split(root))


def _exercise_facts():
    """The numbers the exercise side panel of every page with exercises needs (model and sample)."""
    from ui import lab

    return lab.warm_facts(_default_root(), _default_choice())


def _loss_table():
    """The Dataset explorer's loss chart, as its first visit asks for it (default split and image count)."""
    root = _default_root()
    split = _default_split(root)
    choice = _default_choice()
    return datasets.loss_table(choice, root, split, datasets.LOSS_IMAGES_DEFAULT,
                               datasets.load_stats(root, split).class_counts)


def _trace_default_model():
    """A prediction with the default model, so the Predictions page finds its forward pass traced."""
    from seglib.evaluation import inference

    root = _default_root()
    dataset = datasets.load_dataset(root)
    split = "val" if dataset.split("val") else _default_split(root)
    _, image, _ = datasets.load_sample(root, split, 0)
    return inference.predict(_default_model(), image)


def _keras_example_layers() -> dict:
    """The Model page's Keras-example numbers (its layer-by-layer receptive fields need the 512 px build)."""
    from ui import model as model_page

    return model_page.keras_example_numbers()


def prewarm() -> list[str]:
    """Fill the shared caches the first visit of each page needs; the names of the steps done.

    First what is cheap once kept on disk (``ui.kept``; computed the first time on a machine):
    the default dataset's training statistics, the numbers the exercise side panel of every page
    with exercises needs (the model's and those of the image the Predictions page opens first),
    the Dataset explorer's loss chart, the default preset's Model-page description and the
    Keras example's numbers on the Model and Atrous pages. Then TensorFlow, the sidebar's default
    model and a first prediction (its forward pass traced), which the Atrous and Predictions
    pages need, and the default preset's untrained model. Each step waits for a quiet moment
    (``wait_for_quiet``; all waits together at most ``LONGEST_WAIT``). A step that fails (no
    dataset yet, no demo model) is skipped quietly: the page that needs it shows the error
    itself when visited.
    """
    from seglib.presets import get_preset, preset_names

    preset = preset_names()[0]
    steps = [("dataset statistics", _default_stats),
             ("exercise facts", _exercise_facts),
             ("loss table", _loss_table),
             ("model description", lambda: models.model_description(preset, get_preset(preset).model.image_size)),
             ("keras example", lambda: models.reduced_numbers("keras-example")),
             ("keras example layers", _keras_example_layers),
             ("tensorflow", _import_tensorflow),
             ("default model", _default_model),
             ("first prediction", _trace_default_model),
             ("untrained model", lambda: models.load_model(preset=preset))]
    done = []
    waited = 0.0
    for name, step in steps:
        waited += wait_for_quiet(longest=max(0.0, LONGEST_WAIT - waited))
        try:
            step()
        except Exception:  # noqa: BLE001 - a cache not warmed is a slower first visit, nothing more
            continue
        done.append(name)
    return done
