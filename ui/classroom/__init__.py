"""The Classroom page's parts: ``seat`` (this browser tab's anonymous seat), ``board`` (the question
on the board, the students' answer form, the room's answers and the polling that keeps them current)
and ``ask`` (the instructor's choice of question and the open, close, reveal and clear buttons).

The questions and answers live in ``seglib.lab.classroom`` (SQLite in the runs folder); these
modules only read and write through it, so every server thread and a restarted dashboard see the
same board.
"""
