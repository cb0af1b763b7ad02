"""The storage contract on real SQLite and PostgreSQL, plus what only a real database shows:
concurrent writers, row locks, time zones, SQLite settings."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.domain.model import ReportStatus, RoleName
from bot.domain.party import DeclarationStatus
from bot.services.ports import (
    ConcurrentUpdate,
    DuplicateUpdate,
    InviteProblem,
    InviteRefused,
)
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.storage_contract import (
    ACK_LEVELS,
    T0,
    AccountsContract,
    AuditContract,
    ConversationsContract,
    EscalationsContract,
    InboxContract,
    InformantsContract,
    InstancesContract,
    InvitesContract,
    MakeUow,
    OutboxContract,
    PartyContract,
    PhotoReferencesContract,
    PointsLedgerContract,
    RegionsContract,
    ReportsContract,
    RolesContract,
    TasksContract,
    UnitOfWorkContract,
    UpdatesContract,
    VolunteersContract,
    declaration,
    message,
    seed_account,
    seed_map,
    seed_report,
)

# A deadlock guard, not a speed check: without SKIP LOCKED the second claimer would wait
# for the first transaction, which this test keeps open, forever.
NEVER = 30.0


class TestUnitOfWork(UnitOfWorkContract): ...


class TestRegions(RegionsContract): ...


class TestAccounts(AccountsContract): ...


class TestRoles(RolesContract): ...


class TestInformants(InformantsContract): ...


class TestReports(ReportsContract): ...


class TestAudit(AuditContract): ...


class TestOutbox(OutboxContract): ...


class TestConversations(ConversationsContract): ...


class TestPhotoReferences(PhotoReferencesContract): ...


class TestUpdates(UpdatesContract): ...


class TestInbox(InboxContract): ...


class TestInvites(InvitesContract): ...


class TestEscalations(EscalationsContract): ...


class TestParty(PartyContract): ...


class TestVolunteers(VolunteersContract): ...


class TestTasks(TasksContract): ...


class TestPointsLedger(PointsLedgerContract): ...


class TestConcurrentWriters:
    async def test_two_workers_accepting_one_report_at_once_one_wins(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        report = await seed_report(make_uow, rider, status=ReportStatus.DISPATCHED)
        w1, w2 = await seed_account(make_uow, "w1"), await seed_account(make_uow, "w2")

        async def accept(worker_id: int) -> str:
            async with make_uow() as uow:
                current = await uow.reports.get(report.id)
                assert current is not None
                accepted = replace(current, status=ReportStatus.ACCEPTED, assignee_id=worker_id)
                try:
                    await uow.reports.save(accepted, report.version)
                except ConcurrentUpdate:
                    return "lost"
                await uow.commit()
                return "won"

        results = await asyncio.gather(accept(w1.id), accept(w2.id))
        assert sorted(results) == ["lost", "won"]
        async with make_uow() as uow:
            stored = await uow.reports.get(report.id)
        assert stored is not None and stored.version == 1
        assert stored.assignee_id == (w1.id if results[0] == "won" else w2.id)

    async def test_two_party_secretaries_deciding_one_declaration_at_once_one_wins(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        rider = await seed_account(make_uow)
        async with make_uow() as uow:
            stored = await uow.party.submit(declaration(rider.id, nodes["C1"].id))
            await uow.commit()

        async def decide(status: DeclarationStatus) -> str:
            async with make_uow() as uow:
                try:
                    await uow.party.decide(
                        rider.id, status, revision=stored.revision, by=rider.id, at=T0
                    )
                except ConcurrentUpdate:
                    return "lost"
                await uow.commit()
                return "won"

        verdicts = [DeclarationStatus.VERIFIED, DeclarationStatus.DECLINED]
        results = await asyncio.gather(*(decide(v) for v in verdicts))
        assert sorted(results) == ["lost", "won"]
        async with make_uow() as uow:
            found = await uow.party.get(rider.id)
        assert found is not None and found.status is verdicts[results.index("won")]

    async def test_reports_filed_at_once_get_distinct_numbers(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        reports = await asyncio.gather(*(seed_report(make_uow, rider) for _ in range(6)))
        assert sorted(r.number for r in reports) == [f"261126-{n:04d}" for n in range(1, 7)]

    async def test_one_update_delivered_twice_at_once_is_processed_once(
        self, make_uow: MakeUow
    ) -> None:
        async def process() -> str:
            async with make_uow() as uow:
                try:
                    await uow.updates.mark("telegram", "777")
                except DuplicateUpdate:
                    return "duplicate"
                await uow.outbox.add(message("a", "effect of update 777"))
                await uow.commit()
                return "processed"

        assert sorted(await asyncio.gather(process(), process())) == ["duplicate", "processed"]
        async with make_uow() as uow:
            assert await uow.outbox.pending_count() == 1

    async def test_one_invite_tapped_by_two_people_at_once_goes_to_one(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        async with make_uow() as uow:
            await uow.invites.create(
                token="t",
                role=RoleName.GRID_WORKER,
                region_id=nodes["G1"].id,
                expires_at=T0 + timedelta(days=1),
            )
            await uow.commit()

        async def redeem(account_id: int) -> InviteProblem | None:
            async with make_uow() as uow:
                try:
                    await uow.invites.redeem("t", account_id, T0)
                except InviteRefused as refused:
                    return refused.problem
                await uow.commit()
                return None

        outcomes = await asyncio.gather(redeem(a.id), redeem(b.id))
        assert sorted(outcomes, key=str) == [None, InviteProblem.USED]

    async def test_concurrent_outbox_claimers_never_get_the_same_row(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            for i in range(8):
                await uow.outbox.add(message(f"chat{i}"))
            await uow.commit()

        async def claim() -> list[int]:
            async with make_uow() as uow:
                rows = await uow.outbox.claim(5, T0)
                await uow.commit()
                return [r.id for r in rows]

        first, second = await asyncio.gather(claim(), claim())
        assert not set(first) & set(second)
        assert len(first) + len(second) == 8


@pytest.fixture
def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers instead")


@pytest.mark.usefixtures("postgres_only")
class TestSkipLocked:
    async def test_a_second_sender_skips_outbox_rows_the_first_holds(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            ids = [await uow.outbox.add(message(f"chat{i}")) for i in range(4)]
            await uow.commit()
        holder = make_uow()
        async with holder:
            held = await holder.outbox.claim(2, T0)  # transaction stays open: rows locked
            async with make_uow() as other:
                passed = await asyncio.wait_for(other.outbox.claim(10, T0), NEVER)
        assert [r.id for r in held] == ids[:2]
        assert [r.id for r in passed] == ids[2:]

    async def test_a_later_row_of_a_chat_whose_earlier_row_is_held_is_not_claimed(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            first = await uow.outbox.add(message("a", "1"))
            await uow.outbox.add(message("a", "2"))
            await uow.commit()
        holder = make_uow()
        async with holder:
            assert [r.id for r in await holder.outbox.claim(1, T0)] == [first]
            async with make_uow() as other:
                assert await asyncio.wait_for(other.outbox.claim(10, T0), NEVER) == []

    async def test_a_second_sender_takes_no_rows_of_a_chat_whose_head_the_first_holds(
        self, make_uow: MakeUow
    ) -> None:
        # The first claim's lease is not yet committed, so only SKIP LOCKED keeps the
        # second from seeing rows 1-2 as free; it must not take row 3 alone either.
        async with make_uow() as uow:
            ids = [await uow.outbox.add(message("a", str(n))) for n in range(3)]
            other_chat = await uow.outbox.add(message("b"))
            await uow.commit()
        holder = make_uow()
        async with holder:
            held = await holder.outbox.claim(10, T0, per_chat=2)
            async with make_uow() as other:
                passed = await asyncio.wait_for(other.outbox.claim(10, T0, per_chat=3), NEVER)
        assert [r.id for r in held] == [*ids[:2], other_chat]
        assert passed == []

    async def test_two_sla_sweepers_split_the_overdue_reports(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        overdue = [
            await seed_report(
                make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=T0 - timedelta(hours=1)
            )
            for _ in range(3)
        ]
        holder = make_uow()
        async with holder:
            mine = await holder.escalations.due_for_ack(T0, levels=ACK_LEVELS, limit=1)
            async with make_uow() as other:
                ack = other.escalations.due_for_ack(T0, levels=ACK_LEVELS)
                theirs = await asyncio.wait_for(ack, NEVER)
        assert [r.id for r in mine] == [overdue[0].id]
        assert [r.id for r in theirs] == [r.id for r in overdue[1:]]


class TestTimes:
    async def test_times_come_back_as_the_same_instant_in_utc(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        report = await seed_report(make_uow, rider, ack_due_at=T0 + timedelta(hours=4))
        async with make_uow() as uow:
            stored = await uow.reports.get(report.id)
        assert stored is not None
        assert stored.ack_due_at == T0 + timedelta(hours=4)
        assert stored.created_at.utcoffset() == timedelta(0)

    async def test_a_naive_datetime_is_refused(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            with pytest.raises(Exception, match="naive datetime"):
                await uow.updates.mark("telegram", "1", datetime(2026, 1, 1))


class TestSqliteFile:
    async def test_the_database_file_is_created_and_wal_and_foreign_keys_are_on(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "gridsnap.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with engine.connect() as conn:
                journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
                foreign_keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
        finally:
            await engine.dispose()
        assert path.exists()
        assert (journal, foreign_keys) == ("wal", 1)

    def test_issue8_a_database_in_a_missing_folder_is_refused_not_created(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "deep" / "er" / "gridsnap.db"
        with pytest.raises(FileNotFoundError, match=f"folder {path.parent} does not exist"):
            create_engine(f"sqlite+aiosqlite:///{path}")
        assert not (tmp_path / "deep").exists()

    async def test_units_of_one_process_take_turns_in_the_order_they_opened(
        self, tmp_path: Path
    ) -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
        factory = create_session_factory(engine)
        entered: list[int] = []
        first_may_finish = asyncio.Event()

        async def unit(n: int) -> None:
            async with SqlUnitOfWork(session_factory=factory):
                entered.append(n)
                if n == 0:
                    await first_may_finish.wait()

        try:
            units = [asyncio.create_task(unit(n)) for n in range(4)]
            for _ in range(20):  # every unit gets to run up to its turn
                await asyncio.sleep(0)
            assert entered == [0]
            first_may_finish.set()
            await asyncio.gather(*units)
        finally:
            await engine.dispose()
        assert entered == [0, 1, 2, 3]

    async def test_a_unit_of_work_cannot_be_nested(self, make_uow: MakeUow) -> None:
        uow = make_uow()
        assert isinstance(uow, SqlUnitOfWork)
        async with uow:
            with pytest.raises(RuntimeError, match="nest"):
                await uow.__aenter__()


class TestInstances(InstancesContract): ...
