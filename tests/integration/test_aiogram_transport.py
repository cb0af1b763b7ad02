"""The aiogram transport's own wiring over real HTTP against the local Bot API emulator: the
dispatcher, long polling, starting and stopping. What it sends is tested with PTB's in
test_telegram_senders.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.chat import Incoming, Kind, Location, inline
from bot.config import ConfigError, Settings
from bot.transports.aiogram_transport import AiogramSender, build, polling
from bot.transports.emulator.server import BotApiEmulator
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


async def test_polling_hands_each_kind_of_update_to_the_dispatcher_in_order(emulator):
    store = PhotoStore()
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    transport = build(aiogram_settings(emulator), received.put)
    async with polling(transport):
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
    transport = build(aiogram_settings(emulator), received.put)
    sender = AiogramSender(bot=transport.bot, photo_loader=lambda key: b"")
    async with polling(transport):
        message_id = await sender.send(out(text="?", keyboard=inline([("好", "ok")])))
        query_id = emulator.press(USER, int(message_id or 0), "ok")
        press = await next_incoming(received)
    assert (press.kind, press.button_data, press.callback_id) == (Kind.BUTTON, "ok", query_id)
    assert press.message_id == message_id


async def test_a_wrong_token_fails_at_start_instead_of_polling_forever(emulator):
    settings = aiogram_settings(emulator, telegram_token="999:not-the-token")
    transport = build(settings, asyncio.Queue[Incoming]().put)
    with pytest.raises(ConfigError):
        async with polling(transport):
            pass


def test_building_without_a_token_names_the_setting():
    with pytest.raises(ConfigError, match="GRIDSNAP_TELEGRAM_TOKEN"):
        build(Settings(telegram_token=None, transport="aiogram"), asyncio.Queue[Incoming]().put)


async def test_stopping_lets_the_update_in_hand_finish(emulator):
    began, finished = asyncio.Event(), []

    async def slow(incoming: Incoming) -> None:
        began.set()
        await asyncio.sleep(0.2)  # a commit in progress, say
        finished.append(incoming.text)

    transport = build(aiogram_settings(emulator), slow)
    async with polling(transport):
        emulator.send_text(USER, "井盖没了")
        await asyncio.wait_for(began.wait(), WAIT)
    assert finished == ["井盖没了"]
