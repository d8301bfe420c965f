"""Where a training step's time goes on this CPU: TensorFlow's profiler, summed by op and by stage.

Builds the worker's own compiled step (``seglib.training.steps.make_train_step``) for a
preset (plus ``--set`` overrides), runs a warm-up, then profiles ``--steps``
steps with ``tf.profiler.experimental`` and reads the trace it writes (the
XPlane protobuf that TensorBoard's profile plugin reads) to print:

* the top TensorFlow ops by self time (summed over all their calls),
* the time per model stage (backbone / ASPP / decoder / head / optimizer /
  loss and metrics), from the op names,
* user vs system CPU seconds of the process during the profiled steps
  (``resource.getrusage``), and
* the input pipeline's share: the seconds per batch of the real ``tf.data``
  pipeline alone (decode, augment, batch: the first epoch, uncached) next to a
  training step.

    python benchmarks/profile_step.py                        # lecture preset
    python benchmarks/profile_step.py --set train.freeze_backbone_epochs=1
    python benchmarks/profile_step.py --steps 20 --top 25

Numbers are per batch; op times are summed over the threads that ran them, so
they add up to more than the wall time on a multi-core CPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from seglib._tf import import_tf
from seglib.presets import get_preset

STAGES = (("optimizer", ("adam_w/", "adam/", "loss_scale_optimizer/")),
          ("head", ("logits", "head_")),
          ("decoder", ("decoder_",)),
          ("aspp", ("aspp_",)),
          ("loss and metrics", ("sparse_categorical", "bincount", "Bincount", "ArgMax", "boolean_mask")))


#: Op types that belong to the loss and the step's metrics whatever scope they run in.
LOSS_AND_METRIC_OPS = {"SparseSoftmaxCrossEntropyWithLogits", "ArgMax", "Bincount", "DenseBincount", "Where",
                       "DivNoNan"}


def _stage(name: str, kind: str = "") -> str:
    if kind in LOSS_AND_METRIC_OPS:
        return "loss and metrics"
    for stage, needles in STAGES:
        if any(needle in name for needle in needles):
            return stage
    if any(token in name for token in ("block_", "Conv1", "expanded_conv", "bn_Conv1", "conv1", "Conv_1",
                                       "preprocessing")):
        return "backbone"
    return "other"


def _xplane_ops(logdir: Path) -> list[tuple[str, str, float]]:
    """(op name, op type, seconds) for every TensorFlow op event in the trace under ``logdir``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    events = []
    for path in logdir.rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())
        for plane in space.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            metadata = plane.event_metadata
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue  # ops run on the executor's compute threads; Eigen threads help inside them
                for event in line.events:
                    meta = metadata[event.metadata_id]
                    if ":" not in meta.name or "::" in meta.name:
                        continue  # not an op ("scope/name:Type"): executor and thread-pool bookkeeping
                    op_name, _, op_type = meta.name.rpartition(":")
                    events.append((op_name, op_type, event.duration_ps / 1e12))
    return events


def profile(preset: str, overrides: list[str], steps: int, top: int) -> dict:
    import numpy as np

    tf, keras = import_tf()
    from seglib.model.deeplab import build_model
    from seglib.training.steps import make_optimizer, make_train_step

    config = get_preset(preset).with_overrides(dict(item.split("=", 1) for item in overrides))
    size, batch, classes = config.model.image_size, config.train.batch_size, config.model.num_classes
    keras.utils.set_random_seed(0)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})  # as the worker on a CPU
    model = build_model(config.model)
    optimizer = make_optimizer(config.train)
    optimizer.build(model.trainable_variables)
    if config.train.freeze_backbone_epochs:
        from seglib.model.backbones import backbone_layers

        for layer in backbone_layers(model, config.model):
            layer.trainable = False
    step = make_train_step(tf, keras, model, optimizer, tf.distribute.get_strategy(), classes, size,
                           jit=False, steps_per_execution=1)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    masks = tf.constant(rng.integers(0, classes, (batch, size, size)).astype("int32"))
    iterator = iter(tf.data.Dataset.from_tensors((images, masks)).repeat())
    for _ in range(3):
        step(iterator, 1)

    logdir = Path(tempfile.mkdtemp(prefix="seglib-profile-"))
    usage_before, wall_before = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    tf.profiler.experimental.start(str(logdir))
    for _ in range(steps):
        step(iterator, 1)
    tf.profiler.experimental.stop()
    wall = time.perf_counter() - wall_before
    usage = resource.getrusage(resource.RUSAGE_SELF)
    user, system = usage.ru_utime - usage_before.ru_utime, usage.ru_stime - usage_before.ru_stime

    # Unprofiled step time (the profiler itself costs a little).
    started = time.perf_counter()
    for _ in range(steps):
        step(iterator, 1)
    step_seconds = (time.perf_counter() - started) / steps

    # The input pipeline alone, first (uncached) epoch, as the worker builds it.
    from seglib.data.dataset import open_dataset
    from seglib.data.pipeline import make_dataset
    from seglib.training.splits import dataset_root

    pairs = open_dataset(dataset_root(config.data.root)).split("train")[:batch * 12]
    data = make_dataset(pairs, size, batch, training=True, augment=config.data.augment, cache=False)
    started = time.perf_counter()
    batches = sum(1 for _ in data)
    pipeline_seconds = (time.perf_counter() - started) / max(batches, 1)

    events = _xplane_ops(logdir)
    by_type: dict[str, float] = collections.Counter()
    by_stage: dict[str, float] = collections.Counter()
    for name, kind, seconds in events:
        by_type[kind] += seconds / steps
        by_stage[_stage(name, kind)] += seconds / steps
    total = sum(by_type.values()) or 1.0
    return {"config": config.summary() + (", backbone fixed" if config.train.freeze_backbone_epochs else ""),
            "step_s": step_seconds, "images_per_second": batch / step_seconds,
            "profiled_wall_s_per_step": wall / steps, "user_s_per_step": user / steps,
            "system_s_per_step": system / steps, "pipeline_s_per_batch": pipeline_seconds,
            "op_seconds_per_step": total, "top_ops": by_type.most_common(top), "stages": by_stage.most_common(),
            "events": len(events)}


def print_report(result: dict) -> None:
    print(f"{result['config']}")
    print(f"  step {result['step_s'] * 1000:.0f} ms = {result['images_per_second']:.1f} images/s "
          f"(profiled: {result['profiled_wall_s_per_step'] * 1000:.0f} ms wall per step)")
    cpu = result["user_s_per_step"] + result["system_s_per_step"]
    print(f"  CPU per step: user {result['user_s_per_step'] * 1000:.0f} ms, system "
          f"{result['system_s_per_step'] * 1000:.0f} ms ({result['system_s_per_step'] / max(cpu, 1e-9):.0%} system)")
    print(f"  input pipeline alone (uncached first epoch): {result['pipeline_s_per_batch'] * 1000:.0f} ms per batch "
          f"= {result['pipeline_s_per_batch'] / result['step_s']:.0%} of a step (it runs alongside the step)")
    total = result["op_seconds_per_step"]
    print(f"  op time per step, summed over threads: {total * 1000:.0f} ms ({result['events']} op events)")
    print("  by stage:")
    for stage, seconds in result["stages"]:
        print(f"    {stage:<18}{seconds * 1000:8.1f} ms  {seconds / total:6.1%}")
    print("  top ops by self time:")
    for kind, seconds in result["top_ops"]:
        print(f"    {kind:<40}{seconds * 1000:8.1f} ms  {seconds / total:6.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lecture")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print_report(profile(arguments.preset, arguments.overrides, arguments.steps, arguments.top))
    sys.stdout.flush()
