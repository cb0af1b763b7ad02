"""How an outgoing message's buttons and requests read on WeChat, and how a tap on a menu
item comes back: a button's data, or a ready-made reply's label as typed text."""

from __future__ import annotations

from bot.chat import Ask, Button, Keyboard, Kind, Request
from bot.i18n import translator
from bot.transports.wechat.mapper import stored, to_incoming
from bot.transports.wechat.render import menu

EN = translator("en")
OPENID = "oRider0000000000000000000001"


def tap(item_id: str, content: str) -> dict[str, object]:
    fields = {"FromUserName": OPENID, "MsgType": "text", "Content": content, "MsgId": "7"}
    return stored("m:7", {**fields, "bizmsgmenuid": item_id})


def test_a_request_becomes_instructions_and_its_ready_made_replies_numbered_items() -> None:
    ask = Ask(wants=Request.LOCATION | Request.PHOTO, button="📍", options=("↩️ Same place",))
    shown = menu("Where is it?", None, EN, ask=ask)
    assert shown.head.splitlines() == [
        "Where is it?",
        "To share a location: tap + below, then Location.",
        "To send a photo: tap + below, then Album or Camera.",
    ]
    [item] = shown.msgmenu()["list"]
    assert item == {"id": "text:↩️ Same place", "content": "1. ↩️ Same place"}
    assert shown.remembered() == {"1": {"data": None, "text": "↩️ Same place"}}


def test_a_tapped_ready_made_reply_is_its_label_as_text_and_a_button_its_data() -> None:
    reply = to_incoming(tap("text:↩️ Same place", "1. ↩️ Same place"))
    pressed = to_incoming(tap("rep:cat:C0101", "1. 井盖"))
    assert reply is not None and (reply.kind, reply.text) == (Kind.TEXT, "↩️ Same place")
    assert pressed is not None and (pressed.kind, pressed.button_data) == (
        Kind.BUTTON,
        "rep:cat:C0101",
    )


def test_share_buttons_become_one_instruction_each_and_links_a_line() -> None:
    keyboard = Keyboard(
        rows=(
            (
                Button(text="📍", request_location=True),
                Button(text="📍 again", request_location=True),
            ),
            (Button(text="📞", request_contact=True),),
            (Button(text="Map", url="https://example.org/map"),),
        ),
        inline=False,
    )
    shown = menu("Hi", keyboard, EN)
    assert shown.options == ()
    assert shown.head.splitlines() == [
        "Hi",
        "To share a location: tap + below, then Location.",
        "Type your mobile phone number.",
        "Map: https://example.org/map",
    ]
    assert shown.tail == ""


def test_following_through_an_invite_qr_code_is_start_with_the_codes_scene() -> None:
    scanned = {
        "FromUserName": OPENID,
        "MsgType": "event",
        "Event": "subscribe",
        "EventKey": "qrscene_inv_Abc123",
    }
    plain = {"FromUserName": OPENID, "MsgType": "event", "Event": "subscribe"}
    started, followed = to_incoming(stored("e:1", scanned)), to_incoming(stored("e:2", plain))
    assert started is not None and (started.command, started.payload) == ("start", "inv_Abc123")
    assert followed is not None and (followed.command, followed.payload) == ("start", "")


def test_a_follower_scanning_an_invite_qr_code_opens_its_link() -> None:
    # A follower's scan is a SCAN event whose key is the bare scene (no qrscene_ prefix).
    scanned = {"FromUserName": OPENID, "MsgType": "event", "Event": "SCAN", "EventKey": "inv_X"}
    blank = {"FromUserName": OPENID, "MsgType": "event", "Event": "SCAN", "EventKey": ""}
    started = to_incoming(stored("e:3", scanned))
    assert started is not None and (started.command, started.payload) == ("start", "inv_X")
    assert to_incoming(stored("e:4", blank)) is None
