"""User strings in the real browser: Streamlit's Markdown renderer shows them as text.

The AppTest tests check the Markdown the pages write; this one checks what
Chromium draws from it: an upload name and a model id from the URL full of
Markdown (bold, a link, an image, backticks, a coloured span, LaTeX) become no
link, image, bold text or formula, and read as written.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest

from browser_support import no_problems, settle

pytestmark = pytest.mark.e2e

NAME = "**b** `c` [l](http://evil.example) ![i](http://evil.example/i.png) :red[r] $x$ .png"


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (90, 140, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _injected(locator) -> list[str]:
    """Elements user text must never produce inside ``locator``."""
    found = []
    for selector in ("a", "img", "strong", "em", ".katex", "span[style*='color']"):
        if locator.locator(selector).count():
            found.append(selector)
    return found


def test_names_are_drawn_as_text(dashboard_url, page):
    page.goto(f"{dashboard_url}/predictions?split=upload")
    settle(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        files=[{"name": NAME, "mimeType": "image/png", "buffer": _png()}])
    settle(page)
    no_problems(page)
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="30 × 20 px").first
    assert _injected(caption) == [], caption.inner_html()
    assert NAME[:70] in caption.inner_text()  # (cut at 80 characters)

    model = "run:" + NAME
    page.goto(f"{dashboard_url}/predictions?model={quote(model)}")
    settle(page)
    warning = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text="named in the link").first
    assert _injected(warning) == [], warning.inner_html()
    assert model[:40] in warning.inner_text()
