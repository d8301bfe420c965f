"""Bad input, one case per kind: every odd file or value a student can give.

Each case checks the seglib-level outcome (a typed ``SeglibError`` with a
message that names the problem, or the file skipped and reported as a
``Problem``), and, where the input reaches a page (dataset folder choice,
checkpoint choice), that the page shows ``st.error``/``st.warning`` and no
exception. A snapshot of the data folder before and after shows that nothing
outside ``runs/`` and the cache was written or deleted.

Files are tiny (<= 64 px) except the deliberate 10,000 x 10,000 PNG of one
colour (about 100 kB on disk), which the reader must refuse from its header.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from seglib.data import dataset as ds
from seglib.data import images, masks
from seglib.data.layout import Pair
from seglib.evaluation import evaluate
from seglib.training import scheduler
from seglib.training.runs import files, folders, readers, state
from seglib import settings
from seglib.classes import IGNORE_LABEL
from seglib.config import RunConfig
from seglib.presets import get_preset
from seglib.errors import (ConfigError, DatasetError, ImageReadError, ModelError, PathNotAllowedError,
                           RunError, SeglibError)

from apptest_support import bug_free, open_app
from image_support import encoded, one_bit_png, write_image
from markdown_check import plain

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _image(size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(size)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def _mask(size: int = 16, value: int = 1) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = value
    return mask


def _plain(root: Path, count: int = 2) -> Path:
    """A small plain-layout dataset (images/ + masks/) with ``count`` good pairs."""
    for index in range(count):
        write_image(root / "images" / f"good{index}.jpg", _image())
        write_image(root / "masks" / f"good{index}.png", _mask())
    return root


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and mtime (symlinks not followed)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            info = path.lstat()
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return found


def _kinds(dataset) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {}
    for problem in dataset.problems:
        kinds.setdefault(problem.kind, []).append(problem.path)
    return kinds


@pytest.fixture()
def folder(data_root, request):
    """A fresh dataset folder under the data root; the data root's snapshot is
    compared afterwards: only this folder's own files (made by the test) may differ."""
    root = data_root / f"bad-{request.node.name[:40].replace('[', '-').replace(']', '')}"
    yield root
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def _unchanged(root: Path, action) -> object:
    """Run ``action()`` and assert no file under ``root`` was written or deleted."""
    before = _snapshot(root)
    result = action()
    assert _snapshot(root) == before
    return result


# ---------------------------------------------------------------------------
# single image files
# ---------------------------------------------------------------------------

def test_truncated_jpeg(tmp_path):
    data = encoded(_image(64), ".jpg")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    try:
        image = images.read_image(path)  # libjpeg may fill the missing rows: still a valid image
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    except ImageReadError as error:
        assert "cut.jpg" in str(error)


def test_jpeg_cut_inside_the_header(tmp_path):
    data = encoded(_image(64), ".jpg")
    path = tmp_path / "head.jpg"
    path.write_bytes(data[:40])
    with pytest.raises(ImageReadError, match="head.jpg.*corrupt"):
        images.read_image(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.jpg is empty"):
        images.read_image(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my lecture notes, not a photo\n" * 20)
    with pytest.raises(ImageReadError, match="notes.jpg.*not an image"):
        images.read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="gone.jpg does not exist"):
        images.read_image(tmp_path / "gone.jpg")


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    array = np.full((8, 8, 3), 65535, np.uint16)
    array[0, 0] = 256
    image, notes = images.read_image_with_notes(write_image(tmp_path / "deep.png", array))
    assert image.dtype == np.uint8 and image[1, 1].tolist() == [255, 255, 255] and image[0, 0].tolist() == [1, 1, 1]
    assert "16-bit scaled to 8-bit" in notes


def test_rgba_with_transparency_is_composited_on_white(tmp_path):
    array = np.zeros((8, 8, 4), np.uint8)  # black, fully transparent
    image, notes = images.read_image_with_notes(write_image(tmp_path / "alpha.png", array))
    assert image.shape == (8, 8, 3) and (image == 255).all()
    assert "transparency composited on white" in notes


def test_grayscale_is_replicated_to_rgb(tmp_path):
    image, notes = images.read_image_with_notes(write_image(tmp_path / "grey.png", np.full((8, 8), 77, np.uint8)))
    assert image.shape == (8, 8, 3) and (image == 77).all()
    assert "grayscale replicated to RGB" in notes


def test_one_pixel_image_is_read_and_predicted_at_its_size(tmp_path):
    image = images.read_image(write_image(tmp_path / "dot.png", np.full((1, 1, 3), 9, np.uint8)))
    assert image.shape == (1, 1, 3)
    image, mask = ds.resize_pair(image, np.zeros((1, 1), np.uint8), 64)
    assert image.shape == (64, 64, 3) and mask.shape == (64, 64)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_ten_thousand_pixel_square_is_refused_from_its_header(tmp_path):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(path)  # one colour: ~100 kB on disk, 100 Mpx decoded
    assert path.stat().st_size < 2_000_000
    with pytest.raises(ImageReadError, match=r"huge.png is 10000 x 10000 pixels.*megapixels"):
        images.read_image(path)
    with pytest.raises(ImageReadError, match="10000"):
        evaluate.read_image_bytes(path.read_bytes(), "huge.png")


# ---------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------

def test_mask_labels_255_and_40_become_ignore_and_are_counted(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[0, :4] = 255
    mask[1, :3] = 40
    mask[2, 0] = 19
    details = masks.read_mask_details(write_image(tmp_path / "m.png", mask), 20)
    read, bad = details.ids, details.bad
    assert (read[0, :4] == IGNORE_LABEL).all() and (read[1, :3] == IGNORE_LABEL).all() and read[2, 0] == 19
    assert bad == 3  # 40 is out of range (counted); 255 already is the ignore label

    root = _plain(tmp_path / "labels", 1)
    write_image(root / "images" / "odd.jpg", _image(8))
    write_image(root / "masks" / "odd.png", mask)
    report = ds.check_dataset(root)
    bad_labels = [p for p in report.problems if p.kind == "bad-labels"]
    assert len(bad_labels) == 1 and "3 pixels" in bad_labels[0].message and not bad_labels[0].skipped
    assert len(report.dataset.split("train")) == 2


def test_mask_of_another_size_than_its_image(tmp_path):
    root = _plain(tmp_path / "sizes", 1)
    write_image(root / "images" / "wide.jpg", _image(16))
    write_image(root / "masks" / "wide.png", _mask(12))
    report = ds.check_dataset(root)
    assert [p.path for p in report.problems if p.kind == "size-mismatch"] == ["images/wide.jpg"]
    assert [p.stem for p in report.dataset.split("train")] == ["good0"]
    pair = Pair("wide", root / "images" / "wide.jpg", root / "masks" / "wide.png")
    with pytest.raises(ImageReadError, match="wide.jpg is 16x16 px but its mask wide.png is 12x12"):
        ds.load_pair(pair)


# ---------------------------------------------------------------------------
# dataset folders
# ---------------------------------------------------------------------------

def test_unpaired_files_are_skipped_and_reported(folder):
    _plain(folder, 2)
    write_image(folder / "images" / "alone.jpg", _image())
    write_image(folder / "masks" / "orphan.png", _mask())
    dataset = _unchanged(folder, lambda: ds.open_dataset(folder))
    kinds = _kinds(dataset)
    assert kinds["unpaired-image"] == ["images/alone.jpg"] and kinds["unpaired-mask"] == ["masks/orphan.png"]
    assert len(dataset.split("train")) == 2


def test_unicode_and_spaces_in_names(folder):
    name = "Zoë et Ça va 写真 1"
    write_image(folder / "images" / f"{name}.jpg", _image())
    write_image(folder / "masks" / f"{name}.png", _mask())
    dataset = ds.open_dataset(folder)
    (pair,) = dataset.split("train")
    image, mask = ds.load_pair(pair, size=32)
    assert pair.stem == name and image.shape == (32, 32, 3) and mask.max() == 1


def test_zero_byte_and_text_files_inside_a_dataset(folder):
    _plain(folder, 2)
    (folder / "images" / "zero.jpg").write_bytes(b"")
    write_image(folder / "masks" / "zero.png", _mask())
    (folder / "images" / "text.jpg").write_text("hello")
    write_image(folder / "masks" / "text.png", _mask())
    report = _unchanged(folder, lambda: ds.check_dataset(folder))
    kinds = _kinds(report.dataset)
    assert kinds["empty-file"] == ["images/zero.jpg"] and kinds["unreadable"] == ["images/text.jpg"]
    assert sorted(p.stem for p in report.dataset.split("train")) == ["good0", "good1"]
    assert "zero.jpg" in report.format() and str(folder.parent) not in report.format()


def test_symlink_loop_in_the_data_folder(folder):
    _plain(folder, 2)
    os.symlink("loop", folder / "images" / "loop")  # a link to itself
    os.symlink(folder, folder / "images" / "up")  # a link back to the root (a directory cycle)
    os.symlink("a.jpg", folder / "images" / "b.jpg")
    os.symlink("b.jpg", folder / "images" / "a.jpg")  # two links pointing at each other
    dataset = _unchanged(folder, lambda: ds.open_dataset(folder))
    assert sorted(p.stem for p in dataset.split("train")) == ["good0", "good1"]
    assert {"images/a.jpg", "images/b.jpg"} <= {p.path for p in dataset.problems}
    with pytest.raises(PathNotAllowedError, match="Cannot resolve"):
        settings.check_data_path(folder / "images" / "loop" / "x")


def test_a_folder_with_nothing_usable(folder):
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    (folder / "images" / "x.jpg").write_text("not an image")
    write_image(folder / "masks" / "x.png", _mask())
    with pytest.raises(DatasetError, match="No usable image/mask pairs.*unreadable") as caught:
        ds.open_dataset(folder, deep=True)
    assert caught.value.problems  # the page can list them


def test_a_folder_without_any_layout(folder):
    folder.mkdir(parents=True)
    (folder / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match="No dataset found.*readme.txt.*Expected"):
        ds.open_dataset(folder)


def test_a_data_path_outside_the_allowed_roots(tmp_path):
    with pytest.raises(PathNotAllowedError, match="outside the allowed data roots"):
        settings.check_data_path(tmp_path)
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path("/etc")


def test_dot_dot_in_a_name(data_root):
    with pytest.raises(PathNotAllowedError, match="outside the allowed data roots"):
        settings.check_data_path("../../etc")
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path(data_root / "synthetic" / ".." / ".." / "runs")
    for bad in ("../x", "a/../../b", "..", "/tmp"):
        with pytest.raises(RunError):
            folders.run_dir(bad)


def test_a_symlink_leading_outside_the_roots(folder, tmp_path):
    folder.mkdir(parents=True)
    os.symlink(tmp_path, folder / "escape")
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path(folder / "escape")


# ---------------------------------------------------------------------------
# uploads
# ---------------------------------------------------------------------------

def test_upload_over_the_size_limit():
    data = encoded(_image(16))
    with pytest.raises(ImageReadError, match="photo.png is .* MB; upload an image under"):
        evaluate.read_image_bytes(data + b"\0" * 2048, "photo.png", max_bytes=1024)
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "maxUploadSize = 20" in config and evaluate.MAX_UPLOAD_BYTES == 20 * 1024 * 1024


def test_upload_that_is_not_an_image_or_empty():
    with pytest.raises(ImageReadError, match="evil.png cannot be decoded"):
        evaluate.read_image_bytes(b"<?php system($_GET['c']); ?>", "evil.png")
    with pytest.raises(ImageReadError, match="empty"):
        evaluate.read_image_bytes(b"", "nothing.jpg")
    # The name is only ever shown, never used as a path.
    with pytest.raises(ImageReadError, match="passwd cannot be decoded"):
        evaluate.read_image_bytes(b"xx", "../../etc/passwd")


def test_upload_size_check_uses_the_dataset_readers_declared_size(monkeypatch):
    # One header reader for datasets and uploads (evaluate had its own copy, which said
    # "2147483648 x 1 pixels" for every file Pillow refuses).
    monkeypatch.setattr(images, "declared_size", lambda data: (123_456, 7_890))
    with pytest.raises(ImageReadError, match="bomb.png is 123456 × 7890 pixels; upload an image of at most 40"):
        evaluate.read_image_bytes(one_bit_png(8, 8), "bomb.png")
    assert not hasattr(evaluate, "_declared_size")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_upload_names_its_real_size():
    data = one_bit_png(20_000, 20_000)  # 400 megapixels in ~50 kB; Pillow itself refuses to open it
    assert images.declared_size(data) == (20_000, 20_000)
    with pytest.raises(ImageReadError, match="bomb20000.png is 20000 × 20000 pixels"):
        evaluate.read_image_bytes(data, "bomb20000.png")


def test_upload_read_errors_pass_on_the_readers_own_words(monkeypatch):
    def refuse(data, name):
        raise ImageReadError(f"{name} is a 12-bit JPEG, which this reader cannot decode.")

    monkeypatch.setattr(images, "decode_image_with_notes", refuse)
    with pytest.raises(ImageReadError) as caught:
        evaluate.read_image_bytes(one_bit_png(8, 8), "scan.jpg")
    assert str(caught.value) == "scan.jpg is a 12-bit JPEG, which this reader cannot decode."


@pytest.mark.parametrize("extension", evaluate.UPLOAD_TYPES)
def test_every_accepted_upload_type_is_decoded(extension):
    import io

    from PIL import Image

    formats = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (10, 200, 30)).save(buffer, format=formats.get(extension, extension.upper()))
    image = evaluate.read_image_bytes(buffer.getvalue(), f"picture.{extension}")
    assert image.shape == (16, 24, 3) and image.dtype == np.uint8
    assert abs(int(image[8, 12, 1]) - 200) < 8  # green stays green (RGB order)


# ---------------------------------------------------------------------------
# checkpoints, configs and run files
# ---------------------------------------------------------------------------

def test_truncated_keras_checkpoint(tmp_path):
    from seglib.model.saving import load_model

    path = tmp_path / "cut.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}) * 50)
        archive.writestr("model.weights.h5", b"\0" * 4096)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelError, match="cut.keras is not a valid .keras file"):
        load_model(path)


@pytest.mark.slow
def test_corrupt_keras_checkpoint_that_is_a_zip(tmp_path):
    from seglib.model.saving import load_model

    path = tmp_path / "junk.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{not json")
    with pytest.raises(ModelError, match="Cannot load the model in .*junk.keras"):
        load_model(path)
    text = tmp_path / "text.keras"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a valid .keras file"):
        load_model(text)


def test_config_json_with_wrong_types(tmp_path, run_folder):
    raw = get_preset("lecture").to_dict()
    raw["train"]["epochs"] = "ten"
    with pytest.raises(ConfigError, match="epochs"):
        RunConfig.from_dict(raw)
    folder = run_folder("queued", "typed")
    bad = get_preset("lecture").to_dict()
    bad["model"]["image_size"] = [64]
    (folder / files.CONFIG_FILE).write_text(json.dumps(bad))
    with pytest.raises(RunError, match="image_size.*damaged"):
        state.training_config(folder)
    (folder / files.CONFIG_FILE).write_text("{\"model\": ")
    with pytest.raises(RunError, match="not valid JSON"):
        readers.read_config(folder)


def test_history_csv_cut_mid_line(run_folder):
    folder = run_folder("finished", "cut csv")
    header = ",".join(files.HISTORY_COLUMNS)
    row = ",".join(str(v) for v in [1, 0.9, 0.8, 0.5, 0.55, 0.1, 0.12, 0.01, 3.0])
    (folder / files.HISTORY_FILE).write_text(f"{header}\n{row}\n2,0.7,0.6,0.6")
    history = readers.read_history(folder)
    assert history["epoch"].tolist() == [1]
    (folder / files.HISTORY_FILE).write_bytes(b"\xff\xfe garbage \0\0\n1,2")
    with pytest.raises(readers.DamagedRunError, match="history.csv is damaged .*binary data"):
        readers.read_history(folder)
    assert next(info for info in state.list_runs() if info.id == folder.name).damaged  # listed, marked damaged


def test_damaged_progress_json_reads_as_failed(run_folder):
    folder = run_folder("queued", "bad progress")
    (folder / files.PROGRESS_FILE).write_text("{\"status\": \"runn")
    progress = state.run_state(folder.name)
    assert progress["status"] == "failed" and "damaged" in progress["message"]


@pytest.mark.parametrize("override", [
    {"train.epochs": 0}, {"train.epochs": -3}, {"train.batch_size": 0}, {"train.learning_rate": 0.0},
    {"train.learning_rate": -0.1}, {"model.image_size": 0}, {"model.image_size": -64},
])
def test_zero_or_negative_hyperparameters(override):
    (key, value), = override.items()
    with pytest.raises(ConfigError, match=rf"{key.split('.')[1]}.*Received"):
        get_preset("lecture").with_overrides(override)


def test_an_image_size_the_model_cannot_take():
    from seglib.model.deeplab import build_model

    with pytest.raises(ConfigError, match="multiple of the output stride 16.*image_size=100; try 96"):
        get_preset("lecture").with_overrides({"model.image_size": 100})
    import copy

    broken = copy.copy(get_preset("lecture").model)
    object.__setattr__(broken, "image_size", 72)  # bypass the frozen dataclass: as a hand-edited file would
    with pytest.raises(ConfigError, match="multiple of the output stride"):
        build_model(broken)


def test_a_wrong_type_hyperparameter_from_a_form():
    with pytest.raises(ConfigError, match="Received"):
        get_preset("lecture").with_overrides({"train.batch_size": "eight"})
    with pytest.raises(ConfigError, match="Unknown config field"):
        get_preset("lecture").with_overrides({"train.epoch": 3})


def test_a_bad_run_id_and_a_missing_run(runs_root):
    with pytest.raises(RunError):
        state.run_state("no-such-run")
    with pytest.raises(RunError):
        scheduler.delete_run("../data")
    with pytest.raises(SeglibError):
        scheduler.start_run(get_preset("lecture").with_overrides({"data.root": "/etc"}))


# ---------------------------------------------------------------------------
# pages: the same inputs through the UI (AppTest, real page scripts)
# ---------------------------------------------------------------------------

def _app(**query):
    """The dashboard with URL ``query``, not yet run, after forgetting the folder listings cached
    by earlier tests (AppTest runs in this process; the caches expire after seconds)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    return open_app(query=query, run=False)


def _no_traceback(at) -> None:
    bug_free(at)
    assert not [e.value for e in at.error if "Traceback" in e.value]


@pytest.mark.slow
def test_page_shows_a_dataset_folder_with_bad_files_as_problems(tiny_dataset, data_root):
    root = data_root / "messy"
    _plain(root, 3)
    (root / "images" / "zero.jpg").write_bytes(b"")
    (root / "images" / "text.jpg").write_text("not a photo")
    write_image(root / "masks" / "text.png", _mask())
    write_image(root / "images" / "alone.jpg", _image())
    os.symlink("loop", root / "images" / "loop.jpg")
    before = _snapshot(data_root)
    try:
        at = _app(dataset="messy")
        at.run()
        assert at.sidebar.selectbox[0].value == "messy"
        at.switch_page("pages/dataset.py").run()
        _no_traceback(at)
        shown = "\n".join(str(e.label) for e in at.expander)
        assert "problem" in shown
        table = next(e for e in at.expander if "problem" in e.label).dataframe[0].value.to_string()
        assert "alone" in table and "zero" in table
        assert str(data_root) not in table
        assert _snapshot(data_root) == before
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_page_refuses_an_unusable_dataset_folder_with_a_message(tiny_dataset, data_root):
    root = data_root / "hollow"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "images" / "x.jpg").write_bytes(b"")
    try:
        at = _app(dataset="hollow")
        at.run()
        at.switch_page("pages/dataset.py").run()
        _no_traceback(at)
        messages = [e.value for e in at.error] + [w.value for w in at.warning]
        assert messages, "the page must say why the dataset cannot be used"
        assert not any(str(data_root) in m for m in messages)
        # Another student's session on the default dataset is unaffected.
        other = _app()
        other.run()
        assert other.sidebar.selectbox[0].value == "synthetic"
        other.switch_page("pages/dataset.py").run()
        _no_traceback(other)
        assert not other.error
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_page_shows_a_corrupt_checkpoint_choice_as_an_error(tiny_dataset, runs_root):
    folder = folders.create_run(get_preset("lecture").with_overrides({"model.image_size": 64}), name="corrupt ckpt",
                                status="finished")
    (folder / "best.keras").write_bytes(b"PK\x03\x04 truncated")
    try:
        at = _app(model=f"run:{folder.name}")
        at.run()
        at.switch_page("pages/predictions.py").run()
        _no_traceback(at)
        messages = [plain(e.value) for e in at.error] + [plain(w.value) for w in at.warning]
        assert any("best.keras" in m for m in messages), messages
        assert not any(str(runs_root) in m for m in messages)
    finally:
        scheduler.delete_run(folder.name)


@pytest.mark.slow
def test_a_dataset_being_regenerated_says_so_while_it_is_written(tiny_dataset, data_root):
    """The Dataset explorer is opened while the synthetic generator writes the folder (from its
    progress callback, between two chunks): the page says the dataset is being written, not that
    the folder has no usable pairs or the wrong layout."""
    from seglib.data.synth import generate_dataset

    root = data_root / "regenerating"
    generate_dataset(root, train=4, val=2, size=32, seed=1)
    seen = []

    def open_the_page(done: int, total: int) -> None:
        if seen:
            return
        with pytest.raises(DatasetError, match="is being written by the synthetic generator"):
            ds.open_dataset(root)
        at = _app(dataset="regenerating")
        at.run()
        at.switch_page("pages/dataset.py").run()
        _no_traceback(at)
        seen.append([plain(e.value) for e in at.error])

    try:
        generate_dataset(root, train=4, val=2, size=48, seed=1, workers=1, progress=open_the_page)  # new size
        assert len(seen) == 1 and any(
            "The dataset 'regenerating' is being written by the synthetic generator right now" in message
            and "reload the page" in message for message in seen[0]), seen
        assert not any("Expected either the CIHP layout" in message for message in seen[0])
        assert ds.open_dataset(root).counts() == {"train": 4, "val": 2}  # finished: readable again
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_folder_with_decomposed_accents_is_named_in_the_link_as_typed(tiny_dataset, data_root):
    """macOS writes "é" as "e" + a combining accent; a link, a keyboard and another tool write one
    character. Both name the same dataset, and an image pairs with its mask across the two forms."""
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "café")
    root = _plain(data_root / decomposed, 2)
    (root / "images" / "good0.jpg").rename(root / "images" / unicodedata.normalize("NFC", "thé.jpg"))
    (root / "masks" / "good0.png").rename(root / "masks" / unicodedata.normalize("NFD", "thé.png"))
    try:
        assert ds.open_dataset(root).counts() == {"train": 2, "val": 0}  # thé.jpg pairs with thé.png
        at = _app(dataset="café")  # as typed: one character
        at.run()
        _no_traceback(at)
        assert at.sidebar.selectbox[0].value == "café"
        assert not [w.value for w in at.warning if "named in the link" in w.value]
        assert "2 train images" in "\n".join(m.value for m in at.markdown)  # Home shows the opened dataset
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_one_count_of_usable_pairs_on_the_pages_in_data_check_and_for_training(tiny_dataset, data_root, capsys):
    """Nine pairs by name, two of whose masks are refused when read, and an image without a mask:
    `data check`, the pages and the training worker all count the seven usable pairs."""
    from seglib.cli.main import main
    from seglib.training import splits

    root = _plain(data_root / "counted", 9)
    for index in (3, 7):  # every pixel the ignore label: refused when read
        write_image(root / "masks" / f"good{index}.png", np.full((16, 16), IGNORE_LABEL, np.uint8))
    write_image(root / "images" / "alone.jpg", _image())
    try:
        assert main(["data", "check", str(root)]) == 0
        assert "  train: 7 usable pairs" in capsys.readouterr().out
        config = get_preset("lecture").with_overrides({"data.root": "counted", "data.val_count": 0})
        train_pairs, val_pairs, _ = splits.split_pairs(config)
        assert len(train_pairs) + len(val_pairs) == 7
        at = _app(dataset="counted")
        at.run()
        _no_traceback(at)
        shown = "\n".join(m.value for m in at.markdown)
        assert "7 train images" in shown and "9 train images" not in shown
        assert "3 files or pairs were skipped" in "\n".join(w.value for w in at.warning)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
