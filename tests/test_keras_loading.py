"""A checkpoint opens the Keras way in a notebook: after ``import seglib`` (before or after Keras),
``keras.saving.load_model(path)`` works, and the light modules still never import TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seglib.model.saving import save_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory, build_tiny_model):
    model = build_tiny_model(aspp_filters=16, decoder_filters=16)
    path = tmp_path_factory.mktemp("checkpoint") / "best.keras"
    save_model(model, path, include_optimizer=False)
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.save(path.with_suffix(".npy"), np.asarray(model(images)))
    np.save(path.with_name("images.npy"), images)
    return path


def _python(code: str, timeout: float = 300) -> str:
    """What a fresh interpreter running ``code`` in the project prints (it must exit cleanly)."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("imports", ["import seglib, keras", "import keras, seglib"])
def test_load_model_works_after_import_seglib_in_either_order(saved, imports):
    code = (f"{imports}\nimport numpy as np\n"
            f"model = keras.saving.load_model({str(saved)!r})\n"
            f"out = np.asarray(model(np.load({str(saved.with_name('images.npy'))!r})))\n"
            f"np.testing.assert_allclose(out, np.load({str(saved.with_suffix('.npy'))!r}), rtol=1e-5, atol=1e-5)\n"
            "print(type(model).__name__, model.output_shape)")
    assert "DeepLabV3Plus (None, 64, 64, 20)" in _python(code)


@pytest.mark.slow
def test_the_shipped_demo_model_loads_the_keras_way():
    code = ("import seglib, keras\n"
            f"model = keras.saving.load_model({str(ROOT / 'assets/demo_model/model.keras')!r})\n"
            "print(model.output_shape)")
    assert "(None, 160, 160, 20)" in _python(code)


def test_importing_seglib_alone_loads_no_tensorflow():
    printed = _python("import seglib, seglib.config, sys; print('tensorflow' in sys.modules, 'keras' in sys.modules)",
                      timeout=120)
    assert printed.strip() == "False False"
