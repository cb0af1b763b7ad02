"""What counts as written text: a name must show something, not only invisible characters.

A name of zero-width spaces, joiners, fillers or blank Braille cells looks empty on every
screen (a worker reading "Reported by" sees nobody), yet ``str.split`` keeps it, so it used
to pass as a name.
"""

from __future__ import annotations

import unicodedata

# Letters by category that render as blank space: Hangul fillers, the blank Braille cell.
_BLANK_SYMBOLS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Letters, marks' bases, numbers, punctuation and symbols are seen; separators (Z*), format
# characters (Cf: zero-width space, joiners, BOM) and controls (Cc) are not.
_VISIBLE_CLASSES = frozenset("LNPS")


def has_visible(text: str) -> bool:
    """Whether ``text`` shows at least one character on screen."""
    return any(
        unicodedata.category(ch)[0] in _VISIBLE_CLASSES and ch not in _BLANK_SYMBOLS for ch in text
    )
