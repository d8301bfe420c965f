"""Streamlit resets Keras after every script run unless the dashboard says otherwise.

Streamlit's script runner calls ``keras.backend.clear_session()`` after each
rerun of each session once Keras is imported (``_clean_problem_modules``): a
full garbage collection and a flush of TensorFlow's kernel cache, 14 % of the
server's CPU with 20 viewers. ``ui.streamlit_workarounds.keep_keras_state_between_reruns``
skips exactly that call; everyone else still gets the real ``clear_session``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from conftest import APPTEST_TIMEOUT
from seglib._tf import import_tf

ROOT = Path(__file__).resolve().parent.parent


def test_streamlits_cleanup_keeps_keras_state_and_clear_session_still_works():
    from ui import streamlit_workarounds

    _, keras = import_tf()
    streamlit_workarounds.keep_keras_state_between_reruns()
    streamlit_workarounds.keep_keras_state_between_reruns()  # idempotent: wrapped once
    assert keras.backend.clear_session.__wrapped__.__name__ == "clear_session"

    keras.backend.clear_session()  # a direct call is the real one: layer names start again
    assert keras.layers.Dense(2).name == "dense"
    script_runner._clean_problem_modules()  # what Streamlit runs after each script run
    assert keras.layers.Dense(2).name == "dense_1", "Streamlit's clean-up reset Keras"
    keras.backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"


@pytest.mark.slow
def test_the_dashboard_installs_it_after_a_page_run():
    _, keras = import_tf()
    original = getattr(keras.backend.clear_session, "__wrapped__", keras.backend.clear_session)
    keras.backend.clear_session = original  # as a fresh server process has it
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=APPTEST_TIMEOUT)
    at.run()
    assert not at.exception
    assert getattr(keras.backend.clear_session, "_seglib_wrapped", False)
