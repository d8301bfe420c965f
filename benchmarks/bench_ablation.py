"""The ablation of one image (Why this pixel, Predictions page): every part switched off, cold and cached.

What a student waits for when the Predictions page opens an image: the demo model (the lecture
preset, 160 px input) with each ASPP branch, image pooling and the low-level skip switched off in
turn (``seglib.analysis.ablation.ablate_image``: one model call for all variants, then each
variant's mask at the image's size and its mean IoU), through the page's own cache
(``ui.why_pixel.image_ablation``).

* cold: the first image after the model is loaded: the model split into encoder and head and
  compiled, then the image (what the first viewer of a fresh server waits for);
* another image: a new image once compiled (each image after the first); the model call alone
  in the note;
* cached: the same image again (every later viewer and every click): the cache hit and the
  clicked pixel's table.

    python benchmarks/bench_ablation.py               # 5 images
    python benchmarks/bench_ablation.py --images 3

The images are the first validation images of the machine's synthetic dataset (512 px), or
random 512 px pictures when it is missing. ``run()`` returns the rows for
``benchmarks/run_all.py``, each with the CPU model and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from machine import describe, load_average  # benchmarks/ is on the path (script or run_all)

#: Seconds a new image's whole table may take on 2 CPU cores once the model is compiled, and a
#: click on a cached image.
TARGET_IMAGE_S = 1.0
TARGET_CACHED_S = 0.05
IMAGE_SIZE = 512


def _images(count: int):
    """``(image, truth)`` pairs: the synthetic validation split's first images, else random ones."""
    import numpy as np

    from seglib import settings
    from seglib.data.dataset import load_pair, open_dataset
    from seglib.errors import SeglibError

    try:
        pairs = open_dataset(settings.default_dataset_dir()).split("val")
        if len(pairs) >= count:
            return [load_pair(pair) for pair in pairs[:count]], "synthetic val"
    except (SeglibError, OSError):
        pass
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8),
             rng.integers(0, 20, (IMAGE_SIZE, IMAGE_SIZE)).astype(np.uint8)) for _ in range(count)], "random"


def run(images: int = 5) -> list[dict]:
    """Cold, another-image and cached seconds of one image's ablation with the demo model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from seglib.model.saving import load_model
    from seglib.training import demo
    from ui import why_pixel

    load = load_average()
    started = time.perf_counter()
    model = load_model(demo.demo_model_path())
    load_s = time.perf_counter() - started
    samples, source = _images(max(2, int(images)))
    model_key = ("demo", "bench")

    def timed(index: int):
        image, truth = samples[index]
        start, cpu = time.perf_counter(), time.process_time()
        result = why_pixel.image_ablation(model, model_key, ("bench", index), image, truth, truth.shape)
        table = result.pixel_table(truth.shape[0] // 2, truth.shape[1] // 2)
        return time.perf_counter() - start, result, table, time.process_time() - cpu

    cold, first, table, _ = timed(0)
    others = [timed(index) for index in range(1, len(samples))]
    cached = [timed(index)[0] for index in range(len(samples)) for _ in range(3)]
    another = statistics.median(seconds for seconds, _, _, _ in others)
    another_cpu = statistics.median(cpu for _, _, _, cpu in others)
    model_call = statistics.median(result.seconds for _, result, _, _ in others)
    size = f"{samples[0][0].shape[1]} × {samples[0][0].shape[0]} px {source} images"
    note = (f"demo model (lecture preset, 160 px input), {len(first.parts)} variants in one call; {size}; "
            f"model load {load_s:.1f} s (not counted); {describe()}")
    return [
        {"benchmark": "ablation of one image, cold (split + compile + table)", "value": round(cold, 3), "unit": "s",
         "preset": "lecture", "target": None, "ok": None, "load_1min": load, "note": note},
        {"benchmark": "ablation of one image, another image (table)", "value": round(another, 3), "unit": "s",
         "preset": "lecture", "target": f"<= {TARGET_IMAGE_S:g}", "ok": another <= TARGET_IMAGE_S,
         "load_1min": load, "note": f"median of {len(others)} images, {another_cpu:.2f} CPU s (this process, "
                                    f"all threads); the model call alone {model_call * 1000:.0f} ms (median), the "
                                    f"rest is {len(first.parts)} masks at the image's size and their IoU"},
        {"benchmark": "ablation of one image, cached (cache hit + the pixel's row)", "value": round(
            statistics.median(cached), 4), "unit": "s", "preset": "lecture", "target": f"<= {TARGET_CACHED_S:g}",
         "ok": statistics.median(cached) <= TARGET_CACHED_S, "load_1min": load_average(),
         "note": f"median of {len(cached)}; the pixel's table has {len(table)} rows"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5, help="images timed (the first one cold)")
    args = parser.parse_args()
    for row in run(args.images):
        target = f"  (target {row['target']}: {'ok' if row['ok'] else 'MISSED'})" if row["target"] else ""
        print(f"{row['benchmark']}: {row['value']} {row['unit']}{target}\n    {row['note']}")
    print(f"{describe()}; load {load_average('all')}")


if __name__ == "__main__":
    main()
