"""The machine a benchmark ran on, quoted with every figure: its CPU model and its load.

Machines of one class differ (a 2-core Xeon and a 2-core AMD EPYC trained the
lecture preset at 31 and 14.5 images/s), so a figure means little without them.
"""

from __future__ import annotations

import contextlib
import os
import platform
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


def describe() -> str:
    """One line: CPU model and the cores this process may use."""
    return f"{cpu_model()}, {os.cpu_count()} CPUs"
