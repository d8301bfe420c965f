"""Instructor mode: the passcode gate, the instructor's notes per page and presentation mode.

On a laptop (no passcode configured) everyone is the instructor. On a shared machine
the passcode (Streamlit secrets or ``SEGLIB_INSTRUCTOR_PASSCODE``) unlocks starting,
stopping and deleting runs, the notes and the projector view; ``is_instructor`` is
the one gate every page asks.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

import streamlit as st

from seglib import settings
from ui import url_state
from ui.registry import DASHBOARD_DIR
from ui.streamlit_workarounds import PRESENT_CSS

UNLOCKED_KEY = "instructor_unlocked"
#: The passcode box, this session's wrong tries (``Attempts``), its tag in the server log, its last answer.
ENTRY_KEY = "instructor_entry"
ATTEMPTS_KEY = "instructor_attempts"
SESSION_TAG_KEY = "instructor_session_tag"
ANSWER_KEY = "instructor_answer"

logger = logging.getLogger("ui.instructor")
#: URL parameter of the presentation toggle ("?present=1").
PRESENT_KEY = "present"
#: Markdown notes for the instructor, one ``## <page url path>`` section per page.
INSTRUCTOR_NOTES = DASHBOARD_DIR / "assets" / "instructor_notes.md"


def instructor_passcode() -> str | None:
    """The instructor passcode from Streamlit secrets or SEGLIB_INSTRUCTOR_PASSCODE (None: unlocked).

    ``st.secrets.load_if_toml_exists()`` is Streamlit's own probe for secrets (it never raises): True once a
    secrets file was parsed or secrets were given (AppTest's ``at.secrets``), False without a file or with one
    that cannot be read, which then falls back to the setting. Reading ``st.secrets`` without secrets raises,
    so nothing reads it before the probe.
    """
    if st.secrets.load_if_toml_exists():
        value = st.secrets.get("instructor_passcode")
        if value:
            return str(value)
    return settings.instructor_passcode()


def is_instructor() -> bool:
    """True on a laptop (no passcode configured) or once the passcode was entered."""
    return instructor_passcode() is None or bool(st.session_state.get(UNLOCKED_KEY))


def presentation_mode() -> bool:
    """True while the presentation toggle is on (kept in the URL as ``present=true``; ``present=1`` too).

    Instructors only: a student opening a projector link sees the normal page,
    with its controls (they have no toggle to switch the mode off).
    """
    return is_instructor() and bool(url_state.read(PRESENT_KEY, False, cast=bool))


def apply_presentation_style() -> None:
    """Inject the projector CSS when presentation mode is on (called by ``page_header``). The slot is
    drawn either way, so that switching the mode does not move, and redraw closed, every element below."""
    slot = st.empty()
    if presentation_mode():
        slot.markdown(PRESENT_CSS, unsafe_allow_html=True)


def presentation_toggle() -> None:
    """The sidebar switch; shown to instructors only (anyone when no passcode is set)."""
    if not is_instructor():
        return
    url_state.accept_value_in_link(PRESENT_KEY, {"1": "true"})  # links from before the binding: present=1
    st.toggle("Presentation mode", key=PRESENT_KEY, bind="query-params",
              help="Larger fonts and figures for a projector (figures as on a slide download: the same "
                   "fonts and scale); expanders and secondary controls are "
                   "hidden, captions stay (larger). The URL keeps it (present=true), so the link can be shared.")


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


@dataclasses.dataclass
class Attempts:
    """Wrong passcodes in a row, of one browser session or of the whole server."""

    failures: int = 0
    last_failure: float = 0.0
    checked_from: float = 0.0  #: no passcode is checked before this time (clock seconds)


@dataclasses.dataclass(frozen=True)
class GuessLimit:
    """How fast wrong passcodes slow the next try: ``free`` wrong tries in a row cost nothing, each
    further one makes the next try wait twice as long as the one before (``first_wait`` seconds,
    at most ``max_wait``: the instructor is never locked out for longer). Wrong tries are forgotten
    after ``forget_after`` quiet seconds, or by the right passcode."""

    free: int
    first_wait: float = 2.0
    max_wait: float = 60.0
    forget_after: float = 900.0

    def wait_after(self, failures: int) -> float:
        """Seconds the next try waits after ``failures`` wrong tries in a row."""
        if failures <= self.free:
            return 0.0
        return min(self.max_wait, self.first_wait * 2.0 ** (failures - self.free - 1))


class PasscodeGate:
    """The passcode check with its guessing limits, per browser session and per server; no Streamlit in it.

    ``check`` answers ``(unlocked, message)``. A try made while a wait is running is
    refused without comparing the passcode (so guessing costs time even with the right
    one) and does not count. Wrong tries and refusals go to the server log. The server's
    limit counts the wrong tries of every session together (a reload opens a new session),
    with more free tries, so a class mistyping once each locks no one.
    """

    def __init__(self, session: GuessLimit = GuessLimit(free=3), server: GuessLimit = GuessLimit(free=10),
                 clock: Callable[[], float] = time.monotonic):
        self.session_limit, self.server_limit, self.clock = session, server, clock
        self.server = Attempts()
        self._lock = threading.Lock()

    def check(self, entered: str, passcode: str, session: Attempts, tag: str = "") -> tuple[bool, str]:
        with self._lock:
            now = self.clock()
            for attempts, limit in ((session, self.session_limit), (self.server, self.server_limit)):
                if attempts.failures and now - attempts.last_failure > limit.forget_after:
                    attempts.failures, attempts.checked_from = 0, 0.0
            waits = {"session": session.checked_from - now, "server": self.server.checked_from - now}
            who, wait = max(waits.items(), key=lambda item: item[1])
            if wait > 0:
                logger.warning("Instructor passcode try refused without checking (session %s): %s waits %.0f s "
                               "more after %d wrong tries in a row.", tag, who,
                               wait, session.failures if who == "session" else self.server.failures)
                where = "" if who == "session" else " on this dashboard"
                return False, (f"Too many wrong passcodes{where}: wait {_seconds(wait)}, then try again "
                               "(this try was not checked).")
            if hmac.compare_digest(entered.encode(), passcode.encode()):
                session.failures, session.checked_from = 0, 0.0
                logger.info("Instructor controls unlocked (session %s).", tag)
                return True, ""
            waits = {}
            for name, attempts, limit in (("session", session, self.session_limit),
                                          ("server", self.server, self.server_limit)):
                attempts.failures += 1
                attempts.last_failure = now
                waits[name] = limit.wait_after(attempts.failures)
                attempts.checked_from = now + waits[name]
            logger.warning("Wrong instructor passcode (session %s): %d wrong in a row in this session, %d on the "
                           "server; the next try waits %.0f s.", tag, session.failures, self.server.failures,
                           max(waits.values()))
            wait = max(waits.values())
            if not wait:
                return False, "Wrong passcode."
            return False, f"Wrong passcode. Too many wrong tries: the next one is checked in {_seconds(wait)}."


def _seconds(value: float) -> str:
    seconds = max(1, int(-(-value // 1)))  # rounded up: a try after the time said is always checked
    return "1 second" if seconds == 1 else f"{seconds} seconds"


#: One gate per server (this module is imported once per dashboard process).
GATE = PasscodeGate()


def _try_passcode() -> None:
    """The passcode box's callback: check what was entered once (not at every rerun), then empty the box."""
    entered = st.session_state.get(ENTRY_KEY) or ""
    st.session_state[ENTRY_KEY] = ""
    passcode = instructor_passcode()
    if not entered or passcode is None:
        return
    session = st.session_state.setdefault(ATTEMPTS_KEY, Attempts())
    tag = st.session_state.setdefault(SESSION_TAG_KEY, secrets.token_hex(4))
    unlocked, message = GATE.check(entered, passcode, session, tag)
    if unlocked:
        st.session_state[UNLOCKED_KEY] = True
        st.session_state.pop(ANSWER_KEY, None)
    else:
        st.session_state[ANSWER_KEY] = message


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
    answer = st.session_state.get(ANSWER_KEY)
    with st.expander(":material/lock: Instructor", expanded=bool(answer)):
        st.text_input("Passcode", type="password", key=ENTRY_KEY, on_change=_try_passcode,
                      help="Press Enter to check it. After a few wrong tries each next try waits longer "
                           f"(at most {GATE.session_limit.max_wait:.0f} seconds).")
        if answer:
            st.error(answer)
