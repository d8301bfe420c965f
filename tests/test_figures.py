"""Figure builders: class names on hover, palettes, sorting, log scales, downscaling."""

import numpy as np
import pytest

from seglib.figures import charts as chart_figures
from seglib.figures import masks as mask_figures
from seglib.figures import stages as stage_figures
from seglib.classes import CLASS_NAMES, IGNORE_LABEL, colorize, get_palette


def _mask(size=48):
    mask = np.zeros((size, size), np.uint8)
    mask[4:20, 4:20] = 13          # Face
    mask[24:40, 10:30] = 5         # UpperClothes
    mask[44:46, 0:4] = IGNORE_LABEL
    return mask


def _image(size=48):
    return np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", mask_figures.MASK_KINDS)
def test_mask_figure_names_the_class_of_every_pixel(kind):
    mask = _mask()
    figure = mask_figures.mask_figure(mask, _image(), kind=kind)
    picture, hover = figure.data
    # The mask exact (PNG); the photo-like kinds as JPEG, several times smaller to send.
    expected = "data:image/png;base64," if kind == "mask" else "data:image/jpeg;base64,"
    assert picture.type == "image" and picture.source.startswith(expected)
    assert hover.type == "heatmap"
    text = np.asarray(hover.text)
    assert text.shape == mask.shape
    assert text[10, 10] == "Face" and text[30, 20] == "UpperClothes" and text[0, 0] == "Background"
    assert text[45, 1] == "Ignore"
    assert "%{text}" in hover.hovertemplate


def test_mask_figure_downscales_large_pictures_with_nearest_labels():
    mask = np.zeros((600, 300), np.uint8)
    mask[:, 150:] = 16
    figure = mask_figures.mask_figure(mask, np.zeros((600, 300, 3), np.uint8), max_size=200, hover_size=200)
    hover = figure.data[1]
    text = np.asarray(hover.text)
    assert text.shape == (200, 100)
    assert set(np.unique(text)) == {"Background", "Left-leg"}  # no invented class at the boundary
    # axes stay in pixels of the original image
    assert hover.dx == pytest.approx(3.0)
    assert figure.layout.xaxis.range[1] == pytest.approx(299.5)


def test_mask_figure_hover_grid_is_coarser_than_the_picture_and_still_names_the_right_class():
    mask = np.zeros((600, 300), np.uint8)
    mask[:, 150:] = 16
    figure = mask_figures.mask_figure(mask, np.zeros((600, 300, 3), np.uint8), max_size=512)
    hover = figure.data[1]
    text = np.asarray(hover.text)
    assert max(text.shape) == mask_figures.DEFAULT_HOVER_SIZE  # one string per cell, not per pixel
    # every cell names the class at its centre, in pixels of the original image
    centres = hover.x0 + hover.dx * np.arange(text.shape[1])
    assert all(text[0, j] == ("Left-leg" if x >= 150 else "Background") for j, x in enumerate(centres))
    assert hover.y0 + hover.dy * (text.shape[0] - 1) == pytest.approx(599.5 - hover.dy / 2, abs=0.5)


def test_mask_figure_visible_classes_and_palette_change_the_picture():
    mask = _mask()
    full = mask_figures.mask_figure(mask, kind="mask", palette="cihp").data[0].source
    hidden = mask_figures.mask_figure(mask, kind="mask", palette="cihp", visible=[0, 5]).data[0].source
    blind = mask_figures.mask_figure(mask, kind="mask", palette="colorblind").data[0].source
    assert len({full, hidden, blind}) == 3


def test_mask_figure_rejects_bad_input_with_the_received_value():
    with pytest.raises(ValueError, match="Received: kind='heat'"):
        mask_figures.mask_figure(_mask(), _image(), kind="heat")
    with pytest.raises(ValueError, match="needs the image"):
        mask_figures.mask_figure(_mask(), kind="overlay")
    with pytest.raises(ValueError, match="sizes differ"):
        mask_figures.mask_figure(_mask(48), _image(32), kind="overlay")


def test_mask_fractions_skip_ignored_pixels():
    counts, fractions = chart_figures.mask_fractions(_mask())
    assert counts.dtype == np.int64 and counts[13] == 256 and counts[5] == 320
    assert fractions.sum() == pytest.approx(1.0)
    assert counts.sum() == 48 * 48 - 8


def test_class_fraction_figure_sorted_colored_and_without_background():
    fractions = np.linspace(1, 20, 20)[::-1] ** 3
    fractions /= fractions.sum()
    counts = (fractions * 1e6).astype(np.int64)
    figure = chart_figures.class_fraction_figure(fractions, counts=counts, palette="cihp")
    bars = figure.data[0]
    assert len(bars.x) == 20 and list(bars.x)[0] == "Background"
    assert list(bars.y) == sorted(bars.y, reverse=True)
    assert bars.marker.color[0] == "#000000"
    without = chart_figures.class_fraction_figure(fractions, include_background=False, log=True).data[0]
    assert len(without.x) == 19 and "Background" not in list(without.x)
    assert sum(without.y) == pytest.approx(1.0)
    assert chart_figures.class_fraction_figure(fractions, log=True).layout.yaxis.type == "log"


def test_class_fraction_figure_reference_markers_follow_the_bar_order():
    image = np.zeros(20)
    image[[0, 13]] = [0.9, 0.1]
    split = np.full(20, 0.05)
    figure = chart_figures.class_fraction_figure(image, reference=split, reference_name="split")
    bars, markers = figure.data
    assert list(markers.x) == list(bars.x)
    assert markers.name == "split" and np.allclose(markers.y, 0.05)


def test_legend_html_lists_every_class_with_its_colour():
    html = mask_figures.legend_html("colorblind", hidden=[3])
    for name in CLASS_NAMES:
        assert name in html
    assert "#{:02x}{:02x}{:02x}".format(*get_palette("colorblind")[13]) in html
    assert html.count("line-through") == 1


def test_histogram_and_box_figures():
    histogram = chart_figures.histogram_figure([10, 20, 20, 300], xaxis_title="person height (pixels)")
    assert list(histogram.data[0].x) == [10, 20, 20, 300]
    box = chart_figures.class_box_figure({2: [5, 50, 500], 4: [3, 4], 7: []}, palette="cihp")
    assert [trace.name for trace in box.data] == ["Hair", "Sunglasses"]
    assert box.layout.yaxis.type == "log"
    # Only the box's numbers are sent, from every value: whiskers from the smallest to the largest.
    values = np.random.default_rng(0).lognormal(5, 1, 5000)
    hair = chart_figures.class_box_figure({2: values}).data[0]
    assert hair.y is None and (hair.lowerfence[0], hair.upperfence[0]) == (values.min(), values.max())
    assert (hair.q1[0], hair.median[0], hair.q3[0]) == tuple(np.percentile(values, [25, 50, 75]))


def test_stages_figure_shows_each_stage_and_shape():
    stages = [
        {"stage": "backbone", "output_shape": (None, 4, 4, 96), "params": 10, "layers": 3},
        {"stage": "aspp", "output_shape": (None, 4, 4, 256), "params": 20, "layers": 5},
        {"stage": "decoder", "output_shape": (None, 16, 16, 256), "params": 30, "layers": 4},
        {"stage": "head", "output_shape": (None, 64, 64, 20), "params": 40, "layers": 2},
    ]
    figure = stage_figures.stages_figure(stages)
    text = " ".join(annotation.text or "" for annotation in figure.layout.annotations)
    assert "Backbone (encoder)" in text and "64 × 64 × 20" in text and "ASPP" in text
    assert len(figure.layout.shapes) == 4


def test_photos_go_as_jpeg_and_masks_as_exact_png():
    """A 256 px sample: the JPEG is far smaller than the PNG and close to it; the mask's colours stay exact."""
    import base64

    import cv2

    rows, columns = np.mgrid[0:256, 0:256]
    photo = np.stack([rows, columns, (rows + columns) // 2], axis=-1).astype(np.uint8)
    jpeg, png = mask_figures.jpeg_data_uri(photo), mask_figures.png_data_uri(photo)

    def decoded(uri):
        data = np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    assert len(jpeg) < len(png) / 3
    assert np.abs(decoded(jpeg).astype(int) - photo).mean() < 2
    mask = _mask()
    figure = mask_figures.mask_figure(mask, kind="mask")
    assert np.array_equal(decoded(figure.data[0].source), colorize(mask, "cihp"))
