"""Streamlit parts shared by the Exercises page and the exercise side panel of
the other pages (not pages themselves, hence outside ``pages/``).

* ``browser``: two small custom components (``st.components.v2``, JavaScript
  files in this folder, no network): the answers kept in the browser's
  ``localStorage``, and the scroll to the section an exercise link names.
* ``lab``: the facts the checks need (cached), the answers in the session, the
  answer boxes and the side panel.

The questions, checks and export live in ``seglib.lab.exercises``; these modules
only draw them.
"""
