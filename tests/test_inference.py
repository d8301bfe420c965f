"""predict(): the mask at the image's own size, the logits of any pixel, and small memory, for any image."""


import cv2
import numpy as np
import pytest

from seglib.evaluation.inference import Prediction, mask_grid, predict, predict_batch, prepare_image, softmax


@pytest.fixture(scope="module")
def model(tiny_model):
    """conftest's tiny model (64 px, random weights), under the name these tests read best with."""
    return tiny_model


def random_image(height, width, channels=3, seed=0):
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape, channels", [((37, 53), 3), ((64, 64), 3), ((130, 90), None),
                                             ((20, 31), 1), ((48, 40), 4)])
def test_outputs_are_at_the_original_size(model, shape, channels):
    prediction = predict(model, random_image(*shape, channels=channels))
    assert isinstance(prediction, Prediction) and prediction.input_size == 64
    assert prediction.model_logits.shape == (64, 64, 20) and prediction.model_logits.dtype == np.float32
    assert prediction.image_size == shape and prediction.full_size
    assert prediction.mask.shape == shape and prediction.mask.dtype == np.uint8
    logits = prediction.image_logits()
    assert logits.shape == (*shape, 20) and logits.dtype == np.float32
    np.testing.assert_array_equal(prediction.mask, logits.argmax(-1))
    np.testing.assert_array_equal(prediction.class_counts, np.bincount(prediction.mask.ravel(), minlength=20))


def test_resized_logits_are_opencv_bilinear(model):
    prediction = predict(model, random_image(150, 110, seed=2))
    expected = cv2.resize(prediction.model_logits, (110, 150), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(prediction.image_logits(), expected, rtol=1e-4, atol=1e-4)
    assert (prediction.mask == expected.argmax(-1)).mean() > 0.999  # ties aside


def test_model_size_images_give_the_model_output_unchanged(model):
    image = random_image(64, 64, seed=3)
    expected = model(image[None].astype("float32"), training=False).numpy()[0]
    prediction = predict(model, image)
    np.testing.assert_allclose(prediction.model_logits, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(prediction.image_logits(), prediction.model_logits)


def test_nearest_mode_resizes_the_model_mask_nearest(model):
    image = random_image(150, 110, seed=4)
    prediction = predict(model, image, interpolation="nearest")
    small_mask = prediction.model_logits.argmax(-1).astype(np.uint8)
    np.testing.assert_array_equal(prediction.mask,
                                  cv2.resize(small_mask, (110, 150), interpolation=cv2.INTER_NEAREST))
    assert set(np.unique(prediction.mask)) <= set(np.unique(small_mask))  # no invented labels
    assert prediction.pixel(149, 0)["label"] == prediction.mask[149, 0]


def test_the_model_sees_the_image_resized_as_for_training(model):
    image = random_image(150, 110, seed=4)
    resized = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(predict(model, image).model_logits, predict(model, resized).model_logits,
                               rtol=1e-5, atol=1e-5)


def test_predict_batch_matches_predict(model):
    images = [random_image(40, 70, seed=5), random_image(64, 64, seed=6), random_image(90, 33, seed=7)]
    batch = predict_batch(model, images, batch_size=2)
    assert len(batch) == 3
    for image, prediction in zip(images, batch):
        single = predict(model, image)
        np.testing.assert_allclose(prediction.model_logits, single.model_logits, rtol=1e-4, atol=1e-4)
        assert prediction.mask.shape == image.shape[:2]


def test_pixel_inspector_values_agree_with_the_mask_everywhere(model):
    prediction = predict(model, random_image(30, 45, seed=8))
    pixel = prediction.pixel(3, 4)
    assert pixel["label"] == int(np.argmax(pixel["logits"]))
    np.testing.assert_allclose(pixel["probabilities"], softmax(pixel["logits"]), rtol=1e-5)
    np.testing.assert_array_equal(pixel["logits"], prediction.image_logits()[3, 4])
    labels = np.array([[prediction.pixel(r, c)["label"] for c in range(45)] for r in range(30)])
    np.testing.assert_array_equal(labels, prediction.mask)  # bit for bit the same arithmetic
    with pytest.raises(ValueError, match="inside"):
        prediction.pixel(30, 0)


def test_a_display_sized_mask_samples_the_full_mask(model):
    image = random_image(300, 170, seed=10)
    full = predict(model, image)
    small = predict(model, image, max_mask_size=100)
    assert small.mask.shape == (100, 57) and not small.full_size and small.image_size == (300, 170)
    np.testing.assert_array_equal(small.mask, cv2.resize(full.mask, (57, 100), interpolation=cv2.INTER_NEAREST))
    np.testing.assert_array_equal(small.class_counts, full.class_counts)  # counted at the image's size
    rows, columns = mask_grid(300, 170, 100)
    assert small.mask[7, 9] == full.mask[rows[7], columns[9]] == small.pixel(rows[7], columns[9])["label"]
    assert predict(model, random_image(40, 30), max_mask_size=100).full_size
    with pytest.raises(ValueError, match="max_mask_size"):
        predict(model, image, max_mask_size=0)


def test_a_large_image_takes_little_memory(model):
    """2000 x 2000 px: the old full-size float32 logits and probabilities took 640 MB; now the
    work is done in bands of rows and the result keeps the model-size logits and the mask."""
    import tracemalloc

    image = random_image(2000, 2000, channels=None, seed=11)
    predict(model, random_image(8, 8))  # trace the model outside the measurement
    tracemalloc.start()
    try:
        prediction = predict(model, image, max_mask_size=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80e6, f"peak {peak / 1e6:.0f} MB"
    kept = prediction.model_logits.nbytes + prediction.mask.nbytes + prediction.class_counts.nbytes
    assert prediction.mask.shape == (1024, 1024) and kept < 2e6
    assert prediction.class_counts.sum() == 2000 * 2000


def test_paths_are_read_like_dataset_images(model, tmp_path):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), random_image(33, 45, seed=9))
    assert predict(model, path).mask.shape == (33, 45)


@pytest.mark.parametrize("image, message", [
    (np.zeros((4, 4, 2)), "Received: image.shape"),
    (np.zeros((0, 5, 3)), "empty"),
    (np.zeros((2, 4, 4, 3)), "Received: image.shape"),
])
def test_bad_images_say_what_was_received(image, message):
    with pytest.raises(ValueError, match=message):
        prepare_image(image)


def test_the_function_cache_does_not_keep_models_alive(build_tiny_model):
    import gc
    import weakref

    from seglib.evaluation import inference

    temporary = build_tiny_model(image_size=32)
    predict(temporary, random_image(20, 20))
    reference = weakref.ref(temporary)
    del temporary
    gc.collect()
    assert reference() is None and len(inference._functions) <= 1


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="interpolation"):
        predict(model, random_image(8, 8), interpolation="cubic")
    with pytest.raises(ValueError, match="batch_size"):
        predict_batch(model, [random_image(8, 8)], batch_size=0)
