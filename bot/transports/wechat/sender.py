"""The outbox's sender for WeChat: ``Outgoing`` as customer-service messages.

Each kind: text (and an edit, which WeChat cannot do) is a fresh message, a ``msgmenu``
when it carries options (``render``); a photo is uploaded once (media ids last three days)
and sent by media id, its caption and options following as a message; a location is a
text with a Tencent map link; an edit that only drops buttons sends nothing (the old menu's
numbers are forgotten); a button's answer is nothing, or a text when it is an alert.

Outside the 48 h since the user last wrote WeChat refuses customer-service messages
(45015): the message then goes as a template message when ``template_id`` is set, or
waits in the outbox (``AwaitingUser``) until it can go — never dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat import FileRef, Outgoing, OutKind
from bot.delivery import AwaitingUser, PermanentError
from bot.i18n import translator
from bot.transports.base_sender import PhotoLoader, PhotoMissing, load_photo, required
from bot.transports.botapi import is_photo_key
from bot.transports.wechat.api import WeChatApi
from bot.transports.wechat.render import Menu, location_text, menu
from storage.wechat import MenuRows

log = logging.getLogger(__name__)

MEDIA_KEEP = timedelta(days=2, hours=12)  # WeChat keeps temporary media three days
PICTURES_REMEMBERED = 1000  # photo messages whose caption failed, kept for their next try


class WeChatSender:
    def __init__(
        self,
        *,
        api: WeChatApi,
        menus: MenuRows,
        photo_loader: PhotoLoader,
        locale: str,
        template_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._menus = menus
        self._photo_loader = photo_loader
        self._t = translator(locale)
        self._template_id = template_id
        self._clock = clock
        self._media: dict[str, tuple[str, datetime]] = {}
        self._pictures_sent: dict[str, None] = {}  # photo messages whose caption is owed

    async def send(self, out: Outgoing) -> str | None:
        try:
            return await self._dispatch(out)
        except AwaitingUser:
            if self._template_id is None or out.kind is OutKind.ANSWER_BUTTON:
                raise
            sent = await self._template(out)
            self._pictures_sent.pop(_identity(out), None)  # the whole message is out
            return sent

    async def _dispatch(self, out: Outgoing) -> str | None:
        match out.kind:
            case OutKind.TEXT | OutKind.EDIT_TEXT | OutKind.REMOVE_KEYBOARD:
                return await self._say(out.chat_id, self._menu(out))
            case OutKind.EDIT_MARKUP:
                # The prompt's buttons replaced: its text (what it asked) with the new menu.
                shown = self._menu(out)
                if not shown.options:
                    # Only buttons dropped, or the choice shown: nothing to say. The numbers
                    # remembered stay: they may be a later menu's (the flows check a press).
                    return None
                return await self._say(out.chat_id, shown)
            case OutKind.PHOTO:
                return await self._photo(out)
            case OutKind.LOCATION:
                where = required(out.location, "location")
                text = "\n".join(p for p in (out.text, location_text(where)) if p)
                return await self._say(out.chat_id, self._menu(out, text), keep=True)
            case OutKind.ANSWER_BUTTON:
                if out.alert and out.text:
                    await self._custom(out.chat_id, "text", {"content": out.text})
                return None
        raise PermanentError(f"unknown outgoing kind {out.kind!r}")

    async def _say(self, openid: str, shown: Menu, *, keep: bool = False) -> str | None:
        """Send ``shown``; remember its numbers, or forget the last ones (unless ``keep``:
        a pin or a picture between a menu and its answer leaves the menu standing)."""
        if shown.options:
            await self._custom(openid, "msgmenu", shown.msgmenu())
            await self._numbers(openid, shown)
            return None
        if shown.head:
            await self._custom(openid, "text", {"content": shown.head})
        if not keep:
            await self._numbers(openid, None)
        return None

    async def _numbers(self, openid: str, shown: Menu | None) -> None:
        """Remember the numbers a reply may pick (None: forget them). After the message went
        out, so a failure here is logged, never raised: the row must not be sent twice."""
        try:
            if shown is None:
                await self._menus.forget(openid)
            else:
                await self._menus.remember(openid, shown.remembered(), self._clock())
        except Exception:
            log.warning("wechat: could not note the menu sent to %s", openid, exc_info=True)

    async def _photo(self, out: Outgoing) -> str | None:
        ref = required(out.photo, "photo")
        try:
            media_id = await self._media_id(ref)
        except PhotoMissing:
            # The caption carries the case and the options act on it: they still go out.
            log.warning("photo %s is not in the photo store; sent its caption alone", ref)
            media_id = None
        # Two messages on WeChat: when the caption fails after the picture went, the row's
        # next try sends only the caption (the picture is not shown twice).
        part = _identity(out)
        if media_id is not None and part not in self._pictures_sent:
            await self._custom(out.chat_id, "image", {"media_id": media_id})
            self._pictures_sent[part] = None
            while len(self._pictures_sent) > PICTURES_REMEMBERED:
                self._pictures_sent.pop(next(iter(self._pictures_sent)))
        shown = self._menu(out)
        if shown.head or shown.options:
            await self._say(out.chat_id, shown, keep=True)
        self._pictures_sent.pop(part, None)
        return None

    def _menu(self, out: Outgoing, text: str | None = None) -> Menu:
        # ``request`` (what the message asks the person to send) where Outgoing has one.
        request = getattr(out, "request", None)
        ask = request.to_dict() if request is not None else None
        return menu(out.text if text is None else text, out.keyboard, self._t, ask=ask)

    async def _media_id(self, ref: str) -> str:
        if not is_photo_key(ref):
            return ref  # a media id already (a photo the user sent, say)
        cached = self._media.get(ref)
        if cached is not None and self._clock() - cached[1] < MEDIA_KEEP:
            return cached[0]
        data = await load_photo(self._photo_loader, ref)
        name = ref if "." in ref else f"{ref}.jpg"
        answer = await self._api.call(
            "/cgi-bin/media/upload",
            params={"type": "image"},
            files={"media": (name, data, "image/jpeg")},
        )
        media_id = str(answer["media_id"])
        self._media[ref] = (media_id, self._clock())
        return media_id

    async def _custom(self, openid: str, msgtype: str, body: dict[str, Any]) -> None:
        await self._api.call(
            "/cgi-bin/message/custom/send",
            json={"touser": openid, "msgtype": msgtype, msgtype: body},
        )

    async def _template(self, out: Outgoing) -> str | None:
        """The message as a template message (its options as numbers to type)."""
        assert self._template_id is not None
        text = out.text
        if out.kind is OutKind.LOCATION and out.location is not None:
            text = "\n".join(p for p in (out.text, location_text(out.location)) if p)
        shown = self._menu(out, text)
        if not (shown.head or shown.options):
            return None
        answer = await self._api.call(
            "/cgi-bin/message/template/send",
            json={
                "touser": out.chat_id,
                "template_id": self._template_id,
                "data": {"content": {"value": shown.as_text()}},
            },
        )
        if shown.options:
            await self._numbers(out.chat_id, shown)
        log.info("wechat: %s was outside the 48 h window; sent as a template", out.chat_id)
        msgid = answer.get("msgid")
        return str(msgid) if msgid is not None else None


def _identity(out: Outgoing) -> str:
    return hashlib.sha256(
        json.dumps(out.to_dict(), sort_keys=True, default=str).encode()
    ).hexdigest()


class WeChatFetcher:
    """Downloads a received image by its MediaId within the size cap (``media/get``)."""

    def __init__(self, *, api: WeChatApi) -> None:
        self._api = api

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return await self._api.media(ref.file_id, max_bytes=max_bytes)
