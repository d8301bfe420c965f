"""The run configuration object and its presets."""

import json
import math

import pytest

from seglib import keras_example
from seglib.config import RunConfig, field_names
from seglib.presets import get_preset, preset_names
from seglib.errors import ConfigError


def test_presets_exist_and_validate():
    assert preset_names() == ["lecture", "course", "keras-example"]
    for name in preset_names():
        assert get_preset(name).preset == name


def test_keras_example_is_the_published_example_field_by_field():
    # seglib.keras_example.SETTINGS is the example's setup read from its code (keras-io,
    # examples/vision/deeplabv3_plus.py); the preset must match it in every field.
    example = get_preset("keras-example")
    assert "deeplabv3_plus.py" in keras_example.SOURCE
    values = keras_example.preset_settings(example)
    for field, expected in keras_example.SETTINGS.items():
        assert values[field] == expected, f"keras-example {field}: {values[field]!r}, the example: {expected!r}"
    assert keras_example.differing_fields(example) == {}


def test_course_is_the_example_plus_the_course_changes_each_with_its_reason():
    course, example = get_preset("course"), get_preset("keras-example")
    differing = keras_example.differing_fields(course)
    listed = {field for field in keras_example.COURSE_CHANGES if field in keras_example.SETTINGS}
    assert set(differing) == listed, "every change of the course preset has a reason, and only those"
    assert course.train.optimizer == "adamw" and course.train.weight_decay > 0
    assert course.train.learning_rate < example.train.learning_rate and course.train.decay_rate < 1.0
    # Fields the example has no counterpart for: the same in both presets unless the course lists them.
    for section in ("data", "model", "train"):
        for name, value in getattr(course, section).__dict__.items():
            field = f"{section}.{name}"
            if field not in keras_example.SETTINGS and field not in keras_example.COURSE_CHANGES:
                assert value == getattr(getattr(example, section), name), field


def test_the_differences_list_says_what_the_code_does():
    from seglib.training import splits

    text = keras_example.differences_markdown()
    assert ("holds out a tenth of its training images" in text) == (splits.HOLDOUT_FRACTION == 0.1)
    assert "that follow its first 1,000" in text and "the 50 images" in text


def test_the_optimizer_and_the_backbone_start_are_worded_in_one_place():
    # TrainConfig.schedule_text and WEIGHT_STARTS are the one wording Home, the Model page, exercise
    # 13-6, the Training form and the cards use (seglib.lab.comparison puts them together).
    import dataclasses

    from seglib.config import WEIGHT_STARTS, WEIGHTS
    from seglib.lab import comparison

    example, course = get_preset("keras-example"), get_preset("course")
    assert example.train.schedule_text() == (
        f"Adam, no weight decay, learning rate {keras_example.SETTINGS['train.learning_rate']:g} (constant)")
    train = course.train
    assert train.schedule_text() == (f"AdamW, weight decay {train.weight_decay:g}, learning rate "
                                     f"{train.learning_rate:g} (× {train.decay_rate:g} every {train.decay_steps:,} steps)")
    assert dataclasses.replace(train, weight_decay=0.0).optimizer_text() == "AdamW, no weight decay"
    assert set(WEIGHT_STARTS) == set(WEIGHTS)
    for weights in WEIGHTS:
        items = comparison.keras_differences({"model_preset": "course", "weights": weights})
        assert f"(`model.weights='{weights}'`)" in items[1] and WEIGHT_STARTS[weights] in items[1]
        assert train.schedule_text() in items[0] and example.train.schedule_text() in items[0]
    imagenet = comparison.keras_differences({"model_preset": "course", "weights": "imagenet"})[1]
    assert "Nothing can be downloaded here" not in imagenet   # it may have been fetched into the cache


def test_every_config_field_is_in_the_example_table_or_says_why_not():
    names = {f"{section}.{name}" for section, fields in field_names().items() for name in fields}
    accounted = set(keras_example.SETTINGS) | set(keras_example.NOT_IN_THE_EXAMPLE)
    assert names == accounted, f"not accounted for: {sorted(names - accounted)}; unknown: {sorted(accounted - names)}"
    assert not set(keras_example.SETTINGS) & set(keras_example.NOT_IN_THE_EXAMPLE)


def test_the_presets_weight_decay_can_act_as_much_as_the_measured_choice():
    # Keras's AdamW decays decoupled (lr x wd per step): the presets' weight decay is the one the sweep
    # chose for the reference runs, rescaled to each preset's planned learning rates, so that over a whole
    # run the decay alone shrinks the kernels about as much as it did in reference run (c).
    from seglib import settings
    from seglib.training import planning, reference

    def planned_steps(config):   # on the default dataset, whatever data this test session has
        images = config.data.train_count or settings.DEFAULT_SYNTH["train"]
        return config.train.epochs * planning.steps_per_epoch(config, images)

    chosen = reference.optimizer_config("weight-decay")
    measured = planning.weight_decay_factor(chosen, planned_steps(chosen))
    assert measured < 0.9   # the chosen value acts: the decay alone takes a tenth off a kernel or more
    for name in ("lecture", "course"):
        factor = planning.weight_decay_factor(get_preset(name), planned_steps(get_preset(name)))
        assert math.log(factor) == pytest.approx(math.log(measured), rel=0.1), name


def test_json_round_trip(tmp_path):
    config = get_preset("lecture").with_overrides({"train.epochs": 2, "model.atrous_rates": "2,4,6"})
    config.save(tmp_path / "config.json")
    loaded = RunConfig.load(tmp_path / "config.json")
    assert loaded == config and loaded.model.atrous_rates == (2, 4, 6)
    assert json.loads((tmp_path / "config.json").read_text())["train"]["epochs"] == 2


def test_overrides_coerce_cli_strings():
    config = get_preset("lecture").with_overrides({
        "train.epochs": "5", "train.learning_rate": "1e-4", "data.augment": "false",
        "model.width": "0.5", "train.batch_size": None})
    assert config.train.epochs == 5 and config.train.learning_rate == 1e-4
    assert config.data.augment is False and config.model.width == 0.5
    assert config.train.batch_size == get_preset("lecture").train.batch_size


@pytest.mark.parametrize("overrides, message", [
    ({"train.epochs": 0}, "train.epochs must be at least 1"),
    ({"train.batch_size": -4}, "train.batch_size must be at least 1"),
    ({"train.learning_rate": 0}, "train.learning_rate must be between"),
    ({"train.learning_rate": "fast"}, "wrong type"),
    ({"model.image_size": 100}, "multiple of the output stride 16"),
    ({"model.backbone": "vgg"}, "model.backbone must be one of"),
    ({"train.optimizer": "sgd"}, "train.optimizer must be one of"),
    ({"train.epochs": 2.5}, "wrong type"),
    ({"train.nonsense": 1}, "Unknown config field 'train.nonsense'"),
    ({"optim.lr": 1}, "Unknown config section"),
])
def test_bad_values_raise_clear_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_preset("lecture").with_overrides(overrides)


def test_config_json_with_wrong_types_is_a_config_error(tmp_path):
    raw = get_preset("lecture").to_dict()
    raw["train"]["epochs"] = "many"
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="train.epochs"):
        RunConfig.load(tmp_path / "config.json")
    (tmp_path / "broken.json").write_text('{"preset": "lec')
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.load(tmp_path / "broken.json")


def test_unknown_preset_lists_valid_names():
    with pytest.raises(KeyError, match="lecture, course, keras-example"):
        get_preset("huge")


def test_field_names_cover_every_section():
    names = field_names()
    assert "learning_rate" in names["train"] and "image_size" in names["model"]
    assert "root" in names["data"]


def test_set_items_become_dotted_overrides_and_a_missing_equals_sign_is_an_error():
    from seglib.config import parse_overrides

    assert parse_overrides([" model.width = 0.5", "train.epochs=3"]) == {"model.width": "0.5", "train.epochs": "3"}
    assert parse_overrides(None) == {}
    for item in ("train.epochs", "=3"):
        with pytest.raises(ConfigError, match="--set needs SECTION.FIELD=VALUE"):
            parse_overrides([item])


# -- config.json versions (issue 23 §2) ------------------------------------------------

def _saved(tmp_path, raw):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_saved_config_carries_the_version_that_wrote_it(tmp_path):
    from seglib.config import CONFIG_VERSION

    get_preset("lecture").save(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["version"] == CONFIG_VERSION


@pytest.mark.parametrize("field", ["model.image_size", "train.learning_rate", "data.root", "preset"])
def test_a_field_missing_from_a_saved_config_is_named_not_filled_with_a_default(tmp_path, field):
    raw = json.loads(get_preset("lecture").with_overrides({"model.image_size": 160}).to_json())
    section, _, name = field.rpartition(".")
    del (raw[section] if section else raw)[name]
    with pytest.raises(ConfigError, match=f"config.json has no {field}"):
        RunConfig.load(_saved(tmp_path, raw))


def test_a_config_without_a_version_is_version_1_and_its_missing_fields_take_that_versions_values(tmp_path):
    from seglib.config import VERSION_DEFAULTS

    raw = get_preset("lecture").to_dict()  # no "version": written before configs had one
    for field in VERSION_DEFAULTS[1]:
        section, name = field.split(".")
        del raw[section][name]
    loaded = RunConfig.load(_saved(tmp_path, raw))
    assert loaded.model.separable is False and loaded.model.upsample_logits is False
    assert loaded.train.freeze_backbone_epochs == 0 and loaded.train.loss == "cross-entropy"
    assert loaded.model.image_size == 160  # what the file says, never a default
    del raw["model"]["image_size"]  # existed in every version 1 config
    with pytest.raises(ConfigError, match="config.json has no model.image_size"):
        RunConfig.load(_saved(tmp_path, raw))


def test_the_shipped_reference_runs_load_as_version_1():
    from seglib.training.runs import folders

    for folder in sorted(folders.REFERENCE_DIR.iterdir()):
        assert "version" not in json.loads((folder / "config.json").read_text())
        assert RunConfig.load(folder / "config.json").model.image_size == 160


@pytest.mark.parametrize("change", ["version", "field", "section"])
def test_a_config_from_a_newer_version_says_so_and_not_that_it_is_damaged(tmp_path, change):
    from seglib.config import CONFIG_VERSION
    from seglib.errors import NewerConfigError

    raw = json.loads(get_preset("lecture").to_json())
    if change == "version":
        raw["version"] = CONFIG_VERSION + 1
    elif change == "field":
        raw["train"]["warmup_epochs"] = 2
    else:
        raw["export"] = {"onnx": True}
    with pytest.raises(NewerConfigError, match="written by a newer version of the project") as caught:
        RunConfig.load(_saved(tmp_path, raw))
    assert "damaged" not in str(caught.value)


@pytest.mark.parametrize("version", [0, -1, "2", 2.5, True, None])
def test_an_impossible_version_is_a_damaged_config(tmp_path, version):
    raw = json.loads(get_preset("lecture").to_json())
    raw["version"] = version
    with pytest.raises(ConfigError, match="version"):
        RunConfig.load(_saved(tmp_path, raw))


def test_a_saved_models_config_is_read_by_version_1s_rules():
    from seglib.config import model_config_from_saved

    raw = get_preset("lecture").to_dict()["model"]
    del raw["upsample_logits"]  # a checkpoint from before the field: the example's order, as then
    assert model_config_from_saved(raw, "best.keras").upsample_logits is False
    del raw["image_size"]
    with pytest.raises(ConfigError, match="best.keras has no model.image_size"):
        model_config_from_saved(raw, "best.keras")
