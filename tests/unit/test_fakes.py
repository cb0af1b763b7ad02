"""The in-memory fake keeps the storage contract, so service tests on it mean something."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.services.ports import BaseUnitOfWork
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.storage_contract import (
    AccountsContract,
    AuditContract,
    ConversationsContract,
    EscalationsContract,
    InboxContract,
    InformantsContract,
    InstancesContract,
    InvitesContract,
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
    message,
)


@pytest.fixture
def make_uow() -> Callable[[], BaseUnitOfWork]:
    store = FakeStore()
    return lambda: FakeUnitOfWork(store=store)


class TestFakeUnitOfWork(UnitOfWorkContract): ...


class TestFakeRegions(RegionsContract): ...


class TestFakeAccounts(AccountsContract): ...


class TestFakeRoles(RolesContract): ...


class TestFakeInformants(InformantsContract): ...


class TestFakeReports(ReportsContract): ...


class TestFakeAudit(AuditContract): ...


class TestFakeOutbox(OutboxContract): ...


class TestFakeConversations(ConversationsContract): ...


class TestFakePhotoReferences(PhotoReferencesContract): ...


class TestFakeUpdates(UpdatesContract): ...


class TestFakeInbox(InboxContract): ...


class TestFakeInvites(InvitesContract): ...


class TestFakeEscalations(EscalationsContract): ...


class TestFakeParty(PartyContract): ...


class TestFakeVolunteers(VolunteersContract): ...


class TestFakeTasks(TasksContract): ...


class TestFakePointsLedger(PointsLedgerContract): ...


async def test_the_fake_counts_commits_and_lists_queued_messages() -> None:
    uow = FakeUnitOfWork()
    async with uow:
        await uow.outbox.add(message("a", "hello"))
        await uow.commit()
    assert uow.commits == 1
    assert [m.text for m in uow.outbox.sent()] == ["hello"]


class TestFakeInstances(InstancesContract): ...
