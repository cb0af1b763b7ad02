"""Realistic Bot API update JSON, shared by the mapping tests of every Telegram transport.

Plain dicts as Telegram sends them; each test parses them with its own library
(``telegram.Update.de_json`` or ``aiogram.types.Update.model_validate``), so both
adapters are held to the same inputs.
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
