"""Classes, palettes, masks drawn as pictures, and human_colormap.mat."""

import numpy as np
import pytest
from scipy.io import savemat

from seglib import classes
from seglib.errors import DatasetError


def test_twenty_cihp_classes_in_order():
    assert classes.NUM_CLASSES == 20
    assert classes.CLASS_NAMES[0] == "Background"
    assert classes.CLASS_NAMES[13] == "Face"
    assert classes.CLASS_NAMES[14:20] == ("Left-arm", "Right-arm", "Left-leg", "Right-leg",
                                          "Left-shoe", "Right-shoe")


@pytest.mark.parametrize("name", ["cihp", "colorblind"])
def test_palettes_have_a_distinct_colour_per_class(name):
    palette = classes.get_palette(name)
    assert palette.shape == (20, 3) and palette.dtype == np.uint8
    assert len({tuple(c) for c in palette}) == 20
    assert tuple(palette[0]) == (0, 0, 0)


def test_cihp_palette_matches_the_published_values():
    # Spot checks against CIHP_PGN / LIP `label_colours`.
    palette = classes.CIHP_PALETTE
    assert tuple(palette[1]) == (128, 0, 0)
    assert tuple(palette[13]) == (0, 0, 255)
    assert tuple(palette[19]) == (255, 170, 0)


def test_unknown_palette_lists_valid_names():
    with pytest.raises(KeyError, match="cihp, colorblind"):
        classes.get_palette("rainbow")


def test_colorize_and_ignore_label():
    mask = np.array([[0, 13], [255, 2]], dtype=np.uint8)
    rgb = classes.colorize(mask)
    assert rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [0, 0, 255]
    assert rgb[1, 0].tolist() == classes.IGNORE_COLOR.tolist()
    hidden = classes.colorize(mask, visible={2})
    assert hidden[0, 1].tolist() == [0, 0, 0] and hidden[1, 1].tolist() == [255, 0, 0]


def test_overlay_blends_only_labelled_pixels():
    image = np.full((2, 2, 3), 100, np.uint8)
    mask = np.array([[0, 2], [2, 0]], np.uint8)
    out = classes.overlay(image, mask, opacity=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]  # background untouched
    assert out[0, 1].tolist() == [178, 50, 50]  # halfway to (255, 0, 0)
    assert classes.overlay(image, mask, opacity=0.0).tolist() == image.tolist()
    with pytest.raises(ValueError, match="opacity"):
        classes.overlay(image, mask, opacity=1.5)
    with pytest.raises(ValueError, match="sizes differ"):
        classes.overlay(image, mask[:1], opacity=0.5)


def test_swap_left_right_is_an_involution():
    mask = np.arange(20, dtype=np.uint8).reshape(4, 5)
    swapped = classes.swap_left_right(mask)
    assert swapped.ravel()[14:].tolist() == [15, 14, 17, 16, 19, 18]
    assert swapped.ravel()[:14].tolist() == list(range(14))
    assert np.array_equal(classes.swap_left_right(swapped), mask)


def test_load_colormap_scales_floats_to_0_255(tmp_path):
    path = tmp_path / "human_colormap.mat"
    savemat(path, {"colormap": classes.CIHP_PALETTE.astype(np.float64) / 255.0})
    palette = classes.load_colormap(path)
    assert palette.dtype == np.uint8
    assert np.array_equal(palette, classes.CIHP_PALETTE)  # not scaled by 100 (too dark)


def test_load_colormap_bad_file_is_a_typed_error(tmp_path):
    path = tmp_path / "human_colormap.mat"
    path.write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="human_colormap.mat"):
        classes.load_colormap(path)


def test_class_table_for_legends():
    table = classes.class_table("cihp")
    assert table[2] == {"id": 2, "name": "Hair", "rgb": (255, 0, 0), "hex": "#ff0000"}
