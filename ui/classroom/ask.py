"""The instructor's side of the Classroom page: choosing the next question (one of the lab's exercise
questions, its answer computed now for the sidebar's dataset and model, or one typed live), opening
it, then closing, revealing and clearing it; and the CSV export of every answer.

Every action asks ``allowed`` first (the instructor passcode, ``ui.instructor.is_instructor``);
the page draws these controls for instructors only. Nothing here shows a question's answer before
the reveal: the board is on the projector.
"""

from __future__ import annotations

import streamlit as st

from seglib.classes import CLASS_NAMES, numbered_label
from seglib.errors import SeglibError
from seglib.lab import answers as lab_answers
from seglib.lab import exercises as ex
from seglib.lab import facts as lab_facts
from seglib.lab import polls
from seglib.lab.classroom import Asked, Board
from ui import instructor, lab
from ui.classroom.board import store
from ui.markdown import md_text, shorten

SOURCE_KEY = "classroom_source"
#: Where the next question comes from, as the page names it. Typed is the default: the exercises'
#: answers need the dataset statistics, the model and a prediction (ready at once on a prewarmed server).
SOURCES = {"live": "Type one now", "exercise": "From the exercises"}
QUESTION_KEY = "classroom_question"
KIND_KEY = "classroom_kind"
TEXT_KEY = "classroom_text"
OPTIONS_KEY = "classroom_options"
EXPECTED_KEY = "classroom_expected"
TOLERANCE_KEY = "classroom_tolerance"
UNIT_KEY = "classroom_unit"
NAMES_KEY = "classroom_ask_names"
NOTICE_KEY = "classroom_notice"
NO_ANSWER = "(no right answer)"


def notice(kind: str, text: str) -> None:
    st.session_state[NOTICE_KEY] = (kind, text)


def show_notice() -> None:
    kind, text = st.session_state.pop(NOTICE_KEY, (None, None))
    if kind:
        (st.success if kind == "success" else st.error)(md_text(text, limit=600))


def allowed(action: str) -> bool:
    """The gate of every button: True for the instructor, else a message that ``action`` needs the passcode."""
    if instructor.is_instructor():
        return True
    notice("error", f"{action} needs the instructor passcode (sidebar).")
    return False


def _act(action: str, do) -> None:
    """Run one action on the board (after the gate) and redraw the page with the new board."""
    if not allowed(action):
        return
    try:
        done = do()
    except SeglibError as error:
        notice("error", str(error))
    else:
        notice("success", f"{action}: question {done.id}.")
    st.rerun()


# ---------------------------------------------------------------------------
# Choosing the next question
# ---------------------------------------------------------------------------

def _exercise_question() -> polls.Poll | None:
    """A picker over the lab's questions; the answers are computed from the sidebar's dataset and model."""
    facts = lab.gather_facts()
    questions = ex.all_questions(ex.build_exercises(facts))
    by_key = {question.key: question for question in questions}
    st.selectbox("Question", list(by_key), key=QUESTION_KEY,
                 format_func=lambda key: f"{by_key[key].exercise} · {shorten(by_key[key].text, 90)}")
    question = by_key[st.session_state[QUESTION_KEY]]
    st.markdown(question.text)
    if question.checkable:
        st.caption(f"Checked against {md_text(lab_facts.sidebar_label(facts), limit=None)} on the dataset "
                   f"{md_text(facts.get('dataset', '?'))}; the answer is computed now and shown to the room only "
                   "when you reveal it.")
    elif question.kind == "text":
        st.caption("An open question: the room's answers are listed, and the reveal shows the model answer.")
    else:
        st.caption("Its answer could not be computed for this dataset or model: the reveal shows the room's "
                   "answers only.")
    return polls.poll_from_question(question, anonymous=not st.session_state.get(NAMES_KEY))


def _live_question() -> polls.Poll | None:
    """A question typed now: a number, a choice among options or a class, with an optional answer."""
    kind = st.radio("The room answers with", list(polls.LIVE_KINDS), key=KIND_KEY, horizontal=True,
                    format_func=polls.LIVE_KINDS.get)
    text = st.text_area("Question", key=TEXT_KEY, max_chars=polls.MAX_TEXT_CHARS, height=90,
                        placeholder="e.g. How many pixels wide is the receptive field of one ASPP unit?")
    arguments: dict = {}
    if kind == "number":
        left, middle, right = st.columns(3)
        expected = left.text_input("Expected answer (optional)", key=EXPECTED_KEY)
        arguments["tolerance"] = middle.number_input("Tolerance (±)", min_value=0.0, value=0.0, key=TOLERANCE_KEY)
        arguments["unit"] = right.text_input("Unit (optional)", key=UNIT_KEY, max_chars=20)
        if expected.strip():
            arguments["answer"] = lab_answers.parse_number(expected)
            if arguments["answer"] is None:
                st.warning(f"The expected answer {md_text(expected)} is not a number.")
                return None
    elif kind == "choice":
        options = st.text_area("Options, one per line", key=OPTIONS_KEY, height=110).splitlines()
        right = st.selectbox("Right option (optional)", [NO_ANSWER, *dict.fromkeys(o.strip() for o in options
                                                                                      if o.strip())],
                             key=EXPECTED_KEY + "_choice")
        arguments.update(options=options, answer=None if right == NO_ANSWER else right)
    else:
        right = st.selectbox("Right class (optional)", [None, *range(len(CLASS_NAMES))], key=EXPECTED_KEY + "_class",
                             format_func=lambda c: NO_ANSWER if c is None else numbered_label(c))
        arguments["answer"] = right
    if not text.strip():
        return None
    try:
        return polls.live_poll(kind, text, anonymous=not st.session_state.get(NAMES_KEY), **arguments)
    except ValueError as error:
        st.warning(md_text(str(error), limit=400))
        return None


def ask_section() -> None:
    """The next question: where it comes from, the question, and Open."""
    st.subheader("Ask the room")
    st.segmented_control("Where the question comes from", list(SOURCES), key=SOURCE_KEY, default="live",
                         format_func=SOURCES.get, required=True)
    poll = _exercise_question() if st.session_state.get(SOURCE_KEY) == "exercise" else _live_question()
    st.toggle("Ask for names", key=NAMES_KEY,
              help="Off (the default): answers are anonymous. On: students type a name with the answer, and it "
                   "goes into the export.")
    if st.button("Open the question", type="primary", disabled=poll is None, icon=":material/campaign:",
                 key="classroom_open"):
        _act("Opened", lambda: store().open_question(poll))


# ---------------------------------------------------------------------------
# The question on the board
# ---------------------------------------------------------------------------

def controls(board: Board) -> None:
    """Close, reveal and clear the question on the board; or the form for the next one; then the export."""
    show_notice()
    asked: Asked | None = board.question
    if asked is None:
        ask_section()
    else:
        close, show, clear = st.columns(3)
        if close.button("Close answers", disabled=not asked.accepting, icon=":material/lock:",
                        key="classroom_close", width="stretch"):
            _act("Closed", lambda: store().close_question(asked.id))
        if show.button("Reveal the answer", disabled=asked.revealed, icon=":material/visibility:",
                       key="classroom_reveal", width="stretch", type="primary"):
            _act("Revealed", lambda: store().reveal(asked.id))
        if clear.button("Clear for the next question", icon=":material/restart_alt:", key="classroom_clear",
                        width="stretch"):
            _act("Cleared", lambda: store().clear(asked.id))
    if instructor.instructor_passcode() is None:
        st.caption("No instructor passcode is set on this server: everyone who opens this page can open, reveal "
                   "and clear questions. Set SEGLIB_INSTRUCTOR_PASSCODE before a class.")
    st.download_button("Download every answer (CSV)", data=store().export_csv(), file_name="classroom-answers.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:", key="classroom_export",
                       help="Every question asked on this server and its answers; seats are numbered, names "
                            "appear only for questions that asked for them.")
