"""What grid staff see in chat, on real SQLite and PostgreSQL: /queue, /case, the routed
alert, a registration reaching its community admin, the returned-cases list, escalations in
a case's history.

Every step is a real ``Incoming`` through the real Dispatcher and flows; what the bot said
is read back from the outbox as the sender would take it. The clock is the test's.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import ExifTags, Image

from bot.chat import Contact, FileRef, Kind, Location, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    GeoPoint,
    InformantStatus,
    Level,
    MapUnit,
    Report,
    ReportStatus,
    RoleName,
)
from bot.i18n import translator
from bot.services.alerts import alert_new_report
from bot.services.env import Env, MapHolder
from bot.services.escalation import EscalationPolicy, sweep
from bot.services.reports import follow
from storage.photos import PhotoStore
from tests.chatkit import RIDER_PHONE, ChatBot, MakeUow, approve_informant, square, submit

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
GARBAGE = "0102"  # Exposed garbage / 暴露垃圾: accept within 60 min, resolve within 240
IN_G1 = Location(lat=39.925, lon=119.52)
PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "photos"
CAMERA_JPEG = PHOTOS / "gps" / "DSCN0010.jpg"  # carries GPS EXIF the alert must not
MAP = [
    MapUnit(code="S1", name="西港路街道", level=Level.STREET, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="C1", name="东环社区", level=Level.COMMUNITY, parent_code="S1",
            geometry=square(119.50, 0.10)),
    MapUnit(code="G1", name="东环一网格", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
    MapUnit(code="G2", name="东环二网格", level=Level.GRID, parent_code="C1",
            geometry=square(119.55, 0.05)),
]  # fmt: skip


class PlatformFiles:
    """The platform's file storage as the transport's fetcher sees it: one real camera JPEG."""

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return CAMERA_JPEG.read_bytes()


class Town(ChatBot):
    """A bot process over one real database, and the people who talk to it."""

    def __init__(self, make_uow: MakeUow, photo_dir: Path) -> None:
        self.photos = PhotoStore(photo_dir)
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=self.photos,
            zone=SHANGHAI,
            clock=lambda: NOW,
        )
        super().__init__(make_uow, env, fetchers={"telegram": PlatformFiles()})

    async def person(
        self,
        name: str,
        role: RoleName | None = None,
        region: str = "G1",
        *,
        locale: str = "en",
        informant: bool = False,
    ) -> User:
        """An account (with ``role`` on ``region``, or an approved informant with a phone)."""
        user = await super().person(name, role, region, locale=locale)
        if informant:
            account_id = await self.account_id(user)
            async with self.make_uow() as uow:
                node = await uow.regions.get(region)
                assert node is not None
                await uow.accounts.set_phone(account_id, RIDER_PHONE)
                await approve_informant(
                    uow, account_id, at=NOW, real_name="王小明", home_region_id=node.id
                )
                await uow.commit()
        return dataclasses.replace(user, language_code=locale.replace("_", "-"))

    async def filed(self, rider: User, *, note: str = "bags piled by the gate") -> Report:
        """A report filed and alerted as the report flow files it, at ``NOW``."""
        reporter = await self.account_id(rider)
        async with self.make_uow() as uow:
            location = GeoPoint(lat=IN_G1.lat, lon=IN_G1.lon)
            report = await submit(
                uow, self.env, reporter, category=GARBAGE, location=location, note=note
            )
            await alert_new_report(uow, self.env, report)
            await uow.commit()
        await self.drain()
        return report

    async def case(
        self,
        rider: User,
        *,
        grid: str = "G1",
        status: ReportStatus = ReportStatus.DISPATCHED,
        ack_due: datetime | None = None,
        resolve_due: datetime | None = None,
    ) -> Report:
        """A case stored as it stands after its own history (no alert, no events)."""
        reporter = await self.account_id(rider)
        async with self.make_uow() as uow:
            node = await uow.regions.get(grid)
            assert node is not None
            report = await uow.reports.add(
                reporter_id=reporter,
                category_code=GARBAGE,
                location=GeoPoint(lat=IN_G1.lat, lon=IN_G1.lon),
                grid_id=node.id,
                note="",
                status=status,
                created_at=NOW - timedelta(hours=6),
                ack_due_at=ack_due,
                resolve_due_at=resolve_due,
            )
            await uow.commit()
        return report


def to(user: User, said: list[Outgoing], kind: OutKind | None = None) -> list[Outgoing]:
    return [m for m in said if m.chat_id == user.chat_id and kind in (None, m.kind)]


def button_data(message: Outgoing) -> list[str]:
    rows = message.keyboard.rows if message.keyboard else ()
    return [b.data or "" for row in rows for b in row]


@pytest.fixture
async def town(make_uow: MakeUow, tmp_path: Path) -> Town:
    town = Town(make_uow, tmp_path / "photos")
    await town.seed_map(MAP)
    return town


# -- /queue -----------------------------------------------------------------------------


async def test_queue_lists_the_workers_open_cases_overdue_first(town: Town) -> None:
    worker = await town.person("w1", RoleName.GRID_WORKER)
    rider = await town.person("rider", informant=True)
    hour = timedelta(hours=1)
    # Stored in an order unlike the expected one, so an unsorted listing fails.
    in_time = await town.case(rider, ack_due=NOW + hour, resolve_due=NOW + 4 * hour)
    awaiting_rider = await town.case(rider, status=ReportStatus.RESOLVED, resolve_due=NOW - hour)
    late_accept = await town.case(rider, ack_due=NOW - hour / 6, resolve_due=NOW + 3 * hour)
    late_fix = await town.case(rider, status=ReportStatus.ACCEPTED, resolve_due=NOW - 2 * hour)
    await town.case(rider, grid="G2", ack_due=NOW - hour)  # another grid's
    await town.case(rider, status=ReportStatus.CLOSED, resolve_due=NOW - hour)  # finished

    [listing] = await town.command(worker, "queue")

    t = translator("en", SHANGHAI)
    lines = listing.text.splitlines()
    assert lines[0] == "Open cases: 4"
    shown = [late_fix, late_accept, in_time, awaiting_rider]
    assert [line.split()[1] for line in lines[1:]] == [r.number for r in shown]
    assert lines[1].endswith(f"accepted — OVERDUE since {t.datetime(NOW - 2 * hour)}")
    assert lines[2].endswith(f"waiting to be accepted — OVERDUE since {t.datetime(NOW - hour / 6)}")
    assert lines[3].endswith(f"waiting to be accepted — due {t.datetime(NOW + hour)}")
    # Resolved and waiting for the rider: nothing left for the worker to be late with.
    assert lines[4].endswith("— resolved")
    assert all("Exposed garbage" in line for line in lines[1:])
    assert button_data(listing) == [f"w:open:{r.id}" for r in shown]


async def test_queue_is_for_staff_only(town: Town) -> None:
    rider = await town.person("rider", informant=True)
    await town.case(rider, ack_due=NOW)
    [answer] = await town.command(rider, "queue")
    assert answer.text == "/queue is for grid staff." and answer.keyboard is None


# -- /case ------------------------------------------------------------------------------


async def test_case_is_shown_in_full_to_staff_in_scope(town: Town) -> None:
    rider = await town.person("rider", informant=True)
    follower = await town.person("follower", informant=True)
    worker = await town.person("w1", RoleName.GRID_WORKER)
    admin = await town.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    report = await town.filed(rider)
    follower_id = await town.account_id(follower)
    async with town.make_uow() as uow:
        await follow(uow, report.id, follower_id)
        await uow.commit()

    for user in (worker, admin):  # riders get the /myreports view: test_case_view_audiences
        [shown] = await town.command(user, "case", report.number)
        lines = shown.text.splitlines()
        assert lines[:3] == [
            f"Case {report.number}: Exposed garbage",
            "Status: waiting to be accepted",
            "Note: bags piled by the gate",
        ], user.user_id
        assert "submitted" in lines[4] and "dispatched to the grid" in lines[5]
    [for_worker] = await town.command(worker, "case", report.number)
    assert f"w:acc:{report.id}:{report.version}" in button_data(for_worker)


async def test_case_is_refused_alike_to_strangers_and_for_unknown_numbers(town: Town) -> None:
    rider = await town.person("rider", informant=True)
    stranger = await town.person("stranger", informant=True)
    other_grid = await town.person("w2", RoleName.GRID_WORKER, "G2")
    report = await town.filed(rider, note="secret gate code 4711")

    for user in (stranger, other_grid):
        [refused] = await town.command(user, "case", report.number)
        assert refused.text == f"No case {report.number} that you can see.", user.user_id
        assert refused.keyboard is None
        assert "4711" not in refused.text and "garbage" not in refused.text
    [unknown] = await town.command(stranger, "case", "261126-9999")
    assert unknown.text == "No case 261126-9999 that you can see."
    [pressed] = await town.press(stranger, f"w:open:{report.id}")
    assert pressed.kind is OutKind.ANSWER_BUTTON and pressed.alert
    assert pressed.text == "You cannot see this case."


# -- the routed alert ---------------------------------------------------------------------


async def _report_through_the_flow(town: Town, rider: User, note: str) -> Report:
    await town.send(rider, Kind.PHOTO, photo=FileRef(file_id="p1", size=100_000))
    await town.send(rider, Kind.LOCATION, location=IN_G1)
    await town.press(rider, f"rep:cat:{GARBAGE}")
    await town.text(rider, note)
    await town.press(rider, "rep:submit")
    rider_id = await town.account_id(rider)
    async with town.make_uow() as uow:
        [report] = await uow.reports.for_reporter(rider_id)
    assert report.status is ReportStatus.DISPATCHED
    return report


@pytest.mark.parametrize(
    ("locale", "category", "lines"),
    [
        (
            "en",
            "Exposed garbage",
            ("New report {number}: ", "Grid: 东环一网格 (东环社区, 西港路街道)", "Where: ",
             "Note: {note}", "Accept by: {ack}", "Resolve by: {fix}",
             "Reported by: Wang rider", "Map of report {number}\n东环一网格"),
        ),
        (
            "zh_CN",
            "暴露垃圾",
            ("新案件 {number}：", "网格：东环一网格（东环社区，西港路街道）", "位置：",
             "说明：{note}", "接单时限：{ack}", "办结时限：{fix}",
             "上报人：Wang rider", "案件 {number} 位置图\n东环一网格"),
        ),
    ],
)  # fmt: skip
async def test_the_worker_alert_carries_the_case_in_the_workers_language(
    town: Town, locale: str, category: str, lines: tuple[str, ...]
) -> None:
    worker = await town.person("worker", RoleName.GRID_WORKER, locale=locale)
    rider = await town.person("Wang rider", informant=True)
    note = "bags piled by the market gate"
    report = await _report_through_the_flow(town, rider, note)

    main, pin, map_image = to(worker, town.outbox)
    t = translator(locale, SHANGHAI)
    assert report.ack_due_at is not None and report.resolve_due_at is not None
    values = {
        "number": report.number,
        "note": note,
        "ack": t.datetime(report.ack_due_at),
        "fix": t.datetime(report.resolve_due_at),
    }
    header, grid, where, *expected = [line.format(**values) for line in lines]
    caption = expected.pop()
    assert main.kind is OutKind.PHOTO
    said = main.text.splitlines()
    # Which grid, with its community and street, then where in it (in words, from the map).
    assert said[:2] == [header + category, grid] and said[2].startswith(where)
    assert "东环社区" in said[2]
    assert said[3:] == expected
    assert f"w:acc:{report.id}:{report.version}" in button_data(main)
    assert main.photo is not None and _gps_of(town.photos.get(main.photo)) == {}
    assert pin.kind is OutKind.LOCATION and pin.location is not None
    assert (pin.location.lat, pin.location.lon) == (report.location.lat, report.location.lon)
    assert map_image.kind is OutKind.PHOTO and map_image.text == caption
    assert map_image.photo is not None
    with Image.open(io.BytesIO(town.photos.get(map_image.photo))) as drawn:
        assert drawn.format == "PNG"
    everything = " ".join(m.text for m in to(worker, town.outbox))
    assert RIDER_PHONE not in everything and "王小明" not in everything  # display name only


def _gps_of(jpeg: bytes) -> dict[int, Any]:
    with Image.open(io.BytesIO(jpeg)) as image:
        return dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def test_the_camera_photo_does_carry_gps() -> None:
    # Otherwise the metadata-free check above could not fail.
    assert _gps_of(CAMERA_JPEG.read_bytes())


# -- community admins ---------------------------------------------------------------------


async def test_a_registration_asks_the_community_admin_to_approve_or_reject(town: Town) -> None:
    admin = await town.person("admin", RoleName.COMMUNITY_ADMIN, "C1", locale="zh_CN")
    street = await town.person("street", RoleName.STREET_ADMIN, "S1")
    rider = User(platform="telegram", user_id="r9", chat_id="r9", language_code="en")
    await town.command(rider, "register")
    await town.press(rider, "reg:agree")
    await town.text(rider, "李师傅")
    await town.send(rider, Kind.CONTACT, contact=Contact(phone=RIDER_PHONE, user_id="r9"))
    await town.press(rider, "reg:co:1")
    await town.send(rider, Kind.LOCATION, location=IN_G1)
    said = await town.press(rider, "reg:submit")

    rider_id = await town.account_id(rider)
    [asked] = to(admin, said)
    assert "东环社区" in asked.text and "李师傅" in asked.text and "饿了么" in asked.text
    assert RIDER_PHONE not in asked.text
    assert button_data(asked) == [f"ia:ok:{rider_id}", f"ia:no:{rider_id}"]
    assert asked.keyboard is not None
    assert [b.text for row in asked.keyboard.rows for b in row] == ["批准", "拒绝"]
    assert to(street, said) == []  # the community's own admin decides
    await town.press(admin, f"ia:ok:{rider_id}")
    async with town.make_uow() as uow:
        profile = await uow.informants.get(rider_id)
    assert profile is not None and profile.status is InformantStatus.APPROVED


async def test_the_community_admin_rejects_a_returned_case_from_the_list(town: Town) -> None:
    worker = await town.person("w1", RoleName.GRID_WORKER)
    admin = await town.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    rider = await town.person("rider", informant=True)
    report = await town.filed(rider)
    await town.press(worker, f"w:ret:{report.id}:{report.version}")  # the reasons
    await town.press(worker, f"w:rr:{report.id}:{report.version}:grid")
    assert (await town.stored(report)).status is ReportStatus.RETURNED

    listing = await town.command(admin, "returned")
    entry = listing[-1]
    assert entry.text.startswith(report.number) and "Reason: Not this grid" in entry.text
    reject = button_data(entry)[-1]
    assert reject == f"ra:rj:{report.id}"
    said = await town.press(admin, reject)

    assert (await town.stored(report)).status is ReportStatus.REJECTED
    answer, unmarked, done = to(admin, said)
    assert answer.kind is OutKind.ANSWER_BUTTON and not answer.alert
    assert unmarked.kind is OutKind.EDIT_MARKUP and unmarked.keyboard is None
    assert done.text == f"Report {report.number} rejected."
    [told] = to(rider, said)
    assert f"Report {report.number} (Exposed garbage) was rejected." in told.text
    assert "Reason: Rejected after review" in told.text


# -- escalations in a case's history ------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "escalated", "ack", "fix"),
    [
        ("en", "escalated — system", "not accepted by its deadline",
         "not resolved by its deadline"),
        ("zh_CN", "已督办升级 — 系统", "未在时限内接单", "未在时限内办结"),
    ],
)  # fmt: skip
async def test_escalations_read_as_text_in_the_case_history(
    town: Town, locale: str, escalated: str, ack: str, fix: str
) -> None:
    worker = await town.person("worker", RoleName.GRID_WORKER, locale=locale)
    rider = await town.person("rider", informant=True)
    report = await town.filed(rider)
    assert report.resolve_due_at is not None
    await sweep(town.make_uow, town.env, report.resolve_due_at, policy=EscalationPolicy())
    await town.drain()

    [shown] = await town.command(worker, "case", report.number)
    lines = shown.text.splitlines()
    found = [line.split(f" {escalated}: ", 1)[1] for line in lines if f" {escalated}: " in line]
    assert found == [ack, ack, fix]  # the grid reminded, its leaders told, the street told
    assert "overdue" not in shown.text
