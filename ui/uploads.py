"""The one image upload widget of the Atrous and Predictions pages: the shared reader's file types and
limits (``seglib.evaluation.evaluate``), and a word about what reading changed."""

from __future__ import annotations

from seglib.evaluation import evaluate
from ui.markdown import md_text


def image_uploader(container, key: str, *, label: str = "An image", after: str = ""):
    """A ``file_uploader`` in ``container`` for one image of the types the reader takes, its help naming
    the limits, then ``after`` (what the page does with the picture). Returns the upload or None."""
    return container.file_uploader(
        f"{label} ({evaluate.UPLOAD_TYPES_TEXT})", type=list(evaluate.UPLOAD_TYPES), key=key,
        help=f"{evaluate.UPLOAD_TYPES_TEXT}; at most {evaluate.MAX_UPLOAD_BYTES // (1024 * 1024)} MB and "
             f"{evaluate.MAX_UPLOAD_PIXELS // 1_000_000} megapixels. {after}")


def read_notes(container, name: str, notes) -> None:
    """Under an upload: what reading it changed (a grey, animated or turned picture is never converted
    without a word); nothing when it changed nothing."""
    if notes:
        container.caption(":material/info: " + md_text(evaluate.upload_note(name, notes), limit=600))
