"""Metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from seglib.evaluation.metrics import (
    absolute_difference, average_error, confusion_matrix, mean_iou, misclassified_map, misclassified_rate,
    per_class_iou, pixel_accuracy,
)

# 3 classes, 2 x 4 pixels, one ignored (255).
TRUTH = np.array([[0, 0, 1, 1],
                  [2, 2, 0, 255]], dtype=np.uint8)
PRED = np.array([[0, 1, 1, 1],
                 [2, 0, 0, 2]], dtype=np.uint8)
# Valid pixels (truth, pred): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (0,0)
#   truth 0: pred 0 twice, pred 1 once   -> row [2, 1, 0]
#   truth 1: pred 1 twice                -> row [0, 2, 0]
#   truth 2: pred 2 once, pred 0 once    -> row [1, 0, 1]
HAND_CM = [[2, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(TRUTH, PRED, num_classes=3)
    assert cm.dtype == np.int64 and cm.tolist() == HAND_CM
    assert confusion_matrix(TRUTH[None], PRED[None], 3).tolist() == HAND_CM  # batches too
    counted = confusion_matrix(TRUTH, PRED, 256, ignore_label=None)  # nothing ignored
    assert counted[255, 2] == 1 and counted.sum() == 8


def test_accuracy_and_iou_by_hand():
    cm = np.array(HAND_CM)
    assert pixel_accuracy(cm) == pytest.approx(5 / 7)
    # IoU = TP / (row + column - TP)
    # class 0: 2 / (3 + 3 - 2) = 0.5; class 1: 2 / (2 + 3 - 2) = 2/3; class 2: 1 / (2 + 1 - 1) = 0.5
    np.testing.assert_allclose(per_class_iou(cm), [0.5, 2 / 3, 0.5])
    assert mean_iou(cm) == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)


def test_absent_classes_are_nan_and_left_out_of_the_mean():
    truth = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 3])  # class 2 absent from both, class 3 only predicted
    iou = per_class_iou(confusion_matrix(truth, pred, num_classes=4))
    assert iou[0] == 1.0 and iou[1] == 0.5 and math.isnan(iou[2]) and iou[3] == 0.0
    assert mean_iou(confusion_matrix(truth, pred, 4)) == pytest.approx((1 + 0.5 + 0) / 3)
    empty = np.zeros((3, 3), np.int64)
    assert math.isnan(mean_iou(empty)) and math.isnan(pixel_accuracy(empty))


def test_average_error_in_zero_one():
    # |t - p| on valid pixels: 0 1 0 0 0 2 0 -> mean 3/7, scaled by C - 1 = 2
    assert average_error(TRUTH, PRED, num_classes=3) == pytest.approx(3 / 7 / 2)
    assert average_error(TRUTH, TRUTH, num_classes=3) == 0.0
    truth = np.zeros((4, 4), np.uint8)
    assert average_error(truth, truth + 19, num_classes=20) == 1.0  # maximum disagreement


def test_misclassified_rate_and_maps():
    assert misclassified_rate(TRUTH, PRED) == pytest.approx(2 / 7)
    wrong = misclassified_map(TRUTH, PRED)
    assert wrong.tolist() == [[False, True, False, False], [False, True, False, False]]
    assert absolute_difference(TRUTH, PRED).tolist() == [[0, 1, 0, 0], [0, 2, 0, 0]]
    assert absolute_difference(TRUTH, PRED).dtype == np.uint8


def test_counts_stay_exact_past_float32_precision():
    truth = np.zeros(2**24 + 3, np.uint8)
    cm = confusion_matrix(truth, truth, num_classes=2)
    assert cm[0, 0] == 2**24 + 3


@pytest.mark.parametrize("call, message", [
    (lambda: confusion_matrix(TRUTH, PRED[:, :3], 3), "same shape"),
    (lambda: confusion_matrix(TRUTH, PRED + 5, 3), "outside 0..2"),
    (lambda: confusion_matrix(TRUTH, PRED, 1), "num_classes must be an integer >= 2"),
    (lambda: confusion_matrix(TRUTH * 0.5, PRED, 3), "integer label ids"),
    (lambda: per_class_iou(np.zeros((2, 3))), "square"),
])
def test_bad_arguments_say_what_was_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_metrics_over_no_labelled_pixels_are_undefined_never_perfect():
    """Every pixel ignored (255): nothing was measured, so no metric may read as a score."""
    truth = np.full((2, 4, 4), 255, np.uint8)
    prediction = np.zeros((2, 4, 4), np.uint8)
    cm = confusion_matrix(truth, prediction, num_classes=3)
    assert cm.sum() == 0
    assert math.isnan(pixel_accuracy(cm)) and math.isnan(mean_iou(cm))
    assert np.isnan(per_class_iou(cm)).all()
    assert math.isnan(average_error(truth, prediction, 3)) and math.isnan(misclassified_rate(truth, prediction))


def test_a_predicted_ignore_label_is_named_as_such_not_as_out_of_range():
    truth = np.array([[0, 1]], np.uint8)
    with pytest.raises(ValueError, match="y_pred holds the ignore label 255, which only the truth"):
        confusion_matrix(truth, np.array([[0, 255]], np.uint8), num_classes=3)
    with pytest.raises(ValueError, match=r"y_true holds the label 7, outside 0..2 \(the ignore label 255 is "
                                         r"allowed in y_true only\)"):
        confusion_matrix(np.array([[7, 1]], np.uint8), truth, num_classes=3)
