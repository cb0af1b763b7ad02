"""Volunteer service rules on the in-memory store: the typed time window, who a task is
offered to, the service points rule, and check-in distance — geodesic from the phone's
WGS-84 point to the task's, or inside the task's community after converting to the map's
GCJ-02."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from geopy.distance import geodesic

from bot.domain.categories import load_catalogue
from bot.domain.model import Account, GeoPoint, Level, MapUnit, RoleName
from bot.domain.points import PointsError, parse_points
from bot.domain.volunteer import (
    CHECKIN_RADIUS_M,
    ServiceTask,
    ServiceType,
    Skill,
    Slot,
    Volunteer,
    VolunteerStatus,
    matches,
)
from bot.geo.crs import gcj02_to_wgs84
from bot.services import volunteers
from bot.services.env import Env, MapHolder
from bot.services.volunteers import Refusal
from handlers.tasks import parse_window
from tests.chatkit import square
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 6, 9, 30, tzinfo=SHANGHAI)
MAP = [
    MapUnit(code="C1", name="东环社区", level=Level.COMMUNITY, parent_code=None,
            geometry=square(119.50, 0.05)),
    MapUnit(code="C2", name="西环社区", level=Level.COMMUNITY, parent_code=None,
            geometry=square(119.55, 0.05)),
    MapUnit(code="G1", name="g1", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
    MapUnit(code="G2", name="g2", level=Level.GRID, parent_code="C2",
            geometry=square(119.55, 0.05)),
]  # fmt: skip


def test_a_window_is_read_in_the_citys_zone_with_or_without_the_year() -> None:
    today = date(2026, 12, 1)
    assert parse_window("12-06 09:00-11:00", today, SHANGHAI) == (
        datetime(2026, 12, 6, 9, 0, tzinfo=SHANGHAI),
        datetime(2026, 12, 6, 11, 0, tzinfo=SHANGHAI),
    )
    assert parse_window(" 2027-01-02  9:30 – 10:00 ", today, SHANGHAI) == (
        datetime(2027, 1, 2, 9, 30, tzinfo=SHANGHAI),
        datetime(2027, 1, 2, 10, 0, tzinfo=SHANGHAI),
    )


def test_a_window_without_a_year_before_today_is_next_years() -> None:
    window = parse_window("01-02 09:00-10:00", date(2026, 12, 30), SHANGHAI)
    assert window is not None and window[0] == datetime(2027, 1, 2, 9, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "text", ["12-06 11:00-09:00", "12-06 06:00-19:00", "02-30 09:00-10:00", "tomorrow", ""]
)
def test_a_window_backwards_too_long_impossible_or_unreadable_is_refused(text: str) -> None:
    assert parse_window(text, date(2026, 12, 1), SHANGHAI) is None


def _volunteer(**kw: object) -> Volunteer:
    fields: dict[str, object] = {
        "account_id": 1,
        "community_id": 1,
        "skills": frozenset({Skill.REPAIRS}),
        "services": frozenset({ServiceType.SKILL}),
        "slots": frozenset({Slot.WEEKEND_MORNING}),
        "status": VolunteerStatus.APPROVED,
        "created_at": T0,
    }
    return Volunteer(**(fields | kw))  # type: ignore[arg-type]


def _task(**kw: object) -> ServiceTask:
    fields: dict[str, object] = {
        "id": 1,
        "community_id": 1,
        "title": "修水管",
        "kind": ServiceType.SKILL,
        "starts_at": T0,
        "ends_at": T0 + timedelta(hours=2),
        "slots": 1,
        "skills": frozenset({Skill.REPAIRS}),
        "created_by": 2,
        "created_at": T0,
    }
    return ServiceTask(**(fields | kw))  # type: ignore[arg-type]


def test_a_task_is_offered_to_approved_volunteers_of_its_kind_with_a_wanted_skill() -> None:
    assert matches(_volunteer(), _task())
    assert matches(_volunteer(), _task(skills=frozenset()))  # no skill wanted: anyone
    assert not matches(_volunteer(status=VolunteerStatus.PENDING), _task())
    assert not matches(_volunteer(), _task(kind=ServiceType.REQUEST))
    assert not matches(_volunteer(), _task(skills=frozenset({Skill.LEGAL_AID})))


def test_service_hours_earn_the_rule_per_hour_and_a_bad_rule_is_named() -> None:
    table = parse_points({"rules": {}, "service": {"per_hour": 8}})
    assert table.for_service(1.5) == 12
    assert parse_points({"rules": {}}).for_service(3) == 0
    with pytest.raises(PointsError, match=r"rules\['service.per_hour'\]: points must be"):
        parse_points({"rules": {}, "service": {"per_hour": "ten"}})
    with pytest.raises(PointsError, match="service: unknown field 'per_day'"):
        parse_points({"rules": {}, "service": {"per_day": 1}})


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=0),
            photos=MemoryPhotoStore(),
            zone=SHANGHAI,
            clock=lambda: T0,
        )

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def setup(self, place: GeoPoint | None) -> tuple[Account, ServiceTask]:
        async with self.uow() as uow:
            await uow.regions.replace_map(MAP, replace=True)
            await self.env.maps.refresh(uow)
            c1 = await uow.regions.get("C1")
            assert c1 is not None
            admin, rider = [
                await uow.accounts.get_or_create(
                    platform="telegram",
                    platform_user_id=n,
                    chat_id=n,
                    display_name=n,
                    locale="en",
                )
                for n in ("admin", "rider")
            ]
            await uow.roles.grant(admin.id, RoleName.COMMUNITY_ADMIN, c1.id)
            await uow.volunteers.upsert(_volunteer(account_id=rider.id, community_id=c1.id))
            task = await uow.tasks.add(
                community_id=c1.id,
                title="修水管",
                kind=ServiceType.SKILL,
                starts_at=T0,
                ends_at=T0 + timedelta(hours=2),
                slots=1,
                skills=frozenset(),
                place=place,
                created_by=admin.id,
                created_at=T0,
            )
            assert (await volunteers.sign_up(uow, task.id, rider, now=T0)).refusal is None
            await uow.commit()
        return rider, task

    async def check_in(self, rider: Account, task: ServiceTask, where: GeoPoint) -> Refusal | None:
        async with self.uow() as uow:
            outcome = await volunteers.check_in(uow, self.env, task.id, rider, where, now=T0)
            await uow.commit()
        return outcome.refusal


def _north_of(point: GeoPoint, metres: float) -> GeoPoint:
    moved = geodesic(meters=metres).destination((point.lat, point.lon), bearing=0)
    return GeoPoint(lat=moved.latitude, lon=moved.longitude)


async def test_a_check_in_counts_within_the_radius_of_the_tasks_point_and_not_beyond() -> None:
    place = GeoPoint(lat=39.925, lon=119.52)
    world = World()
    rider, task = await world.setup(place)
    assert await world.check_in(rider, task, _north_of(place, CHECKIN_RADIUS_M + 20)) == (
        Refusal.TOO_FAR
    )
    assert await world.check_in(rider, task, _north_of(place, CHECKIN_RADIUS_M - 20)) is None
    assert await world.check_in(rider, task, place) is Refusal.ALREADY


async def test_a_check_in_at_a_community_task_is_judged_after_converting_the_phones_wgs84() -> None:
    # On the map (GCJ-02) C1 ends at 119.55. A phone just inside that line in GCJ-02 terms
    # reports a WGS-84 longitude some hundreds of metres further west, and the reverse: a
    # raw WGS-84 longitude of 119.549 lies in C2 once converted.
    world = World()
    rider, task = await world.setup(None)
    lat = 39.925
    raw_inside_but_really_c2 = GeoPoint(lat=lat, lon=119.549)
    assert await world.check_in(rider, task, raw_inside_but_really_c2) is Refusal.TOO_FAR
    really_c1 = gcj02_to_wgs84(lat, 119.549)
    assert await world.check_in(rider, task, GeoPoint(lat=really_c1[0], lon=really_c1[1])) is None
