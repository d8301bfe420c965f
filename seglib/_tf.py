"""Import TensorFlow and Keras without start-up noise.

TensorFlow prints C++ log lines (oneDNN, CUDA stubs, absl) straight to file
descriptor 2 while it is imported, before any Python logging setting applies.
``import_tf()`` sets the quiet environment variables and silences fd 2 for the
duration of the import only, so real errors later on still reach the terminal.

Every module in ``seglib`` that needs TensorFlow gets it from here::

    from seglib._tf import tf, keras   # lazily imported on first attribute use
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import warnings

_lock = threading.Lock()
_modules: dict[str, object] = {}


def quiet_environment() -> None:
    """Set the environment variables that keep TensorFlow quiet (idempotent)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _silenced_stderr_fd():
    """Point fd 2 at /dev/null for the duration of the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some test runners)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def importing() -> bool:
    """Whether ``import_tf`` is importing TensorFlow and Keras right now (in any thread)."""
    return _lock.locked()


def import_tf():
    """Return ``(tensorflow, keras)``, importing them quietly the first time."""
    with _lock:
        if "tf" not in _modules:
            quiet_environment()
            with _silenced_stderr_fd(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tf_module = importlib.import_module("tensorflow")
                keras_module = importlib.import_module("keras")
                tf_module.get_logger().setLevel("ERROR")
                # Touch the device list once so the CUDA probe message is
                # printed (and swallowed) now rather than at first use.
                with contextlib.suppress(Exception):
                    tf_module.config.list_physical_devices()
            _modules["tf"] = tf_module
            _modules["keras"] = keras_module
    return _modules["tf"], _modules["keras"]


class _Lazy:
    """A module proxy that imports TensorFlow on first attribute access."""

    def __init__(self, index: int):
        self._index = index

    def __getattr__(self, name):
        return getattr(import_tf()[self._index], name)

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"<lazy {'tensorflow' if self._index == 0 else 'keras'}>"


tf = _Lazy(0)
keras = _Lazy(1)
