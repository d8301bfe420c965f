"""Widget values kept in the page's address (query parameters), so a copied URL reproduces the view,
a reload keeps it, and the browser's Back and Forward walk it.

Two mechanisms, each where it works:

* **Streamlit's own binding** (``bind="query-params"``, Streamlit 1.67) for the sidebar's widgets
  (dataset, model, palette, presentation): the parameter carries across page switches, and on Back
  and Forward the address wins. A bound widget's URL value is its *label* (what ``format_func``
  shows), so a link written before binding, which names the widget's value (``?palette=colorblind``,
  ``?model=run:<id>``), is read by ``accept_value_in_link``.
* **This module's ``seed`` and ``sync``** for the pages' own widgets. Binding cannot do their job in
  Streamlit 1.67: leaving a page whose bound widget is not at its default pushes one more history
  entry, the old page without that parameter (Streamlit drops the parameters bound on the page left
  and pushes the shortened address before the new page's), so Back from the next page showed the
  Dataset explorer at seed 0 instead of its seed (``tests/test_e2e_history.py``). Their URL values
  are the widgets' own values (``?split=val``), not labels, and some parameters are not named after
  their widget (the Predictions page's ``split``, ``image``, ``px``, ``py``).

``seed`` before drawing a widget starts it from the URL (a valid value, else the default), ``sync``
after drawing it writes its value back (the parameter disappears while the value is the default)::

    url_state.seed("split", "train", options=splits)
    st.segmented_control("Split", splits, key="split")
    url_state.sync("split", "train")

The address wins whenever it differs from what this session last wrote there: Back and Forward
(or an edited address) change it, a widget of this page never does. ``seed_int`` does the same for
numbers kept within a range; ``read``, ``write`` and ``url_changed`` handle the few values that are
not a widget's (the Training page's run). A value written from Python adds a history entry; a bound
widget changed by hand replaces the current one (Streamlit's choice), a button that sets it (the
Dataset explorer's Reshuffle) adds one.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Callable, Iterable, Mapping

import streamlit as st

_TRUE = ("1", "true", "yes", "on")
#: Session key: ``{parameter: its text in the address after this session last read or wrote it}``.
_SEEN_KEY = "url_state_seen"
_UNSEEN = object()


def _seen() -> dict:
    return st.session_state.setdefault(_SEEN_KEY, {})


def url_changed(url_key: str) -> bool:
    """Whether the address's ``url_key`` differs from what this session last wrote or read there:
    Back, Forward or an edited address changed it (never a widget of this page)."""
    seen = _seen().get(url_key, _UNSEEN)
    return seen is not _UNSEEN and seen != param(url_key)


def _remember(url_key: str) -> None:
    _seen()[url_key] = param(url_key)


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
    elif st.query_params.get(key) != str(value):
        st.query_params[key] = str(value)
    _remember(key)


def seed(key: str, default: Any, options: Iterable[Any] | None = None,
         cast: Callable[[str], Any] | None = None, url_key: str | None = None) -> None:
    """Call before drawing the widget with ``key``: start it from the URL's ``url_key`` (default: ``key``).

    When the widget has no value yet in this session, when its value is no longer one
    of ``options``, or when the address changed since this session last wrote it (Back,
    Forward), and only with a valid value (one of ``options`` when given); otherwise the
    widget starts at ``default``. Pair with ``sync`` after the widget.
    """
    url_key = url_key or key
    if (key in st.session_state and (options is None or st.session_state[key] in list(options))
            and not url_changed(url_key)):
        # Given again, as ``seed_int`` does: a session whose first run was cut short by a rerun (the
        # first visit to a page URL, ``ui.streamlit_workarounds``) had the widget drawn at its default
        # in the browser while the session held the URL's value (``?seed=5`` showed seed 0 in 3 of 4
        # fresh servers, tests/test_e2e_first_visit.py); a value given this run is sent to the browser.
        st.session_state[key] = st.session_state[key]
        return
    raw = param(url_key)
    value = default if raw is None else _cast(raw, default, cast)
    if options is not None and value not in list(options):
        value = default
    st.session_state[key] = value
    _remember(url_key)


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

    The widget's own value when it has one and the address did not change (clamped: the
    range may have shrunk, e.g. another dataset), else the URL's ``url_key`` (default:
    ``key``), else ``default``:
    ``?atrous_index=-1``, ``?px=1e9`` or ``?image=abc`` give a valid value, never a
    widget error. Draw the widget without ``value=`` afterwards.
    """
    url_key = url_key or key
    if key in st.session_state and not url_changed(url_key):
        value = clamp_int(st.session_state[key], low, high, default)
    else:
        raw = param(url_key)
        value = clamp_int(default if raw is None else _cast(raw, default, int), low, high, default)
        _remember(url_key)
    st.session_state[key] = value
    return value


def accept_value_in_link(key: str, labels: Mapping[Any, str]) -> None:
    """Call before drawing a widget bound with ``bind="query-params"`` whose options show labels
    (``labels``: option -> label). A link that names an option itself (``?palette=colorblind``,
    ``?model=run:<id>``: links written before binding, and ``ui.models.ModelRef.to_url``), or a
    label in another Unicode form (decomposed accents), would be dropped by Streamlit, which reads
    only exact labels from a bound parameter: the address is rewritten to the label and the page
    reruns once, so the widget starts there and a copied address keeps it.
    """
    raw = param(key)
    if key in st.session_state or raw is None or raw in labels.values():
        return
    composed = unicodedata.normalize("NFC", raw)  # "cafe\u0301" names "café"
    option = raw if raw in labels else composed if composed in labels else next(
        (option for option, label in labels.items() if label == composed), None)
    if option is None:
        return  # names nothing: Streamlit drops it (the sidebar says so)
    st.query_params[key] = labels[option]  # not bound yet in a session that never drew the widget
    st.rerun()


def option_from_link(key: str, labels: Mapping[Any, str]) -> Any:
    """The option a bound widget's parameter names (its label, or the option itself as
    ``accept_value_in_link`` reads it); None when it names none. For code that runs before the widget
    is drawn (a page opened on its own)."""
    raw = param(key)
    if raw in labels:
        return raw
    return next((option for option, label in labels.items() if label == raw), None)
