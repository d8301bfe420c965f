"""Paths, data roots and atomic writes."""

import os

import pytest

from seglib import io, settings
from seglib.errors import PathNotAllowedError


def test_data_path_inside_root_is_allowed(data_root):
    (data_root / "mine").mkdir(exist_ok=True)
    assert settings.check_data_path("mine") == (data_root / "mine").resolve()
    assert settings.check_data_path(data_root / "mine") == (data_root / "mine").resolve()


@pytest.mark.parametrize("path", ["/etc", "../../etc", "mine/../../.."])
def test_paths_outside_the_roots_are_refused(data_root, path):
    with pytest.raises(PathNotAllowedError, match="outside the allowed data roots"):
        settings.check_data_path(path)


def test_symlink_leading_outside_is_refused(data_root, tmp_path):
    link = data_root / "escape"
    if not link.exists():
        os.symlink(tmp_path, link)
    with pytest.raises(PathNotAllowedError):
        settings.check_data_path("escape")


def test_display_path_never_shows_absolute_server_paths(data_root):
    shown = settings.display_path(data_root / "synthetic")
    assert not os.path.isabs(shown) and shown.endswith("synthetic")


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "progress.json"
    io.atomic_write_json(target, {"epoch": 1})

    def broken_writer(tmp):
        tmp.write_text('{"epoch": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        io.atomic_write(target, broken_writer)
    assert io.read_json(target) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # no temp files left


def test_read_json_default_for_missing_or_broken(tmp_path):
    assert io.read_json(tmp_path / "missing.json", default={}) == {}
    (tmp_path / "half.json").write_text('{"a": 1')
    assert io.read_json(tmp_path / "half.json") is None
