"""Dataset statistics: exact int64 counts, regions, person heights, the cache, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglib.classes import IGNORE_LABEL, NUM_CLASSES
from seglib.data import mask_stats, processes
from seglib.data import stats as stats_module
from seglib.data.dataset import open_dataset
from seglib.data.masks import read_mask
from seglib.data.stats import dataset_stats
from seglib.errors import DatasetError


def test_counts_are_exact_int64_and_background_dominates(tiny_dataset):
    dataset = open_dataset(tiny_dataset)
    stats = dataset_stats(dataset, "train", use_cache=False)
    expected = np.zeros(NUM_CLASSES, np.int64)
    for pair in dataset.split("train"):
        expected += np.bincount(read_mask(pair.mask).ravel(), minlength=256)[:NUM_CLASSES]
    assert stats.class_counts.dtype == np.int64
    np.testing.assert_array_equal(stats.class_counts, expected)
    assert stats.total_pixels == 12 * 64 * 64 and stats.num_images == 12
    assert stats.fractions.sum() == pytest.approx(1.0) and stats.fractions.argmax() == 0
    per_image = stats.per_image
    assert len(per_image) == 12 and list(per_image.columns[:2]) == ["image", "Background"]
    assert np.allclose(per_image.iloc[:, 1:].sum(axis=1), 1.0)
    table = stats.class_table()
    assert table.loc[0, "name"] == "Background" and table.loc[0, "images"] == 12


def test_regions_and_people_from_human_ids(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), "val", use_cache=False)
    summary = stats.object_summary
    assert len(summary) == NUM_CLASSES - 1 and (summary["count"] >= 0).all()
    assert summary.loc[summary["name"] == "Face", "count"].item() > 0
    objects = stats.objects
    assert {"image", "class_id", "class_name", "area", "height", "width", "image_fraction"} <= set(objects.columns)
    assert (objects["class_id"] > 0).all() and (objects["area"] >= 1).all()
    assert stats.person_source == "human_ids" and len(stats.person_heights) > 0
    assert stats.person_heights.max() <= 64


def _plain_dataset(root: Path) -> Path:
    """Two hand-drawn 32 px masks whose regions and heights are known."""
    mask = np.zeros((32, 32), np.uint8)
    mask[2:6, 2:6] = 5        # a 4x4 upper-clothes region
    mask[20:23, 20:23] = 5    # a separate 3x3 one
    mask[10:20, 12:14] = 13   # a 10-tall face strip, touching nothing
    mask[0, 31] = 42          # a bad label -> ignored
    second = np.zeros((32, 32), np.uint8)
    second[4:28, 8:10] = 16   # one 24-px-tall figure
    for stem, array in (("a", mask), ("b", second)):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.zeros((32, 32, 3), np.uint8))
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), array)
    return root


def test_connected_regions_and_component_heights_on_known_masks(tmp_path):
    stats = dataset_stats(open_dataset(_plain_dataset(tmp_path / "plain")), use_cache=False)
    objects = stats.objects.sort_values(["image", "class_id", "area"]).reset_index(drop=True)
    assert objects[["image", "class_id", "area", "height", "width"]].values.tolist() == [
        ["a", 5, 9, 3, 3], ["a", 5, 16, 4, 4], ["a", 13, 20, 10, 2], ["b", 16, 48, 24, 2]]
    assert stats.ignored_pixels == 1 and stats.total_pixels == 2 * 32 * 32 - 1
    assert stats.person_source == "components"
    assert sorted(stats.person_heights.tolist()) == [3, 4, 10, 24]
    row = stats.object_summary.set_index("name").loc["UpperClothes"]
    assert row["count"] == 2 and row["median_area"] == pytest.approx(12.5)


def test_resizing_counts_at_the_training_size(tiny_dataset):
    stats = dataset_stats(open_dataset(tiny_dataset), "train", size=32, use_cache=False)
    assert stats.total_pixels == 12 * 32 * 32 and stats.size == 32
    assert stats.person_heights.max() <= 32


def test_cache_is_reused_and_invalidated_when_files_change(tiny_dataset, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_dataset, root)
    first = dataset_stats(open_dataset(root), "train")
    assert not first.from_cache
    started = time.perf_counter()
    again = dataset_stats(open_dataset(root), "train")
    assert again.from_cache and time.perf_counter() - started < 0.5
    np.testing.assert_array_equal(again.image_counts, first.image_counts)
    np.testing.assert_array_equal(again.object_rows, first.object_rows)
    assert again.stems == first.stems and again.objects.equals(first.objects)
    mask_path = root / "Training/Category_ids/0000000.png"
    cv2.imwrite(str(mask_path), np.zeros((64, 64), np.uint8))
    os.utime(mask_path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    changed = dataset_stats(open_dataset(root), "train")
    assert not changed.from_cache
    assert changed.per_image.loc[0, "Background"] == 1.0


def test_worker_processes_give_the_same_numbers(tiny_dataset, monkeypatch):
    dataset = open_dataset(tiny_dataset)
    serial = dataset_stats(dataset, "train", workers=1, use_cache=False)
    monkeypatch.setattr(stats_module, "PARALLEL_MINIMUM", 1)
    parallel = dataset_stats(dataset, "train", workers=2, use_cache=False)
    np.testing.assert_array_equal(serial.image_counts, parallel.image_counts)
    np.testing.assert_array_equal(serial.object_rows, parallel.object_rows)
    np.testing.assert_array_equal(serial.person_heights, parallel.person_heights)


def test_unreadable_masks_are_skipped_and_an_empty_split_is_an_error(tmp_path):
    root = _plain_dataset(tmp_path / "plain")
    (root / "masks/b.png").write_bytes(b"junk")
    stats = dataset_stats(open_dataset(root), use_cache=False)
    assert stats.stems == ["a"] and stats.skipped == ["b"]
    with pytest.raises(DatasetError, match="val split"):
        dataset_stats(open_dataset(root), split="val")


def test_stats_cli_prints_json(tiny_dataset, capsys):
    from seglib.cli.main import main

    assert main(["data", "stats", str(tiny_dataset), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 12 and len(result["classes"]) == NUM_CLASSES
    assert sum(row["fraction"] for row in result["classes"]) == pytest.approx(1.0)
    assert {"count", "median_area", "p10_height", "p90_height"} <= set(result["objects"][0])
    assert result["person_heights"]["count"] > 0
    assert main(["data", "stats", str(tiny_dataset), "--split", "val"]) == 0
    assert "Background" in capsys.readouterr().out
    assert IGNORE_LABEL == 255


# ---------------------------------------------------------------------------
# masks with no foreground, and native crashes (issue M, item 1)
# ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _no_foreground_dataset(root: Path) -> Path:
    """A plain dataset: one ordinary mask, one all background (a photo with no
    people) and one whose only foreground is the ignore label."""
    ordinary = np.zeros((32, 32), np.uint8)
    ordinary[4:20, 8:14] = 5
    ignored_foreground = np.zeros((32, 32), np.uint8)
    ignored_foreground[10:14, 10:14] = IGNORE_LABEL
    for stem, mask in (("people", ordinary), ("nobody", np.zeros((32, 32), np.uint8)),
                       ("ignored", ignored_foreground)):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / f"{stem}.png"), np.zeros((32, 32, 3), np.uint8))
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), mask)
    return root


def _seglib_env(tmp_path: Path) -> dict:
    return dict(os.environ, SEGLIB_DATA_ROOTS=str(tmp_path), SEGLIB_CACHE_DIR=str(tmp_path / "cache"))


def test_stats_of_masks_without_foreground_do_not_crash(tmp_path):
    """An all-background mask used to send an empty crop to OpenCV: exit 139."""
    import subprocess
    import sys

    root = _no_foreground_dataset(tmp_path / "nobody")
    result = subprocess.run([sys.executable, "-m", "seglib", "data", "stats", str(root), "--json"],
                            env=_seglib_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    stats = json.loads(result.stdout)
    assert stats["images"] == 3 and stats["total_pixels"] == 3 * 32 * 32 - 16
    assert stats["person_heights"]["count"] == 1


def crash_on_nobody(task):
    """A stand-in for the per-chunk work that dies like a native crash on one mask."""
    import signal

    for index, mask in zip(task[0], task[1]):
        if Path(mask).stem == "nobody":
            processes.mark_reading(task[5], index)  # as the real work does before reading each mask
            os.kill(os.getpid(), signal.SIGSEGV)
    return _REAL_CHUNK_STATS(task)


_REAL_CHUNK_STATS = mask_stats.count_chunk


@pytest.mark.parametrize("workers", [1, 2])
def test_a_native_crash_while_counting_is_a_typed_error_not_a_dead_caller(tmp_path, workers):
    """The dashboard's server calls dataset_stats: a crash in the counting must
    come back as a DatasetError naming the file, and the caller lives on."""
    import subprocess
    import sys

    root = _no_foreground_dataset(tmp_path / "crashing")
    script = (
        "import seglib.data.mask_stats as m, seglib.data.stats as s, test_stats\n"
        "from seglib.errors import DatasetError\n"
        "m.count_chunk = test_stats.crash_on_nobody\n"
        f"s.PARALLEL_MINIMUM = {1 if workers > 1 else 400}\n"
        f"try:\n    s.dataset_stats({str(root)!r}, use_cache=False, workers={workers})\n"
        "except DatasetError as error:\n    print('TYPED:', error)\n"
        "print('caller alive')\n")
    # Run from tests/, so that this script and the counting children (``python -m``) import test_stats.
    result = subprocess.run([sys.executable, "-c", script], env=_seglib_env(tmp_path), cwd=ROOT / "tests",
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "caller alive" in result.stdout
    typed = next(line for line in result.stdout.splitlines() if line.startswith("TYPED:"))
    assert "crashed" in typed and "while reading masks/nobody.png:" in typed and "data check" in typed


def test_counting_children_never_run_the_callers_main_file(tmp_path, monkeypatch):
    """A page run as __main__ (Streamlit, AppTest) must not be run again in the
    counting process: a 'spawn' pool does that, and the page would count again."""
    import sys
    import types

    marker = tmp_path / "main-ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    stats = dataset_stats(open_dataset(_no_foreground_dataset(tmp_path / "main")), use_cache=False)
    assert stats.num_images == 3 and not marker.exists()


def test_dataset_page_draws_a_split_with_people_free_and_refused_masks(tiny_dataset, data_root):
    """The Dataset explorer on such a folder: statistics, no traceback, the refused mask named."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from conftest import APPTEST_TIMEOUT

    root = _no_foreground_dataset(data_root / "nobody-page")
    blind = np.zeros((32, 32, 3), np.uint8)
    blind[4:20, 4:20] = (178, 114, 0)  # the colour-blind palette's UpperClothes, as BGR
    cv2.imwrite(str(root / "images" / "blind.png"), np.zeros((32, 32, 3), np.uint8))
    cv2.imwrite(str(root / "masks" / "blind.png"), blind)
    try:
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=APPTEST_TIMEOUT)
        at.query_params["dataset"] = "nobody-page"
        at.run()
        at.switch_page("pages/dataset.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not [e.value for e in at.error if "This is a bug" in e.value or "Traceback" in e.value]
        # The refused mask is found when the dataset is opened (every file checked, as `data check` does):
        # it is listed with the problems and counted nowhere, so the statistics never see it.
        assert "3 train images" in "\n".join(m.value for m in at.markdown)
        problems = next(e for e in at.expander if "problems found" in e.label).dataframe[0].value
        refused = problems[problems["file"].str.endswith("blind.png")]
        assert refused["skipped"].tolist() == [True] and "outside the CIHP palette" in refused["details"].iloc[0]
        assert not any("of the 4 masks" in w.value for w in at.warning), [w.value for w in at.warning]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_height_spread_is_numpys_percentiles_and_its_doctest_holds():
    """The Atrous page's people heights and ``data stats`` read one summary (``height_spread``)."""
    import doctest

    import numpy as np

    from seglib.data import stats

    heights = np.array([12, 40, 41, 90, 7, 65])
    spread = stats.height_spread(heights)
    assert [spread[k] for k in ("p10", "median", "p90")] == list(np.percentile(heights, [10, 50, 90]))
    assert (spread["min"], spread["max"]) == (7.0, 90.0)
    assert doctest.testmod(stats).failed == 0


def test_the_height_sentence_follows_the_factor_between_small_and_large_people():
    from seglib.data.stats import height_sentence

    wide = height_sentence([20] * 10 + [400] * 10, 512)  # the 90th percentile 20x the 10th
    assert "a factor of **20.0**" in wide and "only a hand of a large one" in wide
    some = height_sentence([100] * 10 + [300] * 10, 512)
    assert "a factor of **3.0**" in some and "about 1/3 of a large one's height" in some and "hand" not in some
    one = height_sentence([100] * 10 + [110] * 10, 512)
    assert "one scale" in one and "hand" not in one
