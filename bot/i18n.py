"""Translations (gettext catalogues under ``locales/``) and locale-aware formatting (Babel).

Source strings are English; ``zh_CN`` is the default locale. Flows get a ``Translator`` for
the user they are talking to and call ``t._("...")``; extraction looks for ``_``, ``N_``
and ``ngettext``.
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "gridsnap"
SUPPORTED = ("zh_CN", "en")
DEFAULT_ZONE = "Asia/Shanghai"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (translated where shown)."""
    return message


def normalize(language_code: str | None, default: str = "zh_CN") -> str:
    """Map a platform language code (``zh-hans``, ``en-US``, ``zh``) to a supported locale."""
    if not language_code:
        return default
    code = language_code.replace("-", "_").lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return default


@cache
def _catalogue(locale: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale], fallback=True)


@dataclass(frozen=True, slots=True)
class Translator:
    locale: str
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_ZONE))

    def _(self, message: str) -> str:
        return _catalogue(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _catalogue(self.locale).ngettext(singular, plural, n)

    def datetime(self, value: datetime, fmt: str = "short") -> str:
        return format_datetime(value, fmt, tzinfo=self.zone, locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)


def translator(locale: str | None, zone: ZoneInfo | None = None) -> Translator:
    chosen = locale if locale in SUPPORTED else SUPPORTED[0]
    return Translator(chosen, zone or ZoneInfo(DEFAULT_ZONE))
