"""The rider's "Fixed?" answer and /points, through the real Dispatcher on the in-memory store.

A case is filed and moved to Resolved with the real use cases; then people press the real
feedback buttons and what changed is read back from the committed store and the outbox.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.chat import Incoming, Kind, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.lifecycle import Action, ActionArgs
from bot.domain.model import (
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    ReportPhoto,
    ReportStatus,
    RoleName,
)
from bot.scheduler import JobScheduler
from bot.services import cases
from bot.services.drafts import REASON_WAIT, finish_reason_prompts
from bot.services.env import Env, MapHolder
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RIDER = User(platform="telegram", user_id="501", chat_id="501", language_code="en")
OTHER = User(platform="telegram", user_id="502", chat_id="502", language_code="en")
WORKER = User(platform="telegram", user_id="900", chat_id="900", language_code="en")
GARBAGE = "0102"
AFTER = ReportPhoto(sha256="after-1", phash="0" * 16, width=4, height=3)


def _square(x0: float, size: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


MAP = [
    MapUnit(
        code="S1", name="街道", level=Level.STREET, parent_code=None, geometry=_square(119.5, 0.1)
    ),
    MapUnit(
        code="C1",
        name="社区",
        level=Level.COMMUNITY,
        parent_code="S1",
        geometry=_square(119.5, 0.05),
    ),
    MapUnit(
        code="G1", name="网格", level=Level.GRID, parent_code="C1", geometry=_square(119.5, 0.05)
    ),
]


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.ids = itertools.count(1)
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        self.dispatcher = dispatcher_on(self.store, self.env)

    @property
    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def send(self, user: User, kind: Kind, **fields: object) -> list[Outgoing]:
        update = Incoming(update_id=str(next(self.ids)), user=user, kind=kind, **fields)  # type: ignore[arg-type]
        return await deliver(self.dispatcher, self.store, update)

    async def press(self, user: User, data: str) -> list[Outgoing]:
        return await self.send(
            user, Kind.BUTTON, button_data=data, callback_id="cb", message_id="m"
        )

    async def text(self, user: User, text: str) -> list[Outgoing]:
        return await self.send(user, Kind.TEXT, text=text)

    async def account_id(self, user: User) -> int:
        async with self.uow as uow:
            account = await uow.accounts.get_or_create(
                platform=user.platform,
                platform_user_id=user.user_id,
                chat_id=user.chat_id,
                display_name=user.user_id,
                locale="en",
            )
            await uow.commit()
        return account.id

    async def resolved_case(self, reporter: User = RIDER) -> int:
        """A rider's report, accepted and resolved by the grid's worker; its id."""
        rider, worker = await self.account_id(reporter), await self.account_id(WORKER)
        await self.account_id(OTHER)
        async with self.uow as uow:
            await uow.regions.replace_map(MAP, replace=True)
            await self.env.maps.refresh(uow)
            grid = await uow.regions.get("G1")
            assert grid is not None
            await uow.roles.grant(worker, RoleName.GRID_WORKER, grid.id)
            await uow.informants.upsert(
                InformantProfile(
                    account_id=rider,
                    real_name="王",
                    phone="13800000000",
                    company="美团",
                    status=InformantStatus.APPROVED,
                    home_region_id=None,
                    created_at=NOW,
                )
            )
            report = await uow.reports.add(
                reporter_id=rider,
                category_code=GARBAGE,
                location=GeoPoint(lat=39.92, lon=119.52),
                grid_id=grid.id,
                note="",
                status=ReportStatus.DISPATCHED,
                created_at=NOW,
            )
            staff = await uow.accounts.get(worker)
            for action, args in ((Action.ACCEPT, None), (Action.RESOLVE, ActionArgs(note="swept"))):
                result = await cases.act(
                    uow,
                    self.env,
                    report_id=report.id,
                    actor_account=staff,
                    action=action,
                    args=args,
                    photo=AFTER if action is Action.RESOLVE else None,
                )
                assert result.ok, result.refusal
            await uow.commit()
        return report.id

    def status(self, report_id: int) -> ReportStatus:
        return self.store.data.reports[report_id].status


@pytest.fixture
async def world() -> World:
    return World()


async def test_the_reporter_is_asked_fixed_with_thumbs_buttons_after_resolve(world: World) -> None:
    report_id = await world.resolved_case()
    to_rider = [m for m in world.uow.outbox.sent() if m.chat_id == RIDER.chat_id]
    datas = [b.data for m in to_rider if m.keyboard for row in m.keyboard.rows for b in row]
    assert datas == [f"fb:ok:{report_id}", f"fb:no:{report_id}"]
    assert "marked as fixed" in to_rider[-1].text
    assert to_rider[-1].photo == AFTER.sha256  # the worker's proof of fix


async def test_only_the_reporter_can_press_fixed(world: World) -> None:
    report_id = await world.resolved_case()
    for user in (OTHER, WORKER):
        out = await world.press(user, f"fb:ok:{report_id}")
        assert [m.alert for m in out] == [True]
        out = await world.press(user, f"fb:no:{report_id}")
        assert "Only the person who reported" in out[0].text
    assert world.status(report_id) is ReportStatus.RESOLVED


async def test_thumbs_up_asks_a_rating_and_the_rating_closes_the_case(world: World) -> None:
    report_id = await world.resolved_case()
    out = await world.press(RIDER, f"fb:ok:{report_id}")
    asked = [m for m in out if m.kind is OutKind.TEXT and m.keyboard]
    rating = [b.data for m in asked if m.keyboard for row in m.keyboard.rows for b in row]
    assert rating == [f"fb:rate:{report_id}:{n}" for n in range(1, 6)]
    assert _chosen(out) == ["✓ 👍 Fixed"]  # the answer stays on the question
    assert world.status(report_id) is ReportStatus.RESOLVED
    out = await world.press(RIDER, f"fb:rate:{report_id}:4")
    assert world.status(report_id) is ReportStatus.CLOSED
    assert any("is closed" in m.text for m in out)
    assert _chosen(out) == ["✓ ⭐⭐⭐⭐"]
    confirm = world.store.data.audit[-1]
    assert (confirm.action, confirm.data.get("rating")) == ("confirm", 4)


def _chosen(out: list[Outgoing]) -> list[str]:
    """The labels left on the pressed message by an edit of its buttons."""
    edits = [m for m in out if m.kind is OutKind.EDIT_MARKUP and m.keyboard]
    return [b.text for m in edits if m.keyboard for row in m.keyboard.rows for b in row]


async def test_a_forged_rating_changes_nothing(world: World) -> None:
    report_id = await world.resolved_case()
    for data in (f"fb:rate:{report_id}:9", f"fb:rate:{report_id}:x", "fb:ok:abc", "fb:zz:1"):
        out = await world.press(RIDER, data)
        assert [m.alert for m in out if m.callback_id] == [True], data
    assert world.status(report_id) is ReportStatus.RESOLVED


async def test_thumbs_down_asks_a_reason_then_reopens_the_case_with_the_worker_who_held_it(
    world: World,
) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:no:{report_id}")
    assert world.status(report_id) is ReportStatus.RESOLVED  # waiting for the reason
    out = await world.text(RIDER, "still overflowing")
    # Still theirs: no "new case" to accept again, it is simply back on their desk.
    assert world.status(report_id) is ReportStatus.ACCEPTED
    report = world.store.data.reports[report_id]
    assert report.assignee_id == await world.account_id(WORKER)
    assert world.store.data.audit[-1].data["reason"] == "still overflowing"
    [alert] = [m for m in out if m.chat_id == WORKER.chat_id and m.keyboard]
    assert alert.text.startswith("Reopened, not fixed: report")
    assert "New report" not in alert.text
    assert "The reporter says: still overflowing" in alert.text
    assert "Accept by" not in alert.text and "Resolve by" in alert.text
    assert alert.keyboard is not None
    actions = {b.data.split(":")[1] for row in alert.keyboard.rows for b in row if b.data}
    assert "res" in actions and "acc" not in actions
    assert any("reopened" in m.text for m in out if m.chat_id == RIDER.chat_id)


async def test_thumbs_down_with_skip_reopens_without_a_reason(world: World) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:no:{report_id}")
    out = await world.press(RIDER, "fbr:skip")
    assert world.status(report_id) is ReportStatus.ACCEPTED
    [alert] = [m for m in out if m.chat_id == WORKER.chat_id and m.keyboard]
    assert alert.text.startswith("Reopened, not fixed") and "reporter says" not in alert.text


async def _finish_prompts(world: World, after: timedelta) -> list[Outgoing]:
    before = len(world.uow.outbox.sent())
    await finish_reason_prompts(lambda: world.uow, world.env, NOW + after)
    return world.uow.outbox.sent()[before:]


async def test_an_unanswered_reason_prompt_reopens_the_case_by_itself(world: World) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:no:{report_id}")
    assert await _finish_prompts(world, REASON_WAIT - timedelta(minutes=1)) == []
    assert world.status(report_id) is ReportStatus.RESOLVED  # still their turn to write
    out = await _finish_prompts(world, REASON_WAIT + timedelta(minutes=1))
    assert world.status(report_id) is ReportStatus.ACCEPTED
    assert world.store.data.audit[-1].data["reason"] == "not fixed"
    [told] = [m.text for m in out if m.chat_id == RIDER.chat_id]
    assert "did not add a note" in told and "reopened" in told
    assert any(m.keyboard for m in out if m.chat_id == WORKER.chat_id)  # alerted again
    assert world.store.data.conversations[("telegram", RIDER.user_id)].flow is None
    # Once: a second sweep (or a second process) finds no prompt left.
    assert await _finish_prompts(world, REASON_WAIT * 2) == []


async def test_the_minute_sweep_is_what_finishes_an_unanswered_prompt(world: World) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:no:{report_id}")
    later = dataclasses.replace(world.env, clock=lambda: NOW + REASON_WAIT + timedelta(minutes=1))
    woken: list[bool] = []
    jobs = JobScheduler(
        uow_factory=lambda: world.uow, env=later, on_commit=lambda: woken.append(True)
    )
    await jobs.run_sweep()
    assert world.status(report_id) is ReportStatus.ACCEPTED
    assert woken  # the outbox sender is told there is something to send


async def test_an_unanswered_prompt_of_a_case_that_moved_on_changes_nothing(
    world: World,
) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:no:{report_id}")
    async with world.uow as uow:  # meanwhile it was reopened another way (a second device)
        rider = await uow.accounts.get(await world.account_id(RIDER))
        result = await cases.act(
            uow,
            world.env,
            report_id=report_id,
            actor_account=rider,
            action=Action.REOPEN,
            args=ActionArgs(reason="still there"),
        )
        assert result.ok
        await uow.commit()
    moved_on = world.status(report_id)
    out = await _finish_prompts(world, REASON_WAIT + timedelta(minutes=1))
    assert world.status(report_id) is moved_on
    assert out == []


async def test_a_stale_fixed_button_is_refused_after_the_case_moved_on(world: World) -> None:
    report_id = await world.resolved_case()
    await world.press(RIDER, f"fb:ok:{report_id}")
    await world.press(RIDER, f"fb:rate:{report_id}:5")
    out = await world.press(RIDER, f"fb:no:{report_id}")
    assert "moved on" in out[0].text
    assert world.status(report_id) is ReportStatus.CLOSED


async def test_points_shows_the_total_and_the_recent_awards(world: World) -> None:
    await world.resolved_case()
    out = await world.send(RIDER, Kind.COMMAND, command="points", text="/points")
    text = out[0].text
    assert "You have 15 points." in text  # accept 5 + resolve 10 (bot/data/points.json)
    assert "+10 · report resolved" in text and "+5 · report accepted" in text


async def test_a_case_that_cannot_be_reopened_does_not_keep_the_other_riders_cases_shut(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # The follow-up ran every rider in one transaction: one failure and nobody's "not fixed"
    # counted. Each rider is now a unit of work of their own.
    mine = await world.resolved_case()
    theirs = await world.resolved_case(reporter=OTHER)
    await world.press(RIDER, f"fb:no:{mine}")
    await world.press(OTHER, f"fb:no:{theirs}")
    retired = dataclasses.replace(world.store.data.reports[theirs], category_code="9999")
    world.store.data.reports[theirs] = retired  # its category left the catalogue since
    await _finish_prompts(world, REASON_WAIT + timedelta(minutes=1))
    assert world.status(mine) is not ReportStatus.RESOLVED  # reopened
    assert world.store.data.audit[-1].data["reason"] == "not fixed"
    assert world.status(theirs) is ReportStatus.RESOLVED
    assert "reopening the case of telegram:502 as not fixed failed" in caplog.text
