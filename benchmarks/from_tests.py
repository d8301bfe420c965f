"""The tests' helpers that the benchmarks use too, loaded from their files in ``tests/``.

``dashboard_support`` starts the dashboard and waits for things (``start_dashboard``, ``running_dashboard``,
``wait_until``); ``browser_support`` waits for Streamlit to settle in Chromium. They live with the tests,
which always run; the benchmarks load them by file (as ``tests/test_memory.py`` loads
``benchmarks/bench_memory.py``), so nothing edits ``sys.path``::

    from from_tests import dashboard_support   # benchmarks/ is on the path (script or run_all)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"


def load(name: str):
    """The module ``tests/<name>.py``, loaded once per process (the same module object after that)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module


def __getattr__(name: str):
    """``from from_tests import dashboard_support``: the module, loaded on first use."""
    if name in ("dashboard_support", "browser_support"):
        return load(name)
    raise AttributeError(f"module 'from_tests' has no attribute {name!r}")
