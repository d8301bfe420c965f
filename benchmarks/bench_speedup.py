"""The lecture configuration's training step against the one it replaced, side by side in one process.

``BEFORE`` is the ``lecture`` preset as it stood before the pretrained start
(random backbone, logits upsampled before the 1x1 conv, the backbone trained
from the first step); ``AFTER`` is the preset now. Both train on the same
batches of the same data through the worker's own pipeline (decoded and cached
once) and the worker's own compiled step (``seglib.training.steps.make_train_step``).
The configurations take turns (``--rounds`` rounds of ``--steps`` steps each),
so a machine that gets busier or quieter during the run affects both alike,
and the figure that counts is the ratio.

When the preset keeps its backbone fixed for its first epochs, both phases of
``AFTER`` are timed (backbone fixed, backbone training) and the ratio is also
given for a whole lecture run (the phases weighted by the preset's epochs).

    python benchmarks/bench_speedup.py                 # 4 rounds of 20 steps
    python benchmarks/bench_speedup.py --rounds 2 --steps 10

``run()`` returns the rows for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import os
import time


from machine import load_average  # benchmarks/ is on the path (script or run_all)

from seglib.presets import get_preset
from seglib import settings

#: The lecture preset before issue J, as overrides of the preset now.
BEFORE = {"model.weights": "none", "model.upsample_logits": False, "train.freeze_backbone_epochs": 0,
          "model.image_size": 160, "train.batch_size": 8, "data.augment": True}
TARGET_RATIO = 1.5


def _trainer(config, pairs, frozen: bool):
    """A step function over the worker's pipeline for ``config``; returns ``step() -> images``."""
    from seglib._tf import import_tf
    from seglib.model.deeplab import build_model
    from seglib.data.pipeline import make_dataset
    from seglib.model.backbones import backbone_layers
    from seglib.training.steps import make_optimizer, make_train_step

    tf, keras = import_tf()
    size, batch = config.model.image_size, config.train.batch_size
    model = build_model(config.model)
    optimizer = make_optimizer(config.train)
    optimizer.build(model.trainable_variables)
    for layer in backbone_layers(model, config.model):
        layer.trainable = not frozen
    step = make_train_step(tf, keras, model, optimizer, tf.distribute.get_strategy(), config.model.num_classes,
                           size, jit=False, steps_per_execution=1)
    data = make_dataset(pairs, size, batch, training=True, augment=config.data.augment, cache=True,
                        seed=config.data.seed, num_classes=config.model.num_classes).repeat()
    iterator = iter(data)

    def one() -> int:
        _, _, images = step(iterator, 1)
        return images

    return one


def run(rounds: int = 4, steps: int = 20, warmup: int = 3) -> list[dict]:
    from seglib._tf import import_tf
    from seglib.data.dataset import open_dataset

    tf, _ = import_tf()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})  # as the worker on a CPU
    after = get_preset("lecture")
    before = after.with_overrides(BEFORE)
    pairs = open_dataset(settings.default_dataset_dir()).split("train")[:max(after.train.batch_size, 8) * 16]
    contenders = {"before": _trainer(before, pairs, frozen=False)}
    if after.train.freeze_backbone_epochs:
        contenders["after, backbone fixed"] = _trainer(after, pairs, frozen=True)
    contenders["after, backbone training"] = _trainer(after, pairs, frozen=False)
    for one in contenders.values():
        for _ in range(warmup):
            one()
    seconds = {name: 0.0 for name in contenders}
    images = {name: 0 for name in contenders}
    load = load_average()
    for _ in range(rounds):
        for name, one in contenders.items():
            started = time.perf_counter()
            for _ in range(steps):
                images[name] += one()
            seconds[name] += time.perf_counter() - started
    rates = {name: images[name] / seconds[name] for name in contenders}
    epochs, frozen = after.train.epochs, min(after.train.freeze_backbone_epochs, after.train.epochs)
    fixed_rate = rates.get("after, backbone fixed", rates["after, backbone training"])
    run_rate = epochs / (frozen / fixed_rate + (epochs - frozen) / rates["after, backbone training"])
    note = (f"{rounds} rounds of {steps} steps each, alternating, same cached batches of {len(pairs)} images; "
            f"before = lecture preset with {BEFORE}; after = {after.summary()}")
    common = {"preset": "lecture", "load_1min": load, "note": note, "cpus": os.cpu_count()}
    rows = [{"benchmark": f"training images/s, {name}", "value": round(rate, 2), "unit": "images/s",
             "target": None, "ok": None, **common} for name, rate in rates.items()]
    for name in contenders:
        if name != "before":
            ratio = rates[name] / rates["before"]
            rows.append({"benchmark": f"speed-up, {name} / before", "value": round(ratio, 3), "unit": "x",
                         "target": None, "ok": None, **common})
    ratio = run_rate / rates["before"]
    rows.append({"benchmark": f"speed-up over a {epochs}-epoch lecture run ({frozen} fixed)", "value": round(ratio, 3),
                 "unit": "x", "target": f">= {TARGET_RATIO}", "ok": ratio >= TARGET_RATIO, **common})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = run(arguments.rounds, arguments.steps)
    for row in rows:
        flag = "" if row["ok"] is None else ("  ok" if row["ok"] else "  MISSED")
        print(f"{row['benchmark']:<58}{row['value']:>9} {row['unit']}{flag}   load {row['load_1min']}")
    print(f"  {rows[0]['note']}")
