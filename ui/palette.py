"""The class colours chosen in the sidebar (CIHP or colour-blind safe), kept in the URL as ``palette``."""

from __future__ import annotations

import numpy as np

from seglib.classes import get_palette
from ui import url_state

#: Session-state key of the sidebar's palette, also the URL query parameter.
PALETTE_KEY = "palette"
PALETTE_LABELS = {"cihp": "CIHP", "colorblind": "Colour-blind safe"}
DEFAULT_PALETTE = "cihp"


def current_palette_name() -> str:
    name = url_state.read(PALETTE_KEY, DEFAULT_PALETTE, cast=str)
    return name if name in PALETTE_LABELS else DEFAULT_PALETTE


def current_palette() -> np.ndarray:
    """The (20, 3) uint8 palette chosen in the sidebar."""
    return get_palette(current_palette_name())
