"""Text from users (run and dataset names, ids, file names) written into Markdown as literal text.

Streamlit renders Markdown in ``st.markdown``, captions, labels and messages; these
helpers make sure a name can never become a link, an image, emphasis or a formula.
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any

#: Longest user string (a run id or name, a file name) a page writes out; longer ones are cut with "…".
MAX_SHOWN_CHARS = 80
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)  # CommonMark lets a backslash escape each of these


def shorten(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` on one line (control and format characters become spaces), cut to ``limit`` characters."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(text))
    return text if len(text) <= limit else text[:max(1, limit - 1)] + "…"


def md_text(text: Any, limit: int | None = MAX_SHOWN_CHARS) -> str:
    r"""A user string as literal text inside Markdown (``st.markdown``, ``st.error``, captions, labels).

    Every ASCII punctuation character is backslash-escaped, so nothing in it can
    become emphasis, a link, an image, code, a heading, a list, LaTeX (``$``) or
    a coloured ``:red[...]`` span: ``*.jpg`` stays ``*.jpg``. Cut to ``limit``
    characters (``None``: whole).

    >>> print(md_text("**bold** [x](http://e.org)"))
    \*\*bold\*\* \[x\]\(http\:\/\/e\.org\)
    """
    text = shorten(text, limit) if limit is not None else shorten(text, 10**9)
    return "".join("\\" + ch if ch in _MARKDOWN_PUNCTUATION else ch for ch in text)


def md_code(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """A user string as inline code in Markdown, fenced with more backticks than it contains
    (a backslash does not escape inside code, so ``f"`{name}`"`` is not safe)."""
    text = shorten(text, limit)
    if not text.strip():
        return md_text(text, limit)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text_with_code(text: Any, limit: int = MAX_SHOWN_CHARS) -> str:
    """Like ``md_text``, but a part between two single backticks is shown as inline code
    (``md_code``), as in a recorded run's note: "recorded by `python -m seglib demo-model`".
    Nothing else in ``text`` can become Markdown; with an odd number of backticks all is text."""
    text = shorten(text, limit)
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return md_text(text, None)
    return "".join(md_code(part, len(part) + 1) if index % 2 else md_text(part, None)
                   for index, part in enumerate(parts))
