"""The board of the Classroom page: the question as students see it and their answer form, the
instructor's live view of the room's answers, and the polling that brings a new question (or the
reveal) to every screen.

Polling is one light fragment per session that reads the board's revision (one row of SQLite) and
redraws the page when it moved: every ``STUDENT_POLL_SECONDS``, or ``BOARD_POLL_SECONDS`` on the
instructor's board while answers come in (it then redraws the counts too). The instructor's board
polls only while the question is open; every screen stops polling after ``IDLE_STOP_SECONDS``
without a change on the board (a button starts it again). A student's screen only ever reads the
board through ``Classroom.student_board``: the answer is not in it before the reveal.
"""

from __future__ import annotations

import time
from datetime import datetime

import streamlit as st

from seglib.classes import CLASS_NAMES, numbered_label
from seglib.errors import SeglibError
from seglib.figures.classroom import answers_figure
from seglib.lab import polls
from seglib.lab.classroom import Asked, Board, Classroom, public_board
from ui import instructor
from ui.classroom import seat
from ui.drawing import plot, show_error
from ui.markdown import md_text

#: How often the instructor's board reads the answers while the question is open.
BOARD_POLL_SECONDS = 2.0
#: How often every other screen checks for a new question, a close or the reveal.
STUDENT_POLL_SECONDS = 3.0
#: Polling stops after this long without a change on the board.
IDLE_STOP_SECONDS = 30 * 60
PAUSED_KEY = "classroom_paused"
ACK_KEY = "classroom_ack"      #: (question id, 'success' | 'error', text) left by the send callback
NAME_KEY = "classroom_name"
INPUT_PREFIX = "classroom_input_"


def store() -> Classroom:
    """The classroom database of this server (``classroom.sqlite3`` in the runs folder)."""
    return Classroom()


def read_board() -> Board:
    """The board as this screen may show it: whole for the instructor, without the answer before the
    reveal for everyone else."""
    return store().board() if instructor.is_instructor() else store().student_board()


def for_students(board: Board) -> Board:
    """The board as the answer form shows it (no answer before the reveal, also on the instructor's screen)."""
    return public_board(board)


def poll_seconds(question: Asked | None, board_view: bool, idle_seconds: float) -> float | None:
    """How often a screen polls: the instructor's board while answers come in, every screen
    otherwise, none once the board has not changed for ``IDLE_STOP_SECONDS``."""
    if board_view and question is not None and question.accepting:
        return BOARD_POLL_SECONDS
    if idle_seconds >= IDLE_STOP_SECONDS:
        return None
    return STUDENT_POLL_SECONDS


def shows_answer_form() -> bool:
    """Students answer; so does everyone where no passcode is set (a laptop, or a class without one),
    except on the projector (presentation mode)."""
    if not instructor.is_instructor():
        return True
    return instructor.instructor_passcode() is None and not instructor.presentation_mode()


def question_text(asked: Asked) -> str:
    """The question as Markdown: an exercise question as the lab writes it, a typed one as literal text."""
    poll = asked.poll
    text = poll.text if poll.origin != "live" else md_text(poll.text, limit=None)
    where = f" (exercise {poll.origin.split()[0]})" if poll.origin != "live" else ""
    return f"**Question {asked.id}{where}.** {text}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


# ---------------------------------------------------------------------------
# The students' side
# ---------------------------------------------------------------------------

def _answer_text(question_id: int, kind: str) -> str:
    value = st.session_state.get(INPUT_PREFIX + str(question_id))
    if value is None:
        return ""
    if kind == "class":
        return numbered_label(value)
    return str(value)


def _send(question_id: int, kind: str) -> None:
    """The form's callback: store the answer (it runs before the page, so ``received`` is when the
    server started on the submit) and leave the acknowledgement for the page to show."""
    received = time.time()
    try:
        ack = store().submit(question_id, seat.seat(), _answer_text(question_id, kind),
                             name=st.session_state.get(NAME_KEY, ""), received_at=received)
    except SeglibError as error:
        st.session_state[ACK_KEY] = (question_id, "error", str(error))
        return
    seat.mark_used()
    verb = "Changed to" if ack.replaced else "Received"
    st.session_state[ACK_KEY] = (question_id, "success", f"{verb}: {ack.label} (at {_when(ack.answered_at)}). "
                                                         "You can change it until the question closes.")


def _input(asked: Asked) -> None:
    poll, key = asked.poll, INPUT_PREFIX + str(asked.id)
    if poll.kind == "choice":
        st.radio("Your answer", poll.options, index=None, key=key)
    elif poll.kind == "class":
        st.selectbox("Your answer", range(len(CLASS_NAMES)), index=None, key=key, placeholder="Choose a class",
                     format_func=numbered_label)
    elif poll.kind == "text":
        st.text_area("Your answer", key=key, height=90, max_chars=polls.MAX_ANSWER_CHARS)
    else:
        hint = {"number": "a number, e.g. 16 or 0.42", "size": "height × width, e.g. 64 x 64",
                "set": "numbers such as 4, 6, or 'none'"}[poll.kind]
        st.text_input("Your answer", key=key, placeholder=hint, max_chars=polls.MAX_ANSWER_CHARS)


def _your_answer(asked: Asked, text: str) -> None:
    verdict = polls.is_right(asked.poll, text) if asked.revealed else None
    shown = md_text(polls.reading(asked.poll, text).label or text, limit=200)
    if verdict is None:
        st.markdown(f"Your answer: **{shown}**")
    elif verdict:
        st.success(f"Your answer {shown} is right.", icon=":material/check_circle:")
    else:
        st.warning(f"Your answer {shown} is not the expected one.", icon=":material/lightbulb:")


def answer_section(board: Board) -> None:
    """The question on the board (without its answer until the reveal) and this seat's answer."""
    st.subheader("The question")
    asked = board.question
    if asked is None:
        st.info("No question on the board right now. It appears here as soon as the instructor asks one.",
                icon=":material/hourglass_empty:")
        return
    st.markdown(question_text(asked))
    if asked.accepting:
        # A fragment: sending an answer reruns the form and its acknowledgement, not the whole page
        # (sidebar included), which is what forty students sending at once cost the server.
        st.fragment(_answer_form)(asked)
        return
    ack = st.session_state.get(ACK_KEY)
    if ack and ack[0] == asked.id and ack[1] == "error":  # sent just as the question closed
        st.error(md_text(ack[2], limit=600))
    mine = store().answer_of(asked.id, seat.seat())
    if mine is not None:
        _your_answer(asked, mine.text)
    if asked.status == "closed":
        st.info("Answers are closed. The instructor reveals the answer next.", icon=":material/lock_clock:")
    elif asked.revealed:
        reveal(asked)
        room_answers(asked)


def _answer_form(asked: Asked) -> None:
    """The open question's form, then the acknowledgement of the last answer sent (or the answer this
    seat sent before a reload of the tab)."""
    mine = store().answer_of(asked.id, seat.seat())
    with st.form(f"classroom_form_{asked.id}", border=True):
        _input(asked)
        if not asked.poll.anonymous:
            st.text_input("Your name (this question asks for it)", key=NAME_KEY, max_chars=80)
        st.form_submit_button("Change my answer" if mine else "Send answer", type="primary",
                              key=f"classroom_send_{asked.id}", on_click=_send, args=(asked.id, asked.poll.kind),
                              icon=":material/send:")
    st.caption("Anonymous: the instructor sees how many gave each answer, not who." if asked.poll.anonymous
               else "This question asks for names: the instructor sees yours with your answer.")
    ack = st.session_state.get(ACK_KEY)
    if ack and ack[0] == asked.id:
        (st.success if ack[1] == "success" else st.error)(md_text(ack[2], limit=600))
    elif mine is not None:  # sent before a reload of the tab
        shown = md_text(polls.reading(asked.poll, mine.text).label, limit=200)
        st.caption(f"Your answer so far: {shown} (at {_when(mine.answered_at)}).")


def reveal(asked: Asked) -> None:
    """The expected answer and its explanation (only ever called for a revealed question)."""
    poll = asked.poll
    if poll.checkable:
        st.markdown(f"**Answer:** {md_text(poll.answer_text(), limit=None)}")
    if poll.explanation:
        st.info(poll.explanation, icon=":material/menu_book:")
    if not poll.checkable and not poll.explanation:
        st.caption("This question has no single right answer: the room's answers are the point.")


def room_answers(asked: Asked) -> None:
    """The room's answers: the sentence computed from them, then the chart (or the list of texts)."""
    answers = store().answers(asked.id)
    dist = polls.distribution(asked.poll, [answer.text for answer in answers], revealed=asked.revealed)
    st.markdown(md_text(polls.summary(asked.poll, dist), limit=None))
    if not dist.total:
        return  # nothing to draw yet
    if dist.kind == "texts":
        st.dataframe({"answer": list(dist.labels), "count": list(dist.counts)}, hide_index=True,
                     width="stretch", height=min(400, 40 + 35 * len(dist.labels)))
        return
    plot(answers_figure(dist, unit=asked.poll.unit))


# ---------------------------------------------------------------------------
# The instructor's board and the polling
# ---------------------------------------------------------------------------

def board_section(board: Board) -> None:
    """The instructor's view of the room: the question, its state and the room's answers (live while
    the question is open). Never shows the expected answer before the reveal."""
    st.subheader("The room's answers")
    asked = board.question
    if asked is None:
        st.caption("The board is clear: ask the next question below.")
        return
    st.markdown(question_text(asked))
    opened = f"asked at {_when(asked.opened_at)}"
    st.caption({"open": f"Open for answers ({opened}).", "closed": f"Closed ({opened}); not revealed yet.",
                "revealed": f"Revealed ({opened})."}.get(asked.status, asked.status))
    if asked.accepting:
        st.fragment(_live_board, run_every=BOARD_POLL_SECONDS)(asked.id, board.revision)
        return
    if asked.revealed:
        reveal(asked)
    room_answers(asked)


def _live_board(question_id: int, drawn_revision: int) -> None:
    """The open question's answers, redrawn every BOARD_POLL_SECONDS; the page is redrawn when the board
    moved (closed, revealed or cleared from another window)."""
    try:
        board = store().board()
    except SeglibError as error:
        show_error(error)
        return
    if board.revision != drawn_revision or board.question is None or board.question.id != question_id:
        st.rerun(scope="app")
    room_answers(board.question)


def _watch(drawn_revision: int, drawn_at: float) -> None:
    """Every STUDENT_POLL_SECONDS: redraw the page when the board moved; stop after IDLE_STOP_SECONDS."""
    try:
        revision = store().revision()
    except SeglibError:
        return  # a busy or unreadable database: the next poll tries again, the page says what is wrong
    if revision != drawn_revision:
        st.rerun(scope="app")
    if time.time() - drawn_at >= IDLE_STOP_SECONDS:
        st.session_state[PAUSED_KEY] = True
        st.rerun(scope="app")


def keep_watching(board: Board, board_view: bool) -> None:
    """Start this screen's polling (unless the instructor's live board already polls, or it was paused)."""
    every = poll_seconds(board.question, board_view, 0.0)
    if every == BOARD_POLL_SECONDS:
        return  # the live board polls, and watches the revision too
    if st.session_state.get(PAUSED_KEY):
        st.info(f"This page stopped checking for new questions after {IDLE_STOP_SECONDS // 60} minutes without "
                "one.", icon=":material/pause_circle:")
        st.button("Check for a new question", key="classroom_resume", icon=":material/refresh:",
                  on_click=lambda: st.session_state.pop(PAUSED_KEY, None))
        return
    st.fragment(_watch, run_every=every)(board.revision, time.time())
