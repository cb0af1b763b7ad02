"""The python-telegram-bot transport: Telegram updates in, ``Outgoing`` messages out.

A thin translator. ``to_incoming`` maps an update onto the neutral ``Incoming``;
``TelegramSender`` turns an ``Outgoing`` into Bot API calls and Telegram's errors into the
neutral ones the outbox sender understands; ``TelegramFetcher`` downloads files within a
size cap. ``build_application`` wires one PTB handler to the dispatcher, for long polling
or a webhook, against any Bot API server (``settings.telegram_api_url``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram import Contact as TgContact
from telegram import User as TgUser
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError
from telegram.error import RetryAfter as TgRetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from bot.chat import (
    Button,
    Contact,
    FileRef,
    Incoming,
    Keyboard,
    Kind,
    Location,
    Outgoing,
    OutKind,
    User,
)
from bot.config import ConfigError, Settings
from bot.delivery import DeliveryError, PermanentError, RetryAfter, TransientError
from bot.services.photos import FileTooBig

log = logging.getLogger(__name__)

PLATFORM = "telegram"
# The only update kinds a flow can act on; asking for fewer spares traffic and noise.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")

TgApp = Application[Any, Any, Any, Any, Any, Any]
OnIncoming = Callable[[Incoming], Awaitable[None]]
PhotoLoader = Callable[[str], bytes]
_T = TypeVar("_T")

_PHOTO_KEY = re.compile(r"^[0-9a-f]{64}(\.[A-Za-z0-9]{1,5})?$")


# -- updates in ---------------------------------------------------------------------------


def to_incoming(update: Update, *, bot_username: str | None = None) -> Incoming | None:
    """The neutral form of an update, or None for kinds no flow handles.

    With ``bot_username``, a ``/command@otherbot`` (meant for another bot in a group) is
    ignored too.
    """
    if update.callback_query is not None:
        return _button(update)
    if update.edited_message is not None:
        # Live-location updates arrive as edits; an edited text is not a new request.
        message = update.edited_message
        if message.location is None:
            return None
        return _location(update, message)
    if update.message is not None:
        return _message(update, update.message, bot_username)
    return None


def _user(tg_user: TgUser | None, chat_id: int) -> User | None:
    if tg_user is None:
        return None
    return User(
        platform=PLATFORM,
        user_id=str(tg_user.id),
        chat_id=str(chat_id),
        display_name=tg_user.full_name,
        language_code=tg_user.language_code,
    )


def _base(update: Update, message: Message) -> dict[str, Any] | None:
    user = _user(message.from_user, message.chat.id)
    if user is None:
        return None  # channel posts and anonymous admins: nobody to talk back to
    return {
        "update_id": str(update.update_id),
        "user": user,
        "message_id": str(message.message_id),
    }


def _message(update: Update, message: Message, bot_username: str | None) -> Incoming | None:
    if message.text is not None:
        return _text_or_command(update, message, bot_username)
    if message.photo:
        return _photo(update, message)
    if message.document is not None:
        return _document(update, message)
    if message.location is not None:  # a venue carries a location too
        return _location(update, message)
    if message.contact is not None:
        return _contact(update, message, message.contact)
    return None


def _text_or_command(update: Update, message: Message, bot_username: str | None) -> Incoming | None:
    base = _base(update, message)
    text = message.text or ""
    if base is None:
        return None
    entity = next(iter(message.entities), None)
    if entity is None or entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
        return Incoming(kind=Kind.TEXT, text=text, **base)
    name, _, addressee = text[1 : entity.length].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    payload = text[entity.length :].strip()
    return Incoming(kind=Kind.COMMAND, text=text, command=name.lower(), payload=payload, **base)


def _photo(update: Update, message: Message) -> Incoming | None:
    base = _base(update, message)
    if base is None:
        return None
    largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
    ref = FileRef(
        file_id=largest.file_id,
        file_unique_id=largest.file_unique_id,
        size=largest.file_size,
        mime_type="image/jpeg",  # Telegram re-encodes every photo sent the normal way
        width=largest.width,
        height=largest.height,
    )
    return Incoming(
        kind=Kind.PHOTO,
        text=message.caption or "",
        photo=ref,
        media_group_id=message.media_group_id,
        **base,
    )


def _document(update: Update, message: Message) -> Incoming | None:
    base = _base(update, message)
    document = message.document
    if base is None or document is None:
        return None
    ref = FileRef(
        file_id=document.file_id,
        file_unique_id=document.file_unique_id,
        size=document.file_size,
        mime_type=document.mime_type,
        file_name=document.file_name,
    )
    return Incoming(
        kind=Kind.DOCUMENT,
        text=message.caption or "",
        document=ref,
        media_group_id=message.media_group_id,
        **base,
    )


def _location(update: Update, message: Message) -> Incoming | None:
    base = _base(update, message)
    tg_location = message.location
    if base is None or tg_location is None:
        return None
    venue = message.venue
    live = update.edited_message is not None or _quietly(lambda: tg_location.live_period)
    location = Location(
        lat=tg_location.latitude,
        lon=tg_location.longitude,
        title=venue.title if venue else None,
        address=venue.address if venue else None,
        live=bool(live),
    )
    return Incoming(kind=Kind.LOCATION, location=location, **base)


def _contact(update: Update, message: Message, tg_contact: TgContact) -> Incoming | None:
    base = _base(update, message)
    if base is None:
        return None
    contact = Contact(
        phone=tg_contact.phone_number,
        first_name=tg_contact.first_name,
        user_id=str(tg_contact.user_id) if tg_contact.user_id is not None else None,
    )
    return Incoming(kind=Kind.CONTACT, contact=contact, **base)


def _button(update: Update) -> Incoming | None:
    query = update.callback_query
    if query is None or query.data is None:
        return None  # game buttons carry no data
    message = query.message
    # An inline-mode message has no chat; the answer goes to the presser's private chat.
    chat_id = message.chat.id if message is not None else query.from_user.id
    user = _user(query.from_user, chat_id)
    if user is None:
        return None
    return Incoming(
        update_id=str(update.update_id),
        user=user,
        kind=Kind.BUTTON,
        button_data=query.data,
        callback_id=query.id,
        message_id=str(message.message_id) if message is not None else None,
    )


def _quietly(read: Callable[[], _T]) -> _T:
    """Read a PTB duration attribute without its int-vs-timedelta migration warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return read()


# -- messages out -------------------------------------------------------------------------

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _inline_markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if keyboard is None or not keyboard.inline:
        return None
    return InlineKeyboardMarkup([[_inline_button(b) for b in row] for row in keyboard.rows])


def _inline_button(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(button.text, url=button.url)
    return InlineKeyboardButton(button.text, callback_data=button.data or button.text)


def _markup(out: Outgoing) -> Markup | None:
    if out.remove_keyboard or out.kind is OutKind.REMOVE_KEYBOARD:
        return ReplyKeyboardRemove()
    keyboard = out.keyboard
    if keyboard is None:
        return None
    if keyboard.inline:
        return _inline_markup(keyboard)
    rows = [
        [
            KeyboardButton(
                b.text, request_location=b.request_location, request_contact=b.request_contact
            )
            for b in row
        ]
        for row in keyboard.rows
    ]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=keyboard.one_time)


def _neutral(exc: TelegramError) -> DeliveryError:
    if isinstance(exc, TgRetryAfter):
        retry_after = _quietly(lambda: exc.retry_after)
        seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
        return RetryAfter(seconds)
    if isinstance(exc, BadRequest | Forbidden | ChatMigrated):
        return PermanentError(str(exc))
    # NetworkError, TimedOut, 5xx, and also InvalidToken: a wrong token is fixed by the
    # operator, after which every waiting row should still go out.
    return TransientError(str(exc))


def _not_modified(exc: BadRequest) -> bool:
    # Editing a message into what it already shows is a success for us, not a failure.
    return "message is not modified" in str(exc).lower()


class TelegramSender:
    """Sends ``Outgoing`` messages through a PTB ``Bot``; ``send`` is the outbox's sender.

    A stored photo (``photo`` is a photo-store key) is uploaded once: the file id Telegram
    returns is remembered in ``file_ids`` and sent instead of the bytes next time.
    """

    def __init__(
        self,
        *,
        bot: Bot,
        photo_loader: PhotoLoader,
        file_ids: MutableMapping[str, str] | None = None,
        is_photo_key: Callable[[str], bool] = lambda ref: bool(_PHOTO_KEY.match(ref)),
    ) -> None:
        self._bot = bot
        self._photo_loader = photo_loader
        self._file_ids: MutableMapping[str, str] = {} if file_ids is None else file_ids
        self._is_photo_key = is_photo_key

    async def send(self, out: Outgoing) -> str | None:
        """Deliver ``out``; return the platform message id (None for a button answer)."""
        try:
            return await self._dispatch(out)
        except TelegramError as exc:
            raise _neutral(exc) from exc

    async def _dispatch(self, out: Outgoing) -> str | None:
        match out.kind:
            case OutKind.TEXT | OutKind.REMOVE_KEYBOARD:
                sent = await self._bot.send_message(
                    out.chat_id, out.text, reply_markup=_markup(out)
                )
                return str(sent.message_id)
            case OutKind.PHOTO:
                return await self._send_photo(out)
            case OutKind.LOCATION:
                return await self._send_location(out)
            case OutKind.EDIT_TEXT | OutKind.EDIT_MARKUP:
                return await self._edit(out)
            case OutKind.ANSWER_BUTTON:
                await self._bot.answer_callback_query(
                    _required(out.callback_id, "callback_id"),
                    text=out.text or None,
                    show_alert=out.alert,
                )
                return None
        raise PermanentError(f"unknown outgoing kind {out.kind!r}")

    async def _send_photo(self, out: Outgoing) -> str:
        ref = _required(out.photo, "photo")
        if not self._is_photo_key(ref):
            return await self._send_photo_as(out, ref)
        cached = self._file_ids.get(ref)
        if cached is not None:
            try:
                return await self._send_photo_as(out, cached)
            except BadRequest:
                # A remembered file id can go stale (another bot token, a purged server).
                log.info("cached file id for photo %s refused; uploading again", ref)
                self._file_ids.pop(ref, None)
        data = await self._load(ref)
        sent = await self._bot.send_photo(
            out.chat_id, data, caption=out.text or None, reply_markup=_markup(out)
        )
        if sent.photo:
            self._file_ids[ref] = sent.photo[-1].file_id
        return str(sent.message_id)

    async def _send_photo_as(self, out: Outgoing, file_id: str) -> str:
        sent = await self._bot.send_photo(
            out.chat_id, file_id, caption=out.text or None, reply_markup=_markup(out)
        )
        return str(sent.message_id)

    async def _load(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._photo_loader, key)
        except (FileNotFoundError, KeyError) as exc:
            raise PermanentError(f"photo {key} is not in the photo store") from exc
        except OSError as exc:
            raise TransientError(f"photo {key} could not be read: {exc}") from exc

    async def _send_location(self, out: Outgoing) -> str:
        where = _required(out.location, "location")
        markup = _markup(out)
        if where.title:
            sent = await self._bot.send_venue(
                out.chat_id,
                where.lat,
                where.lon,
                where.title,
                where.address or "",
                reply_markup=markup,
            )
        else:
            sent = await self._bot.send_location(
                out.chat_id, where.lat, where.lon, reply_markup=markup
            )
        return str(sent.message_id)

    async def _edit(self, out: Outgoing) -> str:
        message_id = int(_required(out.message_id, "message_id"))
        markup = _inline_markup(out.keyboard)
        try:
            if out.kind is OutKind.EDIT_TEXT:
                await self._bot.edit_message_text(
                    out.text, chat_id=out.chat_id, message_id=message_id, reply_markup=markup
                )
            else:
                await self._bot.edit_message_reply_markup(
                    chat_id=out.chat_id, message_id=message_id, reply_markup=markup
                )
        except BadRequest as exc:
            if not _not_modified(exc):
                raise
        return str(message_id)


def _required(value: _T | None, name: str) -> _T:
    if value is None:
        raise PermanentError(f"outgoing message has no {name}")
    return value


# -- files in -----------------------------------------------------------------------------


class TelegramFetcher:
    """Downloads a file by id, refusing before the download when it is over the cap."""

    def __init__(self, *, bot: Bot) -> None:
        self._bot = bot

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        if ref.size is not None and ref.size > max_bytes:
            raise FileTooBig(f"{ref.size} bytes > {max_bytes}")
        try:
            file = await self._bot.get_file(ref.file_id)
            if file.file_size is not None and file.file_size > max_bytes:
                raise FileTooBig(f"{file.file_size} bytes > {max_bytes}")
            data = bytes(await file.download_as_bytearray())
        except BadRequest as exc:
            # The cloud Bot API refuses get_file above 20 MB with "file is too big".
            if "too big" in str(exc).lower():
                raise FileTooBig(str(exc)) from exc
            raise _neutral(exc) from exc
        except TelegramError as exc:
            raise _neutral(exc) from exc
        if len(data) > max_bytes:
            raise FileTooBig(f"{len(data)} bytes > {max_bytes}")
        return data


# -- the application ----------------------------------------------------------------------


def build_application(settings: Settings, on_incoming: OnIncoming) -> TgApp:
    """A PTB Application that hands every mappable update to ``on_incoming``."""
    if not settings.telegram_token:
        raise ConfigError("GRIDSNAP_TELEGRAM_TOKEN: required to talk to Telegram")
    api = settings.telegram_api_url.rstrip("/")
    application: TgApp = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .job_queue(None)  # scheduling is ours (bot/scheduler.py), not PTB's
        # PTB starts updates in arrival order and reaches ``on_incoming`` without yielding
        # (its semaphore queues fairly), so the dispatcher's per-user turns keep each user's
        # updates in order while a slow photo download of one rider holds up no one else.
        .concurrent_updates(settings.concurrent_updates)
        .build()
    )

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = to_incoming(update, bot_username=context.bot.username)
        if incoming is not None:
            await on_incoming(incoming)

    async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %r", update, exc_info=context.error)

    application.add_handler(TypeHandler(Update, handle))
    application.add_error_handler(log_error)
    return application


@asynccontextmanager
async def polling(application: TgApp) -> AsyncIterator[TgApp]:
    """Run the application by long polling for the duration of the block."""
    async with application:
        updater = application.updater
        if updater is None:
            raise ConfigError("the application was built without an updater")
        await application.start()
        await updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
        try:
            yield application
        finally:
            await updater.stop()
            await application.stop()


@asynccontextmanager
async def webhook(application: TgApp, *, url: str, secret: str) -> AsyncIterator[TgApp]:
    """Register ``url`` with Telegram and process what ``webhook_route`` receives."""
    async with application:
        await application.bot.set_webhook(
            url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
        )
        await application.start()
        try:
            yield application
        finally:
            await application.stop()


def webhook_route(application: TgApp, secret: str, *, path: str = "/telegram") -> Route:
    """A Starlette route for Telegram's webhook calls.

    The update is only queued before answering: Telegram retries a webhook that is slow
    to answer, and the dispatcher's processed-update ids make a retry harmless anyway.
    """
    if not secret:
        raise ConfigError("GRIDSNAP_WEBHOOK_SECRET: required to serve a webhook")
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError):
            return Response(status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    return Route(path, receive, methods=["POST"])


async def register_commands(
    bot: Bot, commands_by_locale: Mapping[str | None, Sequence[tuple[str, str]]]
) -> None:
    """Set the command menu per language; the ``None`` key is the list for everyone else.

    Locales are ours (``zh_CN``); Telegram matches on the two-letter language code.
    """
    for locale, commands in commands_by_locale.items():
        language = locale.split("_")[0].lower() if locale else None
        await bot.set_my_commands(
            [BotCommand(name, description) for name, description in commands],
            language_code=language,
        )
