"""Parts of DeepLabV3+ switched off at inference (seglib.analysis.ablation), checked by hand.

A tiny DeepLabV3+ (the lecture architecture at 64 px, random weights) is run
layer by layer from its intermediate outputs: each part's output is zeroed by
hand and the rest of the graph is called one layer at a time; the ablation's
batched pass must give the same logits, and with nothing switched off the very
same bits as the model. The person-size arithmetic of the split ablation is
checked on hand-made numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from seglib.analysis import ablation, split_ablation
from seglib.classes import IGNORE_LABEL
from seglib.errors import ModelError
from seglib.evaluation import inference, metrics

SIZE = 64
#: The layers after the ASPP concatenation, in the order ``seglib.model.deeplab.build_graph`` wires them.
AFTER_ASPP = ("aspp_project", "aspp_project_bn", "aspp_project_relu", "decoder_upsample")
AFTER_SKIP = ("decoder_conv1", "decoder_conv1_bn", "decoder_conv1_relu", "decoder_conv2", "decoder_conv2_bn",
              "decoder_conv2_relu", "head_logits", "logits")


@pytest.fixture(scope="module")
def calibrated_model(build_tiny_model):
    """A new tiny model whose BatchNorm statistics are set from random pictures (it is changed, so not
    conftest's shared ``tiny_model``)."""
    model = build_tiny_model(image_size=SIZE)
    # Fresh BatchNorm statistics (mean 0, variance 1) leave the random model's logits near 1e-5. One pass
    # in training mode with momentum 0 sets them to the statistics of random pictures, so logits are of
    # order 1 and a switched-off part shows (no weight is trained: BatchNorm statistics only).
    from seglib._tf import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momentum = norms[0].momentum
    for layer in norms:
        layer.momentum = 0.0
    model(np.random.default_rng(1).integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.float32), training=True)
    for layer in norms:
        layer.momentum = momentum
    return model


BRANCH_ENDS = ("aspp_pool_upsample", "aspp_1x1_relu", "aspp_rate2_relu", "aspp_rate4_relu", "aspp_rate6_relu")
SKIP_END = "decoder_low_level_relu"


def _intermediate(model, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs of the ASPP branches and of the low-level skip, by layer name."""
    from seglib._tf import keras

    names = [*BRANCH_ENDS, SKIP_END]
    outputs = keras.Model(model.input, [model.get_layer(name).output for name in names])(batch)
    return {name: np.asarray(output) for name, output in zip(names, outputs)}


def _by_hand(model, intermediate: dict[str, np.ndarray], off: str | None) -> np.ndarray:
    """Logits with the part whose last layer is ``off`` zeroed, one layer call at a time."""
    branch_ends, skip_end = BRANCH_ENDS, SKIP_END
    features = dict(intermediate)
    if off is not None:
        features[off] = np.zeros_like(features[off])
    x = model.get_layer("aspp_concat")([features[name] for name in branch_ends])
    for name in AFTER_ASPP:
        x = model.get_layer(name)(x, training=False) if name.endswith("_bn") else model.get_layer(name)(x)
    x = model.get_layer("decoder_concat")([x, features[skip_end]])
    for name in AFTER_SKIP:
        x = model.get_layer(name)(x, training=False) if name.endswith("_bn") else model.get_layer(name)(x)
    return np.asarray(x)


@pytest.mark.slow
def test_each_part_switched_off_matches_a_hand_computation(calibrated_model):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)  # not square, not the model's size
    truth = rng.integers(0, 20, (48, 80)).astype(np.uint8)
    truth[:4] = IGNORE_LABEL

    parts = ablation.ablation_parts(calibrated_model)
    assert [part.label for part in parts] == ["nothing (full model)", "image pooling", "1x1 conv", "3x3 rate 2",
                                              "3x3 rate 4", "3x3 rate 6", "low-level skip"]
    result = ablation.ablate_image(calibrated_model, image, truth)
    assert result.model_logits.shape == (7, SIZE, SIZE, 20)

    # Nothing switched off: the very bits of the model's own prediction.
    prediction = inference.predict(calibrated_model, image)
    assert np.array_equal(result.model_logits[0], prediction.model_logits)

    intermediate = _intermediate(calibrated_model, inference.model_batch([image], SIZE))
    by_hand = {part.label: _by_hand(calibrated_model, intermediate, part.layer)[0] for part in parts}
    for variant, part in enumerate(parts):
        expected = by_hand[part.label]
        scale = float(np.abs(expected).max())
        assert scale > 0.1  # logits of order 1, so the tolerance below means something
        # Layer calls one at a time (eager) round differently from one compiled graph: a few 1e-5.
        np.testing.assert_allclose(result.model_logits[variant], expected, rtol=0, atol=1e-4 * scale,
                                   err_msg=part.label)
        if variant:  # switching a part off changes the logits
            assert np.abs(result.model_logits[variant] - result.model_logits[0]).max() > 1e-2 * scale, part.label
        # The image's mean IoU of this variant, from its mask as predict makes it.
        mask = inference.prediction_from_logits(expected, 48, 80, SIZE, False).mask
        assert result.mean_iou[variant] == pytest.approx(
            metrics.mean_iou(metrics.confusion_matrix(truth, mask, 20)), abs=0.01)

    # One pixel's row: its class and probability in each variant, from the hand logits.
    table = result.pixel_table(30, 70)
    for variant, part in enumerate(parts):
        logits = inference.pixel_logits(by_hand[part.label], (48, 80), 30, 70)
        probabilities = inference.softmax(logits)
        assert table["class id"].iloc[variant] == int(np.argmax(logits))
        assert table["probability"].iloc[variant] == pytest.approx(float(probabilities.max()), abs=1e-4)
        assert table["p(full model's class)"].iloc[variant] == pytest.approx(
            float(probabilities[table["class id"].iloc[0]]), abs=1e-4)
    assert list(table["changed"]) == list(table["class id"] != table["class id"].iloc[0])
    assert table["change in mean IoU"].iloc[0] == 0.0


@pytest.mark.slow
def test_the_split_ablation_sums_the_images(calibrated_model, tiny_dataset):
    from seglib.data.dataset import load_pair, open_dataset

    pairs = open_dataset(tiny_dataset).split("val")
    result = split_ablation.ablate_split(calibrated_model, pairs, limit=3, batch_size=2)
    assert (result.count, result.total_images, result.input_size) == (3, len(pairs), SIZE)
    expected = sum(ablation.ablate_image(calibrated_model, *load_pair(pair)).confusions for pair in pairs[:3])
    assert np.array_equal(result.confusions, expected)
    assert result.correct.shape == (len(result.heights), 7) and result.pixels.sum() > 0
    assert np.all(result.correct <= result.pixels[:, None])
    table = result.table()
    assert list(table["switched off"]) == [part.label for part in result.parts]
    np.testing.assert_allclose(table["mean IoU"], result.mean_iou)


def test_model_pixel_and_image_pixel_invert_each_other():
    for image_size, input_size in (((512, 300), 160), ((64, 64), 160), ((160, 160), 160), ((37, 900), 64)):
        for axis, n in enumerate(image_size):
            def along(position: int) -> list[int]:
                point = [0, 0]
                point[axis] = position
                return point

            if n >= input_size:  # each model pixel covers image pixels: model -> image -> model
                assert all(inference.model_pixel(inference.image_pixel(along(p), input_size, image_size),
                                                 image_size, input_size)[axis] == p for p in range(input_size))
            if n <= input_size:  # each image pixel covers model pixels: image -> model -> image
                assert all(inference.image_pixel(inference.model_pixel(along(q), image_size, input_size),
                                                 input_size, image_size)[axis] == q for q in range(n))
    # The corners stay corners.
    assert inference.model_pixel((511, 299), (512, 300), 160) == (159, 159)
    assert inference.image_pixel((0, 0), 160, (512, 300)) == (1, 0)


def test_person_map_from_person_ids_and_from_regions():
    truth = np.zeros((10, 12), np.uint8)
    truth[1:4, 1:3] = 13        # person A: 3 rows
    truth[2:9, 6:8] = 5         # person B: 7 rows
    truth[8, 10] = IGNORE_LABEL  # not a person
    humans = np.zeros_like(truth)
    humans[1:4, 1:3] = 7
    humans[2:9, 6:8] = 2
    labels, heights = split_ablation.person_map(truth, humans)
    assert sorted(heights.tolist()) == [3, 7]
    assert labels[8, 10] == 0 and labels[0, 0] == 0
    assert heights[labels[5, 6] - 1] == 7 and heights[labels[2, 1] - 1] == 3
    # Without person ids, each connected region of foreground is a person.
    labels, heights = split_ablation.person_map(truth)
    assert sorted(heights.tolist()) == [3, 7] and labels.max() == 2


def _split(heights, pixels, correct, mean_ious=(0.5, 0.4, 0.45)) -> split_ablation.SplitAblation:
    """A split ablation of three variants whose per-variant confusion gives ``mean_ious``
    (two classes: a diagonal matrix with IoU ``m`` on both classes)."""
    parts = (ablation.FULL_MODEL, ablation.AblationPart("a", "part A", "conv"),
             ablation.AblationPart("b", "part B", "skip"))
    confusions = []
    for value in mean_ious:
        right = int(round(100 * value))
        confusions.append(np.array([[right, 100 - right], [0, right]], np.int64))
    # IoU of class 0: right / 100, class 1: right / (right + 100 - right) = right / 100.
    return split_ablation.SplitAblation(parts=parts, confusions=np.stack(confusions),
                                        heights=np.asarray(heights, float), pixels=np.asarray(pixels),
                                        correct=np.asarray(correct), count=4, total_images=9, input_size=160,
                                        seconds=1.0)


def test_people_are_grouped_in_thirds_and_the_findings_follow_the_numbers():
    heights = [10, 12, 50, 55, 120, 130]
    pixels = [100, 100, 200, 200, 400, 400]
    correct = [[50, 50, 10], [50, 50, 10],      # small people: only part B hurts them
               [150, 100, 150], [150, 100, 150],  # medium: part A hurts
               [400, 200, 390], [400, 200, 390]]  # large: part A hurts most
    result = _split(heights, pixels, correct)
    low, high = result.size_edges()
    assert list(result.size_groups()) == [0, 0, 1, 1, 2, 2] and 12 <= low < 50 and 55 <= high < 120
    accuracy = result.group_accuracy()
    np.testing.assert_allclose(accuracy, [[0.5, 0.5, 0.1], [0.75, 0.5, 0.75], [1.0, 0.5, 0.975]])
    table = result.table()
    np.testing.assert_allclose(table["small people (points)"], [0.0, 0.0, -40.0])
    np.testing.assert_allclose(table["large people (points)"], [0.0, -50.0, -2.5])
    np.testing.assert_allclose(table["change in mean IoU"], [0.0, -0.1, -0.05])
    findings = result.scale_findings()
    assert findings[0].startswith("Switching off the **part A** costs the most: mean IoU 0.500 → 0.400 (-0.100)")
    assert "the **part B** is missed least (-0.050)" in findings[0]
    assert findings[1].startswith("**Small people** (2, ") and "without the **part B**, -40.0 points" in findings[1]
    assert "without the **part A**, -25.0 points" in findings[2]
    assert "without the **part A**, -50.0 points of pixel accuracy (from 100.0 %)" in findings[3]


def test_a_group_no_part_hurts_is_said_so():
    result = _split([10, 50, 120], [10, 10, 10], [[5, 6, 7], [5, 5, 5], [9, 2, 9]])
    findings = result.scale_findings()
    assert "**Small people**" in findings[1] and "no part switched off lowers their pixel accuracy" in findings[1]


def test_a_model_without_aspp_is_a_model_error():
    from seglib._tf import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(20, 1)(inputs)
    with pytest.raises(ModelError, match="aspp_concat"):
        ablation.ablation_parts(keras.Model(inputs, outputs))


@pytest.mark.slow
def test_the_ablation_cache_does_not_keep_models_alive(build_tiny_model):
    import gc
    import weakref

    temporary = build_tiny_model(image_size=32)
    ablation.ablate_image(temporary, np.zeros((20, 20, 3), np.uint8))
    reference = weakref.ref(temporary)
    del temporary
    gc.collect()
    assert reference() is None
