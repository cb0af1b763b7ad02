"""The ``/wechat`` callback over real HTTP on real databases: WeChat's signature, safe mode,
retries stored once, and what each stored message becomes for the flows."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import xmltodict
from starlette.applications import Starlette
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, to_text

from bot.chat import Incoming, Kind
from bot.geo.crs import wgs84_to_gcj02
from bot.inbox import Inbox
from bot.services.ports import BaseUnitOfWork
from bot.transports.embedded_http import serving
from bot.transports.wechat.mapper import to_incoming
from bot.transports.wechat.receiver import wechat_route
from storage.database import create_engine, create_session_factory
from storage.wechat import MenuRows

TOKEN = "gridsnap-callback-token"
APPID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oRider_0000000000000000000001"
WAIT = 10.0


def signed(
    *, token: str = TOKEN, nonce: str = "n0nce", timestamp: str | None = None
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}


def xml(msg_type: str, *, sender: str = OPENID, created: int = 1764770000, **fields: Any) -> str:
    parts = [
        "<ToUserName><![CDATA[gh_gridsnap]]></ToUserName>",
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>",
        f"<CreateTime>{created}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        *(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()),
    ]
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class Callback:
    client: httpx.AsyncClient
    inbox: Inbox
    menus: MenuRows
    uow_factory: Callable[[], BaseUnitOfWork]
    handled: asyncio.Queue[Incoming]

    async def post(self, body: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post("/wechat", params=params or signed(), content=body.encode())

    async def backlog(self) -> int:
        async with self.uow_factory() as uow:
            return await uow.inbox.backlog()

    @contextlib.asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self.inbox.run())
        try:
            yield
        finally:
            self.inbox.stop()
            await asyncio.wait_for(task, WAIT)

    async def next(self) -> Incoming:
        return await asyncio.wait_for(self.handled.get(), WAIT)


@contextlib.asynccontextmanager
async def callback_server(
    database_url: str, *, crypto: WeChatCrypto | None = None
) -> AsyncIterator[Callback]:
    from storage.uow import SqlUnitOfWork

    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    handled: asyncio.Queue[Incoming] = asyncio.Queue()

    async def handle(incoming: Incoming, *, last_try: bool) -> None:
        await handled.put(incoming)

    def uow_factory() -> BaseUnitOfWork:
        return SqlUnitOfWork(session_factory=sessions)

    inbox = Inbox(uow_factory=uow_factory, handle=handle)
    inbox.add_mapper("wechat", to_incoming)
    menus = MenuRows(sessions)
    app = Starlette(routes=[wechat_route(inbox, token=TOKEN, crypto=crypto, menus=menus)])
    try:
        async with (
            serving(app, host="127.0.0.1", port=0) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
        ):
            yield Callback(client, inbox, menus, uow_factory, handled)
    finally:
        await engine.dispose()


async def test_a_get_with_a_valid_signature_echoes_echostr_and_a_forged_one_is_refused(
    migrated_database_url: str,
) -> None:
    async with callback_server(migrated_database_url) as cb:
        good = await cb.client.get("/wechat", params={**signed(), "echostr": "4711"})
        forged = await cb.client.get(
            "/wechat", params={**signed(token="not-ours"), "echostr": "4711"}
        )
    assert (good.status_code, good.text) == (200, "4711")
    assert forged.status_code == 403 and "4711" not in forged.text


async def test_three_tries_of_one_msgid_are_stored_once_and_each_answered_success(
    migrated_database_url: str,
) -> None:
    body = xml("text", Content="井盖没了", MsgId="10001")
    async with callback_server(migrated_database_url) as cb:
        answers = [await cb.post(body) for _ in range(3)]
        stored = await cb.backlog()
        async with cb.working():
            first = await cb.next()
        assert cb.handled.empty()
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 3
    assert stored == 1
    assert (first.kind, first.text, first.user.user_id) == (Kind.TEXT, "井盖没了", OPENID)


async def test_events_have_no_msgid_so_sender_time_and_event_make_their_key(
    migrated_database_url: str,
) -> None:
    follow = xml("event", Event="subscribe", created=1764770001)
    follow_later = xml("event", Event="subscribe", created=1764770099)
    async with callback_server(migrated_database_url) as cb:
        for body in (follow, follow, follow_later):
            assert (await cb.post(body)).text == "success"
        stored = await cb.backlog()
        async with cb.working():
            started = await cb.next()
    assert stored == 2
    assert (started.kind, started.command) == (Kind.COMMAND, "start")


@pytest.mark.parametrize(
    ("params", "body", "status"),
    [
        (signed(token="forged"), xml("text", Content="x", MsgId="1"), 403),
        ({"timestamp": "1", "nonce": "2"}, xml("text", Content="x", MsgId="2"), 403),
        (None, "<xml><Content>no sender</Content>", 400),
        (None, "not xml at all", 400),
        (None, "<xml><MsgType>text</MsgType></xml>", 400),
    ],
)
async def test_a_bad_signature_or_body_is_refused_and_nothing_is_stored(
    migrated_database_url: str, params: dict[str, str] | None, body: str, status: int
) -> None:
    async with callback_server(migrated_database_url) as cb:
        answer = await cb.post(body, params)
        stored = await cb.backlog()
    assert answer.status_code == status
    assert stored == 0


async def test_in_safe_mode_the_message_is_decrypted_and_a_wrong_msg_signature_refused(
    migrated_database_url: str,
) -> None:
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    timestamp, nonce = str(int(time.time())), "safe-nonce"
    sealed = crypto.encrypt_message(xml("text", Content="加密的", MsgId="20001"), nonce, timestamp)
    envelope = xmltodict.parse(to_text(sealed))["xml"]
    params = {
        **signed(timestamp=timestamp, nonce=nonce),
        "encrypt_type": "aes",
        "msg_signature": envelope["MsgSignature"],
    }
    async with callback_server(migrated_database_url, crypto=crypto) as cb:
        tampered = await cb.post(sealed, {**params, "msg_signature": "0" * 40})
        plain = await cb.post(xml("text", Content="明文", MsgId="20002"))
        good = await cb.post(sealed, params)
        stored = await cb.backlog()
        async with cb.working():
            message = await cb.next()
    assert (tampered.status_code, plain.status_code, good.text) == (403, 400, "success")
    assert stored == 1
    assert message.text == "加密的"


async def test_an_image_is_a_photo_by_media_id_and_a_location_is_taken_from_gcj02_once(
    migrated_database_url: str,
) -> None:
    # A point in Qinhuangdao as Tencent's map (GCJ-02) gives it.
    gcj_lat, gcj_lon = 39.935512, 119.600469
    image = xml("image", PicUrl="http://x/p.jpg", MediaId="MEDIA_1", MsgId="30001")
    where = xml(
        "location",
        Location_X=str(gcj_lat),
        Location_Y=str(gcj_lon),
        Scale="15",
        Label="海港区文化路",
        MsgId="30002",
    )
    async with callback_server(migrated_database_url) as cb:
        for body in (image, where):
            assert (await cb.post(body)).text == "success"
        async with cb.working():
            photo, located = await cb.next(), await cb.next()
    assert photo.kind is Kind.PHOTO and photo.photo is not None
    assert photo.photo.file_id == "MEDIA_1"
    assert located.kind is Kind.LOCATION and located.location is not None
    lat, lon = located.location.lat, located.location.lon
    # Inside Gridsnap points are WGS-84: taken back from GCJ-02 once, so that routing's
    # conversion to a GCJ-02 map lands on the rider's own point again (not ~500 m off).
    back = wgs84_to_gcj02(lat, lon)
    assert abs(back[0] - gcj_lat) < 1e-7 and abs(back[1] - gcj_lon) < 1e-7
    assert abs(lat - gcj_lat) + abs(lon - gcj_lon) > 0.002  # really converted, not passed
    assert located.location.address == "海港区文化路"


async def test_menu_taps_carry_their_button_data_and_a_typed_number_picks_the_last_menu(
    migrated_database_url: str,
) -> None:
    async with callback_server(migrated_database_url) as cb:
        await cb.menus.remember(
            OPENID,
            {"1": {"data": "w:acc:12:3", "text": "接单"}, "2": {"data": None, "text": "跳过"}},
            at=datetime.now(UTC),
        )
        bodies = [
            xml("text", Content="1. 接单", bizmsgmenuid="w:acc:9:1", MsgId="40001"),
            xml("text", Content="1", MsgId="40002"),
            xml("text", Content=" 2 ", MsgId="40003"),
            xml("text", Content="7", MsgId="40004"),
            xml("event", Event="CLICK", EventKey="report"),
        ]
        for body in bodies:
            assert (await cb.post(body)).text == "success"
        async with cb.working():
            tapped, typed, skipped, other, clicked = [await cb.next() for _ in bodies]
    assert (tapped.kind, tapped.button_data) == (Kind.BUTTON, "w:acc:9:1")
    assert (typed.kind, typed.button_data) == (Kind.BUTTON, "w:acc:12:3")
    assert (skipped.kind, skipped.text) == (Kind.TEXT, "跳过")
    assert (other.kind, other.text) == (Kind.TEXT, "7")
    assert (clicked.kind, clicked.command) == (Kind.COMMAND, "report")


def test_unknown_kinds_are_unsupported_and_other_events_nothing() -> None:
    from bot.transports.wechat.mapper import stored

    voice = stored("m:1", {"FromUserName": OPENID, "MsgType": "voice", "MsgId": "1"})
    leave = stored("e:2", {"FromUserName": OPENID, "MsgType": "event", "Event": "unsubscribe"})
    mapped = to_incoming(voice)
    assert mapped is not None and mapped.kind is Kind.UNSUPPORTED
    assert to_incoming(leave) is None
