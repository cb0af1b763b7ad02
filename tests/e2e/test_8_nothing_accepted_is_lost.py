"""Issue 8, "nothing accepted is lost", receiving half: ``gridsnap run`` as a real process
against the Bot API emulator, killed with SIGKILL in the middle of a burst of updates and
started again. Every update it confirmed to Telegram (a getUpdates offset past it) or
answered 200 on the webhook must be handled, exactly once.

Before the inbox, PTB confirmed a polled batch as soon as it had fetched it, and the webhook
answered 200 with the update only in a queue in memory: a kill lost them for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from bot.transports.emulator import BotApiEmulator
from tests.e2e.test_run_polling_against_the_emulator import (
    GRIDSNAP,
    START_TIMEOUT_S,
    _environment,
    _read_until,
)

RIDERS = 60  # one /start each: a burst the bot takes a few seconds to work through
WAIT = 60.0
SECRET = "kill-test-secret"


@contextlib.asynccontextmanager
async def gridsnap_run(
    emulator: BotApiEmulator, tmp_path: Path, ready: str, **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``gridsnap run`` until it printed ``ready``; killed on the way out if still alive."""
    process = await asyncio.create_subprocess_exec(
        str(GRIDSNAP),
        "run",
        cwd=tmp_path,
        env={**_environment(emulator, tmp_path), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        printed = await _read_until(process.stdout, ready)
        assert ready in printed, printed
        # Keep reading, so a chatty process never blocks on a full pipe.
        drain = asyncio.create_task(process.stdout.read())
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        with contextlib.suppress(Exception):
            drain.cancel()


async def stop_with_sigterm(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(START_TIMEOUT_S):  # a hang fails here instead of for ever
        assert await process.wait() == 0


def riders(emulator: BotApiEmulator) -> list[int]:
    ids = [
        int(emulator.user(first_name=f"Rider{n}", language_code="en")["id"]) for n in range(RIDERS)
    ]
    return ids


def handled(database: Path) -> tuple[set[int], Counter[str]]:
    """Update ids recorded as handled, and outbox rows queued per chat."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        ids = {int(u) for (u,) in db.execute("SELECT update_id FROM processed_updates")}
        per_chat = Counter(c for (c,) in db.execute("SELECT chat_id FROM outbox"))
    return ids, per_chat


def assert_each_handled_once(database: Path, accepted: set[int], chats: list[int]) -> None:
    ids, per_chat = handled(database)
    assert accepted <= ids, sorted(accepted - ids)
    # Every rider sent one /start, so every chat holds one answer's worth of rows; a rider
    # handled twice would hold twice as many.
    counts = {per_chat[str(chat)] for chat in chats}
    assert len(counts) == 1 and counts != {0}, per_chat


async def soon(check: Callable[[], object]) -> None:
    """Until ``check()`` holds, looking often: a getUpdates call wakes no emulator waiter."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 -- the emulator signals no event for these
            await asyncio.sleep(0.005)


def confirmed(emulator: BotApiEmulator) -> set[int]:
    """Updates created that the emulator no longer holds: a getUpdates offset confirmed them
    (the emulator drops them as the call begins, before it is recorded among the calls)."""
    world = emulator.world
    return set(world.history) - {u["update_id"] for u in world.updates}


async def answered_everyone(emulator: BotApiEmulator, chats: list[int]) -> None:
    done = await emulator.world.wait_until(
        lambda: all(emulator.bot_messages(c) for c in chats), WAIT
    )
    assert done, [c for c in chats if not emulator.bot_messages(c)]


async def test_8_a_kill_while_polling_loses_no_confirmed_update(tmp_path: Path) -> None:
    database = tmp_path / "g.db"
    async with BotApiEmulator(host="127.0.0.1", port=0) as emulator:
        async with gridsnap_run(emulator, tmp_path, "polling Telegram") as process:
            chats = riders(emulator)
            for chat in chats:
                emulator.send_text(chat, "/start")
            # Killed as soon as the batch is confirmed, while it is being worked through.
            await soon(lambda: confirmed(emulator))
            process.kill()
            await process.wait()
        accepted = confirmed(emulator)
        ids, _ = handled(database)
        assert accepted - ids, "the kill came after everything was handled; nothing was tested"

        async with gridsnap_run(emulator, tmp_path, "polling Telegram") as process:
            await answered_everyone(emulator, chats)
            await stop_with_sigterm(process)
    assert_each_handled_once(database, accepted, chats)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answered_200(emulator: BotApiEmulator) -> set[int]:
    return {d.update_id for d in emulator.webhook_deliveries if d.status == 200}


async def test_8_a_kill_or_a_sigterm_under_webhook_load_loses_no_update_answered_200(
    tmp_path: Path,
) -> None:
    database = tmp_path / "g.db"
    port = _free_port()
    webhook = {
        "GRIDSNAP_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
        "GRIDSNAP_WEBHOOK_SECRET": SECRET,
        "GRIDSNAP_WEBHOOK_HOST": "127.0.0.1",
        "GRIDSNAP_WEBHOOK_PORT": str(port),
    }
    async with BotApiEmulator(host="127.0.0.1", port=0, webhook_retry_delay=0.05) as emulator:
        chats = riders(emulator)
        first, second = chats[: RIDERS // 2], chats[RIDERS // 2 :]
        async with gridsnap_run(emulator, tmp_path, "Gridsnap webhook", **webhook) as process:
            for chat in first:
                emulator.send_text(chat, "/start")
            await soon(lambda: len(answered_200(emulator)) >= 10)
            process.kill()
            await process.wait()
        killed_with = answered_200(emulator)
        ids, _ = handled(database)
        assert killed_with - ids, "the kill came after everything was handled; nothing was tested"

        async with gridsnap_run(emulator, tmp_path, "Gridsnap webhook", **webhook) as process:
            await answered_everyone(emulator, first)
            for chat in second:
                emulator.send_text(chat, "/start")
            await soon(lambda: len(answered_200(emulator)) >= 40)
            # SIGTERM with updates still coming and stored ones waiting: it stops taking
            # calls, handles what it answered 200 for, and exits.
            await stop_with_sigterm(process)
        accepted = answered_200(emulator)

        async with gridsnap_run(emulator, tmp_path, "Gridsnap webhook", **webhook) as process:
            await answered_everyone(emulator, second)
            await stop_with_sigterm(process)
    assert_each_handled_once(database, accepted, chats)
