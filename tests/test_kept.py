"""Results kept on disk across restarts (``ui.kept``): read back instead of computed, keyed on the arguments
(not the underscore ones), never kept when ``keep_if`` says no, and recomputed from a damaged file; the one
model key (``ui.models.model_key``) that every cache of a model's results uses."""

from __future__ import annotations

import pandas as pd

from ui import kept


def _counting(name: str, keep_if=None):
    calls = []

    @kept.on_disk(name, keep_if=keep_if)
    def table(key: str, stamp: tuple, _model=None) -> pd.DataFrame:
        calls.append((key, stamp))
        frame = pd.DataFrame({"class": ["Face", "Hair"], "IoU": [0.5, float(len(calls))]})
        frame.attrs["images"] = 16
        return frame

    return table, calls


def test_a_kept_result_is_read_back_not_computed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_CACHE_DIR", str(tmp_path))
    table, calls = _counting("test_table")
    first = table("demo", (1, 2), _model=object())
    again = table("demo", (1, 2), _model=object())  # another model object: not part of the key
    assert len(calls) == 1 and again.equals(first) and again.attrs == {"images": 16}
    assert table("demo", (1, 3)).iloc[1, 1] == 2.0  # the file changed (another stamp): computed again
    assert len(calls) == 2
    # a restart: a fresh function object with the same name reads the same file
    restarted, restarted_calls = _counting("test_table")
    assert restarted("demo", (1, 2)).equals(first) and not restarted_calls


def test_keep_if_and_a_damaged_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_CACHE_DIR", str(tmp_path))
    table, calls = _counting("test_untrained", keep_if=lambda arguments: arguments["stamp"])
    table("untrained:lecture", ())
    table("untrained:lecture", ())
    assert len(calls) == 2 and not (tmp_path / "kept").exists()  # random weights: never kept
    table("demo", (5,))
    path = kept.path_for("test_untrained", {"key": "demo", "stamp": (5,), "_model": None})
    assert path.is_file()
    path.write_bytes(b"not a pickle")
    assert table("demo", (5,)).iloc[1, 1] == 4.0 and len(calls) == 4  # damaged: computed again, rewritten
    assert table("demo", (5,)).iloc[1, 1] == 4.0 and len(calls) == 4


def test_the_key_changes_with_the_code(monkeypatch):
    path = kept.path_for("test_code", {"key": "demo"})
    assert path == kept.path_for("test_code", {"key": "demo", "_model": 1})
    monkeypatch.setattr(kept, "code_digest", lambda: "another version of seglib")
    assert kept.path_for("test_code", {"key": "demo"}) != path


def test_one_model_key_for_every_cache(tmp_path):
    from ui import models

    checkpoint = tmp_path / "model.keras"
    checkpoint.write_bytes(b"weights")
    run = models.ModelChoice(models.ModelRef.run("r1"), "Run: r1", checkpoint)
    key = models.model_key(run)
    assert key[0] == "run:r1" and key[1:] == run.stamp and models.keeps_on_disk(key)
    assert models.model_key(run, object()) == key  # a file's version names it, not the loaded object
    checkpoint.write_bytes(b"other weights")
    assert models.model_key(run) != key  # a new checkpoint: every cache computes again
    checkpoint.unlink()
    assert not models.keeps_on_disk(models.model_key(run))  # no file, no version: never kept
    untrained = models.untrained_choice("lecture")
    model = object()
    assert models.model_key(untrained) == ("untrained:lecture", None)
    assert models.model_key(untrained, model, 96) == ("untrained:lecture", 96, id(model))
    assert not models.keeps_on_disk(models.model_key(untrained, model, 96))  # random weights: never kept


def test_an_upgraded_library_is_not_served_a_result_kept_by_the_old_one(monkeypatch):
    """Kept logits and loss tables depend on TensorFlow, Keras and NumPy, not only on the sources."""
    from importlib import metadata

    from ui import kept

    kept.code_digest.cache_clear()
    before = kept.code_digest()
    installed = metadata.version
    monkeypatch.setattr(metadata, "version",
                        lambda name: "0.0.0-upgraded" if name == "keras" else installed(name))
    kept.code_digest.cache_clear()
    try:
        assert kept.code_digest() != before
    finally:
        monkeypatch.undo()
        kept.code_digest.cache_clear()
    assert kept.code_digest() == before
