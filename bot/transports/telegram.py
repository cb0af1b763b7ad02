"""The python-telegram-bot transport: Telegram updates in, ``Outgoing`` messages out.

A thin translator; what it shares with the aiogram transport lives in ``botapi`` (update
JSON to ``Incoming``, ``Outgoing`` to markup JSON) and ``base_sender``. ``to_incoming`` maps
an update onto the neutral ``Incoming``; ``TelegramSender`` makes PTB's Bot API calls and
turns Telegram's errors into the neutral ones the outbox sender understands;
``TelegramFetcher`` downloads files within a size cap. ``build_application`` wires one PTB
handler to the dispatcher, for long polling or a webhook, against any Bot API server
(``settings.telegram_api_url``).
"""

from __future__ import annotations

import hmac
import json
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar, Unpack

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError, TimedOut
from telegram.error import RetryAfter as TgRetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

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

TgApp = Application[Any, Any, Any, Any, Any, Any]
OnIncoming = Callable[[Incoming], Awaitable[None]]
_T = TypeVar("_T")


# -- updates in ---------------------------------------------------------------------------


def to_incoming(update: Update, *, bot_username: str | None = None) -> Incoming | None:
    """The neutral form of an update (see ``botapi.incoming_from_update``)."""
    # ``to_dict`` gives the Bot API's own JSON back, ``from`` key and all.
    return botapi.incoming_from_update(update.to_dict(), bot_username=bot_username)


def _quietly(read: Callable[[], _T]) -> _T:
    """Read a PTB duration attribute without its int-vs-timedelta migration warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        return read()


# -- messages out -------------------------------------------------------------------------

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def _inline(data: botapi.Markup | None) -> InlineKeyboardMarkup | None:
    return None if data is None else InlineKeyboardMarkup.de_json(data)


def _parse_markup(data: botapi.Markup | None) -> Markup | None:
    if data is None:
        return None
    if "inline_keyboard" in data:
        return InlineKeyboardMarkup.de_json(data)
    if "keyboard" in data:
        return ReplyKeyboardMarkup.de_json(data)
    return ReplyKeyboardRemove()


# httpx's errors that mean the request never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _neutral(exc: TelegramError) -> DeliveryError:
    if isinstance(exc, TgRetryAfter):
        retry_after = _quietly(lambda: exc.retry_after)
        seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
        return RetryAfter(seconds)
    if isinstance(exc, BadRequest | Forbidden | ChatMigrated):
        return PermanentError(str(exc))
    # PTB raises the bare TelegramError from the JSON parser's ValueError for a 2xx body
    # it cannot read.
    if type(exc) is TelegramError and isinstance(exc.__cause__, ValueError):
        return UnreadableAnswer(str(exc))
    if isinstance(exc.__cause__, _NOT_SENT):
        return Unreachable(str(exc))
    if isinstance(exc, TimedOut) and isinstance(exc.__cause__, httpx.ReadTimeout):
        return MaybeSent(f"no answer within the read timeout: {exc}")
    # NetworkError, TimedOut, 5xx, and also InvalidToken: a wrong token is fixed by the
    # operator, after which every waiting row should still go out.
    return TransientError(str(exc))


class TelegramSender(BaseSender[TelegramError]):
    """Sends ``Outgoing`` messages through a PTB ``Bot`` (see ``BaseSender``)."""

    library_error = TelegramError
    bad_request = BadRequest

    def __init__(
        self,
        *,
        bot: Bot,
        photo_loader: PhotoLoader,
        **options: Unpack[SenderOptions],
    ) -> None:
        super().__init__(photo_loader=photo_loader, **options)
        self._bot = bot

    def _neutral(self, exc: TelegramError) -> DeliveryError:
        return _neutral(exc)

    async def _send_text(self, chat_id: str, text: str, markup: botapi.Markup | None) -> str:
        sent = await self._bot.send_message(
            chat_id, text, reply_markup=_parse_markup(markup), read_timeout=self._timeout
        )
        return str(sent.message_id)

    async def _send_photo(
        self,
        chat_id: str,
        photo: str | Upload,
        caption: str | None,
        markup: botapi.Markup | None,
    ) -> tuple[str, str | None]:
        sent = await self._bot.send_photo(
            chat_id,
            photo.data if isinstance(photo, Upload) else photo,
            caption=caption,
            reply_markup=_parse_markup(markup),
            read_timeout=self._timeout,
        )
        return str(sent.message_id), sent.photo[-1].file_id if sent.photo else None

    async def _send_location(
        self, chat_id: str, where: Location, markup: botapi.Markup | None
    ) -> str:
        reply_markup = _parse_markup(markup)
        if where.title:
            sent = await self._bot.send_venue(
                chat_id,
                where.lat,
                where.lon,
                where.title,
                where.address or "",
                reply_markup=reply_markup,
                read_timeout=self._timeout,
            )
        else:
            sent = await self._bot.send_location(
                chat_id, where.lat, where.lon, reply_markup=reply_markup, read_timeout=self._timeout
            )
        return str(sent.message_id)

    async def _edit_text(
        self, chat_id: str, message_id: int, text: str, markup: botapi.Markup | None
    ) -> None:
        await self._bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=_inline(markup),
            read_timeout=self._timeout,
        )

    async def _edit_markup(
        self, chat_id: str, message_id: int, markup: botapi.Markup | None
    ) -> None:
        await self._bot.edit_message_reply_markup(
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=_inline(markup),
            read_timeout=self._timeout,
        )

    async def _answer(self, callback_id: str, text: str | None, *, alert: bool) -> None:
        await self._bot.answer_callback_query(
            callback_id, text=text, show_alert=alert, read_timeout=self._timeout
        )


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
            if botapi.is_too_big(str(exc)):
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
        # On stop, PTB cancels the long poll without awaiting it and at once calls getUpdates
        # again to confirm the offset; with PTB's single get_updates connection that call can
        # wait past its pool timeout for the cancelled poll's connection and log a traceback
        # (seen in CI). A second connection means it never waits.
        .get_updates_connection_pool_size(2)
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
