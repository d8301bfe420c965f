"""What one mask holds: pixels per class, the connected regions of each class, and people's heights.

This is the per-mask work of ``seglib.data.stats.dataset_stats``; it runs in
child processes (``seglib.data.processes.run_isolated``), so it imports
neither pandas nor TensorFlow. Regions come from
``cv2.connectedComponentsWithStats``, never on an empty crop (OpenCV crashes on one).
"""

from __future__ import annotations

import cv2
import numpy as np

from seglib.classes import IGNORE_LABEL
from seglib.data.images import decode_file
from seglib.data.masks import read_mask
from seglib.data.processes import mark_reading
from seglib.errors import ImageReadError


def count_fractions(counts) -> np.ndarray:
    """Pixel counts as fractions of their total, float64; zeros when there is no pixel."""
    counts = np.asarray(counts)
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def label_counts(mask: np.ndarray) -> np.ndarray:
    """Pixels of each value 0..255 of a uint8 mask, int64 (256,), exact for any size."""
    if mask.size < 1 << 24:  # float32 histogram counts are exact below 2**24 pixels, and 3x faster
        return cv2.calcHist([np.ascontiguousarray(mask)], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    return np.bincount(mask.ravel(), minlength=256).astype(np.int64)


def _regions(binary: np.ndarray) -> np.ndarray:
    """(K, 3) area, height, width of the 8-connected regions of a 0/1 uint8 image.

    Labels only the bounding box of the ones (most parts are small, and this is
    ~100x faster than labelling the whole frame). No ones, no call: OpenCV's
    labelling crashes the process (a segmentation fault) on an empty crop.
    """
    x0, y0, box_w, box_h = cv2.boundingRect(binary)
    if box_w < 1 or box_h < 1:
        return np.zeros((0, 3), np.int32)
    crop = np.ascontiguousarray(binary[y0:y0 + box_h, x0:x0 + box_w])
    found, _, region_stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8, ltype=cv2.CV_32S)
    if found <= 1:
        return np.zeros((0, 3), np.int32)
    chosen = region_stats[1:found]
    return np.column_stack([chosen[:, cv2.CC_STAT_AREA], chosen[:, cv2.CC_STAT_HEIGHT],
                            chosen[:, cv2.CC_STAT_WIDTH]]).astype(np.int32)


def read_humans(path: str, shape: tuple[int, int], size: int | None) -> np.ndarray | None:
    """A person-id map matching the (resized) mask, or None when it is unusable."""
    try:
        humans = decode_file(path)  # the size check of the image reader: no huge decode
    except ImageReadError:
        return None
    if humans.ndim == 3:
        humans = humans[..., 0]
    if humans.dtype not in (np.uint8, np.uint16):
        return None
    humans = np.ascontiguousarray(humans)
    if size:
        humans = cv2.resize(humans, (size, size), interpolation=cv2.INTER_NEAREST)
    return humans if humans.shape == shape else None


def image_stats(mask_path: str, human_path: str | None, size: int | None, num_classes: int):
    """Counts, regions and person heights of one mask; the reader's message when it cannot be used.

    Returns ``(class counts (C,), ignored pixels, (height, width), regions (K, 4) of class id, area,
    height, width, person heights, 'human_ids' or 'components')``.
    """
    try:
        mask = read_mask(mask_path, num_classes)
    except ImageReadError as error:
        return str(error)
    if size:
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    counts = label_counts(mask)
    regions = []
    for class_id in np.flatnonzero(counts[1:num_classes]) + 1:
        found = _regions((mask == class_id).view(np.uint8))
        if len(found):
            regions.append(np.column_stack([np.full(len(found), class_id, np.int32), found]))
    heights, source = [], "human_ids"
    humans = read_humans(human_path, mask.shape, size) if human_path else None
    if humans is not None:
        present = np.flatnonzero(np.bincount(humans.ravel()))
        for person in present[present > 0]:
            heights.append(cv2.boundingRect((humans == person).view(np.uint8))[3])
    else:
        source = "components"
        foreground = ((mask > 0) & (mask != IGNORE_LABEL)).view(np.uint8)
        heights = [int(h) for area, h, _w in _regions(foreground) if area >= 4]
    regions = np.concatenate(regions).astype(np.int32) if regions else np.zeros((0, 4), np.int32)
    return (counts[:num_classes], int(counts[IGNORE_LABEL]), mask.shape[:2], regions,
            np.asarray(heights, np.int32), source)


def count_chunk(task) -> list[tuple[int, object]]:
    """``(index, image_stats(...))`` of each mask of one chunk of ``dataset_stats``'s work.

    ``task`` is ``(indices, mask paths, person-id paths, size, num_classes, trail)``;
    each mask is marked before it is read (``mark_reading``), for ``run_isolated``.
    """
    indices, masks, humans, size, num_classes, trail = task
    # One OpenCV thread per process: the processes already fill the cores, and
    # OpenCV's own threads only add overhead on these small labelling jobs.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        results = []
        for index, mask, human in zip(indices, masks, humans):
            mark_reading(trail, index)
            results.append((index, image_stats(mask, human, size, num_classes)))
        mark_reading(trail, None)
        return results
    finally:
        cv2.setNumThreads(threads)
