"""seglib: the library behind the semantic-segmentation teaching dashboard.

Data (CIHP layout and the synthetic default), DeepLabV3+ models and presets,
the training worker and its run folders, metrics, and the atrous/receptive-field
analysis. It never imports Streamlit; the pages in ``pages/`` call into it.

Modules import TensorFlow lazily through ``seglib._tf`` so that importing
``seglib`` stays fast and quiet.
"""

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


def _register_keras_objects() -> None:
    """Register seglib's Keras classes once Keras is loaded, so that after ``import seglib``,
    ``keras.saving.load_model("runs/<id>/best.keras")`` works in a notebook (Keras only looks
    up a custom class in its registry). Importing seglib itself never imports TensorFlow."""
    if "keras" in sys.modules:
        import seglib.keras_objects  # noqa: F401
        return

    class _AfterKeras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name != "keras":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec("keras")
            if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
                return spec
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                from seglib import _tf

                if not _tf.importing():  # seglib itself is importing TensorFlow: its models register them
                    import seglib.keras_objects  # noqa: F401

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _AfterKeras())


_register_keras_objects()
