"""Classroom: the instructor asks the room a question, students answer on their own devices, the
board shows the distribution of the answers live, then the computed answer.

The questions and answers live in ``seglib.lab.classroom`` (SQLite in the runs folder, so they
survive a restart of the dashboard); the page's parts in ``ui.classroom``: the board and the answer
form (``board``), the instructor's controls (``ask``) and this tab's anonymous seat (``seat``).
"""

from __future__ import annotations

from ui import instructor
from ui.classroom import ask, board, seat
from ui.drawing import error_boundary
from ui.page import page_header

page_header(
    "classroom.py",
    "Peer instruction: the instructor puts one question to the whole room, one of the lab's exercises or one "
    "typed on the spot. Everybody answers here, on their own phone or laptop, **anonymously** unless the "
    "question asks for names; the instructor's screen shows how the room answered while the answers come in, "
    "and reveals the answer, computed from the dataset and model in use, once the room has discussed it.",
)

seat.keep_in_browser()
with error_boundary("Reading the classroom's questions"):
    shown = board.read_board()  # the instructor's whole board; a student's has no answer before the reveal
    if board.shows_answer_form():
        board.answer_section(board.for_students(shown))
    if instructor.is_instructor():
        board.board_section(shown)
        ask.controls(shown)
    board.keep_watching(shown, board_view=instructor.is_instructor())
