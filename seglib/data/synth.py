"""A seeded "crowd of people" dataset in the CIHP layout, drawn with OpenCV.

No download is possible or needed: this module paints people built from the 20
CIHP body-part classes onto cluttered backgrounds and writes the same folder
layout as the real Crowd Instance-level Human Parsing dataset, so one loader
(and the Keras example's own loading code) reads both::

    <out>/Training/Images/0000000.jpg        RGB picture (JPEG)
    <out>/Training/Category_ids/0000000.png  one uint8 class id per pixel (0..19)
    <out>/Training/Human_ids/0000000.png     one uint8 person id per pixel (0 = none)
    <out>/Validation/...                     the same for the validation split
    <out>/train_id.txt, val_id.txt           the stems, one per line
    <out>/human_colormap.mat                 the CIHP palette (floats in [0, 1])
    <out>/synth.json                         the parameters (marks the folder as ours: synthetic)
    <out>/.complete                          written last: the folder is finished

Why it looks the way it does (each point is something the lab asks about):

- People face the camera, so the person's *left* arm, leg and shoe are on the
  image's *right*. A horizontal flip must swap these labels.
- Heights vary about 25x over the dataset (a perspective scene: feet lower in
  the frame means nearer and bigger), from tiny far-away figures to near ones
  cut by the frame; near people are drawn last, so occlusion is correct.
- Clothing colours are drawn independently of the class (pants may be any
  colour), shaded and sometimes striped, so class is not a colour lookup.
- Background is the largest class; sunglasses, gloves and socks are rare and
  small (each well under 1% of the pixels): real class imbalance.

Every image is drawn from its own random stream ``(seed, split, index)``, so
the output does not depend on the number of worker processes. One person is
drawn by ``seglib.data.synth_person``.

>>> from seglib.data.synth import render_sample
>>> image, mask, people = render_sample(size=64, seed=0, split="train", index=0)
>>> image.shape, mask.shape, mask.dtype.name
((64, 64, 3), (64, 64), 'uint8')
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from seglib.classes import CIHP_PALETTE
from seglib.data.layout import CIHP_SPLITS, SYNTH_MARKER, SYNTH_PARAMS_FILE
from seglib.data.processes import available_cpus
from seglib.data.synth_person import Painter, draw_person, random_color
from seglib.errors import DatasetError
from seglib.io import atomic_write_json, atomic_write_text

#: Version of the drawing code; a folder written by another version is regenerated.
GENERATOR_VERSION = 1
#: What ``synth.json`` names as its generator: the marker of a folder this module wrote
#: (``seglib.data.synthetic.is_synthetic`` reads it; the pages say the data is synthetic from it).
GENERATOR_ID = "seglib.synth"

#: Folder names of the CIHP layout (the splits: ``seglib.data.layout.CIHP_SPLITS``).
IMAGES, CATEGORIES, HUMANS = "Images", "Category_ids", "Human_ids"
ID_LISTS = {"train": "train_id.txt", "val": "val_id.txt"}
MARKER = SYNTH_MARKER
PARAMS_FILE = SYNTH_PARAMS_FILE
PEOPLE_FILE = "people.json"

_SPLIT_CODES = {"train": 0, "val": 1}

#: People per image (smallest, largest), and their heights from crown to soles as a fraction
#: of the image side (smallest, largest; drawn log-uniformly, so a person can be cut by the frame).
PEOPLE_PER_IMAGE = (2, 8)
PERSON_HEIGHT = (0.06, 1.5)


# ---------------------------------------------------------------------------
# a scene: background, people far to near, foreground clutter, noise
# ---------------------------------------------------------------------------

_NOISE_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _noise_tiles(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative sensor-noise tiles (uint8), made once per process and size."""
    if size not in _NOISE_CACHE:
        rng = np.random.default_rng(12345)
        noise = rng.normal(0, 5.0, (2 * size, 2 * size, 3))
        _NOISE_CACHE[size] = (np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8))
    return _NOISE_CACHE[size]


def _background(rng: np.random.Generator, size: int, horizon: float) -> np.ndarray:
    """Wall above the horizon, floor below, both smooth gradients, then clutter."""
    split = int(horizon * size)
    image = cv2.resize(rng.uniform(40, 230, (3, 3, 3)).astype(np.uint8), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    floor = cv2.resize(rng.uniform(30, 200, (2, 3, 3)).astype(np.uint8), (size, size - split),
                       interpolation=cv2.INTER_LINEAR) if split < size else None
    if floor is not None:
        image[split:] = floor
    # clutter: windows, posters, lamps, poles, plants; colours as random as the clothes
    for _ in range(rng.integers(6, 22)):
        kind = rng.random()
        color = random_color(rng)
        x, y = rng.uniform(-0.1, 1.1) * size, rng.uniform(-0.1, 1.0) * size
        scale = size * rng.uniform(0.03, 0.3)
        if kind < 0.35:
            w, hh = scale * rng.uniform(0.5, 1.5), scale * rng.uniform(0.5, 1.5)
            filled = -1 if rng.random() < 0.7 else max(1, int(size / 128))
            cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + hh)), color, filled)
        elif kind < 0.6:
            cv2.circle(image, (int(x), int(y)), int(scale / 2), color, -1)
        elif kind < 0.8:
            x2, y2 = x + rng.normal(0, scale), y + rng.normal(0, scale * 2)
            cv2.line(image, (int(x), int(y)), (int(x2), int(y2)), color, max(1, int(scale * 0.08)))
        else:
            pts = np.array([[x + rng.normal(0, scale), y + rng.normal(0, scale)] for _ in range(3)], np.int32)
            cv2.fillPoly(image, [pts], color)
    return image


def render_sample(size: int, seed: int, split: str = "train", index: int = 0):
    """Draw one synthetic sample.

    Returns ``(image, mask, people)``: RGB uint8 (S, S, 3), class ids uint8
    (S, S), person ids uint8 (S, S) (0 = background, 1.. = person, far to near).
    Deterministic in ``(size, seed, split, index)``.
    """
    size = _check_positive_int("size", size, minimum=16)
    rng = np.random.default_rng([int(seed), _SPLIT_CODES.get(split, 2), int(index)])
    horizon = rng.uniform(0.22, 0.45)
    image = _background(rng, size, horizon)
    labels = np.zeros((size, size, 2), np.uint8)
    paint = Painter(image, labels)

    # People: heights log-uniform from ~6% to ~150% of the frame; in a perspective
    # scene the feet of bigger people are lower, and nearer people are drawn last.
    count = int(rng.integers(PEOPLE_PER_IMAGE[0], PEOPLE_PER_IMAGE[1] + 1))
    k = rng.uniform(0.9, 1.5)   # height per pixel of distance below the horizon
    people = []
    for _ in range(count):
        height = size * math.exp(rng.uniform(math.log(PERSON_HEIGHT[0]), math.log(PERSON_HEIGHT[1])))
        feet = horizon * size + height / k
        cx = rng.uniform(-0.05, 1.05) * size
        people.append((feet, cx, height))
    people.sort()
    for number, (feet, cx, height) in enumerate(people, start=1):
        paint.person = number
        draw_person(paint, rng, cx, feet - height, height)

    # A little foreground clutter in front of people now and then (a pole, a railing).
    if rng.random() < 0.2:
        x = rng.uniform(0, size)
        width = max(2, int(size * rng.uniform(0.01, 0.03)))
        color = random_color(rng)
        end = (int(x + rng.normal(0, size * 0.05)), size)
        cv2.line(image, (int(x), 0), end, color, width)
        cv2.line(labels, (int(x), 0), end, (0, 0), width)

    # Camera: a slight blur and sensor noise so edges and colours are not clean.
    if size >= 96:
        image = cv2.GaussianBlur(image, (3, 3), 0.7)
    positive, negative = _noise_tiles(size)
    oy, ox = rng.integers(0, size, 2)
    image = cv2.subtract(cv2.add(image, positive[oy:oy + size, ox:ox + size]),
                         negative[ox:ox + size, oy:oy + size])
    mask = np.ascontiguousarray(labels[..., 0])
    humans = np.ascontiguousarray(labels[..., 1])
    return image, mask, humans


# ---------------------------------------------------------------------------
# writing a dataset
# ---------------------------------------------------------------------------

def _stems(split: str, count: int, offset: int) -> list[str]:
    return [f"{offset + i:07d}" for i in range(count)]


def _write_chunk(task: tuple) -> list[dict]:
    """Worker: render and write samples ``indices`` of one split; return person boxes."""
    out, split, size, seed, indices, offset = task
    # One OpenCV thread: worker processes already fill the cores, and on busy
    # machines OpenCV's thread pool made blur and encoding several times slower.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _write_samples(out, split, size, seed, indices, offset)
    finally:
        cv2.setNumThreads(threads)


def _write_samples(out, split, size, seed, indices, offset) -> list[dict]:
    folder = Path(out) / CIHP_SPLITS[split]
    boxes = []
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 90]
    # Label maps are long runs of one value: run-length zlib without filters is
    # both the fastest and the smallest (0.3 ms and ~6 kB for a 512 px mask).
    png = [cv2.IMWRITE_PNG_COMPRESSION, 3, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
           cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE]
    for index in indices:
        image, mask, humans = render_sample(size, seed, split, index)
        stem = f"{offset + index:07d}"
        cv2.imwrite(str(folder / IMAGES / f"{stem}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), jpeg)
        cv2.imwrite(str(folder / CATEGORIES / f"{stem}.png"), mask, png)
        cv2.imwrite(str(folder / HUMANS / f"{stem}.png"), humans, png)
        boxes.append({"stem": stem, "people": _person_boxes(humans)})
    return boxes


def _person_boxes(humans: np.ndarray) -> list[list[int]]:
    """Visible bounding box ``[x0, y0, x1, y1]`` (inclusive) of each person id."""
    result = []
    present = np.flatnonzero(cv2.calcHist([humans], [0], None, [256], [0, 256]).ravel())
    for pid in present[present > 0]:
        x, y, w, h = cv2.boundingRect((humans == pid).view(np.uint8))
        result.append([int(pid), x, y, x + w - 1, y + h - 1])
    return result


def _is_ours(out: Path) -> bool:
    params = out / PARAMS_FILE
    if not params.is_file():
        return False
    try:
        return json.loads(params.read_text(encoding="utf-8")).get("generator") == GENERATOR_ID
    except (OSError, ValueError):
        return False


def generate_dataset(out: str | os.PathLike, train: int, val: int, size: int, seed: int = 0,
                     workers: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> dict:
    """Write a synthetic dataset in the CIHP layout to ``out`` and return its parameters.

    Args:
        out: target folder. It must be missing, empty, or an earlier output of
            this generator (recognised by ``synth.json``); anything else is
            refused, so user data is never overwritten.
        train, val: number of image/mask pairs per split (``val`` may be 0).
        size: side of the square images in pixels.
        seed: the same seed always gives the same files.
        workers: processes drawing in parallel (default: the available CPU cores;
            small datasets are drawn in this process).
        progress: called as ``progress(done, total)`` after each chunk.

    A finished folder with the same parameters is left as it is (``skipped``
    is True in the result). ``.complete`` is written last: a folder without it
    (an interrupted run) is deleted and drawn again.
    """
    train = _check_positive_int("train", train, minimum=1)
    val = _check_positive_int("val", val, minimum=0)
    size = _check_positive_int("size", size, minimum=16, maximum=4096)
    seed = _check_positive_int("seed", seed, minimum=0)
    out = Path(out).expanduser()
    params = {"generator": GENERATOR_ID, "version": GENERATOR_VERSION, "train": train, "val": val,
              "size": size, "seed": seed}

    if out.exists() and not out.is_dir():
        raise DatasetError(f"Cannot write the synthetic dataset to {out.name}: it is a file, not a folder. "
                           "Choose another --out folder.")
    if out.is_dir() and any(out.iterdir()):
        if not _is_ours(out):
            raise DatasetError(
                f"The folder {out.name} is not empty and was not written by the synthetic generator; "
                "refusing to overwrite it. Choose an empty or new --out folder.")
        previous = json.loads((out / PARAMS_FILE).read_text(encoding="utf-8"))
        same = all(previous.get(k) == v for k, v in params.items())
        if same and (out / MARKER).is_file():
            return {**previous, "out": str(out), "skipped": True, "seconds": 0.0}
        for name in [*CIHP_SPLITS.values(), *ID_LISTS.values(), "human_colormap.mat", PEOPLE_FILE, MARKER]:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / PARAMS_FILE, params)  # first: marks the folder as ours
    for split, count in (("train", train), ("val", val)):
        if count == 0:
            continue
        for sub in (IMAGES, CATEGORIES, HUMANS):
            (out / CIHP_SPLITS[split] / sub).mkdir(parents=True, exist_ok=True)
    offsets = {"train": 0, "val": train}
    tasks = []
    chunk = max(1, min(64, (train + val) // (4 * max(1, workers or available_cpus())) or 1))
    for split, count in (("train", train), ("val", val)):
        for start in range(0, count, chunk):
            tasks.append((str(out), split, size, seed, range(start, min(count, start + chunk)), offsets[split]))

    workers = _check_positive_int("workers", workers if workers is not None else available_cpus(), minimum=1)
    total = train + val
    done = 0
    people: dict[str, dict] = {"train": {}, "val": {}}
    if workers == 1 or total < 64:
        results = (_write_chunk(task) for task in tasks)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn"))
        results = pool.map(_write_chunk, tasks)
    try:
        for task, boxes in zip(tasks, results):
            for entry in boxes:
                people[task[1]][entry["stem"]] = entry["people"]
            done += len(task[4])
            if progress is not None:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    from scipy.io import savemat

    savemat(str(out / "human_colormap.mat"), {"colormap": CIHP_PALETTE.astype(np.float64) / 255.0})
    atomic_write_text(out / ID_LISTS["train"], "".join(f"{s}\n" for s in _stems("train", train, 0)))
    atomic_write_text(out / ID_LISTS["val"], "".join(f"{s}\n" for s in _stems("val", val, train)))
    atomic_write_json(out / PEOPLE_FILE, {"format": "person id, x0, y0, x1, y1 (inclusive, pixels)", **people})
    seconds = time.perf_counter() - started
    result = {**params, "seconds": round(seconds, 3), "pairs_per_second": round(total / max(seconds, 1e-9), 1)}
    atomic_write_json(out / MARKER, result)  # last: the folder is complete
    return {**result, "out": str(out), "skipped": False}


def _check_positive_int(name: str, value, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer. Received: {name}={value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        limits = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
        raise ValueError(f"{name} must be {limits}. Received: {name}={value}")
    return int(value)
