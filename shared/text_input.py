"""Text from callers, made safe to store, show and send to a paid provider.

Removed: control characters (NUL and the rest of C0/C1, except tab, newline and carriage
return), bidirectional overrides and isolates (the "Trojan Source" characters), byte-order
marks and invisible spaces/joiners that carry no meaning in a prompt. Zero-width (non-)joiners
stay: scripts such as Persian and Devanagari and emoji sequences need them. A text is visible
when something other than whitespace and format characters is left.
"""

from __future__ import annotations

import re
import unicodedata

_REMOVED = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # controls but \t \n \r
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u200b\u2060-\u2064\ufeff\u180e]"  # zero-width space, word joiner, invisible operators, BOM
)


def clean_text(value: object) -> object:
    """Drop the characters above from a string (anything else is left to type validation)."""
    return _REMOVED.sub("", value) if isinstance(value, str) else value


def require_visible(value: str) -> str:
    if not any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in value):
        raise ValueError("the text has no visible characters")
    return value
