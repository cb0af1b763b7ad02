"""The transport-neutral message model.

A transport turns a platform update into one ``Incoming`` and turns ``Outgoing`` back into
platform calls. Flows in ``handlers/`` see only these types, so adding a platform never
touches a flow. Everything here is JSON-serialisable through ``to_dict``/``from_dict``
because outgoing messages wait in the outbox table until the sender delivers them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Kind(enum.StrEnum):
    TEXT = "text"
    COMMAND = "command"
    PHOTO = "photo"
    DOCUMENT = "document"
    LOCATION = "location"
    CONTACT = "contact"
    BUTTON = "button"
    # A sticker, voice note, video, audio, dice or poll: nothing a flow can use, but the
    # sender is told so rather than met with silence.
    UNSUPPORTED = "unsupported"


class ChatType(enum.StrEnum):
    """Where a message was written. The bot serves private chats; a group (or supergroup)
    gets one pointer to the private chat and nothing else."""

    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    platform: str
    user_id: str
    chat_id: str
    display_name: str = ""
    language_code: str | None = None
    chat_type: ChatType = ChatType.PRIVATE  # of ``chat_id``


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRef:
    """A file the platform holds; the transport's fetcher downloads it by ``file_id``."""

    file_id: str
    file_unique_id: str = ""
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    lat: float
    lon: float
    title: str | None = None  # a venue's name
    address: str | None = None
    live: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    phone: str
    first_name: str = ""
    user_id: str | None = None  # whose contact card it is; None when not a platform user


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """One thing a user did. Exactly one of the payload fields is set, matching ``kind``."""

    update_id: str
    user: User
    kind: Kind
    text: str = ""
    command: str | None = None  # without the slash, lower case
    payload: str = ""  # what follows the command (a /start deep-link payload)
    photo: FileRef | None = None  # the largest size of a photo
    document: FileRef | None = None
    media_group_id: str | None = None  # albums arrive as several Incoming with one group id
    location: Location | None = None
    contact: Contact | None = None
    button_data: str | None = None
    callback_id: str | None = None  # to answer a button press
    message_id: str | None = None  # the message the button is on, or the user's message


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    text: str
    data: str | None = None  # inline: callback data (≤ 64 bytes on Telegram)
    url: str | None = None
    request_location: bool = False  # reply keyboard: share-location button
    request_contact: bool = False  # reply keyboard: share-contact button


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyboard:
    rows: tuple[tuple[Button, ...], ...]
    inline: bool = True
    one_time: bool = True


class OutKind(enum.StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    LOCATION = "location"
    EDIT_TEXT = "edit_text"
    EDIT_MARKUP = "edit_markup"
    ANSWER_BUTTON = "answer_button"
    REMOVE_KEYBOARD = "remove_keyboard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One thing to send to one chat.

    ``photo`` is a key in the photo store (sha256) or a platform file id; the sender
    resolves it. ``keyboard=None`` sends no markup; ``remove_keyboard`` hides a reply keyboard.
    """

    platform: str
    chat_id: str
    kind: OutKind = OutKind.TEXT
    text: str = ""
    photo: str | None = None
    location: Location | None = None
    keyboard: Keyboard | None = None
    remove_keyboard: bool = False
    message_id: str | None = None  # for edits
    callback_id: str | None = None  # for answer_button
    alert: bool = False  # answer_button shown as a dialog
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outgoing:
        data = dict(data)
        data["kind"] = OutKind(data["kind"])
        if data.get("location"):
            data["location"] = Location(**data["location"])
        if data.get("keyboard"):
            kb = data["keyboard"]
            data["keyboard"] = Keyboard(
                rows=tuple(tuple(Button(**b) for b in row) for row in kb["rows"]),
                inline=kb["inline"],
                one_time=kb["one_time"],
            )
        return cls(**data)


def inline(*rows: list[tuple[str, str]]) -> Keyboard:
    """Inline keyboard from rows of (label, callback data)."""
    return Keyboard(rows=tuple(tuple(Button(text=t, data=d) for t, d in row) for row in rows))
