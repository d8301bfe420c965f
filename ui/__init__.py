"""The Streamlit side of the dashboard that the pages share (not pages: nothing here has a URL).

One module per concern: ``page`` (the header every page opens with), ``registry``
(page titles, links and which exercises each page answers), ``url_state`` (widget
values mirrored in the address bar), ``datasets`` and ``models`` (cached loaders and
the sidebar's choices), ``palette``, ``instructor`` (the passcode gate, notes and
presentation mode), ``sidebar``, ``drawing`` (figures, legends and error messages),
``markdown`` (user strings written into Markdown), ``stamps`` (cache keys of files; a
model's key in every cache is ``models.model_key``),
``prewarm``, ``run_times``, ``lab`` and ``components`` (the exercises' answer boxes
and browser components), ``uploads`` (the one image upload widget), ``selection`` (what a
viewer clicked in a chart or selected in a table), a page's own parts (``training``,
``classroom``, ``predictions``: packages; ``atrous``, ``explorer`` for the Dataset explorer,
``model``, ``playground``), ``why_pixel`` (the
Predictions page's "why this pixel" and its links to the Atrous page), ``shared_work``
(heavy results computed once per server and kept for every session) and
``streamlit_workarounds`` (every patch of Streamlit's or Keras's internals).

The logic lives in ``seglib``; these modules wire Streamlit to it.
"""
