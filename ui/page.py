"""The header every page opens with: title, the exercises it answers, one paragraph on why it
exists, and the parts every page gets with it (presentation mode, instructor notes, exercise panel).

A page reads like a description of its UI::

    import streamlit as st
    from ui import datasets, drawing
    from ui.page import page_header

    page_header("dataset.py", "Why this page exists ...")
    with drawing.error_boundary():
        dataset = datasets.current_dataset()

Title, URL path and exercises come from ``ui.registry``.
"""

from __future__ import annotations

import streamlit as st

from ui import instructor, lab
from ui.components import browser
from ui.registry import page_info
from ui.streamlit_workarounds import frontend_code_files, leave_pages_directory_mode


def page_header(file: str, intro: str) -> None:
    """Start the page ``file`` ('dataset.py'): presentation style, the instructor's notes, the title,
    the exercises it answers and ``intro``; then the sidebar panel of those exercises."""
    leave_pages_directory_mode()
    info = page_info(file)
    instructor.apply_presentation_style()
    instructor.instructor_notes(info.url_path)
    st.title(info.page_title)
    if info.exercises:
        st.caption("Answers exercises " + ", ".join(info.exercises) + " of the lab.")
    st.markdown(intro)
    lab.exercise_panel(file)
    # Whatever page comes first: the chart and table code loads while the reader reads (once per tab).
    browser.preload_code(frontend_code_files())
