"""Heavy work done once per server and kept for every session (a split evaluated, an ablation
over a split): whoever asks first computes it, the others wait for that result instead of
computing it again, and everyone sees it once it is there.

    result = shared_work.kept("ablation", key)            # None until someone computed it
    if st.button("Run"):
        result = shared_work.compute_once("ablation", key, lambda: heavy(...))

``name`` names the kind of work (one lock each: one such job at a time on this server's CPU);
``key`` names its inputs (model, dataset and its stamp, split, count). Streamlit's cache keeps
the 16 most recent results.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import streamlit as st


@st.cache_resource(show_spinner=False)
def _lock(name: str) -> threading.Lock:
    return threading.Lock()


@st.cache_resource(show_spinner=False, max_entries=16)
def _slot(name: str, key: tuple) -> dict:
    return {"result": None}


def kept(name: str, key: tuple) -> Any:
    """The result of the work ``name`` on ``key`` if someone computed it (else None)."""
    return _slot(name, key)["result"]


def compute_once(name: str, key: tuple, compute: Callable[[], Any]) -> Any:
    """The kept result, or ``compute()`` run now (after any other job of this ``name`` finished) and kept."""
    slot = _slot(name, key)
    with _lock(name):
        if slot["result"] is None:  # another session may have finished it while this one waited
            slot["result"] = compute()
    return slot["result"]
