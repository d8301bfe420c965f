"""Property-based: whatever a mask holds, statistics, the check and the loader
give a typed result (a value, or a SeglibError that names the file), never a
crash of the process and never an untyped exception (issue M, item 1).

Masks are generated: all background, all ignore, one pixel, 1 x N and N x 1,
every id, ids above 19, noise, colour masks of palette and other colours,
16-bit; some are written as JPEG bytes under a .png name.
Each example is a plain images/ + masks/ dataset of one ordinary pair and the
generated one, in a fresh temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seglib.classes import CIHP_PALETTE, IGNORE_LABEL, NUM_CLASSES
from seglib.data.dataset import CheckReport, check_dataset, load_pair, open_dataset
from seglib.data.masks import read_mask
from seglib.errors import DatasetError, ImageReadError
from seglib.data.stats import DatasetStats, dataset_stats

SIDE = st.integers(1, 24)
SHAPES = st.tuples(SIDE, SIDE)


def _filled(value: int):
    return SHAPES.map(lambda shape: np.full(shape, value, np.uint8))


@st.composite
def one_pixel(draw):
    """All background but one pixel (any value)."""
    height, width = draw(SHAPES)
    mask = np.zeros((height, width), np.uint8)
    mask[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = draw(st.integers(0, 255))
    return mask


@st.composite
def ignored_foreground(draw):
    """Background with a block of the ignore label: foreground that is all ignore."""
    height, width = draw(SHAPES)
    mask = np.zeros((height, width), np.uint8)
    top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
    mask[top:top + draw(st.integers(1, height)), left:left + draw(st.integers(1, width))] = IGNORE_LABEL
    return mask


@st.composite
def blocks(draw, values=st.integers(0, 255)):
    """A few rectangles of arbitrary ids on background."""
    height, width = draw(SHAPES)
    mask = np.zeros((height, width), np.uint8)
    for _ in range(draw(st.integers(0, 5))):
        top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        mask[top:top + draw(st.integers(1, 12)), left:left + draw(st.integers(1, 12))] = draw(values)
    return mask


def _every_id(shape) -> np.ndarray:
    return np.resize(np.arange(NUM_CLASSES, dtype=np.uint8), shape)


GREY_MASKS = st.one_of(
    _filled(0),                                                     # empty: no people
    _filled(IGNORE_LABEL),                                          # all ignore
    st.integers(0, 255).flatmap(_filled),                           # one value everywhere (ids above 19 too)
    one_pixel(),
    ignored_foreground(),
    st.integers(1, 40).flatmap(lambda n: arrays(np.uint8, (1, n))),  # 1 x N of anything
    st.integers(1, 40).flatmap(lambda n: arrays(np.uint8, (n, 1))),  # N x 1
    SHAPES.map(_every_id),                                          # every id
    blocks(),                                                       # ids above 19 among valid ones
    blocks(st.integers(0, NUM_CLASSES - 1)),
    arrays(np.uint8, SHAPES),                                       # noise
)


@st.composite
def colour_masks(draw):
    """3-channel masks: exact CIHP colours, other colours, or grey in 3 channels."""
    ids = draw(blocks(st.integers(0, NUM_CLASSES - 1)))
    rgb = CIHP_PALETTE[ids]
    if draw(st.booleans()):
        rgb = rgb.copy()
        top, left = draw(st.integers(0, ids.shape[0] - 1)), draw(st.integers(0, ids.shape[1] - 1))
        rgb[top:top + draw(st.integers(1, 24)), left:left + draw(st.integers(1, 24))] = (
            draw(st.integers(0, 255)), draw(st.integers(0, 255)), draw(st.integers(0, 255)))
    return np.ascontiguousarray(rgb[..., ::-1])


MASKS = st.one_of(GREY_MASKS, colour_masks(), blocks().map(lambda m: m.astype(np.uint16) * 7))


def _dataset_with(folder: Path, mask: np.ndarray, jpeg: bool = False) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    ordinary = np.zeros((16, 16), np.uint8)
    ordinary[4:12, 5:9] = 13
    for stem, array in (("ordinary", ordinary), ("generated", mask)):
        assert cv2.imwrite(str(folder / "images" / f"{stem}.png"), np.full((*array.shape[:2], 3), 90, np.uint8))
        if jpeg and stem == "generated" and array.dtype == np.uint8:  # JPEG bytes under a .png name
            (folder / "masks" / f"{stem}.png").write_bytes(cv2.imencode(".jpg", array)[1].tobytes())
        else:
            assert cv2.imwrite(str(folder / "masks" / f"{stem}.png"), array)
    return folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mask=MASKS, jpeg=st.sampled_from([False, False, False, True]))
def test_statistics_check_and_loader_give_a_typed_result_for_any_mask(mask, jpeg):
    with tempfile.TemporaryDirectory(prefix="seglib-prop-") as tmp:
        root = _dataset_with(Path(tmp) / "generated", mask, jpeg)
        dataset = open_dataset(root)
        (pair,) = [p for p in dataset.split("train") if p.stem == "generated"]

        try:
            read = read_mask(pair.mask)
            assert read.dtype == np.uint8 and read.shape == mask.shape[:2]
            assert ((read < NUM_CLASSES) | (read == IGNORE_LABEL)).all()
            assert (read < NUM_CLASSES).any(), "a mask with no labelled pixel is refused"
            usable = True
        except ImageReadError as error:
            assert "generated.png" in str(error)
            usable = False
            event(f"refused: {getattr(error, 'kind', 'unreadable')}")
        else:
            event("read")

        try:
            image, loaded = load_pair(pair)
            assert usable and image.shape == (*mask.shape[:2], 3) and loaded.shape == mask.shape[:2]
            image, loaded = load_pair(pair, size=(5, 7))
            assert image.shape == (5, 7, 3) and loaded.shape == (5, 7)
        except ImageReadError as error:
            assert not usable and "generated.png" in str(error)

        report = check_dataset(root)
        assert isinstance(report, CheckReport)
        kept = [p.stem for p in report.dataset.split("train")]
        assert ("generated" in kept) == usable and "ordinary" in kept
        if not usable:
            assert any(p.path == "masks/generated.png" and p.skipped for p in report.problems)

        for size in (None, 8):
            try:
                stats = dataset_stats(dataset, "train", size=size, use_cache=False, isolate=False)
            except DatasetError as error:  # pragma: no cover - the ordinary pair is always there
                raise AssertionError(f"the ordinary mask alone gives statistics: {error}") from None
            assert isinstance(stats, DatasetStats)
            assert ("generated" in stats.stems) == usable
            assert stats.class_counts.sum() == stats.total_pixels > 0
            assert (stats.object_rows[:, 2] >= 1).all()

