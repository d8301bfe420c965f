"""Plotly figures the dashboard pages draw: masks with class names on hover,
class-fraction bar charts, histograms and box plots of object sizes, and the
DeepLabV3+ stage diagram.

The builders are plain functions of arrays and tables, so they are tested
without a browser and shared by every page (dataset explorer, training,
predictions). They never import Streamlit.

Every figure follows the same rules: classes are drawn in the palette the
user picked, class names appear on hover, and pictures are downscaled for
display (at most ``max_size`` pixels a side) so that the browser stays quick.

>>> import numpy as np
>>> from seglib.figures.base import mask_figure
>>> mask = np.zeros((32, 32), np.uint8); mask[8:24, 8:24] = 13
>>> figure = mask_figure(mask, kind="mask")
>>> figure.data[1].text[16][16]
'Face'
"""

from __future__ import annotations

import base64
import html
from typing import Iterable, Mapping, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, IGNORE_LABEL, colorize, get_palette, overlay

#: Kinds of picture ``mask_figure`` can draw.
MASK_KINDS = ("image", "mask", "overlay")
#: Largest side, in pixels, of a picture sent to the browser by default.
DEFAULT_MAX_SIZE = 512
#: Hover cells a side of the class-name layer of ``mask_figure``: the hover
#: text is one string per cell, so it is coarser than the picture.
DEFAULT_HOVER_SIZE = 128
_TRANSPARENT = [[0.0, "rgba(0,0,0,0)"], [1.0, "rgba(0,0,0,0)"]]
_EDGE_COLOR = "rgba(60,60,60,0.55)"  # outlines keep white / black classes visible


#: Plotly template of the charts (white background, light grid).
CHART_TEMPLATE = "plotly_white"


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------

def _margin(title: str | None, bottom: int = 56) -> dict:
    """Room for the axis titles and tick labels (``automargin`` adds more when needed)."""
    return dict(l=72, r=16, t=48 if title else 16, b=bottom)


def _palette_array(palette: str | np.ndarray) -> np.ndarray:
    return get_palette(palette) if isinstance(palette, str) else np.asarray(palette, np.uint8)


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color[:3]))


def class_label(class_id: int, class_names: Sequence[str] = CLASS_NAMES) -> str:
    """The name shown for a label id: its class name, 'Ignore' for 255, else 'id N'."""
    class_id = int(class_id)
    if 0 <= class_id < len(class_names):
        return class_names[class_id]
    if class_id == IGNORE_LABEL:
        return "Ignore"
    return f"id {class_id}"


def display_scale(height: int, width: int, max_size: int = DEFAULT_MAX_SIZE) -> float:
    """The factor (<= 1) that brings the longer side of an image down to ``max_size``."""
    if max_size < 1:
        raise ValueError(f"max_size must be a positive number of pixels. Received: max_size={max_size}")
    return min(1.0, float(max_size) / float(max(height, width, 1)))


def downscale_for_display(image: np.ndarray | None, mask: np.ndarray | None,
                          max_size: int = DEFAULT_MAX_SIZE) -> tuple[np.ndarray | None, np.ndarray | None, float]:
    """Resize an image (area interpolation) and a mask (nearest neighbour, so no
    class ids are invented at boundaries) so the longer side is <= ``max_size``.

    Returns ``(image, mask, scale)``; arrays already small enough are returned as-is.
    """
    reference = mask if mask is not None else image
    if reference is None:
        raise ValueError("downscale_for_display needs an image or a mask. Received: image=None, mask=None")
    height, width = reference.shape[:2]
    scale = display_scale(height, width, max_size)
    if scale >= 1.0:
        return image, mask, 1.0
    import cv2

    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image is not None:
        image = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    if mask is not None:
        mask = cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_NEAREST)
    return image, mask, scale


def png_data_uri(picture: np.ndarray) -> str:
    """Encode an RGB (H, W, 3) or grey (H, W) uint8 array as a PNG data URI.

    A PNG is several times smaller than Plotly's own pixel array encoding.
    """
    import cv2

    picture = np.ascontiguousarray(np.asarray(picture, dtype=np.uint8))
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError(f"Cannot encode a picture of shape {picture.shape} as PNG.")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _image_layout(figure, height: int | None, title: str | None, width: int, height_px: int):
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=14)) if title else None,
        margin=dict(l=4, r=4, t=32 if title else 4, b=4),
        height=height,
        hovermode="closest",
        dragmode="zoom",
        plot_bgcolor="white",
        showlegend=False,
    )
    figure.update_xaxes(visible=False, range=[-0.5, width - 0.5], constrain="domain")
    figure.update_yaxes(visible=False, range=[height_px - 0.5, -0.5], scaleanchor="x", scaleratio=1,
                        constrain="domain")
    return figure


# ---------------------------------------------------------------------------
# masks and images
# ---------------------------------------------------------------------------

def mask_figure(mask: np.ndarray, image: np.ndarray | None = None, *, kind: str = "overlay",
                palette: str | np.ndarray = "cihp", opacity: float = 0.5,
                visible: Iterable[int] | None = None, max_size: int = DEFAULT_MAX_SIZE,
                title: str | None = None, height: int | None = None,
                class_names: Sequence[str] = CLASS_NAMES, hover: bool = True,
                hover_size: int = DEFAULT_HOVER_SIZE):
    """A picture of an image, its colour mask, or the mask blended over the image,
    with the class name of the pixel under the mouse.

    The picture is a ``go.Image`` (a PNG, small to send); on top of it lies a
    transparent ``go.Heatmap`` of the label ids whose hover text is the class
    name, so hovering any pixel of any of the three kinds names its class.
    Axes are in pixels of the original image even when the display is
    downscaled to ``max_size``.

    Args:
        mask: (H, W) integer label ids (255 = ignore).
        image: (H, W, 3) uint8 RGB; needed for ``kind`` 'image' and 'overlay'.
        kind: 'image', 'mask' or 'overlay'.
        palette: a palette name ('cihp', 'colorblind') or an (N, 3) uint8 array.
        opacity: weight of the mask colours in the overlay, in [0, 1].
        visible: class ids to draw; others are black in the mask and left
            untouched in the overlay. ``None`` draws every class.
        max_size: longest side of the picture sent to the browser.
        title: optional title above the picture.
        height: figure height in pixels (``None``: Plotly's default).
        class_names: names for the hover text.
        hover: add the hover layer (switch off for very many small figures).
        hover_size: at most this many hover cells a side. The hover text is a
            string per cell: at 512 x 512 it made a 4 MB figure, at 128 x 128
            it is ~0.3 MB, and a cell is still a few screen pixels.
    """
    import plotly.graph_objects as go

    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}. Received: kind={kind!r}")
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D array of label ids. Received: mask.shape={mask.shape}")
    if kind != "mask":
        if image is None:
            raise ValueError(f"kind={kind!r} needs the image. Received: image=None")
        image = np.asarray(image)
        if image.shape[:2] != mask.shape:
            raise ValueError(f"image and mask sizes differ. Received: image {image.shape[:2]}, "
                             f"mask {mask.shape}")
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1]. Received: opacity={opacity}")
    colors = _palette_array(palette)
    visible_list = None if visible is None else [int(v) for v in visible]

    full_height, full_width = mask.shape
    small_image, small_mask, scale = downscale_for_display(image, mask.astype(np.uint8), max_size)
    if kind == "image":
        picture = small_image
    elif kind == "mask":
        picture = colorize(small_mask, colors, visible=visible_list)
    else:
        picture = overlay(small_image, small_mask, opacity=float(opacity), palette=colors,
                          visible=visible_list)
    step = 1.0 / scale
    origin = 0.5 * step - 0.5  # centre of the first display pixel, in original pixels

    figure = go.Figure()
    figure.add_trace(go.Image(source=png_data_uri(picture), x0=origin, y0=origin, dx=step, dy=step,
                              hoverinfo="skip", name=kind))
    if hover:
        lookup = np.array([class_label(i, class_names) for i in range(256)], dtype=object)
        _, hover_mask, hover_scale = downscale_for_display(None, mask.astype(np.uint8), hover_size)
        hover_step = 1.0 / hover_scale
        hover_origin = 0.5 * hover_step - 0.5
        figure.add_trace(go.Heatmap(
            z=hover_mask, x0=hover_origin, y0=hover_origin, dx=hover_step, dy=hover_step,
            text=lookup[hover_mask], colorscale=_TRANSPARENT, showscale=False,
            hovertemplate="<b>%{text}</b> (id %{z})<br>x %{x:.0f}, y %{y:.0f}<extra></extra>",
            name="classes",
        ))
    return _image_layout(figure, height, title, full_width, full_height)


def error_figure(difference: np.ndarray, *, max_size: int = DEFAULT_MAX_SIZE, title: str | None = None,
                 height: int | None = None, colorscale: str = "Inferno", zmax: float | None = None,
                 label: str = "error"):
    """A heat map of a per-pixel error (e.g. |true - predicted| / (C - 1)), with the value on hover."""
    import plotly.graph_objects as go

    difference = np.asarray(difference, dtype=np.float32)
    if difference.ndim != 2:
        raise ValueError(f"difference must be 2-D. Received: difference.shape={difference.shape}")
    full_height, full_width = difference.shape
    scale = display_scale(full_height, full_width, max_size)
    if scale < 1.0:
        import cv2

        size = (max(1, round(full_width * scale)), max(1, round(full_height * scale)))
        difference = cv2.resize(difference, size, interpolation=cv2.INTER_NEAREST)
    step = 1.0 / scale
    origin = 0.5 * step - 0.5
    figure = go.Figure(go.Heatmap(
        z=difference, x0=origin, y0=origin, dx=step, dy=step, colorscale=colorscale, zmin=0.0,
        zmax=zmax if zmax is not None else max(float(difference.max()), 1e-6),
        colorbar=dict(title=dict(text=label), thickness=12),
        hovertemplate=f"{html.escape(label)} %{{z:.3f}}<br>x %{{x:.0f}}, y %{{y:.0f}}<extra></extra>",
    ))
    return _image_layout(figure, height, title, full_width, full_height)


# ---------------------------------------------------------------------------
# legends
# ---------------------------------------------------------------------------

def legend_html(palette: str | np.ndarray = "cihp", classes: Iterable[int] | None = None,
                class_names: Sequence[str] = CLASS_NAMES, hidden: Iterable[int] = ()) -> str:
    """HTML colour chips with class ids and names, for ``st.html``/``st.markdown``.

    ``classes`` limits the chips (default: every class); ids in ``hidden`` are
    drawn faded and struck through, so the legend matches a mask drawn with
    some classes switched off.
    """
    colors = _palette_array(palette)
    ids = list(range(len(class_names))) if classes is None else [int(c) for c in classes]
    hidden_set = {int(c) for c in hidden}
    chips = []
    for class_id in ids:
        color = _hex(colors[class_id]) if 0 <= class_id < len(colors) else "#ff00ff"
        name = html.escape(class_label(class_id, class_names))
        faded = class_id in hidden_set
        style = ("display:inline-flex;align-items:center;gap:6px;margin:2px 10px 2px 0;"
                 "font-size:0.85rem;white-space:nowrap;"
                 + ("opacity:0.45;text-decoration:line-through;" if faded else ""))
        chips.append(
            f'<span class="seglib-legend-chip" style="{style}" title="id {class_id}">'
            f'<span style="display:inline-block;width:14px;height:14px;border-radius:3px;'
            f'background:{color};border:1px solid {_EDGE_COLOR};"></span>'
            f"{class_id}&nbsp;{name}</span>"
        )
    return ('<div class="seglib-legend" style="display:flex;flex-wrap:wrap;line-height:1.6;">'
            + "".join(chips) + "</div>")


# ---------------------------------------------------------------------------
# class fractions
# ---------------------------------------------------------------------------

def mask_fractions(mask: np.ndarray, num_classes: int = len(CLASS_NAMES)) -> tuple[np.ndarray, np.ndarray]:
    """Pixel counts (int64) and fractions of each class in one mask.

    Ignored pixels (label 255 or any id >= ``num_classes``) count in neither,
    so the fractions sum to 1 over the labelled pixels.
    """
    labels = np.asarray(mask).ravel()
    labels = labels[labels < num_classes]
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes)[:num_classes].astype(np.int64)
    total = counts.sum()
    fractions = counts / total if total else np.zeros(num_classes, dtype=np.float64)
    return counts, fractions


def fraction_table(fractions: Sequence[float], *, include_background: bool = True,
                   counts: Sequence[int] | None = None, class_names: Sequence[str] = CLASS_NAMES,
                   sort: bool = True):
    """A DataFrame (id, name, fraction[, pixels]) of class fractions.

    Without background the fractions are renormalised over the remaining
    (person) pixels, so they sum to 1 again and the rare parts become readable.
    """
    import pandas as pd

    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1:
        raise ValueError(f"fractions must be 1-D (one value per class). Received: shape={fractions.shape}")
    table = pd.DataFrame({
        "id": np.arange(len(fractions)),
        "name": [class_label(i, class_names) for i in range(len(fractions))],
        "fraction": fractions,
    })
    if counts is not None:
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != fractions.shape:
            raise ValueError(f"counts and fractions differ in length. Received: counts {counts.shape}, "
                             f"fractions {fractions.shape}")
        table["pixels"] = counts
    if not include_background:
        table = table[table["id"] != 0].copy()
        total = table["fraction"].sum()
        table["fraction"] = table["fraction"] / total if total > 0 else 0.0
    if sort:
        table = table.sort_values(["fraction", "id"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def class_fraction_figure(fractions: Sequence[float], *, palette: str | np.ndarray = "cihp",
                          log: bool = False, include_background: bool = True, sort: bool = True,
                          counts: Sequence[int] | None = None,
                          reference: Sequence[float] | None = None, reference_name: str = "split",
                          name: str = "fraction", title: str | None = None, height: int | None = 380,
                          class_names: Sequence[str] = CLASS_NAMES):
    """Bar chart of the share of pixels of each class, in the class colours.

    Args:
        fractions: one value per class (summing to 1 over all pixels).
        log: a logarithmic y axis, which makes the rare classes visible next
            to the background.
        include_background: with ``False`` the background bar is dropped and
            the others renormalised over person pixels.
        sort: largest first (otherwise by class id).
        counts: pixel counts shown on hover.
        reference: a second set of fractions drawn as markers over the bars
            (e.g. the split average next to one image's fractions).
    """
    import plotly.graph_objects as go

    colors = _palette_array(palette)
    table = fraction_table(fractions, include_background=include_background, counts=counts,
                           class_names=class_names, sort=sort)
    bar_colors = [_hex(colors[i]) if i < len(colors) else "#ff00ff" for i in table["id"]]
    customdata = np.stack([table["id"].to_numpy(),
                           table["pixels"].to_numpy() if "pixels" in table else np.zeros(len(table))], axis=-1)
    pixels_line = "<br>%{customdata[1]:,.0f} pixels" if "pixels" in table else ""
    figure = go.Figure(go.Bar(
        x=table["name"], y=table["fraction"], marker=dict(color=bar_colors, line=dict(color=_EDGE_COLOR, width=1)),
        customdata=customdata, name=name,
        hovertemplate="<b>%{x}</b> (id %{customdata[0]})<br>" + html.escape(name)
                      + " %{y:.4%}" + pixels_line + "<extra></extra>",
    ))
    if reference is not None:
        reference_table = fraction_table(reference, include_background=include_background,
                                         class_names=class_names, sort=False).set_index("id")
        figure.add_trace(go.Scatter(
            x=table["name"], y=reference_table.loc[table["id"], "fraction"].to_numpy(), mode="markers",
            marker=dict(symbol="diamond", size=9, color="#444", line=dict(color="white", width=1)),
            name=reference_name,
            hovertemplate="<b>%{x}</b><br>" + html.escape(reference_name) + " %{y:.4%}<extra></extra>",
        ))
    share = "share of all pixels" if include_background else "share of person pixels (background left out)"
    figure.update_layout(
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        height=height, margin=_margin(title, bottom=96), bargap=0.15, template=CHART_TEMPLATE,
        showlegend=reference is not None,
        legend=dict(yanchor="top", y=0.98, x=0.98, xanchor="right", bgcolor="rgba(255,255,255,0.8)",
                    bordercolor="#ccc", borderwidth=1),
    )
    figure.update_xaxes(title=None, tickangle=-45, categoryorder="array", categoryarray=list(table["name"]),
                        automargin=True)
    figure.update_yaxes(title=share + (" (log scale)" if log else ""), type="log" if log else "linear",
                        tickformat=".1%" if not log else None, automargin=True)
    return figure


# ---------------------------------------------------------------------------
# distributions
# ---------------------------------------------------------------------------

def histogram_figure(values: Sequence[float], *, xaxis_title: str, title: str | None = None,
                     nbins: int = 40, name: str = "count", color: str = "#2f6fb0",
                     log_x: bool = False, percent_axis: bool = False, height: int | None = 320,
                     yaxis_title: str = "count"):
    """A histogram of one variable (e.g. person heights in pixels)."""
    import plotly.graph_objects as go

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if log_x:
        values = values[values > 0]
    figure = go.Figure(go.Histogram(
        x=values, nbinsx=nbins, marker=dict(color=color, line=dict(color="white", width=0.5)), name=name,
        hovertemplate=html.escape(xaxis_title) + " %{x}<br>" + html.escape(yaxis_title)
                      + " %{y}<extra></extra>",
    ))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=_margin(title, bottom=56), bargap=0.05, showlegend=False, template=CHART_TEMPLATE)
    figure.update_xaxes(title=xaxis_title, type="log" if log_x else "linear",
                        tickformat=".0%" if percent_axis else None, automargin=True)
    figure.update_yaxes(title=yaxis_title, automargin=True)
    if values.size == 0:
        figure.add_annotation(text="no values", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return figure


def class_box_figure(values_by_class: Mapping[int, Sequence[float]], *, palette: str | np.ndarray = "cihp",
                     yaxis_title: str = "size (pixels)", title: str | None = None, log_y: bool = True,
                     height: int | None = 400, class_names: Sequence[str] = CLASS_NAMES,
                     max_points: int = 2000, seed: int = 0):
    """One box per class (e.g. the areas of the connected regions of each body part).

    Classes without values are left out. With more than ``max_points`` values
    a class is randomly subsampled (fixed seed), so the figure stays light.
    """
    import plotly.graph_objects as go

    colors = _palette_array(palette)
    rng = np.random.default_rng(seed)
    figure = go.Figure()
    for class_id in sorted(int(c) for c in values_by_class):
        values = np.asarray(values_by_class[class_id], dtype=np.float64)
        values = values[np.isfinite(values)]
        if log_y:
            values = values[values > 0]
        if values.size == 0:
            continue
        if values.size > max_points:
            values = rng.choice(values, max_points, replace=False)
        color = _hex(colors[class_id]) if class_id < len(colors) else "#ff00ff"
        figure.add_trace(go.Box(
            y=values, name=class_label(class_id, class_names), marker=dict(color=color, size=3),
            line=dict(color=_EDGE_COLOR, width=1), fillcolor=color, boxpoints=False,
            hovertemplate="<b>" + html.escape(class_label(class_id, class_names)) + "</b><br>%{y:,.0f}<extra></extra>",
        ))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=_margin(title, bottom=96), showlegend=False, template=CHART_TEMPLATE)
    figure.update_xaxes(tickangle=-45, automargin=True)
    figure.update_yaxes(title=yaxis_title + (" (log scale)" if log_y else ""), type="log" if log_y else "linear",
                        automargin=True)
    return figure


# ---------------------------------------------------------------------------
# model stages
# ---------------------------------------------------------------------------

def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, str):
        return shape
    parts = ["B" if s is None else str(s) for s in shape]
    if parts and parts[0] in ("B", "1"):
        parts = parts[1:]
    return " × ".join(parts)


#: How the stage ids of ``seglib.model.deeplab.stages`` are written for people.
STAGE_TITLES = {"backbone": "Backbone (encoder)", "aspp": "ASPP", "decoder": "Decoder", "head": "Head (logits)"}


def _stage_name(stage: Mapping, index: int) -> str:
    raw = str(stage.get("name") or stage.get("stage") or f"stage {index + 1}")
    return STAGE_TITLES.get(raw, raw)


def stages_figure(stages: Sequence[Mapping], *, height: int = 220, title: str | None = None):
    """The DeepLabV3+ stages as boxes joined by arrows, each with its output shape.

    ``stages`` is a list of dicts with a ``stage`` (or ``name``) and an
    ``output_shape``, as returned by ``seglib.model.deeplab.stages``; ``params``,
    ``layers`` and an optional ``description`` show on hover.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    count = max(len(stages), 1)
    fills = ["#dbe8f5", "#e3f1e3", "#fbeedb", "#f3e1ef", "#e9e9f7", "#eef3da"]
    box_width = 0.8
    for index, stage in enumerate(stages):
        x0, x1 = index, index + box_width
        figure.add_shape(type="rect", x0=x0, x1=x1, y0=0, y1=1, line=dict(color="#5b6b7a", width=1.5),
                         fillcolor=fills[index % len(fills)], layer="below")
        name = html.escape(_stage_name(stage, index))
        shape = html.escape(_shape_text(stage.get("output_shape")))
        figure.add_annotation(x=(x0 + x1) / 2, y=0.5, text=f"<b>{name}</b><br>{shape}", showarrow=False,
                              font=dict(size=13, color="#1f2933"))
        if index + 1 < len(stages):
            figure.add_annotation(x=index + 1 - 0.02, y=0.5, ax=x1 + 0.02, ay=0.5, xref="x", yref="y",
                                  axref="x", ayref="y", text="", showarrow=True, arrowhead=3,
                                  arrowsize=1.2, arrowwidth=1.8, arrowcolor="#5b6b7a")
    hover_text = []
    for index, stage in enumerate(stages):
        lines = [f"<b>{html.escape(_stage_name(stage, index))}</b>",
                 f"output {html.escape(_shape_text(stage.get('output_shape')))}"]
        if stage.get("layers") is not None:
            lines.append(f"{int(stage['layers'])} layers")
        if stage.get("params") is not None:
            lines.append(f"{int(stage['params']):,} parameters")
        if stage.get("description"):
            lines.append(html.escape(str(stage["description"])))
        hover_text.append("<br>".join(lines))
    figure.add_trace(go.Scatter(x=[i + box_width / 2 for i in range(len(stages))], y=[0.5] * len(stages),
                                mode="markers", marker=dict(size=40, opacity=0), text=hover_text,
                                hovertemplate="%{text}<extra></extra>", showlegend=False))
    figure.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                         margin=dict(l=6, r=6, t=36 if title else 6, b=6), plot_bgcolor="white")
    figure.update_xaxes(visible=False, range=[-0.1, count - 1 + box_width + 0.1], fixedrange=True)
    figure.update_yaxes(visible=False, range=[-0.15, 1.15], fixedrange=True)
    return figure
