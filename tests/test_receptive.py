"""Receptive fields, atrous sampling and effective receptive fields (seglib.analysis: fields, dilation, aspp, erf).

Hand-computed cases first (Yu & Koltun's figure 1, the ResNet stem), then a
gradient measurement that must agree with the graph walk, then the two presets'
real models and the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from seglib.analysis import aspp
from seglib.analysis import dilation
from seglib.analysis import erf
from seglib.analysis import fields
from seglib._tf import keras
from seglib.presets import get_preset
from seglib.errors import ModelError

layers = keras.layers


def _stack(rates, size=48, kernel_size=3):
    inputs = keras.Input((size, size, 1))
    x = inputs
    for rate in rates:
        x = layers.Conv2D(1, kernel_size, padding="same", dilation_rate=rate, use_bias=False,
                          kernel_initializer="ones")(x)
    return keras.Model(inputs, x)


# ---------------------------------------------------------------------------
# Hand-computed cases
# ---------------------------------------------------------------------------

def test_three_3x3_convolutions_see_seven_pixels():
    rows = fields.layer_fields(_stack([1, 1, 1]))
    assert [r.receptive_field for r in rows] == [3, 5, 7]
    assert all(r.jump == 1 and r.effective_kernel == 3 for r in rows)


def test_dilations_1_2_4_see_fifteen_pixels():
    # Yu & Koltun (2016), figure 1: 3x3 kernels at dilations 1, 2, 4 -> 3, 7, 15.
    rows = fields.layer_fields(_stack([1, 2, 4]))
    assert [r.receptive_field for r in rows] == [3, 7, 15]
    assert [r.effective_kernel for r in rows] == [3, 5, 9]
    assert dilation.stack_receptive_field([1, 2, 4]) == 15
    assert dilation.stack_receptive_field([1, 1, 1]) == 7
    coverage = dilation.dilated_stack_coverage([1, 2, 4])
    assert coverage.shape == (15, 15) and (coverage > 0).all()  # no holes: every pixel is read
    plain = dilation.dilated_stack_coverage([1, 1, 1])
    assert plain.shape == (7, 7) and plain[3, 3] == plain.max() == 49  # 7 paths per axis to the centre
    assert coverage[7, 7] == 1  # doubling rates: every offset has exactly one path per axis...
    assert coverage.max() == 9  # ...or up to three, spread unevenly (the "gridding" pattern)


def test_dilated_kernel_alone_has_holes():
    coverage = dilation.dilated_stack_coverage([4])
    assert coverage.shape == (9, 9)
    assert int((coverage > 0).sum()) == 9  # the same 9 weights, spread over a 9x9 area


def test_strided_stem_jump_and_start():
    # ResNet stem: pad 3, conv 7x7 / 2 (valid), pad 1, max-pool 3x3 / 2 (valid).
    inputs = keras.Input((64, 64, 3))
    x = layers.ZeroPadding2D(3)(inputs)
    x = layers.Conv2D(4, 7, strides=2)(x)
    x = layers.ZeroPadding2D(1)(x)
    x = layers.MaxPooling2D(3, strides=2)(x)
    rows = fields.layer_fields(keras.Model(inputs, x))
    conv, pool = rows[1], rows[3]
    assert (conv.receptive_field, conv.jump, conv.start) == (7, 2, 0)
    assert (pool.receptive_field, pool.jump, pool.start) == (11, 4, 0)
    assert pool.output_size == (16, 16)


def test_same_padding_with_stride_two_pads_after():
    # TensorFlow pads the odd pixel at the end, so unit 0 reads pixels 0..2.
    inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(1, 3, strides=2, padding="same")(inputs)
    (row,) = fields.layer_fields(keras.Model(inputs, x))
    assert (row.receptive_field, row.jump, row.start) == (3, 2, 1)


def test_residual_add_takes_the_larger_field():
    inputs = keras.Input((32, 32, 1))
    main = layers.Conv2D(2, 3, padding="same")(inputs)
    main = layers.Conv2D(2, 3, padding="same")(main)
    shortcut = layers.Conv2D(2, 1)(inputs)
    x = layers.Add()([main, shortcut])
    rows = fields.layer_fields(keras.Model(inputs, x))
    assert rows[-1].class_name == "Add" and rows[-1].receptive_field == 5


def test_global_pooling_sees_the_whole_image():
    inputs = keras.Input((32, 32, 1))
    x = layers.Conv2D(2, 3, strides=2, padding="same")(inputs)
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(x)
    rows = fields.layer_fields(keras.Model(inputs, pooled))
    assert rows[-1].global_field and rows[-1].receptive_field >= 32


def test_unknown_downsampling_layer_is_a_model_error():
    inputs = keras.Input((32, 32, 1))
    x = layers.Reshape((16, 64, 1))(inputs)
    with pytest.raises(ModelError, match="reshape"):
        fields.layer_fields(keras.Model(inputs, x))


# ---------------------------------------------------------------------------
# The theoretical field agrees with a gradient measurement
# ---------------------------------------------------------------------------

def _gradient_support(model, row, column, size):
    image = np.random.default_rng(0).uniform(1.0, 2.0, (size, size, 1)).astype(np.float32)
    result = erf.effective_receptive_field(model, image, (row, column), class_index=0)
    rows, columns = np.nonzero(result.gradient > 0)
    return result, (rows.min(), rows.max()), (columns.min(), columns.max())


@pytest.mark.parametrize("rates", [[1, 1, 1], [1, 2, 4]])
def test_gradient_extent_equals_theoretical_field(rates):
    model = _stack(rates, size=40)
    result, (r0, r1), _ = _gradient_support(model, 20, 20, 40)
    theory = fields.layer_fields(model)[-1].receptive_field
    assert r1 - r0 + 1 == theory == result.nonzero_extent
    assert (r0 + r1) / 2 == 20


def test_gradient_matches_field_through_strides_padding_and_a_residual():
    # Strided 'same' convs, an average pool, a dilated conv and a residual branch:
    # the support of d(output unit)/d(input) must be exactly the field the walk predicts.
    size = 64
    inputs = keras.Input((size, size, 1))
    ones = dict(use_bias=False, kernel_initializer="ones")
    x = layers.Conv2D(1, 3, strides=2, padding="same", **ones)(inputs)
    x = layers.AveragePooling2D(2)(x)
    main = layers.Conv2D(1, 3, padding="same", dilation_rate=2, **ones)(x)
    shortcut = layers.Conv2D(1, 1, **ones)(x)
    x = layers.Add()([main, shortcut])
    x = layers.Conv2D(1, 3, strides=2, padding="same", **ones)(x)
    model = keras.Model(inputs, x)
    last = fields.layer_fields(model)[-1]
    unit = (4, 4)
    center = last.field.center(unit)
    # Read the gradient at the output unit through a model whose output is that unit.
    _, (r0, r1), (c0, c1) = _gradient_support(_unit_model(model, unit), 0, 0, size)
    assert r1 - r0 + 1 == last.receptive_field
    assert c1 - c0 + 1 == last.field.receptive_field[1]
    assert (r0 + r1) / 2 == center[0] and (c0 + c1) / 2 == center[1]


def _unit_model(model, unit):
    """Wrap ``model`` so its (1, 1) output is one unit of the original output."""
    inputs = keras.Input(model.inputs[0].shape[1:])
    x = model(inputs)
    x = layers.Cropping2D(((unit[0], x.shape[1] - unit[0] - 1), (unit[1], x.shape[2] - unit[1] - 1)))(x)
    padded = layers.ZeroPadding2D(((0, inputs.shape[1] - 1), (0, inputs.shape[2] - 1)))(x)
    return keras.Model(inputs, padded)


def test_mass_extent_and_nonzero_extent():
    grid = np.zeros((21, 21))
    grid[10, 10] = 8.0
    grid[8:13, 8:13] += 0.1  # 25 cells x 0.1 = 2.5; centre holds 8.1 / 10.5
    assert erf.mass_extent(grid, (10, 10), 0.5) == 1
    assert erf.mass_extent(grid, (10, 10), 0.99) == 5
    assert erf.nonzero_extent(grid) == (5, 5)
    assert erf.mass_extent(np.zeros((4, 4)), (1, 1), 0.5) == 0
    with pytest.raises(ValueError, match="fraction"):
        erf.mass_extent(grid, (10, 10), 1.5)


# ---------------------------------------------------------------------------
# Valid taps (DeepLab v3, figure 4)
# ---------------------------------------------------------------------------

def test_valid_taps_hand_cases():
    # 8x8 map, rate 6: along an axis only positions 0,1 (p+6) and 6,7 (p-6) get a
    # second tap -> counts [2,2,1,1,1,1,2,2], mean 1.5 of 3 -> (1.5 / 3)^2 = 0.25.
    stats = dilation.valid_tap_stats(8, 6)
    assert stats["valid_tap_fraction"] == pytest.approx(0.25)
    assert stats["center_only_fraction"] == pytest.approx(0.25)
    assert stats["all_valid_fraction"] == 0.0
    # Rates 12 and 18 on 8x8: pure 1x1.
    for rate in (12, 18):
        stats = dilation.valid_tap_stats(8, rate)
        assert stats["valid_tap_fraction"] == pytest.approx(1 / 9)
        assert stats["center_only_fraction"] == 1.0
        assert stats["histogram"] == {1: 1.0}
    # 32x32, rate 18: 28 of 32 positions see 2 taps per axis, 4 see 1 -> (1.875 / 3)^2.
    stats = dilation.valid_tap_stats(32, 18)
    assert stats["valid_tap_fraction"] == pytest.approx((60 / 32 / 3) ** 2)
    assert stats["center_only_fraction"] == pytest.approx((4 / 32) ** 2)
    assert sum(stats["histogram"].values()) == pytest.approx(1.0)
    assert dilation.valid_tap_stats(32, 1)["all_valid_fraction"] == pytest.approx((30 / 32) ** 2)


def test_valid_tap_curve_falls_with_rate():
    curve = dilation.valid_tap_curve(16)
    fractions = [row["valid_tap_fraction"] for row in curve]
    assert fractions == sorted(fractions, reverse=True)
    assert curve[-1]["center_only_fraction"] == 1.0
    with pytest.raises(ValueError, match="rate"):
        dilation.valid_tap_stats(8, 0)


# ---------------------------------------------------------------------------
# The presets' real models
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def course_model():
    from seglib.model.deeplab import build_model

    return build_model(get_preset("course").model)


@pytest.fixture(scope="module")
def lecture_model():
    from seglib.model.deeplab import build_model

    # The Keras example's rates on a 128 px input (an 8x8 map): what the lecture preset
    # avoids by scaling its rates to the map.
    config = get_preset("lecture").with_overrides({"model.image_size": 128, "model.atrous_rates": "6,12,18"})
    return build_model(config.model)


def test_course_preset_at_512(course_model):
    analysis = aspp.aspp_analysis(course_model)
    assert analysis.image_size == (512, 512)
    assert analysis.input_layer == "conv4_block6_2_relu"
    assert analysis.stride == 16 and analysis.feature_size == (32, 32)
    # ResNet50 by hand: stem 7x7/2 -> 7, max-pool 3/2 -> 11 (jump 4); conv2: three 3x3
    # at jump 4 -> 35; conv3 (jump 8): four 3x3 -> 99; conv4 (jump 16): six 3x3 -> 291.
    assert analysis.receptive_field == 291
    by_rate = {b.rate: b for b in analysis.branches if b.kind == "conv"}
    assert {r: by_rate[r].spacing_px for r in (6, 12, 18)} == {6: 96, 12: 192, 18: 288}
    assert {r: by_rate[r].effective_kernel for r in (6, 12, 18)} == {6: 13, 12: 25, 18: 37}
    assert {r: by_rate[r].receptive_field_px for r in (6, 12, 18)} == {6: 291 + 12 * 16, 12: 291 + 24 * 16,
                                                                       18: 291 + 36 * 16}
    assert by_rate[1].kernel_size == 1 and by_rate[1].receptive_field_px == 291
    pool = analysis.branch("image pooling")
    assert pool.whole_image and pool.name == "aspp_pool" and pool.effective_kernel == 32
    assert by_rate[18].valid_tap_fraction == pytest.approx(dilation.valid_tap_stats(32, 18)["valid_tap_fraction"])
    # The analysis finds exactly the branches the builder names.
    assert [b.name for b in analysis.branches] == ["aspp_pool", "aspp_1x1", "aspp_rate6", "aspp_rate12",
                                                   "aspp_rate18"]
    # The table reaches the logits at full resolution.
    last = fields.layer_fields(course_model)[-1]
    assert last.name == "logits" and last.output_size == (512, 512) and last.jump == 1


def test_course_sampling_grid_at_the_centre(course_model):
    analysis = aspp.aspp_analysis(course_model)
    grid = aspp.sampling_grid(analysis, (256, 256))
    assert grid["unit"] == (16, 16) and grid["center"] == (256, 256)
    taps = [t for t in grid["taps"] if t.rate == 18]
    assert len(taps) == 9
    assert sorted({t.row for t in taps}) == [256 - 288, 256, 256 + 288]
    assert [t.valid for t in taps if t.row == 256 and t.column == 256] == [True]
    assert sum(t.valid for t in taps) == 1  # everything else falls on padding
    rate6 = [t for t in grid["taps"] if t.rate == 6]
    assert all(t.valid for t in rate6) and sorted({t.column for t in rate6}) == [160, 256, 352]
    squares = {s["label"]: s for s in grid["squares"]}
    assert squares["image pooling"]["whole_image"]
    assert squares["3x3 rate 6"]["row1"] - squares["3x3 rate 6"]["row0"] == 291 + 12 * 16
    assert len([t for t in grid["taps"] if t.rate == 1]) == 1


def test_example_rates_at_128_degenerate_to_1x1(lecture_model):
    analysis = aspp.aspp_analysis(lecture_model)
    assert analysis.image_size == (128, 128) and analysis.feature_size == (8, 8) and analysis.stride == 16
    by_rate = {b.rate: b for b in analysis.branches if b.kind == "conv"}
    assert by_rate[6].valid_tap_fraction == pytest.approx(0.25)
    assert by_rate[12].center_only_fraction == 1.0 and by_rate[18].center_only_fraction == 1.0
    assert by_rate[12].valid_tap_fraction == pytest.approx(1 / 9)
    assert by_rate[1].center_only_fraction is None  # a 1x1 kernel is not "degenerate"


def test_lecture_preset_rates_fit_its_feature_map():
    from seglib.model.deeplab import build_model

    analysis = aspp.aspp_analysis(build_model(get_preset("lecture").model))
    assert analysis.feature_size == (10, 10)
    for branch in analysis.branches:
        if branch.kind == "conv" and branch.rate > 1:
            assert branch.center_only_fraction < 0.5  # every rate reads real features somewhere
            assert branch.valid_tap_fraction > 1 / 3


def test_numbers_follow_the_config():
    from seglib.model.deeplab import build_model

    config = get_preset("lecture").with_overrides({"model.image_size": 64, "model.atrous_rates": "2,3"})
    analysis = aspp.aspp_analysis(build_model(config.model))
    assert analysis.feature_size == (4, 4)
    assert sorted(b.spacing_px for b in analysis.branches if b.kind == "conv" and b.rate > 1) == [32, 48]
    assert analysis.branch("image pooling").effective_kernel == 4


def test_model_without_aspp_is_a_model_error():
    with pytest.raises(ModelError, match="ASPP"):
        aspp.aspp_analysis(_stack([1, 1]))


# ---------------------------------------------------------------------------
# Effective receptive field on the real architecture
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_effective_receptive_field_trained_vs_untrained_shapes():
    from seglib.model.deeplab import build_model

    model = build_model(get_preset("lecture").with_overrides({"model.image_size": 64}).model)
    image = np.random.default_rng(1).integers(0, 255, (80, 90, 3), dtype=np.uint8)
    result = erf.effective_receptive_field(model, image, (32, 32))
    assert result.gradient.shape == (64, 64) and result.gradient.max() == pytest.approx(1.0)
    assert 0 <= result.class_index < 20
    assert 1 <= result.extent_50 <= result.extent_90 <= 2 * 64 + 1
    fresh = erf.untrained_copy(model, seed=3)
    again = erf.untrained_copy(model, seed=3)
    assert fresh.count_params() == model.count_params()
    first = erf.effective_receptive_field(fresh, image, (32, 32), class_index=0).gradient
    second = erf.effective_receptive_field(again, image, (32, 32), class_index=0).gradient
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)  # seeded
    with pytest.raises(ValueError, match="pixel"):
        erf.effective_receptive_field(model, image, (64, 0))


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def test_cli_json_in_process(capsys):
    from seglib.cli.main import main

    assert main(["receptive", "--preset", "course", "--image-size", "128", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["preset"] == "course" and summary["image_size"] == [128, 128]
    assert summary["aspp_input"] == {"layer": "conv4_block6_2_relu", "stride": 16, "feature_size": [8, 8],
                                     "receptive_field_px": 291, "start_px": 0}
    rows = {b["label"]: b for b in summary["branches"]}
    assert set(rows) == {"image pooling", "1x1 conv", "3x3 rate 6", "3x3 rate 12", "3x3 rate 18"}
    assert rows["3x3 rate 12"]["spacing_px"] == 192 and rows["3x3 rate 12"]["center_only_fraction"] == 1.0
    assert rows["image pooling"]["whole_image"] is True
    for row in rows.values():
        assert {"name", "rate", "effective_kernel", "spacing_px", "receptive_field_px",
                "valid_tap_fraction"} <= set(row)


def test_cli_table_and_bad_size(capsys):
    from seglib.cli.main import main

    assert main(["receptive", "--preset", "lecture", "--image-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "stride 16 px" in out and "3x3 rate 6" in out
    assert main(["receptive", "--preset", "lecture", "--image-size", "70"]) == 1
    assert "multiple of the output stride" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_subprocess_is_quiet_json():
    result = subprocess.run(
        [sys.executable, "-m", "seglib", "receptive", "--preset", "lecture", "--image-size", "64", "--json"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["aspp_input"]["stride"] == 16
    assert result.stderr.strip() == ""


@pytest.mark.slow
def test_reduced_build_gives_the_full_size_numbers(course_model):
    """The Keras example's column on the Atrous page comes from a 64 px build: its ASPP input layer and
    receptive fields are those of the 512 px model (``ui.models.reduced_numbers`` keeps them on disk)."""
    from seglib.analysis import reduced

    numbers = reduced.reduced_numbers("course")
    analysis = aspp.aspp_analysis(course_model)
    assert numbers["small_size"] == 4 * get_preset("course").model.output_stride < 512
    assert numbers["input_layer"] == analysis.input_layer
    assert numbers["backbone_field"] == analysis.receptive_field
    assert numbers["fields"] == {b.rate: b.receptive_field_px for b in analysis.branches if b.kind == "conv"}


def test_the_rate_arithmetic_of_the_atrous_page():
    import doctest

    from seglib.analysis import rates

    assert doctest.testmod(rates).failed == 0
    example = rates.comparison_column(512, 16, "conv4_block6_2_relu", 291, [6, 12, 18], {6: 483, 12: 675, 18: 867})
    assert example["output stride · ASPP map"] == "16 · 32 × 32"
    assert example["tap spacing"] == "96 / 192 / 288 px" and example["atrous branch fields"] == "483 / 675 / 867 px"
    assert example["valid taps (mean over positions)"] == " / ".join(
        f"{dilation.valid_tap_stats(32, rate)['valid_tap_fraction']:.0%}" for rate in (6, 12, 18))
    assert example["rates that act as 1 × 1 everywhere"] == "none"
    small = rates.comparison_column(96, 16, "block_13_expand_relu", None, [2, 4, 6], {2: 331})
    assert small["rates that act as 1 × 1 everywhere"] == "6"  # a 6 × 6 map: rate 6 reads only the centre
    assert small["backbone field"] == "?" and small["atrous branch fields"] == "331 / ? / ? px"
    assert rates.rates_need([2, 4, 6], 16).startswith("Rate 6 reads a neighbour only on maps of at least 7 × 7")
    assert "DeepLab chose 6/12/18" in rates.rates_need([6, 12, 18], 16)
    assert rates.collapse_hint([2, 4, 6], 16, 64, [64, 96], fixed_size=True) == (
        "No smaller size on offer turns one of them into a 1 × 1 convolution.")
