"""Opening dataset folders: both layouts, every kind of bad input, typed errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglib.classes import CIHP_PALETTE, IGNORE_LABEL
from seglib.dataset import (Pair, check_dataset, load_pair, open_dataset, read_image, read_mask)
from seglib.errors import DatasetError, ImageReadError


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(tiny_dataset, target)
    return target


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def test_opens_the_synthetic_dataset(tiny_dataset):
    dataset = open_dataset(tiny_dataset)
    assert dataset.layout == "cihp" and dataset.name == "synthetic"
    assert len(dataset.split("train")) == 12 and len(dataset.split("validation")) == 4
    assert dataset.problems == []
    pair = dataset.split("train")[0]
    assert pair.image.name == "0000000.jpg" and pair.mask.name == "0000000.png"
    assert pair.human is not None and pair.human.parent.name == "Human_ids"
    np.testing.assert_array_equal(dataset.palette, CIHP_PALETTE)
    assert [p.stem for p in dataset.split("train")] == sorted(p.stem for p in dataset.split("train"))
    with pytest.raises(ValueError, match="Received: split='test'"):
        dataset.split("test")


def test_fingerprint_changes_when_files_change(dataset_copy):
    before = open_dataset(dataset_copy).fingerprint
    assert open_dataset(dataset_copy).fingerprint == before
    (dataset_copy / "Training/Images/0000000.jpg").unlink()
    assert open_dataset(dataset_copy).fingerprint != before


def test_plain_layout_with_non_square_images(tmp_path):
    root = tmp_path / "plain"
    rng = np.random.default_rng(0)
    for stem, (h, w) in {"a": (40, 56), "b": (50, 30)}.items():
        _write(root / "images" / f"{stem}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        _write(root / "masks" / f"{stem}.png", rng.integers(0, 20, (h, w), dtype=np.uint8))
    dataset = open_dataset(root)
    assert dataset.layout == "plain" and [p.stem for p in dataset.split("train")] == ["a", "b"]
    assert dataset.split("val") == []
    image, mask = load_pair(dataset.split("train")[0])
    assert image.shape == (40, 56, 3) and mask.shape == (40, 56)
    image, mask = load_pair(dataset.split("train")[0], size=(24, 32))
    assert image.shape == (24, 32, 3) and mask.shape == (24, 32)


def test_read_image_converts_gray_rgba_and_16_bit(tmp_path):
    bgr = np.zeros((8, 10, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    assert read_image(_write(tmp_path / "red.png", bgr))[0, 0].tolist() == [200, 0, 0]
    gray = read_image(_write(tmp_path / "gray.png", np.full((8, 10), 77, np.uint8)))
    assert gray.shape == (8, 10, 3) and gray.dtype == np.uint8 and (gray == 77).all()
    deep = read_image(_write(tmp_path / "deep.png", np.full((8, 10, 3), 65535, np.uint16)))
    assert deep.dtype == np.uint8 and (deep == 255).all()
    rgba = np.zeros((8, 10, 4), np.uint8)  # fully transparent black -> white
    assert (read_image(_write(tmp_path / "rgba.png", rgba)) == 255).all()
    rgba[..., 3] = 255
    assert (read_image(_write(tmp_path / "opaque.png", rgba)) == 0).all()


def test_read_mask_maps_out_of_range_labels_to_ignore(tmp_path):
    mask = np.array([[0, 19, 20, 255]], np.uint8)
    assert read_mask(_write(tmp_path / "m.png", mask)).tolist() == [[0, 19, IGNORE_LABEL, IGNORE_LABEL]]
    wide = np.array([[3, 300]], np.uint16)
    assert read_mask(_write(tmp_path / "m16.png", wide)).tolist() == [[3, IGNORE_LABEL]]
    colour = np.zeros((1, 3, 3), np.uint8)
    colour[0, 1] = CIHP_PALETTE[13][::-1]   # Face, as BGR
    colour[0, 2] = (1, 2, 3)                 # not a palette colour
    assert read_mask(_write(tmp_path / "colour.png", colour)).tolist() == [[0, 13, IGNORE_LABEL]]


def test_read_errors_name_the_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match=r"empty\.jpg is empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match=r"junk\.png cannot be decoded"):
        read_mask(tmp_path / "junk.png")
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")


def test_load_pair_resizes_masks_with_nearest_neighbour_only(tiny_dataset):
    pair = open_dataset(tiny_dataset).split("train")[0]
    _, original = load_pair(pair)
    for size in (17, 40, 100):
        image, mask = load_pair(pair, size=size)
        assert image.shape == (size, size, 3) and mask.shape == (size, size)
        assert set(np.unique(mask)) <= set(np.unique(original))


def test_bad_files_are_skipped_and_listed(dataset_copy):
    train = dataset_copy / "Training"
    (train / "Images/0000001.jpg").write_bytes(b"")                          # zero bytes
    (train / "Category_ids/0000002.png").write_bytes(b"\x89PNG broken")       # corrupt
    (train / "Category_ids/0000003.png").unlink()                            # unpaired image
    _write(train / "Category_ids/9999999.png", np.zeros((64, 64), np.uint8))  # unpaired mask
    _write(train / "Category_ids/0000004.png", np.full((64, 64), 42, np.uint8))  # labels >= 20
    _write(train / "Category_ids/0000005.png", np.zeros((32, 64), np.uint8))  # size mismatch
    (train / "Images/0000006.jpg").unlink()
    _write(train / "Images/0000006.png", np.full((64, 64), 9000, np.uint16))  # 16-bit gray

    quick = open_dataset(dataset_copy)  # no decoding: names and sizes only
    kinds = {p.kind for p in quick.problems}
    assert kinds == {"empty-file", "unpaired-image", "unpaired-mask"}
    assert len(quick.split("train")) == 10

    report = check_dataset(dataset_copy)
    by_kind = {}
    for problem in report.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    assert set(by_kind) == {"empty-file", "unpaired-image", "unpaired-mask", "unreadable", "size-mismatch",
                            "bad-labels", "converted"}
    assert by_kind["unreadable"][0].path == "Training/Category_ids/0000002.png"
    assert "4096 pixels" in by_kind["bad-labels"][0].message
    assert [p.stem for p in report.dataset.split("train")] == \
        ["0000000", "0000004", "0000006", "0000007", "0000008", "0000009", "0000010", "0000011"]
    assert len(report.dataset.split("val")) == 4
    text = report.format()
    assert "size-mismatch" in text and "Training/Category_ids/0000002.png" in text
    assert str(dataset_copy.parent) not in text, "reports never show absolute server paths"


def test_nothing_usable_raises_a_typed_error_naming_the_folder(tmp_path):
    with pytest.raises(DatasetError, match="'nowhere' does not exist"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No dataset found in 'empty'.*Expected"):
        open_dataset(tmp_path / "empty")
    broken = tmp_path / "broken"
    (broken / "Training/Images").mkdir(parents=True)
    (broken / "Training/Category_ids").mkdir(parents=True)
    (broken / "Training/Images/a.jpg").write_bytes(b"junk")
    (broken / "Training/Category_ids/a.png").write_bytes(b"junk")
    assert len(open_dataset(broken).split("train")) == 1  # the cheap open does not decode
    with pytest.raises(DatasetError, match="No usable image/mask pairs in 'broken'") as caught:
        check_dataset(broken)
    assert str(tmp_path) not in str(caught.value)
    assert [p.kind for p in caught.value.problems] == ["unreadable"]
    only_images = tmp_path / "only_images"
    (only_images / "Training/Images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="missing-folder"):
        open_dataset(only_images)


def test_check_cli_prints_the_report(dataset_copy, capsys):
    from seglib.cli import main

    (dataset_copy / "Training/Images/0000001.jpg").write_bytes(b"")
    assert main(["data", "check", str(dataset_copy)]) == 0
    out = capsys.readouterr().out
    assert "train: 11 usable pairs" in out and "empty-file" in out
    assert main(["data", "check", str(dataset_copy.parent / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_pair_is_a_small_value_object(tiny_dataset):
    pair = open_dataset(tiny_dataset).split("val")[0]
    assert isinstance(pair, Pair) and pair == Pair(pair.stem, pair.image, pair.mask, pair.human)
