"""A rider's phone number, typed or from a contact card, checked and stored in one form.

WeChat has no contact-share button, so the number may be typed. What counts as one: a
mainland China mobile number (11 digits, ``1[3-9]…``, optionally after ``+86`` or ``0086``),
or an international number in E.164 form (``+`` and up to 15 digits). Both are stored as
E.164 (``+8613800000000``), so the same person typed or shared is the same string.
"""

from __future__ import annotations

import re
import unicodedata

# What people type between digit groups ("138 0000 0000", "138-0000-0000"); NFKC has
# already turned full-width forms from a Chinese keyboard into these.
_SEPARATORS = re.compile(r"[ \t\-]")
_CHINA_MOBILE = re.compile(r"(?:\+86|0086)?(1[3-9][0-9]{9})")
_CHINA_CODE = re.compile(r"(?:\+|00)86")
# E.164: a country code never starts with 0; 15 digits at most, 7 the shortest in use.
_E164 = re.compile(r"\+([1-9][0-9]{6,14})")


def normalise_phone(text: str) -> str | None:
    """``text`` as an E.164 number, or None when it is not a number we accept."""
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).strip())
    if mobile := _CHINA_MOBILE.fullmatch(compact):
        return f"+86{mobile.group(1)}"
    # +86 that is not a mobile (a landline, a digit short) is refused rather than kept:
    # the number is for reaching a rider on the road.
    if _CHINA_CODE.match(compact):
        return None
    if number := _E164.fullmatch(compact):
        return f"+{number.group(1)}"
    return None


def normalise_shared_phone(phone: str) -> str | None:
    """A contact card's number: platforms send the international digits, often with no
    ``+`` (Telegram's ``8613800000000``)."""
    digits = phone.strip()
    return normalise_phone(digits if digits.startswith("+") else f"+{digits}")
