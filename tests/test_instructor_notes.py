"""The instructor notes: every tour link opens a page with URL parameters that page reads, the
notes say true things, and presentation mode keeps the captions (issue K items 4 and 5)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from apptest_support import open_app
from ui import instructor, registry

LINK = re.compile(r"\]\(([a-z]+)(\?[^)#]*)?(#[^)]*)?\)")
ROOT = Path(__file__).resolve().parent.parent


def _ui_imports(path: Path) -> set[str]:
    """The ``ui`` modules a file imports (``from ui import x`` and ``from ui.x import y``)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "ui":
            modules |= {f"ui.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ui."):
            modules.add(node.module)
    return modules


def _page_source(path: Path) -> str:
    """A page's source and that of its own parts: the ``ui`` modules it imports that no other page imports
    (``ui.atrous``, ``ui.predictions.view``...; a page's widgets may live there). Shared modules such as
    ``ui.why_pixel`` do not count: a key they name is not read by this page."""
    others = set().union(*(_ui_imports(other) for other in path.parent.glob("*.py") if other != path))
    sources = [path.read_text(encoding="utf-8")]
    for module in sorted(_ui_imports(path) - others):
        base = ROOT.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                sources.append(candidate.read_text(encoding="utf-8"))
    return "\n".join(sources)


def _links() -> list[tuple[str, dict[str, str], str]]:
    text = instructor.INSTRUCTOR_NOTES.read_text(encoding="utf-8")
    return [(page, dict(parse_qsl((query or "")[1:])), (anchor or "")[1:]) for page, query, anchor in LINK.findall(text)]


def test_every_link_opens_a_page_with_parameters_it_reads():
    links = _links()
    assert len(links) >= 6
    pages = {page.url_path: page for page in registry.PLANNED_PAGES}
    for page, params, anchor in links:
        assert page in pages, page
        source = _page_source(pages[page].path)
        for key in params:
            assert f'"{key}"' in source, f"{page} does not read ?{key}="
        if anchor:
            assert f'anchor="{anchor}"' in source, f"{page} has no anchor #{anchor}"
    linked = {page for page, _, _ in links}
    assert {"atrous", "dataset", "model"} <= linked


@pytest.mark.slow
def test_the_atrous_tour_link_selects_the_person(tiny_dataset):
    _, params, _ = next(link for link in _links() if link[0] == "atrous" and "atrous_row" in link[1])
    at = open_app("pages/atrous.py", query=params)
    assert (at.slider(key="atrous_row").value, at.slider(key="atrous_column").value) == (
        int(params["atrous_row"]), int(params["atrous_column"]))


def test_the_notes_say_what_proves_what():
    model = instructor.instructor_notes_for("model")
    assert "parameter count stays the same" in model
    assert "proves nothing" in model and "show that the output follows it" not in model
    predictions = instructor.instructor_notes_for("predictions")
    assert "classes with near ids look alike" in predictions
    assert "Each ASPP branch has its own 3 × 3 weights" in instructor.instructor_notes_for("atrous")


def test_presentation_mode_keeps_the_captions_larger():
    from ui.streamlit_workarounds import PRESENT_CSS as css  # presentation mode's style
    hidden = " ".join(re.findall(r"([^{}]*)\{\s*display:\s*none", css))
    assert "stExpander" in hidden and "stCaptionContainer" not in hidden
    assert re.search(r'stCaptionContainer"\] \{ font-size: 1\.1rem !important; \}', css)
