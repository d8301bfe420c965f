"""seglib: the library behind the semantic-segmentation teaching dashboard.

Data (CIHP layout and the synthetic default), DeepLabV3+ models and presets,
the training worker and its run folders, metrics, and the atrous/receptive-field
analysis. It never imports Streamlit; the pages in ``pages/`` call into it.

Modules import TensorFlow lazily through ``seglib._tf`` so that importing
``seglib`` stays fast and quiet.
"""

__version__ = "0.1.0"
