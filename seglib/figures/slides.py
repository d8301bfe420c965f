"""Figures for slides: the size, fonts and caption line of a figure downloaded for a slide, and the
same scale for presentation mode on a projector. No Streamlit.

A figure is designed for the page: its fonts, margins and height are in screen pixels. For a slide
it is laid out ``SLIDE.layout_width`` wide, with the proportions it has on the page (at most the
slide's 16:9, at least a band ``min_chart_height`` high), and drawn ``SLIDE.scale`` times larger: a
picture 1920 px wide whose fonts, margins and lines all grow by the same factor, so nothing designed
for the page ends up crowded or tiny. A band below the chart holds the caption line that names what
the figure was drawn from: ``run <id or 'demo model'> · model <summary> · dataset <name>``.

The viewer's browser draws the download (``ui/components/slide_export.js``, with Plotly.js's own
``toImage``) from the numbers ``slide_spec`` gives it and the chart's size on the page (the rule is
``picture_size``), so no export work runs on the server. Presentation mode
(``presentation_figure``) draws a figure on the page with the same factor on its fonts, margins and
height, up to the slide's chart height.

>>> SLIDE.width, SLIDE.height, SLIDE.scale
(1920, 1080, 1.5)
>>> caption_line(run="demo model", model="lecture: mobilenetv2 x0.35 (pretrained backbone), 160 px",
...              dataset="synthetic")
'run demo model · model lecture: mobilenetv2 x0.35 (pretrained backbone), 160 px · dataset synthetic'
>>> caption_line(model="course: resnet50 (random weights), 512 px")
'run — · model course: resnet50 (random weights), 512 px · dataset —'
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from typing import Any

#: Plotly's own default font family, so the caption matches the chart's text.
PLOTLY_FONT_FAMILY = '"Open Sans", verdana, arial, sans-serif'
#: Plotly's default font size: the size of every text a figure does not size itself.
PLOTLY_FONT_SIZE = 12
#: Plotly's default figure height, for figures that do not set one.
PLOTLY_HEIGHT = 450
#: Shown for a part of the caption that does not apply (a preset's architecture has no run).
NOT_APPLICABLE = "—"
#: Average width of a character of the caption's sans-serif font, in font sizes (generous, so the
#: line fits even with many wide letters).
CHARACTER_WIDTH = 0.6
_SEPARATOR = " · "


@dataclasses.dataclass(frozen=True)
class SlideLayout:
    """The slide a figure is downloaded for, in pixels of the downloaded picture."""

    width: int = 1920            #: picture width
    height: int = 1080           #: the tallest picture (16:9); a flatter chart gives a flatter one
    scale: float = 1.5           #: how much larger than on the page fonts, margins and lines are drawn
    caption_band: int = 48       #: height of the band under the chart that holds the caption line
    caption_font_size: int = 18  #: the caption's font size
    caption_padding: int = 24    #: left and right space of the caption line
    caption_color: str = "#444444"
    font_family: str = PLOTLY_FONT_FAMILY
    min_chart_height: int = 240  #: the flattest chart (a strip of boxes) is drawn at least this high

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"A slide needs a positive size. Received: width={self.width}, height={self.height}")
        if not self.scale > 0:
            raise ValueError(f"The slide's scale must be positive. Received: scale={self.scale}")
        if not 0 <= self.caption_band < self.height:
            raise ValueError(f"The caption band must leave room for the chart. Received: "
                             f"caption_band={self.caption_band}, height={self.height}")
        if not 0 < self.min_chart_height <= self.height - self.caption_band:
            raise ValueError(f"The least chart height must fit the slide. Received: min_chart_height="
                             f"{self.min_chart_height}, height={self.height}, caption_band={self.caption_band}")
        if self.caption_font_size > self.caption_band:
            raise ValueError(f"The caption's font must fit its band. Received: caption_font_size="
                             f"{self.caption_font_size}, caption_band={self.caption_band}")

    @property
    def chart_height(self) -> int:
        """Height of the tallest chart above the caption band, in pixels of the picture."""
        return self.height - self.caption_band

    @property
    def layout_width(self) -> float:
        """The width the chart is laid out at (page pixels): the picture's width / ``scale``."""
        return self.width / self.scale

    @property
    def chart_layout_height(self) -> float:
        """The height the tallest chart is laid out at (page pixels)."""
        return self.chart_height / self.scale

    @property
    def caption_max_chars(self) -> int:
        """The longest caption line that fits the picture's width."""
        return int((self.width - 2 * self.caption_padding) / (CHARACTER_WIDTH * self.caption_font_size))


#: The one slide every download and presentation mode use.
SLIDE = SlideLayout()


def fit_caption(text: str, layout: SlideLayout = SLIDE) -> str:
    """``text`` on one line, cut with an ellipsis where it would not fit the slide's width."""
    text = " ".join(str(text).split())
    limit = layout.caption_max_chars
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def caption_line(run: str | None = None, model: str | None = None, dataset: str | None = None,
                 layout: SlideLayout = SLIDE) -> str:
    """``run <run> · model <model> · dataset <dataset>`` (``—`` for a part that does not apply), fitted
    to the slide: a long model summary is shortened first, so the run and the dataset stay readable."""
    def part(label: str, value: str | None) -> str:
        value = " ".join(str(value).split()) if value not in (None, "") else NOT_APPLICABLE
        return f"{label} {value}"

    head, middle, tail = part("run", run), part("model", model), part("dataset", dataset)
    room = layout.caption_max_chars - len(head) - len(tail) - 2 * len(_SEPARATOR)
    if len(middle) > room >= len("model …"):
        middle = middle[:room - 1].rstrip() + "…"
    return fit_caption(_SEPARATOR.join((head, middle, tail)), layout)


def chart_filename(*names: str | None) -> str:
    """A file name (without extension) from the parts that name a chart: 'predictions-pred-truth'."""
    text = "-".join(str(name) for name in names if name)
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].strip("-") or "figure"


def _round(value: float) -> int:
    """Round half up, as the browser's ``Math.round`` does (Python's ``round`` rounds half to even)."""
    return math.floor(value + 0.5)


def chart_layout_height(page_aspect: float | None, layout: SlideLayout = SLIDE) -> int:
    """The height (page pixels) a chart is laid out at for a slide: its height / width on the page
    times the slide's layout width, between ``min_chart_height`` and the slide's chart height (a
    chart of unknown proportions fills the slide)."""
    largest = _round(layout.chart_layout_height)
    if not page_aspect or page_aspect <= 0:
        return largest
    smallest = _round(layout.min_chart_height / layout.scale)
    return min(largest, max(smallest, _round(layout.layout_width * page_aspect)))


def picture_size(page_aspect: float | None, layout: SlideLayout = SLIDE) -> tuple[int, int]:
    """``(width, height)`` in pixels of the slide picture of a chart ``page_aspect`` (height / width)
    on the page: always ``layout.width`` wide, at most ``layout.height`` high, caption band included."""
    chart = chart_layout_height(page_aspect, layout)
    return layout.width, _round((chart + layout.caption_band / layout.scale) * layout.scale)


def slide_spec(layout: SlideLayout = SLIDE) -> dict[str, Any]:
    """What the browser needs to draw a slide, as JSON-ready numbers (page pixels unless ``pixel``).

    The chart is laid out ``layoutWidth`` wide and ``chart_layout_height`` high (``minChartHeight``
    to ``maxChartHeight``, from its proportions on the page), then drawn ``scale`` times larger into a
    picture ``pixelWidth`` wide. The caption band (``captionBand``) follows the chart; the caption's
    baseline is ``captionBaselineOffset`` below the chart, which puts its text in the band's middle.
    """
    font = layout.caption_font_size / layout.scale
    band = layout.caption_band / layout.scale
    return {
        "pixelWidth": layout.width,
        "scale": layout.scale,
        "layoutWidth": layout.layout_width,
        "maxChartHeight": chart_layout_height(None, layout),
        "minChartHeight": _round(layout.min_chart_height / layout.scale),
        "captionBand": band,
        # a text's baseline sits about a third of its size below the middle of its capitals
        "captionBaselineOffset": band / 2 + font / 3,
        "captionX": layout.caption_padding / layout.scale,
        "captionFontSize": font,
        "captionFontFamily": layout.font_family,
        "captionColor": layout.caption_color,
    }


# ---------------------------------------------------------------------------
# Presentation mode: the slide's scale on the page
# ---------------------------------------------------------------------------

def _scale_fonts(node: Any, factor: float) -> None:
    """Multiply, in place, every font size of a figure's JSON (``font``, ``tickfont``, ``textfont``, ...)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict) and "size" in value:
                size = value["size"]
                if _is_number(size):
                    value["size"] = size * factor
                elif isinstance(size, (list, tuple)):
                    value["size"] = [s * factor if _is_number(s) else s for s in size]
            _scale_fonts(value, factor)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _scale_fonts(value, factor)


_MARGIN_SIDES = ("l", "r", "t", "b", "pad")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sets_font_size(figure_json: dict) -> bool:
    """Whether the figure's layout or its template sizes the text the figure does not size itself."""
    layout = figure_json.get("layout") or {}
    template = (layout.get("template") or {}).get("layout") or {}
    return any(_is_number((source.get("font") or {}).get("size")) for source in (layout, template))


def presentation_layout(figure_json: dict, layout: SlideLayout = SLIDE) -> dict:
    """A figure's JSON (``figure.to_dict()``) drawn for presentation mode: every font size and the
    margins ``layout.scale`` times larger, as in the slide, and the height too, up to the slide's
    chart height. Returns a new dict; ``figure_json`` is not changed."""
    scaled = copy.deepcopy(figure_json)
    factor = layout.scale
    _scale_fonts(scaled, factor)  # the layout's, the template's and the traces' own sizes
    figure_layout = scaled.setdefault("layout", {})
    if not _sets_font_size(figure_json):
        figure_layout.setdefault("font", {})["size"] = PLOTLY_FONT_SIZE * factor
    figure_layout["margin"] = {key: value * factor if key in _MARGIN_SIDES and _is_number(value) else value
                               for key, value in (figure_layout.get("margin") or {}).items()}
    height = figure_layout.get("height") or PLOTLY_HEIGHT
    figure_layout["height"] = presentation_height(height, layout)
    return scaled


def presentation_height(page_height: float, layout: SlideLayout = SLIDE) -> int:
    """The height of a figure in presentation mode: its page height × the slide's scale, at most the
    slide's chart height."""
    return int(min(round(float(page_height) * layout.scale), layout.chart_height))


def presentation_figure(figure, layout: SlideLayout = SLIDE):
    """``presentation_layout`` of a Plotly figure, as a new figure (``figure`` is not changed)."""
    import plotly.graph_objects as go

    return go.Figure(presentation_layout(figure.to_dict(), layout))
