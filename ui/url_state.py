"""Widget values kept in the page's address (query parameters), so a copied URL reproduces the view.

One mechanism for every page and the sidebar: ``seed`` before drawing a widget
starts it from the URL (a valid value, else the default), ``sync`` after drawing it
writes its value back (the parameter disappears while the value is the default)::

    url_state.seed("split", "train", options=splits)
    st.segmented_control("Split", splits, key="split")
    url_state.sync("split", "train")

``seed_int`` does the same for numbers kept within a range, ``read`` and ``write``
handle the few values that are not a widget's (the Training page's run).
URL values are the widget's own values (``?palette=colorblind``), not its labels.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import streamlit as st

_TRUE = ("1", "true", "yes", "on")


def param(key: str) -> str | None:
    """The URL's text for ``key`` (None when the address has no such parameter)."""
    return st.query_params.get(key)


def _cast(raw: str, default: Any, cast: Callable[[str], Any] | None) -> Any:
    """``raw`` as a value: with ``cast`` (default: the type of ``default``), else ``default``."""
    if cast is None:
        cast = type(default) if default is not None and not isinstance(default, bool) else str
    if isinstance(default, bool) and cast is bool:
        return raw.lower() in _TRUE
    try:
        return cast(raw)
    except (TypeError, ValueError, OverflowError):
        return default


def read(key: str, default: Any = None, cast: Callable[[str], Any] | None = None) -> Any:
    """The value of ``key`` from the widget state, else the URL, else ``default``.

    A URL value that does not cast falls back to ``default``.
    """
    if key in st.session_state:
        return st.session_state[key]
    raw = param(key)
    return default if raw is None else _cast(raw, default, cast)


def write(key: str, value: Any, default: Any = None) -> None:
    """Write a small value to the URL (removed again when it is None or equals ``default``)."""
    if value is None or value == default:
        if key in st.query_params:
            del st.query_params[key]
    else:
        st.query_params[key] = str(value)


def seed(key: str, default: Any, options: Iterable[Any] | None = None,
         cast: Callable[[str], Any] | None = None, url_key: str | None = None) -> None:
    """Call before drawing the widget with ``key``: start it from the URL's ``url_key`` (default: ``key``).

    Only when the widget has no value yet in this session (or its value is no longer
    one of ``options``), and only with a valid value (one of ``options`` when given);
    otherwise the widget starts at ``default``. Pair with ``sync`` after the widget.
    """
    if key in st.session_state and (options is None or st.session_state[key] in list(options)):
        return
    raw = param(url_key or key)
    value = default if raw is None else _cast(raw, default, cast)
    if options is not None and value not in list(options):
        value = default
    st.session_state[key] = value


def sync(key: str, default: Any = None, url_key: str | None = None) -> None:
    """Call after drawing the widget with ``key``: mirror its value into the URL's ``url_key``
    (default: ``key``); the parameter is dropped while the value equals ``default``."""
    write(url_key or key, st.session_state.get(key), default)


def clamp_int(value: Any, low: int, high: int, default: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; ``default`` (itself clamped) when it is not a number."""
    low, high = int(low), int(max(low, high))
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = low if default is None else int(default)
    return min(max(number, low), high)


def seed_int(key: str, default: int, low: int, high: int, url_key: str | None = None) -> int:
    """``seed`` for a number widget: its value is always an int within ``[low, high]``.

    The widget's own value when it has one (clamped: the range may have shrunk, e.g.
    another dataset), else the URL's ``url_key`` (default: ``key``), else ``default``:
    ``?atrous_index=-1``, ``?px=1e9`` or ``?image=abc`` give a valid value, never a
    widget error. Draw the widget without ``value=`` afterwards.
    """
    if key in st.session_state:
        value = clamp_int(st.session_state[key], low, high, default)
    else:
        raw = param(url_key or key)
        value = clamp_int(default if raw is None else _cast(raw, default, int), low, high, default)
    st.session_state[key] = value
    return value
