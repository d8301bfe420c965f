"""The DeepLabV3+ builder: exact Keras-example size, names, config round trips, safe loading."""

import dataclasses
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY_MODEL  # the same module pytest loaded
from seglib.config import ModelConfig
from seglib.presets import get_preset
from seglib.errors import ConfigError, ModelError
from seglib.analysis.aspp import aspp_analysis
from seglib.model.backbones import feature_layers
from seglib.model.deeplab import build_model, model_config_of
from seglib.model.imagenet import imagenet_weights_status
from seglib.model.summary import layer_table, model_summary_text, stages
from seglib.model.saving import load_model, save_model

ROOT = Path(__file__).resolve().parent.parent


def small_config(**changes) -> ModelConfig:
    """The tiny model's config (conftest's ``TINY_MODEL``) with ``changes``."""
    return dataclasses.replace(get_preset("lecture").with_overrides(TINY_MODEL).model, **changes)


def images(count=2, size=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, size, size, 3)).astype("float32")


def test_resnet50_matches_the_keras_example_parameter_count():
    """The Keras example's published total at 512 px and 20 classes."""
    model = build_model(get_preset("course").model)
    assert model.count_params() == 11_857_236
    assert model.output_shape == (None, 512, 512, 20)
    names = {layer.name for layer in model.layers}
    assert {"conv4_block6_2_relu", "conv2_block3_2_relu"} <= names
    assert "conv4_block6_3_conv" not in names  # the ASPP reads conv4_block6_2_relu, not the block output
    assert feature_layers(model_config_of(model))["high"] == "conv4_block6_2_relu"


def test_logits_out_with_image_size_and_classes_from_the_config(tiny_model):
    assert tiny_model.input_shape == (None, 64, 64, 3)
    assert tiny_model.output_shape == (None, 64, 64, 20)
    assert tiny_model.layers[-1].name == "logits"
    outputs = tiny_model(images(), training=False).numpy()
    assert outputs.dtype == np.float32 and outputs.shape == (2, 64, 64, 20)
    # No softmax: the last layers are linear (the loss applies it, from_logits=True), so logits go negative.
    assert [layer.get_config().get("activation", "linear") for layer in tiny_model.layers[-2:]] == ["linear"] * 2
    assert not any(type(layer).__name__ == "Softmax" for layer in tiny_model.layers)
    assert outputs.min() < 0
    other = build_model(small_config(image_size=80, num_classes=7))
    assert other.output_shape == (None, 80, 80, 7)


def test_aspp_and_decoder_are_named_and_rates_are_readable():
    tiny_model = build_model(small_config(atrous_rates=(6, 12, 18)))  # the Keras example's rates
    names = [layer.name for layer in tiny_model.layers]
    for name in ("aspp_pool", "aspp_pool_conv", "aspp_1x1", "aspp_rate6", "aspp_rate12", "aspp_rate18",
                 "aspp_concat", "aspp_project", "decoder_concat", "logits"):
        assert name in names
    assert tiny_model.get_layer("aspp_rate12").dilation_rate == (12, 12)
    branches = aspp_analysis(tiny_model).branches
    assert [b.rate for b in branches] == [None, 1, 6, 12, 18]
    assert [b.name for b in branches] == ["aspp_pool", "aspp_1x1", "aspp_rate6", "aspp_rate12", "aspp_rate18"]
    model = build_model(small_config(atrous_rates=(2, 4)))
    assert [b.rate for b in aspp_analysis(model).branches][2:] == [2, 4]
    assert model.get_layer("aspp_rate4").dilation_rate == (4, 4)


def test_filter_widths_come_from_the_config():
    model = build_model(small_config(aspp_filters=32, low_level_filters=8, decoder_filters=24))
    assert model.get_layer("aspp_project").filters == 32
    assert model.get_layer("decoder_low_level").filters == 8
    assert model.get_layer("decoder_conv2").filters == 24


def test_separable_convolutions_shrink_aspp_and_decoder():
    plain = build_model(small_config(separable=False))
    separable = build_model(small_config(separable=True))
    assert type(plain.get_layer("aspp_rate6")).__name__ == "Conv2D"
    assert type(separable.get_layer("aspp_rate6")).__name__ == "SeparableConv2D"
    assert separable.get_layer("aspp_rate6").dilation_rate == (6, 6)
    assert type(separable.get_layer("decoder_conv1")).__name__ == "SeparableConv2D"
    assert separable.count_params() < plain.count_params()


def test_bn_momentum_is_set_on_every_batch_norm_layer():
    model = build_model(small_config(bn_momentum=0.8))
    batch_norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    assert len(batch_norms) > 20
    assert {layer.momentum for layer in batch_norms} == {0.8}


def test_describe_is_the_layer_table_stages_and_counts_as_plain_data(tiny_model):
    import pickle

    from seglib.model.summary import describe

    description = describe(tiny_model)
    assert description["layers"] == layer_table(tiny_model)
    assert description["stages"] == stages(tiny_model)
    assert description["total"] == tiny_model.count_params()
    assert 0 < description["trainable"] < description["total"]  # BN moving statistics are not trainable
    assert isinstance(description["weights_message"], str)
    pickle.dumps(description)  # cacheable without the model


def test_layer_table_and_stages_add_up(tiny_model):
    rows = layer_table(tiny_model)
    assert rows[0]["name"] == "image" and rows[-1]["name"] == "logits"
    names = [r["name"] for r in rows]  # parallel branches read as blocks, not interleaved
    assert names.index("aspp_rate6_bn") == names.index("aspp_rate6") + 1
    assert names.index("aspp_pool_upsample") < names.index("aspp_1x1") < names.index("aspp_concat")
    assert [r["stage"] for r in rows] == sorted((r["stage"] for r in rows),
                                                key=["backbone", "aspp", "decoder", "head"].index)
    assert set(rows[0]) >= {"name", "type", "output_shape", "params", "stage"}
    assert [s["stage"] for s in stages(tiny_model)] == ["backbone", "aspp", "decoder", "head"]
    assert sum(r["params"] for r in rows) == tiny_model.count_params()
    assert sum(s["params"] for s in stages(tiny_model)) == tiny_model.count_params()
    backbone = stages(tiny_model)[0]
    assert backbone["last_layer"] == "block_13_expand_relu" and backbone["output_shape"][1:3] == (4, 4)
    assert stages(tiny_model)[-1]["output_shape"] == (None, 64, 64, 20)
    text = model_summary_text(tiny_model)
    assert text.splitlines()[-1] == f"Total params: {tiny_model.count_params()}"


def test_get_config_round_trips(tiny_model):
    config = tiny_model.get_config()
    rebuilt = type(tiny_model).from_config(config)
    assert rebuilt.get_config() == config
    assert model_config_of(rebuilt) == small_config()
    assert rebuilt.count_params() == tiny_model.count_params()


def test_saved_model_reloads_to_equal_outputs(tiny_model, tmp_path):
    path = save_model(tiny_model, tmp_path / "model.keras")
    loaded = load_model(path)
    batch = images(seed=1)
    np.testing.assert_allclose(loaded(batch, training=False).numpy(),
                               tiny_model(batch, training=False).numpy(), rtol=1e-5, atol=1e-5)
    assert model_config_of(loaded) == model_config_of(tiny_model)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temp file left behind


@pytest.mark.slow
def test_saving_without_the_optimizer_keeps_weights_and_drops_its_state(tmp_path):
    from seglib._tf import keras

    model = build_model(small_config())
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)  # the slots a training step would create
    batch = images()
    full = save_model(model, tmp_path / "full.keras")
    light = save_model(model, tmp_path / "light.keras", include_optimizer=False)
    assert light.stat().st_size < 0.6 * full.stat().st_size
    np.testing.assert_allclose(load_model(light)(batch, training=False).numpy(),
                               model(batch, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_bad_model_files_are_model_errors_naming_the_file(tiny_model, tmp_path):
    with pytest.raises(ModelError, match="No model file at .*missing.keras"):
        load_model(tmp_path / "missing.keras")
    (tmp_path / "text.keras").write_text("not a model")
    with pytest.raises(ModelError, match="text.keras"):
        load_model(tmp_path / "text.keras")
    good = save_model(tiny_model, tmp_path / "good.keras").read_bytes()
    (tmp_path / "truncated.keras").write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError, match="truncated.keras"):
        load_model(tmp_path / "truncated.keras")
    with zipfile.ZipFile(tmp_path / "wrong.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "Nothing"}')
    with pytest.raises(ModelError, match="wrong.keras"):
        load_model(tmp_path / "wrong.keras")
    for path in tmp_path.iterdir():
        with pytest.raises(ModelError) as error:
            load_model(path if path.name != "good.keras" else tmp_path / "x.h5")
        assert str(tmp_path) not in str(error.value)  # no absolute server paths


def test_lambda_layers_are_refused_by_safe_mode(tmp_path):
    from seglib._tf import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(str(tmp_path / "lambda.keras"))
    with pytest.raises(ModelError, match="lambda.keras"):
        load_model(tmp_path / "lambda.keras")


def test_imagenet_weights_only_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    config = small_config(weights="imagenet")
    status = imagenet_weights_status(config)
    assert status["requested"] and not status["available"]
    model = build_model(config)  # no download: random weights and a clear message
    assert "not in the Keras cache" in model.weights_message and "random weights" in model.weights_message
    # ... and the command it names fetches this backbone's file (the CLI's default preset is another one).
    assert "`python -m seglib model --backbone mobilenetv2 --width 0.35 --image-size 64 --fetch-weights`" \
        in model.weights_message
    resnet = imagenet_weights_status(dataclasses.replace(get_preset("keras-example").model))
    assert "`python -m seglib model --backbone resnet50 --fetch-weights`" in resnet["message"]
    assert "no ImageNet weights" in imagenet_weights_status(small_config(weights="imagenet", width=0.3))["message"]
    # A damaged cached file is reported, not fatal.
    cached = tmp_path / "keras-home" / "models" / status["file_name"]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    assert imagenet_weights_status(config)["available"]
    assert "could not be read" in build_model(config).weights_message


def test_a_cached_weights_file_must_match_its_checksum(tmp_path, monkeypatch):
    """Keras's published checksum decides: a cached file that does not match counts as not cached,
    and one that matches is handed over by keras.utils.get_file from the cache, never downloaded."""
    import hashlib

    from seglib.model import imagenet

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setitem(imagenet.WEIGHTS_BASE_URL, "mobilenetv2", "http://127.0.0.1:9/")  # a download fails at once
    resnet = dataclasses.replace(get_preset("course").model, weights="imagenet")
    cache = tmp_path / "keras-home" / "models"
    cache.mkdir(parents=True)
    (cache / imagenet.imagenet_weights_file(resnet)).write_bytes(b"not the real weights")
    status = imagenet.imagenet_weights_status(resnet)
    assert status["requested"] and not status["available"]
    assert "do not match the checksum" in status["message"] and "random weights" in status["message"]
    with pytest.raises(ModelError, match="checksum"):
        imagenet.cached_imagenet_weights(resnet)

    config = small_config(weights="imagenet")
    cached = cache / imagenet.imagenet_weights_file(config)
    cached.write_bytes(b"weights")
    monkeypatch.setitem(imagenet.WEIGHTS_HASHES, cached.name, hashlib.sha256(b"weights").hexdigest())
    assert imagenet.imagenet_weights_status(config)["available"]
    assert imagenet.cached_imagenet_weights(config) == cached and cached.read_bytes() == b"weights"
    monkeypatch.setitem(imagenet.WEIGHTS_HASHES, cached.name, hashlib.sha256(b"other weights").hexdigest())
    assert not imagenet.imagenet_weights_status(config)["available"]
    model = build_model(config)
    assert "do not match the checksum" in model.weights_message and "random weights" in model.weights_message
    assert cached.read_bytes() == b"weights"  # refused, not replaced


def test_fetching_weights_writes_the_cache_or_fails_clearly(tmp_path, monkeypatch):
    """Against a local HTTP server: no internet needed."""
    import functools
    import http.server
    import threading

    from seglib.model import imagenet

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    config = small_config(weights="imagenet")
    served = tmp_path / "served"
    served.mkdir()
    (served / imagenet.imagenet_weights_file(config)).write_bytes(b"x" * 3_000_000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setitem(imagenet.WEIGHTS_BASE_URL, "mobilenetv2", base)
        calls = []
        path = imagenet.fetch_imagenet_weights(config, progress=lambda done, total: calls.append((done, total)))
        assert path.stat().st_size == 3_000_000 and calls[-1] == (3_000_000, 3_000_000)
        assert imagenet_weights_status(config)["available"]
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left
        resnet = dataclasses.replace(get_preset("course").model, weights="imagenet")
        (served / imagenet.imagenet_weights_file(resnet)).write_bytes(b"not the real weights")
        monkeypatch.setitem(imagenet.WEIGHTS_BASE_URL, "resnet50", base)
        with pytest.raises(ModelError, match="checksum"):
            imagenet.fetch_imagenet_weights(resnet)
        monkeypatch.setitem(imagenet.WEIGHTS_BASE_URL, "resnet50", base + "missing/")
        with pytest.raises(ModelError, match="Could not download"):
            imagenet.fetch_imagenet_weights(resnet)
        assert not imagenet_weights_status(resnet)["available"]
    finally:
        server.shutdown()
        server.server_close()


def test_unusual_sizes_build_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert build_model(small_config(image_size=48, width=0.5)).output_shape == (None, 48, 48, 20)


@pytest.mark.parametrize("changes, message", [
    ({"atrous_rates": (6, 6)}, "must not repeat"),
    ({"atrous_rates": (1, 6)}, "greater than 1"),
    ({"image_size": 72}, "multiple of the output stride"),
])
def test_unbuildable_settings_are_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        build_model(small_config(**changes))


def test_model_config_of_rejects_foreign_models():
    from seglib._tf import keras

    inputs = keras.Input((4,))
    with pytest.raises(ModelError, match="not built by seglib"):
        model_config_of(keras.Model(inputs, keras.layers.Dense(2)(inputs)))


def test_cli_prints_the_layer_table_and_total(capsys):
    from seglib.cli.main import main

    assert main(["model", "--preset", "lecture", "--image-size", "64"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = build_model(small_config()).count_params()
    assert lines[-1] == f"Total params: {expected}"
    assert any(line.startswith("aspp_rate6 ") and "(None, 4, 4," in line for line in lines)
    assert main(["model", "--image-size", "65"]) == 1  # ConfigError -> "error: ..." and exit 1
    assert "multiple of the output stride" in capsys.readouterr().err


def test_importing_the_model_modules_stays_tensorflow_free():
    code = ("import sys, seglib.model.deeplab, seglib.evaluation.metrics, seglib.evaluation.inference\n"
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
