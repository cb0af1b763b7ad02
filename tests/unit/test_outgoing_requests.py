"""``Outgoing.request``: JSON round trip through the outbox (rows written before it existed
still read), and how the Telegram transports render a request."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bot.chat import Ask, Button, Keyboard, Outgoing, OutKind, Request
from bot.transports import botapi

SHARE = "📍 Share location"


def through_outbox(message: Outgoing) -> Outgoing:
    return Outgoing.from_dict(json.loads(json.dumps(message.to_dict())))


def test_a_request_survives_the_outbox_and_reads_as_what_it_asks() -> None:
    ask = Ask(wants=Request.PHOTO | Request.LOCATION, button=SHARE, options=("↩️ Same place",))
    message = Outgoing(platform="telegram", chat_id="1", text="Send a photo", request=ask)
    assert message.to_dict()["request"] == {
        "wants": ["location", "photo"],
        "button": SHARE,
        "options": ["↩️ Same place"],
    }
    assert through_outbox(message) == message


def test_a_row_written_before_requests_existed_still_reads() -> None:
    old_row = {
        "platform": "telegram",
        "chat_id": "7",
        "kind": "text",
        "text": "Where is it?",
        "photo": None,
        "location": None,
        "keyboard": {
            "rows": [
                [
                    {
                        "text": SHARE,
                        "data": None,
                        "url": None,
                        "request_location": True,
                        "request_contact": False,
                    }
                ]
            ],
            "inline": False,
            "one_time": True,
        },
        "remove_keyboard": False,
        "message_id": None,
        "callback_id": None,
        "alert": False,
        "extra": {},
    }
    message = Outgoing.from_dict(old_row)
    assert message.request is None
    assert message.keyboard is not None and message.keyboard.rows[0][0].request_location


requests = st.builds(
    Ask,
    wants=st.sets(st.sampled_from(list(Request)), min_size=1).map(
        lambda s: Request(sum(r.value for r in s))
    ),
    button=st.text(max_size=20),
    options=st.lists(st.text(max_size=20), max_size=3).map(tuple),
)


@given(requests, st.text(max_size=40))
def test_every_request_round_trips(ask: Ask, text: str) -> None:
    message = Outgoing(platform="wechat", chat_id="o1", text=text, request=ask)
    assert through_outbox(message) == message


def test_a_location_request_renders_as_a_one_time_share_keyboard_with_its_options() -> None:
    ask = Ask(wants=Request.PHOTO | Request.LOCATION, button=SHARE, options=("Same place",))
    markup = botapi.reply_markup(Outgoing(platform="telegram", chat_id="1", request=ask))
    assert markup == {
        "keyboard": [[{"text": SHARE, "request_location": True}], [{"text": "Same place"}]],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }


def test_a_phone_request_renders_as_a_contact_share_button() -> None:
    ask = Ask(wants=Request.PHONE, button="Share my phone number")
    markup = botapi.reply_markup(Outgoing(platform="telegram", chat_id="1", request=ask))
    assert markup is not None
    assert markup["keyboard"] == [[{"text": "Share my phone number", "request_contact": True}]]


def test_a_photo_request_is_text_and_takes_away_a_reply_keyboard_left_showing() -> None:
    ask = Ask(wants=Request.PHOTO)
    markup = botapi.reply_markup(Outgoing(platform="telegram", chat_id="1", request=ask))
    assert markup == {"remove_keyboard": True}


def test_a_keyboard_without_a_request_renders_as_before() -> None:
    keyboard = Keyboard(rows=((Button(text="A", data="x:1"),),))
    message = Outgoing(platform="telegram", chat_id="1", kind=OutKind.TEXT, keyboard=keyboard)
    assert botapi.reply_markup(message) == {
        "inline_keyboard": [[{"text": "A", "callback_data": "x:1"}]]
    }
