"""WeChat's rules end to end, through the WeChat emulator over real HTTP: a callback whose
answer is lost is sent again with the same MsgId and handled once; past 48 h a status push
goes as a template message, or waits in the outbox for the person's next message; two
processes share one access_token; a received image meets the same caps as on Telegram.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from bot.app import SAMPLE_MAP, Gridsnap, attach_wechat, running
from bot.chat import Outgoing, inline
from bot.config import Settings
from bot.transports.embedded_http import serving
from bot.transports.wechat.api import WeChatApi
from bot.transports.wechat_emulator import Receiver, WeChatEmulator
from storage.database import create_engine, create_session_factory
from storage.migrate import upgrade_async
from storage.models import OutboxRowModel
from storage.wechat import TokenRow
from tests.e2e.conftest import huge_png
from tests.e2e.wechat_people import (
    TOKEN,
    WxPerson,
    running_with_wechat,
    wechat_settings,
    wx_informant,
)

HOURS_48 = 48 * 3600


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatEmulator]:
    async with WeChatEmulator(
        receiver=Receiver(reply_timeout=5.0), templates={"TPL_STATUS": "{{content.DATA}}"}
    ) as emu:
        yield emu


class LosesAnswers:
    """The network between WeChat and the bot losing the bot's first ``times`` answers to
    each callback: the bot got (and stored) it, WeChat saw no 200 and sends it again."""

    def __init__(self, app: Starlette, *, times: int) -> None:
        self._app, self._times = app, times
        self._seen: Counter[bytes] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        messages: list[Message] = []
        while not messages or messages[-1].get("more_body"):
            messages.append(await receive())
        body = b"".join(m.get("body", b"") for m in messages)
        self._seen[body] += 1
        replay = iter(messages)

        async def again() -> Message:
            return next(replay, {"type": "http.disconnect"})

        if self._seen[body] > self._times:
            await self._app(scope, again, send)
            return

        async def lost(message: Message) -> None:
            return None

        await self._app(scope, again, lost)
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_a_callback_whose_answer_is_lost_comes_three_times_and_is_handled_once(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    settings = make_settings(**wechat_settings(wechat))
    rider = WxPerson(wechat, "oRiderRetry00000000000000001", "钱师傅")
    async with running(settings, sample_map=SAMPLE_MAP) as (_app, _telegram):
        transport = attach_wechat(_app, settings)
        lossy = LosesAnswers(Starlette(routes=[transport.route]), times=2)
        try:
            async with serving(lossy, host="127.0.0.1", port=0) as port:
                wechat.receiver.url = f"http://127.0.0.1:{port}/wechat"
                wechat.receiver.token = TOKEN
                wechat.user(rider.openid, nickname=rider.name)
                first = rider.say("/help")
                helped = await rider.expect()
                settled = await wechat.settled(first)
                rider.say("/mydata")  # handled after anything left of the first, in order
                await rider.expect(lambda r: r.text != helped.text)
                await _app.close()
        finally:
            await transport.aclose()
    assert [t.status for t in settled.tries] == [502, 502, 200]
    everything = [r.text for r in wechat.received(rider.openid)]
    assert everything.count(helped.text) == 1, everything


@contextlib.asynccontextmanager
async def _app_with(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator, **more: Any
) -> AsyncIterator[Gridsnap]:
    settings = make_settings(**wechat_settings(wechat, **more))
    async with running_with_wechat(settings, wechat) as app:
        yield app


async def _push(app: Gridsnap, rider: WxPerson, text: str) -> None:
    """A status push (a row written by someone else's action), as the services queue it."""
    out = Outgoing(
        platform="wechat", chat_id=rider.openid, text=text, keyboard=inline([("👍", "x:ok:1")])
    )
    async with app.uow_factory() as uow:
        await uow.outbox.add(out)
        await uow.commit()
    rider.mark = len(rider.emu.world.received)
    app.outbox.wake()


async def _rider_away_for_48_hours(wechat: WeChatEmulator, rider: WxPerson) -> None:
    wechat.user(rider.openid, nickname=rider.name)
    rider.say("/help")
    await rider.expect()
    wechat.advance_clock(HOURS_48 + 60)


async def test_past_48_hours_a_push_goes_as_a_template_message_with_its_options_numbered(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderAway000000000000000001", "孙师傅")
    async with _app_with(make_settings, wechat, wechat_template_status="TPL_STATUS") as app:
        await _rider_away_for_48_hours(wechat, rider)
        await _push(app, rider, "案件 #7 已处理，解决了吗？")
        shown = await rider.expect("案件 #7")
    assert shown.via == "template"
    assert "1. 👍" in shown.text
    # The token ran out with the 48 h as well: refused (42001) and fetched once more.
    assert wechat.tokens_issued == 2


class Logged(logging.Handler):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment, self.seen = fragment, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.fragment in record.getMessage():
            self.seen.set()


@contextlib.contextmanager
def _logged(logger: str, fragment: str) -> Iterator[Logged]:
    """``fragment`` logged at INFO or above by ``logger`` sets the handler's ``seen``."""
    handler, log = Logged(fragment), logging.getLogger(logger)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


async def test_past_48_hours_without_a_template_the_push_waits_and_goes_when_they_write(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderAway000000000000000002", "周师傅")
    with _logged("bot.delivery", "waits for its person to write") as waiting:
        async with _app_with(make_settings, wechat) as app:
            await _rider_away_for_48_hours(wechat, rider)
            await _push(app, rider, "案件 #8 已处理")
            await asyncio.wait_for(waiting.seen.wait(), 10)
            held = await _outbox_states(app)
            rider.say("/help")  # the window opens again
            delivered = await rider.expect("案件 #8")
    assert held == [("pending", 0)]
    assert delivered.via == "custom" and delivered.msgtype == "msgmenu"


async def _outbox_states(app: Gridsnap) -> list[tuple[str, int]]:
    async with app.uow_factory() as uow:
        session = uow.outbox.s  # type: ignore[attr-defined]
        rows = await session.scalars(
            select(OutboxRowModel).where(OutboxRowModel.platform == "wechat")
        )
        return [(r.state, r.failures) for r in rows if "案件" in r.payload.get("text", "")]


async def _push_many(app: Gridsnap, rider: WxPerson, texts: list[str]) -> None:
    async with app.uow_factory() as uow:
        for text in texts:
            await uow.outbox.add(Outgoing(platform="wechat", chat_id=rider.openid, text=text))
        await uow.commit()
    rider.mark = len(rider.emu.world.received)
    app.outbox.wake()


async def test_past_the_five_messages_a_message_grants_the_rest_wait_for_the_next_one(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    # WeChat's quota (客服消息下发规则): a message lets the account send five, then 45047.
    rider = WxPerson(wechat, "oRiderQuota00000000000000001", "吴师傅")
    pushes = [f"案件 #{n} 有新进展" for n in range(1, 6)]
    with _logged("bot.delivery", "waits for its person to write") as waiting:
        async with _app_with(make_settings, wechat) as app:
            wechat.user(rider.openid, nickname=rider.name)
            rider.say("/help")
            await rider.expect()  # one of the five
            await _push_many(app, rider, pushes)
            await asyncio.wait_for(waiting.seen.wait(), 10)  # the fifth push: 45047
            early = [r.text for r in wechat.received(rider.openid, since=rider.mark)]
            rider.say("/mydata")
            await rider.expect(pushes[4])
    assert early == pushes[:4]
    got = [r.text for r in wechat.received(rider.openid) if r.text in pushes]
    assert got == pushes  # each once, in order


async def test_two_processes_on_one_database_fetch_one_access_token_from_wechat(
    tmp_path: Path, wechat: WeChatEmulator
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    await upgrade_async(url)
    engines = [create_engine(url), create_engine(url)]
    apis = [
        WeChatApi(
            base_url=wechat.url,
            appid=wechat.appid,
            secret=wechat.secret,
            tokens=TokenRow(create_session_factory(engine), appid=wechat.appid),
        )
        for engine in engines
    ]
    try:
        tokens = await asyncio.gather(*(api.token() for api in apis for _ in range(3)))
    finally:
        for api in apis:
            await api.aclose()
        for engine in engines:
            await engine.dispose()
    assert wechat.tokens_issued == 1
    assert len(set(tokens)) == 1


async def test_an_image_over_the_pixel_cap_is_refused_as_on_telegram(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderHuge000000000000000001", "吴师傅")
    async with _app_with(make_settings, wechat) as app:
        await wx_informant(app, rider)
        rider.photo(huge_png())
        refused = await rider.expect(
            rider._("That picture has too many pixels. Please send a normal camera photo.")
        )
    assert refused.msgtype == "text"


async def test_an_image_over_the_size_cap_is_refused_as_on_telegram(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderBig0000000000000000001", "郑师傅")
    cap = 2 * 1024 * 1024
    async with _app_with(make_settings, wechat, max_download_bytes=cap) as app:
        await wx_informant(app, rider)
        rider.photo(b"\xff\xd8\xff" + bytes(cap + 1))  # the download stops past the cap
        too_big = "That file is too big (the limit is {mb} MB). Please send a smaller photo."
        refused = await rider.expect(rider._(too_big).format(mb=2))
    assert refused.msgtype == "text"


async def test_in_safe_mode_the_encrypted_callbacks_are_read_and_answered(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderSafe000000000000000001", "冯师傅")
    aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    async with _app_with(make_settings, wechat, wechat_aes_key=aes_key) as app:
        await wx_informant(app, rider)
        rider.say("/report")
        asked = await rider.expect()
        pushed = wechat.world.callbacks[-1]
    assert wechat.receiver.aes_key == aes_key  # WeChat encrypted every push it made
    assert [t.status for t in pushed.tries] == [200]
    assert asked.text
