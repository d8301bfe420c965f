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

It starts when the server starts (the lifespan of the ``st.App`` in ``dashboard.py``), not with
the first browser: ``benchmarks/load_viewers.py`` found the first 30 s of a lecture hall waiting on
the prewarm (started by the first of 20 viewers: TensorFlow's import, the model, the kept numbers
computed for the first time, every step delayed by the page runs around it), although the server
had been idle for a minute before. TensorFlow is imported before the server answers
(``start_with_server``), so that import never shares the interpreter with a page run. Then, with no
page run yet, the steps the slowest first visits wait on come first (``SERVER_START_STEPS``: the
sidebar's model, and the Predictions page's first prediction and "why this pixel" of its first
image; the Atrous, Model and Predictions pages' first runs need them) and do not wait for quiet
moments: a page that needs them waits for them anyway (an import or a cache entry in progress is
waited for, never done twice). A server started without the hook (an ``AppTest``, an older
start-up) still starts the prewarm with its first page run, in the order above.
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
#: never quiet: when each step had a wait of its own, 10 s each, TensorFlow came a minute late).
LONGEST_WAIT = 10.0

#: Server start: the steps to take first, without waiting for quiet moments (no page has run yet).
SERVER_START_STEPS = ("tensorflow", "default model", "why this pixel")

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
            # Idle: only the rest of the quiet time since the last run ended; busy: until a run changes.
            _runs_changed.wait(min(left, quiet - (now - _runs["ended"])) if _runs["active"] == 0 else left)


_lock = threading.Lock()
_started: list[threading.Thread] = []  # the one prewarm thread of this server process, once started


def start_prewarm(at_server_start: bool = False) -> threading.Thread | None:
    """Once per server process, start :func:`prewarm` in a background thread.

    ``at_server_start``: called by the lifespan of ``dashboard.py``'s ``st.App`` (no page has run:
    ``SERVER_START_STEPS`` first).
    Off with ``SEGLIB_PREWARM=0``. Returns the thread (None if already started or off).
    """
    if not settings.prewarm():
        return None
    with _lock:
        if _started:
            return None
        # The starting session's context, if any: the cached functions run as they would in a page.
        thread = thread_with_session_context(lambda: prewarm(at_server_start=at_server_start),
                                             name="seglib-prewarm")
        _started.append(thread)
    thread.start()
    return thread


def start_with_server() -> threading.Thread | None:
    """The server is starting (the lifespan of ``dashboard.py``'s ``st.App``; it answers no request yet):
    import TensorFlow here, then start the prewarm thread (``SERVER_START_STEPS`` first).

    The import holds the interpreter for most of its seconds; done before the server answers, it never
    shares them with a page run (the module's docstring says what that cost a first visit). The server
    answers that much later (its terminal says how much). Off with ``SEGLIB_PREWARM=0``.
    """
    if not settings.prewarm():
        return None
    started = time.monotonic()
    try:
        _import_tensorflow()
        print(f"Prewarm: TensorFlow imported in {time.monotonic() - started:.1f} s before the server answers.",
              flush=True)
    except Exception as error:  # noqa: BLE001 - imported on first use instead, where the page shows the error
        print(f"Prewarm: TensorFlow could not be imported ({type(error).__name__}); the pages that need it "
              "will say why.", flush=True)
    return start_prewarm(at_server_start=True)


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
    return datasets.statistics_split(dataset)


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


def _why_this_pixel() -> None:
    """The Predictions page's first view: its prediction of the first image, and "why this pixel" (an
    ablation and a gradient, the page's slowest part) for its defaults: the validation split's first image, its middle pixel, the sidebar's model."""
    from ui import why_pixel
    from ui.predictions import view
    from ui.stamps import folder_stamp

    choice = _default_choice()
    model = models.load_choice(choice)
    dataset = datasets.load_dataset(_default_root())
    split = datasets.opening_split(dataset)
    model_key = models.model_key(choice, model)  # how pages/predictions.py names the model
    stamp = folder_stamp(dataset.root)
    # The page's own cached prediction of the image (filled here for its first run too).
    _, image, truth, prediction = view._predict_sample(model_key, str(dataset.root), stamp, split, 0, model)
    height, width = prediction.image_size
    sample = why_pixel.Sample(str(dataset.root), stamp, split, 0)
    why_pixel.warm_pixel_section(model, model_key, f"{split}-0", image, truth, prediction,
                                 (height // 2, width // 2), sample)


def _model_size_stats():
    """The Atrous page's people heights: the training statistics at the sidebar model's input size (measured
    with 20 viewers: 2 s of a first Atrous run waited for them while another session counted them)."""
    from seglib.analysis import aspp

    root = _default_root()
    size = int(aspp.aspp_analysis(_default_model()).image_size[0])  # the size the page reads them at
    return datasets.load_stats(root, "train", size=size)


def _keras_example_layers() -> dict:
    """The Model page's Keras-example numbers (its layer-by-layer receptive fields need the 512 px build)."""
    from ui import model as model_page

    return model_page.keras_example_numbers()


def prewarm(at_server_start: bool = False) -> list[str]:
    """Fill the shared caches the first visit of each page needs; the names of the steps done.

    First what is cheap once kept on disk (``ui.kept``; computed the first time on a machine):
    the default dataset's training statistics, the numbers the exercise side panel of every page
    with exercises needs (the model's and those of the image the Predictions page opens first),
    the Dataset explorer's loss chart, the default preset's Model-page description and the
    Keras example's numbers on the Model and Atrous pages. Then TensorFlow, the sidebar's default
    model, which the Atrous and Predictions pages need, the Predictions page's first prediction (its
    forward pass traced, under the page's own cache key) and "why this pixel" of it, the statistics at the
    model's size (Atrous page) and the default preset's untrained model. Each step waits for a quiet moment
    (``wait_for_quiet``; all waits together at most ``LONGEST_WAIT``). ``at_server_start``: no page
    has run yet, so ``SERVER_START_STEPS`` come first and without waiting (see the module's
    docstring). A step that fails (no dataset yet, no demo model) is skipped quietly: the page
    that needs it shows the error itself when visited.
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
             ("why this pixel", _why_this_pixel),
             ("statistics at the model's size", _model_size_stats),
             ("untrained model", lambda: models.load_model(preset=preset))]
    if at_server_start:
        steps.sort(key=lambda step: step[0] not in SERVER_START_STEPS)  # stable: the rest keep their order
    done = []
    waited = 0.0
    started = time.monotonic()
    for name, step in steps:
        if not (at_server_start and name in SERVER_START_STEPS):
            waited += wait_for_quiet(longest=max(0.0, LONGEST_WAIT - waited))
        try:
            step()
        except Exception:  # noqa: BLE001 - a cache not warmed is a slower first visit, nothing more
            continue
        done.append(name)
    # One line in the server's terminal (and log): the caches are warm from here on.
    print(f"Prewarm done in {time.monotonic() - started:.1f} s"
          f"{' (started with the server)' if at_server_start else ''}: {', '.join(done) or 'nothing'}.",
          flush=True)
    return done
