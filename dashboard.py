"""Entry point: ``streamlit run dashboard.py``.

Builds the navigation over the pages in ``pages/`` and runs the selected one.
"""

import streamlit as st

st.set_page_config(page_title="Semantic segmentation lab", page_icon="🧩", layout="wide")

home = st.Page("pages/home.py", title="Home", icon="🏠", default=True)
st.navigation([home]).run()
