"""The callback WeChat calls at ``/wechat``: verify, store, then answer "success".

WeChat waits 5 s for an answer and then sends the same message again (three tries in all),
so nothing is done here but checking and storing: the inbox's worker does the work, and a
retry finds its key (``MsgId``; an event's sender, time and name) already stored. A bad
signature is 403 and a body that is no WeChat message 400, each logged, nothing stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import xmltodict
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from bot.inbox import Inbox
from bot.transports.wechat import PLATFORM
from bot.transports.wechat.mapper import stored
from storage.wechat import MenuRows

log = logging.getLogger(__name__)

SUCCESS = "success"  # WeChat's "received, no passive reply"
# Events that are no interaction of the person's: they do not open the 48 h window.
_NOT_FROM_THE_PERSON = frozenset({"unsubscribe", "templatesendjobfinish", "masssendjobfinish"})
OnWrote = Callable[[str], Awaitable[None]]
_MAX_KEY = 64  # the inbox's update_id column


def update_key(fields: Mapping[str, Any]) -> str:
    """What a retry of the same callback shares: the MsgId, or for an event (which has
    none) its sender, time and name, hashed to fit the inbox's key column."""
    if fields.get("MsgId"):
        return f"m:{fields['MsgId']}"[:_MAX_KEY]
    event = f"{fields['FromUserName']}|{fields.get('CreateTime')}|{fields.get('Event')}"
    return "e:" + hashlib.sha256(event.encode()).hexdigest()[:40]


def wechat_route(
    inbox: Inbox,
    *,
    token: str,
    crypto: WeChatCrypto | None,
    menus: MenuRows,
    path: str = "/wechat",
    max_body_bytes: int = 1024 * 1024,
    max_backlog: int | None = None,
    on_wrote: OnWrote | None = None,
) -> Route:
    """``on_wrote(openid)`` is started (not awaited) once something the person did is
    stored: messages waiting for WeChat's 48 h window can go now."""
    waking: set[asyncio.Task[None]] = set()

    def wrote(fields: Mapping[str, Any]) -> None:
        if on_wrote is None or str(fields.get("Event", "")).lower() in _NOT_FROM_THE_PERSON:
            return
        task = asyncio.create_task(_quietly(on_wrote, str(fields["FromUserName"])))
        waking.add(task)
        task.add_done_callback(waking.discard)

    async def callback(request: Request) -> Response:
        query = request.query_params
        try:
            check_signature(
                token,
                query.get("signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except InvalidSignatureException:
            log.warning("wechat: refused a %s with a bad signature", request.method)
            return Response(status_code=403)
        if request.method == "GET":  # the server-configuration check: echo the challenge
            return PlainTextResponse(query.get("echostr", ""))
        body = await request.body()
        if len(body) > max_body_bytes:
            return Response(status_code=413)
        try:
            fields = _fields(body, query, crypto)
        except InvalidSignatureException:
            log.warning("wechat: refused a message whose msg_signature does not match")
            return Response(status_code=403)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("wechat: refused a body that is no WeChat message: %s", exc)
            return Response(status_code=400)
        update = stored(update_key(fields), fields, choice=await _choice(menus, fields))
        if not await inbox.receive(PLATFORM, [update], max_backlog=max_backlog):
            return Response(status_code=503)  # unanswered: WeChat tries again
        wrote(fields)
        return PlainTextResponse(SUCCESS)

    return Route(path, callback, methods=["GET", "POST"])


def _fields(body: bytes, query: Mapping[str, str], crypto: WeChatCrypto | None) -> dict[str, Any]:
    xml = body.decode("utf-8")
    if crypto is not None and query.get("encrypt_type") == "aes":
        xml = crypto.decrypt_message(
            xml, query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        )
    elif crypto is not None:
        raise ValueError("safe mode is configured: a plain-text message is refused")
    try:
        message = parse_message(xml)
        fields = xmltodict.parse(xml)["xml"]
    except Exception as exc:  # expat's and xmltodict's errors have no common base
        raise ValueError(f"unreadable XML: {exc}") from None
    if message is None or not isinstance(fields, dict):
        raise ValueError("empty message")
    for required in ("FromUserName", "MsgType", "CreateTime"):
        if not fields.get(required):
            raise ValueError(f"no {required}")
    return {key: value for key, value in fields.items() if isinstance(value, str | None)}


async def _choice(menus: MenuRows, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    """The option a typed number picks in the last menu sent to its writer, if any."""
    if fields.get("MsgType") != "text" or fields.get("bizmsgmenuid"):
        return None
    typed = str(fields.get("Content") or "").strip()
    if not typed.isdigit() or len(typed) > 2:
        return None
    options = await menus.options(str(fields["FromUserName"]))
    picked = (options or {}).get(str(int(typed)))
    return dict(picked) if isinstance(picked, Mapping) else None


async def _quietly(on_wrote: OnWrote, openid: str) -> None:
    # Only a shortcut: a waiting message is tried again on its own schedule anyway.
    try:
        await on_wrote(openid)
    except Exception:
        log.warning("wechat: could not wake the messages waiting for %s", openid, exc_info=True)
