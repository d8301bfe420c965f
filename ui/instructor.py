"""Instructor mode: the passcode gate, the instructor's notes per page and presentation mode.

On a laptop (no passcode configured) everyone is the instructor. On a shared machine
the passcode (Streamlit secrets or ``SEGLIB_INSTRUCTOR_PASSCODE``) unlocks starting,
stopping and deleting runs, the notes and the projector view; ``is_instructor`` is
the one gate every page asks.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from pathlib import Path

import streamlit as st

from seglib import settings
from ui import url_state
from ui.registry import DASHBOARD_DIR
from ui.streamlit_workarounds import secrets_loaded

UNLOCKED_KEY = "instructor_unlocked"
#: URL parameter of the presentation toggle ("?present=1").
PRESENT_KEY = "present"
#: Markdown notes for the instructor, one ``## <page url path>`` section per page.
INSTRUCTOR_NOTES = DASHBOARD_DIR / "assets" / "instructor_notes.md"

PRESENT_CSS = """
<style>
/* Presentation mode: larger text for a projector, secondary controls hidden. Captions stay
   (they carry the numbers and the explanations), a little smaller than the body text. */
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p, [data-testid="stMain"] input,
[data-testid="stMain"] textarea { font-size: 1.25rem !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.1rem !important; }
[data-testid="stMain"] button [data-testid="stMarkdownContainer"] p { font-size: 1rem !important; }
[data-testid="stMain"] h1 { font-size: 3rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2rem !important; }
[data-testid="stMain"] [data-testid="stExpander"],
[data-testid="stMain"] [data-testid="stDownloadButton"], [data-testid="stToolbar"],
.modebar-container { display: none !important; }
.block-container { padding-top: 1.5rem; max-width: 100% !important; }
</style>
"""


def instructor_passcode() -> str | None:
    """The instructor passcode from Streamlit secrets or SEGLIB_INSTRUCTOR_PASSCODE (None: unlocked)."""
    if secrets_loaded() or any(os.path.exists(path) for path in st.get_option("secrets.files")):
        with contextlib.suppress(Exception):  # an unreadable secrets file: fall back to the setting
            value = st.secrets.get("instructor_passcode")
            if value:
                return str(value)
    return settings.instructor_passcode()


def is_instructor() -> bool:
    """True on a laptop (no passcode configured) or once the passcode was entered."""
    return instructor_passcode() is None or bool(st.session_state.get(UNLOCKED_KEY))


def presentation_mode() -> bool:
    """True while the presentation toggle is on (kept in the URL as ``present=1``).

    Instructors only: a student opening a projector link sees the normal page,
    with its controls (they have no toggle to switch the mode off).
    """
    return is_instructor() and bool(url_state.read(PRESENT_KEY, False, cast=bool))


def apply_presentation_style() -> None:
    """Inject the projector CSS when presentation mode is on (called by ``page_header``)."""
    if presentation_mode():
        st.markdown(PRESENT_CSS, unsafe_allow_html=True)


def presentation_toggle() -> None:
    """The sidebar switch; shown to instructors only (anyone when no passcode is set)."""
    if not is_instructor():
        return
    url_state.seed(PRESENT_KEY, False, cast=bool)
    st.toggle("Presentation mode", key=PRESENT_KEY,
              help="Larger fonts and figures for a projector (figures as on a slide download: the same "
                   "fonts and scale); expanders and secondary controls are hidden, captions stay (larger). "
                   "The URL keeps it (present=1), so the link can be shared.")
    url_state.write(PRESENT_KEY, "1" if st.session_state.get(PRESENT_KEY) else None)


def instructor_notes_for(page: str, path: Path | None = None) -> str:
    """The section ``## <page>`` of the instructor notes file ('' when absent)."""
    path = INSTRUCTOR_NOTES if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip().lower()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return "\n".join(sections.get(page.lower(), [])).strip()


def instructor_notes(page: str) -> None:
    """Show the instructor's notes for ``page`` (a url path such as 'dataset'),
    only in instructor mode and only when the notes file has a section for it."""
    if not is_instructor():
        return
    notes = instructor_notes_for(page)
    if notes:
        with st.sidebar.expander(":material/co_present: Instructor notes", expanded=presentation_mode()):
            st.markdown(notes)


def passcode_box() -> None:
    """The sidebar's passcode entry (and Lock button once unlocked); nothing without a passcode."""
    passcode = instructor_passcode()
    if passcode is None:
        return
    if st.session_state.get(UNLOCKED_KEY):
        st.caption(":material/lock_open: Instructor controls unlocked.")
        if st.button("Lock", key="instructor_lock"):
            st.session_state[UNLOCKED_KEY] = False
            st.rerun()
        return
    with st.expander(":material/lock: Instructor"):
        entered = st.text_input("Passcode", type="password", key="instructor_entry")
        if entered:
            if hmac.compare_digest(entered.encode(), passcode.encode()):
                st.session_state[UNLOCKED_KEY] = True
                st.rerun()
            else:
                st.error("Wrong passcode.")
