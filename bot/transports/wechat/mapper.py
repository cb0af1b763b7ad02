"""Stored WeChat messages (the callback's XML as a dict) to ``Incoming``.

Locations come in GCJ-02 (WeChat's map is Tencent's). Everything inside Gridsnap is
WGS-84 — what Telegram and phones give, what reports store and what a worker on Telegram
is sent as a pin — so the point is taken back to WGS-84 here, with the iterative inverse
(under a millimetre), and routing's forward conversion to a GCJ-02 map gives the rider's
own point back. Treating it as WGS-84 would shift it a second time, by ~500 m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.chat import FileRef, Incoming, Kind, Location, User
from bot.geo.crs import gcj02_to_wgs84
from bot.transports.wechat import PLATFORM

JSON = Mapping[str, Any]
# A msgmenu item standing for a reply-keyboard button (no callback data): its text is
# the answer, as a typed message would be. Callback data never starts so (see render).
TEXT_ITEM = "text:"
_UNSUPPORTED = frozenset({"voice", "video", "shortvideo", "link", "file", "music"})


def stored(update_id: str, fields: JSON, *, choice: JSON | None = None) -> dict[str, Any]:
    """The inbox row's payload: the parsed XML under ``wechat``, with ``from.id`` for the
    inbox's per-user ordering and, for a typed number that answers a menu, the choice."""
    body: dict[str, Any] = {"from": {"id": str(fields["FromUserName"])}, "xml": dict(fields)}
    if choice is not None:
        body["choice"] = dict(choice)
    return {"update_id": update_id, "wechat": body}


def to_incoming(data: JSON) -> Incoming | None:
    body = data["wechat"]
    fields: JSON = body["xml"]
    base: dict[str, Any] = {
        "update_id": str(data["update_id"]),
        "user": _user(str(fields["FromUserName"])),
        "message_id": str(fields["MsgId"]) if fields.get("MsgId") else None,
    }
    kind = str(fields.get("MsgType", "")).lower()
    if kind == "event":
        return _event(fields, base)
    if kind == "text":
        return _text(fields, body.get("choice"), base)
    if kind == "image":
        photo = FileRef(file_id=str(fields["MediaId"]), file_unique_id=str(fields["MediaId"]))
        return Incoming(kind=Kind.PHOTO, photo=photo, **base)
    if kind == "location":
        return Incoming(kind=Kind.LOCATION, location=_location(fields), **base)
    if kind in _UNSUPPORTED:
        return Incoming(kind=Kind.UNSUPPORTED, **base)
    return None


def _user(openid: str) -> User:
    # An openid is the person within this Official Account; the chat is the same person.
    return User(platform=PLATFORM, user_id=openid, chat_id=openid)


def _location(fields: JSON) -> Location:
    lat, lon = gcj02_to_wgs84(float(fields["Location_X"]), float(fields["Location_Y"]))
    return Location(lat=lat, lon=lon, address=str(fields.get("Label") or "") or None)


def _text(fields: JSON, choice: JSON | None, base: dict[str, Any]) -> Incoming:
    content = str(fields.get("Content") or "")
    item = str(fields.get("bizmsgmenuid") or "")
    if item and not item.startswith(TEXT_ITEM):
        return _button(item, base)
    if item:  # a ready-made reply: its label, without the number the item shows
        content = item.removeprefix(TEXT_ITEM)
    if choice is not None and choice.get("data"):
        return _button(str(choice["data"]), base)
    if choice is not None and choice.get("text"):
        content = str(choice["text"])
    if content.startswith("/") and len(content) > 1:
        name, _, payload = content[1:].partition(" ")
        return Incoming(
            kind=Kind.COMMAND, text=content, command=name.lower(), payload=payload.strip(), **base
        )
    return Incoming(kind=Kind.TEXT, text=content, **base)


def _button(data: str, base: dict[str, Any]) -> Incoming:
    # No callback to answer on WeChat: the press's answer, if any, goes out as text.
    return Incoming(kind=Kind.BUTTON, button_data=data, callback_id=base["update_id"], **base)


def _event(fields: JSON, base: dict[str, Any]) -> Incoming | None:
    event = str(fields.get("Event", "")).lower()
    if event in ("subscribe", "scan"):
        # Following the account is WeChat's /start; a QR code's scene is its deep link. A
        # follower scanning one (SCAN) opens that link too: its key is the bare scene.
        scene = str(fields.get("EventKey") or "").removeprefix("qrscene_")
        if event == "scan" and not scene:
            return None
        return Incoming(kind=Kind.COMMAND, text="/start", command="start", payload=scene, **base)
    if event == "click":
        key = str(fields.get("EventKey") or "").lstrip("/")
        if not key:
            return None
        name, _, payload = key.partition(" ")
        return Incoming(
            kind=Kind.COMMAND, text=f"/{key}", command=name.lower(), payload=payload, **base
        )
    return None  # unsubscribe, view, template delivery reports: nothing for a flow
