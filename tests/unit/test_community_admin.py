"""Community admins decide registrations and re-dispatch returned cases, in their area only."""

from __future__ import annotations

import pytest

from bot.chat import Kind
from bot.domain.lifecycle import Action, ActionArgs
from bot.domain.model import InformantProfile, InformantStatus, RoleName
from bot.services import cases, notify
from tests.unit.test_feedback import NOW, OTHER, RIDER, WORKER, World


@pytest.fixture
async def world() -> World:
    return World()


async def _apply(world: World) -> int:
    """The rider applies in community C1; C1's admin is OTHER. Returns the rider's id."""
    await world.resolved_case()
    rider, admin = await world.account_id(RIDER), await world.account_id(OTHER)
    async with world.uow as uow:
        community = await uow.regions.get("C1")
        assert community is not None
        await uow.roles.grant(admin, RoleName.COMMUNITY_ADMIN, community.id)
        profile = await uow.informants.upsert(
            InformantProfile(
                account_id=rider,
                real_name="王师傅",
                phone="13800000000",
                company="美团",
                status=InformantStatus.PENDING,
                home_region_id=community.id,
                created_at=NOW,
            )
        )
        account = await uow.accounts.get(rider)
        assert account is not None
        asked = await notify.application_submitted(uow, world.env, account=account, profile=profile)
        await uow.commit()
    assert asked == 1
    return rider


async def test_the_community_admin_is_asked_and_approving_tells_the_rider(world: World) -> None:
    rider = await _apply(world)
    asked = world.uow.outbox.sent()[-1]
    assert asked.chat_id == OTHER.chat_id and "王师傅" in asked.text
    assert "13800000000" not in asked.text
    out = await world.press(OTHER, f"ia:ok:{rider}")
    assert world.store.data.informants[rider].status is InformantStatus.APPROVED
    assert any(m.chat_id == RIDER.chat_id and "approved" in m.text for m in out)


async def test_someone_without_an_admin_role_in_the_community_cannot_decide(world: World) -> None:
    rider = await _apply(world)
    for user in (WORKER, RIDER):
        out = await world.press(user, f"ia:no:{rider}")
        assert [m.alert for m in out] == [True]
    assert world.store.data.informants[rider].status is InformantStatus.PENDING


async def test_returned_cases_are_listed_and_redispatched_by_the_community_admin(
    world: World,
) -> None:
    await _apply(world)
    async with world.uow as uow:
        report = next(iter(uow.store.data.reports.values()))
        worker = await uow.accounts.get(await world.account_id(WORKER))
        for action, args in (
            (Action.REOPEN, ActionArgs(reason="no")),
            (Action.RETURN, ActionArgs(reason="not this grid")),
        ):
            actor = (
                worker if action is Action.RETURN else await uow.accounts.get(report.reporter_id)
            )
            result = await cases.act(
                uow, world.env, report_id=report.id, actor_account=actor, action=action, args=args
            )
            assert result.ok, (action, result.refusal)
        await uow.commit()
    out = await world.send(OTHER, Kind.COMMAND, command="returned", text="/returned")
    assert "not this grid" in out[-1].text
    assert out[-1].keyboard is not None
    redispatch = out[-1].keyboard.rows[0][0].data
    assert redispatch is not None and redispatch.startswith(f"ra:rd:{report.id}:")
    denied = await world.press(WORKER, redispatch)
    assert [m.alert for m in denied] == [True]
    await world.press(OTHER, redispatch)
    assert world.store.data.reports[report.id].status.value == "dispatched"
