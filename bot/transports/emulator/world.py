"""The emulator's in-memory world: users, chats, messages, pending updates, webhook.

Everything lives on one event loop: methods mutate plain data and ``changed`` wakes the
long-poll waiters (getUpdates, the webhook sender, the control API's message wait), so no
lock is needed. Messages are kept in the Bot API's own JSON shape, because that is what
both sides, the bot and the tests, read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.transports.emulator.errors import JSON, ApiError, bad_request, compact
from bot.transports.emulator.faults import CallLog, FaultPlan
from bot.transports.emulator.files import FileStore

T = TypeVar("T")
# Telegram's media group ids are long decimal strings; start high so they look alike.
FIRST_MEDIA_GROUP = 13_000_000_000_000_000


class Signal:
    """Wakes every current waiter once; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), at_most)


class Waitable:
    """Waiting on an in-memory world that ``changed`` signals and ``close`` ends (shared
    with the WeChat emulator's world)."""

    changed: Signal
    closed: bool

    async def wait_until(self, check: Callable[[], T], at_most: float) -> T:
        """``check()`` once it is truthy, or its last value when the time is up or we close.

        Not asyncio.timeout: a long poll that finds nothing answers normally, it does not fail.
        """
        deadline = time.monotonic() + at_most
        while True:
            result = check()
            remaining = deadline - time.monotonic()
            if result or remaining <= 0 or self.closed:
                return result
            await self.changed.wait(remaining)

    async def sleep(self, seconds: float) -> None:
        """Like asyncio.sleep, but cut short by close() so shutdown never waits on a hang."""
        await self.wait_until(lambda: None, seconds)

    def close(self) -> None:
        self.closed = True
        self.changed.notify()


@dataclass(slots=True, kw_only=True)
class Entry:
    """One message in a chat as both sides see it now (edits applied)."""

    seq: int  # bumped on every change, for the control API's ``since`` cursor
    message: JSON
    from_bot: bool
    at: float  # time.monotonic() when it arrived, for rate-limit checks
    reply_markup: JSON | None = None  # as the bot sent it; reply keyboards included
    deleted: bool = False

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])

    @property
    def text(self) -> str:
        return str(self.message.get("text") or self.message.get("caption") or "")

    def file_id(self) -> str | None:
        """The photo's largest size or the document, the one a viewer would open."""
        if "photo" in self.message:
            return str(self.message["photo"][-1]["file_id"])
        if "document" in self.message:
            return str(self.message["document"]["file_id"])
        return None


@dataclass(slots=True, kw_only=True)
class Chat:
    info: JSON
    entries: dict[int, Entry] = field(default_factory=dict)  # by message_id, in order
    last_message_id: int = 0
    reply_keyboard: JSON | None = None  # the reply keyboard the user currently sees
    last_action: str | None = None

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    update_id: int
    url: str
    headers: dict[str, str]
    status: int | None  # None when the connection itself failed
    at: float


class World(Waitable):
    def __init__(self, *, token: str, bot_username: str, bot_name: str = "Gridsnap") -> None:
        self.token = token
        self.bot: JSON = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.files = FileStore()
        self.faults = FaultPlan()
        self.calls = CallLog()
        self.changed = Signal()
        self.closed = False
        self.users: dict[int, JSON] = {}
        self.chats: dict[int, Chat] = {}
        self.updates: list[JSON] = []
        self.allowed_updates: list[str] = []
        self.webhook: Webhook | None = None
        self.polls = 0  # getUpdates calls so far: a newer one ends a waiting one with 409
        self.webhook_error: tuple[int, str] | None = None
        self.deliveries: list[Delivery] = []
        self.callback_answers: dict[str, JSON | None] = {}
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.cursor = 0
        # Every update ever created, by id, so a test can have one delivered again.
        self.history: dict[int, JSON] = {}
        self._again: set[int] = set()  # re-delivered ids the bot has not been served yet
        self.times_served: Counter[int] = Counter()  # update id → answers that carried it
        self._update_ids = itertools.count(1)
        self._user_ids = itertools.count(1_000_001)
        self._media_groups = itertools.count(FIRST_MEDIA_GROUP)
        self._group_ids = itertools.count(1)

    # --- users and what they do ------------------------------------------------------------

    def add_user(
        self,
        user_id: int | None = None,
        *,
        first_name: str = "Courier",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        uid = next(self._user_ids) if user_id is None else user_id
        names = {"first_name": first_name, "last_name": last_name, "username": username}
        user = compact({"id": uid, "is_bot": False, **names, "language_code": language_code})
        self.users[uid] = user
        if uid not in self.chats:
            self.chats[uid] = Chat(info=compact({"id": uid, "type": "private", **names}))
        return user

    def add_group(self, *, title: str) -> JSON:
        """A supergroup chat (negative id, as Telegram's are); any user may write in it."""
        gid = -1_000_000_000_000 - next(self._group_ids)
        self.chats[gid] = Chat(info={"id": gid, "type": "supergroup", "title": title})
        return self.chats[gid].info

    def user(self, user_id: int) -> JSON:
        if user_id not in self.users:
            raise ApiError(404, f"Not Found: no user {user_id}")
        return self.users[user_id]

    def user_text(self, user_id: int, text: str, *, chat_id: int | None = None) -> JSON:
        """``text`` written by the user in their private chat, or in the group ``chat_id``."""
        content: JSON = {"text": text}
        if text.startswith("/") and len(text) > 1:
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._from_user(user_id, content, chat_id=chat_id)

    def user_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> JSON:
        sizes = self.photo_sizes(data)
        content = compact({"media_group_id": media_group_id, "photo": sizes, "caption": caption})
        return self._from_user(user_id, content)

    def user_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> JSON:
        document = self.files.add_document(data, file_name=file_name, mime_type=mime_type)
        return self._from_user(user_id, compact({"document": document, "caption": caption}))

    def user_album(
        self, user_id: int, photos: list[bytes], *, caption: str | None = None
    ) -> list[JSON]:
        if not 2 <= len(photos) <= 10:
            raise bad_request("an album holds 2 to 10 photos")
        group = self.new_media_group_id()
        # Clients put an album's caption on its first item only.
        captions = [caption] + [None] * (len(photos) - 1)
        return [
            self.user_photo(user_id, data, caption=text, media_group_id=group)
            for data, text in zip(photos, captions, strict=True)
        ]

    def user_location(
        self, user_id: int, latitude: float, longitude: float, *, live_period: int | None = None
    ) -> JSON:
        location = compact(
            {"latitude": latitude, "longitude": longitude, "live_period": live_period}
        )
        return self._from_user(user_id, {"location": location})

    def user_venue(
        self, user_id: int, latitude: float, longitude: float, *, title: str, address: str
    ) -> JSON:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        return self._from_user(user_id, {"location": location, "venue": venue})

    def user_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        first_name: str | None = None,
        contact_user_id: int | None = None,
    ) -> JSON:
        """Someone's contact card; pass ``contact_user_id=user_id`` for the user's own."""
        known = self.users.get(contact_user_id) if contact_user_id is not None else None
        name = first_name or (known or {}).get("first_name") or "Contact"
        contact = compact(
            {"phone_number": phone_number, "first_name": name, "user_id": contact_user_id}
        )
        return self._from_user(user_id, {"contact": contact})

    def press(self, user_id: int, message_id: int, data: str, *, force: bool = False) -> str:
        """Press the inline button with callback ``data``; returns the callback query id.

        ``force=True`` sends ``data`` even when the message has no such button: a modified
        client can put anything in a callback query, and the bot must refuse it.
        """
        user = self.user(user_id)
        entry = self.chats[user_id].entries.get(message_id)
        if entry is None or entry.deleted or not entry.from_bot:
            raise bad_request("message not found")
        if not force and data not in _callback_data(entry.message.get("reply_markup")):
            raise bad_request(f"message {message_id} has no button with data {data!r}")
        query_id = str(secrets.randbits(62))
        self.callback_answers[query_id] = None
        instance = hashlib.sha256(f"{self.bot['id']}:{user_id}".encode()).hexdigest()[:15]
        query = {
            "id": query_id,
            "from": user,
            "message": entry.message,
            "chat_instance": str(int(instance, 16)),
            "data": data,
        }
        self._enqueue("callback_query", query)
        return query_id

    def _from_user(self, user_id: int, content: JSON, *, chat_id: int | None = None) -> JSON:
        user = self.user(user_id)
        chat = self.chats[user_id if chat_id is None else chat_id]
        message = {
            "message_id": chat.next_message_id(),
            "from": user,
            "chat": chat.info,
            "date": int(time.time()),
            **content,
        }
        self._record(chat, Entry(seq=0, message=message, from_bot=False, at=time.monotonic()))
        self._enqueue("message", message)
        return message

    # --- the bot's side -----------------------------------------------------------------------

    def chat(self, chat_id: object) -> Chat:
        try:
            return self.chats[int(str(chat_id))]
        except (KeyError, ValueError):
            raise bad_request("chat not found") from None

    def photo_sizes(self, data: bytes) -> list[JSON]:
        try:
            return self.files.add_photo(data)
        except ValueError:
            raise bad_request("IMAGE_PROCESS_FAILED") from None

    def new_media_group_id(self) -> str:
        return str(next(self._media_groups))

    def post(self, chat: Chat, content: JSON, reply_markup: JSON | None) -> JSON:
        """Record a message the bot sent; only inline keyboards travel inside the message."""
        message = {
            "message_id": chat.next_message_id(),
            "from": self.bot,
            "chat": chat.info,
            "date": int(time.time()),
            **content,
        }
        if _inline_rows(reply_markup):
            message["reply_markup"] = reply_markup
        elif reply_markup and "keyboard" in reply_markup:
            chat.reply_keyboard = reply_markup
        elif reply_markup and reply_markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        entry = Entry(
            seq=0, message=message, from_bot=True, at=time.monotonic(), reply_markup=reply_markup
        )
        self._record(chat, entry)
        return message

    def bot_entry(self, chat_id: object, message_id: int | None) -> Entry:
        entry = self.chat(chat_id).entries.get(message_id or 0)
        if entry is None or entry.deleted:
            raise bad_request("message to edit not found")
        if not entry.from_bot:
            raise bad_request("message can't be edited")
        return entry

    def edit(self, entry: Entry, changes: JSON, reply_markup: JSON | None) -> JSON:
        """Apply an edit; like Telegram, an edit without reply_markup drops the keyboard."""
        edited = {key: value for key, value in entry.message.items() if key != "reply_markup"}
        for key, value in changes.items():
            if value is None:
                edited.pop(key, None)
            else:
                edited[key] = value
        if _inline_rows(reply_markup):
            edited["reply_markup"] = reply_markup
        if _without_edit_date(edited) == _without_edit_date(entry.message):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are"
                " exactly the same as a current content and reply markup of the message"
            )
        edited["edit_date"] = int(time.time())
        entry.message = edited
        entry.reply_markup = reply_markup
        self._touch(entry)
        return edited

    def delete(self, chat_id: object, message_id: int | None) -> None:
        entry = self.chat(chat_id).entries.get(message_id or 0)
        if entry is None or entry.deleted:
            raise bad_request("message to delete not found")
        entry.deleted = True
        self._touch(entry)

    def entries(self, chat_id: int, since: int = 0) -> list[Entry]:
        """A chat's messages in order; with ``since``, only those changed after that cursor."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        return [e for e in chat.entries.values() if e.seq > since and (since or not e.deleted)]

    def _record(self, chat: Chat, entry: Entry) -> None:
        chat.entries[entry.message_id] = entry
        self._touch(entry)

    def _touch(self, entry: Entry) -> None:
        self.cursor += 1
        entry.seq = self.cursor
        self.changed.notify()

    # --- updates ------------------------------------------------------------------------------

    def _enqueue(self, kind: str, payload: JSON) -> None:
        if self.allowed_updates and kind not in self.allowed_updates:
            return  # Telegram never creates updates the bot did not ask for
        update_id = next(self._update_ids)
        update: JSON = {"update_id": update_id, kind: payload}
        self.history[update_id] = update
        self.updates.append(update)
        self.changed.notify()

    @property
    def last_update_id(self) -> int:
        return max(self.history, default=0)

    def number_updates_after(self, update_id: int) -> None:
        """Give the next updates ids above ``update_id``, as Telegram does across restarts.

        Telegram's ids only grow for a bot, and a bot remembers the ids it processed (to
        drop redeliveries), so a restarted emulator must not begin at 1 again.
        """
        self._update_ids = itertools.count(max(update_id, self.last_update_id) + 1)

    def redeliver(self, update_id: int) -> JSON:
        """Queue an update again with the same update_id, as Telegram does when the bot
        never confirmed it (a crash before the offset moved on, a webhook retry)."""
        update = self.history.get(update_id)
        if update is None:
            raise bad_request(f"no update {update_id} was ever created")
        self._again.add(update_id)
        self.updates.append(update)
        self.changed.notify()
        return update

    def served(self, updates: list[JSON]) -> None:
        """The bot received these; a re-delivered one may now be confirmed away."""
        ids = [u["update_id"] for u in updates]
        self.times_served.update(ids)
        self._again.difference_update(ids)

    def confirm(self, offset: int) -> None:
        """getUpdates' offset: drop updates below it; a negative one keeps the last -offset.

        A re-delivered update sits below the offset the bot already confirmed; it stays
        until the bot has been served it once.
        """
        if offset > 0:
            self.updates = [
                u for u in self.updates if u["update_id"] >= offset or u["update_id"] in self._again
            ]
        elif offset < 0:
            self.updates = self.updates[offset:]


def _inline_rows(markup: JSON | None) -> list[list[JSON]]:
    return list((markup or {}).get("inline_keyboard") or [])


def _callback_data(markup: JSON | None) -> set[str]:
    return {b["callback_data"] for row in _inline_rows(markup) for b in row if "callback_data" in b}


def _without_edit_date(message: JSON) -> JSON:
    return {key: value for key, value in message.items() if key != "edit_date"}
