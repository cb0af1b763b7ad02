"""The PTB transport's own wiring over real HTTP against the local Bot API emulator: long
polling and the webhook route, both into the inbox (bot/inbox.py), which hands each stored
update to the dispatcher as ``Incoming``. What it sends is tested in
test_telegram_senders.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.chat import Incoming, Kind, Location
from bot.inbox import Inbox, Poller
from bot.transports.emulator import BotApiEmulator
from bot.transports.telegram import build_application, get_updates, mapper, polling, webhook_route
from tests.fakes import FakeInboxRepository, FakeStore, FakeUnitOfWork, every_try
from tests.telegram_kit import USER, WAIT, emulator_with_user, next_incoming, settings_for

SECRET = "s3cret-token"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


def text_update(update_id: int, text: str = "井盖没了") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 5,
            "date": 1746086400,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Wei"},
            "text": text,
        },
    }


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with emulator_with_user() as emu:
        yield emu


@contextlib.asynccontextmanager
async def polled_into(
    emulator: BotApiEmulator, inbox: Inbox, *, poll_s: float = 1.0
) -> AsyncIterator[Poller]:
    """The PTB bot long-polling the emulator into ``inbox``, whose worker runs too."""
    application = build_application(settings_for(emulator))
    inbox.add_mapper("telegram", mapper(application))
    async with polling(application):
        poller = Poller(
            inbox=inbox,
            platform="telegram",
            get_updates=get_updates(application.bot),
            timeout=poll_s,
        )
        tasks = [asyncio.create_task(poller.run()), asyncio.create_task(inbox.run())]
        try:
            yield poller
        finally:
            tasks[0].cancel()
            inbox.stop()
            await asyncio.gather(*tasks, return_exceptions=True)


def inbox_on(store: FakeStore, received: asyncio.Queue[Incoming], **options: Any) -> Inbox:
    return Inbox(
        uow_factory=lambda: FakeUnitOfWork(store=store), handle=every_try(received.put), **options
    )


async def test_polling_hands_each_update_to_the_dispatcher_as_incoming(
    emulator: BotApiEmulator,
) -> None:
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    store = FakeStore()
    async with polled_into(emulator, inbox_on(store, received)):
        emulator.send_text(USER, "/start inv_8f3Kq2")
        emulator.send_location(USER, 39.93, 119.6)
        command = await next_incoming(received)
        location = await next_incoming(received)
    assert (command.kind, command.command, command.payload) == (Kind.COMMAND, "start", "inv_8f3Kq2")
    assert command.user.user_id == str(USER)
    assert location.location == Location(lat=39.93, lon=119.6)
    assert store.data.inbox == {}  # handled rows are forgotten


class _FailingInbox(FakeInboxRepository):
    failures = 2

    async def add(self, *args: Any, **kwargs: Any) -> int:
        if _FailingInbox.failures:
            _FailingInbox.failures -= 1
            raise ConnectionError("database away")
        return await super().add(*args, **kwargs)


class _FailingUnitOfWork(FakeUnitOfWork):
    def __init__(self, *, store: FakeStore) -> None:
        super().__init__(store=store)
        self.inbox = _FailingInbox(self)


async def test_8_polling_confirms_no_update_before_it_is_stored(
    emulator: BotApiEmulator,
) -> None:
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    store = FakeStore()
    inbox = Inbox(
        uow_factory=lambda: _FailingUnitOfWork(store=store), handle=every_try(received.put)
    )
    emulator.send_text(USER, "first")
    async with polled_into(emulator, inbox):
        # The database refuses twice: the update must be fetched again, not confirmed away.
        incoming = await next_incoming(received)
        emulator.send_text(USER, "second")
        second = await next_incoming(received)
    first_id = int(incoming.update_id)
    offsets = [c.params.get("offset") for c in emulator.calls("getUpdates")]
    assert incoming.text == "first" and second.text == "second"
    assert emulator.times_served(first_id) == 3
    # No getUpdates confirmed it (offset above it) before the third fetch stored it.
    assert [o for o in offsets[:3] if o is not None and int(o) > first_id] == []


async def test_8_an_update_ptb_could_not_parse_does_not_stop_polling(
    emulator: BotApiEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback without ``chat_instance`` made PTB's parser fail on every getUpdates of its
    batch (26,000 log lines a minute, nobody answered); ours reads the JSON it needs."""
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    world = emulator.world
    world.updates.append(
        {
            "update_id": 1,
            "callback_query": {"id": "q1", "from": {"id": USER, "is_bot": False}, "data": "x"},
        }
    )
    world.updates.append({"update_id": 2, "callback_query": {"from": {"id": 99}, "data": "y"}})
    world.number_updates_after(2)
    caplog.set_level(logging.WARNING)
    inbox = inbox_on(FakeStore(), received, max_attempts=2, retry_delay=0.01)
    async with polled_into(emulator, inbox):
        button = await next_incoming(received)
        emulator.send_text(USER, "still there?")
        text = await next_incoming(received)
        await world.wait_until(lambda: "kept as dead" in caplog.text, WAIT)
    assert (button.kind, button.button_data) == (Kind.BUTTON, "x")
    assert text.text == "still there?"
    # Update 2 has no id to answer: tried twice, then skipped with one error line.
    dead = [r for r in caplog.records if "kept as dead" in r.getMessage()]
    assert len(dead) == 1 and "update 2 " in dead[0].getMessage()


@contextlib.asynccontextmanager
async def webhook_client(inbox: Inbox, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[webhook_route(inbox, SECRET, **options)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        yield client


async def test_the_webhook_checks_the_secret_and_answers_200_once_the_update_is_stored() -> None:
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    store = FakeStore()
    inbox = inbox_on(store, received)
    inbox.add_mapper("telegram", lambda data: None)
    async with webhook_client(inbox) as client:
        forged = await client.post("/telegram", json=text_update(31))
        wrong = await client.post(
            "/telegram", json=text_update(31), headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
        )
        good = await client.post("/telegram", json=text_update(31), headers=HEADERS)
    assert (forged.status_code, wrong.status_code, good.status_code) == (403, 403, 200)
    assert [row.update_id for row in store.data.inbox.values()] == ["31"]


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null", b"42", b"{", b"\xff\xfe"])
async def test_8_a_webhook_body_that_is_no_json_object_is_refused_with_400(body: bytes) -> None:
    store = FakeStore()
    async with webhook_client(inbox_on(store, asyncio.Queue())) as client:
        answer = await client.post("/telegram", content=body, headers=HEADERS)
    assert answer.status_code == 400
    assert store.data.inbox == {}


async def test_8_a_webhook_body_over_the_cap_is_refused_with_413() -> None:
    store = FakeStore()
    big = text_update(40, "x" * 5000)
    async with webhook_client(inbox_on(store, asyncio.Queue()), max_body_bytes=4096) as client:
        refused = await client.post("/telegram", json=big, headers=HEADERS)
        taken = await client.post("/telegram", json=text_update(41), headers=HEADERS)
    assert (refused.status_code, taken.status_code) == (413, 200)
    assert [row.update_id for row in store.data.inbox.values()] == ["41"]


async def test_8_the_webhook_answers_503_while_the_backlog_is_full() -> None:
    store = FakeStore()
    async with webhook_client(inbox_on(store, asyncio.Queue()), max_backlog=2) as client:
        answers = [
            (await client.post("/telegram", json=text_update(n), headers=HEADERS)).status_code
            for n in (50, 51, 52)
        ]
    assert answers == [200, 200, 503]
    assert [row.update_id for row in store.data.inbox.values()] == ["50", "51"]


async def test_a_redelivered_webhook_update_is_stored_once() -> None:
    store = FakeStore()
    async with webhook_client(inbox_on(store, asyncio.Queue())) as client:
        for _ in range(2):
            assert (
                await client.post("/telegram", json=text_update(60), headers=HEADERS)
            ).is_success
    assert len(store.data.inbox) == 1


async def test_the_poller_waits_while_the_inbox_is_full(emulator: BotApiEmulator) -> None:
    store = FakeStore()
    inbox = inbox_on(store, asyncio.Queue(), lease=timedelta(hours=1))
    await inbox.receive("telegram", [text_update(1)])  # never handled: no mapper runs it
    application = build_application(settings_for(emulator))
    async with polling(application):
        poller = Poller(
            inbox=inbox,
            platform="telegram",
            get_updates=get_updates(application.bot),
            timeout=0,
            max_backlog=1,
        )
        emulator.send_text(USER, "waits")
        task = asyncio.create_task(poller.run())
        try:
            await emulator.world.wait_until(lambda: len(emulator.calls("getUpdates")) >= 2, WAIT)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert poller.offset is None  # nothing confirmed
    assert len(store.data.inbox) == 1
