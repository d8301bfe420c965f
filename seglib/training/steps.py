"""The TensorFlow pieces of training: the optimiser, the distribution strategy, the compiled steps.

``make_train_step`` runs ``steps_per_execution`` optimizer steps in one compiled
function and returns each chunk's mean loss and its exact int64 confusion
matrix (``tf.math.bincount``); ``make_eval_step`` predicts a validation batch
and sums its loss. The worker (``seglib.training.worker``) and the benchmarks
drive the same functions.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from typing import Any, Callable

import numpy as np

from seglib.classes import IGNORE_LABEL
from seglib.config import OPTIMIZERS
from seglib.errors import ConfigError

logger = logging.getLogger("seglib.training.worker")  # the run's train.log

#: Weights that AdamW's decoupled weight decay leaves alone (BatchNorm scales and offsets, biases): the
#: patterns Keras matches against a variable's name (``exclude_from_weight_decay``).
NOT_DECAYED = ("gamma", "beta", "bias")


def make_optimizer(train_config):
    """The optimiser a ``TrainConfig`` asks for.

    ``adamw``: AdamW with decoupled weight decay (not applied to BatchNorm
    scales/offsets and biases) and, unless ``decay_rate`` is 1, Keras
    ``ExponentialDecay`` of the learning rate per optimizer step.
    ``adam``: Adam, same schedule rules, no weight decay.
    """
    from seglib._tf import keras

    learning_rate: Any = float(train_config.learning_rate)
    if train_config.decay_rate < 1.0:
        learning_rate = keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate=float(train_config.learning_rate), decay_steps=int(train_config.decay_steps),
            decay_rate=float(train_config.decay_rate), staircase=False)
    if train_config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate,
                                           weight_decay=float(train_config.weight_decay))
        optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
        return optimizer
    if train_config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}. Received: {train_config.optimizer!r}")


def make_strategy(tf, name: str):
    """The tf.distribute strategy for ``train.strategy`` (the run folder is the same for all)."""
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        # Every GPU; without one, every logical CPU device (a CPU split with
        # tf.config.set_logical_device_configuration, as the tests do), since
        # MirroredStrategy() alone would take only the first CPU.
        cpus = tf.config.list_logical_devices("CPU")
        if not gpus and len(cpus) > 1:
            return tf.distribute.MirroredStrategy(devices=[device.name for device in cpus])
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_default_strategy(tf, strategy) -> bool:
    """True for TensorFlow's default (no) strategy: one device, no distributed dataset."""
    return strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy()


def freeze_backbone(model, config, epoch: int) -> bool:
    """Fix the backbone during the first ``train.freeze_backbone_epochs`` epochs; return whether it is fixed.

    A fixed backbone keeps its (pretrained) weights and its BatchNorm layers
    run in inference mode with their stored statistics (Keras runs a
    ``trainable=False`` BatchNormalization that way), so the new ASPP,
    decoder and head learn on stable features, and each step skips the
    backbone's backward pass. ``config`` is the run's ``RunConfig``.
    """
    from seglib.model.backbones import backbone_layers

    frozen = epoch <= config.train.freeze_backbone_epochs
    for layer in backbone_layers(model, config.model):
        layer.trainable = not frozen
    if frozen:
        logger.info("Epoch %d: backbone fixed (train.freeze_backbone_epochs=%d); %s trainable weights.",
                    epoch, config.train.freeze_backbone_epochs,
                    f"{sum(int(np.prod(v.shape)) for v in model.trainable_variables):,}")
    return frozen


def make_train_step(tf, keras, model, optimizer, strategy, num_classes: int, size: int, jit: bool,
                    steps_per_execution: int, loss: Callable | None = None):
    """Return ``step(iterator, n) -> (mean loss, int64 confusion (C, C), images)`` for ``n`` batches.

    One compiled function runs ``n`` optimizer steps (``steps_per_execution``)
    so the Python overhead per step disappears on fast devices. ``loss`` is a
    ``seglib.evaluation.losses.make_loss`` function (default: plain cross-entropy).
    """
    from seglib.evaluation.losses import make_loss

    loss_object = loss or make_loss("cross-entropy", num_classes, ignore_label=IGNORE_LABEL)
    replicas = strategy.num_replicas_in_sync
    distributed = replicas > 1 or not is_default_strategy(tf, strategy)
    bins = num_classes * num_classes

    def one_step(images, masks):
        masks = tf.cast(masks, tf.int32)
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_object(masks, logits)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
            scaled = optimizer.scale_loss(loss / replicas) if hasattr(optimizer, "scale_loss") else loss / replicas
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        valid = (masks >= 0) & (masks < num_classes)
        index = tf.boolean_mask(masks * num_classes + predicted, valid)
        confusion = tf.math.bincount(index, minlength=bins, maxlength=bins, dtype=tf.int64)
        return loss, confusion, tf.shape(images)[0]

    def chunk(iterator, n):
        loss_total = tf.constant(0.0, tf.float32)
        confusion_total = tf.zeros([bins], tf.int64)
        images_total = tf.constant(0, tf.int32)
        for _ in tf.range(n):
            images, masks = next(iterator)
            if distributed:
                loss, confusion, count = strategy.run(one_step, args=(images, masks))
                loss = strategy.reduce("SUM", loss, axis=None) / replicas
                confusion = strategy.reduce("SUM", confusion, axis=None)
                count = strategy.reduce("SUM", count, axis=None)
            else:
                loss, confusion, count = one_step(images, masks)
            loss_total += tf.cast(loss, tf.float32)
            confusion_total += confusion
            images_total += count
        return loss_total / tf.cast(n, tf.float32), confusion_total, images_total

    if steps_per_execution > 1 or distributed:
        compiled = tf.function(chunk, jit_compile=jit and not distributed, reduce_retracing=True)

        def step(iterator, n: int):
            loss, confusion, count = compiled(iterator, tf.constant(n, tf.int32))
            return loss.numpy(), confusion.numpy().reshape(num_classes, num_classes), int(count)

        return step

    # One batch per call: a plain graph (no while loop) traces faster and is as
    # fast on a CPU, where a step takes far longer than the Python around it.
    single = tf.function(one_step, jit_compile=jit, input_signature=[
        tf.TensorSpec([None, size, size, 3], tf.float32), tf.TensorSpec([None, size, size], tf.int32)])

    def step(iterator, n: int):  # noqa: ARG001 - n is 1 here
        images, masks = next(iterator)
        loss, confusion, count = single(tf.cast(images, tf.float32), tf.cast(masks, tf.int32))
        return loss.numpy(), confusion.numpy().reshape(num_classes, num_classes), int(count)

    return step


def make_eval_step(tf, model, num_classes: int, size: int, jit: bool, loss: Callable | None = None):
    """Return ``eval(images, masks) -> (predicted ids, summed loss, valid pixels)``.

    The summed loss divided by the pixels is the validation loss: per-pixel
    cross-entropy by default, so it is exact over the whole split; with another
    training ``loss`` (a ``seglib.evaluation.losses.make_loss`` function, e.g. with Dice,
    which is not a sum over pixels) it is that loss per batch, weighted by the
    batch's labelled pixels, so training and validation curves measure the same thing.
    """

    @tf.function(jit_compile=jit, input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32),
                                                   tf.TensorSpec([None, size, size], tf.int32)])
    def evaluate(images, masks):
        logits = tf.cast(model(images, training=False), tf.float32)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        valid = (masks >= 0) & (masks < num_classes)
        pixels = tf.reduce_sum(tf.cast(valid, tf.int64))
        if loss is None:
            labels = tf.where(valid, masks, 0)
            per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            loss_sum = tf.reduce_sum(tf.where(valid, per_pixel, 0.0))
        else:
            loss_sum = loss(masks, logits) * tf.cast(pixels, tf.float32)
        return tf.cast(predicted, tf.uint8), loss_sum, pixels

    def run(images, masks):
        return evaluate(tf.cast(images, tf.float32), tf.cast(masks, tf.int32))

    return run


def drain(iterator) -> None:
    """Read the iterator to its end (normally nothing is left).

    A ``tf.data`` cache is only kept when an iterator reaches the end of the
    data; an epoch that stops after exactly ``steps_per_epoch`` batches without
    seeing the end would make the pipeline decode every image again next epoch.
    """
    with contextlib.suppress(Exception):
        for _ in iterator:
            pass


def cardinality(data, fallback: int) -> int:
    """Batches in a ``tf.data`` dataset, or ``fallback`` when TensorFlow cannot tell (at least 1)."""
    try:
        value = int(data.cardinality().numpy())
    except Exception:  # noqa: BLE001
        return max(1, fallback)
    return value if value > 0 else max(1, fallback)


def current_lr(keras, optimizer) -> float:
    """The optimiser's learning rate now (NaN when it cannot be read)."""
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # noqa: BLE001
        return float("nan")


def decayed_weights(model) -> list:
    """The trainable weights that AdamW's weight decay shrinks: the kernels (convolutions), not
    ``NOT_DECAYED`` (BatchNorm scales and offsets, biases)."""
    return [variable for variable in model.trainable_variables
            if not any(re.search(pattern, variable.name) for pattern in NOT_DECAYED)]


def weight_norm(model) -> float:
    """The L2 norm of the trainable kernels (``decayed_weights``), measured: sqrt of the sum of their
    squared entries. Weight decay pulls it down; a gradient step that grows the weights pushes it up."""
    total = 0.0
    for variable in decayed_weights(model):
        values = np.asarray(variable.numpy(), dtype=np.float64)
        total += float(np.sum(values * values))
    return math.sqrt(total)


def nan_message(epoch: int, step: int, optimizer) -> str:
    """What a run whose loss became NaN says: where, and what to try."""
    from seglib._tf import keras

    lr = current_lr(keras, optimizer)
    return (f"The training loss became NaN at epoch {epoch}, step {step} (learning rate {lr:.3g}): the "
            "weights diverged. Lower the learning rate (for example 10x smaller with --lr) or the "
            "batch size, and start a new run; last.keras still holds the last good epoch.")
