"""The synthetic generator: layout, determinism, people that look right, class balance."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglib.classes import NUM_CLASSES
from seglib.errors import DatasetError
from seglib.data.synth import generate_dataset, render_sample


def _read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_tiny_dataset_has_the_cihp_layout(tiny_dataset):
    root = tiny_dataset
    for folder, count in (("Training", 12), ("Validation", 4)):
        images = sorted((root / folder / "Images").glob("*.jpg"))
        masks = sorted((root / folder / "Category_ids").glob("*.png"))
        humans = sorted((root / folder / "Human_ids").glob("*.png"))
        assert len(images) == len(masks) == len(humans) == count
        assert [p.stem for p in images] == [p.stem for p in masks] == [p.stem for p in humans]
        mask = _read(masks[0])
        assert mask.dtype == np.uint8 and mask.ndim == 2 and mask.shape == (64, 64)
        assert mask.max() < NUM_CLASSES
        assert _read(images[0]).shape == (64, 64, 3)
    assert (root / "train_id.txt").read_text().split() == [p.stem for p in
                                                           sorted((root / "Training/Images").glob("*.jpg"))]
    assert len((root / "val_id.txt").read_text().split()) == 4
    assert json.loads((root / "synth.json").read_text())["size"] == 64
    assert (root / ".complete").is_file() and (root / "human_colormap.mat").is_file()
    people = json.loads((root / "people.json").read_text())
    assert len(people["train"]) == 12


def test_rendering_is_deterministic_and_varies_with_index():
    first = render_sample(64, seed=3, split="train", index=5)
    again = render_sample(64, seed=3, split="train", index=5)
    other = render_sample(64, seed=3, split="train", index=6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])
    assert not np.array_equal(first[1], render_sample(64, seed=3, split="val", index=5)[1])


def test_output_does_not_depend_on_worker_count(tmp_path):
    # 64 pairs or more are drawn in worker processes; the files must equal in-process renders.
    result = generate_dataset(tmp_path / "pool", train=64, val=0, size=32, seed=7, workers=2)
    assert result["train"] == 64 and not result["skipped"]
    for index in (0, 33, 63):
        image, mask, humans = render_sample(32, seed=7, split="train", index=index)
        stem = f"{index:07d}"
        np.testing.assert_array_equal(_read(tmp_path / f"pool/Training/Category_ids/{stem}.png"), mask)
        np.testing.assert_array_equal(_read(tmp_path / f"pool/Training/Human_ids/{stem}.png"), humans)


def test_people_are_built_from_all_parts_with_real_imbalance():
    counts = np.zeros(256, np.int64)
    for index in range(48):
        counts += np.bincount(render_sample(64, seed=0, split="train", index=index)[1].ravel(), minlength=256)
    assert counts[NUM_CLASSES:].sum() == 0
    assert (counts[:NUM_CLASSES] > 0).all(), "every one of the 20 classes occurs"
    fractions = counts[:NUM_CLASSES] / counts.sum()
    assert fractions.argmax() == 0, "background is the largest class"
    for rare in (3, 4, 8):  # glove, sunglasses, socks
        assert 0 < fractions[rare] < 0.01


def test_left_parts_are_on_the_image_right():
    """People face the camera: the person's left arm/leg/shoe lie right of their right ones."""
    checked = agree = 0
    for index in range(30):
        _, mask, humans = render_sample(128, seed=1, split="train", index=index)
        for person in np.unique(humans[humans > 0]):
            for left, right in ((14, 15), (16, 17), (18, 19)):
                lx = np.nonzero((mask == left) & (humans == person))[1]
                rx = np.nonzero((mask == right) & (humans == person))[1]
                if lx.size > 20 and rx.size > 20:
                    checked += 1
                    agree += lx.mean() > rx.mean()
    assert checked > 30
    assert agree / checked > 0.95


def test_heights_vary_at_least_eightfold_and_near_people_are_drawn_in_front():
    heights, ordered, pairs = [], 0, 0
    for index in range(40):
        _, mask, humans = render_sample(128, seed=2, split="train", index=index)
        assert set(np.unique(mask[humans == 0])) <= {0}, "only people carry part labels"
        assert (mask[humans > 0] > 0).all()
        bottoms = []
        for person in np.unique(humans[humans > 0]):
            ys = np.nonzero(humans == person)[0]
            heights.append(ys.max() - ys.min() + 1)
            bottoms.append(ys.max())
        # Person ids are the drawing order. Feet lower in the frame = nearer, so a
        # later (nearer, drawn on top) person stands lower: bottoms grow with the id.
        pairs += max(0, len(bottoms) - 1)
        ordered += sum(b >= a for a, b in zip(bottoms, bottoms[1:]))
    heights = np.array(heights)
    assert heights.max() / heights.min() >= 8
    assert (heights >= 128).any(), "some near people are cut by the frame"
    assert ordered / pairs > 0.8


def test_keras_example_loader_reads_the_output_unchanged(tiny_dataset):
    """The keras-io DeepLabV3+ example globs, sorts, pairs by position and decodes with decode_png."""
    from glob import glob

    from seglib._tf import tf

    images = sorted(glob(str(tiny_dataset / "Training/Images/*")))
    masks = sorted(glob(str(tiny_dataset / "Training/Category_ids/*")))
    assert [Path(p).stem for p in images] == [Path(p).stem for p in masks]
    image = tf.image.decode_png(tf.io.read_file(images[0]), channels=3)
    mask = tf.image.decode_png(tf.io.read_file(masks[0]), channels=1)
    assert tuple(image.shape) == (64, 64, 3) and tuple(mask.shape) == (64, 64, 1)
    np.testing.assert_array_equal(mask.numpy()[..., 0], _read(Path(masks[0])))


def test_refuses_a_foreign_folder_and_redoes_an_interrupted_one(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("do not delete")
    with pytest.raises(DatasetError, match="refusing to overwrite"):
        generate_dataset(foreign, train=2, val=0, size=32, seed=0)
    assert (foreign / "thesis.txt").read_text() == "do not delete"

    out = tmp_path / "synth"
    generate_dataset(out, train=3, val=1, size=32, seed=0)
    assert generate_dataset(out, train=3, val=1, size=32, seed=0)["skipped"]
    (out / ".complete").unlink()           # as if interrupted
    (out / "Training/Images/0000000.jpg").unlink()
    result = generate_dataset(out, train=3, val=1, size=32, seed=0)
    assert not result["skipped"] and (out / "Training/Images/0000000.jpg").is_file()
    result = generate_dataset(out, train=2, val=0, size=32, seed=0)  # new settings: redrawn cleanly
    assert len(list((out / "Training/Images").iterdir())) == 2 and not (out / "Validation").exists()


@pytest.mark.parametrize("kwargs", [{"train": 0}, {"size": 8}, {"train": 1.5}, {"seed": -1}])
def test_bad_arguments_say_what_was_received(tmp_path, kwargs):
    arguments = {"train": 2, "val": 0, "size": 32, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match="Received"):
        generate_dataset(tmp_path / "x", **arguments)


def test_cli_writes_a_dataset(tmp_path, capsys):
    from seglib.cli.main import main

    assert main(["data", "synth", "--out", str(tmp_path / "cli"), "--train", "3", "--val", "1",
                 "--size", "32", "--seed", "4"]) == 0
    assert len(list((tmp_path / "cli/Training/Images").glob("*.jpg"))) == 3
    assert "Done" in capsys.readouterr().out
    assert main(["data", "synth", "--size", "32"]) == 2
