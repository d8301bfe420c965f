"""The tf.data pipeline: types, nearest-neighbour masks, flip with label swap, determinism."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from seglib.classes import IGNORE_LABEL, swap_left_right
from seglib.data.dataset import load_pair, open_dataset
from seglib.data.pipeline import augment_pair, make_dataset, reference_dataset


@pytest.fixture(scope="module")
def pairs(tiny_dataset):
    return open_dataset(tiny_dataset).split("train")


def _all(dataset):
    images, masks = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(images), np.concatenate(masks)


def test_batches_have_the_model_types(pairs):
    dataset = make_dataset(pairs, image_size=32, batch_size=5, training=True, augment=True)
    images, masks = next(iter(dataset))
    assert images.dtype.name == "float32" and tuple(images.shape) == (5, 32, 32, 3)
    assert masks.dtype.name == "int32" and tuple(masks.shape) == (5, 32, 32)
    assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255.0
    assert sum(int(x.shape[0]) for x, _ in dataset) == len(pairs)


@pytest.mark.parametrize("training", [True, False])
def test_autotuning_is_off_so_dropping_an_epochs_iterator_does_not_stall_training(pairs, training):
    # With tf.data's autotuning on, deleting an epoch's iterator waited 2.5-8 s for its tuning
    # thread (at one lecture epoch in three). The parallelism is fixed instead.
    from seglib.data.pipeline import PARALLEL_CALLS

    dataset = make_dataset(pairs, image_size=32, batch_size=5, training=training, augment=training)
    assert dataset.options().autotune.enabled is False
    assert dataset.options().deterministic is True
    assert 1 <= PARALLEL_CALLS <= 16


def test_resized_mask_values_are_a_subset_of_the_original_labels(pairs):
    for size in (24, 48, 96):
        _, masks = _all(make_dataset(pairs, size, 4, training=False))
        for pair, mask in zip(pairs, masks):
            original = np.unique(load_pair(pair)[1])
            assert set(np.unique(mask)) <= set(original), f"new labels invented at {size} px"


def test_the_keras_example_feeding_invents_labels(pairs):
    """The reason for nearest neighbour: bilinear masks hold values between class ids."""
    _, masks = next(iter(reference_dataset(pairs, 48, 4)))
    values = masks.numpy()
    assert values.shape == (4, 48, 48, 1)
    assert not np.allclose(values, np.round(values))


def _encode(mask):
    """An image whose red channel is 10x the label: alignment can be read back from pixels."""
    image = np.zeros(mask.shape + (3,), np.uint8)
    image[..., 0] = mask * 10
    return image


def test_flip_swaps_left_and_right_labels_and_keeps_alignment(pairs):
    _, mask = load_pair(pairs[0])
    mask = mask.copy()
    mask[:, :8] = 14   # a left-arm strip at the image's left edge
    mask[:, -8:] = 17  # a right-leg strip at the right edge
    image = _encode(mask)
    flips = 0
    for seed in range(12):
        aug_image, aug_mask = (t.numpy() for t in augment_pair(image, mask, [seed, 7], 64, scale_range=(1.0, 1.0)))
        flipped = not np.array_equal(aug_mask, mask)
        if flipped:
            flips += 1
            np.testing.assert_array_equal(aug_mask, swap_left_right(mask[:, ::-1]))
            assert (aug_mask[:, -8:] == 15).all() and (aug_mask[:, :8] == 16).all()
        # the picture moved with the mask: its red channel still names the ORIGINAL label
        expected = swap_left_right(aug_mask) if flipped else aug_mask
        np.testing.assert_array_equal(aug_image[..., 0], expected.astype(np.float32) * 10)
    assert 2 <= flips <= 10


def test_scale_jitter_keeps_image_and_mask_aligned(pairs):
    from scipy.ndimage import maximum_filter, minimum_filter

    _, mask = load_pair(pairs[1])
    image = _encode(mask)
    for seed in range(6):
        aug_image, aug_mask = (t.numpy() for t in augment_pair(image, mask, [seed, 1], 64, scale_range=(1.2, 1.6)))
        assert aug_mask.shape == (64, 64) and set(np.unique(aug_mask)) <= set(np.unique(mask))
        labels = aug_mask.astype(np.int32)
        # interior pixels (same label in a 3x3 neighbourhood) carry their label in the picture
        interior = maximum_filter(labels, 3) == minimum_filter(labels, 3)
        red = aug_image[..., 0]
        direct = np.abs(red - labels * 10)[interior].mean()
        swapped = np.abs(red - swap_left_right(aug_mask).astype(np.int32) * 10)[interior].mean()
        assert min(direct, swapped) < 0.5


def test_same_seed_same_batches_and_a_new_order_each_epoch(pairs):
    def run(seed):
        return _all(make_dataset(pairs, 32, 4, training=True, augment=True, seed=seed))

    first_images, first_masks = run(seed=3)
    again_images, again_masks = run(seed=3)
    np.testing.assert_array_equal(first_images, again_images)
    np.testing.assert_array_equal(first_masks, again_masks)
    assert not np.array_equal(first_masks, run(seed=4)[1])
    dataset = make_dataset(pairs, 32, 4, training=True, augment=False, seed=3)
    epoch_one, epoch_two = _all(dataset)[1], _all(dataset)[1]
    assert not np.array_equal(epoch_one, epoch_two), "reshuffled every epoch"
    assert sorted(m.tobytes() for m in epoch_one) == sorted(m.tobytes() for m in epoch_two), "same images"


def test_validation_keeps_file_order_with_and_without_cache(pairs):
    cached = make_dataset(pairs, 40, 3, training=False, cache=True)
    uncached = make_dataset(pairs, 40, 3, training=False, cache=False)
    a, b, c = _all(cached), _all(cached), _all(uncached)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[1], c[1])
    np.testing.assert_array_equal(a[1][0], load_pair(pairs[0], size=40)[1])


def test_a_broken_file_mid_training_becomes_an_ignored_example(pairs, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    shutil.copy(pairs[0].mask, broken)
    broken.write_bytes(b"not a png")
    bad = [type(pairs[0])("bad", pairs[0].image, broken)] + list(pairs[1:3])
    images, masks = _all(make_dataset(bad, 32, 3, training=False))
    assert (masks[0] == IGNORE_LABEL).all() and (images[0] == 0).all()
    assert (masks[1] != IGNORE_LABEL).any()
    assert "skipping" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs", [{"pairs": []}, {"image_size": 0}, {"batch_size": "4"}])
def test_bad_arguments_say_what_was_received(pairs, kwargs):
    arguments = {"pairs": pairs, "image_size": 32, "batch_size": 4, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        make_dataset(training=False, **arguments)
