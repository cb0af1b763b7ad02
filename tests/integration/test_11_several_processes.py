"""Issue 11: several bot processes on one database, on real SQLite and PostgreSQL.

Each process has its own id and beats in ``instances`` (what the store does with the beats,
a dead process's leases taken over at once, is ``InstancesContract`` in
tests/storage_contract.py); a sender whose own beat is stale sends nothing. On PostgreSQL,
inbox workers in several connections hand one user's updates out one at a time and in
order, and exactly one process holds the turn to poll, passed on when its connection dies.
The end-to-end half, with real ``gridsnap run`` processes, is
tests/e2e/test_11_two_processes.py.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat import Outgoing
from bot.delivery import OutboxSender, UnitOfWorkOutbox
from bot.inbox import Inbox
from bot.instances import Heartbeat, this_process
from bot.services.ports import BaseUnitOfWork
from storage.database import create_engine, create_session_factory
from storage.polling_turn import AdvisoryLockTurn
from storage.uow import SqlUnitOfWork
from tests.storage_contract import beat, received

MakeUow = Callable[[], BaseUnitOfWork]
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
DEAD_AFTER = timedelta(seconds=5)
ALIVE_SINCE = NOW - DEAD_AFTER
NEVER = 30.0  # a guard against a hang, not a timing


async def claim_outbox(make_uow: MakeUow, owner: str) -> list[str]:
    async with make_uow() as uow:
        rows = await uow.outbox.claim(
            10, NOW, lease=LEASE, per_chat=5, owner=owner, alive_since=ALIVE_SINCE
        )
        await uow.commit()
    return [row.message.text for row in rows]


def heartbeat(make_uow: MakeUow, on_live: Callable[[int], None]) -> Heartbeat:
    """A new process's heartbeat on this database."""
    return Heartbeat(
        uow_factory=make_uow,
        instance=this_process(),
        every=timedelta(seconds=1),
        dead_after=DEAD_AFTER,
        on_live=on_live,
    )


# -- instance ids and heartbeats ---------------------------------------------------------


def test_each_process_gets_its_own_instance_id_unless_one_is_given() -> None:
    first, second = this_process(), this_process()
    assert first.id != second.id
    assert first.id.split(":")[:2] == [first.host, str(first.pid)]
    assert this_process("bot-2").id == "bot-2"


async def test_the_heartbeat_counts_live_processes_and_a_stopped_one_leaves(
    make_uow: MakeUow,
) -> None:
    shares: list[int] = []
    one, two = (heartbeat(make_uow, shares.append) for _ in range(2))
    await beat(make_uow, "long-dead", datetime.now(UTC) - timedelta(minutes=5))
    assert await one.beat() == 1
    assert await two.beat() == 2
    assert one.fresh() and two.fresh()
    await two.leave()
    assert await one.beat() == 1
    assert shares == [1, 2, 1]


class StepClock:
    """The sender's clock: sleeping moves it on, so send times are exact."""

    def __init__(self) -> None:
        self.current = NOW

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


async def test_two_beating_processes_each_send_at_half_the_bots_rate(make_uow: MakeUow) -> None:
    async with make_uow() as uow:
        for chat in range(11):
            await uow.outbox.add(Outgoing(platform="telegram", chat_id=str(chat), text="hi"))
        await uow.commit()
    clock, sent_at = StepClock(), []

    async def send(out: Outgoing) -> str:
        sent_at.append((clock.now() - NOW).total_seconds())
        return "1"

    sender = OutboxSender(
        store=UnitOfWorkOutbox(make_uow), senders={"telegram": send}, clock=clock, rate_global=30
    )
    beats = [heartbeat(make_uow, sender.share_rate) for _ in range(2)]
    await beats[0].beat()
    await beats[1].beat()
    await beats[0].beat()  # the first process now sees the second
    await sender.drain_once()
    assert sent_at == pytest.approx([n / 15 for n in range(11)], abs=1e-4)


async def test_a_sender_whose_heartbeat_is_stale_sends_nothing_and_hands_back_its_rows(
    make_uow: MakeUow,
) -> None:
    async with make_uow() as uow:
        await uow.outbox.add(Outgoing(platform="telegram", chat_id="a", text="a1"))
        await uow.commit()
    sent: list[Outgoing] = []

    async def send(out: Outgoing) -> str:
        sent.append(out)
        return "1"

    store = UnitOfWorkOutbox(make_uow, owner="stalled")
    sender = OutboxSender(store=store, senders={"telegram": send}, fresh=lambda: False)
    assert await sender.drain_once() == 0
    assert sent == []
    assert await claim_outbox(make_uow, "newcomer") == ["a1"]  # handed back, not leased


# -- PostgreSQL: several connections at once ---------------------------------------------


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several processes share PostgreSQL; a SQLite file has one")


@pytest.fixture
async def processes(migrated_database_url: str) -> AsyncIterator[list[MakeUow]]:
    """Four unit-of-work factories, each on its own engine: four processes' connections."""
    engines = [create_engine(migrated_database_url) for _ in range(4)]
    try:
        yield [_factory(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


def _factory(engine: AsyncEngine) -> MakeUow:
    sessions = create_session_factory(engine)
    return lambda: SqlUnitOfWork(session_factory=sessions)


@pytest.mark.usefixtures("postgres_only")
async def test_inbox_workers_on_four_connections_handle_each_users_updates_one_at_a_time_in_order(
    processes: list[MakeUow],
) -> None:
    users, per_user = 6, 12
    async with processes[0]() as uow:
        updates = [received(n, f"u{n % users}") for n in range(users * per_user)]
        await uow.inbox.add("telegram", updates, at=NOW)
        await uow.commit()
    handled: dict[str, list[int]] = defaultdict(list)
    busy: set[str] = set()
    overlaps: list[str] = []
    done = asyncio.Event()

    def worker(make_uow: MakeUow) -> Inbox:
        async def handle(incoming: object, *, last_try: bool) -> None:
            user = str(incoming)
            if user in busy:
                overlaps.append(user)
            busy.add(user)
            await asyncio.sleep(0.002)  # some work, while the other workers claim
            busy.discard(user)

        inbox = Inbox(uow_factory=make_uow, handle=handle, concurrency=4)

        def read(payload: object) -> str:
            assert isinstance(payload, dict)
            number = int(payload["update_id"])
            handled[f"u{number % users}"].append(number)
            if sum(map(len, handled.values())) == users * per_user:
                done.set()
            return f"u{number % users}"

        inbox.add_mapper("telegram", read)  # type: ignore[arg-type]
        return inbox

    inboxes = [worker(make_uow) for make_uow in processes]
    running = [asyncio.create_task(inbox.run()) for inbox in inboxes]
    try:
        await asyncio.wait_for(done.wait(), NEVER)
    finally:
        for inbox in inboxes:
            inbox.stop()
        await asyncio.gather(*running)
    assert overlaps == []
    for user, numbers in handled.items():
        assert numbers == sorted(numbers), user
        assert len(numbers) == per_user == len(set(numbers)), user


@pytest.mark.usefixtures("postgres_only")
async def test_one_process_holds_the_turn_to_poll_and_another_takes_it_when_its_connection_dies(
    migrated_database_url: str,
) -> None:
    engines = [create_engine(migrated_database_url) for _ in range(3)]
    first, second = (AdvisoryLockTurn(e, "gridsnap:poll:test") for e in engines[:2])
    try:
        assert await first.take() is True
        assert await second.take() is False
        assert await first.take() is True  # still held, asked before each getUpdates
        assert await second.take() is False

        # The poller is killed: PostgreSQL ends its session, and with it the lock.
        async with engines[2].connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                )
            )
            await admin.commit()
        taken = await asyncio.wait_for(_until(second.take), NEVER)
        assert taken is True
        assert await first.take() is False  # its connection is gone: it stops polling
        await second.give_back()
        assert await asyncio.wait_for(_until(first.take), NEVER) is True
    finally:
        await first.give_back()
        await second.give_back()
        for engine in engines:
            await engine.dispose()


async def _until(check: Callable[[], object]) -> bool:
    """``check()`` every 50 ms until it is True (the server ends a session asynchronously)."""
    while not await check():  # type: ignore[misc]  # noqa: ASYNC110 -- no event to wait on
        await asyncio.sleep(0.05)
    return True
