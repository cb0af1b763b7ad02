"""What both Telegram adapters share: the Bot API's own JSON, read and written once.

python-telegram-bot and aiogram model the same Bot API, so the mapping is written against
that API's JSON rather than either library's objects: an adapter dumps its ``Update`` to a
dict (``Update.to_dict()``, ``Update.model_dump(by_alias=True)``) and hands it to
``incoming_from_update``; it parses the dict ``reply_markup`` builds into its own markup
classes. Only the calls and the exception classes stay library-specific.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.chat import (
    Ask,
    Button,
    ChatType,
    Contact,
    FileRef,
    Incoming,
    Keyboard,
    Kind,
    Location,
    Outgoing,
    OutKind,
    Request,
    User,
)

PLATFORM = "telegram"  # the platform, not the library: both adapters serve one Telegram
# The only update kinds a flow can act on; asking for fewer spares traffic and noise. Not
# edited messages: a live location's moves arrive as edits, and a location counts once.
ALLOWED_UPDATES = ("message", "callback_query")
# Bot API chat types → ours; a channel (or a type this version does not know) is absent.
_CHAT_TYPES = {"private": ChatType.PRIVATE, "group": ChatType.GROUP, "supergroup": ChatType.GROUP}
# Messages that carry nothing a flow can use; their sender is told what can be sent. An
# animation carries a ``document`` too, so these are looked for before documents.
_UNSUPPORTED = ("animation", "audio", "dice", "poll", "sticker", "video", "video_note", "voice")

JSON = Mapping[str, Any]
Markup = dict[str, Any]

# Photo-store keys are a sha256 with an optional extension; anything else is a file id.
_PHOTO_KEY = re.compile(r"^[0-9a-f]{64}(\.[A-Za-z0-9]{1,5})?$")


# -- updates in ---------------------------------------------------------------------------


def incoming_from_update(data: JSON, *, bot_username: str | None = None) -> Incoming | None:
    """The neutral form of a Bot API update, or None for kinds no flow handles.

    With ``bot_username``, a ``/command@otherbot`` (meant for another bot in a group) is
    ignored too.
    """
    update_id = str(data["update_id"])
    if "callback_query" in data:
        return _button(update_id, data["callback_query"])
    # Edited messages (a live location's moves among them) and channel posts are left out:
    # an edit is not a new request, and a channel has nobody to talk back to.
    if "message" in data:
        return _message(update_id, data["message"], bot_username)
    return None


def _user(sender: JSON | None, chat: JSON) -> User | None:
    chat_type = _CHAT_TYPES.get(chat.get("type", "private"))
    if sender is None or chat_type is None:
        return None
    names = (sender.get("first_name", ""), sender.get("last_name"))
    return User(
        platform=PLATFORM,
        user_id=str(sender["id"]),
        chat_id=str(chat["id"]),
        display_name=" ".join(name for name in names if name),
        language_code=sender.get("language_code"),
        chat_type=chat_type,
    )


def _base(update_id: str, message: JSON) -> dict[str, Any] | None:
    if "sender_chat" in message:
        # Written as a channel or as an anonymous group admin (``from`` is then a stand-in
        # bot account): no person to talk back to.
        return None
    user = _user(message.get("from"), message["chat"])
    if user is None:
        return None
    return {"update_id": update_id, "user": user, "message_id": str(message["message_id"])}


def _message(update_id: str, message: JSON, bot_username: str | None) -> Incoming | None:
    if "text" in message:
        return _text_or_command(update_id, message, bot_username)
    if message.get("photo"):
        return _photo(update_id, message)
    if any(kind in message for kind in _UNSUPPORTED):
        base = _base(update_id, message)
        return None if base is None else Incoming(kind=Kind.UNSUPPORTED, **base)
    if "document" in message:
        return _document(update_id, message)
    if "location" in message:  # a venue carries a location too
        return _location(update_id, message)
    if "contact" in message:
        return _contact(update_id, message)
    return None


def _text_or_command(update_id: str, message: JSON, bot_username: str | None) -> Incoming | None:
    base = _base(update_id, message)
    if base is None:
        return None
    text: str = message["text"]
    entity = next(iter(message.get("entities") or ()), None)
    if entity is None or entity["type"] != "bot_command" or entity["offset"] != 0:
        return Incoming(kind=Kind.TEXT, text=text, **base)
    length: int = entity["length"]
    name, _, addressee = text[1:length].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    payload = text[length:].strip()
    return Incoming(kind=Kind.COMMAND, text=text, command=name.lower(), payload=payload, **base)


def _photo(update_id: str, message: JSON) -> Incoming | None:
    base = _base(update_id, message)
    if base is None:
        return None
    largest = max(
        message["photo"], key=lambda p: (p["width"] * p["height"], p.get("file_size") or 0)
    )
    ref = FileRef(
        file_id=largest["file_id"],
        file_unique_id=largest.get("file_unique_id", ""),
        size=largest.get("file_size"),
        mime_type="image/jpeg",  # Telegram re-encodes every photo sent the normal way
        width=largest["width"],
        height=largest["height"],
    )
    return Incoming(kind=Kind.PHOTO, photo=ref, **_media(message), **base)


def _document(update_id: str, message: JSON) -> Incoming | None:
    base = _base(update_id, message)
    if base is None:
        return None
    document = message["document"]
    ref = FileRef(
        file_id=document["file_id"],
        file_unique_id=document.get("file_unique_id", ""),
        size=document.get("file_size"),
        mime_type=document.get("mime_type"),
        file_name=document.get("file_name"),
    )
    return Incoming(kind=Kind.DOCUMENT, document=ref, **_media(message), **base)


def _media(message: JSON) -> dict[str, Any]:
    return {"text": message.get("caption", ""), "media_group_id": message.get("media_group_id")}


def _location(update_id: str, message: JSON) -> Incoming | None:
    base = _base(update_id, message)
    if base is None:
        return None
    where, venue = message["location"], message.get("venue") or {}
    location = Location(
        lat=where["latitude"],
        lon=where["longitude"],
        title=venue.get("title"),
        address=venue.get("address"),
        live=bool(where.get("live_period")),
    )
    return Incoming(kind=Kind.LOCATION, location=location, **base)


def _contact(update_id: str, message: JSON) -> Incoming | None:
    base = _base(update_id, message)
    if base is None:
        return None
    card = message["contact"]
    owner = card.get("user_id")
    contact = Contact(
        phone=card["phone_number"],
        first_name=card.get("first_name", ""),
        user_id=str(owner) if owner is not None else None,
    )
    return Incoming(kind=Kind.CONTACT, contact=contact, **base)


def _button(update_id: str, query: JSON) -> Incoming | None:
    if query.get("data") is None:
        return None  # game buttons carry no data
    # A message too old to read (an InaccessibleMessage) still has its chat and id; an
    # inline-mode message has none, and the answer goes to the presser's private chat.
    message = query.get("message")
    chat = message["chat"] if message is not None else {"id": query["from"]["id"]}
    user = _user(query.get("from"), chat)
    if user is None:
        return None
    return Incoming(
        update_id=update_id,
        user=user,
        kind=Kind.BUTTON,
        button_data=query["data"],
        callback_id=query["id"],
        message_id=str(message["message_id"]) if message is not None else None,
    )


# -- messages out -------------------------------------------------------------------------


def reply_markup(out: Outgoing) -> Markup | None:
    """The ``reply_markup`` field for sending ``out``, or None to send none."""
    if out.remove_keyboard or out.kind is OutKind.REMOVE_KEYBOARD:
        return {"remove_keyboard": True}
    keyboard = request_keyboard(out.request) if out.request is not None else out.keyboard
    if out.request is not None and keyboard is None:
        return {"remove_keyboard": True}  # a request without buttons: none left showing
    if keyboard is None:
        return None
    if keyboard.inline:
        return inline_markup(keyboard)
    return {
        "keyboard": [[_reply_button(b) for b in row] for row in keyboard.rows],
        "resize_keyboard": True,
        "one_time_keyboard": keyboard.one_time,
    }


def request_keyboard(request: Ask) -> Keyboard | None:
    """A request as Telegram shows it: a one-time reply keyboard, the share button first,
    then one row per ready-made reply; None when it has neither (a photo: the text says so)."""
    rows: list[tuple[Button, ...]] = []
    share = request.share
    if share is not None:
        rows.append(
            (
                Button(
                    text=request.button,
                    request_location=share is Request.LOCATION,
                    request_contact=share is Request.PHONE,
                ),
            )
        )
    rows += [(Button(text=option),) for option in request.options]
    return Keyboard(rows=tuple(rows), inline=False, one_time=True) if rows else None


def inline_markup(keyboard: Keyboard | None) -> Markup | None:
    """An inline keyboard's ``reply_markup`` (the only kind an edit can carry), or None."""
    if keyboard is None or not keyboard.inline:
        return None
    return {"inline_keyboard": [[_inline_button(b) for b in row] for row in keyboard.rows]}


def _inline_button(button: Button) -> dict[str, Any]:
    if button.url is not None:
        return {"text": button.text, "url": button.url}
    return {"text": button.text, "callback_data": button.data or button.text}


def _reply_button(button: Button) -> dict[str, Any]:
    # A flag is left out rather than sent false, so a plain button carries no request flags.
    flags = {"request_location": button.request_location, "request_contact": button.request_contact}
    return {"text": button.text, **{name: True for name, on in flags.items() if on}}


def is_photo_key(ref: str) -> bool:
    """Whether ``ref`` names a photo in our photo store rather than a platform file id."""
    return bool(_PHOTO_KEY.match(ref))


# -- errors -------------------------------------------------------------------------------
# Both libraries raise a 400 with Telegram's description; these read that description.


def is_not_modified(description: str) -> bool:
    # Editing a message into what it already shows is a success for us, not a failure.
    return "message is not modified" in description.lower()


def is_too_big(description: str) -> bool:
    # The cloud Bot API refuses get_file above 20 MB with "file is too big".
    return "too big" in description.lower()
