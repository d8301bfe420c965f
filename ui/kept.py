"""Results kept on disk across restarts of the dashboard, for the caches a page's first visit waits on.

``st.cache_data`` keeps a result for the life of the server. Some results a page needs
before it can draw anything take TensorFlow, a model load and a forward pass to compute
(the exercise panel's numbers, the Dataset explorer's loss chart, the Model page's layer
table), yet depend only on files that rarely change: a checkpoint, a dataset folder, a
preset. ``on_disk`` keeps such a result as a pickle under ``settings.cache_dir()/kept``,
keyed on the function, its arguments (those whose name starts with ``_`` are left out, as
Streamlit's caches do: pass the file stamps that stand for them) and a digest of the
``seglib`` and ``ui`` sources and of the installed versions of the libraries that compute it
(TensorFlow, Keras, NumPy), so a change of the code or an upgrade is never served a stale result. A restarted dashboard then reads a small file instead of importing
TensorFlow for the page's first visit. Measured with ``benchmarks/bench_page_open.py``.

Use it under ``st.cache_data`` (memory first, then disk, then compute)::

    @st.cache_data(show_spinner=False)
    @kept.on_disk("model_numbers")
    def _model_numbers(key: tuple, _choice): ...
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import pickle
from pathlib import Path
from typing import Any, Callable

from seglib import settings
from seglib.io import atomic_write_bytes

_PROJECT = Path(__file__).resolve().parent.parent


#: The installed libraries whose version a kept result depends on (read without importing them).
LIBRARIES = ("tensorflow", "keras", "numpy")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of every source file of ``seglib`` and ``ui`` and of the ``LIBRARIES``' versions (once
    per process)."""
    from importlib import metadata

    digest = hashlib.sha1()
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={metadata.version(library)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} missing\0".encode())
    for folder in ("seglib", "ui"):
        for path in sorted((_PROJECT / folder).rglob("*.py")):
            with contextlib.suppress(OSError):
                digest.update(path.relative_to(_PROJECT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def path_for(name: str, arguments: dict[str, Any]) -> Path:
    """Where ``name`` called with ``arguments`` (underscore names left out) is kept."""
    key = repr(sorted((k, v) for k, v in arguments.items() if not k.startswith("_")))
    digest = hashlib.sha1(f"{name}\0{code_digest()}\0{key}".encode()).hexdigest()[:24]
    return settings.cache_dir() / "kept" / f"{name}-{digest}.pkl"


def on_disk(name: str, keep_if: Callable[[dict[str, Any]], Any] | None = None):
    """Keep the decorated function's result on disk (see the module's docstring).

    ``keep_if(arguments)``: keep only when true (e.g. only for a model with a file: an
    untrained model's random weights differ at every start). A file that cannot be read
    or written is computed again, never an error.
    """
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if keep_if is not None and not keep_if(arguments):
                return function(*args, **kwargs)
            path = path_for(name, arguments)
            with contextlib.suppress(OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
                                     IndexError, TypeError, ValueError):
                return pickle.loads(path.read_bytes())
            result = function(*args, **kwargs)
            with contextlib.suppress(OSError, pickle.PicklingError, TypeError, AttributeError):
                atomic_write_bytes(path, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
            return result

        return wrapper

    return decorate
