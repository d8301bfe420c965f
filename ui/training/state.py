"""What the Training page keeps in the session: the run shown (also ``?run=`` in the URL), the
messages its buttons leave, and the instructor gate every action goes through."""

from __future__ import annotations

import streamlit as st

from seglib.training.reference import DEMO_RUN_KEY
from seglib.training.runs import files as run_files
from seglib.training.runs import folders as run_folders
from seglib.training.runs.state import RunInfo
from ui import url_state
from ui.instructor import is_instructor

#: Statuses during which the live view refreshes itself.
LIVE_STATUSES = ("queued", "running", "stopping")
#: Session keys (small values only; the truth is on disk).
RUN_KEY = "training_run"            # the run shown (also ?run= in the URL once chosen)
RUN_PARAM = "run"
PINNED_KEY = "training_run_pinned"  # True once the user (or a Start) chose the run
NOTICE_KEY = "training_notice"      # (kind, text) left by a button callback for the next run
#: Where a message is shown: under the form, in the live view, under the run's actions.
NOTICE_AREAS = ("start", "live", "actions")
#: Error texts are escaped for Markdown and cut here (names in them are cut shorter by seglib).
ERROR_CHARS = 1_000
#: How each training loss reads in the form.
LOSS_LABELS = {"cross-entropy": "Cross-entropy", "weighted-cross-entropy": "Weighted cross-entropy",
               "focal": "Focal", "dice": "Dice", "cross-entropy+dice": "Cross-entropy + Dice"}


def notice(area: str, kind: str, text: str, while_status: tuple[str, ...] = ()) -> None:
    """Leave a message, shown in ``area`` ('start', 'live' or 'actions') until the user moves on.

    It replaces any earlier message: the live view's refreshes keep it, the
    user's next action on this page (a button, picking a run) or leaving the
    page clears it. A message about where a run is going ("Started.") names the
    statuses it is true in (``while_status``): once the run's status is another
    (it failed, its worker was killed), the message is gone, not left beside the error.
    """
    clear_notices()
    st.session_state[f"{NOTICE_KEY}_{area}"] = (kind, text, tuple(while_status))


def clear_notices() -> None:
    for area in NOTICE_AREAS:
        st.session_state.pop(f"{NOTICE_KEY}_{area}", None)


def show_notice(area: str, status: str | None = None) -> None:
    """The message left in ``area``; ``status``: the shown run's status now (a message no longer true
    in it is dropped, see ``notice``)."""
    kind, text, while_status = st.session_state.get(f"{NOTICE_KEY}_{area}", (None, None, ()))
    if while_status and status is not None and status not in while_status:
        st.session_state.pop(f"{NOTICE_KEY}_{area}", None)
        return
    if kind == "error":
        st.error(text, icon=":material/error:")
    elif kind == "success":
        st.success(text, icon=":material/check_circle:")
    elif kind == "info":
        st.info(text, icon=":material/info:")


def allowed(area: str, action: str) -> bool:
    """The instructor gate of every button: True for the instructor; otherwise a message in
    ``area`` saying that ``action`` ('Starting', 'Stopping', ...) a run needs the passcode."""
    if is_instructor():
        return True
    notice(area, "error", f"{action} a run needs the instructor passcode (sidebar).")
    return False


def show_run(run_id: str | None) -> None:
    """Make ``run_id`` the shown run and keep it in the URL (callbacks only: before widgets exist)."""
    if run_id is None:
        st.session_state.pop(RUN_KEY, None)
        st.session_state[PINNED_KEY] = False
    else:
        st.session_state[RUN_KEY] = run_id
        st.session_state[PINNED_KEY] = True
    url_state.write(RUN_PARAM, run_id)


def on_pick_run() -> None:
    clear_notices()  # the user moved on to another run
    show_run(st.session_state.get(RUN_KEY))


def run_labels(infos: list[RunInfo]) -> dict[str, str]:
    """Display names of runs, made unique with the run id where two runs share a name."""
    names = [info.name for info in infos]
    return {info.id: info.name if names.count(info.name) == 1 else f"{info.name} ({info.id})" for info in infos}


def default_run(infos: list[RunInfo]) -> str | None:
    """The run a viewer sees without choosing: the running one, else the next queued, else the newest of
    this machine's runs; on a fresh install (only the recorded reference runs) the demo model's run, not
    whichever optimizer run happened to be recorded last."""
    for statuses in (run_files.ACTIVE_STATUSES, ("queued",)):
        matching = [info for info in infos if info.status in statuses]
        if matching:
            return min(matching, key=lambda info: info.queue_position or 0).id
    own = [info for info in infos if not info.reference]
    demo = [info for info in infos if info.id == run_folders.REFERENCE_PREFIX + DEMO_RUN_KEY]
    first = own or demo or infos
    return first[0].id if first else None


def settle_shown_run(run_ids: list[str], default_id: str | None) -> None:
    """Decide the run shown in this page run: the user's pick, else the link's ``?run=``, else the
    default run (a link to a run that is gone says so); a viewer who never picked follows the default."""
    from ui.markdown import md_code

    url_run = url_state.param(RUN_PARAM)
    if url_state.url_changed(RUN_PARAM) and url_run in run_ids:  # Back or Forward to another run
        st.session_state[RUN_KEY], st.session_state[PINNED_KEY] = url_run, True
        url_state.write(RUN_PARAM, url_run)
    elif st.session_state.get(RUN_KEY) not in run_ids:
        if url_run in run_ids:
            st.session_state[RUN_KEY], st.session_state[PINNED_KEY] = url_run, True
            url_state.write(RUN_PARAM, url_run)
        else:
            if url_run:
                st.warning(f"The run {md_code(url_run)} from the link does not exist (any more); showing the "
                           "latest run.", icon=":material/warning:")
                url_state.write(RUN_PARAM, None)
            st.session_state[RUN_KEY], st.session_state[PINNED_KEY] = default_id, False
    elif not st.session_state.get(PINNED_KEY) and st.session_state[RUN_KEY] != default_id:
        st.session_state[RUN_KEY] = default_id  # following the active run
    if st.session_state.get(RUN_KEY) is None:
        st.session_state.pop(RUN_KEY, None)
