"""What a run trains, built from its config: the worker's start-up steps.

The worker (``seglib.training.worker``) calls these in order, reporting each
step in ``progress.json`` as it goes: the device strategy (``device_strategy``),
the input pipelines (``input_pipelines``), the model with its optimiser,
restored from ``last.keras`` on resume (``model_and_optimizer``), and the loss
``train.loss`` names (``training_loss``). Each takes what it needs as arguments
and reads no state of the worker, so the worker's own code is the run's lifecycle
and its epochs. What they log goes to the run's ``train.log``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Sequence

from seglib.classes import IGNORE_LABEL, class_label
from seglib.config import RunConfig, TrainConfig
from seglib.errors import RunError
from seglib.training import steps
from seglib.training.runs import files, state

logger = logging.getLogger("seglib.training.worker")  # the run's train.log


def device_strategy(tf, train_config: TrainConfig) -> tuple[Any, bool]:
    """The tf.distribute strategy ``train.strategy`` names, and whether a GPU is visible.

    The strategy comes first: the batch scales with its replicas (``train.batch_size``
    is per replica; the pipelines yield global batches that the strategy splits).
    """
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    strategy = steps.make_strategy(tf, train_config.strategy)
    if not on_gpu and steps.is_default_strategy(tf, strategy):
        # Grappler's graph rewrites add ~2 s (20%) to the first-batch wait on a
        # 2-core CPU and measured no faster steps there; GPUs keep them (layout, fusion),
        # and so do distributed steps (not measured without them).
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    return strategy, on_gpu


def input_pipelines(config: RunConfig, train_pairs: Sequence, val_pairs: Sequence,
                    batch_size: int) -> tuple[Any, Any, int]:
    """The training and validation ``tf.data`` pipelines of global batches of ``batch_size``, and the
    training steps per epoch."""
    from seglib.data.pipeline import make_dataset

    size, num_classes = config.model.image_size, config.model.num_classes
    train_data = make_dataset(train_pairs, size, batch_size, training=True, augment=config.data.augment,
                              cache=config.data.cache, seed=config.data.seed, num_classes=num_classes)
    val_data = make_dataset(val_pairs, size, batch_size, training=False, augment=False,
                            cache=config.data.cache, seed=config.data.seed, num_classes=num_classes)
    steps_per_epoch = steps.cardinality(train_data, math.ceil(len(train_pairs) / batch_size))
    return train_data, val_data, steps_per_epoch


def model_and_optimizer(keras, config: RunConfig, folder: Path, resume: bool, mixed: bool):
    """Build (or, on ``resume``, restore from ``last.keras``) the model and its optimiser; return them with
    the epochs already done. Call it inside the strategy's scope."""
    from seglib.model.deeplab import build_model

    model = build_model(config.model)
    optimizer = steps.make_optimizer(config.train)
    if mixed:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_LABEL)
    # Compiled only so that model.save() stores the optimiser state with the weights.
    model.compile(optimizer=optimizer, loss=loss, jit_compile=False)
    done = 0
    if resume:
        last = folder / files.LAST_CHECKPOINT
        done = state.epochs_done(folder)
        if last.exists():
            optimizer.build(model.trainable_variables)
            try:
                model.load_weights(str(last))
            except Exception as error:  # noqa: BLE001
                raise RunError(f"Cannot resume: last.keras does not match this run's model ({error}). "
                               "Start a new run instead.") from error
            logger.info("Resumed from last.keras at optimizer step %d (%d epochs done).",
                        int(optimizer.iterations.numpy()), done)
        else:
            logger.info("Resume asked, but there is no last.keras yet: starting from scratch.")
            done = 0
    if not optimizer.built:
        # Create the slots now (inside the strategy's scope, mirrored on every replica),
        # not lazily in the first traced step: a tf.distribute step that creates
        # variables fails with "You must feed a value for placeholder".
        optimizer.build(model.trainable_variables)
    return model, optimizer, done


def training_loss(config: RunConfig, train_pairs: Sequence) -> Callable:
    """The training loss ``train.loss`` names; the weighted one weighs each class by median frequency
    over the training masks' pixels at the model's size (logged)."""
    from seglib.data.stats import count_class_pixels
    from seglib.evaluation.losses import make_loss, median_frequency_weights

    name, num_classes = config.train.loss, config.model.num_classes
    weights = None
    if name == "weighted-cross-entropy":
        counts = count_class_pixels(train_pairs, num_classes, size=config.model.image_size)
        weights = median_frequency_weights(counts)
        logger.info("Class weights (median frequency over %d training masks): %s", len(train_pairs),
                    ", ".join(f"{class_label(i)} {w:.2f}"
                              for i, w in enumerate(weights)))
    if name != "cross-entropy":
        logger.info("Loss: %s (training and validation loss both measure it).", name)
    return make_loss(name, num_classes, class_weights=weights, ignore_label=IGNORE_LABEL)
