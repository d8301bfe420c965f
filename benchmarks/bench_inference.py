"""Inference latency: one 512 px image through ``seglib.evaluation.inference.predict``, per preset.

What a student waits for after clicking "predict" on the dashboard, once the
model is loaded: resize to the model's input size, one forward pass, logits
resized back to 512 x 512, softmax and argmax. The lecture model must answer in
at most 0.3 s on 2 CPU cores.

    python benchmarks/bench_inference.py            # all presets
    python benchmarks/bench_inference.py lecture    # one preset

``run()`` returns the rows for ``benchmarks/run_all.py``. Weights are random
(the architecture, not the weights, sets the time); presets with the same
model (``course`` and ``keras-example``) are measured once.
"""

from __future__ import annotations

import os
import statistics
import sys
import time


from seglib._tf import import_tf
from seglib.presets import get_preset, preset_names

#: Seconds one lecture-model prediction of a 512 px image may take on 2 CPU cores.
LECTURE_TARGET_SECONDS = 0.3
IMAGE_SIZE = 512


def _measure(model, image, repeats: int) -> list[float]:
    from seglib.evaluation.inference import predict

    for _ in range(2):  # trace the tf.function, warm the caches
        predict(model, image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(model, image)
        times.append(time.perf_counter() - start)
    return times


def run(presets: list[str] | None = None, repeats: int | None = None) -> list[dict]:
    """Time ``predict`` on one 512 px image for each preset; one row per preset."""
    import numpy as np

    from seglib.model.deeplab import build_model

    tf, keras = import_tf()
    image = np.random.default_rng(0).integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    measured: dict = {}
    rows = []
    for name in presets or preset_names():
        config = get_preset(name).model
        if config not in measured:
            start = time.perf_counter()
            model = build_model(config)
            build_seconds = time.perf_counter() - start
            count = repeats or (10 if config.image_size <= 256 else 3)
            times = _measure(model, image, count)
            measured[config] = {"params": model.count_params(), "build_s": build_seconds, "times": times}
            del model
            keras.backend.clear_session()
        result = measured[config]
        median = statistics.median(result["times"])
        rows.append({
            "benchmark": "inference_512px",
            "preset": name,
            "backbone": config.backbone + (f" x{config.width:g}" if config.backbone == "mobilenetv2" else ""),
            "model_input": config.image_size,
            "params": result["params"],
            "median_s": round(median, 4),
            "min_s": round(min(result["times"]), 4),
            "repeats": len(result["times"]),
            "target_s": LECTURE_TARGET_SECONDS if name == "lecture" else None,
            "ok": (median <= LECTURE_TARGET_SECONDS) if name == "lecture" else None,
            "cpus": os.cpu_count(),
            "gpu": bool(tf.config.list_physical_devices("GPU")),
        })
    return rows


def print_table(rows: list[dict]) -> None:
    headers = ("preset", "backbone", "input", "params", "median s", "min s", "n", "target")
    lines = [(r["preset"], r["backbone"], str(r["model_input"]), f"{r['params']:,}", f"{r['median_s']:.3f}",
              f"{r['min_s']:.3f}", str(r["repeats"]),
              "-" if r["target_s"] is None else f"<= {r['target_s']} {'ok' if r['ok'] else 'MISSED'}")
             for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for line in lines:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)))
    gpu = rows[0]["gpu"] if rows else False
    print(f"(one {IMAGE_SIZE} px image per call; {rows[0]['cpus'] if rows else '?'} CPUs"
          f"{', GPU' if gpu else ', no GPU'})")


if __name__ == "__main__":
    print_table(run(sys.argv[1:] or None))
