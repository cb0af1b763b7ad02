"""How an ``Outgoing``'s text and keyboard read on WeChat, which has no inline buttons.

Buttons become a numbered ``msgmenu``: each item is tappable (WeChat sends back a text
carrying the item's id, which is the button's callback data, so an old menu's item still
means what it said) and its number may be typed instead (the numbers of the latest menu
are remembered per user). A URL button becomes a line with its link; a button asking for
the user's location or contact becomes an instruction, since WeChat can only be told those
by hand (the + panel's Location; a typed phone number).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.chat import Ask, Button, Keyboard, Location, Request
from bot.geo.crs import wgs84_to_gcj02
from bot.i18n import Translator
from bot.transports.wechat.mapper import TEXT_ITEM

TENCENT_MARKER = (
    "https://apis.map.qq.com/uri/v1/marker?marker=coord:{lat:.6f},{lon:.6f};title:{title}"
)


@dataclass(frozen=True, slots=True)
class Menu:
    """A message's text with its numbered options (``options`` empty: plain text)."""

    text: str
    options: tuple[Button, ...] = ()
    tail: str = ""
    extra_lines: tuple[str, ...] = field(default=())

    @property
    def head(self) -> str:
        return "\n".join(part for part in (self.text, *self.extra_lines) if part)

    def item_id(self, button: Button) -> str:
        return button.data if button.data is not None else TEXT_ITEM + button.text

    def remembered(self) -> dict[str, Any]:
        """The options by number, as a typed number is looked up (``storage.wechat``)."""
        return {
            str(n): {"data": b.data, "text": b.text} for n, b in enumerate(self.options, start=1)
        }

    def msgmenu(self) -> dict[str, Any]:
        items = [
            {"id": self.item_id(b), "content": f"{n}. {b.text}"}
            for n, b in enumerate(self.options, start=1)
        ]
        return {"head_content": self.head, "list": items, "tail_content": self.tail}

    def as_text(self) -> str:
        """Everything in one text (a template message, where no menu can go)."""
        lines = [f"{n}. {b.text}" for n, b in enumerate(self.options, start=1)]
        return "\n".join(part for part in (self.head, *lines, self.tail if lines else "") if part)


def menu(text: str, keyboard: Keyboard | None, t: Translator, *, ask: Ask | None = None) -> Menu:
    """``text`` with ``keyboard``'s buttons, or with a request's (``Outgoing.request``)
    instructions and ready-made replies."""
    options: list[Button] = []
    lines: list[str] = []
    for button in (b for row in (keyboard.rows if keyboard else ()) for b in row):
        if button.url:
            lines.append(f"{button.text}: {button.url}")
        elif button.request_location or button.request_contact:
            wanted = Request.LOCATION if button.request_location else Request.PHONE
            lines.append(_how_to_send(wanted, t))
        else:
            options.append(button)
    if ask is not None:
        lines.extend(_how_to_send(one, t) for one in Request if one in ask.wants)
        options.extend(Button(text=label) for label in ask.options)
    tail = t._("Tap an option, or reply with its number.") if options else ""
    return Menu(
        text=text, options=tuple(options), tail=tail, extra_lines=tuple(dict.fromkeys(lines))
    )


def _how_to_send(wanted: Request, t: Translator) -> str:
    """How something asked for is sent from WeChat, which has no share buttons."""
    if wanted is Request.LOCATION:
        return t._("To share a location: tap + below, then Location.")
    if wanted is Request.PHOTO:
        return t._("To send a photo: tap + below, then Album or Camera.")
    return t._("Type your mobile phone number.")


def location_text(where: Location) -> str:
    """A pin as text: its name and a Tencent map link (GCJ-02, as Tencent's map expects)."""
    lat, lon = wgs84_to_gcj02(where.lat, where.lon)
    name = where.title or where.address or ""
    link = TENCENT_MARKER.format(lat=lat, lon=lon, title=name or "📍")
    return "\n".join(part for part in (f"📍 {name}".strip(), where.address or "", link) if part)
