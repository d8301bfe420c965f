"""Custom Streamlit components that run in the reader's browser (``st.components.v2``).

``browser`` mounts them; their JavaScript files sit in this folder and are passed
inline, so they work offline with no build step: the lab's answers kept in the
browser's ``localStorage``, the scroll to the section an exercise link names, and the
download of every chart for a slide.
"""
