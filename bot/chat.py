"""The transport-neutral message model.

A transport turns a platform update into one ``Incoming`` and turns ``Outgoing`` back into
platform calls. Flows in ``handlers/`` see only these types, so adding a platform never
touches a flow. Everything here is JSON-serialisable through ``to_dict``/``from_dict``
because outgoing messages wait in the outbox table until the sender delivers them.

The intents
-----------
Flows say *what* they offer (``handlers.base.Context`` has one method per intent); each
transport decides *how* it looks. On Telegram every intent has a native form; a platform
without buttons or edits (WeChat's customer-service messages, SMS) renders them so:

* **A choice** (``Context.choose``): a message whose ``keyboard`` is inline, each ``Button``
  carrying a packed payload (``bot.ui.payloads``) in ``data``. Telegram: inline buttons.
  Without buttons: a numbered text menu under the text ("1 Accept", "2 Return"); the reply
  "2" is delivered as ``Kind.BUTTON`` with that button's ``data``.
* **A request** (``Context.ask``): ``Outgoing.request`` says what the person is asked to
  send (``Request.LOCATION``, ``PHOTO``, ``PHONE``, combined with ``|``), the label of the
  share button and any ready-made replies (``options``: what they send is their label).
  Telegram: a one-time reply keyboard, the share button first (``request_location`` /
  ``request_contact``), then one row per option; a request with no share button and no
  option removes the reply keyboard. Without such buttons: the text, an instruction of how
  to send it there (attach a location, take a photo), the options as a numbered menu; there
  is no contact share, so a phone number is typed and the flow checks it like any text.
* **An acknowledgement** (``Context.ack``): ``OutKind.ANSWER_BUTTON`` for the press with
  ``callback_id``; ``alert`` asks for a dialog. Without buttons: nothing for an empty one,
  else the text as a message.
* **A replacement of an earlier prompt** (``Context.replace_choices``,
  ``Context.drop_choices``, ``Context.show_choice``): ``OutKind.EDIT_MARKUP`` on
  ``message_id``; its ``text``, when set, is what the prompt asked. Telegram edits the
  buttons in place. Without edits: a fresh message with ``text`` and the new menu; a drop
  (``keyboard`` None) or a shown choice sends nothing, as the person's own reply already
  says what they chose.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


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


class Packable(Protocol):
    """A button payload (``bot.ui.payloads.Payload``): what a choice carries."""

    def pack(self) -> str: ...


Choices = Sequence[Sequence[tuple[str, Packable]]]  # rows of (label, payload)


def choices(rows: Choices) -> Keyboard:
    """The inline keyboard of a choice: rows of (label, payload); empty rows left out."""
    return Keyboard(
        rows=tuple(tuple(Button(text=t, data=p.pack()) for t, p in row) for row in rows if row)
    )


class Request(enum.Flag):
    """What a message asks the person to send; combined with ``|`` (a photo or a location)."""

    LOCATION = enum.auto()
    PHOTO = enum.auto()
    PHONE = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class Ask:
    """A request, self-describing in JSON: ``{"wants": ["location"], "button": "📍 Share
    location", "options": ["↩️ Same place as last time"]}``."""

    wants: Request
    button: str = ""  # the share button's label (a location or the phone number)
    options: tuple[str, ...] = ()  # ready-made replies; choosing one sends its label as text

    @property
    def share(self) -> Request | None:
        """What the platform's share button sends (location or contact), if any."""
        for one in (Request.LOCATION, Request.PHONE):
            if one in self.wants:
                return one
        return None

    def to_dict(self) -> dict[str, Any]:
        wanted = [one.name.lower() for one in Request if one in self.wants and one.name]
        return {"wants": wanted, "button": self.button, "options": list(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ask:
        wants = Request(0)
        for name in data["wants"]:
            wants |= Request[name.upper()]
        return cls(wants=wants, button=data.get("button", ""), options=tuple(data["options"]))


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
    ``request`` (a request, see the module's intents) is rendered by the transport; a
    message carries a request or a keyboard, not both.
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
    request: Ask | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request"] = self.request.to_dict() if self.request else None
        return data

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
        if data.get("request"):  # rows written before requests existed have no such key
            data["request"] = Ask.from_dict(data["request"])
        return cls(**data)


def inline(*rows: list[tuple[str, str]]) -> Keyboard:
    """Inline keyboard from rows of (label, callback data)."""
    return Keyboard(rows=tuple(tuple(Button(text=t, data=d) for t, d in row) for row in rows))
