"""The project's own pretrained backbone: made by ``python -m seglib pretrain``, loaded by
``model.weights = "pretrained"``, fixed during ``train.freeze_backbone_epochs``.

Tiny: 64 px, a few dozen synthetic images, one epoch; the shipped file in
``assets/pretrained`` is only checked for being there and fitting the lecture preset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seglib.classes import NUM_CLASSES, swap_left_right
from seglib.presets import get_preset
from seglib.errors import ModelError
from seglib.model import backbones, pretrained
from seglib.model.deeplab import build_model
from seglib.training import pretrain
from seglib.training.callbacks import Callback
from seglib.training.runs import files, folders
from seglib.training.worker import train

pytestmark = pytest.mark.slow  # pretrains and trains small models

TINY = {"model.image_size": 64, "model.aspp_filters": 16, "model.decoder_filters": 16,
        "model.low_level_filters": 8}


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A pretrained backbone for the tiny lecture model, written where the builder looks for it."""
    folder = tmp_path_factory.mktemp("pretrained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrained, "PRETRAINED_DIR", folder)
        config = get_preset("lecture").with_overrides(TINY)
        card = pretrain.pretrain("lecture", images=24, val_images=12, epochs=1, batch_size=8, image_size=64,
                                 verbose=False)
        yield folder, config, card


def test_image_labels_are_tile_presence_shares_and_people_never_a_mask():
    mask = np.zeros((100, 100), np.uint8)
    mask[:50, :25] = 14          # left arm, 12.5 %: the top-left tile of a 2 x 2 grid
    mask[99, 99] = 4             # sunglasses, one pixel (0.04 % of its tile): below the presence threshold
    presence, shares, people = pretrain.image_labels(mask, people=9, grid=2)
    assert presence.shape == (2, 2, NUM_CLASSES - 1) and shares.shape == (NUM_CLASSES,)
    assert presence[0, 0, 14 - 1] == 1 and presence[1, 1, 4 - 1] == 0 and presence.sum() == 1
    assert shares[14] == pytest.approx(0.125) and shares.sum() == pytest.approx(1.0)
    assert people == pretrain.MAX_PEOPLE - pretrain.MIN_PEOPLE   # 9 people is clipped to the top class


def test_a_flip_swaps_left_and_right_labels_in_both_label_kinds():
    presence = np.zeros((2, 3, 3, NUM_CLASSES - 1), np.float32)
    presence[:, 0, 0, 14 - 1] = 1      # left arm in the top-left tile of both images
    flipped = pretrain.swap_left_right_labels(presence, np.array([True, False]))
    assert flipped[0, 0, 0, 15 - 1] == 1 and flipped[0, 0, 0, 14 - 1] == 0   # flipped: now a right arm
    assert flipped[1, 0, 0, 14 - 1] == 1                                      # not flipped: unchanged
    shares = np.eye(NUM_CLASSES, dtype=np.float32)[[18]]             # all left shoe
    assert pretrain.swap_left_right_labels(shares, np.array([True]), offset=0)[0].argmax() == swap_left_right(
        np.array([18]))[0] == 19


def test_pretraining_images_never_repeat_the_default_dataset():
    from seglib.data.synth import render_sample

    image, _, _ = render_sample(64, pretrain.PRETRAIN_SEED, split="pretrain", index=0)
    for split in ("train", "val"):
        default, _, _ = render_sample(64, 0, split=split, index=0)
        assert not np.array_equal(image, default)
    assert pretrain.PRETRAIN_SEED != 0


def test_pretrain_writes_the_backbone_and_a_card_that_says_how_it_was_made(tiny_backbone):
    folder, config, card = tiny_backbone
    path = folder / "mobilenetv2_0.35.npz"
    assert path.is_file() and path.with_suffix(".json").is_file() and path.with_suffix(".md").is_file()
    saved = json.loads(path.with_suffix(".json").read_text())
    assert saved["data"]["seed"] == pretrain.PRETRAIN_SEED and saved["data"]["split"] == "pretrain"
    assert saved["data"]["train_images"] == 24 and saved["training"]["epochs"] == 1
    assert "python -m seglib pretrain --preset lecture" in saved["command"]
    assert 0.0 <= saved["validation"]["presence_accuracy"] <= 1.0
    markdown = path.with_suffix(".md").read_text()
    assert "not the lab's masks" in markdown and saved["command"] in markdown
    assert card["parameters"] > 10_000


def test_a_pretrained_start_sets_every_backbone_layer_and_nothing_else(tiny_backbone):
    folder, config, _ = tiny_backbone
    stored = np.load(folder / "mobilenetv2_0.35.npz")
    model = build_model(config.model.__class__(**{**config.model.__dict__, "weights": "pretrained"}))
    assert "pretrained by the project" in model.weights_message
    layers = backbones.backbone_layers(model, config.model)
    assert {layer.name for layer in layers} == {key.rpartition("/")[0] for key in stored.files}
    for layer in layers:
        for index, weight in enumerate(layer.get_weights()):
            np.testing.assert_array_equal(weight, stored[f"{layer.name}/{index}"])
    assert all(not name.startswith(("aspp", "decoder", "logits", "head")) for name in
               {layer.name for layer in layers})
    random_model = build_model(config.model.__class__(**{**config.model.__dict__, "weights": "none"}))
    assert "random weights" in random_model.weights_message
    first = layers[0].name
    assert not np.array_equal(random_model.get_layer(first).get_weights()[0], stored[f"{first}/0"])


def test_a_missing_or_wrong_pretrained_file_is_a_clear_message(tiny_backbone, tmp_path, monkeypatch):
    _, config, _ = tiny_backbone
    wide = config.with_overrides({"model.width": 0.5, "model.weights": "pretrained"}).model
    model = build_model(wide)   # no file for width 0.5: random start, and the message says so
    assert "No pretrained backbone" in model.weights_message and "random weights" in model.weights_message
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="junk.npz is not a readable pretrained backbone"):
        backbones.load_backbone(model, wide, junk)
    other = tmp_path / "other.npz"
    np.savez(other, **{"Conv1/0": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(ModelError, match="no weights for"):
        backbones.load_backbone(model, wide, other)


def test_a_fixed_backbone_keeps_its_weights_while_the_head_learns_then_joins_in(tiny_backbone, tiny_dataset,
                                                                              tmp_path, monkeypatch):
    folder, config, _ = tiny_backbone
    monkeypatch.setenv("SEGLIB_RUNS_DIR", str(tmp_path / "runs"))
    stored = np.load(folder / "mobilenetv2_0.35.npz")
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots[epoch] = {layer.name: [w.copy() for w in layer.get_weights()]
                                for layer in self.model.layers if layer.weights}

    run_config = config.with_overrides({"model.weights": "pretrained", "train.freeze_backbone_epochs": 1,
                                        "train.epochs": 2, "train.batch_size": 4, "data.train_count": 8,
                                        "data.val_count": 4})
    run_folder = folders.create_run(run_config, status="running")
    assert train(run_folder, callbacks=[Snapshot()]) == "finished"
    backbone_names = {key.rpartition("/")[0] for key in stored.files}
    for name in backbone_names:   # epoch 1: fixed, BatchNorm statistics included
        for index, weight in enumerate(snapshots[1][name]):
            np.testing.assert_array_equal(weight, stored[f"{name}/{index}"])
    assert not np.array_equal(snapshots[1]["head_logits"][0], snapshots[2]["head_logits"][0])
    assert any(not np.array_equal(snapshots[2][name][0], stored[f"{name}/0"]) for name in backbone_names)
    log = (run_folder / files.LOG_FILE).read_text()
    assert "backbone fixed" in log and "pretrained by the project" in log
    progress = json.loads((run_folder / files.PROGRESS_FILE).read_text())
    assert "pretrained by the project" in progress["start"]
    names = [name for name, _ in progress["startup_steps"]]   # each start-up step, as the page shows it
    assert names == ["starting the worker", "reading the dataset", "importing TensorFlow",
                     "building the input pipeline", "building the model",
                     "tracing the training step and running the first batch", "training"]
    seconds = [at for _, at in progress["startup_steps"]]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(progress["startup_seconds"], abs=0.5)


def test_the_lecture_preset_starts_from_the_shipped_pretrained_backbone(monkeypatch):
    from seglib import settings

    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", settings.ASSETS_DIR / "pretrained")  # not a fixture's copy
    config = get_preset("lecture")
    assert config.model.weights == "pretrained"
    status = pretrained.pretrained_status(config.model)
    assert status["available"], status["message"]
    card = status["card"]
    assert card["backbone"] == "mobilenetv2" and card["width"] == config.model.width
    assert card["data"]["seed"] != 0 and card["validation"]["presence_accuracy"] > card[
        "baseline_presence_accuracy"]
    assert status["path"].stat().st_size < 2_000_000   # small enough for git
