"""A lecture hall answers a question: 40 students submit on the Classroom page within 10 s while a
lecture run trains; no answer may be lost and each submit must be acknowledged within 2 s.

Starts the dashboard with an instructor passcode on a small synthetic dataset in a temporary folder
(``load_viewers.start_server``; no prewarm: nothing here needs TensorFlow in the server) and a
lecture-preset training run through the scheduler (``load_viewers.start_lecture_run``), so the CPU
is shared with training as in class. Then:

* the instructor's board is open in headless Chromium (unlocked with the passcode; with the CPU
  priority a desktop browser has), as on the projector; it polls while the question is open;
* ``--students`` real Streamlit sessions connect over the websocket (``/_stcore/stream``, the
  protocol the browser speaks: protobuf ``BackMsg`` / ``ForwardMsg``), open the Classroom page and
  keep polling it as a browser does (they answer the server's ``auto_rerun`` requests of the page's
  polling fragment). No browser per student: on a 2-core machine 40 Chromium pages would measure
  Chromium, not the dashboard; a student's phone is its own CPU;
* the question (a number) is opened in the classroom database; each student sees it through its
  polling and answers at a random moment within ``--window`` seconds of the opening (at once if that
  moment came before the question reached it), sending the form's widget values and the submit as
  the browser does; ``--changers`` of them change their answer once, 1-2 s later;
* every student answers a number of its own, so the stored answers must be exactly the last answers
  sent: the check that no answer was lost or mixed up. Then the question is closed.

Reported: answers stored / sent; per submit the time from sending it to the acknowledgement arriving
on the websocket (an upper bound of the server's time: the client is on the same machine) and, from
the database, the server's own time from the submit's callback to the commit; how long the question
took to reach the students' screens (their polling); the CPU seconds of server, worker, students and
browser; the training images/s during the burst; the 1-minute load average (other jobs on the machine
count: re-measure on a quiet machine). Exit code 1 when an answer is missing or any acknowledgement
took longer than ``--ack-limit`` (2 s).

    python benchmarks/bench_classroom.py                  # 40 students, answers within 10 s
    python benchmarks/bench_classroom.py --students 10 --no-run   # quick, without training

``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from from_tests import dashboard_support  # benchmarks/ is on the path (script or run_all)
from load_viewers import (CHROMIUM, cpu_seconds_by_group, start_lecture_run, start_server,  # benchmarks/ is on
                          stop_run)  # the path (script or run_all)
from machine import browser_as_desktop_user, describe, load_average, quantile

PASSCODE = "bench-classroom"
TARGETS = {"ack_s": 2.0}
#: What the page writes when it stored an answer (``ui.classroom.board._send``), Markdown-escaped.
_ACK = re.compile(r"^(Received|Changed to)\\?: ")


# ---------------------------------------------------------------------------
# One student: a Streamlit session driven over the websocket
# ---------------------------------------------------------------------------

class Student:
    """A browser session as the server sees it: it loads the Classroom page, answers the server's
    auto-rerun (polling) requests, and submits the answer form with its widget values."""

    def __init__(self, index: int, url: str):
        self.index = index
        self.stream = url.replace("http://", "ws://") + "/_stcore/stream"
        self.page_hash = ""
        self.timers: dict[str, asyncio.Task] = {}
        self.question: int | None = None        # the open question shown on the last full run
        self.widgets: dict[str, str] = {}       # "input" / "send" -> widget id of the current form
        self.seen_at: float | None = None       # when the open question first reached this student
        self.acks: list[dict] = []              # per submit: value, sent, acknowledged (monotonic)
        self.errors: list[str] = []
        self.runs = 0
        self._pending: dict | None = None
        self._elements: list = []
        self.loaded = asyncio.Event()
        self.acknowledged = asyncio.Event()
        self.connection = None

    async def send(self, *, fragment: str = "", widgets=(), auto: bool = False, page_name: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_hash
        state.page_name = page_name
        state.fragment_id = fragment
        state.is_auto_rerun = auto
        for widget_id, kind, value in widgets:
            widget = WidgetState(id=widget_id)
            setattr(widget, kind, value)
            state.widget_states.widgets.append(widget)
        await self.connection.send(message.SerializeToString())

    async def _poll(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.send(fragment=fragment, auto=True)

    def _clear_timers(self) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()

    def _finish_run(self, full: bool) -> None:
        """A page run (``full``) or a fragment's run ended: read the question and the form (a full run) and
        an acknowledgement (either: sending the form reruns only its fragment) from its elements."""
        elements = self._elements
        if full:
            markdown = [e.markdown.body for e in elements if e.WhichOneof("type") == "markdown"]
            question = next((int(m.group(1)) for body in markdown
                             for m in [re.match(r"\*\*Question (\d+)", body)] if m), None)
            inputs = [e.text_input.id for e in elements if e.WhichOneof("type") == "text_input"
                      and e.text_input.label == "Your answer"]
            sends = [e.button.id for e in elements if e.WhichOneof("type") == "button" and e.button.is_form_submitter]
            self.question = question if inputs and sends else None
            self.widgets = {"input": inputs[0], "send": sends[0]} if self.question else {}
            if self.question and self.seen_at is None:
                self.seen_at = time.monotonic()
            self.loaded.set()
        for element in elements:
            if element.WhichOneof("type") != "alert":
                continue
            body = element.alert.body
            if self._pending is not None and _ACK.match(body):
                self._pending["acknowledged"] = time.monotonic()
                self.acks.append(self._pending)
                self._pending = None
                self.acknowledged.set()
            elif element.alert.format == 1:  # ERROR
                self.errors.append(body[:200])

    async def listen(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for data in self.connection:
            message = ForwardMsg()
            message.ParseFromString(data)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                self._elements = []
                if not message.metadata.run.fragment_ids:
                    # A full run starts (a fragment's run names its fragment): the page sets up its polling again.
                    self._clear_timers()
            elif kind == "navigation":  # the page the run shows (new_session names the main script)
                self.page_hash = message.navigation.page_script_hash or self.page_hash
            elif kind == "auto_rerun":
                fragment = message.auto_rerun.fragment_id
                if fragment in self.timers:
                    self.timers.pop(fragment).cancel()
                self.timers[fragment] = asyncio.create_task(self._poll(fragment, message.auto_rerun.interval))
            elif kind == "stop_auto_rerun":
                for fragment in message.stop_auto_rerun.fragment_ids:
                    if fragment in self.timers:
                        self.timers.pop(fragment).cancel()
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                self._elements.append(message.delta.new_element)
            elif kind == "script_finished":
                if message.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                    self.runs += 1
                    self._finish_run(full=True)
                elif message.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                    self._finish_run(full=False)

    async def submit(self, value: str) -> None:
        """Send the form with ``value`` and wait for its acknowledgement (the page's success message)."""
        self.acknowledged.clear()
        self._pending = {"value": value, "sent": time.monotonic(), "acknowledged": None}
        await self.send(widgets=[(self.widgets["input"], "string_value", value),
                                 (self.widgets["send"], "trigger_value", True)])
        try:
            await asyncio.wait_for(self.acknowledged.wait(), timeout=60)
        except asyncio.TimeoutError:
            self.errors.append(f"no acknowledgement of {value} within 60 s")
            self.acks.append(self._pending)
            self._pending = None


async def _student(student: Student, opened: asyncio.Event, opened_at: list, answer_at: float,
                   change_at: float | None, stop: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    async with connect(student.stream, subprotocols=["streamlit"], max_size=None, open_timeout=60) as connection:
        student.connection = connection
        listener = asyncio.create_task(student.listen())
        await student.send(page_name="classroom")
        await opened.wait()
        while student.question is None and not stop.is_set():  # the page's polling brings the question
            await asyncio.sleep(0.05)
        if student.question is not None:
            final = str(1000 + student.index)
            if change_at is not None:
                await asyncio.sleep(max(0.0, opened_at[0] + answer_at - time.monotonic()))
                await student.submit(str(5000 + student.index))  # changes its mind below
                await asyncio.sleep(max(0.0, opened_at[0] + change_at - time.monotonic()))
            else:
                await asyncio.sleep(max(0.0, opened_at[0] + answer_at - time.monotonic()))
            await student.submit(final)
        await stop.wait()
        student._clear_timers()
        listener.cancel()


# ---------------------------------------------------------------------------
# The instructor's board in Chromium
# ---------------------------------------------------------------------------

async def _instructor_board(url: str, workdir: Path, ready: asyncio.Event, stop: asyncio.Event) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_as_desktop_user(CHROMIUM, workdir),
                                                   headless=True, args=["--no-sandbox", "--disable-gpu",
                                                                        "--disable-dev-shm-usage"])
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            await page.goto(f"{url}/classroom", wait_until="domcontentloaded", timeout=120_000)
            await page.get_by_text("Instructor", exact=False).first.click(timeout=120_000)
            await page.get_by_label("Passcode").fill(PASSCODE)
            await page.get_by_label("Passcode").press("Enter")
            await page.get_by_role("button", name="Open the question").wait_for(timeout=120_000)
            ready.set()
            await stop.wait()
        finally:
            await browser.close()


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------

async def _lecture_hall(url: str, args, workdir: Path, measure_cpu) -> dict:
    from seglib.lab.classroom import Classroom
    from seglib.lab.polls import live_poll

    room = Classroom()
    rng = random.Random(args.seed)
    stop, opened, board_ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
    opened_at: list[float] = []
    board = None
    if not args.no_browser:
        board = asyncio.create_task(_instructor_board(url, workdir, board_ready, stop))
        await asyncio.wait_for(board_ready.wait(), timeout=300)
    students = [Student(index, url) for index in range(args.students)]
    changers = set(rng.sample(range(args.students), min(args.changers, args.students)))
    plans = {}
    for student in students:
        answer_at = rng.uniform(0, args.window)
        change_at = (min(args.window, answer_at + rng.uniform(1, 2)) if student.index in changers else None)
        plans[student.index] = (answer_at, change_at)
    tasks = []
    for student in students:  # the hall opens the page over a few seconds
        tasks.append(asyncio.create_task(_student(student, opened, opened_at, *plans[student.index], stop)))
        await asyncio.sleep(0.1)
    for student in students:
        await asyncio.wait_for(student.loaded.wait(), timeout=300)
    idle_before, idle_began = measure_cpu(), time.monotonic()
    await asyncio.sleep(args.settle)  # every page drawn and polling: what the waiting hall costs
    cpu_before = measure_cpu()
    idle = {k: (cpu_before[k] - idle_before.get(k, 0.0)) / (time.monotonic() - idle_began) for k in cpu_before}
    load_before = load_average()
    asked = room.open_question(live_poll("number", "Benchmark: what is your number?"))
    opened_at.append(time.monotonic())
    began = time.time()
    opened.set()
    deadline = time.monotonic() + args.window + 60
    while time.monotonic() < deadline:
        expected = sum(2 if s.index in changers else 1 for s in students)
        if sum(len(s.acks) for s in students) >= expected:
            break
        await asyncio.sleep(0.2)
    answered = time.monotonic() - opened_at[0]
    load_during = load_average()
    cpu_after = measure_cpu()
    wall = time.time() - began
    room.close_question(asked.id)
    stored = room.answers(asked.id)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    if board is not None:
        await board
    crashed = [repr(result)[:200] for result in results if isinstance(result, BaseException)]
    return {"students": students, "stored": stored, "changers": changers, "crashed": crashed, "answered_s": answered,
            "opened_at": opened_at[0],
            "wall_s": wall, "cpu": {k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after}, "idle": idle,
            "load_before": load_before, "load_during": load_during}


def _rows(result: dict, args, training: dict | None) -> list[dict]:
    students, stored = result["students"], result["stored"]
    sent = {str(1000 + s.index) for s in students}
    kept = {answer.text for answer in stored}
    lost = sorted(sent - kept)
    extra = sorted(kept - sent)
    acks = [a for s in students for a in s.acks]
    round_trips = [a["acknowledged"] - a["sent"] for a in acks if a["acknowledged"] is not None]
    unacknowledged = sum(a["acknowledged"] is None for a in acks)
    server = [answer.answered_at - answer.received_at for answer in stored]
    seen = [s.seen_at - result["opened_at"] for s in students if s.seen_at]
    changed = sum(answer.changes for answer in stored)
    errors = [e for s in students for e in s.errors] + result["crashed"]
    worst = max(round_trips) if round_trips else None
    limit = args.ack_limit
    load = f"{result['load_before']} -> {result['load_during']}"
    note = (f"{len(students)} students answering within {args.window:g} s, {len(result['changers'])} of them twice; "
            f"all acknowledged {result['answered_s']:.1f} s after the question opened; "
            f"{'no training run' if training is None else 'a lecture run training'}; load {load}")
    rows = [
        {"benchmark": "answers stored / students", "value": f"{len(kept & sent)}/{len(sent)}", "unit": "",
         "target": "all", "ok": not lost and not extra and len(stored) == len(sent) and changed == len(result["changers"]),
         "note": (f"lost {lost[:5]}; unexpected {extra[:5]}; " if lost or extra else "")
         + f"{changed} answers replaced (expected {len(result['changers'])}); {len(errors)} errors"
         + (f": {errors[:3]}" if errors else "")},
        {"benchmark": "submit -> acknowledgement on the websocket, max", "value": worst and round(worst, 3),
         "unit": "s", "target": f"<= {limit:g}", "ok": worst is not None and worst <= limit and not unacknowledged,
         "note": f"{len(round_trips)} submits, {unacknowledged} unacknowledged; p50 "
                 f"{quantile(round_trips, 0.5):.3f} s, p95 {quantile(round_trips, 0.95):.3f} s; " + note
         if round_trips else note},
        {"benchmark": "in the server: submit callback -> commit, max", "value": round(max(server), 4) if server else None,
         "unit": "s", "target": f"<= {limit:g}", "ok": bool(server) and max(server) <= limit,
         "note": f"p50 {quantile(server, 0.5):.4f} s, p95 {quantile(server, 0.95):.4f} s (the last answer of each student)"
         if server else ""},
        {"benchmark": "question opened -> on every student's screen", "value": round(max(seen), 2) if seen else None,
         "unit": "s", "target": None, "ok": None,
         "note": (f"p50 {quantile(seen, 0.5):.2f} s; {len(seen)} of {len(students)} saw it; the page polls every 3 s"
                  if seen else "")},
    ]
    rows.append({"benchmark": "server CPU while the hall waits for a question, per student", "unit": "cores",
                 "value": round(result["idle"]["server"] / len(students), 4), "target": None, "ok": None,
                 "note": f"{result['idle']['server']:.3f} cores for {len(students)} students polling every 3 s "
                         f"(and the instructor's board); the training worker had "
                         f"{result['idle']['training worker']:.2f} cores meanwhile"})
    for group, seconds in result["cpu"].items():
        rows.append({"benchmark": f"CPU during the answers: {group}", "value": round(seconds / result["wall_s"], 3),
                     "unit": "cores", "target": None, "ok": None,
                     "note": f"{seconds:.1f} CPU s in {result['wall_s']:.1f} s"})
    if training:
        rows.append({"benchmark": "training run during the benchmark", "value": training.get("images_per_second"),
                     "unit": "images/s", "target": None, "ok": None,
                     "note": f"status {training.get('status')}, epoch {training.get('epoch')}"})
    load_value = result["load_before"]
    for row in rows:
        row.update(load_1min=load_value, cpus=os.cpu_count())
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--window", type=float, default=10.0, help="seconds within which every student answers")
    parser.add_argument("--changers", type=int, default=10, help="students who change their answer once")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds between the hall's arrival and the question (the waiting hall's CPU is measured)")
    parser.add_argument("--no-run", action="store_true", help="no training run alongside")
    parser.add_argument("--no-browser", action="store_true", help="no instructor board in Chromium")
    parser.add_argument("--size", type=int, default=128, help="synthetic image size of the started server")
    parser.add_argument("--ack-limit", type=float, default=TARGETS["ack_s"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.students < 1 or args.window <= 0:
        parser.error(f"--students and --window must be positive. Received: {args.students}, {args.window}")
    return args


def run(students: int = 40, window: float = 10.0, changers: int = 10, training: bool = True,
        browser: bool = True) -> list[dict]:
    """The rows for ``benchmarks/run_all.py``."""
    return _run(parse_args(["--students", str(students), "--window", str(window), "--changers", str(changers)]
                           + ([] if training else ["--no-run"]) + ([] if browser else ["--no-browser"])))


def _run(args: argparse.Namespace) -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="seglib-bench-classroom-"))
    os.environ["SEGLIB_INSTRUCTOR_PASSCODE"] = PASSCODE  # students are not instructors
    # No prewarm: TensorFlow and the default model loading at the first connection (a one-off of the hall's
    # arrival, measured by load_viewers.py) would land in the waiting hall's CPU; no classroom view needs them.
    os.environ["SEGLIB_PREWARM"] = "0"
    server = None
    run_id = None
    try:
        url, server = start_server(workdir, args.size)
        if not args.no_run:
            run_id = start_lecture_run(60)
        worker_pid = None
        if run_id:
            from seglib.training.runs.state import run_state

            worker_pid = run_state(run_id).get("pid")

        def measure_cpu() -> dict:
            cpu = cpu_seconds_by_group(server.pid, worker_pid)
            import psutil

            cpu["students (websocket clients)"] = sum(psutil.Process().cpu_times()[:2])
            return cpu

        result = asyncio.run(_lecture_hall(url, args, workdir, measure_cpu))
        training = stop_run(run_id) if run_id else None
        return _rows(result, args, training)
    finally:
        if run_id:
            try:
                stop_run(run_id)
            except Exception:  # noqa: BLE001 - already stopped
                pass
        if server is not None:
            dashboard_support.stop_dashboard(server)
        os.environ.pop("SEGLIB_INSTRUCTOR_PASSCODE", None)
        os.environ.pop("SEGLIB_PREWARM", None)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"CPU: {describe()}; load {load_average('all')}", flush=True)
    rows = _run(args)
    for row in rows:
        flag = "" if row["ok"] is None else ("  ok" if row["ok"] else "  MISSED")
        print(f"{row['benchmark']:<62}{row['value']!s:>10} {row['unit']}{flag}")
        if row.get("note"):
            print(f"    {row['note']}")
    return 0 if all(row["ok"] is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
