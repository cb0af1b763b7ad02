"""The emulator stands in for a load balancer in front of several bot processes: with
``webhook_backends`` each update goes to the next backend in turn, at the registered
webhook's path, with its secret, and the order of updates is kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot

from bot.transports.embedded_http import EmbeddedServer
from bot.transports.emulator import BotApiEmulator

TOKEN = "123456789:round-robin-test"
SECRET = "round-robin-secret"
COURIER = 4343
WAIT = 5.0  # a guard against hanging, not a speed assertion
Received = asyncio.Queue[tuple[str, int, str]]  # backend, update id, secret header


async def backend(name: str, received: Received) -> EmbeddedServer:
    async def hook(request: Request) -> Response:
        update = json.loads(await request.body())
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        await received.put((name, update["update_id"], secret))
        return Response(status_code=200)

    routes = [Route("/hook", hook, methods=["POST"])]
    return EmbeddedServer(Starlette(routes=routes), host="127.0.0.1", port=0)


@pytest.fixture
async def two_backends() -> AsyncIterator[tuple[list[int], Received]]:
    received: Received = asyncio.Queue()
    servers = [await backend(name, received) for name in ("first", "second")]
    ports = [await server.start() for server in servers]
    try:
        yield ports, received
    finally:
        for server in servers:
            await server.stop()


async def test_updates_go_round_robin_to_the_backends_in_order(
    two_backends: tuple[list[int], Received],
) -> None:
    ports, received = two_backends
    backends = [f"http://127.0.0.1:{port}" for port in ports]
    async with BotApiEmulator(token=TOKEN, webhook_backends=backends) as emu:
        emu.user(COURIER, first_name="Li")
        async with Bot(TOKEN, base_url=emu.base_url) as bot:
            # The registered URL's host is the balancer's; only its path is kept.
            await bot.set_webhook("https://bot.example.org/hook", secret_token=SECRET)
        for n in range(4):
            emu.send_text(COURIER, f"update {n}")
        got = [await asyncio.wait_for(received.get(), WAIT) for _ in range(4)]
    assert [name for name, _id, _secret in got] == ["first", "second", "first", "second"]
    ids = [update_id for _name, update_id, _secret in got]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert {secret for _name, _id, secret in got} == {SECRET}
    assert [d.url for d in emu.webhook_deliveries] == [f"{b}/hook" for b in backends * 2]
