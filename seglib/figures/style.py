"""What every dashboard figure shares: the chart template, the outline of class
swatches and a transparent colour scale for hover layers. How a label id is named
lives in ``seglib.classes`` (``class_label``)."""

from __future__ import annotations

#: Plotly template of the charts (white background, light grid).
CHART_TEMPLATE = "plotly_white"
#: Outline of bars and colour chips: it keeps white and black classes visible.
EDGE_COLOR = "rgba(60,60,60,0.55)"
#: A colour scale that draws nothing, for the layers that only carry hover text.
TRANSPARENT = [[0.0, "rgba(0,0,0,0)"], [1.0, "rgba(0,0,0,0)"]]
