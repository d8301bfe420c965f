"""The Training page in headless Chromium against the real dashboard.

Fill a tiny config, click Start, watch the progress bar advance and the loss
chart draw, reload the page (the same run is still there: it belongs to the
machine, not the tab), then Stop and see the run stopped. The worker is the
real ``python -m seglib train`` process; whatever the test leaves running is
stopped, then killed, at the end.
"""

from __future__ import annotations

import re

import pytest

from browser_support import no_problems, screenshot, settle
from dashboard_support import wait_until
from run_support import end_workers
from seglib.training.runs import folders, readers, state


pytestmark = pytest.mark.e2e

#: Label -> value of the tiny run (32 px, 8 images, batch 4: 2 steps per epoch, many epochs so it
#: is still training when the test stops it).
TINY = {"Image size (px)": "32", "Batch size": "4", "Training images": "8", "Validation images": "4",
        "Epochs": "400"}
MODEL = {"ASPP filters": "16", "Decoder filters": "16"}
RUN_NAME = "e2e tiny run"


def _set(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    settle(page, timeout=90, quiet=0.3)


def _progress_text(page) -> str:
    bars = page.locator('[data-testid="stProgress"]')
    return bars.first.inner_text() if bars.count() else ""


@pytest.fixture()
def no_worker_left():
    yield
    end_workers(wait=15)


def test_start_watch_reload_and_stop(dashboard_url, page, session_tmp, no_worker_left):
    page.goto(f"{dashboard_url}/training")
    page.get_by_text("Start a new run").first.wait_for(timeout=120_000)
    settle(page, timeout=120, quiet=0.3)
    no_problems(page)
    start = page.get_by_role("button", name="Start training")
    # The form's expander is open while no run exists; open it only if it is closed
    # (a blind click would close it again).
    form = page.locator('[data-testid="stExpander"] details').filter(has_text="Start a new run").first
    if form.get_attribute("open") is None:
        form.locator(":scope > summary").click()  # not the summary of an expander inside the form
    start.wait_for(timeout=60_000)

    for label, value in TINY.items():
        _set(page, label, value)
    page.get_by_text("Model size and augmentation").click()
    for label, value in MODEL.items():
        _set(page, label, value)
    _set(page, "Run name", RUN_NAME)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"[?&]run="), timeout=60_000)
    run_id = re.search(r"[?&]run=([^&]+)", page.url).group(1)
    settle(page, timeout=120, quiet=0.3)  # the URL changes before the page shows the new run
    assert state.training_config(folders.run_dir(run_id)).model.image_size == 32
    assert readers.read_meta(folders.run_dir(run_id))[0]["name"] == RUN_NAME

    # The progress bar moves past step 0 (after the compiling phase), with no reload.
    seen_phases = set()

    def advanced() -> bool:
        text = _progress_text(page)
        seen_phases.update(p for p in ("starting", "compiling", "training") if p in text)
        return bool(re.search(r"step [1-9]\d* / 2", text) or re.search(r"Epoch ([2-9]|\d{2,})\b", text))

    wait_until(advanced, 180, message=lambda: f"the progress bar never advanced: {_progress_text(page)!r}\n"
                                               f"{readers.read_log(folders.run_dir(run_id))[-3000:]}")
    assert seen_phases & {"starting", "compiling"}, seen_phases
    screenshot(page, session_tmp, "training-progress.png")

    # The loss chart draws once the first epoch ends.
    loss_chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="training loss")
    loss_chart.first.wait_for(timeout=90_000)
    # The epoch's charts are redrawn when the epoch's files change (one page rerun): wait for both curves.
    loss_chart.first.locator(".scatterlayer .trace").nth(1).wait_for(state="attached", timeout=90_000)
    assert loss_chart.first.locator(".scatterlayer .trace").count() >= 2
    no_problems(page)
    screenshot(page, session_tmp, "training-charts.png")

    # A reload shows the same run, still live.
    page.reload()
    page.get_by_text("Live view").first.wait_for(timeout=120_000)
    assert f"run={run_id}" in page.url
    page.get_by_text(run_id).first.wait_for(timeout=60_000)
    page.get_by_text(RUN_NAME).first.wait_for(timeout=30_000)  # the run picker shows its name
    assert state.run_state(run_id)["status"] == "running"

    # Stop: the page shows the run stopped, and the worker is gone.
    # Scoped to the page body: Streamlit's own header shows a "Stop" button while
    # a script run is in progress, and an unscoped locator would match both.
    main = page.get_by_test_id("stMainBlockContainer")
    stop = main.get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=30_000)
    stop.click()
    wait_until(lambda: "stopped" in _progress_text(page), 90, message=lambda: _progress_text(page))
    assert state.run_state(run_id)["status"] == "stopped"
    assert main.get_by_role("button", name="Resume", exact=True).count() == 1
    no_problems(page)
    screenshot(page, session_tmp, "training-stopped.png")
