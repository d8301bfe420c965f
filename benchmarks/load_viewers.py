"""Many viewers: N headless Chromium sessions use the dashboard while a lecture run trains.

A lecture hall opens the dashboard at once. This script starts the dashboard
(or uses ``--url``), starts a lecture-preset training run through
``seglib.training.scheduler`` (so the CPU is shared with training, as in class), then opens
``--viewers`` browser contexts in ONE Chromium process (one process, many
pages, to fit a 2-core machine), driven from asyncio. Each viewer loops for
``--seconds``: click the next page in the sidebar navigation, wait until the
app has settled, then move a slider on the page (if it has one) and wait
again. Every page view and slider move records its render time (until the
script finished), the exceptions shown (``stException``) and whether it got
stuck (not settled in ``--stuck-after`` seconds).

Prints a table (views, errors, stuck, p50/p95/max render seconds) per action
and overall, as the browsers saw it; then the server's own time per page run
(the dashboard appends it to ``SEGLIB_RUN_TIMES``), and the CPU seconds used by
the server, the training worker and the browsers. A stuck view counts as
``--stuck-after`` seconds in the percentiles. Writes JSON (``--json``). Exit
code 1 when a page showed an error (an exception box, a JavaScript error), the
server's p95 overall or for any page exceeds ``--p95-limit``, or the worker kept
less than half its images/s alone; the browsers' own view (p95, stuck views,
driver time-outs) fails it too unless they kept 85 % or more of their CPU busy
(``BROWSERS_STARVED``: then their own CPU set their times, and it is shown only).

The 20 browsers stand in for 20 students' own laptops; in a hall they do not run on the
server's cores. Here the machine is split (``--server-cpus``, default ``auto``: the first half
of the CPUs, at least one): the server and the training worker (and whatever they start) run on
those CPUs only, the browsers and this script on the others, so the server's machine is the
server's CPUs and the hall is the rest; the worker's images/s alone is measured on the same CPUs
as with the viewers. ``--server-cpus all`` shares every CPU instead: the browsers then run in a
control group of their own with a CPU quota (``--browser-cores``, default 1 core; cgroup v1
``cpu.cfs_quota_us`` under ``/sys/fs/cgroup/cpu``, or cgroup v2 ``cpu.max``), stated in the output
with the CPU seconds they used and how long the quota held them back. Where control groups
cannot be written (not root, no cpu controller) the output says so in one line
and the browsers are reniced instead (``--browser-nice``, default 15). Chromium is
started with a desktop user's CPU priority (``machine.browser_as_desktop_user``).
``--think`` is how long a viewer looks at a page before the next action (default
0.5 s: clicking as fast as pages settle).

The training worker's images/s is measured alone for ``--alone`` seconds before the
viewers arrive and then during the test (training steps only, sampled from
``progress.json``), and their ratio is reported (target: >= 0.5). The server's own
record of each run (``SEGLIB_RUN_TIMES``) carries its thread-CPU seconds and its steps
(see ``ui.run_times``): the page lines where the server's time went are listed per page,
with the time they waited (wall minus CPU).

    python benchmarks/load_viewers.py                      # 20 viewers, 120 s
    python benchmarks/load_viewers.py --viewers 3 --seconds 20   # quick check

Without ``--url`` everything lives in a temporary folder (a small synthetic
dataset, the runs folder, the cache); the project's data/ and runs/ are not
touched. With ``--url`` the run is started in this process's SEGLIB_* folders,
which must be the server's (or pass ``--no-run``).
"""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from from_tests import dashboard_support  # benchmarks/ is on the path (script or run_all)
from machine import quantile

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The script must stay finished this long before a view counts as rendered.
SETTLE_SECONDS = 0.4
#: Browsers that kept this share of their CPU busy were slowed by it: their own view is not judged.
BROWSERS_STARVED = 0.85


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=20, help="concurrent browser sessions (default 20)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long each viewer loops (default 120)")
    parser.add_argument("--url", help="an already running dashboard (default: start one)")
    parser.add_argument("--no-run", action="store_true", help="do not start a lecture training run")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds a viewer waits after a page settled before the next action (default 0.5)")
    parser.add_argument("--stuck-after", type=float, default=30.0, help="seconds before a view counts as stuck")
    parser.add_argument("--p95-limit", type=float, default=3.0, help="p95 render seconds allowed (default 3)")
    parser.add_argument("--json", default=None, help="write the results here (default: load_viewers.json "
                                                     "in the temporary folder, path printed)")
    parser.add_argument("--size", type=int, default=128, help="synthetic image size for the started server")
    parser.add_argument("--arrival", type=float, default=30.0,
                        help="seconds after the first server run counted as the hall's arrival (cold caches); "
                             "the server's figures are shown for it and for the rest separately (default 30)")
    parser.add_argument("--server-cpus", default="auto",
                        help="CPUs for the server and the training worker, e.g. 0 or 0-1; the browsers and this "
                             "script get the others. 'auto' (default): the first half of the CPUs, at least one, "
                             "on a machine with two or more; 'all': every process shares every CPU (the browsers "
                             "then held by --browser-cores). Ignored with --url (the server is not started here)")
    parser.add_argument("--browser-cores", type=float, default=1.0,
                        help="CPU quota of the browsers' control group, in cores (default 1). They stand in for "
                             "the students' own laptops, yet here would share the server's cores; 0 = no quota")
    parser.add_argument("--browser-nice", type=int, default=15,
                        help="niceness of the Chromium processes when no control group can be made (default 15; "
                             "0 = leave them)")
    parser.add_argument("--alone", type=float, default=30.0,
                        help="seconds the training worker is measured alone before the viewers arrive (default 30; "
                             "0 = skip)")
    parser.add_argument("--steps", type=int, default=6, help="page lines listed per page in the server's steps")
    parser.add_argument("--py-spy", dest="py_spy", default=None, metavar="FOLDER",
                        help="sample the server with py-spy during the test (all threads, and the GIL holder) into "
                             "FOLDER and rank where its script threads spent their time")
    args = parser.parse_args(argv)
    if args.viewers < 1 or args.seconds <= 0:
        parser.error(f"--viewers and --seconds must be positive. Received: {args.viewers}, {args.seconds}")
    return args


# ---------------------------------------------------------------------------
# the server and the training run
# ---------------------------------------------------------------------------

def start_server(workdir: Path, size: int, train: int = 48, val: int = 12) -> tuple[str, subprocess.Popen]:
    os.environ["SEGLIB_DATA_ROOTS"] = str(workdir / "data")
    os.environ["SEGLIB_RUNS_DIR"] = str(workdir / "runs")
    os.environ["SEGLIB_CACHE_DIR"] = str(workdir / "cache")
    os.environ["SEGLIB_RUN_TIMES"] = str(workdir / "run_times.jsonl")  # the server's side of each view
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from seglib.data.synth import generate_dataset

    generate_dataset(workdir / "data" / "synthetic", train=train, val=val, size=size, seed=0)
    return dashboard_support.start_dashboard(workdir / "streamlit.log")


def prewarm_finished(log: Path, timeout: float) -> str:
    """Wait (at most ``timeout`` s) for the started server's prewarm to finish (``ui.prewarm`` prints
    "Prewarm done ..." in its log); the line, or what happened instead."""
    def done() -> str | None:
        with contextlib.suppress(OSError):
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("Prewarm done"):
                    return line
        return None

    try:
        return "server: " + dashboard_support.wait_until(done, timeout, interval=1.0)
    except TimeoutError:
        return f"server: no prewarm finished within {timeout:g} s (off, or still running)"


def start_lecture_run(seconds: float) -> str:
    from seglib.presets import get_preset
    from seglib.training import scheduler
    from seglib.training.runs.files import FINAL_STATUSES
    from seglib.training.runs.state import run_state

    # Enough epochs to outlast the benchmark; it is stopped at the end.
    config = get_preset("lecture").with_overrides({"train.epochs": 500, "data.root": "synthetic"})
    run_id = scheduler.start_run(config, name="load benchmark (lecture)")

    def training_or_ended() -> bool:
        progress = run_state(run_id)
        return progress.get("phase") in ("training", "validating") or progress["status"] in FINAL_STATUSES

    with contextlib.suppress(TimeoutError):  # still starting after 3 minutes: measure it as it is
        dashboard_support.wait_until(training_or_ended, 180, interval=1.0)
    return run_id


def measure_alone(run_id: str, seconds: float, server_log: Path | None) -> tuple[float | None, float]:
    """The worker's images/s and busy cores over ``seconds`` with no viewer: in its steady state, after
    the epoch in which it traced its graph, and not while the started server's prewarm computes beside it."""
    from seglib.training.runs.state import run_state

    first_epoch, deadline = run_state(run_id).get("epoch"), time.time() + 180
    while time.time() < deadline and run_state(run_id).get("epoch") == first_epoch:
        time.sleep(1)
    if server_log is not None:
        print(prewarm_finished(server_log, 180), flush=True)
    rate = WorkerRate(run_id).start()
    pid = run_state(run_id).get("pid")
    before = cpu_seconds_by_group(None, pid)["training worker"]
    time.sleep(seconds)
    images_per_second = rate.stop()
    return images_per_second, round((cpu_seconds_by_group(None, pid)["training worker"] - before) / seconds, 2)


def stop_run(run_id: str) -> dict:
    from seglib.training import scheduler
    from seglib.training.runs.files import FINAL_STATUSES
    from seglib.training.runs.state import run_state

    progress = run_state(run_id)
    if progress["status"] in ("queued", "running", "stopping"):
        scheduler.request_stop(run_id)
        with contextlib.suppress(TimeoutError):  # reported as it is: the caller prints the status
            dashboard_support.wait_until(lambda: run_state(run_id)["status"] in FINAL_STATUSES, 60)
    return run_state(run_id)


# ---------------------------------------------------------------------------
# the server's CPUs and the hall's
# ---------------------------------------------------------------------------

def _cpu_list(text: str) -> set[int]:
    """``0``, ``0-1``, ``0,2-3`` -> a set of CPU numbers (ValueError when malformed)."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def cpu_split(spec: str, own_server: bool) -> tuple[set[int], set[int], str | None]:
    """(the server's CPUs, the browsers' CPUs, why the machine is not split) for ``--server-cpus``.

    Not split (both sets empty, a reason given) for ``all``, a server started elsewhere (``--url``), a
    machine without CPU affinity or with a single usable CPU; ``ValueError`` for a list this machine
    cannot give (a CPU it lacks, or none left for the browsers)."""
    if spec == "all":
        return set(), set(), "every process shares every CPU (--server-cpus all)"
    if not own_server:
        return set(), set(), "the server was started elsewhere (--url), so its CPUs are not chosen here"
    if not hasattr(os, "sched_setaffinity"):
        return set(), set(), "this system cannot bind processes to CPUs"
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return set(), set(), f"only {len(usable)} usable CPU"
    server = set(usable[:max(1, len(usable) // 2)]) if spec == "auto" else _cpu_list(spec)
    if not server <= set(usable):
        raise ValueError(f"--server-cpus {spec}: this machine's usable CPUs are {_cpus_text(set(usable))}")
    browsers = set(usable) - server
    if not browsers:
        raise ValueError(f"--server-cpus {spec} leaves no CPU for the browsers (usable: {_cpus_text(set(usable))})")
    return server, browsers, None


def _cpus_text(cpus: set[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


# ---------------------------------------------------------------------------
# the browsers' CPU priority
# ---------------------------------------------------------------------------

def _process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) for every process (Linux /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), name)
    return table


def cpu_seconds_by_group(server_pid: int | None, worker_pid: int | None) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server, the training worker and this script's browsers.

    Browser processes that already exited are not counted (a lower bound).
    """
    me = os.getpid()
    table = _process_table()
    ticks = os.sysconf("SC_CLK_TCK")
    groups = {"server": 0.0, "training worker": 0.0, "browsers": 0.0}
    for pid, (parent, name) in table.items():
        if pid == server_pid:
            group = "server"
        elif pid == worker_pid:
            group = "training worker"
        elif ("chrom" in name or "headless" in name) and _descends_from(pid, me, table):
            group = "browsers"
        else:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        groups[group] += (int(fields[11]) + int(fields[12])) / ticks
    return groups


def _descends_from(pid: int, ancestor: int, table: dict) -> bool:
    current, hops = table.get(pid, (0, ""))[0], 0
    while current not in (0, 1) and hops < 32:
        if current == ancestor:
            return True
        current, hops = table.get(current, (0, ""))[0], hops + 1
    return False


def server_run_times(path: Path, since: float, until: float) -> list[dict]:
    """The dashboard's own record of each page run (``SEGLIB_RUN_TIMES``) between two moments."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if since <= row.get("time", 0) <= until:
            rows.append(row)
    return rows


def renice_browsers(nice: int, stop: "threading.Event", every: float = 0.5) -> None:
    """Keep every thread of this script's Chromium processes at ``nice`` until ``stop``.

    Linux niceness is per thread and Chromium changes its threads' priorities
    itself, so the whole tree is renewed every ``every`` seconds.
    """
    me = os.getpid()
    while not stop.wait(every):
        table = _process_table()
        for pid, (parent, name) in table.items():
            if "chrom" not in name and "headless" not in name:
                continue
            if not _descends_from(pid, me, table):
                continue  # somebody else's browser
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    if os.getpriority(os.PRIO_PROCESS, int(task.name)) != nice:
                        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
                except (OSError, ValueError):
                    pass


class BrowserGroup:
    """A control group with a CPU quota for this script's Chromium (and everything it starts).

    cgroup v1 (``/sys/fs/cgroup/cpu/<name>``: ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``, plus a
    ``cpuacct`` group for the CPU seconds, exited renderers included) or cgroup v2 (``cpu.max`` and
    ``cpu.stat``). ``why_not`` says why none could be made (then ``wrapper`` returns Chromium as it is).
    """

    V1_CPU = Path("/sys/fs/cgroup/cpu")
    V1_ACCT = Path("/sys/fs/cgroup/cpuacct")
    V2 = Path("/sys/fs/cgroup")
    PERIOD_US = 100_000

    def __init__(self, cores: float, name: str | None = None):
        self.cores = cores
        self.name = name or f"seglib-load-browsers-{os.getpid()}"
        self.folders: list[Path] = []
        self.accounting: Path | None = None   # cpuacct.usage (v1, ns) or cpu.stat (v2, usage_usec)
        self.throttle: Path | None = None     # cpu.stat (throttled_time ns in v1, throttled_usec in v2)
        self.why_not: str | None = None
        if cores <= 0:
            self.why_not = "no quota asked for (--browser-cores 0)"
            return
        try:
            self._make()
        except OSError as error:
            self.close()
            self.why_not = f"cgroups are not writable here ({type(error).__name__}: {error})"

    def _make(self) -> None:
        quota = str(max(1000, int(self.cores * self.PERIOD_US)))
        if (self.V1_CPU / "cpu.cfs_quota_us").exists():
            folder = self.V1_CPU / self.name
            folder.mkdir()
            self.folders.append(folder)
            (folder / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(quota)
            self.throttle = folder / "cpu.stat"
            if (self.V1_ACCT / "cpuacct.usage").exists() and self.V1_ACCT.resolve() != self.V1_CPU.resolve():
                acct = self.V1_ACCT / self.name
                acct.mkdir()
                self.folders.append(acct)
                self.accounting = acct / "cpuacct.usage"
            elif (folder / "cpuacct.usage").exists():  # cpu,cpuacct mounted together
                self.accounting = folder / "cpuacct.usage"
        elif "cpu" in (self.V2 / "cgroup.controllers").read_text().split():
            folder = self.V2 / self.name
            folder.mkdir()
            self.folders.append(folder)
            (folder / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            self.accounting = self.throttle = folder / "cpu.stat"
        else:
            raise OSError("no cpu controller in cgroup v1 or v2")

    @property
    def active(self) -> bool:
        return bool(self.folders) and self.why_not is None

    def describe(self) -> str:
        if self.active:
            return (f"browsers in control group {self.name}: CPU quota {self.cores:g} core(s) "
                    f"({int(self.cores * self.PERIOD_US)} us per {self.PERIOD_US} us period)")
        return f"browsers NOT in a control group: {self.why_not}"

    def wrapper(self, chromium: str, folder: Path) -> str:
        """An executable that joins the group(s), then starts ``chromium`` (as a desktop user would)."""
        from machine import browser_as_desktop_user

        command = browser_as_desktop_user(chromium, folder)
        if not self.active:
            return command
        joins = "".join(f'echo $$ > "{group}/cgroup.procs"\n' for group in self.folders)
        script = Path(folder) / "chromium-in-group"
        script.write_text(f'#!/bin/sh\n{joins}exec "{command}" "$@"\n')
        script.chmod(0o755)
        return str(script)

    def cpu_seconds(self) -> float | None:
        """CPU seconds used by everything that ran in the group so far (exited processes included)."""
        try:
            if self.accounting is None:
                return None
            text = self.accounting.read_text()
            if self.accounting.name == "cpuacct.usage":
                return int(text) / 1e9
            return int(dict(line.split() for line in text.splitlines())["usage_usec"]) / 1e6
        except (OSError, KeyError, ValueError):
            return None

    def throttled_seconds(self) -> float | None:
        """How long the quota held the group back so far."""
        try:
            fields = dict(line.split() for line in self.throttle.read_text().splitlines())
            if "throttled_usec" in fields:
                return int(fields["throttled_usec"]) / 1e6
            return int(fields["throttled_time"]) / 1e9
        except (AttributeError, OSError, KeyError, ValueError):
            return None

    def close(self) -> None:
        """Remove the group(s) once empty (the browsers have exited); leftovers go to the parent group."""
        for folder in reversed(self.folders):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    with contextlib.suppress(OSError):
                        for pid in (folder / "cgroup.procs").read_text().split():
                            (folder.parent / "cgroup.procs").write_text(pid)
                    time.sleep(0.1)
        self.folders = []


class WorkerRate:
    """The training worker's images/s over a stretch of time: the worker's own measure of each epoch that
    ended meanwhile (``measured_images_per_second`` in ``progress.json``: training images over training
    seconds, validation and saving left out), averaged; ``progress.json`` is sampled every half second."""

    def __init__(self, run_id: str):
        from seglib.training.runs.state import run_state

        self.run_id = run_id
        self._read = lambda: run_state(run_id)
        self.epochs: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        first = None
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                progress = self._read()
                epoch, rate = progress.get("epoch"), progress.get("measured_images_per_second")
                if first is None:
                    first = epoch  # the epoch under way at the start is not wholly inside the window
                elif epoch is not None and rate and epoch != first:
                    self.epochs.setdefault(int(epoch), float(rate))

    def start(self) -> "WorkerRate":
        self.epochs = {}
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="worker-rate", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> float | None:
        """Mean images/s of the epochs measured since ``start`` (None when none ended meanwhile)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return round(sum(self.epochs.values()) / len(self.epochs), 2) if self.epochs else None


def step_summary(server_rows: list[dict], top: int) -> dict[str, list[dict]]:
    """Per page, the page lines where the server's runs spent the most wall time (``ui.run_times`` steps):
    total and mean wall seconds, CPU seconds of the script thread, the wait (wall - CPU) and the bytes sent."""
    pages: dict[str, dict[str, dict]] = {}
    for row in server_rows:
        for where, kind, wall, cpu, size in row.get("steps") or []:
            key = where if where == "end" else f"{where} {kind}"
            step = pages.setdefault(row["page"], {}).setdefault(key, {"step": key, "count": 0, "wall": 0.0,
                                                                      "cpu": 0.0, "bytes": 0})
            step["count"] += 1
            step["wall"] += wall
            step["cpu"] += cpu
            step["bytes"] += size
    summary = {}
    for page, steps in pages.items():
        ranked = sorted(steps.values(), key=lambda s: -s["wall"])[:top]
        summary[page] = [{**s, "wall": round(s["wall"], 2), "cpu": round(s["cpu"], 2),
                          "wait": round(s["wall"] - s["cpu"], 2)} for s in ranked]
    return summary


class ServerProfile:
    """py-spy on the server for the test (when ``py-spy`` is installed): every thread with its idle
    samples (what the script threads wait for) and, separately, only the thread holding the GIL (what
    serialises the sessions). Raw files in ``folder``; ``summary`` ranks the places."""

    def __init__(self, pid: int, folder: Path, rate: int = 20):
        self.folder = Path(folder)
        self.processes: list[subprocess.Popen] = []
        self.why_not = None
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            self.why_not = "py-spy is not installed (pip install py-spy)"
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, extra in (("threads", ["--idle"]), ("gil", ["--gil"])):
            self.processes.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", str(rate), "--threads", "--nonblocking",
                 "--format", "raw", "--output", str(self.folder / f"{name}.txt"), *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    @staticmethod
    def _samples(path: Path):
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                stack, _, count = line.rpartition(" ")
                if not count.isdigit():
                    continue
                thread, _, frames = stack.partition(": ")
                frames = frames.split(";")
                yield frames[0], frames[1:], int(count)

    @staticmethod
    def _place(frames: list[str]) -> str:
        """The innermost frame of the project (pages, ui, seglib, dashboard), else the innermost of all."""
        for frame in reversed(frames):
            if any(part in frame for part in ("pages/", "ui/", "seglib/", "dashboard.py")):
                return frame
        return frames[-1] if frames else "?"

    @staticmethod
    def _state(frames: list[str]) -> str:
        leaf = frames[-1] if frames else ""
        text = ";".join(frames)
        waiting = leaf.startswith(("acquire", "wait ", "_wait_for_tstate_lock", "wait_for", "Condition.wait",
                                   "Event.wait", "_hold_compute_lock"))
        if waiting and "_handle_cache_miss" in text:
            return "waits for a cache entry another session computes"
        if waiting:
            return "waits on a lock"
        if leaf.startswith(("sleep", "select", "poll", "_run_once", "run_forever", "epoll")):
            return "sleeps"
        return "runs (or waits for the GIL / a core)"

    def summary(self, top: int = 12) -> dict:
        script: dict[tuple[str, str], int] = {}
        states: dict[str, int] = {}
        total = 0
        for thread, frames, count in self._samples(self.folder / "threads.txt"):
            # A page run is a stack through dashboard.py (Streamlit runs scripts in pooled threads whose
            # name stays "ScriptRunner..." while they idle): idle pool threads are not counted.
            if not any("dashboard.py" in frame for frame in frames):
                continue
            total += count
            state = self._state(frames)
            states[state] = states.get(state, 0) + count
            key = (state, self._place(frames))
            script[key] = script.get(key, 0) + count
        gil: dict[str, int] = {}
        gil_total = 0
        for thread, frames, count in self._samples(self.folder / "gil.txt"):
            gil_total += count
            key = f"{thread}: {self._place(frames)}"
            gil[key] = gil.get(key, 0) + count
        return {"script_samples": total,
                "script_states": {k: round(v / total, 3) for k, v in sorted(states.items(), key=lambda i: -i[1])}
                if total else {},
                "script_places": [{"state": k[0], "place": k[1], "share": round(v / total, 3)}
                                  for k, v in sorted(script.items(), key=lambda i: -i[1])[:top]] if total else [],
                "gil_samples": gil_total,
                "gil_places": [{"place": k, "share": round(v / gil_total, 3)}
                               for k, v in sorted(gil.items(), key=lambda i: -i[1])[:top]] if gil_total else []}


# ---------------------------------------------------------------------------
# one viewer
# ---------------------------------------------------------------------------

#: Records every change of Streamlit's script state with the page's clock, so a
#: short run between two polls is never missed (a poll-only check under load
#: may look "finished" before the click's rerun has even reached the server).
_STATE_HOOK = """
() => {
  if (window.__seglibStates) return;
  window.__seglibStates = [];
  let last = null;
  const push = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    if (state && state !== last) {
      last = state;
      window.__seglibStates.push({state, t: performance.now()});
    }
    // A page switch whose run is short can reach the browser as one update: the state
    // never reads "running". The tab title (set by the page's run) shows it ran.
    if (document.title !== lastTitle) {
      lastTitle = document.title;
      window.__seglibStates.push({state: 'title', title: lastTitle, t: performance.now()});
    }
  };
  let lastTitle = document.title;
  push();
  // The whole document, not one element: React may replace the app's root element, and an
  // observer on the old one then saw nothing (views counted as stuck on pages that had loaded).
  new MutationObserver(push).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state']});
}
"""


async def _now(page) -> float:
    await page.evaluate(_STATE_HOOK)
    return await page.evaluate("() => performance.now()")


async def wait_settled(page, timeout: float, since_ms: float | None = None,
                       title: str | None = None) -> float | None:
    """Seconds from ``since_ms`` (the page's clock, taken just before the action)
    until the rerun it caused finished and stayed finished; None when stuck.

    With ``since_ms`` None (first load) any finished state counts. With ``title``
    (a page switch), the tab title changing to that page also shows the run happened.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            states = await page.evaluate("() => window.__seglibStates || []")
            now_ms = await page.evaluate("() => performance.now()")
            busy = await page.locator('[data-testid="stStatusWidget"]').count()
        except Exception:  # noqa: BLE001 - navigation in progress
            states, now_ms, busy = [], 0.0, 1
        after = [s for s in states if since_ms is None or s["t"] >= since_ms]
        saw_run = since_ms is None or any(
            s["state"] == "running" or (title and s["state"] == "title" and s["title"].startswith(title))
            for s in after)
        script_states = [s for s in states if s["state"] != "title"]
        finished = bool(script_states) and script_states[-1]["state"] == "notRunning"
        if saw_run and after and finished and not busy:
            if now_ms - after[-1]["t"] >= SETTLE_SECONDS * 1000:
                return (after[-1]["t"] - (since_ms if since_ms is not None else after[0]["t"])) / 1000
        await asyncio.sleep(0.1)
    return None


async def _exceptions(page) -> list[str]:
    found = []
    boxes = page.locator('[data-testid="stException"]')
    for index in range(await boxes.count()):
        found.append((await boxes.nth(index).inner_text())[:300])
    return found


async def viewer(index: int, browser, url: str, args, records: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    doing = {"action": "first load", "page": "home"}  # what the viewer was doing when an error was thrown
    page.on("pageerror", lambda error: errors.append({"viewer": index, "kind": "javascript", **doing,
                                                      "text": str(error)}))

    async def record(action: str, title: str, seconds: float | None, detail: dict | None = None) -> None:
        problems = await _exceptions(page)
        records.append({"viewer": index, "action": action, "page": title, "seconds": seconds,
                        "stuck": seconds is None, "errors": len(problems), **({"detail": detail} if detail else {})})
        errors.extend({"viewer": index, "kind": "exception", "page": title, "text": p} for p in problems)

    try:
        started = time.monotonic()
        await page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        await _now(page)
        # The very first view waits for TensorFlow imports; it is recorded but not a page switch.
        seconds = await wait_settled(page, 180)
        await record("first load", "home", None if seconds is None else time.monotonic() - started)
        end = time.monotonic() + args.seconds
        step = index  # viewers start on different pages
        while time.monotonic() < end:
            links = page.locator('[data-testid="stSidebarNav"] a')
            count = await links.count()
            if not count:
                await record("navigation", "?", None)
                await asyncio.sleep(1)
                continue
            link = links.nth(step % count)
            step += 1
            title = (await link.inner_text()).strip().splitlines()[-1].strip()
            doing.update(action="switch page", page=title)
            since = await _now(page)
            await link.click()
            seconds = await wait_settled(page, args.stuck_after, since, title=title)
            detail = None
            if seconds is None:  # what the page showed when it counted as stuck (in the JSON)
                with contextlib.suppress(Exception):
                    states = await page.evaluate("() => window.__seglibStates || []")
                    detail = {"title": await page.title(), "url": page.url,
                              "state": await page.get_attribute('[data-testid="stApp"]', "data-test-script-state"),
                              "states_since_click": [s for s in states if s["t"] >= since][-6:]}
            await record("switch page", title, seconds, detail)
            # Streamlit's slider thumb is a visually hidden range input (react-aria) inside stSlider.
            sliders = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stSlider"] '
                                   'input[type="range"], [data-testid="stMainBlockContainer"] [role="slider"]')
            if await sliders.count() and time.monotonic() < end:
                slider = sliders.first
                try:
                    doing.update(action="move slider")
                    await slider.focus(timeout=5_000)
                    since = await _now(page)
                    await page.keyboard.press("ArrowRight" if step % 2 else "ArrowLeft")
                    await record("move slider", title, await wait_settled(page, args.stuck_after, since))
                except Exception as error:  # noqa: BLE001 - a slider that vanished on a rerun
                    errors.append({"viewer": index, "kind": "slider", "page": title, "text": str(error)[:200]})
            await asyncio.sleep(args.think)  # a student looks at the page
    finally:
        await context.close()


async def run_viewers(url: str, args, before_close=None, executable: str = CHROMIUM) -> tuple[list, list]:
    from playwright.async_api import async_playwright

    records: list = []
    errors: list = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            tasks = []
            for index in range(args.viewers):
                tasks.append(asyncio.create_task(viewer(index, browser, url, args, records, errors)))
                await asyncio.sleep(0.2)  # a lecture hall does not click in the same millisecond
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for index, result in enumerate(results):
                if isinstance(result, BaseException):
                    errors.append({"viewer": index, "kind": "viewer crashed", "text": repr(result)[:300]})
        finally:
            if before_close is not None:
                before_close()  # e.g. read the browsers' CPU time while they still exist
            await browser.close()
    return records, errors


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def summarise(records: list, stuck_after: float) -> list[dict]:
    """Per action: views, errors, stuck, and p50 / p95 / max render seconds.

    A stuck view counts as ``stuck_after`` seconds (what we know: at least
    that long), so the percentiles never look better by leaving it out.
    """
    rows = []
    groups = {"switch page": [], "move slider": [], "first load": []}
    for record in records:
        groups.setdefault(record["action"], []).append(record)
    groups["all views (switch + slider)"] = groups["switch page"] + groups["move slider"]
    for name, items in groups.items():
        times = [stuck_after if r["seconds"] is None else r["seconds"] for r in items]
        rows.append({"action": name, "views": len(items), "errors": sum(r["errors"] for r in items),
                     "stuck": sum(r["stuck"] for r in items), "p50_s": quantile(times, 0.5),
                     "p95_s": quantile(times, 0.95), "max_s": max(times) if times else None})
    return rows


def print_table(rows: list[dict]) -> None:
    def fmt(value):
        return "-" if value is None else f"{value:.2f}"

    print(f"{'action':<28} {'views':>6} {'errors':>6} {'stuck':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for row in rows:
        print(f"{row['action']:<28} {row['views']:>6} {row['errors']:>6} {row['stuck']:>6} "
              f"{fmt(row['p50_s']):>7} {fmt(row['p95_s']):>7} {fmt(row['max_s']):>7}")


def main(argv=None) -> int:
    from machine import describe, load_average

    args = parse_args(argv)
    try:
        server_cpus, browser_cpus, not_split = cpu_split(args.server_cpus, own_server=not args.url)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="seglib-load-"))
    server = None
    run_id = None
    # Split: the browsers keep to their own CPUs, and their control group only counts their CPU seconds
    # (its quota is all of those CPUs). Shared: the quota is what keeps them off the server's cores.
    browser_quota = float(len(browser_cpus)) if browser_cpus else args.browser_cores
    group = BrowserGroup(browser_quota)
    try:
        print(f"{describe()}; load average {load_average('all')}", flush=True)
        if server_cpus:
            print(f"the server and the training worker run on CPU {_cpus_text(server_cpus)} only, the browsers and "
                  f"this script on CPU {_cpus_text(browser_cpus)} (the students' laptops): the worker's images/s "
                  f"alone and with the viewers are both measured on CPU {_cpus_text(server_cpus)}", flush=True)
            os.sched_setaffinity(0, server_cpus)  # the server and the worker started below inherit it
        else:
            print(f"no CPU split: {not_split}", flush=True)
            print(group.describe(), flush=True)
        if args.url:
            url = args.url.rstrip("/")
        else:
            print("starting the dashboard on a small synthetic dataset...", flush=True)
            url, server = start_server(workdir, args.size)
        worker_rate = {}
        worker_cores = {}  # the cores the worker kept busy (its CPU seconds per second), alone and with the viewers
        if not args.no_run:
            if server_cpus and args.alone > 0:
                # The strictest reading of the ratio: the worker alone on the whole machine, in a run of its
                # own (a worker's TensorFlow sizes its thread pools by the CPUs it starts on), then stopped.
                os.sched_setaffinity(0, server_cpus | browser_cpus)
                print("starting a lecture training run on every CPU, to measure it alone there...", flush=True)
                everywhere = start_lecture_run(args.seconds)
                rate_alone, cores_alone = measure_alone(everywhere, args.alone, workdir / "streamlit.log"
                                                        if server is not None else None)
                stop_run(everywhere)
                worker_rate["alone on every CPU"], worker_cores["alone on every CPU"] = rate_alone, cores_alone
                print(f"training worker alone on every CPU: {rate_alone} images/s over {args.alone:g} s, "
                      f"{cores_alone:g} cores busy", flush=True)
                os.sched_setaffinity(0, server_cpus)
            print("starting a lecture training run" + (f" on CPU {_cpus_text(server_cpus)}" if server_cpus else "")
                  + "...", flush=True)
            run_id = start_lecture_run(args.seconds)
            if args.alone > 0:
                # With a split, the measure on every CPU above already waited for the server's prewarm.
                prewarm_log = workdir / "streamlit.log" if server is not None and not server_cpus else None
                worker_rate["alone"], worker_cores["alone"] = measure_alone(run_id, args.alone, prewarm_log)
                print(f"training worker alone: {worker_rate['alone']} images/s over {args.alone:g} s, "
                      f"{worker_cores['alone']:g} cores busy", flush=True)
        if browser_cpus:
            os.sched_setaffinity(0, browser_cpus)  # the browsers started below inherit it
        print(f"{args.viewers} viewers for {args.seconds:.0f} s on {url} ...", flush=True)
        began = time.time()
        worker_pid = None
        rate = None
        if run_id:
            from seglib.training.runs.state import run_state

            worker_pid = run_state(run_id).get("pid")
            rate = WorkerRate(run_id).start()
        profile = ServerProfile(server.pid, Path(args.py_spy)) if args.py_spy and server else None
        if profile is not None and profile.why_not:
            print(f"no profile: {profile.why_not}", flush=True)
        cpu_before = cpu_seconds_by_group(server.pid if server else None, worker_pid)
        group_before = (group.cpu_seconds(), group.throttled_seconds())
        stop_renicing = threading.Event()
        if not group.active and args.browser_nice and sys.platform.startswith("linux"):
            threading.Thread(target=renice_browsers, args=(args.browser_nice, stop_renicing),
                             name="renice-browsers", daemon=True).start()
        cpu_after: dict[str, float] = {}

        def measure_cpu() -> None:
            cpu_after.update(cpu_seconds_by_group(server.pid if server else None, worker_pid))
            if group.active and group.cpu_seconds() is not None:
                cpu_after["browsers"] = group.cpu_seconds() - (group_before[0] or 0.0) + cpu_before.get("browsers", 0)

        try:
            records, errors = asyncio.run(run_viewers(url, args, before_close=measure_cpu,
                                                      executable=group.wrapper(CHROMIUM, workdir)))
        finally:
            stop_renicing.set()
        wall = time.time() - began
        profiled = None
        if profile is not None and not profile.why_not:
            profile.stop()
            profiled = profile.summary()
        if rate is not None:
            worker_rate["with viewers"] = rate.stop()
        if not cpu_after:
            measure_cpu()
        cpu_used = {group_name: round(cpu_after[group_name] - cpu_before.get(group_name, 0.0), 1)
                    for group_name in cpu_after}
        throttled = None
        if group.active and group.throttled_seconds() is not None:
            throttled = round(group.throttled_seconds() - (group_before[1] or 0.0), 1)
        server_rows = server_run_times(workdir / "run_times.jsonl", began, began + wall) if server else []
        run_progress = stop_run(run_id) if run_id else None
        rows = summarise(records, args.stuck_after)
        print("in the browsers (click to settled page; "
              + (f"the browsers had CPU {_cpus_text(browser_cpus)} to themselves):" if browser_cpus
                 else f"the browsers had {args.browser_cores:g} core(s) of this machine):" if group.active
                 else "the browsers share this machine's cores):"))
        print_table(rows)
        server_summary = None
        steps = {}
        if server_rows:
            times = sorted(row["seconds"] for row in server_rows)
            server_summary = {"runs": len(times), "p50_s": quantile(times, 0.5), "p95_s": quantile(times, 0.95),
                              "max_s": times[-1]}
            cpu_times = [row["cpu_seconds"] for row in server_rows if "cpu_seconds" in row]
            print(f"\nin the server (one whole script run, sidebar and page, waits for other sessions included): "
                  f"{len(times)} runs ({len(times) / wall * 60:.0f} a minute), p50 {server_summary['p50_s']:.2f} s, "
                  f"p95 {server_summary['p95_s']:.2f} s, max {server_summary['max_s']:.2f} s"
                  + (f"; the runs' own thread CPU: p50 {quantile(sorted(cpu_times), 0.5):.2f} s, "
                     f"p95 {quantile(sorted(cpu_times), 0.95):.2f} s" if cpu_times else ""))
            # The hall connecting at once meets cold caches (TensorFlow, models, statistics: the
            # prewarm is still loading them); afterwards the server runs warm. Both are shown.
            start = min(row["time"] - row["seconds"] for row in server_rows)
            for label, part in (("arrival", [r for r in server_rows if r["time"] - r["seconds"] - start <= args.arrival]),
                                ("after", [r for r in server_rows if r["time"] - r["seconds"] - start > args.arrival])):
                values = sorted(row["seconds"] for row in part)
                if values:
                    server_summary[label] = {"runs": len(values), "p50_s": quantile(values, 0.5),
                                             "p95_s": quantile(values, 0.95), "max_s": values[-1]}
                    print(f"  {'first ' + format(args.arrival, 'g') + ' s (arrival)' if label == 'arrival' else 'after that'}"
                          f": {len(values)} runs, p50 {quantile(values, 0.5):.2f} s, "
                          f"p95 {quantile(values, 0.95):.2f} s, max {values[-1]:.2f} s")
            by_page: dict[str, list[float]] = {}
            for row in server_rows:
                by_page.setdefault(row["page"], []).append(row["seconds"])
            server_summary["pages"] = {page: {"runs": len(values), "p95_s": quantile(sorted(values), 0.95),
                                              "max_s": max(values)} for page, values in sorted(by_page.items())}
            print("  per page p95: " + ", ".join(f"{page} {summary['p95_s']:.2f} s ({summary['runs']} runs)"
                                                  for page, summary in server_summary["pages"].items()))
            steps = step_summary(server_rows, args.steps)
            if steps:
                print("\nwhere the server's runs spent their time, per page (page line and element sent; summed over "
                      "the runs: wall s, CPU s of the script thread, wait = wall - CPU, MB sent):")
                for page, ranked in sorted(steps.items()):
                    print(f"  {page}:")
                    for step in ranked:
                        print(f"    {step['wall']:7.1f} wall {step['cpu']:6.1f} cpu {step['wait']:7.1f} wait "
                              f"{step['bytes'] / 1e6:6.1f} MB  x{step['count']:<4} {step['step'][:90]}")
        if profiled and profiled["script_samples"]:
            print(f"\npy-spy, the server's script threads ({profiled['script_samples']} samples; files in "
                  f"{args.py_spy}): " + ", ".join(f"{state} {share:.0%}" for state, share in
                                                  profiled["script_states"].items()))
            for place in profiled["script_places"]:
                print(f"  {place['share']:6.1%}  {place['state'][:40]:<40} {place['place'][:110]}")
            print(f"py-spy, the thread holding the GIL ({profiled['gil_samples']} samples):")
            for place in profiled["gil_places"]:
                print(f"  {place['share']:6.1%}  {place['place'][:140]}")
        available = wall * (os.cpu_count() or 1)
        if browser_cpus:
            where = (f" (server and worker on CPU {_cpus_text(server_cpus)}: {wall * len(server_cpus):.0f} s "
                     f"available; browsers on CPU {_cpus_text(browser_cpus)}"
                     + (", counted by their control group)" if group.active else
                        ", those that exited early not counted)"))
        elif group.active:
            where = (f" (browsers: their control group, {args.browser_cores:g} core(s) allowed, held back "
                     f"{throttled} s by the quota)")
        else:
            where = " (browsers that exited early not counted)"
        print(f"\nCPU seconds used in the {wall:.0f} s ({available:.0f} available on {os.cpu_count()} cores): "
              + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu_used.items()) + where)
        overall = next(r for r in rows if r["action"].startswith("all views"))
        # Page problems (an exception box, a JavaScript error) are the dashboard's; the driver's
        # own time-outs (a slider not focusable in 5 s, a link not clickable in 30 s) say the
        # browser was starved of CPU. Both are listed, and both fail the run.
        page_errors = [e for e in errors if e["kind"] in ("exception", "javascript")]
        driver_errors = [e for e in errors if e not in page_errors]
        print(f"\npage errors (exceptions, JavaScript): {len(page_errors)}; "
              f"driver time-outs and crashes: {len(driver_errors)}")
        for error in (page_errors + driver_errors)[:8]:
            print("  ", json.dumps(error)[:240])
        ratio = ratio_everywhere = None
        if run_progress:
            if worker_rate.get("alone") and worker_rate.get("with viewers"):
                ratio = round(worker_rate["with viewers"] / worker_rate["alone"], 3)
            print(f"\ntraining run during the test: status {run_progress['status']}, epoch {run_progress.get('epoch')}; "
                  f"{worker_rate.get('with viewers') or '?'} images/s with the viewers, "
                  f"{worker_rate.get('alone') or '?'} alone" + (f" (ratio {ratio:.2f}, target >= 0.5)" if ratio else ""))
            if worker_rate.get("alone on every CPU") and worker_rate.get("with viewers"):
                ratio_everywhere = round(worker_rate["with viewers"] / worker_rate["alone on every CPU"], 3)
                print(f"  against the worker alone on every CPU ({worker_rate['alone on every CPU']} images/s, "
                      f"{worker_cores['alone on every CPU']:g} cores busy): ratio {ratio_everywhere:.2f}, the "
                      f"viewers' run on CPU {_cpus_text(server_cpus)} only")
            if "training worker" in cpu_used and wall > 0:
                worker_cores["with viewers"] = round(cpu_used["training worker"] / wall, 2)
            if worker_cores.get("alone") and worker_cores.get("with viewers"):
                # Fewer images/s is either fewer cores (taken by the server and the browsers) or less work
                # per core (TensorFlow's threads waiting for each other on a busy machine): both printed.
                per_core = {k: (worker_rate.get(k) or 0) / worker_cores[k] for k in ("alone", "with viewers")}
                if server_cpus:  # alone it had the same CPUs, and the browsers take none of them
                    ceiling = ""
                else:
                    share = max(0.0, (os.cpu_count() or 1) - (args.browser_cores if group.active else 0)) / max(
                        worker_cores["alone"], 1e-9)
                    ceiling = (f" With the browsers' cores taken the worker can keep at most {min(1.0, share):.2f} "
                               f"of its cores alone.")
                print(f"  the worker kept {worker_cores['alone']:g} cores busy alone and {worker_cores['with viewers']:g} "
                      f"with the viewers (server {cpu_used.get('server', 0) / wall:.2f} cores"
                      + (f", browsers on CPU {_cpus_text(browser_cpus)}" if browser_cpus else
                         f", browsers up to {args.browser_cores:g} by their quota" if group.active else "")
                      + f"); images per CPU-second {per_core['alone']:.1f} alone, {per_core['with viewers']:.1f} "
                      f"with the viewers." + ceiling)
        result = {"machine": describe(), "load_average_after": load_average("all"),
                  "viewers": args.viewers, "seconds": args.seconds, "wall_seconds": wall, "cpus": os.cpu_count(),
                  "server_cpus": sorted(server_cpus) or None, "browser_cpus": sorted(browser_cpus) or None,
                  "cpu_split": None if server_cpus else not_split,
                  "browser_group": group.describe(),
                  "browser_cores": None if browser_cpus else args.browser_cores if group.active else None,
                  "browser_throttled_seconds": throttled,
                  "browser_nice": None if group.active else args.browser_nice, "think_seconds": args.think,
                  "summary": rows, "server_summary": server_summary, "server_steps": steps, "server_runs": server_rows,
                  "cpu_seconds": cpu_used, "errors": errors, "records": records, "worker_images_per_second": worker_rate,
                  "worker_ratio": ratio, "worker_ratio_to_every_cpu": ratio_everywhere,
                  "worker_cores": worker_cores, "py_spy": profiled,
                  "training_run": {k: run_progress.get(k) for k in ("status", "epoch", "step", "images_per_second")}
                  if run_progress else None}
        # The browsers stand in for laptops. When they kept their own CPU(s) busy, their times are set by
        # that CPU, not by the server: their view is then shown but not judged (the server's own times are).
        browser_cpu_allowed = len(browser_cpus) if browser_cpus else args.browser_cores if group.active else None
        browsers_busy = (round(cpu_used["browsers"] / (wall * browser_cpu_allowed), 2)
                         if browser_cpu_allowed and "browsers" in cpu_used and wall > 0 else None)
        browsers_starved = browsers_busy is not None and browsers_busy >= BROWSERS_STARVED
        result.update(browsers_busy=browsers_busy, browsers_starved=browsers_starved)
        out = Path(args.json) if args.json else workdir / "load_viewers.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=str))
        print(f"results: {out}")
        ok_pages = not page_errors
        ok_browser = not driver_errors and overall["stuck"] == 0 and (overall["p95_s"] or 0) <= args.p95_limit
        ok_server = server_summary is None or (
            server_summary["p95_s"] <= args.p95_limit
            and all(page["p95_s"] <= args.p95_limit for page in server_summary["pages"].values()))
        ok_worker = ratio is None or ratio >= 0.5
        busy_text = ("" if browsers_busy is None else
                     f"; they kept {browsers_busy:.0%} of their {browser_cpu_allowed:g} CPU(s) busy")
        print(f"page errors: {'PASS' if ok_pages else 'FAIL'} ({len(page_errors)}); in the server: "
              f"{'PASS' if ok_server else 'FAIL'} (p95 limit {args.p95_limit:.1f} s overall and per page); "
              f"training worker: {'PASS' if ok_worker else 'FAIL'} (>= 0.5 of its images/s alone); in the browsers: "
              f"{'PASS' if ok_browser else 'FAIL'} (p95 limit, nothing stuck, no driver time-out{busy_text}"
              + (f": starved, {BROWSERS_STARVED:.0%} or more, so not judged)" if browsers_starved else ")"))
        return 0 if ok_pages and ok_server and ok_worker and (ok_browser or browsers_starved) else 1
    finally:
        if run_id:
            try:
                stop_run(run_id)
            except Exception:  # noqa: BLE001
                pass
        if server is not None:
            dashboard_support.stop_dashboard(server)
        group.close()
        if not args.json and not args.url:
            # keep the JSON (it was printed), drop the dataset and runs
            for name in ("data", "runs", "cache"):
                shutil.rmtree(workdir / name, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
