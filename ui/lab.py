"""The lab's answers in Streamlit: the facts the checks need, the answer boxes,
the answers kept in the session and the browser, and the exercise side panel.

The Exercises page and ``exercise_panel`` (drawn by ``ui.page.page_header`` on every
page an exercise links to) both draw through here, so an answer typed beside a view
and one typed on the Exercises page are the same answer. An answer counts once it is
submitted (the Check / Submit button, or Enter): only then is it kept, checked, and
(for a real attempt) followed by the model answer; typing alone changes nothing.

State (small, in ``st.session_state``): ``exercise_answers`` {question key:
text}, ``exercise_student`` (the name in the export) and
``exercise_answers_loaded`` (the browser's copy has been read).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Callable

import streamlit as st

from seglib.data import synthetic
from seglib.lab import checks as lab_checks
from seglib.lab import exercises as ex
from seglib.lab import answers as lab_answers
from seglib.lab import facts as lab_facts
from seglib.lab import questions as lab_questions
from seglib.lab import saving as lab_saving
from ui import datasets, kept, models, url_state
from ui.components import browser
from ui.drawing import error_boundary
from ui.markdown import md_text
from ui.registry import page_link
from ui.stamps import folder_stamp

ANSWERS_KEY = "exercise_answers"
STUDENT_KEY = "exercise_student"
LOADED_KEY = "exercise_answers_loaded"
STORE_KEY = "exercise_answer_store"
#: Widget key prefixes: the Exercises page and the side panel draw separate widgets for one answer.
PAGE_PREFIX = "answer_"
PANEL_PREFIX = "panel_answer_"
#: Server-wide switch (instructors): model answers hidden from students. Starts from this variable.
HIDE_MODEL_ANSWERS_ENV = "SEGLIB_HIDE_MODEL_ANSWERS"


# ---------------------------------------------------------------------------
# Facts (cached, shared by every session)
# ---------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=8)
@kept.on_disk("model_numbers", keep_if=lambda arguments: models.keeps_on_disk(arguments["key"]))
def _model_numbers(key: tuple, _choice: models.ModelChoice) -> dict:
    """Shape and scale numbers of a sidebar model (``key``: its ``ui.models.model_key``)."""
    return lab_facts.model_numbers(models.load_choice(_choice))


@st.cache_data(show_spinner=False, max_entries=8)
@kept.on_disk("sample_numbers", keep_if=lambda arguments: models.keeps_on_disk(arguments["key"]))
def _sample_numbers(key: tuple, root: str, data_stamp: tuple, _choice: models.ModelChoice) -> dict:
    """The numbers of the image the Predictions page opens first: the first image with a
    left or right part of its first split (validation when there is one), and the
    model's logits at an uncertain pixel of it (``lab_checks.uncertain_pixel``: winning
    probability near 0.6, on the inspector's clickable grid; the exercise links there)."""
    from seglib.evaluation import inference

    dataset = datasets.load_dataset(root)
    split = datasets.opening_split(dataset)
    stats = datasets.load_stats(root, split)
    chosen = lab_checks.left_right_image(stats.image_counts)
    stems = [pair.stem for pair in dataset.split(split)]
    index = stems.index(stats.stems[chosen]) if chosen < len(stats.stems) and stats.stems[chosen] in stems else 0
    _, image, mask = datasets.load_sample(root, split, index)
    model = models.load_choice(_choice)
    prediction = inference.predict(model, image)
    pixel = lab_checks.uncertain_pixel(prediction)
    return lab_facts.sample_numbers(split, index, mask, prediction.logits_at(*pixel), pixel,
                             num_classes=int(model.output.shape[-1]))


def warm_facts(root, choice: models.ModelChoice) -> None:
    """Compute (and cache for every session) the model and sample numbers ``gather_facts`` reads for
    ``choice`` on the dataset at ``root``, without drawing anything (``ui.prewarm`` calls it)."""
    _model_numbers(models.model_key(choice), choice)
    _sample_numbers(models.model_key(choice), str(root), folder_stamp(root), choice)
    with _facts_lock:
        _facts_ready.add(_facts_key(root, choice))


# The model and sample numbers this server has computed (or read from disk), or failed to compute (a
# broken checkpoint: the page then computes them itself and shows why), by model and dataset; and those
# a background thread is computing. The side panel waits for them only once a student answered.
_facts_ready: set[tuple] = set()
_facts_computing: set[tuple] = set()
_facts_lock = threading.Lock()


def _facts_key(root, choice: models.ModelChoice) -> tuple:
    return (models.model_key(choice), str(root), folder_stamp(root))


def _facts_in_background(root, choice: models.ModelChoice) -> None:
    """Compute the model and sample numbers in a thread of their own (once per model and dataset at a time)."""
    from ui.streamlit_workarounds import thread_with_session_context

    key = _facts_key(root, choice)
    with _facts_lock:
        if key in _facts_ready or key in _facts_computing:
            return
        _facts_computing.add(key)

    def work() -> None:
        try:
            warm_facts(root, choice)
        except Exception:  # noqa: BLE001 - the page that needs them shows the error when it computes them
            with _facts_lock:  # tried: not "still being computed" for ever, nor a new thread on every run
                _facts_ready.add(key)
        except BaseException as error:
            # The session's run was stopped (a page switch, a closed tab) while the thread waited for a
            # cache entry: Streamlit stops the threads of that run too. The next run starts it again.
            if not type(error).__module__.startswith("streamlit"):
                raise
        finally:
            with _facts_lock:
                _facts_computing.discard(key)

    thread_with_session_context(work, name="seglib-facts").start()


@contextlib.contextmanager
def _part(context: str, quiet: bool):
    """One part of the facts: its error is shown (page) or swallowed (side panel); the rest goes on."""
    if quiet:
        try:
            yield
        except Exception as error:  # noqa: BLE001 - the side panel must never break the page it sits on
            if type(error).__module__.startswith("streamlit"):
                raise
        return
    with error_boundary(context, stop=False):
        yield


def gather_facts(quiet: bool = False, wait: bool = True) -> dict:
    """The key numbers of the dataset (train split), the image the Predictions page
    opens, the sidebar model and its run, and the Keras example's.

    A part that cannot be computed (no dataset yet, a broken checkpoint) leaves
    its questions open; ``quiet`` (the side panel) hides its error, the page
    shows it. Without ``wait``, the model's and the sample's numbers are left out
    (``facts["pending"]``) while this server has not computed them yet: a thread
    computes them, and the caller draws at once. (With a lecture hall arriving after
    a start, every page with exercises waited for the one session computing them:
    a model load and a prediction, measured with ``benchmarks/load_viewers.py``.)
    """
    facts: dict = {"keras": lab_facts.keras_example_numbers()}
    root = None
    with _part("Reading the dataset statistics", quiet):
        root = datasets.current_dataset_root()
        dataset = datasets.load_dataset(root)
        split = datasets.statistics_split(dataset)
        facts.update(lab_facts.dataset_numbers(datasets.load_stats(root, split)))
        facts["dataset"] = dataset.name
        facts["synthetic_data"] = synthetic.is_synthetic(root)
    choice = None
    ready = True
    with _part("Analysing the model", quiet):
        choice = models.current_model_choice()
        facts["model_label"] = choice.label
        facts["model_preset"] = choice.preset
        if not wait and root is not None:
            with _facts_lock:
                ready = _facts_key(root, choice) in _facts_ready
            if not ready:
                _facts_in_background(root, choice)
                facts["pending"] = True
        if ready:
            with st.spinner("Reading the model's shapes and receptive fields..."):
                facts.update(_model_numbers(models.model_key(choice), choice))
        if choice.kind == "run":
            facts.update(lab_facts.run_numbers(choice.ref.id))
            facts["model_preset"] = facts.get("run_preset")
        # Whether training flipped images (the flip question's premise): the model's own training, or
        # for an untrained model what its preset would do.
        record = models.training_record(choice) if choice.path is not None else None
        facts["augment_trained"] = record is not None
        if record is None and choice.preset:
            from seglib.training.provenance import preset_record

            record = preset_record(choice.preset)
        if record is not None:
            facts["augment"] = record.augment
    if root is not None and choice is not None and ready:
        with _part("Predicting the first image", quiet):
            with st.spinner("Predicting the image of exercises 13-5 and 13-6..."):
                facts.update(_sample_numbers(models.model_key(choice), str(root), folder_stamp(root), choice))
            with _facts_lock:
                _facts_ready.add(_facts_key(root, choice))
    return facts


# ---------------------------------------------------------------------------
# Answers in the session and in the browser
# ---------------------------------------------------------------------------

def answers() -> dict:
    """The student's answers in this session, {question key: text} (the one truth the widgets follow)."""
    return st.session_state.setdefault(ANSWERS_KEY, {})


def student() -> str:
    return st.session_state.get(STUDENT_KEY, "")


def set_answers(saved: lab_saving.SavedAnswers, *, replace: bool) -> int:
    """Take saved answers into the session (``replace``: a saved answer wins; otherwise it
    only fills empty questions) and update the answer widgets. Call before any answer
    widget is drawn in this run (at the top of a page, or in a callback). Returns how
    many answers changed."""
    current = answers()
    merged = lab_saving.merge_answers(current, saved.answers, replace=replace)
    changed = [key for key, value in merged.items() if current.get(key) != value]
    current.update(merged)
    for key in changed:
        for prefix in (PAGE_PREFIX, PANEL_PREFIX):
            st.session_state[prefix + key] = merged[key]
    if saved.student and (replace or not student()):
        st.session_state[STUDENT_KEY] = saved.student
        st.session_state["exercise_student_box"] = saved.student
    return len(changed)


def load_from_browser() -> None:
    """At the top of a page: take in the browser's copy once it has arrived (once per session)."""
    if st.session_state.get(LOADED_KEY):
        return
    reply = browser.stored_reply(STORE_KEY)
    if reply is None:
        return
    set_answers(lab_saving.parse_storage(reply.get("value")), replace=False)
    st.session_state[LOADED_KEY] = True


def save_to_browser() -> None:
    """After the answer widgets: mount the store, which asks for the browser's copy the
    first time in a session and afterwards writes the current answers to it.

    The first time, the store is mounted in a fragment: the browser's reply reruns that fragment
    only, not the page. Only when the browser kept answers does the page run again (and take them
    in at its top, ``load_from_browser``); a browser with none costs nothing more. (Mounted in the
    page, every session's first page with exercises ran twice: one whole run of a heavy page per
    student arriving, measured with ``benchmarks/bench_page_open.py``.)
    """
    if st.session_state.get(LOADED_KEY):
        browser.answer_store(STORE_KEY, lab_saving.storage_text(answers(), student()))
    else:
        st.fragment(_ask_browser)()


def _ask_browser() -> None:
    """The fragment that asks the browser for its copy of the answers and acts on the reply."""
    if st.session_state.get(LOADED_KEY):
        return
    reply = browser.stored_reply(STORE_KEY)
    if reply is None:
        browser.answer_store(STORE_KEY, None)
        return
    saved = lab_saving.parse_storage(reply.get("value"))
    if saved.answers or saved.student:
        st.rerun(scope="app")  # the page's next run takes them in before drawing the answer boxes
    st.session_state[LOADED_KEY] = True  # nothing kept there: nothing to show, the page stays as drawn


def _keep(question_key: str, widget_key: str) -> Callable[[], None]:
    """The submit button's callback: the submitted text becomes the answer."""
    def keep() -> None:
        answers()[question_key] = st.session_state.get(widget_key, "")
    return keep


@st.cache_resource(show_spinner=False)
def _class_settings() -> dict:
    """Settings an instructor changes for every session of this server (until it restarts)."""
    return {"hide_model_answers": os.environ.get(HIDE_MODEL_ANSWERS_ENV, "").strip().lower()
            in ("1", "true", "yes", "on")}


def model_answers_hidden() -> bool:
    return bool(_class_settings()["hide_model_answers"])


def set_model_answers_hidden(hidden: bool) -> None:
    _class_settings()["hide_model_answers"] = bool(hidden)


def answer_box(question: lab_questions.Question, *, prefix: str = PAGE_PREFIX,
               pending: bool = False) -> lab_questions.Feedback:
    """One question: the text and an input in a form, so that an answer counts only when the student
    submits it (Check / Submit, or Enter); then feedback, and the model answer once the submitted answer
    is a real attempt (open questions: ``lab_answers.MIN_ATTEMPT_WORDS`` words) or right (checked ones)."""
    widget_key = prefix + question.key
    saved = answers().get(question.key, "")
    # The session's answer is the truth: the widget follows it when the other widget for the
    # same question (page or panel), a loaded file or the browser's copy changed it. (A widget's
    # own submission reached the answers through the submit button's callback before this run.)
    if st.session_state.get(widget_key) != saved:
        st.session_state[widget_key] = saved
    with st.form(f"{prefix}form_{question.key}", border=False, enter_to_submit=True):
        if question.kind != "text":
            st.text_input(question.text, key=widget_key, placeholder="Type your answer, then press Check (or Enter)")
        else:
            st.text_area(question.text, key=widget_key, height=90,
                         placeholder="Your answer, in a sentence or two; Submit (or Ctrl+Enter) shows the model "
                                     "answer")
        st.form_submit_button("Check" if question.kind != "text" else "Submit",
                              on_click=_keep(question.key, widget_key))
    feedback = lab_answers.check_answer(question, answers().get(question.key))
    if feedback.status == "correct":
        st.success(feedback.message, icon=":material/check_circle:")
    elif feedback.status in ("not_yet", "unreadable"):
        st.warning(feedback.message, icon=":material/lightbulb:")
    elif feedback.status == "short":
        st.caption(feedback.message)
    elif question.kind != "text" and not question.checkable and not pending:  # pending: being computed
        st.caption("Not checked: the number it needs could not be computed for this dataset or model.")
    show = feedback.correct if question.checkable else feedback.status == "open"
    if show and question.model_answer and not model_answers_hidden():
        st.info("**Model answer.** " + question.model_answer, icon=":material/menu_book:")
    return feedback


# ---------------------------------------------------------------------------
# The side panel on the pages exercises link to
# ---------------------------------------------------------------------------

def exercise_panel(page: str) -> None:
    """In the sidebar of ``page`` (a file under ``pages/``, e.g. 'dataset.py'):
    the questions of every exercise that links here, with answer boxes, the exercise
    the reader came from opened first; and the scroll to the section its link named.

    Never stops the page: a fact that cannot be computed leaves its question open.
    """
    shown = ex.exercises_for_page(ex.build_exercises({}), page)
    if not shown:
        return
    load_from_browser()
    # The model's numbers are waited for only once this session answered one of these questions: a page
    # opened right after a start (a lecture hall arriving) draws at once while a thread computes them.
    answered = answers()
    facts = gather_facts(quiet=True, wait=any(answered.get(question.key) for exercise in shown
                                              for question in exercise.questions))
    exercises = {exercise.key: exercise for exercise in ex.exercises_for_page(ex.build_exercises(facts), page)}
    wanted = url_state.param(lab_questions.EXERCISE_PARAM)
    order = sorted(exercises, key=lambda key: (key != wanted, key))
    with st.sidebar:
        st.divider()
        st.subheader(":material/school: Exercises on this page")
        st.caption("Answers typed here are the same as on the Exercises page, and stay in this browser.")
        # A fixed slot: the note goes on a later run, and the expanders below must keep their places
        # (an element tree that shifts redraws them, closing the one a student opened).
        note = st.empty()
        if facts.get("pending"):
            note.caption(":material/hourglass_top: The numbers answers are checked against are still being "
                         "computed for the sidebar's model (just after the dashboard started); your first Check "
                         "waits for them.")
        for key in order:
            exercise = exercises[key]
            with st.expander(f"Exercise {key}: {exercise.title}", expanded=key == wanted or len(order) == 1):
                for question in exercise.questions:
                    link = exercise.link_for(question)
                    if link is not None and link.page != page:
                        st.caption(f"Answered on another page: {md_text(link.label)}")
                    answer_box(question, prefix=PANEL_PREFIX, pending=bool(facts.get("pending")))
                page_link("exercises.py", "All questions of this exercise", {lab_questions.EXERCISE_PARAM: key})
        save_to_browser()
    section = url_state.param(lab_questions.SECTION_PARAM)
    anchors = {link.anchor for exercise in exercises.values() for link in exercise.links if link.page == page}
    if section in anchors:
        with st.sidebar:
            browser.scroll_to_section(section, key="exercise_scroll_to_section")


def page_links(exercise: lab_questions.Exercise, *, background: bool = False
               ) -> list[tuple[lab_questions.Link, dict[str, str]]]:
    """The exercise's links (``background``: its background links) with the query parameters that land
    on their sections."""
    return [(link, link.query(exercise.key)) for link in (exercise.background if background else exercise.links)]
