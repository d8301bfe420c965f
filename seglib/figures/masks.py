"""Pictures of images and masks for the dashboard pages: an image, its colour
mask or the mask blended over it, with the class name of the pixel under the
mouse, and the HTML legend of class colours.

The builders are plain functions of arrays and tables, so they are tested
without a browser and shared by every page (dataset explorer, training,
predictions). They never import Streamlit.

Every figure follows the same rules: classes are drawn in the palette the
user picked, class names appear on hover, and pictures are downscaled for
display (at most ``max_size`` pixels a side) so that the browser stays quick.

>>> import numpy as np
>>> from seglib.figures.masks import mask_figure
>>> mask = np.zeros((32, 32), np.uint8); mask[8:24, 8:24] = 13
>>> figure = mask_figure(mask, kind="mask")
>>> figure.data[1].text[16][16]
'Face'
"""

from __future__ import annotations

import base64
import html
from typing import Iterable, Sequence

import numpy as np

from seglib.classes import CLASS_NAMES, class_hex_colors, class_label, class_label_lookup, colorize, overlay
from seglib.figures.style import EDGE_COLOR, TRANSPARENT

#: Kinds of picture ``mask_figure`` can draw.
MASK_KINDS = ("image", "mask", "overlay")
#: Largest side, in pixels, of a picture sent to the browser by default.
DEFAULT_MAX_SIZE = 512
#: Hover cells a side of the class-name layer of ``mask_figure``: the hover
#: text is one string per cell, so it is coarser than the picture: it grows
#: with the square of this and goes to every viewer. At 64 a cell is a few
#: screen pixels of a figure a third of the page wide (the Dataset explorer's
#: samples).
DEFAULT_HOVER_SIZE = 64
#: JPEG quality of the photo-like pictures (an image, or a mask blended over it).
PHOTO_QUALITY = 90


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


def jpeg_data_uri(picture: np.ndarray, quality: int = PHOTO_QUALITY) -> str:
    """Encode an RGB (H, W, 3) or grey (H, W) uint8 array as a JPEG data URI.

    For photos (an image, or a mask blended over one): several times smaller than PNG with
    no visible loss (``tests/test_figures.py`` checks a 256 px sample: under a third of the
    PNG, within 2 grey levels on average). Masks
    keep ``png_data_uri``: their class colours stay exact (and PNG packs flat colours well).
    """
    import cv2

    picture = np.ascontiguousarray(np.asarray(picture, dtype=np.uint8))
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise ValueError(f"Cannot encode a picture of shape {picture.shape} as JPEG.")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


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

    The picture is a ``go.Image`` (a PNG for the mask, a JPEG for the photo-like
    kinds: small to send); on top of it lies a
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
            string per cell, so the figure grows with the square of this; at
            64 (the default) a cell is still a few screen pixels.
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
    visible_list = None if visible is None else [int(v) for v in visible]

    full_height, full_width = mask.shape
    small_image, small_mask, scale = downscale_for_display(image, mask.astype(np.uint8), max_size)
    if kind == "image":
        picture = small_image
    elif kind == "mask":
        picture = colorize(small_mask, palette, visible=visible_list)
    else:
        picture = overlay(small_image, small_mask, opacity=float(opacity), palette=palette,
                          visible=visible_list)
    step = 1.0 / scale
    origin = 0.5 * step - 0.5  # centre of the first display pixel, in original pixels

    figure = go.Figure()
    source = png_data_uri(picture) if kind == "mask" else jpeg_data_uri(picture)  # masks: exact colours
    figure.add_trace(go.Image(source=source, x0=origin, y0=origin, dx=step, dy=step, hoverinfo="skip", name=kind))
    if hover:
        lookup = class_label_lookup(class_names)
        _, hover_mask, hover_scale = downscale_for_display(None, mask.astype(np.uint8), hover_size)
        hover_step = 1.0 / hover_scale
        hover_origin = 0.5 * hover_step - 0.5
        figure.add_trace(go.Heatmap(
            z=hover_mask, x0=hover_origin, y0=hover_origin, dx=hover_step, dy=hover_step,
            text=lookup[hover_mask], colorscale=TRANSPARENT, showscale=False,
            hovertemplate="<b>%{text}</b> (id %{z})<br>x %{x:.0f}, y %{y:.0f}<extra></extra>",
            name="classes",
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
    ids = list(range(len(class_names))) if classes is None else [int(c) for c in classes]
    hidden_set = {int(c) for c in hidden}
    chips = []
    for class_id, color in zip(ids, class_hex_colors(palette, ids)):
        name = html.escape(class_label(class_id, class_names))
        faded = class_id in hidden_set
        style = ("display:inline-flex;align-items:center;gap:6px;margin:2px 10px 2px 0;"
                 "font-size:0.85rem;white-space:nowrap;"
                 + ("opacity:0.45;text-decoration:line-through;" if faded else ""))
        chips.append(
            f'<span class="seglib-legend-chip" style="{style}" title="id {class_id}">'
            f'<span style="display:inline-block;width:14px;height:14px;border-radius:3px;'
            f'background:{color};border:1px solid {EDGE_COLOR};"></span>'
            f"{class_id}&nbsp;{name}</span>"
        )
    return ('<div class="seglib-legend" style="display:flex;flex-wrap:wrap;line-height:1.6;">'
            + "".join(chips) + "</div>")
