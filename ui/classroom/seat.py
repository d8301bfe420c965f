"""This browser tab's seat in the classroom: an anonymous random token, the one thing an answer is
stored under (one answer per question and seat).

It is made on the server for a new session and then kept in the tab's ``sessionStorage``
(``ui.components.browser.answer_store`` with ``per_tab``): a reload of the tab, which starts a new
Streamlit session, takes the tab's seat back, so answering again after a reload replaces the
answer instead of counting twice. A new tab or another browser is another seat. Where the browser
keeps nothing (AppTest, storage blocked) the session's own token is the seat.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

from ui.components import browser

SEAT_KEY = "classroom_seat"
STORE_KEY = "classroom_seat_store"
SETTLED_KEY = "classroom_seat_settled"  #: the tab's stored seat has been read (once per session)
USED_KEY = "classroom_seat_used"        #: an answer was sent under this session's seat
#: The ``sessionStorage`` key of the seat.
STORAGE_KEY = "seglib-classroom-seat"
_VALID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def seat() -> str:
    """The seat of this session (made on first use)."""
    value = st.session_state.get(SEAT_KEY)
    if not value:
        value = st.session_state[SEAT_KEY] = secrets.token_urlsafe(18)
    return value


def mark_used() -> None:
    """An answer went out under the session's seat: a seat the tab reports later no longer replaces it."""
    st.session_state[USED_KEY] = True


def keep_in_browser() -> None:
    """Mount the tab's store: the first runs of a session ask for the tab's seat and take it over
    (a reload); afterwards the session's seat is written to the tab."""
    if not st.session_state.get(SETTLED_KEY):
        reply = browser.stored_reply(STORE_KEY)
        if reply is None:
            browser.answer_store(STORE_KEY, None, storage_key=STORAGE_KEY, per_tab=True)
            return
        stored = reply.get("value")
        if isinstance(stored, str) and _VALID.fullmatch(stored) and not st.session_state.get(USED_KEY):
            st.session_state[SEAT_KEY] = stored
        st.session_state[SETTLED_KEY] = True
    browser.answer_store(STORE_KEY, seat(), storage_key=STORAGE_KEY, per_tab=True)
