"""Exercises 13-1 ... 13-6: the questions, links to the figures that answer them,
an answer box per question, immediate feedback on checkable questions, and a
Markdown download of the answers with the numbers they were checked against.

The questions and the checking live in ``seglib.exercises``; this page only
gathers the dataset, model and run in use and draws what the library returns.
"""

from __future__ import annotations

import streamlit as st

from pages import common
from seglib import exercises as ex

common.page_header(
    "Exercises",
    "Six short exercises, one per part of the lab. Each links to the page whose figures answer it. "
    "Questions with a number or a class for an answer are checked at once against values computed from "
    "**the dataset and model chosen in the sidebar**, so switching either changes the expected answers. "
    "Your answers stay in this browser session; download them as Markdown before you close the tab.",
)

ANSWERS_KEY = "exercise_answers"
EXERCISE_KEY = "exercise"


@st.cache_data(show_spinner=False, max_entries=8)
def _model_numbers(key: str, path: str | None, preset: str | None, stamp: tuple) -> dict:
    """Shape and scale numbers of a sidebar model (cached per model file)."""
    if path is not None:
        model = common.load_model(path)
    else:
        model = common.load_model(preset=preset)
    return ex.model_numbers(model)


def _file_stamp(path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return ()
    return (stat.st_mtime_ns, stat.st_size)


def _gather_facts() -> dict:
    """The key numbers of the dataset (train split), model and run in use.

    A part that cannot be computed (no dataset yet, a broken checkpoint) shows
    its error and leaves its questions open instead of stopping the page.
    """
    facts: dict = {}
    with common.error_boundary("Reading the dataset statistics", stop=False):
        root = common.current_dataset_root()
        dataset = common.load_dataset(root)
        split = "train" if dataset.split("train") else next(iter(dataset.splits))
        facts.update(ex.dataset_numbers(common.load_stats(root, split)))
        facts["dataset"] = dataset.name
    with common.error_boundary("Analysing the model", stop=False):
        choice = common.current_model_choice()
        facts["model_label"] = choice.label
        facts["model_preset"] = choice.preset
        with st.spinner("Reading the model's shapes and receptive fields..."):
            facts.update(_model_numbers(choice.key, str(choice.path) if choice.path else None, choice.preset,
                                        _file_stamp(choice.path) if choice.path else ()))
        if choice.kind == "run":
            facts.update(ex.run_numbers(choice.key.split(":", 1)[1]))
            facts["model_preset"] = facts.get("run_preset")
    return facts


def _key_numbers(facts: dict) -> None:
    rows = ex.key_number_rows(facts)
    if rows:
        # Values name the dataset, model and run in use: shown as text, never as Markdown.
        st.markdown(" · ".join(f"**{label}:** {common.md_text(value)}" for label, value in rows))


def _answer_box(question: ex.Question, answers: dict) -> None:
    """One question: the text, an input kept in the session, and feedback."""
    widget_key = f"answer_{question.key}"
    if widget_key not in st.session_state:  # back on this exercise: restore the saved answer
        st.session_state[widget_key] = answers.get(question.key, "")
    if question.checkable:
        st.text_input(question.text, key=widget_key, placeholder="Type your answer and press Enter")
    else:
        st.text_area(question.text, key=widget_key, height=90, placeholder="Your answer, in a sentence or two")
    answers[question.key] = st.session_state.get(widget_key, "")
    feedback = ex.check_answer(question, answers[question.key])
    if feedback.status == "correct":
        st.success(feedback.message, icon=":material/check_circle:")
    elif feedback.status in ("not_yet", "unreadable"):
        st.warning(feedback.message, icon=":material/lightbulb:")
    elif question.kind != "text" and not question.checkable:
        st.caption("Not checked: the number it needs could not be computed for this dataset or model.")


facts = _gather_facts()
exercise_list = ex.build_exercises(facts)
keys = [exercise.key for exercise in exercise_list]
answers: dict = st.session_state.setdefault(ANSWERS_KEY, {})

_key_numbers(facts)

common.url_seed(EXERCISE_KEY, keys[0], options=keys)
st.segmented_control("Exercise", keys, key=EXERCISE_KEY, required=True,
                     help="The link in the address bar opens this exercise directly.")
common.url_sync(EXERCISE_KEY, keys[0])
current = next(e for e in exercise_list if e.key == st.session_state.get(EXERCISE_KEY, keys[0]))

st.subheader(f"Exercise {current.key}: {current.title}")
st.markdown(current.intro)
if current.links:
    columns = st.columns(len(current.links))
    for column, link in zip(columns, current.links):
        with column:
            common.page_link(link.page, link.label, link.params)

for question in current.questions:
    _answer_box(question, answers)

checkable = [q for q in ex.all_questions(exercise_list) if q.checkable]
right = sum(ex.check_answer(q, answers.get(q.key)).correct for q in checkable)
answered = sum(bool((answers.get(q.key) or "").strip()) for q in ex.all_questions(exercise_list))
st.divider()
st.markdown(f"**Progress:** {answered} of {len(ex.all_questions(exercise_list))} questions answered; "
            f"{right} of {len(checkable)} checkable answers correct.")
# Kept in the session too: the file a student downloads is exactly this text.
st.session_state["exercise_answers_markdown"] = ex.answers_markdown(exercise_list, answers, facts)
st.download_button(
    "Download my answers (Markdown)", data=st.session_state["exercise_answers_markdown"],
    file_name="segmentation-lab-answers.md", mime="text/markdown", on_click="ignore",
    icon=":material/download:", key="download_answers",
)

if common.instructor_passcode() is not None and common.is_instructor():
    with st.expander(":material/key: Answer key (instructor)"):
        st.table([{"exercise": q.exercise, "question": q.text, "computed answer": q.answer_text()}
                  for q in checkable])
