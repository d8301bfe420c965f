"""seglib.lab.checks: the numbers behind the reasoning questions, each against a
hand computation on tiny masks and tiny models, and the Keras example's numbers
from its config against the same numbers measured on built models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seglib.lab import facts as lab_facts
from seglib.lab import checks as lab_checks
from seglib.presets import get_preset
from seglib.evaluation.metrics import confusion_matrix, mean_iou, pixel_accuracy
from seglib.model.deeplab import build_model


@pytest.mark.parametrize("preset", ["lecture", "keras-example"])
def test_config_numbers_match_the_built_model(preset):
    """The receptive field table and the shape rules against aspp_analysis of the real graph
    (ResNet50 for the Keras example, built at 64 px: the field does not depend on the size)."""
    config = get_preset(preset).with_overrides({"model.image_size": 64, "model.weights": "none"}).model
    measured = lab_facts.model_numbers(build_model(config))
    computed = lab_checks.config_numbers(config)
    for key in ("output_height", "output_width", "num_classes", "stride", "feature_size", "widest_rate",
                "widest_spacing", "widest_receptive_field", "atrous_rates"):
        assert computed[key] == measured[key], key


def test_keras_example_numbers_by_hand():
    numbers = lab_facts.keras_example_numbers()
    assert (numbers["image_size"], numbers["output_height"], numbers["output_width"]) == (512, 512, 512)
    assert numbers["num_classes"] == 20 and numbers["atrous_rates"] == [6, 12, 18]
    assert numbers["feature_size"] == 512 // 16 == 32
    assert numbers["widest_spacing"] == 18 * 16 == 288
    assert numbers["widest_receptive_field"] == 291 + 2 * 18 * 16 == 867
    assert numbers["one_by_one_rates"] == []  # 18 < 32: every rate still reads real features somewhere


def test_one_by_one_rates_by_hand():
    # A 3x3 kernel at rate r on an n-unit map reads only its centre everywhere once r >= n.
    assert lab_checks.one_by_one_rates((2, 4, 6), feature_size=4) == [4, 6]
    assert lab_checks.one_by_one_rates((2, 4, 6), feature_size=10) == []
    assert lab_checks.one_by_one_rates((6, 12, 18), feature_size=4) == [6, 12, 18]
    assert lab_checks.one_by_one_rates((9, 10), feature_size=10) == [10]
    assert lab_checks.probe_size((2, 4, 6), 16) == 64
    assert lab_checks.probe_size((6, 12, 18), 16) == 192


def test_always_background_by_hand():
    # 10 pixels: 6 background, 2 hair, 2 face; no other class.
    counts = np.zeros(20, dtype=np.int64)
    counts[[0, 2, 13]] = [6, 2, 2]
    numbers = lab_checks.always_background(counts)
    assert numbers["pixel_accuracy"] == pytest.approx(0.6)
    assert numbers["classes_present"] == 3
    assert numbers["mean_iou"] == pytest.approx((6 / 10 + 0 + 0) / 3)
    # The same through the metrics on real masks.
    truth = np.array([[0, 0, 0, 0, 0], [0, 2, 2, 13, 13]])
    confusion = confusion_matrix(truth, np.zeros_like(truth), 20)
    assert pixel_accuracy(confusion) == pytest.approx(numbers["pixel_accuracy"])
    assert mean_iou(confusion) == pytest.approx(numbers["mean_iou"])


def test_flip_pair_and_the_image_with_left_and_right():
    assert lab_checks.flip_pair() == (14, 15)
    counts = np.zeros(20, dtype=np.int64)
    counts[[0, 16, 17]] = 5  # no arms in the data: the question asks about the left leg
    assert lab_checks.flip_pair(counts) == (16, 17)
    image_counts = np.zeros((3, 20), dtype=np.int64)
    image_counts[:, 0] = 10
    image_counts[2, 19] = 1
    assert lab_checks.left_right_image(image_counts) == 2
    assert lab_checks.left_right_image(np.zeros((2, 20))) == 0


def test_swap_error_by_hand():
    mask = np.array([[14, 0, 0, 0], [15, 0, 13, 255]], dtype=np.uint8)  # 255: ignored
    numbers = lab_checks.swap_error(mask, 20)
    # 7 labelled pixels, 2 swapped, each |14 - 15| = 1 out of 19.
    assert numbers["average_error"] == pytest.approx(2 / 19 / 7)
    assert numbers["misclassified_rate"] == pytest.approx(2 / 7)
    assert numbers["swapped_pixels"] == 2


@pytest.fixture(scope="module")
def constant_model():
    """A tiny 'model' whose logits are the same known vector at every pixel."""
    from seglib._tf import import_tf

    _, keras = import_tf()
    bias = np.zeros(20, dtype="float32")
    bias[5], bias[2], bias[13] = 2.0, 1.0, -1.0
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Conv2D(20, 1, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant(bias))(inputs)
    return keras.Model(inputs, outputs)


def test_pixel_numbers_on_a_tiny_model(constant_model):
    from seglib.evaluation import inference

    prediction = inference.predict(constant_model, np.zeros((24, 20, 3), dtype=np.uint8))
    numbers = lab_checks.pixel_numbers(prediction.logits_at(12, 10))
    # softmax by hand: e^2 / (e^2 + e^1 + e^-1 + 17 e^0)
    assert numbers["probability"] == pytest.approx(math.e ** 2 / (math.e ** 2 + math.e + math.e ** -1 + 17), rel=1e-5)
    assert (numbers["winner"], numbers["runner_up"]) == (5, 2)
    assert numbers["margin"] == pytest.approx(1.0)
