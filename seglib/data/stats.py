"""Dataset statistics: class imbalance (exercise 13-4) and object scales (exercise 13-2).

For one split of a dataset this counts

- the pixels of every class over all masks (int64: 1,000 masks of 512x512 are
  262 million pixels, past what float32 counts exactly),
- each image's class fractions (how much the imbalance varies between images),
- every connected region of every class (an "object": one shoe, one face) with
  its area and bounding-box height, summarised per class (count, p10, median,
  p90): the range of scales the encoder must handle,
- the height in pixels of every person (from ``Human_ids`` when the dataset has
  them, else from connected regions of the foreground).

The work on each mask is ``seglib.data.mask_stats``. It runs in child
processes (``seglib.data.processes.run_isolated``; several when there are many
masks), so that even a native crash on some file cannot take the caller (the
dashboard's server) down: it becomes a ``DatasetError`` naming the file. The
result is cached under ``settings.cache_dir()``, keyed by the dataset folder,
its files (names, sizes, modification times), the split and the size, so a page
opened by a whole class computes it once. ``count_class_pixels`` counts the
pixels per class of any pairs in this process (the weighted loss's class weights).

>>> stats = dataset_stats(open_dataset("data/synthetic"), split="train")  # doctest: +SKIP
>>> stats.fractions.argmax()                                              # doctest: +SKIP
0
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from seglib import settings
from seglib.classes import NUM_CLASSES, class_label
from seglib.data import mask_stats
from seglib.data.dataset import Dataset, open_dataset
from seglib.data.layout import relative_path
from seglib.data.masks import read_mask
from seglib.data.processes import available_cpus, run_isolated
from seglib.errors import DatasetError
from seglib.io import atomic_write

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported inside the methods that build tables, so importing this module stays light.

#: Bump when the computation changes, so old cache files are not reused.
#: 2: masks the reader refuses (not label ids) are skipped, with their reasons.
STATS_VERSION = 2
#: Below this many images the work stays in this process (a worker costs ~0.5 s to start).
PARALLEL_MINIMUM = 400
#: Columns of ``DatasetStats.objects``.
OBJECT_COLUMNS = ("image", "class_id", "area", "height", "width")


def height_spread(heights) -> dict[str, float]:
    """10th percentile, median, 90th percentile, smallest and largest of people's ``heights`` (px; not empty).

    >>> height_spread([10, 20, 30, 40, 50])["median"]
    30.0
    """
    values = np.asarray(heights, dtype=np.float64)
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {"p10": float(p10), "median": float(median), "p90": float(p90),
            "min": float(values.min()), "max": float(values.max())}


@dataclass
class DatasetStats:
    """Statistics of one split. Arrays are the truth; DataFrames are views of them."""

    dataset: str
    split: str
    size: int | None
    num_classes: int
    stems: list[str]
    #: (N, C) int64 pixels per class per image.
    image_counts: np.ndarray
    #: (N, 2) int32 height and width of each analysed mask.
    image_shapes: np.ndarray
    #: int64 pixels per image that carry the ignore label (bad mask values).
    image_ignored: np.ndarray
    #: (M, 5) int32 rows of OBJECT_COLUMNS: one per connected region of a class.
    object_rows: np.ndarray
    #: Heights in pixels of every person (visible extent).
    person_heights: np.ndarray
    person_source: str = "human_ids"
    skipped: list[str] = field(default_factory=list)
    #: Why each skipped mask was skipped (the reader's message), in the order of ``skipped``.
    skipped_reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    from_cache: bool = False

    # -- class imbalance -------------------------------------------------------
    @property
    def num_images(self) -> int:
        return len(self.stems)

    @property
    def class_counts(self) -> np.ndarray:
        """Pixels per class over the split, int64 (C,)."""
        return self.image_counts.sum(axis=0, dtype=np.int64)

    @property
    def total_pixels(self) -> int:
        """Labelled pixels (the ignore label excluded)."""
        return int(self.class_counts.sum())

    @property
    def fractions(self) -> np.ndarray:
        """Share of each class among labelled pixels, float64 (C,), sums to 1."""
        return mask_stats.count_fractions(self.class_counts)

    @property
    def ignored_pixels(self) -> int:
        """Pixels that carry the ignore label (mask values the classes do not know)."""
        return int(self.image_ignored.sum())

    @property
    def class_names(self) -> list[str]:
        return [class_label(i) for i in range(self.num_classes)]

    def class_table(self) -> pd.DataFrame:
        """One row per class: id, name, pixels, fraction, images it appears in."""
        import pandas as pd

        return pd.DataFrame({
            "id": np.arange(self.num_classes), "name": self.class_names, "pixels": self.class_counts,
            "fraction": self.fractions, "images": (self.image_counts > 0).sum(axis=0),
        })

    @property
    def per_image(self) -> pd.DataFrame:
        """Class fractions of each image: one row per image, one column per class name."""
        import pandas as pd

        totals = self.image_counts.sum(axis=1, keepdims=True)
        fractions = np.divide(self.image_counts, totals, out=np.zeros(self.image_counts.shape),
                              where=totals > 0)
        table = pd.DataFrame(fractions, columns=self.class_names)
        table.insert(0, "image", self.stems)
        return table

    # -- scales ----------------------------------------------------------------
    @property
    def objects(self) -> pd.DataFrame:
        """Every connected region of every class (background excluded)."""
        import pandas as pd

        rows = self.object_rows.reshape(-1, len(OBJECT_COLUMNS))
        table = pd.DataFrame(rows, columns=list(OBJECT_COLUMNS))
        table.insert(2, "class_name", [class_label(i) for i in table["class_id"]])
        areas = self.image_shapes[table["image"].to_numpy(), 0] * self.image_shapes[table["image"].to_numpy(), 1] \
            if len(table) else np.zeros(0)
        table["image_fraction"] = table["area"] / np.maximum(areas, 1)
        table["image"] = [self.stems[i] for i in table["image"]] if len(table) else []
        return table

    @property
    def object_summary(self) -> pd.DataFrame:
        """Per class: number of regions, p10/median/p90 of area and of bounding-box height."""
        import pandas as pd

        rows = self.object_rows.reshape(-1, len(OBJECT_COLUMNS))
        records = []
        for class_id in range(1, self.num_classes):
            chosen = rows[rows[:, 1] == class_id]
            record = {"id": class_id, "name": class_label(class_id), "count": int(len(chosen))}
            for column, index in (("area", 2), ("height", 3)):
                values = chosen[:, index]
                p10, median, p90 = (np.percentile(values, [10, 50, 90]) if len(values) else (np.nan,) * 3)
                record.update({f"p10_{column}": float(p10), f"median_{column}": float(median),
                               f"p90_{column}": float(p90)})
            records.append(record)
        return pd.DataFrame.from_records(records)

    def person_summary(self) -> dict:
        heights = self.person_heights
        if len(heights) == 0:
            return {"count": 0, "source": self.person_source}
        spread = height_spread(heights)
        return {"count": int(len(heights)), "min": int(spread["min"]), "p10": spread["p10"],
                "median": spread["median"], "p90": spread["p90"], "max": int(spread["max"]),
                "max_over_min": float(heights.max() / max(int(heights.min()), 1)), "source": self.person_source}

    # -- output ----------------------------------------------------------------
    def to_json(self) -> dict:
        """Class fractions and size statistics as plain JSON types (``data stats --json``)."""
        summary = self.object_summary.replace({np.nan: None})
        return {
            "dataset": self.dataset, "split": self.split, "size": self.size, "images": self.num_images,
            "total_pixels": self.total_pixels, "ignored_pixels": self.ignored_pixels,
            "classes": [{"id": int(r.id), "name": r.name, "pixels": int(r.pixels), "fraction": float(r.fraction),
                         "images": int(r.images)} for r in self.class_table().itertuples()],
            "objects": summary.to_dict(orient="records"),
            "person_heights": self.person_summary(),
            "skipped": self.skipped, "skipped_reasons": self.skipped_reasons,
            "seconds": round(self.seconds, 3), "from_cache": self.from_cache,
        }

    def format(self) -> str:
        """A plain-text table for the terminal."""
        lines = [f"{self.dataset} / {self.split}: {self.num_images} masks, {self.total_pixels:,} labelled pixels"
                 + (f" (resized to {self.size} px)" if self.size else "")]
        if self.ignored_pixels:
            lines.append(f"ignored pixels (labels >= {self.num_classes}): {self.ignored_pixels:,}")
        lines.append(f"\n{'id':>3} {'class':<14} {'fraction':>9} {'regions':>8} {'median area':>12} "
                     f"{'median h':>9} {'p10-p90 h':>12}")
        summary = self.object_summary.set_index("id")
        for row in self.class_table().itertuples():
            if row.id in summary.index:
                s = summary.loc[row.id]
                extra = (f"{int(s['count']):>8} {s['median_area']:>12.0f} {s['median_height']:>9.0f} "
                         f"{s['p10_height']:>5.0f}-{s['p90_height']:<6.0f}") if s["count"] else f"{0:>8}"
            else:
                extra = ""
            lines.append(f"{row.id:>3} {row.name:<14} {row.fraction:>8.2%} {extra}")
        people = self.person_summary()
        if people["count"]:
            lines.append(f"\npeople: {people['count']}, heights {people['min']}-{people['max']} px "
                         f"(median {people['median']:.0f}; from {people['source'].replace('_', ' ')})")
        if self.skipped:
            lines.append(f"\nskipped {len(self.skipped)} masks (unreadable or refused; "
                         "`python -m seglib data check` lists them all):")
            reasons = self.skipped_reasons or self.skipped
            lines.extend(f"  - {reason}" for reason in reasons[:5])
            if len(reasons) > 5:
                lines.append(f"  ... and {len(reasons) - 5} more")
        lines.append(f"\n{'cached' if self.from_cache else 'computed'} in {self.seconds:.2f} s")
        return "\n".join(lines)




# ---------------------------------------------------------------------------
# the public function
# ---------------------------------------------------------------------------

def _cache_key(dataset: Dataset, split: str, size: int | None, num_classes: int, pairs) -> str:
    digest = hashlib.sha1()
    digest.update(json.dumps([STATS_VERSION, str(dataset.root), dataset.fingerprint, split, size,
                              num_classes]).encode())
    for pair in pairs:
        digest.update(f"{pair.stem}\0".encode())
        if not dataset.fingerprint:  # a Dataset built by hand: look at the files themselves
            for path in (pair.mask, pair.human):
                if path is not None:
                    with contextlib.suppress(OSError):
                        info = os.stat(path)
                        digest.update(f"{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def cache_path(key: str) -> Path:
    return settings.cache_dir() / "stats" / f"{key}.npz"


def dataset_stats(dataset: Dataset | str | os.PathLike, split: str = "train", size: int | None = None, *,
                  num_classes: int = NUM_CLASSES, workers: int | None = None,
                  use_cache: bool = True, isolate: bool = True) -> DatasetStats:
    """Class pixel counts, per-image fractions, object sizes and person heights of one split.

    Args:
        dataset: a ``Dataset`` from ``open_dataset`` (or a folder path).
        split: 'train' or 'val'.
        size: resize masks (nearest neighbour) to ``size`` x ``size`` first, to
            see the data at the resolution the model is trained on; None keeps
            each mask's own size.
        workers: processes (default: all cores, for 400 masks or more).
        use_cache: read and write the on-disk cache.
        isolate: count in child processes even when there are few masks, so
            that a native crash cannot take this process down (it raises
            ``DatasetError`` naming the file instead). False counts small
            splits in this process (faster; for tests and scripts).

    Masks the reader refuses (unreadable, or not label ids) are skipped and
    listed in ``skipped`` with their reasons in ``skipped_reasons``.
    """
    if not isinstance(dataset, Dataset):
        dataset = open_dataset(dataset, num_classes=num_classes)
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"size must be a positive integer or None. Received: size={size!r}")
    size = int(size) if size is not None else None
    pairs = dataset.split(split)
    split = "val" if split.lower().startswith("val") else "train"
    if not pairs:
        raise DatasetError(f"The {split} split of {dataset.name!r} holds no image/mask pairs; "
                           "choose another split or dataset.")
    key = _cache_key(dataset, split, size, num_classes, pairs)
    if use_cache:
        cached = _load(cache_path(key))
        if cached is not None:
            return cached

    started = time.perf_counter()
    masks = [str(p.mask) for p in pairs]
    humans = [str(p.human) if p.human is not None else None for p in pairs]
    workers = max(1, int(workers or available_cpus()))
    chunk = max(1, min(32, -(-len(pairs) // (4 * workers))))  # a few chunks per worker, at most 32 masks
    tasks = [(list(range(i, min(i + chunk, len(pairs)))), masks[i:i + chunk], humans[i:i + chunk], size,
              num_classes, None) for i in range(0, len(pairs), chunk)]
    workers = max(1, min(workers if len(pairs) >= PARALLEL_MINIMUM else 1, len(tasks)))
    if not isolate and workers <= 1:
        results = [item for task in tasks for item in mask_stats.count_chunk(task)]
    else:  # a native crash in a child becomes a DatasetError naming the mask
        results = run_isolated(mask_stats.count_chunk, tasks, workers,
                               describe=lambda index: relative_path(pairs[index].mask, dataset.root),
                               doing=f"Computing the statistics of the {split} split of {dataset.name!r}")

    count = len(pairs)
    image_counts = np.zeros((count, num_classes), np.int64)
    image_shapes = np.zeros((count, 2), np.int32)
    image_ignored = np.zeros(count, np.int64)
    objects, heights, skipped, reasons, ok = [], [], [], [], np.zeros(count, bool)
    sources = set()
    for index, result in results:
        if result is None or isinstance(result, str):
            skipped.append(pairs[index].stem)
            reasons.append(result or f"{pairs[index].mask.name} cannot be read.")
            continue
        counts, ignored, shape, regions, person_heights, source = result
        ok[index] = True
        image_counts[index], image_ignored[index], image_shapes[index] = counts, ignored, shape
        if len(regions):
            objects.append(np.column_stack([np.full(len(regions), index, np.int32), regions]))
        heights.append(person_heights)
        sources.add(source)
    # drop unreadable masks, renumbering image indices of the object rows
    new_index = np.cumsum(ok) - 1
    object_rows = np.concatenate(objects) if objects else np.zeros((0, 5), np.int32)
    object_rows[:, 0] = new_index[object_rows[:, 0]]
    stats = DatasetStats(
        dataset=dataset.name, split=split, size=size, num_classes=num_classes,
        stems=[p.stem for p, good in zip(pairs, ok) if good],
        image_counts=image_counts[ok], image_shapes=image_shapes[ok], image_ignored=image_ignored[ok],
        object_rows=object_rows.astype(np.int32), person_heights=np.concatenate(heights or [np.zeros(0, np.int32)]),
        person_source="human_ids" if sources == {"human_ids"} else ("components" if sources else "human_ids"),
        skipped=skipped, skipped_reasons=reasons, seconds=time.perf_counter() - started,
    )
    if stats.num_images == 0:
        first = f" The first: {reasons[0]}" if reasons else ""
        raise DatasetError(f"None of the {count} masks of the {split} split of {dataset.name!r} could be used "
                           f"(unreadable, or not label ids).{first} Run `python -m seglib data check` on the "
                           "folder for the full list.")
    if use_cache:
        _save(cache_path(key), stats)
    return stats


def count_class_pixels(pairs, num_classes: int = NUM_CLASSES, size: int | None = None) -> np.ndarray:
    """Labelled pixels per class over the masks of ``pairs``, int64 (C,); the ignore label is left out.

    ``size``: each mask is first resized (nearest neighbour) to ``size`` x ``size``,
    as the model sees it. Counted in this process (no cache); raises
    ``ImageReadError`` naming a mask that cannot be read.
    """
    counts = np.zeros(num_classes, np.int64)
    for pair in pairs:
        mask = read_mask(pair.mask, num_classes)
        if size:
            mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
        counts += mask_stats.label_counts(mask)[:num_classes]
    return counts


def height_sentence(heights, image_height: float) -> str:
    """What people's ``heights`` (px; not empty) in images ``image_height`` px high say about scale: the
    middle 80 % of them, the factor between the 90th and the 10th percentile, and what a filter sized for
    a small person sees of a large one (a hand, about a tenth of a body, only from a factor of 8).

    >>> height_sentence([10, 10, 100, 100], 200).split(":")[0]
    'In images 200 pixels high, the middle 80% of the people are between **10** and **100** pixels tall'
    """
    spread = height_spread(heights)
    factor = spread["p90"] / max(spread["p10"], 1.0)
    sentence = (f"In images {image_height:.0f} pixels high, the middle 80% of the people are between "
                f"**{spread['p10']:.0f}** and **{spread['p90']:.0f}** pixels tall: a factor of **{factor:.1f}** in "
                "scale, before counting the partly hidden ones.")
    if factor >= 8:
        return sentence + " A filter that covers a whole small person covers only a hand of a large one."
    if factor >= 1.5:
        return sentence + (f" A filter that covers a whole small person covers about 1/{factor:.0f} of a large "
                           "one's height.")
    return sentence + " People come at about one scale here: a single filter size fits most of them."


def imbalance_sentence(fractions) -> str:
    """What a split's class shares (``DatasetStats.fractions``) say about imbalance: the background's share,
    how many times the rarest class's pixels the most frequent body part has, and the people's share."""
    fractions = np.asarray(fractions, dtype=np.float64)
    foreground = fractions[1:].sum()
    if not foreground > 0:
        return ("No mask of this split labels any body part: every labelled pixel is background, so there is "
                "no person for a model to learn.")
    rarest = int(np.argmin(np.where(fractions > 0, fractions, np.inf)))
    return (f"Background: {fractions[0]:.1%} of all pixels. The most frequent body part, "
            f"{class_label(int(np.argmax(fractions[1:])) + 1)}, has "
            f"{fractions[1:].max() / max(fractions[rarest], 1e-12):,.0f}× the pixels of the rarest class, "
            f"{class_label(rarest)}. People cover {foreground:.1%} of the pixels.")

# ---------------------------------------------------------------------------
# the cache: one .npz per (dataset files, split, size)
# ---------------------------------------------------------------------------

_ARRAYS = ("image_counts", "image_shapes", "image_ignored", "object_rows", "person_heights")


def _save(path: Path, stats: DatasetStats) -> None:
    meta = {"version": STATS_VERSION, "dataset": stats.dataset, "split": stats.split, "size": stats.size,
            "num_classes": stats.num_classes, "stems": stats.stems, "person_source": stats.person_source,
            "skipped": stats.skipped, "skipped_reasons": stats.skipped_reasons, "seconds": stats.seconds}

    def write(tmp: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                 **{name: getattr(stats, name) for name in _ARRAYS})
        tmp.write_bytes(buffer.getvalue())

    try:
        atomic_write(path, write)
    except OSError:  # a read-only cache folder only costs speed
        pass


def _load(path: Path) -> DatasetStats | None:
    if not path.is_file():
        return None
    started = time.perf_counter()
    try:
        with np.load(path, allow_pickle=False) as content:
            meta = json.loads(content["meta"].tobytes().decode())
            arrays = {name: content[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError):
        return None
    if meta.get("version") != STATS_VERSION:
        return None
    return DatasetStats(dataset=meta["dataset"], split=meta["split"], size=meta["size"],
                        num_classes=meta["num_classes"], stems=meta["stems"], person_source=meta["person_source"],
                        skipped=meta["skipped"], skipped_reasons=meta.get("skipped_reasons", []),
                        seconds=time.perf_counter() - started, from_cache=True, **arrays)
