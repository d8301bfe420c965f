"""What a viewer selected in a chart or a table drawn with ``on_select="rerun"``, and whether it is new.

Streamlit keeps a selection in ``st.session_state[<widget key>]`` until the viewer changes it, so a page
that moves a slider on a click must apply each selection once: ``is_new`` remembers the last one it
applied (under a key of its own), and a later run with the same selection leaves the slider where the
viewer has since moved it.

>>> points("atrous_click")            # doctest: +SKIP
[{'x': 40, 'y': 12, 'curve_number': 1, ...}]
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def points(key: str, curve: int | None = None) -> list[dict]:
    """The points selected in the Plotly chart with widget key ``key`` (only those of trace ``curve`` when
    given); ``[]`` when none or the chart was not drawn yet."""
    try:
        found = list(st.session_state[key]["selection"]["points"])
    except (KeyError, TypeError):
        return []
    return found if curve is None else [p for p in found if int(p.get("curve_number", -1)) == curve]


def rows(key: str | None) -> list[int]:
    """The row positions selected in the dataframe with widget key ``key``; ``[]`` when none."""
    try:
        return [int(row) for row in st.session_state[key]["selection"]["rows"]]
    except (KeyError, TypeError, ValueError):
        return []


def is_new(applied_key: str, selection: Any) -> bool:
    """Whether ``selection`` differs from the one last applied under ``applied_key``, which it becomes.
    ``None`` (nothing selected) forgets the last one, so that selecting it again counts as new."""
    if selection is None:
        st.session_state.pop(applied_key, None)
        return False
    if selection == st.session_state.get(applied_key):
        return False
    st.session_state[applied_key] = selection
    return True
