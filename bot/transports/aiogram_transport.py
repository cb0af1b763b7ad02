"""The aiogram 3 transport: the alternative to ``bot.transports.telegram`` (PTB).

The same thin translator on another library, to the same Telegram: ``to_incoming`` maps an
update onto the neutral ``Incoming``; ``AiogramSender`` turns an ``Outgoing`` into Bot API
calls and aiogram's errors into the neutral ones the outbox understands; ``AiogramFetcher``
downloads files within a size cap; ``build`` wires one handler into a ``Dispatcher`` for
long polling against any Bot API server (``settings.telegram_api_url``). Flows never see
which of the two transports is running, and the platform name is the same, so accounts and
conversations carry over when an operator switches.

The module is not named ``aiogram`` so it never shadows the library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from aiogram.types import Contact as TgContact
from aiogram.types import User as TgUser

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

PLATFORM = "telegram"  # the platform, not the library: both transports serve one Telegram
# The only update kinds a flow can act on; asking for fewer spares traffic and noise.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
POLL_SECONDS = 10  # long-poll wait; also bounds how long a stop waits for getUpdates

OnIncoming = Callable[[Incoming], Awaitable[None]]
PhotoLoader = Callable[[str], bytes]
_T = TypeVar("_T")

# Photo-store keys (sha256, optional extension), as in the PTB transport; anything else is
# a platform file id.
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
        return _location(update, message, edited=True)
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
        return _location(update, message, edited=False)
    if message.contact is not None:
        return _contact(update, message, message.contact)
    return None


def _text_or_command(update: Update, message: Message, bot_username: str | None) -> Incoming | None:
    base = _base(update, message)
    text = message.text or ""
    if base is None:
        return None
    entity = next(iter(message.entities or ()), None)
    if entity is None or entity.type != "bot_command" or entity.offset != 0:
        return Incoming(kind=Kind.TEXT, text=text, **base)
    name, _, addressee = text[1 : entity.length].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    payload = text[entity.length :].strip()
    return Incoming(kind=Kind.COMMAND, text=text, command=name.lower(), payload=payload, **base)


def _photo(update: Update, message: Message) -> Incoming | None:
    base = _base(update, message)
    if base is None or not message.photo:
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


def _location(update: Update, message: Message, *, edited: bool) -> Incoming | None:
    base = _base(update, message)
    tg_location = message.location
    if base is None or tg_location is None:
        return None
    venue = message.venue
    location = Location(
        lat=tg_location.latitude,
        lon=tg_location.longitude,
        title=venue.title if venue else None,
        address=venue.address if venue else None,
        live=edited or bool(tg_location.live_period),
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
    message = query.message  # possibly an InaccessibleMessage, which still has chat and id
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


# -- messages out -------------------------------------------------------------------------

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _inline_markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if keyboard is None or not keyboard.inline:
        return None
    rows = [[_inline_button(b) for b in row] for row in keyboard.rows]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _inline_button(button: Button) -> InlineKeyboardButton:
    if button.url is not None:
        return InlineKeyboardButton(text=button.text, url=button.url)
    return InlineKeyboardButton(text=button.text, callback_data=button.data or button.text)


def _reply_button(button: Button) -> KeyboardButton:
    # None leaves a field out of the request, so a plain button carries no request flags.
    return KeyboardButton(
        text=button.text,
        request_location=button.request_location or None,
        request_contact=button.request_contact or None,
    )


def _markup(out: Outgoing) -> Markup | None:
    if out.remove_keyboard or out.kind is OutKind.REMOVE_KEYBOARD:
        return ReplyKeyboardRemove(remove_keyboard=True)
    keyboard = out.keyboard
    if keyboard is None:
        return None
    if keyboard.inline:
        return _inline_markup(keyboard)
    return ReplyKeyboardMarkup(
        keyboard=[[_reply_button(b) for b in row] for row in keyboard.rows],
        resize_keyboard=True,
        one_time_keyboard=keyboard.one_time,
    )


def _neutral(exc: AiogramError) -> DeliveryError:
    if isinstance(exc, TelegramRetryAfter):
        return RetryAfter(exc.retry_after)
    # A 413 is filed under network errors by aiogram, but the same file will never fit.
    refused = TelegramBadRequest | TelegramForbiddenError | TelegramMigrateToChat
    if isinstance(exc, refused | TelegramEntityTooLarge):
        return PermanentError(str(exc))
    # Network trouble, 5xx, a garbled answer, and also a wrong token (401/404): the operator
    # fixes the token, after which every waiting row should still go out.
    return TransientError(str(exc))


def _not_modified(exc: TelegramBadRequest) -> bool:
    # Editing a message into what it already shows is a success for us, not a failure.
    return "message is not modified" in exc.message.lower()


class AiogramSender:
    """Sends ``Outgoing`` messages through an aiogram ``Bot``; ``send`` is the outbox's sender.

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
        except AiogramError as exc:
            raise _neutral(exc) from exc

    async def _dispatch(self, out: Outgoing) -> str | None:
        match out.kind:
            case OutKind.TEXT | OutKind.REMOVE_KEYBOARD:
                sent = await self._bot.send_message(
                    chat_id=out.chat_id, text=out.text, reply_markup=_markup(out)
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
                    callback_query_id=_required(out.callback_id, "callback_id"),
                    text=out.text or None,
                    show_alert=out.alert,
                )
                return None
        raise PermanentError(f"unknown outgoing kind {out.kind!r}")

    async def _send_photo(self, out: Outgoing) -> str:
        ref = _required(out.photo, "photo")
        if not self._is_photo_key(ref):
            return str((await self._send_photo_as(out, ref)).message_id)
        cached = self._file_ids.get(ref)
        if cached is not None:
            try:
                return str((await self._send_photo_as(out, cached)).message_id)
            except TelegramBadRequest:
                # A remembered file id can go stale (another bot token, a purged server).
                log.info("cached file id for photo %s refused; uploading again", ref)
                self._file_ids.pop(ref, None)
        upload = BufferedInputFile(await self._load(ref), filename=_file_name(ref))
        sent = await self._send_photo_as(out, upload)
        if sent.photo:
            self._file_ids[ref] = sent.photo[-1].file_id
        return str(sent.message_id)

    async def _send_photo_as(self, out: Outgoing, photo: str | BufferedInputFile) -> Message:
        return await self._bot.send_photo(
            chat_id=out.chat_id,
            photo=photo,
            caption=out.text or None,
            reply_markup=_markup(out),
        )

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
                chat_id=out.chat_id,
                latitude=where.lat,
                longitude=where.lon,
                title=where.title,
                address=where.address or "",
                reply_markup=markup,
            )
        else:
            sent = await self._bot.send_location(
                chat_id=out.chat_id, latitude=where.lat, longitude=where.lon, reply_markup=markup
            )
        return str(sent.message_id)

    async def _edit(self, out: Outgoing) -> str:
        message_id = int(_required(out.message_id, "message_id"))
        markup = _inline_markup(out.keyboard)
        try:
            if out.kind is OutKind.EDIT_TEXT:
                await self._bot.edit_message_text(
                    text=out.text, chat_id=out.chat_id, message_id=message_id, reply_markup=markup
                )
            else:
                await self._bot.edit_message_reply_markup(
                    chat_id=out.chat_id, message_id=message_id, reply_markup=markup
                )
        except TelegramBadRequest as exc:
            if not _not_modified(exc):
                raise
        return str(message_id)


def _required(value: _T | None, name: str) -> _T:
    if value is None:
        raise PermanentError(f"outgoing message has no {name}")
    return value


def _file_name(key: str) -> str:
    # Telegram re-encodes photos whatever the name says; a name with an extension only keeps
    # proxies and logs honest.
    return key if "." in key else f"{key}.jpg"


# -- files in -----------------------------------------------------------------------------


class AiogramFetcher:
    """Downloads a file by id, refusing before the download when it is over the cap.

    The download is streamed and stops at the cap as well, in case the sizes Telegram
    reported were missing or wrong.
    """

    def __init__(self, *, bot: Bot, timeout: int = 60) -> None:
        self._bot = bot
        self._timeout = timeout

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        if ref.size is not None and ref.size > max_bytes:
            raise FileTooBig(f"{ref.size} bytes > {max_bytes}")
        try:
            file = await self._bot.get_file(ref.file_id)
        except TelegramBadRequest as exc:
            # The cloud Bot API refuses get_file above 20 MB with "file is too big".
            if "too big" in exc.message.lower():
                raise FileTooBig(str(exc)) from exc
            raise _neutral(exc) from exc
        except AiogramError as exc:
            raise _neutral(exc) from exc
        if file.file_size is not None and file.file_size > max_bytes:
            raise FileTooBig(f"{file.file_size} bytes > {max_bytes}")
        if file.file_path is None:
            raise PermanentError(f"file {ref.file_id} has no download path")
        return await self._download(file.file_path, max_bytes)

    async def _download(self, file_path: str, max_bytes: int) -> bytes:
        url = self._bot.session.api.file_url(self._bot.token, file_path)
        received = bytearray()
        try:
            async for chunk in self._bot.session.stream_content(url, timeout=self._timeout):
                received += chunk
                if len(received) > max_bytes:
                    raise FileTooBig(f"more than {max_bytes} bytes")
        except aiohttp.ClientResponseError as exc:
            error = PermanentError if 400 <= exc.status < 500 else TransientError
            raise error(f"download of {file_path} failed: {exc.status}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"download of {file_path} failed: {exc!r}") from exc
        return bytes(received)


# -- the bot and its dispatcher -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AiogramTransport:
    """The aiogram ``Bot`` (its session talks to ``settings.telegram_api_url``) and the
    ``Dispatcher`` that feeds every mappable update to the flows.

    ``handling`` is held while one update is handled, so a stop never cancels an update
    halfway (PTB's ``Application.stop`` waits the same way).
    """

    bot: Bot
    dispatcher: Dispatcher
    handling: asyncio.Lock = field(default_factory=asyncio.Lock)


def build(settings: Settings, on_incoming: OnIncoming) -> AiogramTransport:
    """A Bot and Dispatcher that hand every mappable update to ``on_incoming``."""
    if not settings.telegram_token:
        raise ConfigError("GRIDSNAP_TELEGRAM_TOKEN: required to talk to Telegram")
    server = TelegramAPIServer.from_base(settings.telegram_api_url)
    bot = Bot(token=settings.telegram_token, session=AiohttpSession(api=server))
    # Conversation state lives in our database, not in aiogram's per-process FSM.
    dispatcher = Dispatcher(disable_fsm=True)
    transport = AiogramTransport(bot=bot, dispatcher=dispatcher)

    async def handle(event: object, event_update: Update) -> None:
        me = await bot.me()  # cached after the first call
        incoming = to_incoming(event_update, bot_username=me.username)
        if incoming is None:
            return
        async with transport.handling:
            await on_incoming(incoming)

    for kind in ALLOWED_UPDATES:
        dispatcher.observers[kind].register(handle)
    return transport


@contextlib.asynccontextmanager
async def polling(transport: AiogramTransport) -> AsyncIterator[AiogramTransport]:
    """Poll for updates for the duration of the block; the bot's session closes after."""
    bot, dispatcher = transport.bot, transport.dispatcher
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    dispatcher.startup.register(on_startup)
    try:
        await _prepare(bot)
        task = asyncio.create_task(
            dispatcher.start_polling(
                bot,
                polling_timeout=POLL_SECONDS,
                # One update after another, as PTB does: a rider's photo must be handled
                # before the location sent right after it.
                handle_as_tasks=False,
                allowed_updates=list(ALLOWED_UPDATES),
                handle_signals=False,  # the command owns SIGINT/SIGTERM
                close_bot_session=False,  # closed below, also when polling never started
            ),
            name="aiogram-polling",
        )
        await _until_started(started, task)
        try:
            yield transport
        finally:
            await _stop(transport, task)
    finally:
        await bot.session.close()


async def _prepare(bot: Bot) -> None:
    try:
        await bot.me()  # a wrong token or URL fails here, not in a silent retry loop
        # getUpdates is refused while a webhook is set, e.g. after running in webhook mode.
        await bot.delete_webhook()
    except TelegramAPIError as exc:
        raise ConfigError(f"GRIDSNAP_TELEGRAM_TOKEN / GRIDSNAP_TELEGRAM_API_URL: {exc}") from exc


async def _until_started(started: asyncio.Event, task: asyncio.Task[None]) -> None:
    # Yield only once the dispatcher runs, so leaving the block at once can still stop it.
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        await task  # it stopped before it started: let its error surface
        raise ConfigError("aiogram polling stopped before it started")


async def _stop(transport: AiogramTransport, task: asyncio.Task[None]) -> None:
    if task.done():
        await task  # polling died: let its error surface
        return
    async with transport.handling:
        await transport.dispatcher.stop_polling()
    await task


async def register_commands(
    bot: Bot, commands_by_locale: Mapping[str | None, Sequence[tuple[str, str]]]
) -> None:
    """Set the command menu per language; the ``None`` key is the list for everyone else.

    Locales are ours (``zh_CN``); Telegram matches on the two-letter language code.
    """
    for locale, commands in commands_by_locale.items():
        language = locale.split("_")[0].lower() if locale else None
        await bot.set_my_commands(
            commands=[BotCommand(command=name, description=text) for name, text in commands],
            language_code=language,
        )
