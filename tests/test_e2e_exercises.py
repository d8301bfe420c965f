"""Headless Chromium on the real dashboard: a student answers questions on the
Exercises page, sees the feedback, downloads the answers, finds them again after
a reload and in a new tab (they are kept in the browser), and follows every
exercise link to the section that answers it, where the same questions wait in
the sidebar. No computed answer reaches the student's screen before they answer.

The expected answer comes from the model's configuration (the untrained
lecture preset chosen through the URL), not from a constant.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seglib.lab import exercises as ex
from seglib.lab import saving as lab_saving
from seglib.presets import get_preset
from browser_support import screenshot_dir, settle

pytestmark = pytest.mark.e2e

MODEL = "untrained:lecture"


def test_answer_a_question_and_download_the_answers(dashboard_url, page, session_tmp):
    channels = get_preset("lecture").model.num_classes
    page.goto(f"{dashboard_url}/exercises?exercise=13-3&model={MODEL}")
    settle(page)
    assert page.get_by_text("Exercise 13-3", exact=False).first.is_visible()

    page.get_by_label("Your name (goes into the exported file)").fill("Ada Lovelace")
    page.get_by_label("Your name (goes into the exported file)").press("Enter")
    box = page.get_by_label("How many channels does the last layer output?")
    box.fill(str(channels + 3))
    box.press("Enter")
    page.locator('[data-testid="stAlert"]', has_text="Not yet").first.wait_for(timeout=60_000)
    box.fill(str(channels))
    box.press("Enter")
    page.locator('[data-testid="stAlert"]', has_text=f"Correct: {channels}").first.wait_for(timeout=60_000)
    settle(page)
    page.screenshot(path=str(screenshot_dir(session_tmp) / "exercises.png"))

    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("button", name="Download my answers (Markdown)").click()
    download = download_info.value
    assert download.suggested_filename == "segmentation-lab-answers.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert f"**Answer:** {channels}" in text
    assert "*Checked: correct.*" in text and "Computed value" not in text  # no answer key in a student's file
    assert "**Dataset:** synthetic" in text and "Untrained: lecture" in text
    assert "- **Student:** Ada Lovelace" in text and re.search(r"- \*\*Date:\*\* \d{4}-\d{2}-\d{2}", text)
    assert lab_saving.parse_answers_markdown(text).answers["output_channels"] == str(channels)
    assert not page.js_errors, page.js_errors


def _commit_text_area(page, label: str, text: str) -> None:
    """Type into a text area and commit it the way a student does (Ctrl+Enter)."""
    area = page.get_by_label(label)
    area.fill(text)
    area.press("Control+Enter")
    settle(page)


def test_answers_survive_a_reload_and_a_closed_tab(dashboard_url, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{dashboard_url}/exercises?exercise=13-1&model={MODEL}")
        settle(page)
        label = next(q for q in ex.build_exercises({})[0].questions if q.key == "labels_meaning").text
        _commit_text_area(page, label, "The face sits below the hair.")
        page.wait_for_function(
            "() => (localStorage.getItem('seglib-lab-answers') || '').includes('below the hair')", timeout=30_000)

        page.reload()
        settle(page)
        page.wait_for_function(
            "(label) => { const a = [...document.querySelectorAll('textarea')]"
            ".find(t => t.getAttribute('aria-label') === label); return a && a.value.includes('below the hair'); }",
            arg=label, timeout=30_000)
        page.close()

        tab = context.new_page()  # the tab was closed; a new one on the same browser
        tab.goto(f"{dashboard_url}/exercises?exercise=13-1&model={MODEL}")
        settle(tab)
        assert tab.get_by_label(label).input_value() == "The face sits below the hair."
    finally:
        context.close()


def _in_view(page, anchor: str) -> bool:
    return page.evaluate(
        "(id) => { const e = document.getElementById(id); if (!e) return false;"
        " const r = e.getBoundingClientRect(); return r.top >= -2 && r.top < window.innerHeight * 0.6; }", anchor)


def test_every_exercise_link_lands_on_its_section(dashboard_url, page, session_tmp):
    """Two clicks from the Exercises page (the exercise, then its link) reach every view
    that answers a question: the link lands on that section's heading, and the page's
    sidebar shows the exercise's questions."""
    page.goto(f"{dashboard_url}/exercises?model={MODEL}")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    visited = []
    for exercise in ex.build_exercises({}):
        for link in exercise.links:
            main.get_by_role("radio", name=exercise.key, exact=True).click()  # click 1: the exercise
            settle(page)
            main.get_by_role("link", name=link.label).first.click()  # click 2: its link
            page.wait_for_url(re.compile(rf"/{link.page.removesuffix('.py')}\?.*section={link.anchor}"),
                              timeout=60_000)
            settle(page)
            heading = page.locator(f"#{link.anchor}")
            heading.wait_for(state="attached", timeout=60_000)
            page.wait_for_function(
                "(id) => { const e = document.getElementById(id); if (!e) return false;"
                " const r = e.getBoundingClientRect(); return r.top >= -2 && r.top < window.innerHeight * 0.6; }",
                arg=link.anchor, timeout=20_000)
            assert _in_view(page, link.anchor), (exercise.key, link.anchor)
            sidebar = page.locator('[data-testid="stSidebar"]')
            assert sidebar.get_by_text(f"Exercise {exercise.key}: {exercise.title}").first.is_visible()
            page.screenshot(path=str(screenshot_dir(session_tmp) / f"exercise-{exercise.key}-{link.anchor}.png"))
            visited.append((exercise.key, link.anchor))
            # Back through the panel's own link (the same session).
            sidebar.get_by_role("link", name="All questions of this exercise").first.click()
            page.wait_for_url(re.compile(r"/exercises"), timeout=60_000)
            settle(page)
    assert len(visited) == sum(len(e.links) for e in ex.build_exercises({}))
    assert not page.js_errors, page.js_errors


def test_presentation_mode_screenshot(dashboard_url, page, session_tmp):
    page.goto(f"{dashboard_url}/exercises?exercise=13-4&model={MODEL}&present=1")
    settle(page)
    page.screenshot(path=str(screenshot_dir(session_tmp) / "exercises-present.png"))
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("Presentation mode").is_visible()
    assert sidebar.locator('input[type="checkbox"]').last.is_checked()
    title_size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    assert title_size >= 40, title_size
    page.screenshot(path=str(screenshot_dir(session_tmp) / "exercises-present.png"))
    assert not page.js_errors, page.js_errors


def _computed_answers(tiny_dataset) -> dict[str, list[str]]:
    """What the reasoning checks expect for the sidebar's dataset and the untrained lecture model, computed
    here with seglib as the page computes them, in the forms a page could print them."""
    from seglib.data.dataset import open_dataset
    from seglib.data.stats import dataset_stats
    from seglib.lab import checks as lab_checks
    from seglib.lab import facts as lab_facts

    numbers = {**lab_facts.dataset_numbers(dataset_stats(open_dataset(tiny_dataset), split="train")),
               **lab_checks.config_numbers(get_preset("lecture").model)}
    written = {}
    for key in ("all_background_accuracy", "all_background_mean_iou", "rare_weight_ratio", "output_values"):
        value = float(numbers[key])
        written[key] = sorted({f"{value:.2f}", f"{value:.3f}", f"{value:,.0f}", f"{value:.1%}"}
                              - {"0", "1", "0.00", "1.00", "0.0%"})
    return written


def _screen(page) -> str:
    """All the text of the page a student sees, main area and sidebar, labels included."""
    return page.evaluate("() => document.body.innerText")


def test_a_students_screen_never_shows_a_computed_answer_before_answering(dashboard_url, page, tiny_dataset,
                                                                         session_tmp):
    expected = _computed_answers(tiny_dataset)
    page.goto(f"{dashboard_url}/exercises?exercise=13-1&model={MODEL}")
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    for exercise in ex.build_exercises({}):
        main.get_by_role("radio", name=exercise.key, exact=True).click()
        settle(page)
        main.get_by_text(f"Exercise {exercise.key}:").first.wait_for(timeout=60_000)
        screen = _screen(page)
        assert not page.locator('[data-testid="stDataFrame"], [data-testid="stTable"]').count(), exercise.key
        for key, forms in expected.items():
            assert not [form for form in forms if form in screen], (exercise.key, key, forms)
    # Typing the right answer is not answering: nothing is checked, and no value or model answer shows.
    main.get_by_role("radio", name="13-3", exact=True).click()
    settle(page)
    question = next(q for q in ex.build_exercises({})[2].questions if q.key == "output_values")
    box = page.get_by_label(question.text.split(" one ")[0], exact=False).first
    right = expected["output_values"][0]
    box.fill(right)
    page.get_by_text("Exercise 13-3:").first.click()  # the box loses the focus, as when a student clicks away
    settle(page)
    assert not page.locator('[data-testid="stAlert"]', has_text="Correct").count()
    assert "Model answer" not in _screen(page)
    page.screenshot(path=str(screenshot_dir(session_tmp) / "exercise-typed-not-checked.png"))
    # Checked on purpose (the Check button): now the verdict, and the worked answer.
    main.locator('[data-testid="stForm"]', has=box).get_by_role("button", name="Check").click()
    page.locator('[data-testid="stAlert"]', has_text="Correct").first.wait_for(timeout=60_000)
    assert "Model answer" in _screen(page)
    assert not page.js_errors, page.js_errors
