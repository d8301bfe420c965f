"""Waiting for something, and starting the real dashboard: the one copy that the tests and the
benchmarks share.

``wait_until(predicate, timeout, interval, message)`` replaces the hand-written deadline loops: it asks
``predicate`` until it answers with something true, returns that, and raises ``TimeoutError(message)``
when ``timeout`` seconds pass first (``message`` may be a function, to say what was seen last).
``start_dashboard`` / ``running_dashboard`` run ``streamlit run dashboard.py`` on a free port and return
once Streamlit answers its health check.

It lives in ``tests/`` (not in ``seglib``, which holds no test code, nor in ``benchmarks/``) because the
tests are the part that always runs: pytest imports it like the other ``*_support`` modules, and the
benchmarks, optional scripts, load it by file (``benchmarks/machine.py``'s ``test_support``), as
``tests/test_memory.py`` loads ``benchmarks/bench_memory.py``; neither edits ``sys.path``. It imports
only the standard library, so a benchmark can load it without pytest.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, Mapping, TypeVar

ROOT = Path(__file__).resolve().parent.parent
#: How long a fresh server may take to answer (a cold Python and Streamlit import on 2 busy cores).
START_TIMEOUT = 120.0

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.5,
               message: str | Callable[[], str] = "the condition did not hold") -> T:
    """``predicate()`` every ``interval`` seconds until it returns something true, which is returned;
    ``TimeoutError(message)`` once ``timeout`` seconds have passed (``message`` may be a callable, asked
    then, to say what was seen last). The predicate is always asked at least once, and once more at the
    deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
    value = predicate()
    if value:
        return value
    text = message() if callable(message) else message
    raise TimeoutError(f"{text} (waited {timeout:g} s)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_dashboard(log_path: Path, env: Mapping[str, str] | None = None,
                    timeout: float = START_TIMEOUT, port: int | None = None) -> tuple[str, subprocess.Popen]:
    """``streamlit run dashboard.py`` on a free port of 127.0.0.1, headless, without file watching or
    usage statistics, with this process's environment plus ``env`` (e.g. ``SEGLIB_INSTRUCTOR_PASSCODE``),
    its output in ``log_path``. Returns ``(url, process)`` once Streamlit answers its health check;
    ``RuntimeError`` with the log's end if it exits first or does not answer within ``timeout`` s."""
    port = port or free_port()  # a given port: a restarted server at the address a browser knows
    log_path = Path(log_path)
    with open(log_path, "wb") as log:  # the server keeps its own copy of the file descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError("streamlit exited:\n" + log_path.read_text(errors="replace")[-3000:])
        return _healthy(url)

    try:
        wait_until(ready, timeout, interval=0.5, message="streamlit did not answer its health check")
    except BaseException as error:
        stop_dashboard(process)
        if isinstance(error, TimeoutError):
            raise RuntimeError(f"{error}:\n" + log_path.read_text(errors="replace")[-3000:]) from None
        raise
    return url, process


def stop_dashboard(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Terminate the server, and kill it if it has not ended after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_dashboard(log_path: Path, env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT,
                      port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """``start_dashboard`` for the length of a ``with`` block, stopped at its end whatever happens."""
    url, process = start_dashboard(log_path, env, timeout, port)
    try:
        yield url, process
    finally:
        stop_dashboard(process)
