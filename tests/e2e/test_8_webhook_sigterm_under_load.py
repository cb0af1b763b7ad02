"""Issue 8: SIGTERM in webhook mode while Telegram keeps calling. The command's own ``serve``
(as in test_webhook_mode.py), many webhook calls at once, and the stop in the middle of
them: it must end, and every update it answered 200 must be handled — before it ends or at
the next start. It used to answer 200 with the update only in a queue in memory, lose every
update answered after the signal, and never end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from bot.cli.run import serve
from bot.config import Settings, load_settings
from bot.transports.emulator import BotApiEmulator
from bot.transports.emulator.webhook import SECRET_HEADER

SECRET = "sigterm-test-secret"
CALLS = 150
WAIT = 60.0


def start_update(update_id: int) -> dict[str, Any]:
    rider = {"id": 50_000 + update_id, "is_bot": False, "first_name": f"R{update_id}"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": rider["id"], "type": "private"},
            "from": rider,
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processed(database: Path) -> set[int]:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        return {int(u) for (u,) in db.execute("SELECT update_id FROM processed_updates")}


async def started(emulator: BotApiEmulator, settings: Settings) -> tuple[asyncio.Event, Any]:
    stopping = asyncio.Event()
    emulator.world.webhook = None
    running = asyncio.create_task(serve(settings, stopping))
    registered = await emulator.world.wait_until(
        lambda: emulator.world.webhook or running.done(), WAIT
    )
    if running.done():
        await running
    assert registered
    return stopping, running


async def test_8_sigterm_under_webhook_load_ends_and_loses_no_update_answered_200(
    tmp_path: Path,
) -> None:
    database = tmp_path / "g.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    async with BotApiEmulator() as emulator:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{database}",
            photo_dir=tmp_path / "photos",
            telegram_token=emulator.token,
            telegram_api_url=emulator.url,
            webhook_url=url,
            webhook_secret=SECRET,
            webhook_host="127.0.0.1",
            webhook_port=port,
        )
        stopping, running = await started(emulator, settings)
        answered: set[int] = set()

        async with httpx.AsyncClient(timeout=WAIT) as client:

            async def call(update_id: int) -> None:
                if update_id == CALLS // 3:
                    stopping.set()  # the signal, with two thirds of the calls still to come
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.post(
                        url, json=start_update(update_id), headers={SECRET_HEADER: SECRET}
                    )
                    if answer.status_code == 200:
                        answered.add(update_id)

            await asyncio.gather(*(call(n) for n in range(1, CALLS + 1)))
        async with asyncio.timeout(WAIT):  # ends, instead of hanging for ever
            await running
        assert answered, "no call was answered; nothing was tested"

        stopping, running = await started(emulator, settings)
        try:
            async with asyncio.timeout(WAIT):
                while not answered <= processed(database):  # noqa: ASYNC110 -- polled: no event
                    await asyncio.sleep(0.05)
        finally:
            stopping.set()
            await running
    assert answered <= processed(database)
