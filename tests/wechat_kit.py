"""What WeChat tests share: the emulator, a client of its control API, and an account
server written with wechatpy alone (no Gridsnap code) to check the emulator's pushes from
the receiving side the way any wechatpy bot would.

Fixtures: ``wechat_emulator`` (started, receiver unset), ``account_server`` (the wechatpy
account server, plaintext mode, wired as the emulator's receiver), ``wechat_control`` (a
``WeChatControl`` over HTTP). ``settings_for(emulator)`` points the bot at an emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.messages import BaseMessage
from wechatpy.utils import check_signature

from bot.config import Settings
from bot.transports.embedded_http import EmbeddedServer
from bot.transports.wechat_emulator import Receiver, WeChatEmulator

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld" / "photos"
CAMERA_PHOTO = PHOTOS / "gps" / "DSCN0010.jpg"
TOKEN = "gridsnap-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as the console makes
RIDER = "oRider0000000000000000000001"
WAIT = 10.0  # seconds; a push normally arrives within milliseconds

Answer = Callable[[BaseMessage], str]


@dataclass(slots=True, kw_only=True)
class Push:
    """One request the account server got, after wechatpy checked and decoded it."""

    query: dict[str, str]
    body: str
    message: BaseMessage


@dataclass(slots=True, kw_only=True)
class AccountServer:
    """An Official Account's server written with wechatpy only: it checks the signature,
    decrypts in safe mode, parses, and answers ``answer(message)`` ("success" by default),
    encrypted in safe mode. ``hold`` makes it sit on requests until ``release()``."""

    token: str = TOKEN
    appid: str = ""
    aes_key: str | None = None
    encrypt_replies: bool = True  # False: a safe-mode server that forgets to encrypt
    answer: Answer = lambda message: "success"
    pushes: list[Push] = field(default_factory=list)
    rejected: int = 0
    held: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.held.set()

    def hold(self) -> None:
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/wechat", self._serve, methods=["GET", "POST"])])

    async def _serve(self, request: Request) -> Response:
        query = dict(request.query_params)
        try:
            check_signature(self.token, query["signature"], query["timestamp"], query["nonce"])
        except Exception:
            self.rejected += 1
            return PlainTextResponse("bad signature", 403)
        if request.method == "GET":
            return PlainTextResponse(query["echostr"])
        body = (await request.body()).decode()
        xml = body
        if query.get("encrypt_type") == "aes":
            xml = self._crypto().decrypt_message(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
        message = parse_message(xml)
        self.pushes.append(Push(query=query, body=body, message=message))
        self.arrived.set()
        await self.held.wait()
        answer = self.answer(message)
        if self.aes_key and self.encrypt_replies and answer not in ("", "success"):
            answer = self._crypto().encrypt_message(answer, query["nonce"], query["timestamp"])
        return PlainTextResponse(answer)

    def _crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.appid)

    async def wait_for_pushes(self, count: int) -> list[Push]:
        async with asyncio.timeout(WAIT):
            while len(self.pushes) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.pushes


@contextlib.asynccontextmanager
async def serving_account(
    emulator: WeChatEmulator, *, aes_key: str | None = None
) -> AsyncIterator[AccountServer]:
    """An account server on a free port, set as ``emulator``'s receiver."""
    account = AccountServer(appid=emulator.appid, aes_key=aes_key)
    server = EmbeddedServer(account.app(), host="127.0.0.1", port=0)
    port = await server.start()
    emulator.receiver.url = f"http://127.0.0.1:{port}/wechat"
    emulator.receiver.token = account.token
    emulator.receiver.aes_key = aes_key
    try:
        yield account
    finally:
        account.release()
        await server.stop()


class WeChatControl:
    """The emulator's control API over HTTP, for tests in another process or the sandbox."""

    def __init__(self, url: str) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=40.0)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._client.request(method, f"/control{path}", **kwargs)
        body = response.json()
        if not body["ok"]:
            raise ValueError(body["description"])
        return body["result"]

    async def configure(self, **receiver: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/receiver", json=receiver)
        return result

    async def user(self, openid: str, *, nickname: str = "骑手") -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/users", json={"openid": openid, "nickname": nickname}
        )
        return result

    async def follower(self, openid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/users/{openid}")
        return result

    async def subscribe(self, openid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/users/{openid}/subscribe")
        return result

    async def send_text(self, openid: str, content: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/users/{openid}/text", json={"content": content}
        )
        return result

    async def send_image(self, openid: str, data: bytes) -> dict[str, Any]:
        files = {"media": ("photo.jpg", data, "image/jpeg")}
        result: dict[str, Any] = await self._call("POST", f"/users/{openid}/image", files=files)
        return result

    async def send_location(
        self, openid: str, lat: float, lon: float, *, label: str = ""
    ) -> dict[str, Any]:
        body = {"lat": lat, "lon": lon, "label": label}
        result: dict[str, Any] = await self._call("POST", f"/users/{openid}/location", json=body)
        return result

    async def click(self, openid: str, key: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/users/{openid}/click", json={"key": key}
        )
        return result

    async def tap_menu(self, openid: str, item_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/users/{openid}/menu", json={"id": item_id}
        )
        return result

    async def push_again(self, callback_id: int) -> dict[str, Any]:
        """The same message once more (same MsgId), as a WeChat retry."""
        result: dict[str, Any] = await self._call("POST", f"/callbacks/{callback_id}/again")
        return result

    async def callback(self, callback_id: int, *, wait: float = 0) -> dict[str, Any]:
        """A push's record; with ``wait``, once WeChat is done with it (or the time is up)."""
        result: dict[str, Any] = await self._call(
            "GET", f"/callbacks/{callback_id}", params={"wait": wait}
        )
        return result

    async def received(self, openid: str, *, since: int = 0, wait: float = 0) -> dict[str, Any]:
        """``{"messages": [...], "cursor": n}``; with ``wait``, long-polls for a first one."""
        result: dict[str, Any] = await self._call(
            "GET", f"/users/{openid}/received", params={"since": since, "wait": wait}
        )
        return result

    async def media(self, path: str) -> bytes:
        response = await self._client.get(path)
        response.raise_for_status()
        return response.content

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/clock", json={"advance": seconds})
        return result

    async def inject_fault(self, **fault: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/faults", json=fault)
        return result

    async def calls(self, api: str | None = None) -> list[dict[str, Any]]:
        params = {"api": api} if api else {}
        result: list[dict[str, Any]] = await self._call("GET", "/calls", params=params)
        return result

    async def tokens_issued(self) -> int:
        return int((await self._call("GET", "/tokens"))["issued"])

    async def verify(self, echostr: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/verify", json={"echostr": echostr})
        return result


def settings_for(emulator: WeChatEmulator, **overrides: Any) -> Settings:
    """Settings that point the bot's WeChat transport at ``emulator`` (its callback server
    on a free local port: set ``emulator.receiver.url`` once it listens)."""
    return Settings(
        telegram_token=None,
        wechat_appid=emulator.appid,
        wechat_secret=emulator.secret,
        wechat_token=emulator.receiver.token,
        wechat_aes_key=emulator.receiver.aes_key,
        wechat_api_url=emulator.url,
        wechat_host="127.0.0.1",
        wechat_port=0,
    ).model_copy(update=overrides)


@pytest.fixture
async def wechat_emulator() -> AsyncIterator[WeChatEmulator]:
    # Tests wait a second, not WeChat's five, before a retry.
    async with WeChatEmulator(
        receiver=Receiver(reply_timeout=1.0), templates={"TPL_STATUS": "{{first.DATA}}"}
    ) as emu:
        yield emu


@pytest.fixture
async def account_server(wechat_emulator: WeChatEmulator) -> AsyncIterator[AccountServer]:
    async with serving_account(wechat_emulator) as account:
        yield account


@pytest.fixture
async def wechat_control(wechat_emulator: WeChatEmulator) -> AsyncIterator[WeChatControl]:
    control = WeChatControl(wechat_emulator.url)
    yield control
    await control.aclose()
