"""The Classroom page under Streamlit's AppTest: an instructor session and student sessions on one
database (a private runs folder), with a passcode configured so students are not instructors.

AppTest does not fire ``run_every``: a student's screen is brought up to date with ``run()``, as
its polling fragment would. The answer the instructor typed (or the one computed for an exercise
question) must appear on a student's screen only after the reveal.
"""

from __future__ import annotations

import pytest

from apptest_support import bug_free, open_app, text
from seglib.lab.classroom import Classroom
from seglib.lab.polls import live_poll
from ui.classroom import board as classroom_board

pytestmark = pytest.mark.slow  # every test runs the page

PAGE = "pages/classroom.py"
#: An expected answer no clock, id or count on the page can show by accident.
SECRET = "4321"


@pytest.fixture()
def room(tmp_path, monkeypatch) -> Classroom:
    monkeypatch.setenv("SEGLIB_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", "lecture-hall")
    return Classroom()


def _instructor(**session):
    return open_app(PAGE, session={"instructor_unlocked": True, **session})


def _student():
    return open_app(PAGE)


def _answer(at, question_id: int, value: str) -> None:
    at.text_input(key=f"classroom_input_{question_id}").input(value)
    at.button(key=f"classroom_send_{question_id}").click().run()
    bug_free(at)


def test_a_typed_question_from_open_to_clear(room):
    teacher = _instructor()
    assert teacher.session_state["classroom_source"] == "live"  # a typed question unless the instructor picks an exercise
    first, second = _student(), _student()
    assert "No question on the board" in text(first)
    assert not [b for b in first.button if b.key and b.key.startswith("classroom_")]  # no controls for students
    assert not first.get("download_button")

    teacher.text_area(key="classroom_text").input("How many pixels wide is the field?").run()
    teacher.text_input(key="classroom_expected").input(SECRET).run()
    teacher.text_input(key="classroom_unit").input("px").run()
    teacher.button(key="classroom_open").click().run()
    bug_free(teacher)
    asked = room.board().question
    assert asked.poll.answer == float(SECRET) and asked.status == "open"

    for student in (first, second):
        student.run()
        assert "How many pixels wide is the field" in text(student)
    _answer(first, asked.id, "1000")
    _answer(second, asked.id, "900")
    _answer(second, asked.id, SECRET + " px")  # changes its mind: replaces, never counts twice
    assert any("Received: 1000" in s.value.replace("\\", "") for s in first.success)
    assert any(f"Changed to: {SECRET} (at" in s.value.replace("\\", "") for s in second.success)
    assert SECRET not in text(first)

    teacher.run()
    bug_free(teacher)
    assert "2 answers." in text(teacher) and SECRET not in text(teacher)
    [chart] = teacher.get("plotly_chart")
    assert chart.proto.spec.count('"answers"') >= 1

    teacher.button(key="classroom_close").click().run()
    first.run()
    assert "Answers are closed" in text(first) and SECRET not in text(first)
    assert not first.get("form")

    teacher.button(key="classroom_reveal").click().run()
    bug_free(teacher)
    for student in (first, second):
        student.run()
        bug_free(student)
    assert f"Answer: {SECRET} px" in text(first).replace("\\", "")
    assert "Your answer 1000 is not the expected one." in text(first)
    assert "Your answer 4321 is right." in text(second)
    assert "2 answers; 1 right (50%)." in text(second)
    assert [(a.text, a.changes) for a in room.answers(asked.id)] == [("1000", 0), (SECRET + " px", 1)]

    teacher.button(key="classroom_clear").click().run()
    first.run()
    assert "No question on the board" in text(first)
    assert room.board().question is None


def test_a_student_cannot_answer_a_closed_question_from_a_stale_screen(room):
    teacher = _instructor()
    teacher.text_area(key="classroom_text").input("Which optimizer?").run()
    teacher.radio(key="classroom_kind").set_value("choice").run()
    teacher.text_area(key="classroom_options").input("Adam\nAdamW\nSGD").run()
    teacher.button(key="classroom_open").click().run()
    asked = room.board().question
    assert asked.poll.options == ("Adam", "AdamW", "SGD") and asked.poll.answer is None
    late = _student()
    late.radio(key=f"classroom_input_{asked.id}").set_value("AdamW")
    room.close_question(asked.id)  # closed while the student was choosing
    late.button(key=f"classroom_send_{asked.id}").click().run()
    bug_free(late)
    assert any("was not counted" in e.value for e in late.error)
    assert room.answers(asked.id) == []


def test_polling_stops_when_nothing_can_change_and_resumes_on_request(room):
    asked = room.open_question(live_poll("number", "How many?"))
    assert classroom_board.poll_seconds(asked, board_view=True, idle_seconds=0) == classroom_board.BOARD_POLL_SECONDS
    assert classroom_board.poll_seconds(asked, board_view=False, idle_seconds=0) == \
        classroom_board.STUDENT_POLL_SECONDS
    closed = room.close_question(asked.id)
    assert classroom_board.poll_seconds(closed, board_view=True, idle_seconds=0) == \
        classroom_board.STUDENT_POLL_SECONDS
    assert classroom_board.poll_seconds(closed, board_view=False,
                                        idle_seconds=classroom_board.IDLE_STOP_SECONDS) is None
    paused = open_app(PAGE, session={classroom_board.PAUSED_KEY: True})
    assert "stopped checking for new questions after 30 minutes" in text(paused)
    paused.button(key="classroom_resume").click().run()
    assert classroom_board.PAUSED_KEY not in paused.session_state
    assert "stopped checking" not in text(paused)


def test_names_are_asked_only_when_the_instructor_wants_them(room):
    teacher = _instructor(classroom_ask_names=True)
    teacher.radio(key="classroom_kind").set_value("class").run()
    teacher.text_area(key="classroom_text").input("Which class is rarest?").run()
    teacher.button(key="classroom_open").click().run()
    asked = room.board().question
    assert not asked.poll.anonymous
    student = _student()
    assert "This question asks for names" in text(student)
    student.text_input(key="classroom_name").input("Ada")
    student.selectbox(key=f"classroom_input_{asked.id}").set_value(4)
    student.button(key=f"classroom_send_{asked.id}").click().run()
    bug_free(student)
    [answer] = room.answers(asked.id)
    assert (answer.text, answer.name) == ("4 Sunglasses", "Ada")
    teacher.run()
    bug_free(teacher)
    assert [b.proto.label for b in teacher.get("download_button")] == ["Download every answer (CSV)"]
    assert ",Ada,4 Sunglasses,4 Sunglasses," in room.export_csv()


def test_an_exercise_question_is_asked_with_the_answer_computed_for_the_sidebar_model(room, tiny_dataset):
    from seglib.presets import get_preset

    channels = get_preset("lecture").model.num_classes
    teacher = open_app(PAGE, query={"model": "untrained:lecture"},
                       session={"instructor_unlocked": True, "classroom_source": "exercise"})
    teacher.selectbox(key="classroom_question").set_value("output_channels").run()
    bug_free(teacher)
    assert "Checked against the sidebar model (lecture" in text(teacher)
    teacher.button(key="classroom_open").click().run()
    asked = room.board().question
    assert asked.poll.origin == "13-3 output_channels" and asked.poll.answer == channels
    student = _student()
    assert "How many channels does the last layer output?" in text(student)
    assert "One channel per class" not in text(student)  # the explanation waits for the reveal too
    _answer(student, asked.id, str(channels))
    room.reveal(asked.id)
    student.run()
    assert f"Your answer {channels} is right." in text(student) and "One channel per class" in text(student)


def test_without_a_passcode_everyone_answers_and_runs_the_board_but_not_on_the_projector(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("SEGLIB_INSTRUCTOR_PASSCODE", raising=False)
    room = Classroom()
    asked = room.open_question(live_poll("number", "How many pixels?", answer=float(SECRET)))
    laptop = open_app(PAGE)
    assert [h.value for h in laptop.subheader] == ["The question", "The room's answers"]
    assert "No instructor passcode is set on this server" in text(laptop)
    _answer(laptop, asked.id, "12")
    projector = open_app(PAGE, query={"present": "1"})
    assert [h.value for h in projector.subheader] == ["The room's answers"]
    assert "1 answer." in text(projector) and SECRET not in text(projector)


def test_an_open_question_lists_the_answers_and_reveals_the_model_answer(room):
    from seglib.lab import exercises as ex
    from seglib.lab.polls import poll_from_question

    question = next(q for q in ex.all_questions(ex.build_exercises({})) if q.key == "argmax")
    asked = room.open_question(poll_from_question(question))
    students = [_student(), _student()]
    for student, words in zip(students, ["The largest logit wins.", "the  largest logit wins."]):
        assert question.model_answer not in text(student)
        student.text_area(key=f"classroom_input_{asked.id}").input(words)
        student.button(key=f"classroom_send_{asked.id}").click().run()
        bug_free(student)
    teacher = _instructor()
    [table] = teacher.dataframe
    assert table.value.to_dict("records") == [{"answer": "The largest logit wins.", "count": 1},
                                              {"answer": "the largest logit wins.", "count": 1}]
    room.reveal(asked.id)
    students[0].run()
    assert question.model_answer in text(students[0])
    assert "This question has no single right answer" not in text(students[0])
