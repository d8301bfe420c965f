"""The classroom's questions and answers in an embedded database (SQLite in the runs folder).

The instructor opens a question (a ``seglib.lab.polls.Poll``), students answer it from their own
devices, the instructor closes it, reveals the answer and clears the board for the next one. Every
page session of the dashboard, on any server thread, reads and writes through a ``Classroom``:

* one connection per operation (a connection is never shared between threads), a busy timeout,
  and short ``BEGIN IMMEDIATE`` transactions, so many students answering at once queue for the
  write lock for milliseconds instead of failing;
* WAL journal mode, so readers (the polling pages) never wait for a writer; ``synchronous=NORMAL``
  (SQLite's advice for WAL): a commit is in the database file's log before the answer is
  acknowledged, so it survives a restart or a crash of the dashboard; only a power cut of the whole
  machine in the seconds before the operating system writes it out could lose it. (FULL would
  wait for the disk on every answer: 20 ms each here, and seconds while a training checkpoint is
  being written.)
* one answer per question and seat (a browser session): answering again replaces the answer;
* the question's answer never leaves this module before the reveal unless asked for by name:
  ``student_board`` gives the question without it (``Poll.public``).

``export_csv`` writes every question asked and every answer (seats numbered, names only where the
question asked for them).

>>> import tempfile, pathlib
>>> from seglib.lab.polls import live_poll
>>> room = Classroom(pathlib.Path(tempfile.mkdtemp()) / "room.sqlite3")
>>> asked = room.open_question(live_poll("number", "How many classes?", answer=20))
>>> room.submit(asked.id, "seat-a", "20").replaced, room.submit(asked.id, "seat-a", "19").replaced
(False, True)
>>> room.student_board().question.poll.answer is None, [a.text for a in room.answers(asked.id)]
(True, ['19'])
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from seglib import settings
from seglib.errors import SeglibError
from seglib.lab.polls import MAX_ANSWER_CHARS, Poll, is_right, reading

#: The database file in the runs folder (``settings.runs_dir()``).
DATABASE_NAME = "classroom.sqlite3"
#: A question's life: open (answers accepted) -> closed -> revealed -> cleared (off the screens).
STATUSES = ("open", "closed", "revealed", "cleared")
#: Seconds a writer waits for another writer's lock before giving up (transactions take milliseconds).
BUSY_TIMEOUT_SECONDS = 10.0
MAX_SEAT_CHARS = 64
MAX_NAME_CHARS = 80
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    poll TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'revealed', 'cleared')),
    opened_at REAL NOT NULL,
    closed_at REAL,
    revealed_at REAL,
    cleared_at REAL
);
CREATE TABLE IF NOT EXISTS answers (
    question_id INTEGER NOT NULL REFERENCES questions(id),
    seat TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL,
    received_at REAL NOT NULL,
    answered_at REAL NOT NULL,
    changes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (question_id, seat)
);
CREATE TABLE IF NOT EXISTS board (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    current INTEGER REFERENCES questions(id),
    revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO board (id, current, revision) VALUES (1, NULL, 0);
"""


class ClassroomError(SeglibError):
    """A classroom action that is not possible now (the question closed, another question is open,
    an unreadable answer) or a database that cannot be used; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Asked:
    """A question as asked: its number, the poll, where it is in its life and when it got there."""

    id: int
    poll: Poll
    status: str
    opened_at: float
    closed_at: float | None = None
    revealed_at: float | None = None

    @property
    def accepting(self) -> bool:
        return self.status == "open"

    @property
    def revealed(self) -> bool:
        return self.status == "revealed"


@dataclasses.dataclass(frozen=True)
class Board:
    """What the screens show: the current question (None when the board is clear) and the
    ``revision``, a counter every open, close, reveal and clear moves on (what a page polls)."""

    revision: int
    question: Asked | None


@dataclasses.dataclass(frozen=True)
class Answer:
    """One seat's answer to one question. ``received_at``: when the server got the submit;
    ``answered_at``: when it was stored (the acknowledgement); ``changes``: how often it was replaced."""

    question_id: int
    seat: str
    text: str
    name: str
    received_at: float
    answered_at: float
    changes: int


@dataclasses.dataclass(frozen=True)
class Ack:
    """A stored answer: ``label`` is how it was read ('16 px'), ``replaced`` whether it replaced the
    seat's earlier answer, ``seconds`` from the server receiving it to its commit."""

    question_id: int
    text: str
    label: str
    answered_at: float
    replaced: bool
    seconds: float


def public_board(board: Board) -> Board:
    """``board`` as students may see it: the question without its answer until it is revealed."""
    question = board.question
    if question is not None and not question.revealed:
        question = dataclasses.replace(question, poll=question.poll.public())
    return Board(board.revision, question)


def default_path() -> Path:
    return settings.runs_dir() / DATABASE_NAME


class Classroom:
    """The classroom database at ``path`` (default: ``classroom.sqlite3`` in the runs folder).

    Cheap to create: it holds no connection. Every method opens its own, so one object may be
    shared by every thread of the server.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = BUSY_TIMEOUT_SECONDS):
        self.path = Path(path) if path is not None else default_path()
        self.timeout = float(timeout)

    # -- connections -------------------------------------------------------------------------

    def _describe(self) -> str:
        return settings.display_path(self.path)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection (autocommit; transactions are explicit), closed afterwards."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise ClassroomError(f"The classroom's answers cannot be stored in {self._describe()}: {error}. "
                                 "Check that the runs folder (SEGLIB_RUNS_DIR) is writable.") from error
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            connection.execute("PRAGMA synchronous = NORMAL")
            if connection.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                with _CREATE_LOCK:  # threads of one server create the file one at a time
                    self._create(connection)
            _keep_open(self.path)
            yield connection
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise ClassroomError("The classroom's database stayed busy for "
                                     f"{self.timeout:g} s; please send the answer again.") from error
            raise ClassroomError(f"The classroom's database {self._describe()} cannot be used ({error}). "
                                 "Move the file aside (it keeps the earlier answers) and reload: a new one "
                                 "is started.") from error
        finally:
            connection.close()

    def _create(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return  # another thread created it while this one waited for the lock
        if version > SCHEMA_VERSION:
            raise ClassroomError(f"{self._describe()} was written by a newer version of this dashboard "
                                 f"(schema {version}, this one reads {SCHEMA_VERSION}).")
        # WAL is a property of the file: set once, every later connection uses it.
        mode = self._switch_to_wal(connection)
        if str(mode).lower() != "wal":
            raise ClassroomError(f"SQLite could not switch {self._describe()} to WAL mode (it reports "
                                 f"{mode!r}); put the runs folder on a local disk.")
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _switch_to_wal(self, connection: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode = WAL``, tried again until the busy timeout: the switch needs the file
        to itself, and SQLite answers "database is locked" at once, without waiting in its busy
        handler, while another connection (another process's first visit) has it open."""
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                return str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction: the write lock is taken at the start (``BEGIN IMMEDIATE``), so
        two writers never deadlock upgrading a read; committed on leaving, rolled back on an error."""
        with self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # -- reading ------------------------------------------------------------------------------

    def journal_mode(self) -> str:
        with self._connection() as connection:
            return str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def revision(self) -> int:
        """The board's revision: one read of one row (what the pages poll)."""
        with self._connection() as connection:
            return int(connection.execute("SELECT revision FROM board WHERE id = 1").fetchone()[0])

    def board(self) -> Board:
        """The current question with its answer (the instructor's view)."""
        with self._connection() as connection:
            return _board(connection)

    def student_board(self) -> Board:
        """The current question as students may see it: without its answer until it is revealed."""
        return public_board(self.board())

    def questions(self) -> list[Asked]:
        """Every question asked, oldest first."""
        with self._connection() as connection:
            rows = connection.execute(f"SELECT {_QUESTION_COLUMNS} FROM questions ORDER BY id").fetchall()
        return [_asked(row) for row in rows]

    def answers(self, question_id: int) -> list[Answer]:
        """The answers to a question, in the order they were first given."""
        with self._connection() as connection:
            rows = connection.execute(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE question_id = ? "
                                      "ORDER BY rowid", (int(question_id),)).fetchall()
        return [Answer(*row) for row in rows]

    def answer_of(self, question_id: int, seat: str) -> Answer | None:
        with self._connection() as connection:
            row = connection.execute(f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE question_id = ? AND seat = ?",
                                     (int(question_id), str(seat))).fetchone()
        return Answer(*row) if row else None

    def answer_count(self, question_id: int) -> int:
        with self._connection() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM answers WHERE question_id = ?",
                                          (int(question_id),)).fetchone()[0])

    # -- the instructor's actions --------------------------------------------------------------

    def open_question(self, poll: Poll) -> Asked:
        """Put ``poll`` on the board. The board must be clear (the last question cleared)."""
        now = time.time()
        with self._transaction() as connection:
            current = _board(connection).question
            if current is not None:
                raise ClassroomError(f"Question {current.id} is still on the board ({current.status}); "
                                     "clear it before asking the next one.")
            question_id = connection.execute(
                "INSERT INTO questions (poll, status, opened_at) VALUES (?, 'open', ?)",
                (poll.to_json(), now)).lastrowid
            connection.execute("UPDATE board SET current = ?, revision = revision + 1 WHERE id = 1", (question_id,))
        return Asked(int(question_id), poll, "open", now)

    def close_question(self, question_id: int) -> Asked:
        """Stop accepting answers (open -> closed)."""
        return self._move(question_id, "closed", ("open",), "closed_at")

    def reveal(self, question_id: int) -> Asked:
        """Show the answer to everyone; closes the question if it was still open."""
        return self._move(question_id, "revealed", ("open", "closed"), "revealed_at")

    def clear(self, question_id: int) -> Asked:
        """Take the question off every screen; its answers stay for the export."""
        return self._move(question_id, "cleared", ("open", "closed", "revealed"), "cleared_at")

    def _move(self, question_id: int, status: str, allowed: tuple[str, ...], stamp: str) -> Asked:
        now = time.time()
        with self._transaction() as connection:
            current = _board(connection).question
            if current is None or current.id != int(question_id):
                raise ClassroomError(f"Question {question_id} is no longer on the board (another instructor "
                                     "window changed it); the page shows the board as it is now.")
            if current.status not in allowed:
                raise ClassroomError(f"Question {question_id} is {current.status}; it cannot be {status} now.")
            closed = ", closed_at = COALESCE(closed_at, :now)" if status in ("closed", "revealed") else ""
            connection.execute(f"UPDATE questions SET status = :status, {stamp} = :now{closed} WHERE id = :id",
                               {"status": status, "now": now, "id": current.id})
            board = "current = NULL, " if status == "cleared" else ""
            connection.execute(f"UPDATE board SET {board}revision = revision + 1 WHERE id = 1")
            row = connection.execute(f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = ?",
                                     (current.id,)).fetchone()
        return _asked(row)

    # -- the students' answers -----------------------------------------------------------------

    def submit(self, question_id: int, seat: str, text: str, *, name: str = "",
               received_at: float | None = None) -> Ack:
        """Store ``seat``'s answer to the open question ``question_id`` (replacing its earlier one).

        ``received_at`` is when the server got the submit (default: now); the Ack says how long storing
        took from then. Raises ``ClassroomError`` when the question is no longer open or the answer
        cannot be read (the message says what to send instead)."""
        received_at = time.time() if received_at is None else float(received_at)
        seat = str(seat or "")
        if not seat or len(seat) > MAX_SEAT_CHARS:
            raise ClassroomError(f"This browser session has no valid seat ({len(seat)} characters); reload the page.")
        text = (text or "").strip()
        with self._transaction() as connection:
            current = _board(connection).question
            if current is None or current.id != int(question_id) or not current.accepting:
                raise ClassroomError("This question is closed: your answer arrived after the instructor "
                                     "stopped taking answers, and was not counted.")
            read = reading(current.poll, text)
            if read.value is None:
                raise ClassroomError(read.message)
            name = (name or "").strip()[:MAX_NAME_CHARS] if not current.poll.anonymous else ""
            now = time.time()
            replaced = connection.execute("SELECT 1 FROM answers WHERE question_id = ? AND seat = ?",
                                          (current.id, seat)).fetchone() is not None
            connection.execute(
                "INSERT INTO answers (question_id, seat, name, answer, received_at, answered_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (question_id, seat) DO UPDATE SET "
                "answer = excluded.answer, name = excluded.name, received_at = excluded.received_at, "
                "answered_at = excluded.answered_at, changes = changes + 1",
                (current.id, seat, name, text[:MAX_ANSWER_CHARS], received_at, now))
        done = time.time()
        return Ack(current.id, text, read.label, now, replaced, done - received_at)

    # -- the export ----------------------------------------------------------------------------

    def export_csv(self) -> str:
        """Every question and answer as CSV (one row per answer; a question nobody answered gets one row
        with an empty answer). Seats are numbered in the order they first answered: anonymous, yet a
        seat's answers can be followed across questions."""
        seats: dict[str, int] = {}
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["question", "asked at", "from", "kind", "question text", "expected answer", "status",
                         "revealed at", "seat", "name", "answer", "read as", "right", "answered at", "changes"])
        for asked in self.questions():
            poll = asked.poll
            head = [asked.id, _when(asked.opened_at), poll.origin, poll.kind, poll.text, poll.answer_text(),
                    asked.status, _when(asked.revealed_at)]
            rows = self.answers(asked.id)
            if not rows:
                writer.writerow([_cell(value) for value in head + ["", "", "", "", "", "", ""]])
            for answer in rows:
                seat = seats.setdefault(answer.seat, len(seats) + 1)
                right = is_right(poll, answer.text)
                writer.writerow([_cell(value) for value in head + [
                    seat, answer.name, answer.text, reading(poll, answer.text).label,
                    "" if right is None else ("yes" if right else "no"), _when(answer.answered_at),
                    answer.changes]])
        return buffer.getvalue()


#: One idle connection per database file for the life of the process. SQLite checkpoints the WAL into
#: the database and deletes it when the last connection to the file closes (fsyncs: ~20 ms here, more
#: under load); with a connection per operation that would be every operation. While this one stays
#: open, closing never checkpoints: SQLite checkpoints on its own once the WAL has 1000 pages.
_KEEPERS: dict[str, sqlite3.Connection] = {}
_KEEPERS_LOCK = threading.Lock()
#: Held while a connection creates the schema, so the threads of one server do it one at a time (the
#: next one finds the version set and returns); other processes are covered by ``_switch_to_wal``.
_CREATE_LOCK = threading.Lock()


def _keep_open(path: Path) -> None:
    key = str(path.resolve())
    if key in _KEEPERS:
        return
    with _KEEPERS_LOCK:
        if key not in _KEEPERS:
            keeper = sqlite3.connect(path, check_same_thread=False)
            keeper.execute("SELECT revision FROM board").fetchone()  # maps the WAL index, as readers do
            _KEEPERS[key] = keeper


_QUESTION_COLUMNS = "id, poll, status, opened_at, closed_at, revealed_at"
_ANSWER_COLUMNS = "question_id, seat, answer, name, received_at, answered_at, changes"


def _asked(row) -> Asked:
    return Asked(int(row[0]), Poll.from_json(row[1]), row[2], row[3], row[4], row[5])


def _board(connection: sqlite3.Connection) -> Board:
    revision, current = connection.execute("SELECT revision, current FROM board WHERE id = 1").fetchone()
    question = None
    if current is not None:
        row = connection.execute(f"SELECT {_QUESTION_COLUMNS} FROM questions WHERE id = ?", (current,)).fetchone()
        question = _asked(row)
    return Board(int(revision), question)


def _when(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _cell(value):
    """A CSV cell that a spreadsheet shows as text: a student's answer starting with = + - @ would
    otherwise run as a formula (numbers such as -3 stay numbers)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value

