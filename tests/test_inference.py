"""predict(): logits, probabilities and mask at the image's own size, for any image."""

import dataclasses

import cv2
import numpy as np
import pytest

from seglib.config import get_preset
from seglib.inference import Prediction, predict, predict_batch, prepare_image, softmax
from seglib.model import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(dataclasses.replace(get_preset("lecture").model, image_size=64))


def random_image(height, width, channels=3, seed=0):
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape, channels", [((37, 53), 3), ((64, 64), 3), ((130, 90), None),
                                             ((20, 31), 1), ((48, 40), 4)])
def test_outputs_are_at_the_original_size(model, shape, channels):
    prediction = predict(model, random_image(*shape, channels=channels))
    assert isinstance(prediction, Prediction) and prediction.input_size == 64
    assert prediction.logits.shape == (*shape, 20) and prediction.logits.dtype == np.float32
    assert prediction.probabilities.shape == (*shape, 20)
    assert prediction.mask.shape == shape and prediction.mask.dtype == np.uint8
    np.testing.assert_allclose(prediction.probabilities.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(prediction.mask, prediction.logits.argmax(-1))
    chosen = np.take_along_axis(prediction.probabilities, prediction.mask[..., None].astype(int), -1)[..., 0]
    np.testing.assert_allclose(chosen, prediction.probabilities.max(-1), rtol=1e-6)  # ties aside


def test_model_size_images_give_the_model_output_unchanged(model):
    image = random_image(64, 64, seed=3)
    expected = model(image[None].astype("float32"), training=False).numpy()[0]
    prediction = predict(model, image)
    np.testing.assert_allclose(prediction.logits, expected, rtol=1e-4, atol=1e-4)


def test_nearest_mode_resizes_the_model_mask_nearest(model):
    image = random_image(150, 110, seed=4)
    small_mask = predict(model, cv2.resize(image.astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA)).mask
    prediction = predict(model, image, interpolation="nearest")
    np.testing.assert_array_equal(prediction.mask,
                                  cv2.resize(small_mask, (110, 150), interpolation=cv2.INTER_NEAREST))
    assert set(np.unique(prediction.mask)) <= set(np.unique(small_mask))  # no invented labels


def test_predict_batch_matches_predict(model):
    images = [random_image(40, 70, seed=5), random_image(64, 64, seed=6), random_image(90, 33, seed=7)]
    batch = predict_batch(model, images, batch_size=2)
    assert len(batch) == 3
    for image, prediction in zip(images, batch):
        single = predict(model, image)
        np.testing.assert_allclose(prediction.logits, single.logits, rtol=1e-4, atol=1e-4)


def test_pixel_inspector_values(model):
    prediction = predict(model, random_image(30, 30, seed=8))
    pixel = prediction.pixel(3, 4)
    assert pixel["label"] == int(np.argmax(pixel["logits"]))
    np.testing.assert_allclose(pixel["probabilities"], softmax(pixel["logits"]), rtol=1e-5)


def test_paths_are_read_like_dataset_images(model, tmp_path):
    pytest.importorskip("seglib.dataset")
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


def test_the_function_cache_does_not_keep_models_alive():
    import gc
    import weakref

    from seglib import inference

    temporary = build_model(dataclasses.replace(get_preset("lecture").model, image_size=32))
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
