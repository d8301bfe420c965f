"""Page render times: each dashboard page through Streamlit's AppTest, first and warm.

For every page in ``pages/`` the
dashboard script is run with that page selected: the first run pays the caches
(dataset statistics, model loading, figures), the following ones are what a
student waits for when coming back to the page. The figure reported is the median
of the warm runs of ``at.run()`` - the whole script, navigation and sidebar
included, without the browser's drawing and the network.

    python benchmarks/bench_pages.py            # 3 warm runs per page
    python benchmarks/bench_pages.py --quick    # 1 warm run per page

The pages read the machine's own data, runs and caches (the synthetic default,
the shipped demo model), like the dashboard does. ``run()`` returns the rows for
``benchmarks/run_all.py``, each with the 1-minute load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from machine import load_average  # benchmarks/ is on the path (script or run_all)

ROOT = Path(__file__).resolve().parent.parent

TIMEOUT = 300


def page_files() -> list[str]:
    return sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py")


def _timed(at) -> float:
    started = time.perf_counter()
    at.run()
    return time.perf_counter() - started


def run(quick: bool = False, repeats: int | None = None) -> list[dict]:
    """Median warm ``at.run()`` seconds per page, with the first (cold) run beside it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from streamlit.testing.v1 import AppTest

    repeats = repeats or (1 if quick else 3)
    rows = []
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)
    at.run()
    for name in page_files():
        load = load_average()
        at.switch_page(f"pages/{name}")
        first = _timed(at)
        warm = [_timed(at) for _ in range(repeats)]
        problems = [str(e.value)[:120] for e in at.exception]
        median = statistics.median(warm)
        rows.append({
            "benchmark": f"render {name}",
            "value": round(median, 3),
            "unit": "s",
            "first_s": round(first, 3),
            "repeats": repeats,
            "target": None,
            "ok": False if problems else None,
            "load_1min": load,
            "note": (f"first run {first:.2f} s; median of {repeats} warm runs"
                     + (f"; EXCEPTION: {problems[0]}" if problems else "")),
        })
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'page':<20}{'warm s':>8}{'first s':>9}  load")
    for row in rows:
        print(f"{row['benchmark'][7:]:<20}{row['value']:>8.2f}{row['first_s']:>9.2f}  {row['load_1min']}"
              + ("  EXCEPTION" if row["ok"] is False else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int)
    arguments = parser.parse_args()
    print_table(run(arguments.quick, arguments.repeats))
