"""The ``tf.data`` input pipeline: decode, resize, cache, shuffle, augment, batch.

``make_dataset`` is what training and evaluation use::

    shuffled indices (seeded, a new permutation every epoch)    [training]
          -> parallel decode + resize (image: area/bilinear, mask: NEAREST only)
          -> cache (uint8, after resizing, by index: epoch 2+ never decodes again)
          -> flip with left/right label swap, scale jitter + crop [augment]
          -> batch -> prefetch

It yields ``(images, masks)``: images float32 ``(B, S, S, 3)`` in 0..255 (the
model normalises inside its graph, so a saved model needs nothing else), masks
int32 ``(B, S, S)`` with 255 where the label is unknown (loss and metrics skip it).

Why these choices:

- Masks are resized with nearest neighbour. Bilinear resizing (what the Keras
  example does) averages neighbouring class ids at every boundary and invents
  labels that are not there, e.g. 9 (pants) between 5 and 13.
- A horizontal flip turns a person's left arm into an arm on the *other* side
  of the picture, so the labels left/right (14/15, 16/17, 18/19) are swapped too.
- Files are decoded with OpenCV (``seglib.data.dataset.load_pair``) inside the
  pipeline: the same reader as validation and the pages (16-bit, grayscale,
  RGBA and colour-coded masks handled the same way everywhere). It also costs
  less CPU per image than ``tf.io.decode_*`` + antialiased ``tf.image.resize``:
  about the same for 512 -> 128 px, a third for 512 px images
  (``benchmarks/bench_data.py`` measures both). A pair that fails to load mid-training
  yields an all-ignore mask (it teaches nothing) instead of stopping the run.
- Everything random is seeded: the same seed gives the same batches in the
  same order, epoch after epoch (and different ones in each epoch).
- tf.data's autotuning is off; each map runs on every core (``PARALLEL_CALLS``) and
  two batches are prefetched. With autotuning on, dropping an epoch's iterator
  waited for tf.data's tuning thread: training stood still, no core busy, for
  2.5-8 s at the end of one lecture epoch in three (a fifth of an epoch's time;
  found with ``py-spy dump --native``: ``~IteratorResource`` ->
  ``UnboundedThreadPool::LogicalThreadWrapper``). The pipeline is never the
  bottleneck here (the cache makes an epoch's batches a fraction of a second).

``reference_dataset`` feeds the same files the way the Keras example does
(bilinear image *and* mask, no cache, no prefetch), for benchmarks and for
showing the invented labels.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from seglib._tf import tf
from seglib.classes import IGNORE_LABEL, LEFT_RIGHT_PAIRS, NUM_CLASSES
from seglib.data.dataset import load_pair
from seglib.data.layout import Pair

#: Default range of the random zoom factor of the scale-jitter augmentation.
SCALE_RANGE = (1.0, 1.5)
#: Parallel calls of each map of ``make_dataset``: every core this process may use (at most 16,
#: tf.data's own default), fixed because autotuning is off (see the module docstring).
PARALLEL_CALLS = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                            else (os.cpu_count() or 1), 16))
#: Batches ``make_dataset`` prepares ahead of the training step.
PREFETCH_BATCHES = 2

_warned: set[str] = set()


def _check(pairs, image_size, batch_size) -> list[Pair]:
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one image/mask pair. Received: pairs=[]")
    for name, value in (("image_size", image_size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return pairs


def _flip_table() -> np.ndarray:
    table = np.arange(256, dtype=np.int32)
    for left, right in LEFT_RIGHT_PAIRS:
        table[left], table[right] = right, left
    return table


def _loader(image_size: int, num_classes: int):
    """A Python function for ``tf.numpy_function``: paths -> resized uint8 image and mask."""

    def load(image_path: bytes, mask_path: bytes):
        image_path, mask_path = image_path.decode(), mask_path.decode()
        pair = Pair("", Path(image_path), Path(mask_path))
        try:
            return load_pair(pair, size=image_size, num_classes=num_classes)
        except Exception as error:  # noqa: BLE001 - one bad file must not stop a training run
            name = Path(image_path).name
            if name not in _warned:
                _warned.add(name)
                print(f"warning: skipping {name} in training ({error}); it is fed as all-ignore.",
                      file=sys.stderr, flush=True)
            return (np.zeros((image_size, image_size, 3), np.uint8),
                    np.full((image_size, image_size), IGNORE_LABEL, np.uint8))

    return load


def _map_load(paths, image_size: int, num_classes: int):
    load = _loader(image_size, num_classes)

    def load_element(image_path, mask_path):
        image, mask = tf.numpy_function(load, [image_path, mask_path], [tf.uint8, tf.uint8], stateful=False)
        image.set_shape([image_size, image_size, 3])
        mask.set_shape([image_size, image_size])
        return image, mask

    return paths.map(load_element, num_parallel_calls=PARALLEL_CALLS, deterministic=True)


class _DecodedStore:
    """Decoded, resized uint8 pairs kept in memory by index (the training cache).

    ``element(index)`` decodes a pair the first time it is asked for and keeps
    it; later epochs never decode again. Calls come from several tf.data threads
    at once; OpenCV releases the GIL while decoding, and a pair decoded twice by
    a race is merely stored twice.
    """

    def __init__(self, pairs: Sequence[Pair], image_size: int, num_classes: int):
        self.paths = [(str(p.image).encode(), str(p.mask).encode()) for p in pairs]
        self.image_size = image_size
        self.load = _loader(image_size, num_classes)
        self.decoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _get(self, index) -> tuple[np.ndarray, np.ndarray]:
        index = int(index)
        pair = self.decoded.get(index)
        if pair is None:
            pair = self.decoded[index] = self.load(*self.paths[index])
        return pair

    def element(self, index):
        image, mask = tf.numpy_function(self._get, [index], [tf.uint8, tf.uint8], stateful=False)
        image.set_shape([self.image_size, self.image_size, 3])
        mask.set_shape([self.image_size, self.image_size])
        return image, mask


def augment_pair(image, mask, seed, image_size: int, scale_range=SCALE_RANGE):
    """Random flip (left/right labels swapped) and scale jitter + crop, from a stateless ``seed`` (2,).

    ``image`` uint8/float (S, S, 3), ``mask`` uint8 (S, S). Returns float32 image and
    uint8 mask of the same size. Image and mask get the same geometry; the mask is
    resized with nearest neighbour, so no new label appears.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=3)
    image = tf.cast(image, tf.float32)
    flip = tf.random.stateless_uniform([], seed=seeds[0]) < 0.5
    flipped_mask = tf.gather(tf.constant(_flip_table(), tf.uint8), tf.cast(mask, tf.int32))
    image = tf.where(flip, tf.reverse(image, axis=[1]), image)
    mask = tf.where(flip, tf.reverse(flipped_mask, axis=[1]), mask)

    low, high = float(scale_range[0]), float(scale_range[1])
    if high > 1.0:
        # Zoom in by ``scale``: crop a (S / scale) square at a random place and
        # resize it to S. Same result as enlarging the whole image and cropping S,
        # at 1 / scale**2 of the cost.
        scale = tf.random.stateless_uniform([], seed=seeds[1], minval=max(low, 1.0), maxval=high)
        crop = tf.clip_by_value(tf.cast(tf.round(image_size / scale), tf.int32), 1, image_size)
        offset = tf.random.stateless_uniform([2], seed=seeds[2], minval=0, maxval=image_size - crop + 1,
                                             dtype=tf.int32)
        image = tf.slice(image, [offset[0], offset[1], 0], [crop, crop, 3])
        mask = tf.slice(mask, [offset[0], offset[1]], [crop, crop])
        image = tf.image.resize(image, [image_size, image_size], method="bilinear")
        mask = tf.image.resize(mask[..., None], [image_size, image_size], method="nearest")[..., 0]
    image.set_shape([image_size, image_size, 3])
    mask.set_shape([image_size, image_size])
    return image, mask


def make_dataset(pairs: Sequence[Pair], image_size: int, batch_size: int, *, training: bool,
                 augment: bool = False, cache: bool = True, seed: int = 0, num_classes: int = NUM_CLASSES,
                 scale_range=SCALE_RANGE, drop_remainder: bool = False):
    """Build the input pipeline for ``pairs`` (see the module docstring).

    Args:
        pairs: ``Pair`` objects, e.g. ``open_dataset(root).split("train")``.
        image_size: square side S the model takes (``config.model.image_size``).
        batch_size: images per batch (``config.train.batch_size``).
        training: shuffle (seeded, every epoch anew). Validation keeps the file order.
        augment: random flip with left/right label swap, scale jitter and crop.
        cache: keep decoded, resized uint8 images in memory after the first epoch.
        seed: shuffle and augmentation seed (``config.data.seed``).
        num_classes: mask values >= this become 255 (ignored).
    """
    pairs = _check(pairs, image_size, batch_size)
    image_size, batch_size = int(image_size), int(batch_size)
    paths = tf.data.Dataset.from_tensor_slices(
        ([str(p.image) for p in pairs], [str(p.mask) for p in pairs]))
    count = len(pairs)
    if cache and training:
        # Shuffle indices (a full permutation, anew every epoch) and look the decoded
        # pairs up in memory: the first batch needs only its own images decoded, where
        # a shuffle buffer after a cache would wait for the whole buffer (all the images,
        # seconds on a laptop) before the first step.
        store = _DecodedStore(pairs, image_size, num_classes)
        dataset = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.map(store.element, num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    elif cache:
        dataset = _map_load(paths, image_size, num_classes).cache()
    else:
        if training:  # shuffling file names is cheaper than shuffling decoded images
            paths = paths.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        dataset = _map_load(paths, image_size, num_classes)

    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, element_seed: augment_pair(pair[0], pair[1], element_seed, image_size, scale_range),
            num_parallel_calls=PARALLEL_CALLS, deterministic=True)

    def to_model_types(image, mask):
        return tf.cast(image, tf.float32), tf.cast(mask, tf.int32)

    dataset = dataset.map(to_model_types, num_parallel_calls=PARALLEL_CALLS, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return dataset.with_options(options).prefetch(PREFETCH_BATCHES)


def reference_dataset(pairs: Sequence[Pair], image_size: int, batch_size: int):
    """The same files fed exactly as the Keras DeepLabV3+ example feeds them.

    ``tf.image.decode_png`` (which also decodes JPEG), bilinear ``tf.image.resize``
    of the image *and the mask*, batch with ``drop_remainder=True``; no cache, no
    shuffle, no prefetch. Yields images float32 (B, S, S, 3) in 0..255 and masks
    float32 (B, S, S, 1) - with non-integer values at class boundaries.
    """
    pairs = _check(pairs, image_size, batch_size)

    def read(path, mask=False):
        data = tf.io.read_file(path)
        if mask:
            image = tf.image.decode_png(data, channels=1)
            image.set_shape([None, None, 1])
        else:
            image = tf.image.decode_png(data, channels=3)
            image.set_shape([None, None, 3])
        return tf.image.resize(images=image, size=[image_size, image_size])

    dataset = tf.data.Dataset.from_tensor_slices(([str(p.image) for p in pairs], [str(p.mask) for p in pairs]))
    dataset = dataset.map(lambda image, mask: (read(image), read(mask, mask=True)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(int(batch_size), drop_remainder=True)
