"""The SLA sweep and the morning digest on real SQLite and PostgreSQL, with a controlled clock.

A case waits on a grid; the test moves the clock past its deadlines, runs the sweep (as the
scheduler would, several times), and reads who was told from the outbox and what was
recorded from the case history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import bootstrap
from bot.chat import Outgoing
from bot.config import load_settings
from bot.domain.categories import load_catalogue
from bot.domain.lifecycle import Action, ActionArgs
from bot.domain.model import EscalationKind, GeoPoint, Level, MapUnit, ReportStatus, RoleName
from bot.scheduler import JobScheduler
from bot.services import cases
from bot.services.env import Env, MapHolder
from bot.services.escalation import EscalationPolicy, digest, sweep
from bot.services.ports import BaseUnitOfWork
from storage.photos import PhotoStore

MakeUow = Callable[[], BaseUnitOfWork]
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI)
ACK_DUE = T0 + timedelta(minutes=15)
RESOLVE_DUE = T0 + timedelta(hours=4)
POLICY = EscalationPolicy(escalate_after=timedelta(minutes=30))


def _square(x0: float, size: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


MAP = [
    MapUnit(
        code="S1",
        name="西港路街道",
        level=Level.STREET,
        parent_code=None,
        geometry=_square(119.5, 0.1),
    ),
    MapUnit(
        code="C1",
        name="东环社区",
        level=Level.COMMUNITY,
        parent_code="S1",
        geometry=_square(119.5, 0.05),
    ),
    MapUnit(
        code="G1",
        name="东环一网格",
        level=Level.GRID,
        parent_code="C1",
        geometry=_square(119.5, 0.05),
    ),
]
STAFF = {
    "worker": (RoleName.GRID_WORKER, "G1"),
    "leader": (RoleName.GRID_LEADER, "G1"),
    "community": (RoleName.COMMUNITY_ADMIN, "C1"),
    "street": (RoleName.STREET_ADMIN, "S1"),
}


class NoPhotos:
    def put(self, data: bytes, ext: str) -> str:
        raise AssertionError("the sweep stores no photos")

    def get(self, key: str) -> bytes:
        raise KeyError(key)


@pytest.fixture
def env() -> Env:
    return Env(catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=NoPhotos())


async def _account(uow: BaseUnitOfWork, name: str) -> int:
    account = await uow.accounts.get_or_create(
        platform="telegram", platform_user_id=name, chat_id=name, display_name=name, locale="en"
    )
    return account.id


async def _world(make_uow: MakeUow, *, cases: int = 1) -> list[int]:
    """The map, one person per staff role, a rider, and ``cases`` dispatched cases in G1."""
    async with make_uow() as uow:
        await uow.regions.replace_map(MAP, replace=True)
        for name, (role, code) in STAFF.items():
            region = await uow.regions.get(code)
            assert region is not None
            await uow.roles.grant(await _account(uow, name), role, region.id)
        await _account(uow, "rider")
        await uow.commit()
    return [await _case(make_uow) for _ in range(cases)]


async def _case(
    make_uow: MakeUow,
    *,
    ack_due: datetime = ACK_DUE,
    resolve_due: datetime = RESOLVE_DUE,
    category: str = "0102",
) -> int:
    """One more case of the rider's, dispatched to G1, waiting to be accepted."""
    async with make_uow() as uow:
        rider = await uow.accounts.find("telegram", "rider")
        grid = await uow.regions.get("G1")
        assert rider is not None and grid is not None
        report = await uow.reports.add(
            reporter_id=rider.id,
            category_code=category,
            location=GeoPoint(lat=39.92, lon=119.52),
            grid_id=grid.id,
            note="",
            status=ReportStatus.DISPATCHED,
            created_at=T0,
            ack_due_at=ack_due,
            resolve_due_at=resolve_due,
        )
        await uow.commit()
    return report.id


async def _drain(make_uow: MakeUow) -> list[Outgoing]:
    """Everything queued so far, as the outbox sender would take it."""
    sent: list[Outgoing] = []
    while True:
        async with make_uow() as uow:
            rows = await uow.outbox.claim(100, T0 + timedelta(days=30))
            for row in rows:
                await uow.outbox.mark_sent(row.id, None)
            await uow.commit()
        if not rows:
            return sent
        sent += [row.message for row in rows]


def _chats(messages: list[Outgoing]) -> list[str]:
    return sorted(m.chat_id for m in messages)


async def _escalations_in_history(make_uow: MakeUow, report_id: int) -> list[dict[str, object]]:
    async with make_uow() as uow:
        history = await uow.audit.history(report_id)
    return [e.data for e in history if e.action == "escalate"]


async def test_nothing_is_sent_before_the_acknowledge_deadline(make_uow: MakeUow, env: Env) -> None:
    await _world(make_uow)
    await sweep(make_uow, env, ACK_DUE - timedelta(seconds=1), policy=POLICY)
    assert await _drain(make_uow) == []


async def test_the_grid_is_reminded_once_when_the_acknowledge_deadline_passes(
    make_uow: MakeUow, env: Env
) -> None:
    [report_id] = await _world(make_uow)
    for minute in range(3):  # the scheduler sweeps every minute
        await sweep(make_uow, env, ACK_DUE + timedelta(minutes=minute), policy=POLICY)
    sent = await _drain(make_uow)
    assert _chats(sent) == ["worker"]
    assert "Reminder" in sent[0].text and "东环一网格" in sent[0].text
    history = await _escalations_in_history(make_uow, report_id)
    assert [(e["kind"], e["level"]) for e in history] == [("ack", 1)]


async def test_after_another_interval_the_leader_and_community_admin_are_told_once(
    make_uow: MakeUow, env: Env
) -> None:
    [report_id] = await _world(make_uow)
    await sweep(make_uow, env, ACK_DUE, policy=POLICY)
    await _drain(make_uow)
    for minute in (29, 30, 31, 45):
        await sweep(make_uow, env, ACK_DUE + timedelta(minutes=minute), policy=POLICY)
    sent = await _drain(make_uow)
    assert _chats(sent) == ["community", "leader"]
    assert all("nobody accepted" in m.text for m in sent)
    async with make_uow() as uow:
        report = await uow.reports.get(report_id)
    assert report is not None and report.status is ReportStatus.DISPATCHED  # no status change


async def test_past_the_resolve_deadline_the_street_admin_is_told_once(
    make_uow: MakeUow, env: Env
) -> None:
    [report_id] = await _world(make_uow)
    for hours in (4, 5, 6):
        await sweep(make_uow, env, T0 + timedelta(hours=hours), policy=POLICY)
    sent = await _drain(make_uow)
    street = [m for m in sent if m.chat_id == "street"]
    assert len(street) == 1 and "not resolved" in street[0].text
    assert _chats(sent) == ["community", "leader", "street", "worker"]  # each step once
    history = await _escalations_in_history(make_uow, report_id)
    assert sorted((e["kind"], e["level"]) for e in history) == [
        ("ack", 1),
        ("ack", 2),
        ("resolve", 1),
    ]


async def test_an_accepted_case_is_not_escalated_for_acknowledgement(
    make_uow: MakeUow, env: Env
) -> None:
    [report_id] = await _world(make_uow)
    async with make_uow() as uow:
        report = await uow.reports.get(report_id)
        assert report is not None
        await uow.reports.save(replace(report, status=ReportStatus.ACCEPTED), report.version)
        await uow.commit()
    await sweep(make_uow, env, ACK_DUE + timedelta(hours=1), policy=POLICY)
    assert await _drain(make_uow) == []


async def test_concurrent_sweeps_send_each_escalation_once(make_uow: MakeUow, env: Env) -> None:
    await _world(make_uow, cases=5)
    late = T0 + timedelta(hours=5)  # every step of every case is due
    results = await asyncio.gather(*(sweep(make_uow, env, late, policy=POLICY) for _ in range(4)))
    steps = [step for result in results for step in result.sent]
    assert len(steps) == len(set(steps)) == 5 * 3
    sent = await _drain(make_uow)
    assert len(sent) == 5 * 4  # worker reminder, leader + community admin, street admin


async def test_the_digest_lists_open_and_overdue_cases_once_a_day(
    make_uow: MakeUow, env: Env
) -> None:
    ids = await _world(make_uow, cases=2)
    async with make_uow() as uow:
        reports = [await uow.reports.get(i) for i in ids]
    numbers = [r.number for r in reports if r is not None]
    morning = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
    assert await digest(make_uow, env, morning) == 1
    assert await digest(make_uow, env, morning + timedelta(minutes=1)) == 0  # a second process
    [message] = await _drain(make_uow)
    assert message.chat_id == "worker"
    assert "Open cases in your grids: 2, overdue: 2." in message.text
    assert all(f"{n} " in message.text for n in numbers)
    assert await digest(make_uow, env, morning + timedelta(days=1)) == 1  # the next day


async def test_fully_escalated_cases_do_not_keep_a_newer_overdue_case_from_the_sweep(
    make_uow: MakeUow, env: Env
) -> None:
    # Regression: the due queries returned cases whose every step was done, so a batch full
    # of them hid every newer overdue case for ever.
    small = replace(POLICY, batch=2)
    await _world(make_uow, cases=2)
    late = T0 + timedelta(hours=5)
    await sweep(make_uow, env, late, policy=small)  # every step of both cases
    await _drain(make_uow)
    newer = await _case(make_uow, ack_due=late, resolve_due=late + timedelta(hours=4))
    result = await sweep(make_uow, env, late, policy=small)
    assert result.sent == [(newer, EscalationKind.ACK, 1)]
    assert _chats(await _drain(make_uow)) == ["worker"]


@pytest.fixture
def loop_env(tmp_path: Path) -> Env:
    """An env that can act on cases: the map loaded and a photo store for alert images."""
    return Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=PhotoStore(tmp_path / "photos"),
        zone=SHANGHAI,
    )


async def test_a_reopened_case_is_escalated_again_for_its_new_deadline(
    make_uow: MakeUow, loop_env: Env
) -> None:
    [report_id] = await _world(make_uow)
    late = T0 + timedelta(hours=5)
    await sweep(make_uow, loop_env, late, policy=POLICY)  # the whole ladder, first deadlines
    reopened_at = late + timedelta(hours=1)
    loop_env.clock = lambda: reopened_at
    async with make_uow() as uow:
        await loop_env.maps.refresh(uow)
        report = await uow.reports.get(report_id)
        rider = await uow.accounts.find("telegram", "rider")
        assert report is not None and rider is not None
        await uow.reports.save(replace(report, status=ReportStatus.RESOLVED), report.version)
        result = await cases.act(
            uow,
            loop_env,
            report_id=report_id,
            actor_account=rider,
            action=Action.REOPEN,
            args=ActionArgs(reason="still open"),
        )
        await uow.commit()
    assert result.ok and result.report is not None
    await _drain(make_uow)
    new_due = result.report.ack_due_at
    assert new_due == reopened_at + timedelta(minutes=loop_env.catalogue.get("0102").ack_minutes)
    await sweep(make_uow, loop_env, new_due - timedelta(seconds=1), policy=POLICY)
    assert await _drain(make_uow) == []
    await sweep(make_uow, loop_env, new_due, policy=POLICY)
    assert _chats(await _drain(make_uow)) == ["worker"]
    history = await _escalations_in_history(make_uow, report_id)
    reminders = [e["due"] for e in history if (e["kind"], e["level"]) == ("ack", 1)]
    assert [datetime.fromisoformat(str(due)) for due in reminders] == [ACK_DUE, new_due]


async def test_without_a_policy_the_delay_before_superiors_are_told_comes_from_the_env(
    make_uow: MakeUow, env: Env
) -> None:
    await _world(make_uow)
    env.escalate_after = timedelta(minutes=10)
    await sweep(make_uow, env, ACK_DUE)
    await _drain(make_uow)
    await sweep(make_uow, env, ACK_DUE + timedelta(minutes=9))
    assert await _drain(make_uow) == []
    await sweep(make_uow, env, ACK_DUE + timedelta(minutes=10))
    assert _chats(await _drain(make_uow)) == ["community", "leader"]


async def test_the_scheduler_sweeps_with_the_configured_delay(make_uow: MakeUow, env: Env) -> None:
    await _world(make_uow)
    now = ACK_DUE + timedelta(minutes=5)
    env.escalate_after, env.clock = timedelta(minutes=5), lambda: now
    await JobScheduler(uow_factory=make_uow, env=env).run_sweep()
    assert _chats(await _drain(make_uow)) == ["community", "leader", "worker"]


async def test_the_setting_reaches_the_env_the_composition_root_builds(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}",
        photo_dir=tmp_path / "photos",
        escalate_after_min=12,
    )
    app = await bootstrap(settings, sample_map=None)
    try:
        assert app.env.escalate_after == timedelta(minutes=12)
    finally:
        await app.close()


async def test_housekeeping_forgets_update_ids_older_than_a_week_only(
    make_uow: MakeUow, env: Env
) -> None:
    now = ACK_DUE
    async with make_uow() as uow:
        await uow.updates.mark("telegram", "old", at=now - timedelta(days=8))
        await uow.updates.mark("telegram", "recent", at=now - timedelta(days=6))
        await uow.commit()
    env.clock = lambda: now
    assert await JobScheduler(uow_factory=make_uow, env=env).run_housekeeping() == 1
    async with make_uow() as uow:
        assert not await uow.updates.seen("telegram", "old")
        assert await uow.updates.seen("telegram", "recent")


# -- one bad case stops nobody else's (issue 8) ---------------------------------------------

RETIRED = "9999"  # a category code the catalogue no longer has


async def test_a_case_whose_category_left_the_catalogue_does_not_stop_the_other_escalations(
    make_uow: MakeUow, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    # The sweep ran every case in one transaction: naming the retired category raised, the
    # whole sweep rolled back, and no case in the city was escalated, minute after minute.
    await _world(make_uow, cases=0)
    bad = await _case(make_uow, category=RETIRED, ack_due=ACK_DUE - timedelta(minutes=5))
    good = await _case(make_uow)
    result = await sweep(make_uow, env, ACK_DUE + timedelta(minutes=1), policy=POLICY)
    assert result.sent == [(good, EscalationKind.ACK, 1)]
    assert result.failed == [(bad, EscalationKind.ACK, 1)]
    [reminder] = await _drain(make_uow)
    assert reminder.chat_id == "worker"
    assert await _escalations_in_history(make_uow, bad) == []  # rolled back, tried next time
    assert f"escalating report {bad} failed" in caplog.text


async def test_a_worker_whose_digest_fails_does_not_stop_the_other_workers_digests(
    make_uow: MakeUow, env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await _world(make_uow, cases=1)
    async with make_uow() as uow:
        # A second grid with its own worker, whose only case has a retired category.
        await uow.regions.replace_map(
            [*MAP, replace(MAP[2], code="G2", name="东环二网格", geometry=_square(119.55, 0.04))],
            replace=True,
        )
        g2 = await uow.regions.get("G2")
        rider = await uow.accounts.find("telegram", "rider")
        assert g2 is not None and rider is not None
        await uow.roles.grant(await _account(uow, "worker2"), RoleName.GRID_WORKER, g2.id)
        await uow.reports.add(
            reporter_id=rider.id,
            category_code=RETIRED,
            location=GeoPoint(lat=39.92, lon=119.57),
            grid_id=g2.id,
            note="",
            status=ReportStatus.DISPATCHED,
            created_at=T0,
            ack_due_at=ACK_DUE,
            resolve_due_at=RESOLVE_DUE,
        )
        await uow.commit()
    morning = datetime(2026, 11, 26, 8, 30, tzinfo=SHANGHAI)
    assert await digest(make_uow, env, morning) == 1
    assert _chats(await _drain(make_uow)) == ["worker"]
    assert "the digest for account" in caplog.text
    assert await digest(make_uow, env, morning + timedelta(minutes=1)) == 0  # done for today
