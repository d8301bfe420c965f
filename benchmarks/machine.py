"""The machine a benchmark ran on, quoted with every figure: its CPU model and its load.

Machines of one class differ (a 2-core Xeon and a 2-core AMD EPYC trained the
lecture preset at 31 and 14.5 images/s), so a figure means little without them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from pathlib import Path


def load_average(minutes: str = "1") -> str:
    """The load average: ``"1"`` the 1-minute figure, ``"all"`` the 1 / 5 / 15-minute ones ("?" if unknown)."""
    try:
        loads = os.getloadavg()
    except OSError:
        return "?"
    return " / ".join(f"{x:.2f}" for x in loads) if minutes == "all" else f"{loads[0]:.2f}"


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` shows it (from /proc/cpuinfo; ``platform`` elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (those still alive)."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def browser_pids() -> set[int]:
    """This process's Chromium children (the browser and its renderers, GPU and utility processes)."""
    import psutil

    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name().lower():
                pids.add(child.pid)
        except psutil.Error:  # exited meanwhile
            continue
    return pids


def describe() -> str:
    """One line: CPU model and the cores this process may use."""
    return f"{cpu_model()}, {os.cpu_count()} CPUs"


def browser_as_desktop_user(chromium: str, folder: Path) -> str:
    """The Chromium to launch so that it gets the CPU priority it has on a desktop.

    Run as root (containers, CI), Chromium raises its browser and GPU threads to nice -8, above
    everything else on the machine; a desktop user's Chromium cannot (no CAP_SYS_NICE) and stays at
    nice 0. As root on Linux this writes a wrapper into ``folder`` that starts ``chromium`` without
    that capability (``setpriv``); elsewhere it returns ``chromium`` itself.
    """
    setpriv = shutil.which("setpriv")
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and setpriv):
        return chromium
    wrapper = Path(folder) / "chromium-as-desktop-user"
    wrapper.write_text(f'#!/bin/sh\nexec "{setpriv}" --bounding-set -sys_nice --inh-caps -sys_nice '
                       f'"{chromium}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, linearly interpolated between ranks (None for no values)."""
    if not values:
        return None
    values = sorted(values)
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)
