"""The class colours chosen in the sidebar (CIHP or colour-blind safe), kept in the URL as ``palette``
(bound by Streamlit: the address shows the label, ``?palette=Colour-blind+safe``; ``?palette=colorblind``
links are read too)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from seglib.classes import get_palette
from ui import url_state

#: Session-state key of the sidebar's palette, also the URL query parameter.
PALETTE_KEY = "palette"
PALETTE_LABELS = {"cihp": "CIHP", "colorblind": "Colour-blind safe"}
DEFAULT_PALETTE = "cihp"


def current_palette_name() -> str:
    """The sidebar's palette; before the sidebar is drawn, the one the address names (its label, or
    the name itself as in older links)."""
    name = st.session_state.get(PALETTE_KEY) or url_state.option_from_link(PALETTE_KEY, PALETTE_LABELS)
    return name if name in PALETTE_LABELS else DEFAULT_PALETTE


def current_palette() -> np.ndarray:
    """The (20, 3) uint8 palette chosen in the sidebar."""
    return get_palette(current_palette_name())
