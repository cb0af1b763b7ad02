"""Pushing users' messages and events to the account's server, as WeChat does.

Each push is a POST of XML to the configured URL with ``signature``, ``timestamp``,
``nonce`` and ``openid`` in the query; in safe mode (安全模式) also ``encrypt_type=aes`` and
``msg_signature``, and the body holds only ``ToUserName`` and ``Encrypt``. WeChat waits
``reply_timeout`` (5 s) for an answer, then drops the connection and sends the same message
(same MsgId) again, ``tries`` times in all (the platform documents "重试三次" and is observed
to make three requests); if none succeeds the user sees "该公众号暂时无法提供服务". One
user's pushes go out in order, each after the previous one is settled.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass

import httpx
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import WeChatSigner

from bot.transports.wechat_emulator import messages
from bot.transports.wechat_emulator.errors import JSON
from bot.transports.wechat_emulator.world import Callback, Try, World

UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
ACKS = {"": "empty", "success": "success"}


@dataclass(slots=True, kw_only=True)
class Receiver:
    """Where and how pushes go: the account's 服务器配置 in the admin console."""

    url: str | None = None
    token: str = "gridsnap-wechat"
    aes_key: str | None = None  # the 43-character EncodingAESKey: safe mode when set
    tries: int = 3
    reply_timeout: float = 5.0

    def view(self) -> JSON:
        return {
            "url": self.url,
            "token": self.token,
            "aes_key": self.aes_key,
            "safe_mode": self.aes_key is not None,
            "tries": self.tries,
            "reply_timeout": self.reply_timeout,
        }


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


class CallbackSender:
    def __init__(self, world: World, receiver: Receiver) -> None:
        self.world = world
        self.receiver = receiver
        self._client = httpx.AsyncClient()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    def push(
        self, openid: str, kind: str, fields: list[messages.Field], *, msg_id: int | None
    ) -> Callback:
        if self.receiver.url is None:
            raise ValueError("no server URL configured: set the receiver's url first")
        create_time = int(self.world.clock.now())
        head = messages.header(
            account=self.world.original_id,
            openid=openid,
            create_time=create_time,
            msgtype="event" if kind.startswith("event:") else kind.split(":")[0],
        )
        xml = messages.render(head + fields)
        callback = self.world.new_callback(
            openid, kind=kind, xml=xml, msg_id=msg_id, create_time=create_time
        )
        self._start(callback)
        return callback

    def _start(self, callback: Callback) -> None:
        task = asyncio.create_task(self._deliver(callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def push_again(self, callback: Callback) -> Callback:
        """Deliver ``callback`` once more, byte for byte the same message (same MsgId and
        CreateTime): what a retry looks like when the first answer was lost on the way."""
        callback.outcome, callback.reply = "pending", None
        self._start(callback)
        return callback

    async def verify_url(self, echostr: str | None = None) -> tuple[int | None, bool]:
        """The GET WeChat makes when the server URL is saved: is ``echostr`` echoed?"""
        echostr = echostr or str(secrets.randbelow(10**19))
        params = self._signed_query()
        params["echostr"] = echostr
        try:
            response = await self._client.get(
                self._url(), params=params, timeout=self.receiver.reply_timeout
            )
        except httpx.HTTPError:
            return None, False
        return response.status_code, response.status_code == 200 and response.text == echostr

    # --- delivery ------------------------------------------------------------------------

    async def _deliver(self, callback: Callback) -> None:
        async with self._locks[callback.openid]:
            for _ in range(self.receiver.tries):
                attempt = await self._try(callback)
                callback.tries.append(attempt)
                self.world.changed.notify()
                if attempt.status == 200:
                    self._settle(callback, attempt.answer)
                    return
            self._fail(callback, "failed")

    async def _try(self, callback: Callback) -> Try:
        params = self._signed_query()
        params["openid"] = callback.openid
        body = callback.xml
        if self.receiver.aes_key is not None:
            body, params["msg_signature"] = self._encrypt(body, params)
            params["encrypt_type"] = "aes"
        started = time.monotonic()
        try:
            response = await asyncio.wait_for(
                self._client.post(
                    self._url(),
                    params=params,
                    content=body.encode(),
                    headers={"Content-Type": "text/xml"},
                ),
                self.receiver.reply_timeout,
            )
        except TimeoutError:
            timeout = self.receiver.reply_timeout
            return Try(at=started, status=None, answer="", error=f"no answer within {timeout}s")
        except httpx.HTTPError as exc:
            return Try(at=started, status=None, answer="", error=repr(exc))
        return Try(at=started, status=response.status_code, answer=response.text)

    def _signed_query(self) -> dict[str, str]:
        timestamp = str(int(self.world.clock.now()))
        nonce = str(secrets.randbelow(10**10))
        return {
            "signature": sign(self.receiver.token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def _crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.receiver.token, self.receiver.aes_key, self.world.appid)

    def _encrypt(self, xml: str, params: dict[str, str]) -> tuple[str, str]:
        """The safe-mode body and its ``msg_signature``, by wechatpy's own cipher."""
        sealed = messages.parse(
            self._crypto().encrypt_message(xml, params["nonce"], params["timestamp"])
        )
        body = messages.render(
            [("ToUserName", self.world.original_id), ("Encrypt", sealed["Encrypt"])]
        )
        return body, str(sealed["MsgSignature"])

    def _url(self) -> str:
        if self.receiver.url is None:
            raise ValueError("no server URL configured")
        return self.receiver.url

    # --- the answer ----------------------------------------------------------------------

    def _settle(self, callback: Callback, answer: str) -> None:
        ack = ACKS.get(answer.strip())
        if ack is not None:
            callback.outcome = ack
            self.world.changed.notify()
            return
        try:
            reply = self._read_reply(answer)
        except (ValueError, KeyError, InvalidSignatureException, InvalidAppIdException):
            self._fail(callback, "invalid")
            return
        if reply.get("ToUserName") != callback.openid or reply.get("MsgType") not in (
            messages.REPLY_TYPES
        ):
            self._fail(callback, "invalid")
            return
        callback.reply = reply
        callback.outcome = "reply"
        msgtype = str(reply["MsgType"])
        self.world.deliver(callback.openid, via="reply", msgtype=msgtype, body=_reply_body(reply))

    def _read_reply(self, answer: str) -> JSON:
        if self.receiver.aes_key is None:
            return messages.parse(answer)
        sealed = messages.parse(answer)
        plain = self._crypto().decrypt_message(
            answer, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"]
        )
        return messages.parse(plain)

    def _fail(self, callback: Callback, outcome: str) -> None:
        callback.outcome = outcome
        self.world.deliver(
            callback.openid, via="notice", msgtype="notice", body={"content": UNAVAILABLE}
        )


def _reply_body(reply: JSON) -> JSON:
    """The reply in the customer-service JSON shape, so both read alike."""
    if reply["MsgType"] == "text":
        return {"content": str(reply.get("Content") or "")}
    if reply["MsgType"] == "image":
        return {"media_id": str(reply["Image"]["MediaId"])}
    skip = {"ToUserName", "FromUserName", "CreateTime", "MsgType"}
    return {key: value for key, value in reply.items() if key not in skip}
