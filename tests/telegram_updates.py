"""Realistic Bot API update JSON, shared by the mapping tests of every Telegram transport.

Plain dicts as Telegram sends them. tests/unit/test_botapi_mapping.py maps them directly;
each library's round-trip test parses every one in ``SAMPLES`` with its own library
(``telegram.Update.de_json`` or ``aiogram.types.Update.model_validate``) and checks that
its adapter maps it the same, so both adapters are held to the same inputs.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

COURIER: JSON = {
    "id": 5550001,
    "is_bot": False,
    "first_name": "Wei",
    "last_name": "Zhang",
    "language_code": "zh-hans",
}
PRIVATE: JSON = {"id": 5550001, "type": "private", "first_name": "Wei", "last_name": "Zhang"}
GROUP: JSON = {"id": -1001234567890, "type": "supergroup", "title": "海港区网格员群"}


def message(update_id: int = 900001, chat: JSON = PRIVATE, **content: Any) -> JSON:
    body = {"message_id": 77, "date": 1746086400, "chat": chat, "from": COURIER, **content}
    return {"update_id": update_id, "message": body}


def command(text: str, chat: JSON = PRIVATE) -> JSON:
    name = text.split()[0]
    entities = [{"type": "bot_command", "offset": 0, "length": len(name)}]
    return message(chat=chat, text=text, entities=entities)


def photo_size(suffix: str, width: int, height: int, size: int) -> JSON:
    return {
        "file_id": f"AgACAgUAAxkBAAIB{suffix}",
        "file_unique_id": f"AQADu{suffix}",
        "width": width,
        "height": height,
        "file_size": size,
    }


# The largest size is not last on purpose: Telegram does not promise an order.
PHOTO_SIZES = [
    photo_size("s", 90, 67, 1_402),
    photo_size("x", 1280, 960, 131_220),
    photo_size("m", 320, 240, 15_004),
]

HEIC_DOCUMENT: JSON = {
    "file_name": "IMG_4012.HEIC",
    "mime_type": "image/heic",
    "file_id": "BQACAgUAAxkBAAIBD",
    "file_unique_id": "AgADD",
    "file_size": 2_811_904,
}

STATION = {"latitude": 39.9301, "longitude": 119.5889}
STATION_VENUE: JSON = {"location": STATION, "title": "秦皇岛站", "address": "海港区北环路"}


def edited_live_location() -> JSON:
    edited = {
        "message_id": 80,
        "date": 1746086400,
        "edit_date": 1746086460,
        "chat": PRIVATE,
        "from": COURIER,
        "location": {"latitude": 39.9371, "longitude": 119.6012, "live_period": 900},
    }
    return {"update_id": 900002, "edited_message": edited}


def edited_text() -> JSON:
    edited = {"message_id": 81, "date": 1, "edit_date": 2, "chat": PRIVATE, "from": COURIER}
    edited["text"] = "typo fixed"
    return {"update_id": 3, "edited_message": edited}


def button_press() -> JSON:
    query = {
        "id": "4382bfdwdsb323b2d9",
        "from": COURIER,
        "chat_instance": "-8912345678",
        "data": "rep:accept:250501-0007",
        "message": {"message_id": 310, "date": 1746086400, "chat": GROUP, "text": "新上报"},
    }
    return {"update_id": 900003, "callback_query": query}


STICKER: JSON = {
    "file_id": "CAACAgIAAxkBAAIC",
    "file_unique_id": "AgADC",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}


def reaction() -> JSON:
    changed = {
        "chat": PRIVATE,
        "message_id": 77,
        "user": COURIER,
        "date": 1746086400,
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": "👍"}],
    }
    return {"update_id": 4, "message_reaction": changed}


def channel_post_as_message() -> JSON:
    post = {"message_id": 1, "date": 1, "chat": {"id": -100, "type": "channel"}, "text": "hi"}
    return {"update_id": 5, "message": post}


def button_on_old_message() -> JSON:
    data = button_press()
    # Telegram sends an InaccessibleMessage (date 0) for messages older than 48 hours.
    data["callback_query"]["message"] = {"message_id": 311, "date": 0, "chat": GROUP}
    return data


def as_channel_in_group() -> JSON:
    # Written "as the channel" in a group: ``from`` is Telegram's stand-in bot account.
    stand_in = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
    channel = {"id": -1009876543210, "type": "channel", "title": "海港区发布"}
    post = {"message_id": 90, "date": 1, "chat": GROUP, "from": stand_in, "sender_chat": channel}
    return {"update_id": 6, "message": {**post, "text": "通知"}}


def channel_post() -> JSON:
    chat = {"id": -1009876543210, "type": "channel", "title": "海港区发布"}
    post = {"message_id": 2, "date": 1, "chat": chat, "sender_chat": chat, "text": "通知"}
    return {"update_id": 7, "channel_post": post}


def media(suffix: str, **fields: Any) -> JSON:
    return {"file_id": f"BAACAgUAAxkBAAIC{suffix}", "file_unique_id": f"AgADv{suffix}", **fields}


# What a flow cannot use; each is answered with what can be sent.
UNSUPPORTED: dict[str, JSON] = {
    "sticker": message(sticker=STICKER),
    "voice": message(voice=media("v", duration=3)),
    "video": message(video=media("d", width=640, height=360, duration=5)),
    "video note": message(video_note=media("n", length=240, duration=5)),
    "audio": message(audio=media("a", duration=180)),
    "dice": message(dice={"emoji": "🎲", "value": 4}),
    "poll": message(
        poll={
            "id": "5123",
            "question": "哪条路积水？",
            "options": [
                {"persistent_id": "0", "text": "北环路", "voter_count": 0},
                {"persistent_id": "1", "text": "海阳路", "voter_count": 0},
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": True,
            "members_only": False,
        }
    ),
    "animation": message(
        animation=media("g", width=320, height=240, duration=2), document=media("g")
    ),
}

SLASH_INSIDE = [{"type": "bot_command", "offset": 5, "length": 5}]
LIVE = {"latitude": 39.93, "longitude": 119.6, "live_period": 900}
CARD: JSON = {"phone_number": "+8613800138000", "first_name": "Wei", "user_id": 5550001}
CARD_OFF_TELEGRAM: JSON = {"phone_number": "0335-1234567", "first_name": "Li"}

# Every update the mapping tests use, by name; values are built once, so never mutate them.
SAMPLES: dict[str, JSON] = {
    "text": message(text="井盖没了"),
    "command": command("/Report now please"),
    "deep link": command("/start inv_8f3Kq2"),
    "command to this bot": command("/help@Gridsnap_Bot", chat=GROUP),
    "command to another bot": command("/help@other_bot"),
    "slash inside text": message(text="see: /help", entities=SLASH_INSIDE),
    "photo": message(photo=PHOTO_SIZES, caption="积水", media_group_id="13612345678901234"),
    "document": message(document=HEIC_DOCUMENT, media_group_id="77"),
    "location": message(location={"latitude": 39.9355, "longitude": 119.6003}),
    "venue": message(location=STATION, venue=STATION_VENUE),
    "live location": message(location=LIVE),
    "edited live location": edited_live_location(),
    "edited text": edited_text(),
    "contact": message(contact=CARD),
    "contact off telegram": message(contact=CARD_OFF_TELEGRAM),
    "button press": button_press(),
    "button on old message": button_on_old_message(),
    "reaction": reaction(),
    "channel post": channel_post_as_message(),
    "group text": message(chat=GROUP, text="井盖没了"),
    "as channel in group": as_channel_in_group(),
    "channel post update": channel_post(),
    **UNSUPPORTED,
}
