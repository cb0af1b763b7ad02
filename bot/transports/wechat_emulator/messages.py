"""The XML WeChat pushes to an account's server, and reading the account's passive reply.

Built with wechatpy's own field renderers (CDATA for strings, bare numbers otherwise), so
the bot's wechatpy parses exactly what the official server would send.
"""

from __future__ import annotations

from collections.abc import Sequence

import xmltodict
from wechatpy.fields import FloatField, IntegerField, StringField

from bot.transports.wechat_emulator.errors import JSON

Field = tuple[str, str | int | float]
REPLY_TYPES = ("text", "image", "voice", "video", "music", "news")


def render(fields: Sequence[Field]) -> str:
    nodes = [_node(name, value) for name, value in fields]
    return "<xml>" + "".join(nodes) + "</xml>"


def _node(name: str, value: str | int | float) -> str:
    if isinstance(value, str):
        # "]]>" would end the CDATA section early; split it across two sections.
        return str(StringField(name).to_xml(value.replace("]]>", "]]]]><![CDATA[>")))
    if isinstance(value, int):
        return str(IntegerField(name).to_xml(value))
    return str(FloatField(name).to_xml(value))


def header(*, account: str, openid: str, create_time: int, msgtype: str) -> list[Field]:
    return [
        ("ToUserName", account),
        ("FromUserName", openid),
        ("CreateTime", create_time),
        ("MsgType", msgtype),
    ]


def text(content: str, msg_id: int, *, menu_id: str | None = None) -> list[Field]:
    """A text message; ``menu_id`` makes it the tap on a msgmenu item (``bizmsgmenuid``)."""
    fields: list[Field] = [("Content", content), ("MsgId", msg_id)]
    if menu_id is not None:
        fields.append(("bizmsgmenuid", menu_id))
    return fields


def image(pic_url: str, media_id: str, msg_id: int) -> list[Field]:
    return [("PicUrl", pic_url), ("MediaId", media_id), ("MsgId", msg_id)]


def location(lat: float, lon: float, scale: int, label: str, msg_id: int) -> list[Field]:
    """GCJ-02 coordinates, as Tencent's map in the WeChat client gives them."""
    return [
        ("Location_X", lat),
        ("Location_Y", lon),
        ("Scale", scale),
        ("Label", label),
        ("MsgId", msg_id),
    ]


def event(name: str, key: str | None = None) -> list[Field]:
    fields: list[Field] = [("Event", name)]
    if key is not None:
        fields.append(("EventKey", key))
    return fields


def parse(xml: str) -> JSON:
    """The ``<xml>`` element's children as a dict (nested ones as dicts)."""
    parsed = xmltodict.parse(xml)
    root = parsed.get("xml") if isinstance(parsed, dict) else None
    if not isinstance(root, dict):
        raise ValueError("not a WeChat <xml> document")
    return dict(root)
