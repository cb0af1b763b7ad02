"""The aiogram 3 transport: the alternative to ``bot.transports.telegram`` (PTB).

The same thin translator on another library, to the same Telegram, sharing the PTB
transport's mapping (``botapi``) and send logic (``base_sender``): ``to_incoming`` maps an
update onto the neutral ``Incoming``; ``AiogramSender`` makes aiogram's Bot API calls and
turns its errors into the neutral ones the outbox understands; ``AiogramFetcher``
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
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)

from bot.chat import FileRef, Incoming, Location
from bot.config import ConfigError, Settings
from bot.delivery import (
    DeliveryError,
    MaybeSent,
    PermanentError,
    RetryAfter,
    TransientError,
    Unreachable,
    UnreadableAnswer,
)
from bot.services.photos import FileTooBig
from bot.transports import botapi
from bot.transports.base_sender import BaseSender, PhotoLoader, SenderOptions, Upload

log = logging.getLogger(__name__)

PLATFORM = botapi.PLATFORM
ALLOWED_UPDATES = botapi.ALLOWED_UPDATES
POLL_SECONDS = 10  # long-poll wait; also bounds how long a stop waits for getUpdates

OnIncoming = Callable[[Incoming], Awaitable[None]]


# -- updates in ---------------------------------------------------------------------------


def to_incoming(update: Update, *, bot_username: str | None = None) -> Incoming | None:
    """The neutral form of an update (see ``botapi.incoming_from_update``)."""
    # By alias, so ``from_user`` comes back as the Bot API's ``from``.
    data = update.model_dump(mode="json", exclude_none=True, by_alias=True)
    return botapi.incoming_from_update(data, bot_username=bot_username)


# -- messages out -------------------------------------------------------------------------

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _parse_markup(data: botapi.Markup | None) -> Markup | None:
    if data is None:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.model_validate(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.model_validate(data)
    return ReplyKeyboardRemove.model_validate(data)


def _inline(data: botapi.Markup | None) -> InlineKeyboardMarkup | None:
    return None if data is None else InlineKeyboardMarkup.model_validate(data)


# aiohttp's errors that mean the request never reached the server.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def _neutral(exc: AiogramError) -> DeliveryError:
    if isinstance(exc, TelegramRetryAfter):
        return RetryAfter(exc.retry_after)
    # A 413 is filed under network errors by aiogram, but the same file will never fit.
    refused = TelegramBadRequest | TelegramForbiddenError | TelegramMigrateToChat
    if isinstance(exc, refused | TelegramEntityTooLarge):
        return PermanentError(str(exc))
    if isinstance(exc, ClientDecodeError):
        return UnreadableAnswer(str(exc))
    if isinstance(exc, TelegramNetworkError):
        if isinstance(exc.__cause__, _NOT_SENT):
            return Unreachable(str(exc))
        if isinstance(exc.__cause__, TimeoutError):
            return MaybeSent(f"no answer within the timeout: {exc}")
    # Network trouble, 5xx, a garbled answer, and also a wrong token (401/404): the operator
    # fixes the token, after which every waiting row should still go out.
    return TransientError(str(exc))


class AiogramSender(BaseSender[AiogramError]):
    """Sends ``Outgoing`` messages through an aiogram ``Bot`` (see ``BaseSender``)."""

    library_error = AiogramError
    bad_request = TelegramBadRequest

    def __init__(
        self,
        *,
        bot: Bot,
        photo_loader: PhotoLoader,
        **options: Unpack[SenderOptions],
    ) -> None:
        super().__init__(photo_loader=photo_loader, **options)
        self._bot = bot

    def _neutral(self, exc: AiogramError) -> DeliveryError:
        return _neutral(exc)

    @property
    def _request_timeout(self) -> int:
        # aiogram takes whole seconds (aiohttp's total time for the request).
        return max(1, math.ceil(self._timeout))

    async def _send_text(self, chat_id: str, text: str, markup: botapi.Markup | None) -> str:
        sent = await self._bot.send_message(
            chat_id=chat_id,
            text=text,
            reply_markup=_parse_markup(markup),
            request_timeout=self._request_timeout,
        )
        return str(sent.message_id)

    async def _send_photo(
        self,
        chat_id: str,
        photo: str | Upload,
        caption: str | None,
        markup: botapi.Markup | None,
    ) -> tuple[str, str | None]:
        if isinstance(photo, Upload):
            photo_or_file: str | BufferedInputFile = BufferedInputFile(
                photo.data, filename=photo.file_name
            )
        else:
            photo_or_file = photo
        sent = await self._bot.send_photo(
            chat_id=chat_id,
            photo=photo_or_file,
            caption=caption,
            reply_markup=_parse_markup(markup),
            request_timeout=self._request_timeout,
        )
        return str(sent.message_id), sent.photo[-1].file_id if sent.photo else None

    async def _send_location(
        self, chat_id: str, where: Location, markup: botapi.Markup | None
    ) -> str:
        reply_markup = _parse_markup(markup)
        if where.title:
            sent = await self._bot.send_venue(
                chat_id=chat_id,
                latitude=where.lat,
                longitude=where.lon,
                title=where.title,
                address=where.address or "",
                reply_markup=reply_markup,
                request_timeout=self._request_timeout,
            )
        else:
            sent = await self._bot.send_location(
                chat_id=chat_id,
                latitude=where.lat,
                longitude=where.lon,
                reply_markup=reply_markup,
                request_timeout=self._request_timeout,
            )
        return str(sent.message_id)

    async def _edit_text(
        self, chat_id: str, message_id: int, text: str, markup: botapi.Markup | None
    ) -> None:
        await self._bot.edit_message_text(
            text=text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=_inline(markup),
            request_timeout=self._request_timeout,
        )

    async def _edit_markup(
        self, chat_id: str, message_id: int, markup: botapi.Markup | None
    ) -> None:
        await self._bot.edit_message_reply_markup(
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=_inline(markup),
            request_timeout=self._request_timeout,
        )

    async def _answer(self, callback_id: str, text: str | None, *, alert: bool) -> None:
        await self._bot.answer_callback_query(
            callback_query_id=callback_id,
            text=text,
            show_alert=alert,
            request_timeout=self._request_timeout,
        )


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
            if botapi.is_too_big(exc.message):
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

    Up to ``concurrent_updates`` updates are handled at once, as PTB does with
    ``concurrent_updates``. ``in_flight`` holds the task of every update being handed to
    ``on_incoming``, so a stop waits for them instead of dropping one halfway (aiogram
    itself neither cancels nor awaits its update tasks when polling stops).
    """

    bot: Bot
    dispatcher: Dispatcher
    concurrent_updates: int = 1
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)


def build(settings: Settings, on_incoming: OnIncoming) -> AiogramTransport:
    """A Bot and Dispatcher that hand every mappable update to ``on_incoming``."""
    if not settings.telegram_token:
        raise ConfigError("GRIDSNAP_TELEGRAM_TOKEN: required to talk to Telegram")
    server = TelegramAPIServer.from_base(settings.telegram_api_url)
    bot = Bot(token=settings.telegram_token, session=AiohttpSession(api=server))
    # Conversation state lives in our database, not in aiogram's per-process FSM.
    dispatcher = Dispatcher(disable_fsm=True)
    transport = AiogramTransport(
        bot=bot, dispatcher=dispatcher, concurrent_updates=settings.concurrent_updates
    )

    async def handle(event: object, event_update: Update) -> None:
        # Nothing between aiogram creating this update's task and ``on_incoming`` may
        # suspend: tasks start in the order they were created (arrival order), and the
        # flows' per-user turns follow the order of the ``on_incoming`` calls. ``bot.me``
        # was cached by ``_prepare``, so this await returns without yielding.
        me = await bot.me()
        incoming = to_incoming(event_update, bot_username=me.username)
        if incoming is None:
            return
        task = asyncio.current_task()
        assert task is not None  # aiogram runs each update in a task of its own
        transport.in_flight.add(task)
        try:
            await on_incoming(incoming)
        finally:
            transport.in_flight.discard(task)

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
                # Several users at once, so one rider's slow photo download does not hold up
                # everyone else. aiogram creates the tasks in arrival order (waiting for a
                # free slot before creating the next), and the flows keep each user's
                # updates in turn, so a photo is still handled before the location after it.
                handle_as_tasks=True,
                tasks_concurrency_limit=transport.concurrent_updates,
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
    try:
        if not task.done():
            await transport.dispatcher.stop_polling()
        await task  # if polling died, its error surfaces here
    finally:
        await _finish_in_flight(transport.in_flight)


async def _finish_in_flight(in_flight: set[asyncio.Task[Any]]) -> None:
    # Polling has stopped, so no new update starts; loop in case one that aiogram created
    # just before the stop registered itself while the others were being awaited.
    while in_flight:
        await asyncio.wait(set(in_flight))


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
