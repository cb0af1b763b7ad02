"""``gridsnap run`` in webhook mode, in-process: the command's own ``serve`` with a token and
``GRIDSNAP_WEBHOOK_URL`` pointing at our webhook server on a free local port, and the Bot API
emulator standing in for Telegram, which POSTs each update there with the secret header.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.cli.run import serve
from bot.config import load_settings
from bot.transports.emulator import BotApiEmulator
from bot.transports.emulator.webhook import SECRET_HEADER

SECRET = "webhook-secret-for-the-test"
WAIT = 15.0
START_UPDATE = {
    "update_id": 900,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 4242, "type": "private", "first_name": "Forger"},
        "from": {"id": 4242, "is_bot": False, "first_name": "Forger"},
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    },
}


@dataclass(frozen=True, slots=True)
class WebhookBot:
    emulator: BotApiEmulator
    url: str  # what the bot registered with the emulator, i.e. our webhook endpoint
    base: str  # the webhook server's root (for /healthz)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def webhook_bot(tmp_path: Path) -> AsyncIterator[WebhookBot]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with BotApiEmulator() as emulator:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            photo_dir=tmp_path / "photos",
            telegram_token=emulator.token,
            telegram_api_url=emulator.url,
            webhook_url=f"{base}/telegram",
            webhook_secret=SECRET,
            webhook_host="127.0.0.1",
            webhook_port=port,
        )
        stopping = asyncio.Event()
        running = asyncio.create_task(serve(settings, stopping))
        try:
            # The server listens before the webhook is registered, so this means both.
            hook = await emulator.world.wait_until(
                lambda: emulator.world.webhook or running.done(), WAIT
            )
            if running.done():
                await running  # re-raises why start-up failed
            assert hook, "the bot did not register its webhook"
            yield WebhookBot(emulator=emulator, url=f"{base}/telegram", base=base)
        finally:
            stopping.set()
            await running


async def test_a_start_delivered_by_webhook_with_the_secret_gets_the_bots_reply(
    webhook_bot: WebhookBot,
) -> None:
    emulator = webhook_bot.emulator
    hook = emulator.world.webhook
    assert hook is not None
    assert (hook.url, hook.secret_token) == (webhook_bot.url, SECRET)

    rider = emulator.user(first_name="Wang", language_code="en")
    emulator.send_text(rider["id"], "/start")
    reply = await emulator.wait_for_message(rider["id"], timeout=WAIT)

    assert "Gridsnap" in reply.text
    delivered = [d for d in emulator.webhook_deliveries if d.status == 200]
    assert delivered and delivered[0].headers == {SECRET_HEADER: SECRET}
    assert emulator.calls("getUpdates") == []  # the reply came by webhook, not by polling


async def test_a_webhook_call_with_a_wrong_or_missing_secret_is_refused_and_ignored(
    webhook_bot: WebhookBot,
) -> None:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        wrong = await client.post(
            webhook_bot.url, json=START_UPDATE, headers={SECRET_HEADER: "guessed"}
        )
        missing = await client.post(webhook_bot.url, json=START_UPDATE)
        health = await client.get(webhook_bot.base + "/healthz")

    assert (wrong.status_code, missing.status_code) == (403, 403)
    assert health.json() == {"ok": True}
    # A sign of life from the bot first, so "nothing for the forger" is not just "not yet".
    rider = webhook_bot.emulator.user(first_name="Wang", language_code="en")
    webhook_bot.emulator.send_text(rider["id"], "/help")
    await webhook_bot.emulator.wait_for_message(rider["id"], timeout=WAIT)
    to_forger = [c for c in webhook_bot.emulator.calls() if str(c.params.get("chat_id")) == "4242"]
    assert to_forger == []
