"""The python-telegram-bot transport: Telegram updates in, ``Outgoing`` messages out.

A thin translator; what it shares with the aiogram transport lives in ``botapi`` (update
JSON to ``Incoming``, ``Outgoing`` to markup JSON) and ``base_sender``. ``to_incoming`` maps
an update onto the neutral ``Incoming``; ``TelegramSender`` makes PTB's Bot API calls and
turns Telegram's errors into the neutral ones the outbox sender understands;
``TelegramFetcher`` downloads files within a size cap. ``build_application`` makes the PTB
``Bot`` for any Bot API server (``settings.telegram_api_url``); updates come in as raw JSON
through ``get_updates`` (long polling) or ``webhook_route`` into the inbox (bot/inbox.py).
"""

from __future__ import annotations

import hmac
import importlib.util
import json
import logging
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
    TimedOut,
)
from telegram.error import RetryAfter as TgRetryAfter
from telegram.ext import Application, ApplicationBuilder
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

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
from bot.inbox import GetUpdates, Inbox, Mapper
from bot.services.photos import FileTooBig
from bot.transports import botapi
from bot.transports.base_sender import BaseSender, PhotoLoader, SenderOptions, Upload
from bot.transports.startup import until_reachable

log = logging.getLogger(__name__)

PLATFORM = botapi.PLATFORM
ALLOWED_UPDATES = botapi.ALLOWED_UPDATES

TgApp = Application[Any, Any, Any, Any, Any, Any]
POLL_READ_MARGIN_S = 10.0  # beyond the long-poll timeout before a getUpdates read gives up
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


def build_application(settings: Settings) -> TgApp:
    """A PTB Application for its ``Bot`` (sending, downloads) against ``settings``' server.

    Updates do not go through PTB: polling (``get_updates``) and the webhook
    (``webhook_route``) hand the raw JSON to the inbox, which stores it before Telegram is
    told it arrived, and maps it with ``mapper`` — no PTB parsing, so an update PTB cannot
    read (a poll without a field it requires) cannot stall everyone else.
    """
    if not settings.telegram_token:
        raise ConfigError("GRIDSNAP_TELEGRAM_TOKEN: required to talk to Telegram")
    skip_missing_sniffio()
    api = settings.telegram_api_url.rstrip("/")
    application: TgApp = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .job_queue(None)  # scheduling is ours (bot/scheduler.py), not PTB's
        .updater(None)  # receiving is ours (bot/inbox.py), not PTB's
        .build()
    )
    return application


def skip_missing_sniffio() -> None:
    """httpcore imports the optional ``sniffio`` on every request to learn that it runs under
    asyncio; not installed, that import searches the whole path each time and fails (3 % of
    a report loop's CPU). Recorded once as absent, the import fails at once and httpcore
    assumes asyncio, as it did. An installed sniffio is left alone."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # Python's "known absent"


def mapper(application: TgApp) -> Mapper:
    """The inbox's reader of this bot's updates: Bot API JSON to ``Incoming``."""

    def to_incoming(data: botapi.JSON) -> Incoming | None:
        try:
            username: str | None = application.bot.username  # read with getMe at start
        except RuntimeError:  # not started yet: no /command@otherbot filtering then
            username = None
        return botapi.incoming_from_update(data, bot_username=username)

    return to_incoming


def get_updates(bot: Bot) -> GetUpdates:
    """getUpdates returning the raw JSON. Called with the next ``offset`` only once the
    previous batch is stored, since asking with it is what confirms the batch."""

    # PTB would rather we called its get_updates, which parses every update into its own
    # classes and fails the whole batch on one it cannot read; the raw JSON is the point.
    warnings.filterwarnings(
        "ignore", message=r".*do_api_request\(\"getUpdates\"", category=PTBUserWarning
    )

    async def fetch(offset: int | None, wait_s: float) -> list[botapi.JSON]:
        params: dict[str, Any] = {"timeout": int(wait_s), "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = offset
        result = await bot.do_api_request(
            "getUpdates", api_kwargs=params, read_timeout=wait_s + POLL_READ_MARGIN_S
        )
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    return fetch


async def initialize_with_retries(application: TgApp) -> None:
    """``application.initialize()`` (its getMe), retried while the Bot API cannot be reached
    or answers 5xx (``startup.until_reachable``); a refused token is one line naming it."""
    where = application.bot.base_url.removesuffix(f"/bot{application.bot.token}")
    try:
        await until_reachable(application.initialize, transient=(NetworkError,), where=where)
    except InvalidToken as exc:
        raise ConfigError(f"GRIDSNAP_TELEGRAM_TOKEN: the Bot API refused it ({exc})") from None


@asynccontextmanager
async def polling(application: TgApp) -> AsyncIterator[TgApp]:
    """The application's bot, ready to poll (``get_updates``), for the duration of the block."""
    await initialize_with_retries(application)
    async with application:
        # getUpdates is refused while a webhook is set, e.g. after running in webhook mode.
        await application.bot.delete_webhook()
        yield application


async def register_webhook(bot: Bot, *, url: str, secret: str) -> None:
    """Have Telegram POST updates to ``url`` (``webhook_route`` receives them)."""
    await bot.set_webhook(url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))


def webhook_route(
    inbox: Inbox,
    secret: str,
    *,
    path: str = "/telegram",
    max_body_bytes: int = 1024 * 1024,
    max_backlog: int | None = None,
) -> Route:
    """A Starlette route for Telegram's webhook calls.

    200 only once the update is stored (Telegram drops what was answered 200, and retries
    anything else): 503 while ``max_backlog`` updates wait, 413 over ``max_body_bytes``,
    400 for a body that is no JSON object with an ``update_id``, 403 without the secret.
    """
    if not secret:
        raise ConfigError("GRIDSNAP_WEBHOOK_SECRET: required to serve a webhook")
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        body = await _body_within(request, max_body_bytes)
        if body is None:
            return Response(status_code=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            stored = await inbox.receive(PLATFORM, [data], max_backlog=max_backlog)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError included
            log.info("webhook: refused a body: %s", exc)
            return Response(status_code=400)
        return Response(status_code=200 if stored else 503)

    return Route(path, receive, methods=["POST"])


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is longer than ``limit`` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def register_commands(
    bot: Bot, commands_by_locale: Mapping[str | None, Sequence[tuple[str, str]]]
) -> None:
    """Set the command menu per language; the ``None`` key is the list for everyone else.

    Locales are ours (``zh_CN``); Telegram matches on the two-letter language code. The menu
    is a convenience (every command works typed): a failure is logged once and start-up goes
    on, with the menu Telegram already had.
    """
    for locale, commands in commands_by_locale.items():
        language = locale.split("_")[0].lower() if locale else None
        try:
            await bot.set_my_commands(
                [BotCommand(name, description) for name, description in commands],
                language_code=language,
            )
        except TelegramError as exc:
            log.warning("command menu not set, start-up goes on without it: %s", exc)
            return
