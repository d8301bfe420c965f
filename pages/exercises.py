"""Exercises 13-1 ... 13-6: the questions, links to the sections that answer them,
an answer box per question with a Check button, feedback on checkable questions, model
answers once a real attempt is submitted, and a Markdown file of the answers that can be
loaded back. No computed answer is shown or exported to students (an instructor with the
passcode can download the answer key).

The questions and the checking live in ``seglib.lab.exercises``; the facts, the
answer boxes and the browser storage in ``ui.lab`` (shared with
the side panel of the linked pages). This page gathers and draws.
"""

from __future__ import annotations

import datetime

import streamlit as st

from seglib.lab import exercises as ex
from seglib.lab import answers as lab_answers
from seglib.lab import facts as lab_facts
from seglib.lab import questions as lab_questions
from seglib.lab import saving as lab_saving
from ui import instructor, lab, registry, url_state
from ui.markdown import md_text
from ui.page import page_header

page_header(
    "exercises.py",
    "Six short exercises, one per part of the lab. Each links to the sections whose figures answer it, and "
    "those pages show the same questions in their sidebar. Questions with a number, a class or a list for an "
    "answer are checked when you press **Check**, against values computed from **the dataset and model chosen in "
    "the sidebar**; shape and scale questions also accept the Keras example's answer and say which one yours "
    "matches. Open questions show a model answer once you have submitted your own. "
    "Your answers stay in this browser (also after a reload or a closed tab); download them as Markdown to "
    "hand them in, and load such a file back to continue elsewhere.",
)

EXERCISE_KEY = lab_questions.EXERCISE_PARAM
UPLOAD_KEY = "answers_upload"
UPLOAD_MESSAGE_KEY = "answers_upload_message"
STUDENT_BOX = "exercise_student_box"
MAX_UPLOAD_BYTES = 1_000_000


def _key_numbers(facts: dict) -> None:
    rows = lab_saving.key_number_rows(facts)
    if rows:
        # Values name the dataset, model and run in use: shown as text, never as Markdown.
        st.markdown(" · ".join(f"**{label}:** {md_text(value)}" for label, value in rows))


def _keep_student() -> None:
    st.session_state[lab.STUDENT_KEY] = st.session_state.get(STUDENT_BOX, "")


def _load_file() -> None:
    """The uploader's callback: answers from an exported file replace those in the session."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    data = upload.getvalue()
    try:
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"The file has {len(data):,} bytes; an answers file is far smaller "
                             f"(at most {MAX_UPLOAD_BYTES:,}).")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("The file is not UTF-8 text: load the Markdown file this page downloaded.") from None
        saved = lab_saving.parse_answers_markdown(text)
    except ValueError as error:
        st.session_state[UPLOAD_MESSAGE_KEY] = ("error", f"{upload.name}: {error}")
        return
    changed = lab.set_answers(saved, replace=True)
    who = f" of {saved.student}" if saved.student else ""
    st.session_state[UPLOAD_MESSAGE_KEY] = (
        "success", f"Loaded {len(saved.answers)} answers{who} from {upload.name} ({changed} changed).")


lab.load_from_browser()
facts = lab.gather_facts()
exercise_list = ex.build_exercises(facts)
keys = [exercise.key for exercise in exercise_list]
answers = lab.answers()

if st.session_state.get(STUDENT_BOX) != lab.student():
    st.session_state[STUDENT_BOX] = lab.student()
name_column, numbers_column = st.columns([1, 3], vertical_alignment="bottom")
name_column.text_input("Your name (goes into the exported file)", key=STUDENT_BOX, on_change=_keep_student,
                       max_chars=lab_saving.MAX_NAME_CHARS)
_keep_student()
with numbers_column:
    _key_numbers(facts)

url_state.seed(EXERCISE_KEY, keys[0], options=keys)
st.segmented_control("Exercise", keys, key=EXERCISE_KEY, required=True,
                     help="The link in the address bar opens this exercise directly.")
url_state.sync(EXERCISE_KEY, keys[0])
current = next(e for e in exercise_list if e.key == st.session_state.get(EXERCISE_KEY, keys[0]))

st.subheader(f"Exercise {current.key}: {current.title}")
st.markdown(current.intro)
if any(question.alternatives for question in current.questions):
    st.caption(f"Shape and scale questions are checked for {lab_facts.sidebar_label(facts)} and for "
               f"{lab_facts.keras_label(facts['keras'])}: an answer that matches either is accepted.")
for note in current.notes:
    st.markdown(note)
for link, params in lab.page_links(current, background=True):
    registry.page_link(link.page, link.label, params)
if current.links:
    st.markdown("**Where to look** (each link opens the section, with these questions in its sidebar):")
    columns = st.columns(len(current.links))
    for column, (link, params) in zip(columns, lab.page_links(current)):
        with column:
            registry.page_link(link.page, link.label, params)

for question in current.questions:
    lab.answer_box(question)

questions = ex.all_questions(exercise_list)
checkable = [q for q in questions if q.checkable]
right = sum(lab_answers.check_answer(q, answers.get(q.key)).correct for q in checkable)
answered = sum(bool((answers.get(q.key) or "").strip()) for q in questions)
st.divider()
st.markdown(f"**Progress:** {answered} of {len(questions)} questions answered; "
            f"{right} of {len(checkable)} checkable answers correct.")
# Kept in the session too: the file a student downloads is exactly this text.
st.session_state["exercise_answers_markdown"] = lab_saving.answers_markdown(
    exercise_list, answers, facts, student=lab.student(), date=datetime.date.today())
save_column, load_column = st.columns(2)
with save_column:
    st.download_button(
        "Download my answers (Markdown)", data=st.session_state["exercise_answers_markdown"],
        file_name="segmentation-lab-answers.md", mime="text/markdown", on_click="ignore",
        icon=":material/download:", key="download_answers",
    )
with load_column:
    st.file_uploader("Load answers from a file you downloaded here", type=["md", "markdown", "txt"],
                     key=UPLOAD_KEY, on_change=_load_file,
                     help="Its answers replace the ones in this browser (questions it leaves empty keep yours).")
    message = st.session_state.get(UPLOAD_MESSAGE_KEY)
    if message:
        level, text = message
        (st.success if level == "success" else st.error)(md_text(text, limit=600))
lab.save_to_browser()

if instructor.is_instructor():
    with st.expander(":material/key: For the instructor"):
        if st.session_state.get("hide_model_answers") != lab.model_answers_hidden():
            st.session_state["hide_model_answers"] = lab.model_answers_hidden()  # another instructor's choice
        st.toggle("Hide the model answers from students", key="hide_model_answers",
                  on_change=lambda: lab.set_model_answers_hidden(st.session_state["hide_model_answers"]),
                  help="For everyone on this server until it restarts (start value: "
                       f"{lab.HIDE_MODEL_ANSWERS_ENV}=1).")
        if instructor.instructor_passcode() is not None:
            # Unlocked by the passcode: the computed answers go to a file, never onto a shared screen.
            st.download_button(
                "Download the answer key (Markdown)", icon=":material/key:", key="download_answer_key",
                data=lab_saving.answer_key_markdown(exercise_list, facts, date=datetime.date.today()),
                file_name="segmentation-lab-answer-key.md", mime="text/markdown", on_click="ignore",
                help="The value every checkable question expects, for the dataset and model in the sidebar.")
        else:
            st.caption("The answer key (every computed value) can be downloaded here once an instructor "
                       "passcode is set (`SEGLIB_INSTRUCTOR_PASSCODE`): without one, everyone on this "
                       "machine counts as the instructor, students included.")
