"""The instructor passcode cannot be guessed at speed: wrong tries in a row make the next one wait,
per browser session and per server, never for long, and the server log records them.

``PasscodeGate`` is a plain class with an injectable clock (a counter the test moves); the AppTest
types into the real sidebar of the dashboard, with the same kind of clock for its wait."""

from __future__ import annotations

import pytest

from apptest_support import open_app
from ui import instructor
from ui.instructor import Attempts, GuessLimit, PasscodeGate

PASSCODE = "lecture-hall"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def gate():
    clock = Clock()
    return PasscodeGate(clock=clock), clock


def test_three_wrong_tries_are_free_then_each_next_waits_twice_as_long_up_to_a_minute(gate):
    gate, clock = gate
    session = Attempts()
    answers = []
    for _ in range(10):
        answers.append(gate.check("guess", PASSCODE, session)[1])
        clock.now += 120  # every wait is over: only the growth of the waits is measured here
    assert answers[:3] == ["Wrong passcode."] * 3
    assert answers[3:] == [f"Wrong passcode. Too many wrong tries: the next one is checked in {s} seconds."
                           for s in (2, 4, 8, 16, 32, 60, 60)]


def test_a_try_during_the_wait_is_refused_unchecked_even_the_right_one(gate):
    gate, clock = gate
    session = Attempts()
    for _ in range(4):
        gate.check("guess", PASSCODE, session)
    assert gate.check(PASSCODE, PASSCODE, session) == (
        False, "Too many wrong passcodes: wait 2 seconds, then try again (this try was not checked).")
    assert session.failures == 4  # a refused try does not count
    clock.now += 2.0
    assert gate.check(PASSCODE, PASSCODE, session) == (True, "")
    assert session.failures == 0


def test_the_server_limit_holds_across_sessions_and_forgets_after_quiet_minutes(gate, caplog):
    gate, clock = gate
    with caplog.at_level("WARNING", logger="ui.instructor"):
        for _ in range(10):
            assert gate.check("guess", PASSCODE, Attempts(), tag="fresh")[1] == "Wrong passcode."  # new sessions
        assert gate.check("guess", PASSCODE, Attempts())[1].endswith("the next one is checked in 2 seconds.")
        unlocked, message = gate.check(PASSCODE, PASSCODE, Attempts(), tag="teacher")
    assert not unlocked and message.startswith("Too many wrong passcodes on this dashboard: wait 2 seconds")
    wrong = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Wrong instructor passcode")]
    assert len(wrong) == 11 and "11 on the server" in wrong[-1]
    assert "session teacher" in caplog.records[-1].getMessage() and "refused" in caplog.records[-1].getMessage()
    clock.now += GuessLimit(free=10).forget_after + 1
    assert gate.check("guess", PASSCODE, Attempts())[1] == "Wrong passcode."  # forgotten: free again
    assert gate.server.failures == 1


def test_six_wrong_passcodes_in_the_sidebar_are_limited_and_the_right_one_works_after_the_wait(tiny_dataset,
                                                                                              monkeypatch):
    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", PASSCODE)
    clock = Clock()
    monkeypatch.setattr(instructor, "GATE", PasscodeGate(clock=clock))  # this test's server-wide count and clock
    at = open_app()

    def enter(text: str) -> list[str]:
        at.text_input(key=instructor.ENTRY_KEY).set_value(text).run()
        assert at.text_input(key=instructor.ENTRY_KEY).value == ""  # emptied after each try
        return [e.value for e in at.sidebar.error]

    answers = [enter(guess) for guess in ("lecture", "hall", "Lecture-Hall", "lecture-hal", "lecturehall",
                                          "LECTURE-HALL")]
    assert answers[:3] == [["Wrong passcode."]] * 3
    assert answers[3] == ["Wrong passcode. Too many wrong tries: the next one is checked in 2 seconds."]
    refused = ["Too many wrong passcodes: wait 2 seconds, then try again (this try was not checked)."]
    assert answers[4] == answers[5] == refused
    assert enter(PASSCODE) == refused  # the right one too, during the wait
    assert not any(button.key == "instructor_lock" for button in at.sidebar.button)
    clock.now += 2.0  # the wait is over
    at.text_input(key=instructor.ENTRY_KEY).set_value(PASSCODE).run()
    assert at.session_state[instructor.UNLOCKED_KEY] is True
    assert any("Instructor controls unlocked" in c.value for c in at.sidebar.caption)
    assert any(button.key == "instructor_lock" for button in at.sidebar.button)
