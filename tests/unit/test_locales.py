"""Every user-visible string in the code has a translation in both catalogues.

The messages are extracted from the source at test time (not read from the committed
template), so a new ``_()`` string without translations fails here even when nobody
re-ran ``make locales-update``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import SUPPORTED, translator

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
METHOD_MAP = [("**.py", "python")]


def extracted() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, METHOD_MAP, keywords=KEYWORDS
        ):
            found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(locale: str):  # type: ignore[no-untyped-def]
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "gridsnap.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def test_the_source_has_messages_to_translate() -> None:
    assert len(extracted()) > 100


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_message_in_the_code_is_translated(locale: str) -> None:
    po = catalogue(locale)
    missing = sorted(
        message
        for message in extracted()
        if (entry := po.get(message)) is None
        or not entry.string
        or (isinstance(entry.string, tuple) and not all(entry.string))
        or entry.fuzzy
    )
    assert missing == [], f"{len(missing)} untranslated in {locale}: {missing[:5]}"


def test_chinese_translations_are_chinese_and_keep_their_placeholders() -> None:
    po = catalogue("zh_CN")
    for message in extracted():
        entry = po.get(message)
        if entry is None or not isinstance(entry.string, str) or not entry.string:
            continue
        for placeholder in _placeholders(message):
            assert placeholder in entry.string, (message, entry.string)
    sample = translator("zh_CN")._("Choose your language:")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in sample), sample


def _placeholders(message: str) -> set[str]:
    import string

    return {
        "{" + name + "}"
        for _literal, name, _spec, _conv in string.Formatter().parse(message)
        if name is not None
    }
