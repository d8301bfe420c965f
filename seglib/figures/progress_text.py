"""How a run's progress reads on the training page: the progress bar's share and
label, the worker's start-up steps, and durations, from ``progress.json``.

>>> format_duration(75), progress_label({"status": "running", "phase": "training", "epochs": 12,
...                                      "epoch": 3, "steps_per_epoch": 63, "step": 40})
('1 min 15 s', 'Epoch 3 / 12 · step 40 / 63 · training')
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

def format_duration(seconds: float | None) -> str:
    """``75`` -> ``'1 min 15 s'``; ``None`` or a non-number -> ``'—'``."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_fraction(progress: Mapping[str, Any]) -> float:
    """Share of the run's optimizer steps done, in [0, 1], from ``progress.json``.

    Epoch ``e`` at step ``s`` of ``S`` in a run of ``E`` epochs is
    ``((e - 1) * S + s) / (E * S)``; a finished run is 1.
    """
    if progress.get("status") == "finished":
        return 1.0
    epochs = _int(progress.get("epochs"))
    epoch = _int(progress.get("epoch"))
    steps = _int(progress.get("steps_per_epoch"))
    step = _int(progress.get("step"))
    if epochs <= 0 or epoch <= 0 or steps <= 0:
        return 0.0
    done = (epoch - 1) * steps + min(step, steps)
    return float(min(1.0, max(0.0, done / (epochs * steps))))


def progress_label(progress: Mapping[str, Any]) -> str:
    """One line for the progress bar: ``'Epoch 3 / 12 · step 40 / 63 · training'``."""
    status = str(progress.get("status") or "")
    phase = str(progress.get("phase") or "")
    epochs = _int(progress.get("epochs"))
    epoch = _int(progress.get("epoch"))
    steps = _int(progress.get("steps_per_epoch"))
    step = _int(progress.get("step"))
    if status == "queued":
        position = progress.get("queue_position")
        return f"Queued (position {position})" if position else "Queued"
    parts = []
    if epochs:
        parts.append(f"Epoch {max(epoch, 0)} / {epochs}")
    if steps:
        parts.append(f"step {min(step, steps)} / {steps}")
    if status in ("running", "stopping") and phase:
        parts.append(phase)
    elif status:
        parts.append(status)
    return " · ".join(parts) if parts else status


def startup_text(progress: Mapping[str, Any], elapsed: float) -> str:
    """The worker's start-up steps as Markdown: the done ones with their seconds, the current one running.

    ``progress["startup_steps"]`` is ``[[name, seconds since the worker started], ...]`` (written by
    the worker as each step begins); ``elapsed`` is the seconds since it started.

    >>> print(startup_text({"startup_steps": [["starting the worker", 0], ["importing TensorFlow", 0.6]]}, 2.5))
    :material/check: starting the worker (0.6 s) · :material/progress_activity: **importing TensorFlow** (1.9 s so far)
    """
    steps = []
    for item in progress.get("startup_steps") or []:
        if (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (int, float)) and math.isfinite(item[1])):
            # The run folder is untrusted: a step name keeps letters, digits and plain punctuation only.
            steps.append((re.sub(r"[^A-Za-z0-9 ,.()-]", "", item[0])[:80], float(item[1])))
    if not steps:
        return f"{elapsed:.0f} s so far."
    parts = [f":material/check: {name} ({later - began:.1f} s)"
             for (name, began), (_, later) in zip(steps, steps[1:])]
    name, began = steps[-1]
    parts.append(f":material/progress_activity: **{name}** ({max(elapsed - began, 0.0):.1f} s so far)")
    return " · ".join(parts)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
