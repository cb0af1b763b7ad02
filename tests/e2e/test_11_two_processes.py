"""Issue 11: two real ``gridsnap run`` processes on one PostgreSQL database, against the Bot
API emulator (which, like Telegram, ends a waiting getUpdates with 409 when another comes).

- Webhook mode behind one URL: a proxy hands the emulator's calls to the two processes in
  turn, so one user's updates arrive through both; the bot answers each once, in order.
- Polling mode: exactly one process polls; killed, the other takes over the polling.
- A process killed -9 in the middle of a burst: the other takes over the inbox rows it had
  leased at once, not when their (here ten-minute) lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.transports.emulator import BotApiEmulator
from storage.database import create_engine
from tests.e2e.test_run_polling_against_the_emulator import (
    GRIDSNAP,
    START_TIMEOUT_S,
    _environment,
)
from tests.integration.conftest import POSTGRES_URL, REQUIRE_POSTGRES, _admin

pytestmark = pytest.mark.postgres

WAIT = 60.0  # a guard against a hang; everything here takes a few seconds
SECRET = "two-processes-secret"
SECRET_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
# A lease far longer than WAIT: a row a killed process held comes back only by takeover.
LONG_LEASE = {"GRIDSNAP_INBOX_LEASE_S": "600"}
QUICK = {"GRIDSNAP_SEND_RATE_PER_CHAT": "200", "GRIDSNAP_SEND_BURST_PER_CHAT": "50"}


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A database of its own on the test server, dropped afterwards."""
    name = f"gridsnap_test_two_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"GRIDSNAP_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL: {exc!r}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {exc!r}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Running:
    """A ``gridsnap run`` process and everything it printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []
        self.printed = asyncio.Event()
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode())
            self.printed.set()

    def said(self, needle: str) -> bool:
        return any(needle in line for line in self.output)

    async def until_said(self, needle: str) -> None:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not self.said(needle):
                assert self.process.returncode is None, "".join(self.output)
                self.printed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.printed.wait(), 1.0)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        async with asyncio.timeout(START_TIMEOUT_S):
            await self.process.wait()
        await self._reading


@contextlib.asynccontextmanager
async def gridsnap_run(
    emulator: BotApiEmulator, tmp_path: Path, database: str, ready: str, **env: str
) -> AsyncIterator[Running]:
    process = await asyncio.create_subprocess_exec(
        str(GRIDSNAP),
        "run",
        cwd=tmp_path,
        env={
            **_environment(emulator, tmp_path),
            "GRIDSNAP_DATABASE_URL": database,
            **QUICK,
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = Running(process)
    try:
        await running.until_said(ready)
        yield running
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        running._reading.cancel()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def answered(emulator: BotApiEmulator, chat: int, count: int) -> list[str]:
    done = await emulator.world.wait_until(lambda: len(emulator.bot_messages(chat)) >= count, WAIT)
    assert done, [m.text for m in emulator.bot_messages(chat)]
    return [m.text for m in emulator.bot_messages(chat)]


async def scalar(database: str, sql: str) -> int:
    engine = create_engine(database)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text(sql)) or 0)
    finally:
        await engine.dispose()


# -- webhook: one URL, two processes ----------------------------------------------------


async def test_11_updates_posted_to_two_webhook_processes_in_turn_are_answered_once_in_order(
    tmp_path: Path, postgres_database: str
) -> None:
    # Three riders' updates posted as fast as the processes store them, each rider's in
    # turn to one process and the other: a backlog builds, which both processes work off.
    script = ["/help", "/language", "/language", "/help", "/help", "/language"] * 4
    ports = [_free_port(), _free_port()]
    async with BotApiEmulator(host="127.0.0.1", port=0) as emulator:
        hook = {
            "GRIDSNAP_WEBHOOK_URL": f"http://127.0.0.1:{ports[0]}/telegram",
            "GRIDSNAP_WEBHOOK_SECRET": SECRET,
            "GRIDSNAP_WEBHOOK_HOST": "127.0.0.1",
        }
        start = (emulator, tmp_path, postgres_database, "Gridsnap webhook")
        async with (
            gridsnap_run(*start, **hook, GRIDSNAP_WEBHOOK_PORT=str(ports[0])) as first,
            gridsnap_run(*start, **hook, GRIDSNAP_WEBHOOK_PORT=str(ports[1])) as second,
        ):
            emulator.world.webhook = None  # the test delivers, not the emulator
            riders = [
                int(emulator.user(first_name=f"R{n}", language_code="en")["id"]) for n in range(3)
            ]
            # Handling waits (recording its update id) until everything is stored: both
            # processes then face every rider's whole backlog at once.
            async with (
                held(postgres_database, "processed_updates"),
                httpx.AsyncClient(timeout=WAIT) as client,
            ):
                for step, command in enumerate(script):
                    for n, rider in enumerate(riders):
                        update = written(emulator, rider, command)
                        url = f"http://127.0.0.1:{ports[(step + n) % 2]}/telegram"
                        stored = await client.post(url, json=update, headers=SECRET_HEADERS)
                        assert stored.status_code == 200
            for rider in riders:
                await answered(emulator, rider, len(script))
            # Stopped (each drains and sends what it holds) before counting: a duplicate
            # answer would be in by then.
            await asyncio.gather(first.stop(), second.stop())

    for rider in riders:
        texts = [m.text for m in emulator.bot_messages(rider)]
        assert ["/language" if "Choose your language" in t else "/help" for t in texts] == script
    handled = await scalar(postgres_database, "SELECT count(*) FROM processed_updates")
    assert handled == len(script) * len(riders)


@contextlib.asynccontextmanager
async def held(database: str, table: str) -> AsyncIterator[None]:
    """``table`` locked against writes (reads go on) for the duration of the block."""
    engine = create_engine(database)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            yield
            await connection.commit()
    finally:
        await engine.dispose()


def written(emulator: BotApiEmulator, rider: int, command: str) -> dict[str, object]:
    """The update for ``command`` from ``rider``, as Telegram would deliver it."""
    emulator.send_text(rider, command)
    update = emulator.world.updates.pop()
    return dict(update)


# -- polling: one poller ----------------------------------------------------------------


async def test_11_of_two_polling_processes_one_polls_and_the_other_takes_over_when_it_is_killed(
    tmp_path: Path, postgres_database: str
) -> None:
    async with BotApiEmulator(host="127.0.0.1", port=0) as emulator:
        start = (emulator, tmp_path, postgres_database, "polling Telegram")
        async with gridsnap_run(*start) as first, gridsnap_run(*start) as second:
            both = (first, second)
            try:
                await _until(lambda: all(p.said("polls telegram") for p in both))
            except TimeoutError:
                raise AssertionError([p.output for p in both]) from None
            pollers = [p for p in both if p.said("this process polls telegram")]
            assert len(pollers) == 1, [p.output for p in both]
            poller, other = pollers[0], (second if pollers[0] is first else first)
            assert other.said("another process polls telegram")

            rider = int(emulator.user(first_name="Wang", language_code="en")["id"])
            emulator.send_text(rider, "/help")
            await answered(emulator, rider, 1)
            conflicts = [c for c in emulator.calls("getUpdates") if c.status == 409]
            assert conflicts == []
            # Killed with nothing in flight: a message accepted by the platform but not yet
            # marked sent would go out again from the other process (at-least-once at a kill).
            await until_none(
                postgres_database, "SELECT count(*) FROM outbox WHERE state = 'pending'"
            )

            poller.process.kill()
            await poller.process.wait()
            await other.until_said("this process polls telegram")
            emulator.send_text(rider, "/language")
            texts = await answered(emulator, rider, 2)
            assert "Choose your language" in texts[1]
            await other.stop()


# -- a killed process's leases ----------------------------------------------------------


async def test_11_rows_a_killed_process_had_leased_are_handled_by_the_other_at_once(
    tmp_path: Path, postgres_database: str
) -> None:
    riders_count = 60
    async with BotApiEmulator(host="127.0.0.1", port=0) as emulator:
        start = (emulator, tmp_path, postgres_database, "polling Telegram")
        async with (
            gridsnap_run(*start, GRIDSNAP_INSTANCE_ID="doomed", **LONG_LEASE) as doomed,
            gridsnap_run(*start, **LONG_LEASE) as survivor,
        ):
            riders = [
                int(emulator.user(first_name=f"R{n}", language_code="en")["id"])
                for n in range(riders_count)
            ]
            leased = "SELECT count(*) FROM inbox WHERE leased_by = 'doomed'"
            # Nothing is handled to the end (its update id recorded) until the kill: the
            # doomed process surely holds rows then, and has sent nothing of them.
            async with held(postgres_database, "processed_updates"):
                for rider in riders:
                    emulator.send_text(rider, "/help")
                async with asyncio.timeout(WAIT):
                    while not await scalar(postgres_database, leased):  # noqa: ASYNC110 -- rows signal nothing
                        await asyncio.sleep(0.01)
                doomed.process.kill()
                await doomed.process.wait()
            assert await scalar(postgres_database, leased), "the doomed process held nothing"

            for rider in riders:
                await answered(emulator, rider, 1)
            await survivor.stop()
    assert {len(emulator.bot_messages(rider)) for rider in riders} == {1}
    handled = await scalar(postgres_database, "SELECT count(*) FROM processed_updates")
    assert handled == riders_count


async def until_none(database: str, count: str) -> None:
    async with asyncio.timeout(WAIT):
        while await scalar(database, count):  # noqa: ASYNC110 -- rows signal nothing
            await asyncio.sleep(0.02)


async def _until(check: Callable[[], bool]) -> None:
    """Until ``check()`` holds: process output and database rows signal no event."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 -- nothing to wait on
            await asyncio.sleep(0.05)
