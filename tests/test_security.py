"""Security on a shared machine: data roots, uploads, safe model loading,
destructive actions confined to ``runs/``, no server paths shown to students.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest

from seglib.evaluation import evaluate

from seglib.training import scheduler
from seglib.training.runs import folders, state

from seglib import settings
from seglib.presets import get_preset
from seglib.errors import DatasetError, ImageReadError, ModelError, PathNotAllowedError, RunError

from conftest import APPTEST_TIMEOUT  # the same module pytest loaded

ROOT = Path(__file__).resolve().parent.parent


def _app(script: str = "dashboard.py", **query):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()  # listings cached by earlier tests in this process
    at = AppTest.from_file(str(ROOT / script), default_timeout=APPTEST_TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = str(value)
    return at


def _all_text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [e.value for e in at.info] + [e.value for e in at.error] + [e.value for e in at.warning]
    parts += [str(o) for box in at.selectbox for o in box.options]
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------------------
# data roots: one documented setting, nothing outside can be listed or read
# ---------------------------------------------------------------------------

def test_data_roots_come_from_one_documented_setting(tmp_path, monkeypatch):
    assert "SEGLIB_DATA_ROOTS" in settings.__doc__
    monkeypatch.delenv("SEGLIB_DATA_ROOTS")
    assert settings.data_roots() == [settings.PROJECT_ROOT / "data"]  # default: the project's data folder
    monkeypatch.setenv("SEGLIB_DATA_ROOTS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert settings.data_roots() == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]
    assert settings.check_data_path(tmp_path / "b" / "set") == (tmp_path / "b" / "set").resolve()
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path(tmp_path / "c")


@pytest.mark.parametrize("outside", ["/etc", "/", "~", "../..", "synthetic/../../..", "/proc/self"])
def test_nothing_outside_the_roots_can_be_opened(tiny_dataset, outside):
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path(outside)


@pytest.mark.slow
def test_the_sidebar_never_offers_or_opens_a_folder_outside_the_roots(tiny_dataset, data_root, tmp_path):
    # A dataset outside the roots, reachable through a symlink placed inside them.
    outside = tmp_path / "private"
    (outside / "images").mkdir(parents=True)
    (outside / "masks").mkdir()
    link = data_root / "sneaky"
    os.symlink(outside, link)
    try:
        from ui import datasets

        datasets.refresh_dataset_options()
        offered = datasets.dataset_options()
        assert all(settings.check_data_path(path) for path in offered.values())
        assert "sneaky" not in offered
        with pytest.raises(PathNotAllowedError):
            datasets.load_dataset(link)

        for value in ("/etc", "../../etc", "sneaky", str(outside)):
            at = _app(dataset=value)
            at.run()
            assert not at.exception
            # Replaced by the default dataset, and the page says why (never with the path it was given).
            assert at.sidebar.selectbox[0].value == "synthetic" and not at.error
            notices = [w.value for w in at.warning if "named in the link was not opened" in w.value]
            assert len(notices) == 1 and "Showing `synthetic` instead" in notices[0], notices
            assert str(outside) not in _all_text(at) and "/etc" not in _all_text(at)
    finally:
        link.unlink()


# ---------------------------------------------------------------------------
# uploads: type and size limits in the config and in code
# ---------------------------------------------------------------------------

def test_upload_limits_in_the_streamlit_config_and_in_code():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == evaluate.MAX_UPLOAD_BYTES // (1024 * 1024) == 20
    # One accepted list in one upload widget (ui.uploads), one reader with its limits (predict_upload reads
    # through read_upload); the pages call that widget and nothing else offers image uploads.
    widget = (ROOT / "ui" / "uploads.py").read_text()
    assert "type=list(evaluate.UPLOAD_TYPES)" in widget and "evaluate.UPLOAD_TYPES_TEXT" in widget
    for name, parts, reader in (("predictions.py", "ui/predictions/view.py", "evaluate.predict_upload("),
                                ("atrous.py", "ui/atrous.py", "evaluate.read_upload(")):
        code = (ROOT / "pages" / name).read_text() + (ROOT / parts).read_text()
        assert "uploads.image_uploader(" in code and reader in code, name
        assert "tempfile" not in code and "read_image(" not in code, name
    uploaders = [str(path.relative_to(ROOT)) for folder in ("pages", "ui") for path in sorted((ROOT / folder).rglob("*.py"))
                 if "type=list(evaluate.UPLOAD_TYPES)" in path.read_text()]
    assert uploaders == ["ui/uploads.py"], uploaders
    assert "read_upload(" in inspect.getsource(evaluate.predict_upload)
    with pytest.raises(ImageReadError, match="under"):
        evaluate.read_image_bytes(b"\xff" * (evaluate.MAX_UPLOAD_BYTES + 1), "big.jpg")
    with pytest.raises(ImageReadError, match="megapixels"):
        from PIL import Image
        import io

        buffer = io.BytesIO()
        Image.new("L", (8000, 6000)).save(buffer, format="PNG")
        evaluate.read_image_bytes(buffer.getvalue(), "wide.png")
    with pytest.raises(ImageReadError, match="cannot be decoded"):
        evaluate.read_image_bytes(b"#!/bin/sh\nrm -rf /\n", "script.png")


# ---------------------------------------------------------------------------
# models: Keras safe mode, a .keras file cannot run code
# ---------------------------------------------------------------------------

def test_a_keras_file_with_lambda_code_is_refused_and_the_code_never_runs(tmp_path):
    from seglib._tf import keras
    from seglib.model.saving import load_model

    marker = tmp_path / "pwned.txt"
    payload = f"lambda x: (open({str(marker)!r}, 'w').write('code ran'), x)[1]"
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Lambda(eval(payload), name="evil")(inputs)  # noqa: S307 - the attack under test
    path = tmp_path / "evil.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once, here, on purpose
    with pytest.raises(ModelError, match="evil.keras.*(unsafe|safe_mode|Lambda)"):
        load_model(path)
    assert not marker.exists(), "loading the .keras file executed its code"


def test_load_model_uses_safe_mode():
    import inspect

    from seglib.model import saving as model_saving

    assert "safe_mode=True" in inspect.getsource(model_saving.load_model)


# ---------------------------------------------------------------------------
# destructive actions: confirmed, and only inside runs/
# ---------------------------------------------------------------------------

def test_delete_run_only_touches_the_runs_folder(runs_root, data_root, tiny_dataset, tmp_path):
    runs_root.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "progress.json").write_text(json.dumps({"status": "finished"}))
    (victim / "thesis.txt").write_text("do not delete")
    link = runs_root / "linked-run"
    os.symlink(victim, link)
    try:
        with pytest.raises(RunError):
            scheduler.delete_run("linked-run")
        for bad in ("..", "../data", "../../etc", str(victim), "synthetic/../..", ".scheduler.lock"):
            with pytest.raises(RunError):
                scheduler.delete_run(bad)
        assert (victim / "thesis.txt").read_text() == "do not delete"
        assert (tiny_dataset / ".complete").exists()
    finally:
        link.unlink()

    folder = folders.create_run(get_preset("lecture").with_overrides({"model.image_size": 64}), status="finished")
    scheduler.delete_run(folder.name)
    assert not folder.exists() and runs_root.exists()


def test_the_training_page_asks_for_confirmation_before_deleting():
    page = (ROOT / "ui" / "training" / "runs_table.py").read_text()
    assert "confirm_delete_" in page and "Tick the confirmation box first" in page


# ---------------------------------------------------------------------------
# no server paths shown to students
# ---------------------------------------------------------------------------

def test_messages_never_show_absolute_server_paths(tiny_dataset, data_root, runs_root, tmp_path):
    from seglib.data.dataset import check_dataset, open_dataset
    from seglib.model.saving import load_model

    messages = []
    for action in (lambda: open_dataset(data_root / "nope"),
                   lambda: load_model(runs_root / "x" / "best.keras"),
                   lambda: load_model(tiny_dataset / "human_colormap.mat"),
                   lambda: state.run_state("missing-run"),
                   lambda: settings.check_data_path(tmp_path / "elsewhere")):
        with pytest.raises((DatasetError, ModelError, RunError, PathNotAllowedError)) as caught:
            action()
        messages.append(str(caught.value))
    report = check_dataset(tiny_dataset).format()
    for text in [*messages, report]:
        for secret in (str(data_root), str(runs_root), str(settings.PROJECT_ROOT), str(tmp_path)):
            assert secret not in text, text
    assert settings.display_path(tiny_dataset / "Training") == f"{data_root.name}/synthetic/Training"
    assert not settings.display_path("/etc/passwd").startswith("/")


@pytest.mark.slow
def test_pages_show_no_server_paths(tiny_dataset, data_root, runs_root):
    at = _app()
    at.run()
    assert not at.exception
    for page in ("pages/dataset.py", "pages/training.py"):
        at.switch_page(page).run()
        assert not at.exception, page
        text = _all_text(at)
        for secret in (str(data_root), str(runs_root), str(settings.PROJECT_ROOT)):
            assert secret not in text, (page, secret)


# ---------------------------------------------------------------------------
# text from users: written into Markdown as text, cut when long
# ---------------------------------------------------------------------------

HOSTILE = "x` **bold** [link](http://evil.example) ![img](http://evil.example/i.png) `y $a$ :red[red]"


def test_user_strings_are_escaped_and_shortened_for_markdown():
    from markdown_check import inline_kinds, plain
    from ui import markdown as common

    for markdown in (common.md_text(HOSTILE), f"Run {common.md_code(HOSTILE)} was not found",
                     common.md_code("``a`b"), common.md_text("Training/Images/*.jpg and *.png")):
        assert inline_kinds(markdown) <= {"text", "code_inline", "softbreak"}, markdown
    assert plain(common.md_text(HOSTILE, limit=None)) == HOSTILE
    assert plain(common.md_code(HOSTILE, limit=200)) == HOSTILE
    assert plain(common.md_code("``a`b")) == "``a`b"
    assert plain(common.md_text("Training/Images/*.jpg and *.png")) == "Training/Images/*.jpg and *.png"
    # A recorded run's note may show a command as code; nothing else in it becomes Markdown.
    note = common.md_text_with_code("recorded by `python -m seglib demo-model`; see *assets*.", limit=200)
    assert inline_kinds(note) == {"text", "code_inline"}
    assert plain(note) == "recorded by python -m seglib demo-model; see *assets*."
    for hostile in (HOSTILE, HOSTILE + "`", "a `b` **c** `[d](http://evil.example)`"):
        assert inline_kinds(common.md_text_with_code(hostile, limit=500)) <= {"text", "code_inline", "softbreak"}
    assert plain(common.md_text_with_code(HOSTILE + "`", limit=500)) == HOSTILE + "`"  # odd: all text
    long = "a" * 20_000
    assert len(common.md_text(long)) == common.MAX_SHOWN_CHARS and common.md_text(long).endswith("…")
    assert "\n" not in common.md_text("two\n\n# lines") and plain(common.md_text("two\n\n# lines")) == "two  # lines"


def test_error_messages_keep_their_asterisks_and_lose_server_paths(tiny_dataset):
    from streamlit.testing.v1 import AppTest

    from markdown_check import plain

    def script():
        from ui import drawing as common
        from seglib.data.layout import EXPECTED_LAYOUT
        from seglib.errors import DatasetError
        from seglib.settings import PROJECT_ROOT

        common.show_error(DatasetError("x is not a dataset. " + EXPECTED_LAYOUT))
        common.show_error(FileNotFoundError(f"[Errno 2] No such file: '{PROJECT_ROOT / 'secret' / 'a.txt'}'"),
                          "Reading **it**")

    at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception
    shown = [plain(e.value) for e in at.error]
    assert "Training/Images/*.jpg with Training/Category_ids/*.png" in shown[0]
    assert shown[1].startswith("Reading **it**: something went wrong (FileNotFoundError")
    assert str(settings.PROJECT_ROOT) not in shown[1] and "secret/a.txt" in shown[1]
    details = "".join(c.value for c in at.code)
    assert str(settings.PROJECT_ROOT) not in details


def test_an_unexpected_error_shows_students_no_detail_and_logs_the_traceback_on_the_server(tiny_dataset,
                                                                                           monkeypatch, caplog):
    from streamlit.testing.v1 import AppTest

    def script():
        from ui import drawing

        def leak():
            raise FileNotFoundError("[Errno 2] No such file: 'secret-notes.txt'")

        with drawing.error_boundary("Reading the notes", stop=False):
            leak()
        drawing.guarded("A callback")(leak)()

    monkeypatch.setenv("SEGLIB_INSTRUCTOR_PASSCODE", "s3cret")
    with caplog.at_level("ERROR", logger="ui.errors"):
        at = AppTest.from_function(script, default_timeout=APPTEST_TIMEOUT).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"{lead}: something went wrong. This is a bug in the dashboard; please tell the instructor (the server's "
        "log has the details)." for lead in ("Reading the notes", "A callback")]
    assert not at.code and not at.expander  # no type, message or traceback for a student
    logged = [record for record in caplog.records if record.name == "ui.errors"]
    assert [record.getMessage() for record in logged] == ["Reading the notes: unexpected error",
                                                          "A callback: unexpected error"]
    assert all("secret-notes.txt" in caplog.text and record.exc_info for record in logged)


def test_streamlit_shows_an_error_no_page_caught_without_its_details():
    import tomllib

    from streamlit import config as streamlit_config

    value = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["client"]["showErrorDetails"]
    assert value == streamlit_config.ShowErrorDetailsConfigOptions.NONE.value  # generic text; traceback in the log


def test_scrub_paths_keeps_relative_paths_and_urls():
    from ui import drawing as common

    text = f"File \"{settings.PROJECT_ROOT / 'pages' / 'x.py'}\", /usr/lib/python3/os.py, http://a.b/c, 3/4, a/b/*.jpg"
    assert common.scrub_paths(text) == (f"File \"{settings.PROJECT_ROOT.name}/pages/x.py\", os.py, http://a.b/c, "
                                        "3/4, a/b/*.jpg")


@pytest.mark.parametrize("value, reason", [
    ("/etc", "not inside the folders"),
    ("../../etc", "not inside the folders"),
    ("synthetic/Training/Images/FIRST", "a file, not a dataset folder"),
    ("no-such-set", "there is no such dataset"),
    ("synthetic/Training", "it is a folder inside the dataset 'synthetic', which the sidebar offers as a whole"),
    ("../data/synthetic", "a link names a dataset by its name in the sidebar's list, not by a folder path; "
                          "this folder is the dataset 'synthetic'"),
    ("synthetic/Training/Images", "it is a folder inside the dataset 'synthetic'"),
])
@pytest.mark.slow
def test_a_refused_dataset_from_the_url_is_named_and_replaced(tiny_dataset, value, reason):
    from markdown_check import plain

    if "FIRST" in value:
        value = value.replace("FIRST", sorted(p.name for p in (tiny_dataset / "Training" / "Images").iterdir())[0])
    at = _app(dataset=value)
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "synthetic"
    warnings = [plain(w.value) for w in at.warning if "named in the link" in w.value]
    assert len(warnings) == 1 and reason in warnings[0] and "Showing synthetic instead" in warnings[0], warnings
    assert ("/etc" not in warnings[0]) and (value in warnings[0]) == (not value.startswith(("/", "..")))


@pytest.mark.slow
def test_a_model_from_the_url_that_is_not_offered_is_said_as_text(tiny_dataset):
    from markdown_check import inline_kinds, plain

    at = _app(model=f"run:{HOSTILE}")
    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning if "named in the link" in w.value]
    assert len(warnings) == 1, [w.value for w in at.warning]
    assert inline_kinds(warnings[0]) <= {"text", "code_inline", "softbreak"}, warnings[0]
    assert f"run:{HOSTILE}"[:40] in plain(warnings[0]) and "no finished run" in plain(warnings[0])
