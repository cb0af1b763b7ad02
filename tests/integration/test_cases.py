"""``cases.act`` against real SQLite and PostgreSQL: the case loop, races and who may act.

The map: city Q → district D → street S1 → community C1 → grids G1, G2 (side by side) and
community C2 → grid G3 (apart); street S2 → community C3 → grid G4, a branch no role in
G1's chain covers; city Q2 beside Q. Reports are filed through ``submit_report`` at a point
inside G1.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat import Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.lifecycle import Action, ActionArgs, Need, replay
from bot.domain.model import (
    Account,
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    Report,
    ReportPhoto,
    ReportStatus,
    RoleName,
)
from bot.domain.party import DeclarationStatus, PartyDeclaration, Standing
from bot.domain.volunteer import ServiceType, SignupStatus, Slot, Volunteer, VolunteerStatus
from bot.i18n import translator
from bot.services import cases, party, staff, volunteers
from bot.services.env import Env, MapHolder
from bot.services.notify import HEADLINES, MERGED_INTO
from bot.services.ports import BaseUnitOfWork
from bot.services.reports import follow, submit_report
from storage.photos import PhotoStore
from tests.chatkit import ChatBot

MakeUow = Callable[[], BaseUnitOfWork]
NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
IN_G1 = GeoPoint(lat=39.915, lon=119.515)
NEEDS_PHOTO, NO_PHOTO = "C0101", "0301"
PHOTO = ReportPhoto(sha256="a" * 64, phash="0" * 16, width=640, height=480)


def _square(x0: float, y0: float, size: float = 0.03) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _unit(code: str, level: Level, parent: str | None, x0: float, size: float = 0.03) -> MapUnit:
    return MapUnit(
        code=code, name=code, level=level, parent_code=parent, geometry=_square(x0, 39.90, size)
    )


MAP = [
    _unit("Q", Level.CITY, None, 119.50, 0.40),
    _unit("Q2", Level.CITY, None, 120.00, 0.10),
    _unit("D", Level.DISTRICT, "Q", 119.50, 0.30),
    _unit("S1", Level.STREET, "D", 119.50, 0.15),
    _unit("C1", Level.COMMUNITY, "S1", 119.50, 0.06),
    _unit("G1", Level.GRID, "C1", 119.50),
    _unit("G2", Level.GRID, "C1", 119.53),
    _unit("C2", Level.COMMUNITY, "S1", 119.58),
    _unit("G3", Level.GRID, "C2", 119.58),
    _unit("S2", Level.STREET, "D", 119.70, 0.10),
    _unit("C3", Level.COMMUNITY, "S2", 119.70),
    _unit("G4", Level.GRID, "C3", 119.70),
]
LATER = NOW + timedelta(hours=6)
# Where each role is granted to hold on G1 (its grid or above), and the sibling region of
# the same level where it does not.
IN_SCOPE = {
    RoleName.INFORMANT: "G1",
    RoleName.GRID_WORKER: "G1",
    RoleName.GRID_LEADER: "G1",
    RoleName.COMMUNITY_ADMIN: "C1",
    RoleName.STREET_ADMIN: "S1",
    RoleName.CITY_ADMIN: "Q",
    RoleName.PARTY_SECRETARY: "C1",
}
OUT_OF_SCOPE = {
    RoleName.INFORMANT: "G2",
    RoleName.GRID_WORKER: "G2",
    RoleName.GRID_LEADER: "G2",
    RoleName.COMMUNITY_ADMIN: "C2",
    RoleName.STREET_ADMIN: "S2",
    RoleName.CITY_ADMIN: "Q2",
    RoleName.PARTY_SECRETARY: "C2",
}


@dataclass
class World:
    make_uow: MakeUow
    env: Env
    rider: Account
    ids: dict[str, int]

    async def account(self, name: str) -> Account:
        async with self.make_uow() as uow:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=name,
                chat_id=name,
                display_name=name,
                locale="en",
            )
            await uow.commit()
        return account

    async def staff(self, name: str, role: RoleName, region: str) -> Account:
        account = await self.account(name)
        async with self.make_uow() as uow:
            await uow.roles.grant(account.id, role, self.ids[region])
            await uow.commit()
        return account

    async def report(
        self,
        category: str = NO_PHOTO,
        status: ReportStatus = ReportStatus.DISPATCHED,
        reporter: Account | None = None,
        holder: Account | None = None,
    ) -> Report:
        async with self.make_uow() as uow:
            report = await submit_report(
                uow,
                reporter=(reporter or self.rider).id,
                category_code=category,
                location=IN_G1,
                photos=[],
                note="manhole cover missing",
                now=NOW,
                catalogue=self.env.catalogue,
                gridmap=self.env.maps.current(),
                zone=self.env.zone,
            )
            if status is not report.status:
                assignee = holder.id if holder else None
                changed = dataclasses.replace(report, status=status, assignee_id=assignee)
                report = await uow.reports.save(changed, 1)
            await uow.commit()
        return report

    async def act(self, report: Report, who: Account | None, action: Action, **kw: Any) -> Any:
        async with self.make_uow() as uow:
            result = await cases.act(
                uow, self.env, report_id=report.id, actor_account=who, action=action, **kw
            )
            await uow.commit()
        return result

    async def get(self, report: Report) -> Report:
        async with self.make_uow() as uow:
            found = await uow.reports.get(report.id)
        assert found is not None
        return found

    async def history(self, report: Report) -> list[str]:
        async with self.make_uow() as uow:
            return [e.action for e in await uow.audit.history(report.id)]

    async def follow(self, report: Report, who: Account) -> None:
        async with self.make_uow() as uow:
            await follow(uow, report.id, who.id)
            await uow.commit()

    async def pushes(self, who: Account) -> list[str]:
        """Every message queued for ``who`` so far, oldest first."""
        async with self.make_uow() as uow:
            rows = await uow.outbox.claim(1000, LATER, per_chat=1000)
        return [row.message.text for row in rows if row.message.chat_id == who.chat_id]

    async def points(self) -> int:
        async with self.make_uow() as uow:
            return await uow.points.balance(self.rider.id)


@pytest.fixture
async def world(make_uow: MakeUow, tmp_path: Path) -> World:
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=100),
        photos=PhotoStore(tmp_path / "photos"),
        zone=ZoneInfo("Asia/Shanghai"),
        clock=lambda: NOW,
    )
    async with make_uow() as uow:
        await uow.regions.replace_map(MAP, replace=True)
        ids = {u.code: (await uow.regions.get(u.code)).id for u in MAP}  # type: ignore[union-attr]
        await env.maps.refresh(uow)
        await uow.commit()
    w = World(make_uow=make_uow, env=env, rider=None, ids=ids)  # type: ignore[arg-type]
    w.rider = await w.account("rider")
    async with make_uow() as uow:
        await uow.informants.upsert(
            InformantProfile(
                account_id=w.rider.id,
                real_name="王师傅",
                phone="+8613800000000",
                company="美团",
                status=InformantStatus.APPROVED,
                home_region_id=ids["C1"],
                created_at=NOW,
            )
        )
        await uow.commit()
    return w


async def test_accept_makes_the_worker_the_assignee_and_earns_the_reporter_points(
    world: World,
) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    result = await world.act(report, worker, Action.ACCEPT, expected_version=report.version)
    assert result.ok
    stored = await world.get(report)
    assert (stored.status, stored.assignee_id) == (ReportStatus.ACCEPTED, worker.id)
    assert (await world.history(report))[-1] == "accept"
    assert await world.points() == 5


async def test_resolve_of_a_category_needing_a_photo_is_refused_without_one(world: World) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report(NEEDS_PHOTO, ReportStatus.ACCEPTED)
    refused = await world.act(report, worker, Action.RESOLVE, args=ActionArgs(note="replaced"))
    assert (refused.refusal, refused.need) == (cases.Refusal.MISSING, Need.PHOTO)
    assert (await world.get(report)).status is ReportStatus.ACCEPTED


async def test_resolve_with_an_after_photo_keeps_it_with_the_case(world: World) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report(NEEDS_PHOTO, ReportStatus.ACCEPTED)
    args = ActionArgs(note="replaced the cover")
    result = await world.act(report, worker, Action.RESOLVE, args=args, photo=PHOTO)
    assert result.ok
    stored = await world.get(report)
    assert stored.status is ReportStatus.RESOLVED
    assert [(p.sha256, p.kind) for p in stored.photos] == [(PHOTO.sha256, "after")]
    assert await world.points() == 10


async def test_return_gives_the_case_back_with_its_reason(world: World) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    await world.act(report, worker, Action.ACCEPT)
    result = await world.act(report, worker, Action.RETURN, args=ActionArgs(reason="Not this grid"))
    assert result.ok
    stored = await world.get(report)
    assert (stored.status, stored.assignee_id) == (ReportStatus.RETURNED, None)


async def test_transfer_goes_to_a_neighbouring_grid_only(world: World) -> None:
    leader = await world.staff("lead", RoleName.GRID_LEADER, "C1")
    report = await world.report()
    far = ActionArgs(target_grid_id=world.ids["G3"], reason="elsewhere")
    refused = await world.act(report, leader, Action.TRANSFER, args=far)
    assert refused.refusal is cases.Refusal.INVALID_TARGET
    assert (await world.get(report)).grid_id == world.ids["G1"]
    near = ActionArgs(target_grid_id=world.ids["G2"], reason="next door")
    assert (await world.act(report, leader, Action.TRANSFER, args=near)).ok
    stored = await world.get(report)
    assert (stored.status, stored.grid_id) == (ReportStatus.DISPATCHED, world.ids["G2"])


async def test_a_returned_case_is_redispatched_by_the_community_admin(world: World) -> None:
    admin = await world.staff("admin", RoleName.COMMUNITY_ADMIN, "C1")
    report = await world.report(status=ReportStatus.RETURNED)
    args = ActionArgs(target_grid_id=world.ids["G2"])
    assert (await world.act(report, admin, Action.REDISPATCH, args=args)).ok
    stored = await world.get(report)
    assert (stored.status, stored.grid_id) == (ReportStatus.DISPATCHED, world.ids["G2"])


@pytest.mark.parametrize("role_there", [RoleName.PARTY_SECRETARY, RoleName.INFORMANT])
async def test_an_admin_may_not_redispatch_into_a_unit_where_they_are_no_case_staff(
    world: World, role_there: RoleName
) -> None:
    admin = await world.staff("admin", RoleName.COMMUNITY_ADMIN, "C1")
    await world.staff("admin", role_there, "C3")  # G4's community, in the other street
    report = await world.report(status=ReportStatus.RETURNED)
    args = ActionArgs(target_grid_id=world.ids["G4"])
    refused = await world.act(report, admin, Action.REDISPATCH, args=args)
    assert refused.refusal is cases.Refusal.INVALID_TARGET
    stored = await world.get(report)
    assert (stored.status, stored.grid_id) == (ReportStatus.RETURNED, world.ids["G1"])


async def test_a_merge_never_goes_into_the_case_itself(world: World) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    args = ActionArgs(duplicate_of=report.id)
    refused = await world.act(report, worker, Action.MERGE, args=args)
    assert refused.refusal is cases.Refusal.INVALID_TARGET


async def _moved_to(world: World, report: Report, grid: str) -> Report:
    async with world.make_uow() as uow:
        moved = dataclasses.replace(report, grid_id=world.ids[grid])
        saved = await uow.reports.save(moved, report.version)
        await uow.commit()
    return saved


@pytest.mark.parametrize("status", [ReportStatus.DISPATCHED, ReportStatus.CLOSED])
async def test_a_merge_into_a_case_outside_the_actors_grids_is_refused_as_unknown(
    world: World, status: ReportStatus
) -> None:
    # Open or finished, it is refused as a number that does not exist would be: before,
    # a finished case anywhere in the city was refused as finished, telling it exists.
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    elsewhere = await _moved_to(world, await world.report(status=status), "G3")
    refused = await world.act(
        report, worker, Action.MERGE, args=ActionArgs(duplicate_of=elsewhere.id)
    )
    missing = await world.act(report, worker, Action.MERGE, args=ActionArgs(duplicate_of=10**9))
    assert refused.refusal is missing.refusal is cases.Refusal.UNKNOWN_TARGET
    assert (await world.get(report)).status is ReportStatus.DISPATCHED


async def test_a_merge_into_a_finished_case_in_the_actors_grid_is_refused_as_finished(
    world: World,
) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    closed = await world.report(status=ReportStatus.CLOSED)
    refused = await world.act(report, worker, Action.MERGE, args=ActionArgs(duplicate_of=closed.id))
    assert refused.refusal is cases.Refusal.INVALID_TARGET


async def test_a_button_made_for_an_older_version_is_refused_and_names_the_holder(
    world: World,
) -> None:
    first = await world.staff("first", RoleName.GRID_WORKER, "G1")
    second = await world.staff("second", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    assert (await world.act(report, first, Action.ACCEPT, expected_version=report.version)).ok
    late = await world.act(report, second, Action.ACCEPT, expected_version=report.version)
    assert late.refusal is cases.Refusal.STALE
    assert late.holder is not None and late.holder.id == first.id


async def test_two_workers_accepting_at_once_one_wins_the_other_is_told_who(
    world: World,
) -> None:
    a = await world.staff("a", RoleName.GRID_WORKER, "G1")
    b = await world.staff("b", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    results = await asyncio.gather(
        world.act(report, a, Action.ACCEPT, expected_version=report.version),
        world.act(report, b, Action.ACCEPT, expected_version=report.version),
    )
    winners = [r for r in results if r.ok]
    losers = [r for r in results if not r.ok]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].refusal is cases.Refusal.STALE
    stored = await world.get(report)
    assert losers[0].holder.id == stored.assignee_id
    assert (await world.history(report)).count("accept") == 1


# -- the authorization matrix -------------------------------------------------------------

# Written out from the issue and the domain, not read from lifecycle.TRANSITIONS: workers
# handle cases; the grid leader also rejects and escalates; admins dispatch, close, send
# cases on and supervise; confirming, reopening and withdrawing are the reporter's alone.
# The community party organisation (issue 9) is no case staff: it takes no case action.
COLUMNS = "sub dis acc res clo con reo ret tra red mer rej can esc"
MATRIX = """
informant        .   .   .   .   .   .   .   .   .   .   .   .   .   .
grid_worker      .   .   Y   Y   .   .   .   Y   Y   .   Y   .   .   .
grid_leader      .   .   Y   Y   .   .   .   Y   Y   .   Y   Y   .   Y
community_admin  .   Y   .   .   Y   .   .   .   Y   Y   Y   Y   .   Y
street_admin     .   Y   .   .   Y   .   .   .   Y   Y   Y   Y   .   Y
city_admin       .   Y   .   .   Y   .   .   .   Y   Y   Y   Y   .   Y
party_secretary  .   .   .   .   .   .   .   .   .   .   .   .   .   .
"""
ACTIONS = {
    "sub": Action.SUBMIT,
    "dis": Action.DISPATCH,
    "acc": Action.ACCEPT,
    "res": Action.RESOLVE,
    "clo": Action.CLOSE,
    "con": Action.CONFIRM,
    "reo": Action.REOPEN,
    "ret": Action.RETURN,
    "tra": Action.TRANSFER,
    "red": Action.REDISPATCH,
    "mer": Action.MERGE,
    "rej": Action.REJECT,
    "can": Action.CANCEL,
    "esc": Action.ESCALATE,
}
# A status each action can start from; an accepted case is the actor's own.
STARTS = {
    Action.SUBMIT: ReportStatus.DISPATCHED,
    Action.DISPATCH: ReportStatus.SUBMITTED,
    Action.ACCEPT: ReportStatus.DISPATCHED,
    Action.RESOLVE: ReportStatus.ACCEPTED,
    Action.CLOSE: ReportStatus.RESOLVED,
    Action.CONFIRM: ReportStatus.RESOLVED,
    Action.REOPEN: ReportStatus.RESOLVED,
    Action.RETURN: ReportStatus.ACCEPTED,
    Action.TRANSFER: ReportStatus.ACCEPTED,
    Action.REDISPATCH: ReportStatus.RETURNED,
    Action.MERGE: ReportStatus.DISPATCHED,
    Action.REJECT: ReportStatus.DISPATCHED,
    Action.CANCEL: ReportStatus.DISPATCHED,
    Action.ESCALATE: ReportStatus.ACCEPTED,
}


def _matrix() -> dict[RoleName, dict[Action, bool]]:
    columns = [ACTIONS[c] for c in COLUMNS.split()]
    rows = (line.split() for line in MATRIX.strip().splitlines())
    return {
        RoleName(r[0]): {a: m == "Y" for a, m in zip(columns, r[1:], strict=True)} for r in rows
    }


def test_the_matrix_covers_every_role_and_every_action() -> None:
    table = _matrix()
    assert set(table) == set(RoleName) == set(IN_SCOPE) == set(OUT_OF_SCOPE)
    assert all(set(row) == set(Action) == set(STARTS) for row in table.values())


def _full_args(world: World, action: Action, other: Report) -> ActionArgs:
    target = world.ids["G2"] if action is Action.TRANSFER else world.ids["G1"]
    return ActionArgs(
        note="done",
        reason="because",
        target_grid_id=target,
        duplicate_of=other.id,
        rating=5,
    )


@pytest.mark.parametrize("in_scope", [True, False], ids=["in-scope", "out-of-scope"])
@pytest.mark.parametrize("role", list(RoleName), ids=lambda r: r.value)
async def test_every_role_may_take_exactly_its_actions_and_only_in_scope(
    world: World, role: RoleName, in_scope: bool
) -> None:
    region = (IN_SCOPE if in_scope else OUT_OF_SCOPE)[role]
    actor = await world.staff("staff", role, region)
    other = await world.report()
    outcome: dict[Action, bool] = {}
    for action in Action:
        report = await world.report(NO_PHOTO, STARTS[action], holder=actor)
        before, log = await world.get(report), await world.history(report)
        args = _full_args(world, action, other)
        result = await world.act(report, actor, action, args=args, expected_version=before.version)
        outcome[action] = result.ok
        if not result.ok:
            assert result.refusal is cases.Refusal.NOT_ALLOWED, action
            assert (await world.get(report), await world.history(report)) == (before, log)
    expected = {a: in_scope and allowed for a, allowed in _matrix()[role].items()}
    assert outcome == expected


async def test_the_reporter_may_only_confirm_reopen_and_withdraw(world: World) -> None:
    other = await world.report()
    outcome: dict[Action, bool] = {}
    for action in Action:
        report = await world.report(NO_PHOTO, STARTS[action])
        args = _full_args(world, action, other)
        outcome[action] = (await world.act(report, world.rider, action, args=args)).ok
    assert {a for a, ok in outcome.items() if ok} == {Action.CONFIRM, Action.REOPEN, Action.CANCEL}


# -- the party membership matrix (issue 9) ------------------------------------------------

# Written out from issue 9, not read from the handlers: only the party organisation of the
# declared community reads a declaration and decides on it; admins read counts of their
# own area, never a declaration; riders and case staff get neither.
PARTY_COLUMNS = "read verify ask decline counts"
PARTY_MATRIX = """
informant        .   .   .   .   .
grid_worker      .   .   .   .   .
grid_leader      .   .   .   .   .
community_admin  .   .   .   .   Y
street_admin     .   .   .   .   Y
city_admin       .   .   .   .   Y
party_secretary  Y   Y   Y   Y   .
"""
ORGANISATION = "中共秦皇岛市某快递公司支部"


def _party_matrix() -> dict[RoleName, dict[str, bool]]:
    columns = PARTY_COLUMNS.split()
    rows = (line.split() for line in PARTY_MATRIX.strip().splitlines())
    return {
        RoleName(r[0]): {c: m == "Y" for c, m in zip(columns, r[1:], strict=True)} for r in rows
    }


def test_the_party_matrix_covers_every_role() -> None:
    assert set(_party_matrix()) == set(RoleName)


async def _declared(world: World) -> PartyDeclaration:
    """The rider (re)declares membership to C1's party organisation: waiting again."""
    draft = party.Draft(
        standing=Standing.FORMAL,
        organisation=ORGANISATION,
        year_joined=1998,
        community_id=world.ids["C1"],
    )
    async with world.make_uow() as uow:
        declaration, _asked = await party.declare(
            uow, world.env, world.rider, draft, now=NOW, consented_at=NOW
        )
        await uow.commit()
    return declaration


@pytest.mark.parametrize("in_scope", [True, False], ids=["in-scope", "out-of-scope"])
@pytest.mark.parametrize("role", list(RoleName), ids=lambda r: r.value)
async def test_every_role_reads_and_decides_declarations_exactly_as_the_party_matrix_says(
    world: World, role: RoleName, in_scope: bool
) -> None:
    actor = await world.staff("actor", role, (IN_SCOPE if in_scope else OUT_OF_SCOPE)[role])
    chat = ChatBot(world.make_uow, world.env)
    user = User(platform="telegram", user_id="actor", chat_id=actor.chat_id, display_name="a")
    outcome: dict[str, bool] = {}
    await _declared(world)
    outcome["read"] = ORGANISATION in _said_to(user, await chat.command(user, "declarations"))
    for column, verb in (("verify", "ok"), ("ask", "ask"), ("decline", "no")):
        declaration = await _declared(world)
        await chat.press(user, f"pmd:{verb}:{world.rider.id}:{declaration.revision}")
        if verb == "ask":
            await chat.text(user, "Which branch exactly?")
        async with world.make_uow() as uow:
            after = await uow.party.get(world.rider.id)
        assert after is not None
        outcome[column] = after.status is not DeclarationStatus.PENDING
    # "1 declared, 0 verified": counts, in whichever of the two languages.
    outcome["counts"] = "1 declared" in _said_to(user, await chat.command(user, "partystats"))
    expected = {c: in_scope and allowed for c, allowed in _party_matrix()[role].items()}
    assert outcome == expected
    if not expected["read"]:
        assert ORGANISATION not in _said_to(user, chat.outbox)


def _said_to(user: User, said: list[Outgoing]) -> str:
    return "\n".join(m.text or "" for m in said if m.chat_id == user.chat_id)


# -- an accepted case belongs to its worker -----------------------------------------------


@pytest.mark.parametrize("action", [Action.RESOLVE, Action.RETURN, Action.TRANSFER, Action.MERGE])
async def test_a_colleague_cannot_act_on_a_case_another_worker_accepted(
    world: World, action: Action
) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    colleague = await world.staff("Zhang", RoleName.GRID_WORKER, "G1")
    other = await world.report()
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    before, log = await world.get(report), await world.history(report)
    refused = await world.act(report, colleague, action, args=_full_args(world, action, other))
    assert refused.refusal is cases.Refusal.HELD_BY_OTHER
    assert refused.holder is not None and refused.holder.id == holder.id
    assert (await world.get(report), await world.history(report)) == (before, log)


@pytest.mark.parametrize("role", [RoleName.GRID_LEADER, RoleName.COMMUNITY_ADMIN])
async def test_supervisors_may_transfer_a_case_a_worker_accepted(
    world: World, role: RoleName
) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    supervisor = await world.staff("boss", role, IN_SCOPE[role])
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    args = ActionArgs(target_grid_id=world.ids["G2"], reason="next door")
    assert (await world.act(report, supervisor, Action.TRANSFER, args=args)).ok
    stored = await world.get(report)
    assert (stored.grid_id, stored.assignee_id) == (world.ids["G2"], None)


async def test_the_grid_leader_may_resolve_a_case_a_worker_accepted(world: World) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    leader = await world.staff("lead", RoleName.GRID_LEADER, "G1")
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    assert (await world.act(report, leader, Action.RESOLVE, args=ActionArgs(note="done"))).ok


# -- a holder who left the grid holds nothing ---------------------------------------------


async def _remove(world: World, who: Account, role: RoleName, region: str) -> None:
    async with world.make_uow() as uow:  # what `gridsnap staff remove` runs
        assert await staff.remove_staff(uow, account_id=who.id, role=role, region_code=region)
        await uow.commit()


@pytest.mark.parametrize("action", [Action.RESOLVE, Action.RETURN])
async def test_a_colleague_may_act_on_a_case_whose_holder_was_removed_from_staff(
    world: World, action: Action
) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    colleague = await world.staff("Zhang", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    await _remove(world, holder, RoleName.GRID_WORKER, "G1")
    args = ActionArgs(note="cover replaced", reason="Not this grid")
    result = await world.act(report, colleague, action, args=args)
    assert result.ok, result.refusal
    after = {Action.RESOLVE: ReportStatus.RESOLVED, Action.RETURN: ReportStatus.RETURNED}
    assert (await world.get(report)).status is after[action]


async def test_a_holder_moved_to_another_grid_no_longer_holds_the_case(world: World) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    colleague = await world.staff("Zhang", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    await _remove(world, holder, RoleName.GRID_WORKER, "G1")
    async with world.make_uow() as uow:
        await uow.roles.grant(holder.id, RoleName.GRID_WORKER, world.ids["G2"])
        await uow.commit()
    assert (await world.act(report, colleague, Action.RESOLVE, args=ActionArgs(note="ok"))).ok
    assert (await world.get(report)).status is ReportStatus.RESOLVED


# -- the holder hears when a supervisor moves their case on -------------------------------


SUPERVISOR_ACTIONS = [Action.RESOLVE, Action.RETURN, Action.TRANSFER, Action.MERGE, Action.REJECT]


@pytest.mark.parametrize("action", SUPERVISOR_ACTIONS, ids=lambda a: a.value)
async def test_the_holder_is_told_in_their_language_when_the_grid_leader_acts_on_their_case(
    world: World, action: Action
) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    async with world.make_uow() as uow:
        await uow.accounts.set_locale(holder.id, "zh_CN")
        await uow.commit()
    leader = await world.staff("lead", RoleName.GRID_LEADER, "G1")
    other = await world.report()
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    assert await world.pushes(holder) == []  # their own accept is answered by the flow
    args = _full_args(world, action, other)
    assert (await world.act(report, leader, action, args=args)).ok
    source = MERGED_INTO if action is Action.MERGE else HEADLINES[action]
    headline = translator("zh_CN", world.env.zone)._(source)
    assert headline != source  # Chinese, not the English it is written in
    category = world.env.catalogue.name(NO_PHOTO, "zh_CN")
    expected = headline.format(number=report.number, category=category, original=other.number)
    [told] = await world.pushes(holder)
    assert told.splitlines()[0] == expected


async def test_the_holder_is_not_told_of_their_own_resolve(world: World) -> None:
    holder = await world.staff("Li", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    assert (await world.act(report, holder, Action.ACCEPT)).ok
    assert (await world.act(report, holder, Action.RESOLVE, args=ActionArgs(note="done"))).ok
    assert await world.pushes(holder) == []


# -- followers hear what the reporter hears -----------------------------------------------


async def test_a_follower_is_told_of_a_transfer_and_a_return(world: World) -> None:
    fan = await world.account("fan")
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    next_door = await world.staff("w2", RoleName.GRID_WORKER, "G2")
    report = await world.report()
    await world.follow(report, fan)
    moved = ActionArgs(target_grid_id=world.ids["G2"], reason="next door")
    assert (await world.act(report, worker, Action.TRANSFER, args=moved)).ok
    back = ActionArgs(reason="Not this grid")
    assert (await world.act(report, next_door, Action.RETURN, args=back)).ok
    told = await world.pushes(fan)
    noise = world.env.catalogue.name(NO_PHOTO, "en")
    assert [t.splitlines()[0] for t in told] == [
        f"Report {report.number} ({noise}) was transferred to another grid.",
        f"Report {report.number} ({noise}) was returned to the community.",
    ]


async def test_after_a_merge_its_reporter_and_followers_hear_the_original_accepted(
    world: World,
) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    second, fan = await world.account("second rider"), await world.account("fan")
    original = await world.report()
    duplicate = await world.report(reporter=second)
    await world.follow(duplicate, fan)
    args = ActionArgs(duplicate_of=original.id)
    assert (await world.act(duplicate, worker, Action.MERGE, args=args)).ok
    assert (await world.act(original, worker, Action.ACCEPT)).ok
    noise = world.env.catalogue.name(NO_PHOTO, "en")
    accepted = f"Report {original.number} ({noise}) was accepted by a grid worker."
    for rider in (second, fan):
        told = [t.splitlines()[0] for t in await world.pushes(rider)]
        assert told[-1] == accepted, rider.display_name
        assert told[0].startswith(f"Report {duplicate.number}"), rider.display_name


# -- clocks and reasons -------------------------------------------------------------------


def _deadlines_from(world: World, report: Report, at: datetime) -> tuple[datetime, datetime]:
    category = world.env.catalogue.get(report.category_code)
    return (
        at + timedelta(minutes=category.ack_minutes),
        at + timedelta(minutes=category.resolve_minutes),
    )


async def test_a_transferred_case_gets_new_deadlines_counted_from_now(world: World) -> None:
    leader = await world.staff("lead", RoleName.GRID_LEADER, "C1")
    report = await world.report()
    world.env.clock = lambda: LATER
    args = ActionArgs(target_grid_id=world.ids["G2"], reason="next door")
    assert (await world.act(report, leader, Action.TRANSFER, args=args)).ok
    stored = await world.get(report)
    assert (stored.ack_due_at, stored.resolve_due_at) == _deadlines_from(world, report, LATER)


async def test_a_redispatched_case_gets_new_deadlines_counted_from_now(world: World) -> None:
    admin = await world.staff("admin", RoleName.COMMUNITY_ADMIN, "C1")
    report = await world.report(status=ReportStatus.RETURNED)
    world.env.clock = lambda: LATER
    args = ActionArgs(target_grid_id=world.ids["G1"])
    assert (await world.act(report, admin, Action.REDISPATCH, args=args)).ok
    stored = await world.get(report)
    assert (stored.ack_due_at, stored.resolve_due_at) == _deadlines_from(world, report, LATER)


async def test_a_reopened_case_gets_new_deadlines_counted_from_now(world: World) -> None:
    report = await world.report(status=ReportStatus.RESOLVED)
    world.env.clock = lambda: LATER
    args = ActionArgs(reason="still missing")
    assert (await world.act(report, world.rider, Action.REOPEN, args=args)).ok
    stored = await world.get(report)
    assert stored.status is ReportStatus.DISPATCHED
    assert (stored.ack_due_at, stored.resolve_due_at) == _deadlines_from(world, report, LATER)


async def test_a_return_reason_reaches_the_community_admin_in_their_language(
    world: World,
) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    admin = await world.staff("admin", RoleName.COMMUNITY_ADMIN, "C1")
    async with world.make_uow() as uow:
        await uow.accounts.set_locale(admin.id, "zh_CN")
        await uow.commit()
    report = await world.report()
    args = ActionArgs(reason="Not this grid")  # stored as the English source, as the button does
    assert (await world.act(report, worker, Action.RETURN, args=args)).ok
    async with world.make_uow() as uow:
        queued = [row.message for row in await uow.outbox.claim(100, LATER)]
    [told] = [m for m in queued if m.chat_id == "admin"]
    assert "原因：不属于本网格" in told.text


async def test_the_reporter_may_withdraw_before_acceptance_and_nobody_else_may(
    world: World,
) -> None:
    report = await world.report()
    stranger = await world.account("someone")
    refused = await world.act(report, stranger, Action.CANCEL)
    assert refused.refusal is cases.Refusal.NOT_ALLOWED
    assert (await world.get(report)).status is ReportStatus.DISPATCHED
    result = await world.act(report, world.rider, Action.CANCEL)
    assert result.ok
    assert (await world.get(report)).status is ReportStatus.CANCELLED
    async with world.make_uow() as uow:
        assert replay(await uow.audit.history(report.id)) is ReportStatus.CANCELLED
        # A withdrawn case is no duplicate to offer the next rider.
        near = await uow.reports.near(
            IN_G1.lat, IN_G1.lon, 50, since=NOW - timedelta(hours=72), category=NO_PHOTO
        )
    assert report.id not in [r.id for r in near]


async def test_an_accepted_report_can_no_longer_be_withdrawn(world: World) -> None:
    worker = await world.staff("w1", RoleName.GRID_WORKER, "G1")
    report = await world.report()
    await world.act(report, worker, Action.ACCEPT)
    refused = await world.act(report, world.rider, Action.CANCEL)
    assert refused.refusal is not None
    assert (await world.get(report)).status is ReportStatus.ACCEPTED


# -- the authorization matrix of volunteer service -----------------------------------------

# Written out from the issue: the community's admins and party secretary (and the street's
# and city's admins above them) approve volunteers, publish service tasks and confirm hours;
# grid staff and riders do none of it. Each is judged on the task's or the volunteer's
# community, C1.
SERVICE_COLUMNS = "approve task hours"
SERVICE_MATRIX = """
informant        .   .   .
grid_worker      .   .   .
grid_leader      .   .   .
community_admin  Y   Y   Y
party_secretary  Y   Y   Y
street_admin     Y   Y   Y
city_admin       Y   Y   Y
"""


def _service_matrix() -> dict[RoleName, dict[str, bool]]:
    rows = (line.split() for line in SERVICE_MATRIX.strip().splitlines())
    columns = SERVICE_COLUMNS.split()
    return {
        RoleName(r[0]): {c: m == "Y" for c, m in zip(columns, r[1:], strict=True)} for r in rows
    }


def test_the_service_matrix_covers_every_role() -> None:
    assert set(_service_matrix()) == set(RoleName)


async def _service_outcome(world: World, actor: Account) -> dict[str, bool]:
    now = world.env.clock()
    volunteer = await world.account("volunteer")
    draft = volunteers.TaskDraft(
        community_id=world.ids["C1"],
        title="义诊",
        kind=ServiceType.VOLUNTEER,
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        slots=2,
        skills=frozenset(),
    )
    async with world.make_uow() as uow:
        await uow.volunteers.upsert(
            Volunteer(
                account_id=volunteer.id,
                community_id=world.ids["C1"],
                skills=frozenset(),
                services=frozenset({ServiceType.VOLUNTEER}),
                slots=frozenset({Slot.WEEKDAY_MORNING}),
                status=VolunteerStatus.PENDING,
                created_at=now,
            )
        )
        task = await uow.tasks.add(**vars_of(draft), created_by=volunteer.id, created_at=now)
        signup = await uow.tasks.sign_up(task.id, volunteer.id, at=now)
        await uow.tasks.save_signup(
            dataclasses.replace(signup, status=SignupStatus.CHECKED_IN, checked_in_at=now)
        )
        await uow.commit()
    async with world.make_uow() as uow:
        decided = await volunteers.decide(uow, volunteer.id, approve=True, actor=actor, now=now)
        created = await volunteers.create_task(uow, world.env, draft, actor=actor, now=now)
        confirmed = await volunteers.confirm_hours(uow, world.env, signup.id, actor, now=now)
        balance = await uow.points.balance(volunteer.id)
        stored = await uow.volunteers.get(volunteer.id)
        await uow.commit()
    assert stored is not None
    # A refusal changes nothing: the registration stays pending, no hours, no points.
    assert (stored.status is VolunteerStatus.APPROVED) == (decided.refusal is None)
    assert (balance > 0) == (confirmed.refusal is None)
    return {
        "approve": decided.refusal is None,
        "task": created.task is not None,
        "hours": confirmed.refusal is None,
    }


def vars_of(draft: volunteers.TaskDraft) -> dict[str, object]:
    return {f.name: getattr(draft, f.name) for f in dataclasses.fields(draft)}


@pytest.mark.parametrize("in_scope", [True, False], ids=["in-scope", "out-of-scope"])
@pytest.mark.parametrize("role", list(RoleName), ids=lambda r: r.value)
async def test_every_role_may_approve_volunteers_publish_tasks_and_confirm_hours_as_written(
    world: World, role: RoleName, in_scope: bool
) -> None:
    region = (IN_SCOPE if in_scope else OUT_OF_SCOPE)[role]
    actor = await world.staff("staff", role, region)
    outcome = await _service_outcome(world, actor)
    expected = {c: in_scope and allowed for c, allowed in _service_matrix()[role].items()}
    assert outcome == expected
