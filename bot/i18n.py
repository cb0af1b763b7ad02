"""Translations (gettext catalogues) and locale-aware formatting (Babel).

Source strings are English; ``zh_CN`` is the default locale. Flows get a ``Translator`` for
the user they are talking to and call ``t._("...")``; extraction looks for ``_``, ``N_``
and ``ngettext``. Compiled catalogues are read from the package (``bot/locales``, where a
built wheel has them) or else from the checkout's ``locales/`` (``make locales``). A
missing one is refused at start (``require_catalogues``), never silently English.
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

PACKAGED_LOCALES = Path(__file__).resolve().parent / "locales"  # in a built wheel (setup.py)
CHECKOUT_LOCALES = Path(__file__).resolve().parent.parent / "locales"  # in the repository
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


class MissingCatalogue(Exception):
    """A locale the bot speaks has no compiled catalogue; the message says which and where."""


@cache
def locale_dir() -> Path:
    """Where the compiled catalogues are: the package's own, else the checkout's."""
    return PACKAGED_LOCALES if PACKAGED_LOCALES.is_dir() else CHECKOUT_LOCALES


def require_catalogues(locales: tuple[str, ...] = SUPPORTED) -> None:
    """Raise ``MissingCatalogue`` naming every locale of ``locales`` without a ``.mo``:
    gettext would fall back to the English source strings without a word."""
    wanted = dict.fromkeys(locales)  # in order, once each
    missing = [loc for loc in wanted if gettext.find(DOMAIN, locale_dir(), [loc]) is None]
    if missing:
        raise MissingCatalogue(
            f"no compiled catalogue for {', '.join(missing)} in {locale_dir()}"
            f" ({DOMAIN}.mo); run `make locales`, or install a wheel built with them"
        )


@cache
def _catalogue(locale: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, localedir=locale_dir(), languages=[locale], fallback=True)


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
