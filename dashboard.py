"""Entry point: ``streamlit run dashboard.py`` (or ``make run``).

Builds the navigation over the pages in ``pages/`` (every planned page whose
file exists, in the order of ``pages.common.PLANNED_PAGES``), draws the shared
sidebar (dataset, model, palette) and runs the selected page.
"""

import streamlit as st

st.set_page_config(
    page_title="Semantic segmentation lab",
    page_icon=":material/layers:",
    layout="wide",
    initial_sidebar_state="expanded",
    menu_items={"About": "A teaching dashboard for semantic segmentation with DeepLabV3+ "
                         "on CIHP-style human-part data (20 classes)."},
)

from pages import common  # noqa: E402  (set_page_config must come first)

page = st.navigation(common.navigation_pages())
# The browser tab names the page, so several open tabs stay apart.
st.set_page_config(page_title=f"{page.title} · Segmentation lab")
common.sidebar()
page.run()
