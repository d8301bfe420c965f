"""The lecture-hall harness (``benchmarks/load_viewers.py``) keeps the browsers off the server's CPUs.

The split decides what its figures mean (the worker alone and with the viewers on the same CPUs, the
browsers on the others), so its choice of CPUs is pinned here; the harness itself is a benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # load_viewers imports its neighbours by name
    import load_viewers

    return load_viewers


def test_a_cpu_list_is_read_as_the_kernel_writes_it(harness):
    assert harness._cpu_list("0") == {0}
    assert harness._cpu_list("0,2-3") == {0, 2, 3}
    with pytest.raises(ValueError):
        harness._cpu_list("first")


def test_no_split_is_made_where_it_cannot_mean_anything(harness):
    for spec, own_server in (("all", True), ("auto", False)):
        server, browsers, why_not = harness.cpu_split(spec, own_server)
        assert server == browsers == set() and why_not


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two usable CPUs")
def test_auto_gives_the_server_the_first_half_and_the_browsers_the_rest(harness):
    usable = sorted(os.sched_getaffinity(0))
    server, browsers, why_not = harness.cpu_split("auto", own_server=True)
    assert why_not is None
    assert server == set(usable[:len(usable) // 2]) and browsers == set(usable) - server
    assert server and browsers and not server & browsers


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs CPU affinity")
def test_a_split_the_machine_cannot_give_is_refused_with_its_cpus(harness):
    usable = sorted(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="usable"):
        harness.cpu_split(str(max(usable) + 1), own_server=True)
    if len(usable) >= 2:
        with pytest.raises(ValueError, match="no CPU for the browsers"):
            harness.cpu_split(",".join(map(str, usable)), own_server=True)
