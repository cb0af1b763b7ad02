"""The aiogram 3 transport: the alternative to ``bot.transports.telegram`` (PTB).

The same thin translator on another library, to the same Telegram, sharing the PTB
transport's mapping (``botapi``) and send logic (``base_sender``): ``to_incoming`` maps an
update onto the neutral ``Incoming``; ``AiogramSender`` makes aiogram's Bot API calls and
turns its errors into the neutral ones the outbox understands; ``AiogramFetcher``
downloads files within a size cap; ``build`` makes the ``Bot`` for any Bot API server
(``settings.telegram_api_url``), and ``get_updates`` long-polls it into the inbox. Flows never see
which of the two transports is running, and the platform name is the same, so accounts and
conversations carry over when an operator switches.

The module is not named ``aiogram`` so it never shadows the library.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import aiohttp
from aiogram import Bot
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
    TelegramServerError,
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
from bot.inbox import GetUpdates, Mapper
from bot.services.photos import FileTooBig
from bot.transports import botapi
from bot.transports.base_sender import BaseSender, PhotoLoader, SenderOptions, Upload
from bot.transports.startup import until_reachable

log = logging.getLogger(__name__)

PLATFORM = botapi.PLATFORM
ALLOWED_UPDATES = botapi.ALLOWED_UPDATES
POLL_READ_MARGIN_S = 10.0  # beyond the long-poll wait before a getUpdates read gives up


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


# -- the bot and receiving -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AiogramTransport:
    """The aiogram ``Bot`` (its session talks to ``settings.telegram_api_url``).

    Updates do not go through aiogram's Dispatcher: ``get_updates`` hands the raw JSON to
    the inbox (bot/inbox.py), which stores it before the offset confirming it is asked for,
    handles it concurrently across users and in order per user, and maps it with
    ``mapper`` — the same reading as the PTB transport's, so neither library's parser can
    stall everyone on an update it cannot read. ``me`` holds the bot's username once
    ``polling`` has asked for it.
    """

    bot: Bot
    me: dict[str, str] = field(default_factory=dict)


def build(settings: Settings) -> AiogramTransport:
    """The Bot for ``settings``; receiving is ``get_updates`` into the inbox."""
    if not settings.telegram_token:
        raise ConfigError("GRIDSNAP_TELEGRAM_TOKEN: required to talk to Telegram")
    server = TelegramAPIServer.from_base(settings.telegram_api_url)
    bot = Bot(token=settings.telegram_token, session=AiohttpSession(api=server))
    return AiogramTransport(bot=bot)


def mapper(transport: AiogramTransport) -> Mapper:
    """The inbox's reader of this bot's updates: Bot API JSON to ``Incoming``."""

    def read(data: botapi.JSON) -> Incoming | None:
        return botapi.incoming_from_update(data, bot_username=transport.me.get("username"))

    return read


def get_updates(transport: AiogramTransport) -> GetUpdates:
    """getUpdates returning the raw JSON (aiogram would parse it into its models, and fail
    the batch on one it cannot read), through the bot's own aiohttp session."""
    bot = transport.bot

    async def fetch(offset: int | None, wait_s: float) -> list[botapi.JSON]:
        params: dict[str, Any] = {"timeout": int(wait_s), "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            params["offset"] = offset
        if not isinstance(bot.session, AiohttpSession):
            raise ConfigError("the aiogram transport needs its aiohttp session")
        session = await bot.session.create_session()
        url = bot.session.api.api_url(token=bot.token, method="getUpdates")
        read = aiohttp.ClientTimeout(total=wait_s + POLL_READ_MARGIN_S)
        async with session.post(url, json=params, timeout=read) as response:
            answer = await response.json(content_type=None)
        if not isinstance(answer, dict) or not answer.get("ok"):
            description = answer.get("description") if isinstance(answer, dict) else answer
            raise TransientError(f"getUpdates: {response.status} {description}")
        result = answer.get("result")
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    return fetch


@contextlib.asynccontextmanager
async def polling(transport: AiogramTransport) -> AsyncIterator[AiogramTransport]:
    """The bot, ready to poll (``get_updates``), for the duration of the block; its session
    closes after."""
    try:
        await _prepare(transport)
        yield transport
    finally:
        await transport.bot.session.close()


async def _prepare(transport: AiogramTransport) -> None:
    bot = transport.bot
    where = bot.session.api.base.split("/bot{token}", 1)[0]
    try:
        # A server not up yet is retried, one line per attempt; a wrong token fails here.
        me = await until_reachable(
            bot.me, transient=(TelegramNetworkError, TelegramServerError), where=where
        )
        # getUpdates is refused while a webhook is set, e.g. after running in webhook mode.
        await bot.delete_webhook()
    except TelegramAPIError as exc:
        raise ConfigError(f"GRIDSNAP_TELEGRAM_TOKEN / GRIDSNAP_TELEGRAM_API_URL: {exc}") from exc
    if me.username:
        transport.me["username"] = me.username


async def register_commands(
    bot: Bot, commands_by_locale: Mapping[str | None, Sequence[tuple[str, str]]]
) -> None:
    """Set the command menu per language; the ``None`` key is the list for everyone else.

    Locales are ours (``zh_CN``); Telegram matches on the two-letter language code.
    """
    for locale, commands in commands_by_locale.items():
        language = locale.split("_")[0].lower() if locale else None
        try:
            await bot.set_my_commands(
                commands=[BotCommand(command=name, description=text) for name, text in commands],
                language_code=language,
            )
        except TelegramAPIError as exc:  # the menu is optional, as on PTB: logged once
            log.warning("command menu not set, start-up goes on without it: %s", exc)
            return
