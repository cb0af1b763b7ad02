"""The WeChat API client and sender over real HTTP against a small WeChat stand-in, on real
databases: one access_token for every process, refreshed early and when refused; the 48 h
window's refusals sent as template messages or kept waiting in the outbox, never dropped.

(The project's full WeChat emulator drives the end-to-end tests; this stand-in serves
only what these rules need and counts what it was asked.)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.chat import Button, Keyboard, Location, Outgoing, OutKind, inline
from bot.delivery import AwaitingUser, OutboxSender, TransientError, UnitOfWorkOutbox
from bot.geo.crs import wgs84_to_gcj02
from bot.services.ports import BaseUnitOfWork
from bot.transports.embedded_http import serving
from bot.transports.wechat.api import WeChatApi, now_utc
from bot.transports.wechat.sender import WeChatSender
from storage.database import create_engine, create_session_factory
from storage.models import OutboxRowModel
from storage.wechat import MenuRows, TokenRow

APPID, SECRET = "wx0123456789abcdef", "s3cret"
RIDER = "oRider_0000000000000000000001"
AWAY = "oAway_00000000000000000000002"


@dataclass
class StandIn:
    """WeChat as far as these tests need it; ``away`` users are past their 48 h."""

    expires_in: int = 7200
    tokens_issued: int = 0
    valid: set[str] = field(default_factory=set)
    away: set[str] = field(default_factory=set)
    custom: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    uploads: int = 0
    busy_texts: int = 0  # this many text messages are answered -1 (system busy)
    url: str = ""

    def revoke_all(self) -> None:
        self.valid.clear()

    async def token(self, request: Request) -> Response:
        if (request.query_params.get("appid"), request.query_params.get("secret")) != (
            APPID,
            SECRET,
        ):
            return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
        await asyncio.sleep(0)  # let a concurrent caller run into the refresh
        self.tokens_issued += 1
        token = f"TOKEN-{self.tokens_issued}"
        self.valid.add(token)
        return JSONResponse({"access_token": token, "expires_in": self.expires_in})

    async def api(self, request: Request) -> Response:
        if request.query_params.get("access_token") not in self.valid:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        name = request.path_params["name"]
        if name == "media/upload":
            self.uploads += 1
            return JSONResponse({"type": "image", "media_id": f"M{self.uploads}"})
        body = await request.json()
        if name == "message/template/send":
            self.templates.append(body)
            return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": 900 + len(self.templates)})
        if body["touser"] in self.away:
            return JSONResponse({"errcode": 45015, "errmsg": "response out of time limit"})
        if body["msgtype"] == "text" and self.busy_texts:
            self.busy_texts -= 1
            return JSONResponse({"errcode": -1, "errmsg": "system error"})
        self.custom.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


@contextlib.asynccontextmanager
async def stand_in() -> AsyncIterator[StandIn]:
    wechat = StandIn()
    app = Starlette(
        routes=[
            Route("/cgi-bin/token", wechat.token, methods=["GET"]),
            Route("/cgi-bin/{name:path}", wechat.api, methods=["POST"]),
        ]
    )
    async with serving(app, host="127.0.0.1", port=0) as port:
        wechat.url = f"http://127.0.0.1:{port}"
        yield wechat


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def process(
    database_url: str, wechat: StandIn, *, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[tuple[WeChatApi, MenuRows]]:
    """One bot process's API client: its own engine on the shared database."""
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    api = WeChatApi(
        base_url=wechat.url,
        appid=APPID,
        secret=SECRET,
        tokens=TokenRow(sessions, appid=APPID),
        clock=clock or now_utc,
    )
    try:
        yield api, MenuRows(sessions)
    finally:
        await api.aclose()
        await engine.dispose()


def text_to(openid: str, text: str, **fields: Any) -> Outgoing:
    return Outgoing(platform="wechat", chat_id=openid, text=text, **fields)


async def test_two_processes_starting_at_once_fetch_the_access_token_once(
    migrated_database_url: str,
) -> None:
    async with (
        stand_in() as wechat,
        process(migrated_database_url, wechat) as (one, _),
        process(migrated_database_url, wechat) as (two, _),
    ):
        tokens = await asyncio.gather(one.token(), two.token(), one.token(), two.token())
    assert wechat.tokens_issued == 1
    assert set(tokens) == {"TOKEN-1"}
    assert one.tokens_fetched + two.tokens_fetched == 1


async def test_a_refused_token_is_fetched_again_once_and_the_message_still_goes(
    migrated_database_url: str,
) -> None:
    async with (
        stand_in() as wechat,
        process(migrated_database_url, wechat) as (one, menus),
        process(migrated_database_url, wechat) as (two, _),
    ):
        sender = WeChatSender(api=one, menus=menus, photo_loader=bytes.fromhex, locale="zh_CN")
        await sender.send(text_to(RIDER, "第一条"))
        wechat.revoke_all()  # WeChat says 40001 (another app server took a new token)
        await sender.send(text_to(RIDER, "第二条"))
        shared = await two.token()  # the other process reads the renewed one
    assert wechat.tokens_issued == 2
    assert shared == "TOKEN-2"
    assert [m["text"]["content"] for m in wechat.custom] == ["第一条", "第二条"]


async def test_a_token_is_renewed_before_it_runs_out(migrated_database_url: str) -> None:
    clock = Clock(datetime.now(UTC))
    async with (
        stand_in() as wechat,
        process(migrated_database_url, wechat, clock=clock.now) as (
            api,
            _,
        ),
    ):
        first = await api.token()
        clock.at += timedelta(seconds=7200 - 4 * 60)  # four minutes left: inside the margin
        second = await api.token()
    assert (first, second, wechat.tokens_issued) == ("TOKEN-1", "TOKEN-2", 2)


async def test_buttons_go_as_a_numbered_msgmenu_whose_ids_are_the_button_data(
    migrated_database_url: str,
) -> None:
    keyboard = Keyboard(
        rows=(
            (Button(text="接单", data="w:acc:12:3"), Button(text="不是我的", data="w:ret:12")),
            (Button(text="发送位置", request_location=True),),
        ),
        inline=False,
    )
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        sender = WeChatSender(api=api, menus=menus, photo_loader=bytes.fromhex, locale="en")
        await sender.send(text_to(RIDER, "新案件 #12", keyboard=keyboard))
        remembered = await menus.options(RIDER)
        await sender.send(text_to(RIDER, "已接单"))  # no options: the numbers are forgotten
        forgotten = await menus.options(RIDER)
    menu = wechat.custom[0]["msgmenu"]
    assert wechat.custom[0]["msgtype"] == "msgmenu"
    assert [i["id"] for i in menu["list"]] == ["w:acc:12:3", "w:ret:12"]
    assert [i["content"] for i in menu["list"]] == ["1. 接单", "2. 不是我的"]
    assert "Location" in menu["head_content"] and menu["head_content"].startswith("新案件 #12")
    assert remembered == {
        "1": {"data": "w:acc:12:3", "text": "接单"},
        "2": {"data": "w:ret:12", "text": "不是我的"},
    }
    assert forgotten is None


async def test_edits_are_fresh_messages_and_a_dropped_keyboard_or_quiet_answer_sends_nothing(
    migrated_database_url: str,
) -> None:
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        sender = WeChatSender(api=api, menus=menus, photo_loader=bytes.fromhex, locale="zh_CN")
        edited = text_to(RIDER, "案件 #12 已受理", kind=OutKind.EDIT_TEXT, message_id="5")
        dropped = text_to(RIDER, "", kind=OutKind.EDIT_MARKUP, message_id="5")
        quiet = text_to(RIDER, "收到", kind=OutKind.ANSWER_BUTTON, callback_id="c1")
        alert = text_to(RIDER, "已经处理过了", kind=OutKind.ANSWER_BUTTON, alert=True)
        for out in (edited, dropped, quiet, alert):
            await sender.send(out)
    assert [m["text"]["content"] for m in wechat.custom] == ["案件 #12 已受理", "已经处理过了"]


async def test_outside_48_h_a_status_push_goes_as_a_template_with_its_options_as_numbers(
    migrated_database_url: str,
) -> None:
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        wechat.away.add(AWAY)
        sender = WeChatSender(
            api=api, menus=menus, photo_loader=bytes.fromhex, locale="zh_CN", template_id="T1"
        )
        push = text_to(AWAY, "案件 #12 已处理，解决了吗？", keyboard=inline([("👍", "r:ok:12")]))
        msgid = await sender.send(push)
        remembered = await menus.options(AWAY)
    assert wechat.custom == []
    assert msgid == "901"
    (template,) = wechat.templates
    assert template["template_id"] == "T1" and template["touser"] == AWAY
    assert template["data"]["content"]["value"].splitlines()[:2] == [
        "案件 #12 已处理，解决了吗？",
        "1. 👍",
    ]
    assert remembered == {"1": {"data": "r:ok:12", "text": "👍"}}


async def test_outside_48_h_without_a_template_the_push_waits_in_the_outbox_until_it_can_go(
    migrated_database_url: str, make_uow: Callable[[], BaseUnitOfWork]
) -> None:
    clock = Clock(datetime.now(UTC))
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        wechat.away.add(AWAY)
        sender = WeChatSender(api=api, menus=menus, photo_loader=bytes.fromhex, locale="zh_CN")
        with pytest.raises(AwaitingUser):
            await sender.send(text_to(AWAY, "直接发送"))
        async with make_uow() as uow:
            await uow.outbox.add(text_to(AWAY, "案件 #12 已处理"))
            await uow.commit()
        outbox = OutboxSender(
            store=UnitOfWorkOutbox(make_uow), senders={"wechat": sender.send}, clock=clock
        )
        refused = await outbox.drain_once()
        waiting = await _states(make_uow)
        clock.at += timedelta(minutes=5)
        too_early = await outbox.drain_once()
        wechat.away.discard(AWAY)  # the rider wrote again
        clock.at += timedelta(minutes=6)
        sent = await outbox.drain_once()
        done = await _states(make_uow)
    assert (refused, too_early, sent) == (0, 0, 1)
    assert waiting == [("pending", 0)]
    assert done == [("sent", 0)]
    assert [m["text"]["content"] for m in wechat.custom] == ["案件 #12 已处理"]


async def _states(make_uow: Callable[[], BaseUnitOfWork]) -> list[tuple[str, int]]:
    async with make_uow() as uow:
        rows = await uow.outbox.s.scalars(select(OutboxRowModel))  # type: ignore[attr-defined]
        return [(r.state, r.failures) for r in rows]


async def test_a_stored_photo_is_uploaded_once_then_sent_by_media_id_with_its_caption_after(
    migrated_database_url: str,
) -> None:
    key = "ab" * 32
    photos = {key: b"\xff\xd8\xff" + bytes(100)}
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        sender = WeChatSender(api=api, menus=menus, photo_loader=photos.__getitem__, locale="en")
        for n in (1, 2):
            await sender.send(text_to(RIDER, f"案件 #{n}", kind=OutKind.PHOTO, photo=key))
        await sender.send(text_to(RIDER, "已删除", kind=OutKind.PHOTO, photo="cd" * 32))
    assert wechat.uploads == 1
    assert [(m["msgtype"], m.get("image") or m.get("text")) for m in wechat.custom] == [
        ("image", {"media_id": "M1"}),
        ("text", {"content": "案件 #1"}),
        ("image", {"media_id": "M1"}),
        ("text", {"content": "案件 #2"}),
        ("text", {"content": "已删除"}),  # the photo is gone from the store: the caption goes
    ]


async def test_a_location_goes_as_its_name_and_a_tencent_map_link_in_gcj02(
    migrated_database_url: str,
) -> None:
    lat, lon = 39.9335, 119.5942  # WGS-84, as Gridsnap keeps points
    pin = Location(lat=lat, lon=lon, title="文化路井盖")
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        sender = WeChatSender(api=api, menus=menus, photo_loader=bytes.fromhex, locale="en")
        await sender.send(text_to(RIDER, "", kind=OutKind.LOCATION, location=pin))
    text = wechat.custom[0]["text"]["content"]
    assert text.startswith("📍 文化路井盖")
    found = re.search(r"coord:([\d.]+),([\d.]+)", text)
    assert found is not None
    gcj = wgs84_to_gcj02(lat, lon)
    assert abs(float(found[1]) - gcj[0]) < 1e-6 and abs(float(found[2]) - gcj[1]) < 1e-6


async def test_when_a_photos_caption_fails_its_next_try_does_not_show_the_picture_twice(
    migrated_database_url: str,
) -> None:
    key = "ef" * 32
    photos = {key: b"\xff\xd8\xff" + bytes(100)}
    photo = text_to(RIDER, "案件 #3", kind=OutKind.PHOTO, photo=key)
    async with stand_in() as wechat, process(migrated_database_url, wechat) as (api, menus):
        sender = WeChatSender(api=api, menus=menus, photo_loader=photos.__getitem__, locale="en")
        wechat.busy_texts = 1
        with pytest.raises(TransientError):
            await sender.send(photo)
        await sender.send(photo)  # the outbox's next try of the same row
        await sender.send(photo)  # the same message queued again later: shown whole
    assert [m["msgtype"] for m in wechat.custom] == ["image", "text", "image", "text"]
