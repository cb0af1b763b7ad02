"""The outbox's sender for the Bot API, whichever library makes the calls.

``BaseSender`` holds what both Telegram adapters decide alike: which call an ``Outgoing``
becomes, which markup it carries (``botapi.reply_markup``), that a stored photo is uploaded
once and then sent by file id, that a photo gone from the store (swept as unreferenced, or
erased) leaves its caption and buttons to go out as text, that an edit into the same text is
a success, and that every library error leaves as a neutral ``DeliveryError``. A subclass
makes the library's calls and names its error classes.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from bot.chat import Location, Outgoing, OutKind
from bot.delivery import DeliveryError, PermanentError, TransientError
from bot.transports import botapi

log = logging.getLogger(__name__)

PhotoLoader = Callable[[str], bytes]
# Seconds to wait for an answer (GRIDSNAP_SEND_TIMEOUT_S): past how long the Bot API takes
# when slow, so a slow success is not taken for a failure and sent again.
DEFAULT_TIMEOUT = 30.0
_T = TypeVar("_T")
_E = TypeVar("_E", bound=Exception)


class SenderOptions(TypedDict, total=False):
    """What a concrete sender passes through to ``BaseSender`` besides its library's bot."""

    file_ids: MutableMapping[str, str] | None
    is_photo_key: Callable[[str], bool]
    timeout: float


class BaseSender(ABC, Generic[_E]):
    """Sends ``Outgoing`` messages; ``send`` is the outbox's sender.

    A stored photo (``photo`` is a photo-store key) is uploaded once: the file id Telegram
    returns is remembered in ``file_ids`` and sent instead of the bytes next time.

    Every call waits ``timeout`` seconds for its answer. A call that went out and timed out
    waiting is a ``MaybeSent``, an answer that cannot be parsed an ``UnreadableAnswer``, a
    platform that cannot be reached at all ``Unreachable`` (``bot.delivery`` decides what
    each means for the row).
    """

    #: Everything the library raises for a failed call; it leaves ``send`` as neutral.
    library_error: type[_E]
    #: What the library raises for Telegram's 400 (a refused file id, an unchanged edit).
    bad_request: type[_E]

    def __init__(
        self,
        *,
        photo_loader: PhotoLoader,
        file_ids: MutableMapping[str, str] | None = None,
        is_photo_key: Callable[[str], bool] = botapi.is_photo_key,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._timeout = timeout
        self._photo_loader = photo_loader
        self._file_ids: MutableMapping[str, str] = {} if file_ids is None else file_ids
        self._is_photo_key = is_photo_key

    async def send(self, out: Outgoing) -> str | None:
        """Deliver ``out``; return the platform message id (None for a button answer)."""
        try:
            return await self._dispatch(out)
        except self.library_error as exc:
            raise self._neutral(exc) from exc

    async def _dispatch(self, out: Outgoing) -> str | None:
        markup = botapi.reply_markup(out)
        match out.kind:
            case OutKind.TEXT | OutKind.REMOVE_KEYBOARD:
                return await self._send_text(out.chat_id, out.text, markup)
            case OutKind.PHOTO:
                return await self._send_stored_photo(out, markup)
            case OutKind.LOCATION:
                where = required(out.location, "location")
                return await self._send_location(out.chat_id, where, markup)
            case OutKind.EDIT_TEXT | OutKind.EDIT_MARKUP:
                return await self._edit(out)
            case OutKind.ANSWER_BUTTON:
                callback_id = required(out.callback_id, "callback_id")
                await self._answer(callback_id, out.text or None, alert=out.alert)
                return None
        raise PermanentError(f"unknown outgoing kind {out.kind!r}")

    async def _send_stored_photo(self, out: Outgoing, markup: botapi.Markup | None) -> str | None:
        ref = required(out.photo, "photo")
        caption = out.text or None
        if not self._is_photo_key(ref):
            return (await self._send_photo(out.chat_id, ref, caption, markup))[0]
        cached = self._file_ids.get(ref)
        if cached is not None:
            try:
                return (await self._send_photo(out.chat_id, cached, caption, markup))[0]
            except self.bad_request:
                # A remembered file id can go stale (another bot token, a purged server).
                log.info("cached file id for photo %s refused; uploading again", ref)
                self._file_ids.pop(ref, None)
        try:
            upload = Upload(key=ref, data=await load_photo(self._photo_loader, ref))
        except PhotoMissing:
            return await self._send_without_photo(out, markup)
        message_id, file_id = await self._send_photo(out.chat_id, upload, caption, markup)
        if file_id is not None:
            self._file_ids[ref] = file_id
        return message_id

    async def _send_without_photo(self, out: Outgoing, markup: botapi.Markup | None) -> str | None:
        # A missing photo must not cost a case its alert (or a rider the answer to /case):
        # the caption carries the case and the buttons act on it, so they still go out.
        if not out.text:
            log.warning("photo %s is not in the photo store; nothing else to send", out.photo)
            return None
        log.warning("photo %s is not in the photo store; sent its caption as text", out.photo)
        return await self._send_text(out.chat_id, out.text, markup)

    async def _edit(self, out: Outgoing) -> str:
        message_id = int(required(out.message_id, "message_id"))
        markup = botapi.inline_markup(out.keyboard)  # an edit carries inline buttons only
        try:
            if out.kind is OutKind.EDIT_TEXT:
                await self._edit_text(out.chat_id, message_id, out.text, markup)
            else:
                await self._edit_markup(out.chat_id, message_id, markup)
        except self.bad_request as exc:
            if not botapi.is_not_modified(str(exc)):
                raise
        return str(message_id)

    # -- the library's calls ---------------------------------------------------------------

    @abstractmethod
    def _neutral(self, exc: _E) -> DeliveryError: ...

    @abstractmethod
    async def _send_text(self, chat_id: str, text: str, markup: botapi.Markup | None) -> str:
        """Send a message; its id."""

    @abstractmethod
    async def _send_photo(
        self,
        chat_id: str,
        photo: str | Upload,
        caption: str | None,
        markup: botapi.Markup | None,
    ) -> tuple[str, str | None]:
        """Send a photo by file id or upload; the message id and the largest size's file id."""

    @abstractmethod
    async def _send_location(
        self, chat_id: str, where: Location, markup: botapi.Markup | None
    ) -> str:
        """Send a map pin, or a venue when ``where`` has a title; the message id."""

    @abstractmethod
    async def _edit_text(
        self, chat_id: str, message_id: int, text: str, markup: botapi.Markup | None
    ) -> None: ...

    @abstractmethod
    async def _edit_markup(
        self, chat_id: str, message_id: int, markup: botapi.Markup | None
    ) -> None: ...

    @abstractmethod
    async def _answer(self, callback_id: str, text: str | None, *, alert: bool) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A stored photo's bytes to upload, with a file name for the multipart form."""

    key: str
    data: bytes

    @property
    def file_name(self) -> str:
        # Telegram re-encodes photos whatever the name says; a name with an extension only
        # keeps proxies and logs honest.
        return self.key if "." in self.key else f"{self.key}.jpg"


def required(value: _T | None, name: str) -> _T:
    """``value``, or the permanent failure of an outgoing message that lacks it."""
    if value is None:
        raise PermanentError(f"outgoing message has no {name}")
    return value


class PhotoMissing(PermanentError):
    """The photo is not in the photo store; it will not appear by retrying."""


async def load_photo(loader: PhotoLoader, key: str) -> bytes:
    """The stored photo's bytes, read off the event loop; raises ``PhotoMissing``."""
    try:
        return await asyncio.to_thread(loader, key)
    except (FileNotFoundError, KeyError) as exc:
        raise PhotoMissing(f"photo {key} is not in the photo store") from exc
    except OSError as exc:
        raise TransientError(f"photo {key} could not be read: {exc}") from exc
