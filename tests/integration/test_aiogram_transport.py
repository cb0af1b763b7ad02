"""The aiogram transport's own wiring over real HTTP against the local Bot API emulator: long
polling into the inbox (bot/inbox.py), which hands updates over concurrently across users
and in order per user; starting and stopping. What it sends is tested with PTB's in
test_telegram_senders.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.chat import Incoming, Kind, Location, inline
from bot.config import ConfigError, Settings
from bot.inbox import Inbox, Poller
from bot.transports.aiogram_transport import (
    AiogramSender,
    AiogramTransport,
    build,
    get_updates,
    mapper,
    polling,
)
from bot.transports.emulator.server import BotApiEmulator
from tests.fakes import FakeStore, FakeUnitOfWork, every_try
from tests.telegram_kit import (
    USER,
    WAIT,
    PhotoStore,
    emulator_with_user,
    next_incoming,
    out,
    settings_for,
)


@pytest.fixture
async def emulator():
    async with emulator_with_user() as emu:
        yield emu


def aiogram_settings(emulator: BotApiEmulator, **overrides: Any) -> Settings:
    return settings_for(emulator, transport="aiogram", **overrides)


@contextlib.asynccontextmanager
async def polled(
    settings: Settings, handle: Callable[[Incoming], Awaitable[None]]
) -> AsyncIterator[AiogramTransport]:
    """The aiogram bot long-polling into an inbox whose worker hands updates to ``handle``;
    leaving the block stops polling, then lets the worker finish what it holds."""
    store = FakeStore()
    inbox = Inbox(
        uow_factory=lambda: FakeUnitOfWork(store=store),
        handle=every_try(handle),
        concurrency=settings.concurrent_updates,
        drain_s=WAIT,
    )
    transport = build(settings)
    inbox.add_mapper("telegram", mapper(transport))
    async with polling(transport):
        poller = Poller(
            inbox=inbox, platform="telegram", get_updates=get_updates(transport), timeout=1
        )
        polling_task = asyncio.create_task(poller.run())
        working = asyncio.create_task(inbox.run())
        try:
            yield transport
        finally:
            polling_task.cancel()
            inbox.stop()
            await asyncio.gather(polling_task, working, return_exceptions=True)


async def test_polling_hands_each_kind_of_update_to_the_dispatcher_in_order(emulator):
    store = PhotoStore()
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    async with polled(aiogram_settings(emulator), received.put):
        emulator.send_text(USER, "/start inv_8f3Kq2")
        emulator.send_photo(USER, store.data, caption="积水")
        emulator.send_album(USER, [store.data, store.data])
        emulator.send_location(USER, 39.93, 119.6)
        emulator.send_venue(USER, 39.9301, 119.5889, title="秦皇岛站", address="海港区北环路")
        emulator.send_contact(USER, "+8613800138000")
        got = [await next_incoming(received) for _ in range(7)]
    command, photo, first, second, location, venue, contact = got
    assert (command.kind, command.command, command.payload) == (Kind.COMMAND, "start", "inv_8f3Kq2")
    assert command.user.user_id == str(USER)
    assert photo.kind is Kind.PHOTO and photo.text == "积水"
    assert photo.photo is not None and photo.photo.size
    assert first.media_group_id is not None and first.media_group_id == second.media_group_id
    assert location.location == Location(lat=39.93, lon=119.6)
    assert venue.location is not None and venue.location.title == "秦皇岛站"
    assert contact.contact is not None and contact.contact.user_id == str(USER)


async def test_polling_hands_a_button_press_over_with_its_callback_id(emulator):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    async with polled(aiogram_settings(emulator), received.put) as transport:
        sender = AiogramSender(bot=transport.bot, photo_loader=lambda key: b"")
        message_id = await sender.send(out(text="?", keyboard=inline([("好", "ok")])))
        query_id = emulator.press(USER, int(message_id or 0), "ok")
        press = await next_incoming(received)
    assert (press.kind, press.button_data, press.callback_id) == (Kind.BUTTON, "ok", query_id)
    assert press.message_id == message_id


async def test_a_wrong_token_fails_at_start_instead_of_polling_forever(emulator):
    settings = aiogram_settings(emulator, telegram_token="999:not-the-token")
    with pytest.raises(ConfigError):
        async with polling(build(settings)):
            pass


def test_building_without_a_token_names_the_setting():
    with pytest.raises(ConfigError, match="GRIDSNAP_TELEGRAM_TOKEN"):
        build(Settings(telegram_token=None, transport="aiogram"))


async def test_stopping_lets_the_update_in_hand_finish(emulator):
    began, finished = asyncio.Event(), []

    async def slow(incoming: Incoming) -> None:
        began.set()
        # A commit in progress, say; longer than the quarter second aiogram's session close
        # sleeps anyway, so only a stop that waits for it sees it finish.
        await asyncio.sleep(0.5)
        finished.append(incoming.text)

    async with polled(aiogram_settings(emulator), slow):
        emulator.send_text(USER, "井盖没了")
        await asyncio.wait_for(began.wait(), WAIT)
    assert finished == ["井盖没了"]


RIDER_B = USER + 1


def user_of(incoming: Incoming) -> int:
    return int(incoming.user.user_id)


async def test_a_slow_update_of_one_user_does_not_hold_up_another_users(emulator):
    emulator.user(RIDER_B, first_name="Bo")
    release, b_finished, finished = asyncio.Event(), asyncio.Event(), []
    received: asyncio.Queue[Incoming] = asyncio.Queue()

    async def on_incoming(incoming: Incoming) -> None:
        await received.put(incoming)
        if user_of(incoming) == USER:
            await release.wait()  # a photo download that takes its time, say
        finished.append(user_of(incoming))
        if user_of(incoming) == RIDER_B:
            b_finished.set()

    async with polled(aiogram_settings(emulator), on_incoming):
        emulator.send_text(USER, "井盖没了")
        assert user_of(await next_incoming(received)) == USER
        emulator.send_text(RIDER_B, "路灯坏了")
        assert user_of(await next_incoming(received)) == RIDER_B
        await asyncio.wait_for(b_finished.wait(), WAIT)
        assert finished == [RIDER_B]  # while the first rider's update is still in hand
        release.set()
    assert finished == [RIDER_B, USER]


async def test_one_users_quick_updates_begin_and_finish_in_the_order_sent(emulator):
    begun, finished = [], []
    all_finished = asyncio.Event()
    texts = [f"第{n}条" for n in range(5)]

    async def on_incoming(incoming: Incoming) -> None:
        begun.append(incoming.text)
        # The earlier ones take longer (a photo download, say): a later one handed over
        # meanwhile would finish first.
        await asyncio.sleep(0.05 * (len(texts) - texts.index(incoming.text or "")))
        finished.append(incoming.text)
        if len(finished) == len(texts):
            all_finished.set()

    async with polled(aiogram_settings(emulator), on_incoming):
        for text in texts:
            emulator.send_text(USER, text)
        await asyncio.wait_for(all_finished.wait(), WAIT)
    assert begun == texts
    assert finished == texts


async def test_no_more_updates_are_handled_at_once_than_the_setting_allows(emulator):
    riders = [USER, RIDER_B, RIDER_B + 1]
    for rider in riders[1:]:
        emulator.user(rider, first_name="Rider")
    for rider in riders:  # queued before polling starts, so one getUpdates returns all
        emulator.send_text(rider, "积水")
    handling, peak, done, all_done = [0], [0], [], asyncio.Event()

    async def on_incoming(incoming: Incoming) -> None:
        handling[0] += 1
        peak[0] = max(peak[0], handling[0])
        for _ in range(3):  # a few round trips to the database, say
            await asyncio.sleep(0)
        handling[0] -= 1
        done.append(user_of(incoming))
        if len(done) == len(riders):
            all_done.set()

    async with polled(aiogram_settings(emulator, concurrent_updates=2), on_incoming):
        await asyncio.wait_for(all_done.wait(), WAIT)
    assert peak[0] == 2


async def test_stopping_waits_for_every_update_in_flight(emulator):
    emulator.user(RIDER_B, first_name="Bo")
    stopping, finished = asyncio.Event(), []
    begun: asyncio.Queue[Incoming] = asyncio.Queue()

    async def on_incoming(incoming: Incoming) -> None:
        await begun.put(incoming)
        await stopping.wait()
        # The commit still to do once the stop has begun; it outlasts the quarter second
        # aiogram's session close sleeps, so only a stop that waits for it sees it finish.
        await asyncio.sleep(0.5)
        finished.append(user_of(incoming))

    async with polled(aiogram_settings(emulator), on_incoming):
        emulator.send_text(USER, "井盖没了")
        emulator.send_text(RIDER_B, "路灯坏了")
        for _ in range(2):
            await next_incoming(begun)
        stopping.set()  # both updates are still in hand as the stop begins
    assert sorted(finished) == [USER, RIDER_B]
