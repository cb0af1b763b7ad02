"""The web chat's own words (its chrome) in the page's language, and how that is chosen.

The page is static HTML and JavaScript, so the server hands it these strings already
translated: they are marked with ``N_()`` here, where extraction finds them, and live in
the same catalogues as the bot's messages. The language comes from ``?lang=``, else the
browser's Accept-Language, else the default. Persona names are people's and stay as they are.
"""

from __future__ import annotations

from typing import Any

from bot.domain.model import RoleName
from bot.i18n import N_, SUPPORTED, normalize, translator

DEFAULT_LOCALE = SUPPORTED[0]
# Each language names itself on the switch, so a reader finds theirs whatever is shown now.
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
# What a Telegram client in that language reports, so the bot answers a new rider likewise.
TELEGRAM_LANGUAGE = {"zh_CN": "zh-hans", "en": "en"}

CHROME: dict[str, str] = {
    "page_title": N_("Gridsnap sandbox"),
    # The product's name as its users know it (随手拍 in Chinese).
    "product": N_("Gridsnap"),
    # The bot's avatar in the chat: one letter standing for Gridsnap.
    "bot_avatar": N_("G"),
    "switch_persona": N_("Switch persona"),
    "choose_persona": N_("Choose a persona"),
    "tabs_hint": N_("Open several personas in separate tabs."),
    "language": N_("Language"),
    "message": N_("Message"),
    "more": N_("More"),
    "send": N_("Send"),
    "upload": N_("Upload photo"),
    "samples": N_("Sample photo"),
    "location": N_("Location"),
    "close": N_("Close"),
    "pick_location": N_("Pick a location"),
    "whole_city": N_("Whole city"),
    "zoom_hint": N_("Click a street to zoom in"),
    "grid_hint": N_("Click inside a grid"),
    "send_location": N_("Send location"),
    "search_map": N_("Search a street, community or grid"),
    "no_match": N_("No street, community or grid by that name"),
    "my_location": N_("Use my location"),
    "locating_failed": N_("The browser did not give a location."),
    "zoom_in": N_("Zoom in"),
    "zoom_out": N_("Zoom out"),
    "map_help": N_("Drag to move, scroll or pinch to zoom"),
    "empty_rider": N_(
        "Start here: tap + and send a photo of a hazard (a sample photo will do), then "
        "share where it is."
    ),
    "empty_new": N_("Registration starts by itself: answer the bot's questions below."),
    "empty_staff": N_(
        "Alerts for your grids arrive here. Open the rider's tab and file a report to see one, "
        "or send /help."
    ),
    "edited": N_("edited"),
    "photo": N_("Photo"),
    "file": N_("File"),
    "new_rider": N_("New rider"),
    "new_rider_label": N_("Register as a new rider"),
}
ROLE_LABELS: dict[RoleName, str] = {
    RoleName.INFORMANT: N_("Rider"),
    RoleName.GRID_WORKER: N_("Grid worker"),
    RoleName.GRID_LEADER: N_("Grid leader"),
    RoleName.COMMUNITY_ADMIN: N_("Community admin"),
    RoleName.STREET_ADMIN: N_("Street admin"),
    RoleName.CITY_ADMIN: N_("City admin"),
}
# Which messenger a persona chats in, shown on the picker when the sandbox plays both.
PLATFORM_NAMES: dict[str, str] = {"telegram": N_("Telegram"), "wechat": N_("WeChat")}
# The bundled hazard photos, by file name, as the sample tray describes them.
SAMPLES: dict[str, str] = {
    "manhole.jpg": N_("Missing manhole cover"),
    "pothole.jpg": N_("Pothole"),
    "flooding.jpg": N_("Waterlogging"),
    "fallen_tree.jpg": N_("Fallen tree"),
}
NEW_RIDER_NAME = N_("Rider {number}")


def page_locale(asked: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names a supported language, else the browser's first supported
    preference, else the default."""
    for code in (asked, *_preferences(accept_language or "")):
        chosen = _supported(code)
        if chosen is not None:
            return chosen
    return DEFAULT_LOCALE


def _supported(code: str | None) -> str | None:
    return (normalize(code, "") or None) if code else None


def _preferences(header: str) -> list[str]:
    """Accept-Language's tags, most wanted first; ``q=0`` means "not this one"."""
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and tag != "*" and weight > 0:
            weighted.append((weight, tag))
    # sorted() is stable: equal weights keep the header's order, as the header means.
    return [tag for _weight, tag in sorted(weighted, key=lambda pair: -pair[0])]


def chrome(locale: str) -> dict[str, Any]:
    """Everything the page shows of its own, in ``locale``, for the page's script."""
    t = translator(locale)
    return {
        "locale": t.locale,
        "strings": {key: t._(message) for key, message in CHROME.items()},
        "samples": [{"file": name, "alt": t._(alt)} for name, alt in SAMPLES.items()],
        "languages": [{"code": code, "name": LANGUAGE_NAMES[code]} for code in SUPPORTED],
    }


def role_label(role: RoleName, locale: str) -> str:
    return translator(locale)._(ROLE_LABELS[role])


def platform_name(platform: str, locale: str) -> str:
    return translator(locale)._(PLATFORM_NAMES[platform])


def new_rider_name(user_id: int, locale: str) -> str:
    return translator(locale)._(NEW_RIDER_NAME).format(number=f"{user_id % 10000:04d}")
