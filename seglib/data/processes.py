"""Work on many files in other processes: a pool for speed, and isolated children that survive a crash.

``map_in_processes`` spreads a function over a process pool when there is
enough work (decoding a whole dataset). ``run_isolated`` runs chunks of work in
plain child processes (``python -m seglib.data.processes JOB OUT``), not a
multiprocessing pool: they never re-import the caller's main file (a Streamlit
page) and inherit no threads (TensorFlow's, the server's). Before each file a
child marks which one it reads (``mark_reading``), so when it dies of a native
crash, which no Python ``except`` can catch, a ``DatasetError`` names that file
and the caller lives on.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Callable

from seglib.errors import DatasetError


def available_cpus() -> int:
    """CPU cores this process may run on (respects taskset / container limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def map_in_processes(function, items: list, workers: int | None = None, minimum_per_worker: int = 200) -> list:
    """Map in worker processes when there is enough work, else in this process."""
    workers = workers or available_cpus()
    if workers <= 1 or len(items) < 2 * minimum_per_worker:
        return [function(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            return list(pool.map(function, items, chunksize=max(1, len(items) // (8 * workers))))
    except BrokenProcessPool:
        # A worker died (a native crash in a decoder): doing the same work in
        # this process would take it down too.
        raise DatasetError("A worker process died while decoding the files (a crash in a native decoder). "
                           "Check the folder in smaller parts to find the file, and remove or re-export it."
                           ) from None
    except (OSError, RuntimeError):  # no processes allowed here: do it serially
        return [function(item) for item in items]


def mark_reading(trail: str | None, index: int | None) -> None:
    """Leave the index of the file this process is reading (None: none) where ``run_isolated`` finds it.

    ``trail`` is the last item of each task ``run_isolated`` hands out (None: not isolated, no mark).
    """
    if trail:
        try:
            with open(os.path.join(trail, str(os.getpid())), "w") as file:
                file.write("" if index is None else str(index))
        except OSError:
            pass


def run_isolated(function: Callable, tasks: list[tuple], workers: int, *, describe: Callable[[int], str] = str,
                 doing: str = "The work") -> list:
    """``function(task)`` for every task in ``workers`` child processes; the items of the returned lists,
    sorted by their first element (the file's index).

    The last item of each task is replaced by the folder where the children
    mark the file they read (``mark_reading``). ``doing`` starts the messages
    ("Computing the statistics of ..."); ``describe(index)`` names a file.
    An exception in a child is raised here; a child's death is a
    ``DatasetError`` naming the file it was reading. Where no process may be
    started, the tasks run in this process.
    """
    trail = tempfile.mkdtemp(prefix="seglib-stats-")
    try:
        marked = [(*task[:-1], trail) for task in tasks]  # children mark each file before reading it
        groups = [marked[i::workers] for i in range(min(workers, len(marked)))]
        try:
            children = [_start_child(function, trail, number, group) for number, group in enumerate(groups)]
        except OSError:  # no processes allowed here: do it in this process
            return [item for task in tasks for item in function(task)]
        results, died = [], []
        try:
            for number, child in enumerate(children):
                child.wait()
                if child.returncode != 0:
                    died.append((child, _marks(trail, child.pid)))
                    continue
                status, value = _read_result(os.path.join(trail, f"{number}.out"))
                if status == "error":
                    raise value
                results.extend(value)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        if died:
            child, reading = died[0]
            signal_name = _signal_name(child.returncode)
            if reading is None:
                raise DatasetError(
                    f"{doing} failed: its worker process died ({signal_name}) before it read a mask (out of "
                    "memory, or killed?). Try again; if it keeps failing, tell the machine's owner.")
            raise DatasetError(
                f"{doing} crashed in a worker process ({signal_name}) while reading {describe(reading)}: a "
                "native crash in the image decoder or analysis. The dashboard is unharmed. Run `python -m "
                "seglib data check` on the folder, then re-export or remove that file.")
        return sorted(results, key=lambda item: item[0])  # the children took every n-th chunk
    finally:
        shutil.rmtree(trail, ignore_errors=True)


def _start_child(function: Callable, trail: str, number: int, tasks) -> subprocess.Popen:
    job = os.path.join(trail, f"{number}.in")
    with open(job, "wb") as file:
        pickle.dump((function, tasks), file, protocol=pickle.HIGHEST_PROTOCOL)  # the function by its name
    out = os.path.join(trail, f"{number}.out")
    return subprocess.Popen([sys.executable, "-m", "seglib.data.processes", job, out],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, close_fds=True)


def _child(job: str, out: str) -> None:
    """The child's side: run the chunks of ``job``, write ("ok", results) or ("error", exception)."""
    try:
        with open(job, "rb") as file:
            function, tasks = pickle.load(file)
        outcome = ("ok", [item for task in tasks for item in function(task)])
    except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
        outcome = ("error", error)
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: keep its words
        data = pickle.dumps(("error", RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    with open(out + ".tmp", "wb") as file:
        file.write(data)
    os.replace(out + ".tmp", out)


def _read_result(path: str):
    try:
        with open(path, "rb") as file:
            return pickle.load(file)
    except (OSError, EOFError, pickle.UnpicklingError) as error:
        return "error", DatasetError(f"The statistics worker left no readable result ({error}); try again.")


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _marks(trail: str, pid: int) -> int | None:
    """The index of the file child ``pid`` was reading when it died (None: none)."""
    try:
        with open(os.path.join(trail, str(pid))) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
