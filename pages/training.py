"""Training: start a run, watch it learn live, compare runs.

The page never trains. ``seglib.training.scheduler.start_run`` launches the training worker
(``python -m seglib train``) as a separate process that writes a run folder;
this page only reads that folder. A reload, a page switch or a second viewer
therefore see the same run, and a crash of training cannot take the page down.
Its parts live in ``ui.training``: the start form, the live view and the runs table.
"""

from __future__ import annotations

import streamlit as st

from seglib.training.runs.state import list_runs
from ui.drawing import error_boundary
from ui.page import page_header
from ui.training import state
from ui.training.live import live_section
from ui.training.runs_table import runs_section
from ui.training.start_form import start_form

page_header(
    "training.py",
    "Training runs in a **worker process** on this machine, not in your browser: a reload, another page "
    "or a second viewer all see the same run, and one run trains at a time (a second one waits in a "
    "queue). Start a run here, watch its curves and predictions improve, and compare runs at the bottom.",
)

if "training_start" not in st.session_state:
    # Streamlit forgets a widget's state once a run of another page did not draw it: the
    # Start button (drawn on every run of this page) is gone, so the user left and came back.
    state.clear_notices()

with error_boundary("Reading the runs folder"):
    infos = list_runs()
labels = state.run_labels(infos)
state.settle_shown_run([info.id for info in infos], state.default_run(infos))

# Open while there is no run yet; afterwards the live view comes first on the screen.
with st.expander("Start a new run", icon=":material/rocket_launch:", expanded=not infos):
    start_form()

live_section(infos, labels)

if infos:
    runs_section(infos, labels, st.session_state.get(state.RUN_KEY))
