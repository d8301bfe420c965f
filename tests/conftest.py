"""Shared fixtures.

Every test session gets its own data root, runs folder and cache under a
temporary directory (set before seglib is imported), so tests never read or
write the project's ``data/`` or ``runs/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from dashboard_support import running_dashboard

ROOT = Path(__file__).resolve().parent.parent
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="seglib-tests-"))
os.environ["SEGLIB_DATA_ROOTS"] = str(_SESSION_TMP / "data")
os.environ["SEGLIB_RUNS_DIR"] = str(_SESSION_TMP / "runs")
os.environ["SEGLIB_CACHE_DIR"] = str(_SESSION_TMP / "cache")
os.environ.pop("SEGLIB_INSTRUCTOR_PASSCODE", None)
os.environ["SEGLIB_PREWARM"] = "0"  # no background model loads racing the tests (test_prewarm calls it directly)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
(_SESSION_TMP / "data").mkdir(parents=True, exist_ok=True)

#: Tiny synthetic dataset used across the suite (<= 64 px).
TINY = {"train": 12, "val": 4, "size": 64, "seed": 0}
#: AppTest must wait for a TensorFlow import and a small model build.
APPTEST_TIMEOUT = 180


_MAIN_MODULE = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """AppTest runs page scripts as ``__main__`` and leaves that module behind;
    a process pool started later (spawn) would then re-run a page script in its
    workers. Put the real ``__main__`` back after every test."""
    yield
    sys.modules["__main__"] = _MAIN_MODULE


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    return _SESSION_TMP


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _SESSION_TMP / "data"


@pytest.fixture(scope="session")
def runs_root() -> Path:
    return _SESSION_TMP / "runs"


@pytest.fixture(scope="session")
def tiny_dataset(data_root) -> Path:
    """A 64 px synthetic CIHP-layout dataset under the data root, named 'synthetic'
    so that it is also the default dataset the dashboard opens."""
    from seglib.data.synth import generate_dataset

    out = data_root / "synthetic"
    if not (out / ".complete").exists():
        generate_dataset(out, train=TINY["train"], val=TINY["val"], size=TINY["size"], seed=TINY["seed"])
    return out


#: The tests' tiny model: the lecture preset's DeepLabV3+ at 64 px, from random weights (no file is read).
TINY_MODEL = {"model.image_size": 64, "model.weights": "none"}


@pytest.fixture(scope="session")
def tiny_model_config():
    """The ``RunConfig`` of the tiny model (the lecture preset with ``TINY_MODEL``)."""
    from seglib.presets import get_preset

    return get_preset("lecture").with_overrides(TINY_MODEL)


@pytest.fixture(scope="session")
def build_tiny_model(tiny_model_config):
    """``build_tiny_model(**model_changes)``: a new tiny model, for a test that changes it (its BatchNorm
    statistics, its weights) or needs another size or head (``image_size=32``, ``aspp_filters=16``)."""
    import dataclasses

    from seglib.model.deeplab import build_model

    def build(**changes):
        return build_model(dataclasses.replace(tiny_model_config.model, **changes))

    return build


@pytest.fixture(scope="session")
def tiny_model(build_tiny_model):
    """The tiny model, built once per test session and shared: read it, never change it."""
    return build_tiny_model()


@pytest.fixture()
def run_folder():
    """``run_support.make_run`` as a fixture: ``run_folder(status, name, history=..., config=..., **progress)``
    writes a run folder by hand; every folder it wrote is removed after the test."""
    from run_support import make_run

    made: list[Path] = []

    def make(*args, **kwargs) -> Path:
        made.append(make_run(*args, **kwargs))
        return made[-1]

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------
# Browser tests: a real dashboard server and Debian's Chromium via Playwright.
# ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def dashboard_url(tiny_dataset, session_tmp):
    """Start ``streamlit run dashboard.py`` on a free port; yield its URL."""
    with running_dashboard(session_tmp / "streamlit.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing; .ci/run installs it.")
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
