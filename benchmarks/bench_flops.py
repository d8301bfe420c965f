"""Achieved training FLOP/s against what this CPU does on a large matrix product.

* FLOPs of one training image: counted from the model's convolution and dense
  layers (2 x multiply-adds of the forward pass, from each layer's input and
  output shapes), times 3 for forward + backward (the usual rule: the backward
  pass costs about twice the forward). Batch norm, activations, resizes and the
  optimizer update are left out, so the figure is a slight under-count.
* Achieved FLOP/s: the worker's own compiled training step
  (``seglib.training.steps.make_train_step``) on in-memory batches (no input pipeline:
  this measures the model, not the feeding), after a warm-up, times the images/s.
* Practical peak: a float32 ``tf.linalg.matmul`` of two N x N matrices
  (N = 2048) timed in the same process, 2 N^3 FLOPs per product.

The fraction achieved / peak says how much of the CPU's arithmetic the training
step uses. Small convolutions (depthwise, 1x1 on few channels) are memory-bound,
so a MobileNet reaches a far smaller fraction than a ResNet.

    python benchmarks/bench_flops.py --quick          # lecture preset (about 30 s on 2 cores)
    python benchmarks/bench_flops.py                  # lecture and course (ResNet50 at 512 px: minutes)

``run()`` returns the rows for ``benchmarks/run_all.py``, each with the 1-minute
load average (other jobs on the cores lower both the achieved and the peak figure).
"""

from __future__ import annotations

import argparse
import math
import os
import time


from machine import load_average  # benchmarks/ is on the path (script or run_all)

from seglib.presets import get_preset

MATMUL_SIZE = 2048


def _spatial(shape) -> int:
    """Positions per image of an output shape (B, H, W, C) or (B, C)."""
    return int(math.prod(int(d) for d in shape[1:-1])) if len(shape) > 2 else 1


def forward_flops(model) -> int:
    """2 x multiply-adds of one image's forward pass through conv/dense layers (nested models included)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if hasattr(layer, "layers") and layer.layers:
            total += forward_flops(layer)
            continue
        if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "Conv2DTranspose"):
            continue
        out_shape = tuple(layer.output.shape)
        in_channels = int(layer.input.shape[-1])
        positions = _spatial(out_shape)
        out_channels = int(out_shape[-1])
        if kind == "Dense":
            total += 2 * positions * in_channels * out_channels
            continue
        kh, kw = layer.kernel_size
        if kind == "DepthwiseConv2D":
            total += 2 * positions * kh * kw * in_channels * layer.depth_multiplier
        elif kind == "SeparableConv2D":
            middle = in_channels * layer.depth_multiplier
            total += 2 * positions * (kh * kw * middle + middle * out_channels)
        else:
            groups = getattr(layer, "groups", 1) or 1
            total += 2 * positions * kh * kw * (in_channels // groups) * out_channels
    return total


def matmul_peak(size: int = MATMUL_SIZE, seconds: float = 2.0) -> float:
    """FLOP/s of a float32 N x N matrix product in this process (best of several runs)."""
    from seglib._tf import tf

    a = tf.random.uniform([size, size], dtype=tf.float32)
    b = tf.random.uniform([size, size], dtype=tf.float32)
    product = tf.function(lambda x, y: tf.reduce_sum(tf.linalg.matmul(x, y)))
    product(a, b).numpy()
    best, deadline = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best


def training_rate(preset: str, steps: int, warmup: int = 2) -> dict:
    """Images/s of the worker's training step on in-memory batches of the preset."""
    import numpy as np

    from seglib._tf import import_tf
    from seglib.model.deeplab import build_model
    from seglib.training.steps import make_optimizer, make_train_step

    tf, keras = import_tf()
    config = get_preset(preset)
    size, batch, classes = config.model.image_size, config.train.batch_size, config.model.num_classes
    keras.utils.set_random_seed(0)
    model = build_model(config.model)
    optimizer = make_optimizer(config.train)
    optimizer.build(model.trainable_variables)
    step = make_train_step(tf, keras, model, optimizer, tf.distribute.get_strategy(), classes, size,
                           jit=False, steps_per_execution=1)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    masks = tf.constant(rng.integers(0, classes, (batch, size, size)).astype("int32"))
    data = tf.data.Dataset.from_tensors((images, masks)).repeat()
    iterator = iter(data)
    for _ in range(warmup):
        step(iterator, 1)
    started = time.perf_counter()
    for _ in range(steps):
        step(iterator, 1)
    seconds = time.perf_counter() - started
    result = {"images_per_second": steps * batch / seconds, "step_s": seconds / steps,
              "forward_flops": forward_flops(model), "image_size": size, "batch_size": batch,
              "params": model.count_params()}
    del model
    keras.backend.clear_session()
    return result


def run(presets: list[str] | None = None, quick: bool = False) -> list[dict]:
    """One row per preset: achieved training FLOP/s, the matmul peak and the fraction."""
    presets = presets or (["lecture"] if quick else ["lecture", "course"])
    rows = []
    for preset in presets:
        load = load_average()
        heavy = get_preset(preset).model.image_size > 256
        measured = training_rate(preset, steps=(2 if heavy else (5 if quick else 15)), warmup=1 if heavy else 2)
        peak = matmul_peak(seconds=1.0 if quick else 3.0)
        train_flops_per_image = 3 * measured["forward_flops"]
        achieved = train_flops_per_image * measured["images_per_second"]
        note = (f"{measured['image_size']} px, batch {measured['batch_size']}, {measured['params']:,} params, "
                f"{train_flops_per_image / 1e9:.2f} GFLOP per training image (3 x forward), "
                f"{measured['images_per_second']:.1f} images/s, step {measured['step_s'] * 1000:.0f} ms; "
                f"peak = float32 {MATMUL_SIZE}x{MATMUL_SIZE} matmul")
        common = {"preset": preset, "load_1min": load, "note": note, "target": None, "ok": None,
                  "cpus": os.cpu_count()}
        rows += [
            {"benchmark": "training GFLOP/s achieved", "value": round(achieved / 1e9, 2), "unit": "GFLOP/s",
             **common},
            {"benchmark": "matmul GFLOP/s (practical peak)", "value": round(peak / 1e9, 2), "unit": "GFLOP/s",
             **common},
            {"benchmark": "fraction of peak", "value": round(achieved / peak, 3), "unit": "", **common},
        ]
    return rows


def print_table(rows: list[dict]) -> None:
    for row in rows:
        print(f"{row['preset']:<14}{row['benchmark']:<34}{row['value']:>10} {row['unit']:<8} load {row['load_1min']}")
    for preset in dict.fromkeys(r["preset"] for r in rows):
        print(f"  {preset}: {next(r['note'] for r in rows if r['preset'] == preset)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", help="presets (default: lecture, plus course without --quick)")
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    print_table(run(arguments.presets or None, arguments.quick))
