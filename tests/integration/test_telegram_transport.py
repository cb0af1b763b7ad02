"""The PTB transport's own wiring over real HTTP against the local Bot API emulator: long
polling and the webhook route. What it sends is tested with aiogram's in
test_telegram_senders.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette

from bot.chat import Incoming, Kind, Location
from bot.transports.telegram import build_application, polling, webhook_route
from tests.telegram_kit import USER, emulator_with_user, next_incoming, settings_for


@pytest.fixture
async def emulator():
    async with emulator_with_user() as emu:
        yield emu


async def test_polling_hands_each_update_to_the_dispatcher_as_incoming(emulator):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    application = build_application(settings_for(emulator), received.put)
    async with polling(application):
        emulator.send_text(USER, "/start inv_8f3Kq2")
        emulator.send_location(USER, 39.93, 119.6)
        command = await next_incoming(received)
        location = await next_incoming(received)
    assert (command.kind, command.command, command.payload) == (Kind.COMMAND, "start", "inv_8f3Kq2")
    assert command.user.user_id == str(USER)
    assert location.location == Location(lat=39.93, lon=119.6)


async def test_the_webhook_route_checks_the_secret_and_feeds_the_application(emulator):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    application = build_application(settings_for(emulator), received.put)
    app = Starlette(routes=[webhook_route(application, "s3cret-token")])
    update = {
        "update_id": 31,
        "message": {
            "message_id": 5,
            "date": 1746086400,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Wei"},
            "text": "井盖没了",
        },
    }
    async with application:
        await application.start()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            forged = await client.post("/telegram", json=update)
            wrong = await client.post(
                "/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            good = await client.post(
                "/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"},
            )
            incoming = await next_incoming(received)
        await application.stop()
    assert (forged.status_code, wrong.status_code, good.status_code) == (403, 403, 200)
    assert (incoming.kind, incoming.text, incoming.update_id) == (Kind.TEXT, "井盖没了", "31")
    assert received.empty()


async def test_the_offset_confirmation_on_stop_does_not_wait_for_the_long_poll(emulator):
    """PTB's stop cancels the long poll without waiting for it and confirms the offset with one
    more getUpdates; that call must get a connection while the poll still holds its own."""
    application = build_application(settings_for(emulator), asyncio.Queue().put)
    async with application:
        long_poll = asyncio.create_task(application.bot.get_updates(timeout=20))
        await asyncio.sleep(0.2)  # the long poll is on the wire and holds its connection
        try:
            confirmed = await application.bot.get_updates(timeout=0, pool_timeout=0.5)
        finally:
            long_poll.cancel()
    assert confirmed == ()
