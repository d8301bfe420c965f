"""What a Markdown string shows once rendered (CommonMark, as Streamlit's renderer).

The pages write user strings (file names, run ids) into Markdown escaped, so the
source text differs from what a person reads; tests compare the rendered text,
and check that a hostile string became no link, image, emphasis or code breakout.
``markdown-it-py`` comes with Keras (through ``rich``).
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark").enable("strikethrough")


def plain(markdown: str) -> str:
    """The text a reader sees (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", _PARSER.render(markdown))).strip()


def inline_kinds(markdown: str) -> set[str]:
    """The kinds of inline elements the Markdown makes: 'link_open', 'image', 'strong_open', 'em_open',
    'code_inline', 's_open', 'html_inline', ... (plain text is 'text')."""
    kinds = set()
    for block in _PARSER.parse(markdown):
        for child in block.children or []:
            kinds.add(child.type)
    return kinds
