"""Plotly figures for the atrous-scales page (pure functions, no Streamlit).

* ``sampling_figure``: an image with each ASPP branch's 3x3 taps in its own
  colour (white-outlined, readable on a photo), taps on zero padding hollow,
  each branch's receptive field as a square and image pooling as the frame.
* ``valid_tap_figure``: the fraction of valid taps against the rate on the
  model's own ASPP feature map (DeepLab v3, figure 4).
* ``dilation_figure``: a grid showing which input cells a (stack of) dilated
  kernel(s) reads, and through how many paths.
* ``erf_figure``: an effective-receptive-field heatmap with the theoretical
  field and the squares holding 50 % / 90 % of the gradient.

>>> import numpy as np
>>> figure = dilation_figure(np.ones((3, 3), dtype=int), grid_size=7)
>>> figure.data[0].z.shape
(7, 7)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from seglib.analysis.aspp import AsppAnalysis

#: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies),
#: by branch: image pooling, 1x1, then the atrous rates in increasing order.
BRANCH_COLORS = ("#E69F00", "#F0E442", "#56B4E9", "#D55E00", "#CC79A7", "#009E73", "#0072B2")


def branch_colors(analysis: AsppAnalysis) -> dict[str, str]:
    """A fixed colour per branch name (branches are sorted pooling, 1x1, rates)."""
    return {branch.name: BRANCH_COLORS[index % len(BRANCH_COLORS)]
            for index, branch in enumerate(analysis.branches)}


#: Inferno-like, transparent at zero so the picture shows where the gradient vanishes.
_HEAT = [[0.0, "rgba(0,0,4,0)"], [0.08, "rgba(40,11,84,0.45)"], [0.3, "rgba(137,34,106,0.85)"],
         [0.6, "rgb(229,92,48)"], [1.0, "rgb(252,255,164)"]]


def _band(height_px: int, width_px: int) -> float:
    """Distance outside the image where off-image padding taps are pinned."""
    return 0.06 * max(height_px, width_px)


def _square_path(row0: float, column0: float, row1: float, column1: float) -> tuple[list, list]:
    return [column0, column1, column1, column0, column0], [row0, row0, row1, row1, row0]


def sampling_figure(image: np.ndarray, analysis: AsppAnalysis, grid: dict[str, Any], *,
                    show_outside: bool = True, show_squares: bool = True, feature_grid: bool = True,
                    height: int | None = 560, title: str | None = None):
    """Draw where each ASPP branch reads, on ``image`` (the model's input size).

    Args:
        image: uint8 ``(H, W, 3)`` at the model's input size (the coordinates of
            ``analysis`` and ``grid``).
        analysis: from ``seglib.analysis.aspp.aspp_analysis``.
        grid: from ``seglib.analysis.aspp.sampling_grid``.
        show_outside: widen the view to show taps that fall on padding at their
            true positions; otherwise the view is the image plus a thin band
            where those taps are pinned (hollow, hover gives the true place),
            so the image stays large even when taps land hundreds of pixels out.
        show_squares: draw each branch's receptive-field square.
        feature_grid: draw the ASPP output positions as faint dots (the points
            a click can select).
    """
    import plotly.graph_objects as go

    from seglib.figures.masks import jpeg_data_uri

    image = np.asarray(image)
    height_px, width_px = image.shape[:2]
    colors = branch_colors(analysis)
    figure = go.Figure()
    figure.add_trace(go.Image(source=jpeg_data_uri(image), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip",
                              name="image"))
    if feature_grid:
        figure.add_trace(_feature_grid_trace(analysis))

    whole_image_drawn = False
    conv_branches = [b for b in analysis.branches if b.kind == "conv"]
    rings = 0
    for branch in analysis.branches:
        color = colors[branch.name]
        if branch.kind == "image_pooling":
            figure.add_trace(_image_pooling_trace(branch, color, height_px, width_px))
            whole_image_drawn = True
            continue
        # Every branch's centre tap is the same pixel: decreasing sizes draw them as
        # concentric rings, and each branch pins its off-image taps on its own band.
        order = conv_branches.index(branch) if branch in conv_branches else 0
        taps = [t for t in grid["taps"] if t.branch == branch.name]
        padding = [t for t in taps if not t.valid]
        figure.add_trace(_tap_trace(branch, color, [t for t in taps if t.valid], max(24 - 4 * order, 8)))
        if padding:
            rings += 1
            band = _band(height_px, width_px) * (0.5 + 0.5 * rings)
            figure.add_trace(_padding_trace(branch, color, padding, analysis.feature_size,
                                            None if show_outside else (band, height_px, width_px)))
        square = next((s for s in grid["squares"] if s["branch"] == branch.name), None)
        if show_squares and square is not None:
            figure.add_trace(_field_square_trace(branch, color, square))

    center = grid["center"]
    figure.add_trace(go.Scatter(
        x=[center[1]], y=[center[0]], mode="markers", name="selected output position",
        marker=dict(size=9, symbol="x-thin", color="black", line=dict(color="black", width=2)),
        hovertemplate="selected ASPP output position<br>row %{y:.0f}, column %{x:.0f} px<extra></extra>"))
    if not whole_image_drawn:  # still show where the image ends
        figure.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=width_px - 0.5, y1=height_px - 0.5,
                         line=dict(color="rgba(120,120,120,0.8)", width=1))
    rows, columns = _sampling_view(grid["taps"], height_px, width_px, rings, show_outside)
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        height=height, margin=dict(l=4, r=4, t=36 if title else 8, b=4), plot_bgcolor="#e9ecef",
        legend=dict(orientation="h", yanchor="top", y=-0.01, xanchor="left", x=0.0, font=dict(size=12),
                    bgcolor="rgba(255,255,255,0.8)"),
        dragmode="pan", hovermode="closest", clickmode="event+select",
    )
    figure.update_xaxes(visible=False, range=list(columns), constrain="domain")
    figure.update_yaxes(visible=False, range=[rows[1], rows[0]], scaleanchor="x", scaleratio=1,
                        constrain="domain")
    return figure


def _feature_grid_trace(analysis: AsppAnalysis):
    """The ASPP output positions as faint dots at their fields' centres (what a click selects)."""
    import plotly.graph_objects as go

    field = analysis.field
    rows = [field.center((r, 0))[0] for r in range(field.size[0])]
    columns = [field.center((0, c))[1] for c in range(field.size[1])]
    grid_rows, grid_columns = np.meshgrid(rows, columns, indexing="ij")
    units = [[r, c] for r in range(field.size[0]) for c in range(field.size[1])]
    return go.Scatter(
        x=grid_columns.ravel(), y=grid_rows.ravel(), mode="markers", name="ASPP output positions",
        marker=dict(size=7, color="rgba(255,255,255,0.35)", line=dict(color="rgba(0,0,0,0.45)", width=1)),
        customdata=units,
        hovertemplate="ASPP output (%{customdata[0]}, %{customdata[1]})<br>"
                      "centre row %{y:.0f}, column %{x:.0f} px<extra>click to select</extra>")


def _image_pooling_trace(branch, color: str, height_px: int, width_px: int):
    """Image pooling reads the whole image: its frame."""
    import plotly.graph_objects as go

    xs, ys = _square_path(-0.5, -0.5, height_px - 0.5, width_px - 0.5)
    return go.Scatter(
        x=xs, y=ys, mode="lines", name="image pooling (the whole image)", legendgroup=branch.name,
        line=dict(color=color, width=5), hoverinfo="text",
        text="image pooling: one average over the whole feature map, so every input pixel")


def _tap_trace(branch, color: str, valid: Sequence, marker_size: int):
    """A branch's taps that read features, white-outlined (the legend names the branch and its spacing)."""
    import plotly.graph_objects as go

    legend_name = branch.label + (f" ({branch.spacing_px:g} px apart)" if branch.kind == "conv"
                                  and branch.kernel_size > 1 else "")
    return go.Scatter(
        x=[t.column for t in valid], y=[t.row for t in valid], mode="markers", name=legend_name,
        legendgroup=branch.name,
        marker=dict(size=marker_size, color=color, symbol="circle", line=dict(color="white", width=2)),
        customdata=[[t.feature_row, t.feature_column] for t in valid],
        hovertemplate=f"{branch.label}: tap at row %{{y:.0f}}, column %{{x:.0f}} px<br>"
                      "feature position (%{customdata[0]}, %{customdata[1]})<extra></extra>")


def _padding_trace(branch, color: str, padding: Sequence, feature_size: tuple[int, int],
                   pinned: tuple[float, int, int] | None):
    """A branch's taps on zero padding, hollow: at their true positions, or (``pinned`` = band, height,
    width) pinned to a band that far outside the image (hover gives the true place)."""
    import plotly.graph_objects as go

    if pinned is None:
        shown_rows = [t.row for t in padding]
        shown_columns = [t.column for t in padding]
    else:
        band, height_px, width_px = pinned
        shown_rows = [float(np.clip(t.row, -band, height_px - 1 + band)) for t in padding]
        shown_columns = [float(np.clip(t.column, -band, width_px - 1 + band)) for t in padding]
    return go.Scatter(
        x=shown_columns, y=shown_rows, mode="markers",
        name=f"{branch.label}: on padding", legendgroup=branch.name, showlegend=False,
        marker=dict(size=12, color="rgba(0,0,0,0)", symbol="circle",
                    line=dict(color=color, width=3)),
        customdata=[[t.feature_row, t.feature_column, t.row, t.column] for t in padding],
        hovertemplate=f"{branch.label}: tap on zero padding<br>feature position "
                      "(%{customdata[0]}, %{customdata[1]}) is outside the "
                      f"{feature_size[0]}×{feature_size[1]} map<br>"
                      "it would sit at row %{customdata[2]:.0f}, column %{customdata[3]:.0f} px"
                      "<extra></extra>")


def _field_square_trace(branch, color: str, square: dict[str, Any]):
    """A branch's receptive field as a dashed square."""
    import plotly.graph_objects as go

    xs, ys = _square_path(square["row0"], square["column0"], square["row1"], square["column1"])
    return go.Scatter(
        x=xs, y=ys, mode="lines", name=f"{branch.label} receptive field", legendgroup=branch.name,
        showlegend=False, line=dict(color=color, width=2, dash="dash"), hoverinfo="text",
        text=f"{branch.label}: receptive field {branch.receptive_field_px:g} px")


def _sampling_view(taps: Sequence, height_px: int, width_px: int, rings: int,
                   show_outside: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (low, high) rows and columns the figure shows: the image, widened to the bands of pinned
    padding taps, or (``show_outside``) to every tap."""
    row_low, row_high = -0.5, height_px - 0.5
    column_low, column_high = -0.5, width_px - 0.5
    if any(not t.valid for t in taps):
        band = _band(height_px, width_px) * (0.5 + 0.5 * max(rings, 1)) + 0.04 * max(height_px, width_px)
        row_low, row_high = -band, height_px - 1 + band
        column_low, column_high = -band, width_px - 1 + band
    if show_outside and taps:
        margin = 0.04 * max(height_px, width_px)
        row_low = min(row_low, min(t.row for t in taps) - margin)
        row_high = max(row_high, max(t.row for t in taps) + margin)
        column_low = min(column_low, min(t.column for t in taps) - margin)
        column_high = max(column_high, max(t.column for t in taps) + margin)
    return (row_low, row_high), (column_low, column_high)


def valid_tap_figure(curve: Sequence[dict[str, Any]], rates: Sequence[int] = (), *, height: int = 340,
                     title: str | None = None):
    """Fraction of a 3x3 kernel's taps that read real features, against the rate.

    ``curve`` comes from ``seglib.analysis.dilation.valid_tap_curve``; ``rates`` (the
    model's own) are marked. Three lines: the mean fraction of valid taps,
    positions where all 9 are valid, and positions where only the centre is
    (the kernel acts as a 1x1 filter).
    """
    import plotly.graph_objects as go

    x = [row["rate"] for row in curve]
    figure = go.Figure()
    lines = (("valid_tap_fraction", "mean share of valid taps", "#0072B2", "solid"),
             ("all_valid_fraction", "positions with all 9 taps valid", "#009E73", "dash"),
             ("center_only_fraction", "positions where only the centre is valid (1×1)", "#D55E00", "dot"))
    for key, name, color, dash in lines:
        figure.add_trace(go.Scatter(x=x, y=[row[key] for row in curve], mode="lines+markers", name=name,
                                    line=dict(color=color, dash=dash, width=2), marker=dict(size=5),
                                    hovertemplate=f"rate %{{x}}<br>{name}: %{{y:.1%}}<extra></extra>"))
    size = curve[0]["feature_size"] if curve else [0, 0]
    for rate in rates:
        figure.add_vline(x=rate, line=dict(color="rgba(80,80,80,0.6)", width=1, dash="dot"),
                         annotation_text=f"rate {rate}", annotation_position="top")
    figure.update_layout(
        title=dict(text=title or f"Valid taps of a 3×3 kernel on the {size[0]}×{size[1]} ASPP feature map",
                   x=0.0, xanchor="left", font=dict(size=14)),
        height=height, margin=dict(l=56, r=12, t=56, b=8), plot_bgcolor="white",
        legend=dict(orientation="h", yanchor="top", y=-0.22, x=0.0, font=dict(size=11)),
        xaxis=dict(title=dict(text="atrous rate", standoff=4), gridcolor="#eee", automargin=True),
        yaxis=dict(title="share", tickformat=".0%", range=[-0.02, 1.05], gridcolor="#eee", automargin=True),
    )
    return figure


def dilation_figure(coverage: np.ndarray, *, grid_size: int | None = None, title: str | None = None,
                    height: int = 300):
    """One heatmap of which input cells feed the centre output, and through how many paths.

    ``coverage`` comes from ``seglib.analysis.dilation.dilated_stack_coverage``; it is
    centred on a ``grid_size`` x ``grid_size`` grid (so figures of different
    stacks share one scale). Empty cells are white.
    """
    import plotly.graph_objects as go

    coverage = np.asarray(coverage)
    size = max(int(grid_size or coverage.shape[0]), coverage.shape[0])
    if size % 2 == 0:
        size += 1
    canvas = np.zeros((size, size), dtype=np.int64)
    offset = (size - coverage.shape[0]) // 2
    canvas[offset:offset + coverage.shape[0], offset:offset + coverage.shape[1]] = coverage
    z = np.where(canvas > 0, canvas, np.nan)
    centre = size // 2
    axis = np.arange(size) - centre
    figure = go.Figure(go.Heatmap(
        z=z, x=axis, y=axis, colorscale="Blues", zmin=0, showscale=False, xgap=1, ygap=1,
        hovertemplate="offset (%{y}, %{x})<br>paths to the centre output: %{z}<extra></extra>"))
    figure.add_trace(go.Scatter(x=[0], y=[0], mode="markers", hoverinfo="skip", showlegend=False,
                                marker=dict(symbol="x-thin", size=10, line=dict(color="#D55E00", width=2))))
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=13)) if title else None,
        height=height, margin=dict(l=4, r=4, t=36 if title else 4, b=4), plot_bgcolor="white",
    )
    figure.update_xaxes(visible=False, range=[-centre - 0.5, centre + 0.5], constrain="domain")
    figure.update_yaxes(visible=False, range=[centre + 0.5, -centre - 0.5], scaleanchor="x", scaleratio=1,
                        constrain="domain")
    figure.add_shape(type="rect", x0=-centre - 0.5, y0=-centre - 0.5, x1=centre + 0.5, y1=centre + 0.5,
                     line=dict(color="#bbb", width=1))
    return figure


def erf_figure(gradient: np.ndarray, pixel: tuple[int, int], *, theoretical_field: float | None = None,
               extent_50: int = 0, extent_90: int = 0, image: np.ndarray | None = None,
               title: str | None = None, height: int = 380):
    """An effective-receptive-field heatmap (normalised |gradient|, square-root scale).

    The square root lifts the faint tails so the extent is visible; hover shows
    the raw normalised value. Squares: the theoretical receptive field (grey,
    usually larger than the image) and those holding 50 % / 90 % of the
    gradient mass. ``image`` (optional) is drawn faintly underneath.
    """
    import plotly.graph_objects as go

    from seglib.figures.masks import png_data_uri

    gradient = np.asarray(gradient, dtype=np.float32)
    height_px, width_px = gradient.shape
    figure = go.Figure()
    if image is not None:
        faint = (np.asarray(image, dtype=np.float32) * 0.35 + 255 * 0.65).astype(np.uint8)
        figure.add_trace(go.Image(source=png_data_uri(faint), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    figure.add_trace(go.Heatmap(
        z=np.sqrt(np.clip(gradient, 0, None)), customdata=gradient, zmin=0, zmax=1, showscale=False,
        colorscale=_HEAT if image is not None else "Inferno",
        hovertemplate="row %{y}, column %{x}<br>|gradient| (max = 1): %{customdata:.3g}<extra></extra>"))
    row, column = pixel
    squares = []
    if theoretical_field:
        squares.append(("theoretical field", float(theoretical_field), "#bbbbbb", "dot"))
    if extent_90:
        squares.append(("90 % of the gradient", float(extent_90), "#56B4E9", "dash"))
    if extent_50:
        squares.append(("50 % of the gradient", float(extent_50), "#F0E442", "solid"))
    for name, side, color, dash in squares:
        half = side / 2
        xs, ys = _square_path(row - half, column - half, row + half, column + half)
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name}: {side:g} px",
                                    line=dict(color=color, width=2, dash=dash), hoverinfo="name"))
    figure.add_trace(go.Scatter(x=[column], y=[row], mode="markers", name="output pixel",
                                marker=dict(symbol="x-thin", size=12, line=dict(color="#56B4E9", width=3)),
                                hoverinfo="name"))
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        height=height, margin=dict(l=4, r=4, t=36 if title else 4, b=4), plot_bgcolor="black",
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0.0, font=dict(size=11)),
    )
    figure.update_xaxes(visible=False, range=[-0.5, width_px - 0.5], constrain="domain")
    figure.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", scaleratio=1,
                        constrain="domain")
    return figure


def scale_figure(heights: Sequence[float], analysis: AsppAnalysis, *, height: int = 300,
                 title: str | None = None):
    """Person heights (model-input pixels) against the spans the ASPP branches read.

    A vertical line per atrous branch marks the distance between its outer
    taps, ``(k - 1) x spacing``: a person much shorter than that is seen by the
    branch's centre tap alone, a person much taller never fits between taps.
    The chart stops a little past the image height; spans beyond it are
    listed in the legend.
    """
    import plotly.graph_objects as go

    heights = np.asarray(list(heights), dtype=np.float64)
    colors = branch_colors(analysis)
    image_height = analysis.image_size[0]
    right = 1.15 * max(image_height, float(heights.max()) if heights.size else 0.0)
    figure = go.Figure(go.Histogram(
        x=heights, nbinsx=30, name="people", marker=dict(color="#9aa5b1"), showlegend=False,
        hovertemplate="%{x} px tall: %{y} people<extra></extra>"))
    top = 1.0
    figure.add_trace(go.Scatter(x=[image_height, image_height], y=[0, top], yaxis="y2", mode="lines",
                                name=f"image height: {image_height} px", line=dict(color="#444", dash="dot")))
    for branch in analysis.branches:
        if branch.kind != "conv" or branch.kernel_size == 1:
            continue
        span = (branch.kernel_size - 1) * branch.spacing_px
        name = f"{branch.label}: taps span {span:g} px"
        if span > right:
            figure.add_trace(go.Scatter(x=[None], y=[None], yaxis="y2", mode="lines", name=name + " (off the chart)",
                                        line=dict(color=colors[branch.name], width=3, dash="dash")))
            continue
        figure.add_trace(go.Scatter(x=[span, span], y=[0, top], yaxis="y2", mode="lines", name=name,
                                    line=dict(color=colors[branch.name], width=3),
                                    hovertemplate=name + "<extra></extra>"))
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        height=height, margin=dict(l=48, r=8, t=36 if title else 8, b=8), plot_bgcolor="white", bargap=0.05,
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0.0, font=dict(size=11)),
        xaxis=dict(title=dict(text="person height (model-input pixels)", standoff=4), range=[0, right],
                   gridcolor="#eee", automargin=True),
        yaxis=dict(title="people", gridcolor="#eee", automargin=True),
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False),
    )
    return figure
