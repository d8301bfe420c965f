"""The metric playground (``seglib.lab.playground``): a made-up prediction that does what each slider
says, deterministic for a seed, scored with the project's own metric functions and with losses equal
to ``seglib.evaluation.losses.make_loss`` on the logits they stand for."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from seglib.classes import IGNORE_LABEL, LEFT_RIGHT_PAIRS
from seglib.evaluation import metrics
from seglib.figures import playground as playground_figures
from seglib.lab import playground
from seglib.lab.playground import Board, Settings
from seglib.evaluation.losses import make_loss, median_frequency_weights


def _mask(size: int = 48) -> np.ndarray:
    """Background, a body (UpperClothes), a face, two arms (left/right), a glove and a shoe (rare)."""
    mask = np.zeros((size, size), np.uint8)
    mask[10:40, 14:34] = 5        # upper clothes
    mask[4:10, 19:29] = 13        # face
    mask[12:36, 8:14] = 14        # left arm
    mask[12:36, 34:40] = 15       # right arm
    mask[36:38, 8:10] = 3         # glove: 4 px
    mask[40:42, 20:22] = 18       # left shoe: 4 px
    return mask


@pytest.fixture(scope="module")
def board() -> Board:
    return Board(_mask(), seed=3)


def test_the_module_examples_run():
    assert doctest.testmod(playground).failed == 0
    assert doctest.testmod(playground_figures).failed == 0


def test_a_perfect_model_predicts_the_truth(board):
    prediction = board.predict(Settings())
    assert prediction.dtype == np.uint8 and np.array_equal(prediction, board.truth)
    scores = board.scores(prediction, confidence=0.9)
    assert (scores.pixel_accuracy, scores.mean_iou, scores.average_error, scores.wrong_pixels) == (1.0, 1.0, 0.0, 0)
    assert board.rare_classes == (3, 18)


def test_the_same_seed_gives_the_same_prediction_and_another_seed_another(board):
    settings = Settings(background_recall=0.8, rare_recall=0.5, swap_rate=0.4, boundary_px=1)
    again = Board(_mask(), seed=3)
    assert np.array_equal(board.predict(settings), again.predict(settings))
    assert not np.array_equal(board.predict(settings), Board(_mask(), seed=4).predict(settings))


@pytest.mark.parametrize("recall", [0.0, 0.37, 0.9, 1.0])
def test_background_recall_is_the_share_of_background_kept(board, recall):
    truth = board.truth
    prediction = board.predict(Settings(background_recall=recall))
    background = truth == 0
    wrong = background & (prediction != 0)
    assert wrong.sum() == round((1 - recall) * background.sum())
    assert np.array_equal(prediction[~background], truth[~background])          # nothing else moved
    assert set(np.unique(prediction[wrong])) <= set(np.unique(truth[~background]))  # a person's class
    assert board.scores(prediction, 0.8).background_recall == pytest.approx(1 - wrong.sum() / background.sum())


def test_missed_rare_pixels_take_a_class_that_is_not_rare(board):
    truth = board.truth
    prediction = board.predict(Settings(rare_recall=0.0))
    rare = np.isin(truth, board.rare_classes)
    assert np.all(prediction[rare] != truth[rare])
    assert not np.isin(prediction[rare], board.rare_classes).any()
    assert np.array_equal(prediction[~rare], truth[~rare])
    half = board.predict(Settings(rare_recall=0.5))
    assert (half[rare] != truth[rare]).sum() == round(0.5 * rare.sum())
    assert board.scores(prediction, 0.8).rare_recall == 0.0


def test_the_swap_rate_mirrors_left_and_right(board):
    truth = board.truth
    mirror = dict(LEFT_RIGHT_PAIRS) | {right: left for left, right in LEFT_RIGHT_PAIRS}
    prediction = board.predict(Settings(swap_rate=1.0))
    sided = np.isin(truth, list(mirror))
    assert np.array_equal(prediction[sided], np.vectorize(mirror.get)(truth[sided]))
    assert np.array_equal(prediction[~sided], truth[~sided])
    scores = board.scores(prediction, 0.8)
    assert scores.swapped == 1.0
    # Left-arm 14 <-> Right-arm 15 and Left-shoe 18 -> Right-shoe 19: id distance 1 at every swapped pixel.
    assert scores.average_error == pytest.approx(sided.sum() / truth.size / (board.num_classes - 1))


def test_boundary_errors_stay_on_the_boundaries(board):
    truth = board.truth
    for width in range(1, playground.MAX_BOUNDARY_PX + 1):
        prediction = board.predict(Settings(boundary_px=width))
        window = 2 * width + 1
        padded = np.pad(truth, width, mode="reflect")
        views = np.lib.stride_tricks.sliding_window_view(padded, (window, window))
        uniform = (views == truth[..., None, None]).all(axis=(-1, -2))
        assert np.array_equal(prediction[uniform], truth[uniform])  # far from any boundary: unchanged
        assert (prediction != truth).any()
    two = board.predict(Settings(boundary_px=2))
    assert not np.isin(3, two)  # the 2 x 2 glove is thinner than a 5 x 5 window: it vanishes


CASES = [(Settings(), 0.9), (Settings(0.7, 0.2, 0.5, 1), 0.6), (Settings(0.95, 0.0, 1.0, 3), 0.99),
         (Settings(0.0, 1.0, 0.0, 0), 0.3)]


@pytest.mark.parametrize("settings, confidence", CASES)
def test_the_scores_are_the_projects_metrics(settings, confidence):
    truth = _mask()
    truth[:2, :6] = IGNORE_LABEL  # unlabelled pixels count nowhere
    board = Board(truth, seed=1)
    prediction = board.predict(settings)
    scores = board.scores(prediction, confidence)
    cm = metrics.confusion_matrix(truth, prediction, 20)
    assert scores.pixel_accuracy == metrics.pixel_accuracy(cm)
    assert scores.mean_iou == metrics.mean_iou(cm)
    assert scores.average_error == metrics.average_error(truth, prediction, 20)
    assert scores.wrong_pixels == int(metrics.misclassified_map(truth, prediction).sum())
    assert scores.labelled_pixels == int((truth != IGNORE_LABEL).sum())


@pytest.mark.parametrize("settings, confidence", CASES)
def test_the_losses_are_make_loss_on_the_logits_they_stand_for(settings, confidence):
    truth = _mask()
    truth[:2, :6] = IGNORE_LABEL
    board = Board(truth, seed=1)
    prediction = board.predict(settings)
    scores = board.scores(prediction, confidence)
    logits = playground.logits(prediction, confidence)[None]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    assert np.allclose(probabilities.max(axis=-1), confidence, atol=1e-6)
    assert np.array_equal(probabilities.argmax(axis=-1)[0], prediction)
    weights = median_frequency_weights(np.bincount(truth[truth != IGNORE_LABEL], minlength=20))
    for name in playground.LOSS_NAMES:
        loss = make_loss(name, 20, class_weights=weights if name == "weighted-cross-entropy" else None,
                         gamma=playground.FOCAL_GAMMA)
        assert scores.losses[name] == pytest.approx(float(loss(truth[None], logits)), rel=1e-4, abs=1e-6), name


def test_the_focal_exponent_is_the_one_training_uses():
    import inspect

    assert inspect.signature(make_loss).parameters["gamma"].default == playground.FOCAL_GAMMA


def test_each_mistake_alone(board):
    settings = Settings(background_recall=0.8, rare_recall=0.5, swap_rate=0.3, boundary_px=1)
    effects = board.effects(settings, 0.8)
    assert [what for what, _ in effects] == [
        "nothing wrong", "background recall 0.8 alone", "rare-class recall 0.5 alone",
        "left/right swap rate 0.3 alone", "boundary errors (px) 1 alone", "all of them"]
    assert effects[0][1].wrong_pixels == 0
    alone = board.scores(board.predict(Settings(rare_recall=0.5)), 0.8)
    assert effects[2][1] == alone
    table = playground.effects_frame(effects)
    assert list(table["mistake"]) == [what for what, _ in effects]
    assert list(table.columns[-4:]) == [playground.LOSS_LABELS[name] for name in playground.LOSS_NAMES]


@pytest.mark.parametrize("kwargs, message", [
    ({"background_recall": 1.5}, "background_recall must be a number in"),
    ({"swap_rate": -0.1}, "swap_rate must be a number in"),
    ({"rare_recall": "high"}, "rare_recall must be a number in"),
    ({"boundary_px": playground.MAX_BOUNDARY_PX + 1}, "boundary_px must be an integer from 0"),
    ({"boundary_px": 1.5}, "boundary_px must be an integer from 0"),
])
def test_bad_settings_say_what_was_received(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs)


def test_bad_masks_and_confidences_are_refused(board):
    with pytest.raises(ValueError, match="2-D mask"):
        Board(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="label 42, outside 0..19"):
        Board(np.full((4, 4), 42, np.uint8))
    for confidence in (0.05, 1.0, 0.0):
        with pytest.raises(ValueError, match="confidence must lie between 1/20"):
            board.scores(board.truth, confidence)


def test_a_mask_without_people_or_rare_parts_still_plays():
    board = Board(np.zeros((16, 16), np.uint8), seed=0)
    prediction = board.predict(Settings(background_recall=0.5, rare_recall=0.0, swap_rate=1.0, boundary_px=2))
    assert (prediction != 0).sum() == 128
    scores = board.scores(prediction, 0.8)
    assert scores.background_recall == 0.5
    assert np.isnan(scores.rare_recall) and np.isnan(scores.swapped)


def test_the_pictures_show_truth_prediction_and_difference(board):
    prediction = board.predict(Settings(swap_rate=1.0))
    difference = playground_figures.difference_picture(board.truth, prediction)
    moved = board.truth != prediction
    grey = round(255 / (board.num_classes - 1))  # an id distance of 1
    assert np.all(difference[moved] == grey) and np.all(difference[~moved] == 0)
    html_text = playground_figures.panels_html(board.truth, prediction, palette="colorblind")
    assert html_text.count("<img") == 3
    for title in playground_figures.PANEL_TITLES:
        assert f'alt="{title}"' in html_text.replace("&#x27;", "'")


def test_the_scoreboard_colours_a_change_by_which_way_is_better():
    Score = playground_figures.Score
    board = playground_figures.scores_html([
        Score("mean IoU", "0.480", "-0.020", higher_is_better=True, help="overlap <per class>"),
        Score("cross-entropy", "0.700", "-0.100", help="lower is better"),
        Score("wrong pixels", "1,000", None),
    ])
    cells = board.split('class="seglib-score"')[1:]
    assert "↓ 0.020" in cells[0] and playground_figures.WORSE_COLOR in cells[0]    # IoU fell: worse
    assert "↓ 0.100" in cells[1] and playground_figures.BETTER_COLOR in cells[1]   # a loss fell: better
    assert "↑" not in cells[2] and "↓" not in cells[2] and 'data-delta=""' in cells[2]
    assert 'title="overlap &lt;per class&gt;"' in cells[0]


def test_the_table_of_single_mistakes_is_written_as_the_page_formats_it(board):
    frame = playground.effects_frame(board.effects(Settings(rare_recall=0.5), 0.8)).set_index("mistake")
    table = playground_figures.table_html(frame, {"pixel accuracy": "{:.1%}", "wrong pixels": "{:,}"})
    assert table.count("<tr") == len(frame) + 1  # the header, then a row per case
    assert "<td>100.0%</td>" in table and f"<td>{frame['Dice'].iloc[0]:.3f}</td>" in table
