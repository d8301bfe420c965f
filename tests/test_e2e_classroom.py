"""Headless Chromium on a real dashboard with an instructor passcode: the instructor unlocks the
Classroom page and opens a question; two students on phone-sized screens, who opened the page
before the question existed, see it arrive (their page polls) and answer; one reloads the tab
(its seat comes back) and changes its answer; the instructor sees the counts, closes, reveals and
clears, and every step reaches the students' screens without a reload. A student's screen shows no
right answer before the reveal.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from browser_support import no_problems, screenshot_dir, settle
from dashboard_support import running_dashboard

pytestmark = pytest.mark.e2e

PASSCODE = "lecture-hall"
QUESTION = "Which optimizer does the course use?"
OPTIONS = ["Adam", "AdamW", "SGD"]
#: A student's page polls every few seconds: time for a change on the board to reach it.
REACH_MS = 30_000


@pytest.fixture(scope="module")
def classroom_url(tiny_dataset, tmp_path_factory):
    """A dashboard of its own: a passcode (so students are not instructors) and its own runs folder."""
    folder = tmp_path_factory.mktemp("classroom-server")
    env = {"SEGLIB_INSTRUCTOR_PASSCODE": PASSCODE, "SEGLIB_RUNS_DIR": str(folder / "runs")}
    with running_dashboard(folder / "streamlit.log", env) as (url, _):
        yield url


def _open(browser, url: str, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.js_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    page.goto(url, wait_until="domcontentloaded")
    settle(page)
    return context, page


def _main(page):
    return page.locator('[data-testid="stMainBlockContainer"]')


def _wait_text(page, text: str, timeout: float = REACH_MS) -> None:
    _main(page).get_by_text(text, exact=False).first.wait_for(timeout=timeout)


def _answer(page, option: str) -> None:
    # Streamlit draws its own radio over the input: click the option's label, as a person does.
    _main(page).get_by_text(option, exact=True).click()
    page.get_by_role("button", name=re.compile("Send answer|Change my answer")).click()
    settle(page)


def _wait_chart(page) -> None:
    page.wait_for_function("() => !!document.querySelector('[data-testid=\"stPlotlyChart\"] .js-plotly-plot')",
                           timeout=REACH_MS)


def _bars(page) -> dict[str, int]:
    """The instructor's chart as drawn by Plotly in the page: answers per option."""
    traces = page.evaluate("""() => {
        const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        return plot ? plot.data.map(t => ({y: Array.from(t.y), x: Array.from(t.x)})) : [];
    }""")
    counts: dict[str, int] = {}
    for trace in traces:
        for label, value in zip(trace["y"], trace["x"]):
            counts[label] = counts.get(label, 0) + int(value)
    return counts


def test_the_room_answers_a_question_together(classroom_url, browser, session_tmp):
    shots = screenshot_dir(session_tmp)
    contexts = []
    try:
        first_context, first = _open(browser, f"{classroom_url}/classroom", 420, 1400)
        second_context, second = _open(browser, f"{classroom_url}/classroom", 420, 1400)
        contexts += [first_context, second_context]
        for student in (first, second):
            _wait_text(student, "No question on the board")
            assert not student.get_by_role("button", name="Open the question").count()

        teacher_context, teacher = _open(browser, f"{classroom_url}/classroom", 1400, 4000)
        contexts.append(teacher_context)
        teacher.get_by_text("Instructor", exact=False).first.click()
        teacher.get_by_label("Passcode", exact=True).fill(PASSCODE)
        teacher.get_by_label("Passcode", exact=True).press("Enter")
        settle(teacher, visible=teacher.get_by_role("button", name="Open the question"))
        _main(teacher).get_by_text("A choice among options", exact=True).click()
        settle(teacher)
        teacher.get_by_label("Question", exact=True).fill(QUESTION)
        teacher.get_by_label("Options, one per line").fill("\n".join(OPTIONS))
        teacher.get_by_label("Options, one per line").press("Control+Enter")
        settle(teacher)
        teacher.get_by_label("Right option (optional)").click()
        teacher.get_by_role("option", name="AdamW", exact=True).click()
        settle(teacher)
        teacher.get_by_role("button", name="Open the question").click()
        settle(teacher, visible=teacher.get_by_role("button", name="Reveal the answer"))

        # The question reaches the students' open pages without a reload.
        for student in (first, second):
            _wait_text(student, QUESTION)
        _answer(first, "AdamW")
        _wait_text(first, "Received: AdamW")
        _answer(second, "Adam")
        _wait_text(second, "Received: Adam")
        # A reload starts a new Streamlit session; the tab's seat comes back, so the new answer
        # replaces the old one instead of counting twice.
        second.reload()
        settle(second)
        _wait_text(second, "Your answer so far: Adam")
        _answer(second, "SGD")
        _wait_text(second, "Changed to: SGD")
        for student in (first, second):
            shown = _main(student).inner_text()
            assert "Answer:" not in shown and "is right" not in shown and "not the expected" not in shown
        second.screenshot(path=str(shots / "classroom-student.png"))

        _wait_text(teacher, "2 answers; AdamW and SGD tie (1 each).")
        _wait_chart(teacher)
        assert _bars(teacher) == {"Adam": 0, "AdamW": 1, "SGD": 1}
        assert "Answer:" not in _main(teacher).inner_text()
        teacher.screenshot(path=str(shots / "classroom-board.png"))

        teacher.get_by_role("button", name="Close answers").click()
        settle(teacher)
        for student in (first, second):
            _wait_text(student, "Answers are closed")
            assert not student.get_by_role("button", name=re.compile("Send answer|Change my answer")).count()

        teacher.get_by_role("button", name="Reveal the answer").click()
        settle(teacher)
        _wait_text(teacher, "2 answers; 1 right (50%); AdamW and SGD tie (1 each).")
        _wait_text(first, "Your answer AdamW is right.")
        _wait_text(second, "Your answer SGD is not the expected one.")
        assert "Answer: AdamW" in _main(second).inner_text()
        _wait_chart(second)
        assert _bars(second) == {"Adam": 0, "AdamW": 1, "SGD": 1}  # right and not right, stacked
        second.screenshot(path=str(shots / "classroom-student-revealed.png"))

        with teacher.expect_download(timeout=60_000) as download:
            teacher.get_by_role("button", name="Download every answer (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
        assert [(r["seat"], r["answer"], r["right"], r["changes"]) for r in rows] == [
            ("1", "AdamW", "yes", "0"), ("2", "SGD", "no", "1")]
        assert {r["question text"] for r in rows} == {QUESTION} and {r["name"] for r in rows} == {""}

        teacher.get_by_role("button", name="Clear for the next question").click()
        settle(teacher, visible=teacher.get_by_role("button", name="Open the question"))
        for student in (first, second):
            _wait_text(student, "No question on the board")
        for page in (teacher, first, second):
            no_problems(page)
    finally:
        for context in contexts:
            context.close()
