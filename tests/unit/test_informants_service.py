"""Informant use cases on the in-memory store: decisions are recorded and the rider told."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.model import Account, InformantStatus
from bot.i18n import translator
from bot.services import informants
from tests.fakes import FakeStore, FakeUnitOfWork

APPLIED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DECIDED = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
APPLICATION = informants.Application(
    real_name="王小明", phone="+8613800000000", company="美团", home_region_id=None
)


async def _account(uow: FakeUnitOfWork, user_id: str, locale: str = "en") -> Account:
    return await uow.accounts.get_or_create(
        platform="telegram",
        platform_user_id=user_id,
        chat_id=user_id,
        display_name=user_id,
        locale=locale,
    )


@pytest.fixture
async def world() -> tuple[FakeUnitOfWork, Account, Account]:
    uow = FakeUnitOfWork(store=FakeStore())
    async with uow:
        rider = await _account(uow, "501")
        admin = await _account(uow, "900")
        await informants.register(uow, rider, APPLICATION, now=APPLIED)
        await uow.commit()
    return uow, rider, admin


async def test_approval_records_who_and_when_and_tells_the_rider(world):
    uow, rider, admin = world
    async with uow:
        profile = await informants.approve(uow, rider.id, by=admin.id, now=DECIDED)
        await uow.commit()
    assert (profile.status, profile.decided_by, profile.decided_at) == (
        InformantStatus.APPROVED,
        admin.id,
        DECIDED,
    )
    [message] = uow.outbox.sent()
    assert message.chat_id == "501"
    assert "approved" in message.text


async def test_rejection_tells_the_rider_the_reason_and_how_to_apply_again(world):
    uow, rider, admin = world
    async with uow:
        await informants.reject(uow, rider.id, by=admin.id, now=DECIDED, reason="Not a courier")
        await uow.commit()
    assert uow.store.data.informants[rider.id].status is InformantStatus.REJECTED
    [message] = uow.outbox.sent()
    assert "Not a courier" in message.text and "/register" in message.text


async def test_the_notification_is_composed_in_the_riders_language():
    uow = FakeUnitOfWork(store=FakeStore())
    async with uow:
        rider = await _account(uow, "502", locale="zh_CN")
        await informants.register(uow, rider, APPLICATION, now=APPLIED)
        await informants.approve(uow, rider.id, by=rider.id, now=DECIDED)
        await uow.commit()
    [message] = uow.outbox.sent()
    expected = translator("zh_CN")._(
        "Your informant registration was approved. Send a photo of a hazard, "
        "or /report, to report it to the grid workers."
    )
    assert message.text == expected


async def test_deciding_an_unknown_id_raises_a_clear_error(world):
    uow, _, admin = world
    async with uow:
        with pytest.raises(informants.UnknownInformant, match="ID 4242"):
            await informants.approve(uow, 4242, by=admin.id, now=DECIDED)


async def test_approving_twice_is_refused_so_the_rider_is_told_once(world):
    uow, rider, admin = world
    async with uow:
        await informants.approve(uow, rider.id, by=admin.id, now=DECIDED)
        with pytest.raises(informants.AlreadyDecided):
            await informants.approve(uow, rider.id, by=admin.id, now=DECIDED)


async def test_only_approved_informants_can_report_unless_reporting_is_open(world):
    uow, rider, admin = world
    async with uow:
        assert not await informants.can_report(uow, rider, open_reporting=False)
        assert await informants.can_report(uow, rider, open_reporting=True)
        await informants.approve(uow, rider.id, by=admin.id, now=DECIDED)
        assert await informants.can_report(uow, rider, open_reporting=False)
        assert not await informants.can_report(uow, admin, open_reporting=False)
