"""The Predictions page's parts (``pages/predictions.py``): ``view`` (the image shown at the top, a
dataset sample or an upload, its prediction and its panels, through caches shared by every session),
``inspector`` (the pixel inspector, a fragment that a click reruns alone) and ``split`` (a split
evaluated on demand, its hardest images and the row that opens one of them at the top).

Every cache is keyed on ``ui.models.model_key``; "why this pixel" is ``ui.why_pixel``.
"""
