"""Snap-and-report and /myreports, driven through the real Dispatcher on the in-memory store.

A rider sends real ``Incoming`` updates; photos are real JPEG bytes made here, run through
the real intake (fetched from memory instead of Telegram), and what the bot said is read
from the outbox, what it kept from the committed store.
"""

from __future__ import annotations

import io
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base

from bot.chat import FileRef, Incoming, Kind, Location, Outgoing, OutKind, Request, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    ConversationState,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    ReportStatus,
)
from bot.geo.crs import gcj02_to_wgs84
from bot.media.errors import RejectCode
from bot.services.env import Env, MapHolder
from handlers.dispatcher import Dispatcher
from handlers.report_ui import PHOTO_REFUSALS
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RIDER = User(platform="telegram", user_id="501", chat_id="501", language_code="en")
OTHER = User(platform="telegram", user_id="502", chat_id="502", language_code="en")
# WGS-84 points in grid G1 (squares are kilometres wide, so the GCJ-02 shift stays inside).
IN_G1 = Location(lat=39.925, lon=119.52)
NEXT_DOOR = Location(lat=39.9252, lon=119.5202)  # ≈ 30 m from IN_G1
IN_ITALY = Location(lat=41.9, lon=12.5)
GARBAGE = "0102"  # the most reported category: first on the first screen


def _square(x0: float, y0: float, size: float) -> dict[str, object]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _unit(code: str, name: str, level: Level, parent: str | None, x0: float, size: float):
    return MapUnit(
        code=code, name=name, level=level, parent_code=parent, geometry=_square(x0, 39.90, size)
    )


MAP = [
    _unit("D", "海港区", Level.DISTRICT, None, 119.50, 0.10),
    _unit("S1", "西港路街道", Level.STREET, "D", 119.50, 0.10),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1", 119.50, 0.05),
    _unit("C2", "西环社区", Level.COMMUNITY, "S1", 119.55, 0.05),
    _unit("G1", "东环一网格", Level.GRID, "C1", 119.50, 0.05),
    _unit("G2", "西环一网格", Level.GRID, "C2", 119.55, 0.05),
]


def jpeg(seed: int, exif: Image.Exif | None = None) -> bytes:
    """A 320×240 picture of random blocks: each seed a different scene (and perceptual hash)."""
    rng = random.Random(seed)
    small = Image.new("L", (8, 6))
    small.putdata([rng.choice((0, 255)) for _ in range(48)])
    picture = small.resize((320, 240), Image.Resampling.NEAREST).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def gps_exif(where: Location, taken: datetime) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[GPS.GPSLatitudeRef], gps[GPS.GPSLatitude] = "N", (where.lat, 0.0, 0.0)
    gps[GPS.GPSLongitudeRef], gps[GPS.GPSLongitude] = "E", (where.lon, 0.0, 0.0)
    exif.get_ifd(IFD.Exif).update(
        {
            Base.DateTimeOriginal: taken.strftime("%Y:%m:%d %H:%M:%S"),
            Base.OffsetTimeOriginal: "+00:00",
        }
    )
    return exif


class MemoryFiles:
    """The platform's file storage as the transport's fetcher sees it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return self.files[ref.file_id]


class Rider:
    """One rider talking to a bot whose state lives in ``store``."""

    def __init__(self, store: FakeStore, user: User = RIDER, *, open_reporting: bool = False):
        self.store, self.user, self.open_reporting = store, user, open_reporting
        self.ids = itertools.count(1)
        self.files = MemoryFiles()
        self.photos = MemoryPhotoStore()
        self.dispatcher = self.new_dispatcher()

    def new_dispatcher(self) -> Dispatcher:
        """A freshly started bot process: nothing in memory, only the stored state."""
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=self.photos,
            clock=lambda: NOW,
            open_reporting=self.open_reporting,
        )
        modules = ("common", "register", "report", "myreports")
        return dispatcher_on(self.store, env, modules=modules, fetchers={"telegram": self.files})

    @property
    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def send(self, kind: Kind, **fields: object) -> list[Outgoing]:
        update_id = f"{self.user.user_id}-{next(self.ids)}"
        update = Incoming(update_id=update_id, user=self.user, kind=kind, **fields)  # type: ignore[arg-type]
        return await deliver(self.dispatcher, self.store, update)

    async def command(self, name: str) -> list[Outgoing]:
        return await self.send(Kind.COMMAND, command=name, text=f"/{name}")

    async def text(self, text: str) -> list[Outgoing]:
        return await self.send(Kind.TEXT, text=text)

    async def press(self, data: str) -> list[Outgoing]:
        return await self.send(Kind.BUTTON, button_data=data, callback_id="cb", message_id="m1")

    async def location(self, where: Location) -> list[Outgoing]:
        return await self.send(Kind.LOCATION, location=where)

    async def photo(self, data: bytes, *, album: str | None = None) -> list[Outgoing]:
        ref = self._file(data)
        return await self.send(Kind.PHOTO, photo=ref, media_group_id=album)

    async def document(
        self, data: bytes, name: str = "IMG_0001.JPG", mime: str = "image/jpeg"
    ) -> list[Outgoing]:
        ref = self._file(data, name=name, mime=mime)
        return await self.send(Kind.DOCUMENT, document=ref)

    def _file(self, data: bytes, *, name: str | None = None, mime: str | None = None) -> FileRef:
        file_id = f"f{len(self.files.files)}"
        self.files.files[file_id] = data
        return FileRef(file_id=file_id, size=len(data), file_name=name, mime_type=mime)

    def state(self) -> ConversationState:
        key = (self.user.platform, self.user.user_id)
        return self.store.data.conversations.get(key, ConversationState())

    def step(self) -> str | None:
        return self.state().step

    def account_id(self) -> int:
        return next(
            a.id
            for a in self.store.data.accounts.values()
            if a.platform_user_id == self.user.user_id
        )

    async def register_as(self, status: InformantStatus) -> None:
        await self.command("help")  # creates the account
        async with self.uow as uow:
            await uow.informants.upsert(
                InformantProfile(
                    account_id=self.account_id(),
                    real_name="王小明",
                    phone="+8613800000000",
                    company="美团",
                    status=status,
                    home_region_id=None,
                    created_at=NOW,
                )
            )
            await uow.commit()

    async def to_confirmation(self, seed: int = 1, where: Location = IN_G1) -> list[Outgoing]:
        await self.photo(jpeg(seed))
        await self.location(where)
        await self.press(f"rep:cat:{GARBAGE}")
        return await self.press("rep:skip")


def texts(messages: list[Outgoing]) -> str:
    return "\n".join(m.text for m in messages if m.kind is OutKind.TEXT)


def alerts(messages: list[Outgoing]) -> str:
    return "\n".join(m.text for m in messages if m.kind is OutKind.ANSWER_BUTTON)


def button_data(messages: list[Outgoing]) -> list[str]:
    return [
        b.data or ""
        for m in messages
        if m.keyboard and m.keyboard.inline
        for row in m.keyboard.rows
        for b in row
    ]


def asks_for_location(messages: list[Outgoing]) -> bool:
    return any(m.request is not None and Request.LOCATION in m.request.wants for m in messages)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def rider(store: FakeStore) -> Rider:
    uow = FakeUnitOfWork(store=store)
    async with uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    rider = Rider(store)
    await rider.register_as(InformantStatus.APPROVED)
    return rider


async def _other_rider(store: FakeStore) -> Rider:
    other = Rider(store, OTHER)
    await other.register_as(InformantStatus.APPROVED)
    return other


# -- the happy paths -------------------------------------------------------------------


async def test_photo_then_location_then_three_taps_files_a_dispatched_report(rider):
    said = await rider.photo(jpeg(1))
    assert asks_for_location(said) and rider.step() == "location"
    said = await rider.location(IN_G1)
    assert f"rep:cat:{GARBAGE}" in button_data(said) and "rep:more" in button_data(said)
    await rider.press(f"rep:cat:{GARBAGE}")
    said = await rider.press("rep:skip")
    assert "东环一网格, 东环社区" in texts(said) and "1 photo" in texts(said)
    said = await rider.press("rep:submit")

    [report] = rider.store.data.reports.values()
    assert report.status is ReportStatus.DISPATCHED
    assert rider.store.data.regions[report.grid_id].code == "G1"
    assert len(report.photos) == 1 and report.category_code == GARBAGE
    assert f"No. {report.number}" in texts(said) and "within 1 hour" in texts(said)
    assert rider.state().flow is None
    actions = [e.action for e in rider.store.data.audit if e.report_id == report.id]
    assert actions == ["submit", "dispatch"]


async def test_the_report_number_carries_the_citys_calendar_day(rider):
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    assert report.number.startswith("261120-")  # 09:30 UTC is 17:30 in Shanghai, same day


async def test_location_first_then_photo_goes_straight_to_the_category(rider):
    said = await rider.location(IN_G1)
    assert "Now send a photo" in texts(said) and rider.step() == "photo"
    said = await rider.photo(jpeg(1))
    assert f"rep:cat:{GARBAGE}" in button_data(said)
    assert rider.step() == "category"


async def test_report_command_offers_the_location_button_and_asks_for_a_photo(rider):
    said = await rider.command("report")
    assert "Send a photo" in texts(said) and asks_for_location(said)
    assert rider.step() == "photo"


async def test_a_venue_serves_as_the_location(rider):
    await rider.photo(jpeg(1))
    await rider.location(Location(lat=IN_G1.lat, lon=IN_G1.lon, title="东环市场"))
    assert rider.step() == "category"


async def test_a_typed_note_is_kept_with_the_report(rider):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    await rider.press(f"rep:cat:{GARBAGE}")
    said = await rider.text("  behind the market gate  ")
    assert "Note: behind the market gate" in texts(said)
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    assert report.note == "behind the market gate"


async def test_more_shows_classes_and_a_class_shows_its_categories(rider):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    said = await rider.press("rep:more")
    classes = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert "rep:cls:04" in button_data(classes)
    said = await rider.press("rep:cls:04")
    assert "rep:cat:0403" in button_data(said) and "rep:more" in button_data(said)
    await rider.press("rep:cat:0403")
    assert rider.step() == "note"


async def test_edit_goes_back_to_the_category(rider):
    await rider.to_confirmation()
    await rider.press("rep:edit")
    assert rider.step() == "category"
    assert rider.state().data["cat"] is None


async def test_cancel_at_the_confirmation_files_nothing(rider):
    await rider.to_confirmation()
    said = await rider.press("rep:cancel")
    assert "Nothing was sent" in texts(said)
    assert rider.store.data.reports == {} and rider.state().flow is None


# -- photos ----------------------------------------------------------------------------


async def test_a_recent_photo_sent_as_a_file_with_gps_stands_in_for_the_location(rider):
    said = await rider.document(jpeg(1, gps_exif(IN_G1, NOW - timedelta(hours=2))))
    assert "location stored in the photo" in texts(said)
    assert not asks_for_location(said) and rider.step() == "category"


async def test_a_photo_file_taken_days_ago_does_not_stand_in_for_the_location(rider):
    said = await rider.document(jpeg(1, gps_exif(IN_G1, NOW - timedelta(days=3))))
    assert asks_for_location(said) and rider.step() == "location"


async def test_a_photo_file_located_abroad_is_not_used_and_the_rider_is_told(rider):
    said = await rider.document(jpeg(1, gps_exif(IN_ITALY, NOW - timedelta(hours=1))))
    assert "outside the service area" in texts(said)
    assert asks_for_location(said) and rider.step() == "location"


async def test_an_album_is_one_step_not_one_prompt_per_photo(rider):
    said = []
    for seed in (1, 2, 3):
        said += await rider.photo(jpeg(seed), album="album-1")
    assert sum(asks_for_location([m]) for m in said) == 1
    assert len(rider.state().data["photos"]) == 3


async def test_a_fourth_photo_is_refused(rider):
    for seed in (1, 2, 3):
        await rider.photo(jpeg(seed))
    said = await rider.photo(jpeg(4))
    assert "at most 3 photos" in texts(said)
    assert len(rider.state().data["photos"]) == 3


async def test_a_fourth_photo_of_an_album_is_refused_once(rider):
    said = []
    for seed in (1, 2, 3, 4, 5):
        said += await rider.photo(jpeg(seed), album="album-1")
    assert texts(said).count("at most 3 photos") == 1


async def test_a_file_that_is_not_a_photo_is_refused_and_starts_nothing(rider):
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    said = await rider.document(pdf, "a.pdf", "application/pdf")
    assert "not a photo" in texts(said)
    assert rider.step() is None


async def test_a_corrupt_jpeg_is_refused_with_its_own_reason(rider):
    said = await rider.document(jpeg(1)[:400])
    assert "damaged" in texts(said)


def test_every_intake_refusal_has_a_sentence_for_the_rider():
    assert {code.value for code in RejectCode} | {"download_failed"} <= set(PHOTO_REFUSALS)


# -- location --------------------------------------------------------------------------


async def test_a_location_outside_the_service_area_is_refused(rider):
    await rider.photo(jpeg(1))
    said = await rider.location(IN_ITALY)
    assert "outside the service area" in texts(said)
    assert rider.step() == "location" and rider.state().data["loc"] is None


async def test_a_first_location_outside_the_area_starts_nothing(rider):
    said = await rider.location(IN_ITALY)
    assert "outside the service area" in texts(said)
    assert rider.step() is None


async def test_a_point_just_outside_every_grid_says_it_goes_to_the_nearest_one(rider):
    lat, lon = gcj02_to_wgs84(39.925, 119.602)  # ≈ 170 m east of G2's eastern edge
    await rider.photo(jpeg(1))
    await rider.location(Location(lat=lat, lon=lon))
    await rider.press(f"rep:cat:{GARBAGE}")
    said = await rider.press("rep:skip")
    assert "西环一网格, 西环社区" in texts(said) and "nearest grid, 17" in texts(said)


# -- duplicates ------------------------------------------------------------------------


async def test_a_nearby_open_report_of_the_same_category_is_offered_and_following_it_files_nothing(
    rider, store
):
    other = await _other_rider(store)
    await other.to_confirmation(seed=7)
    await other.press("rep:submit")
    [first] = store.data.reports.values()

    said = await rider.to_confirmation(seed=1, where=NEXT_DOOR)
    assert f"No. {first.number}" in texts(said)
    assert f"rep:follow:{first.id}" in button_data(said)
    said = await rider.press(f"rep:follow:{first.id}")

    assert "No new report was filed" in texts(said)
    assert list(store.data.reports) == [first.id]
    assert (first.id, rider.account_id()) in store.data.subscriptions


async def test_a_different_problem_nearby_can_still_be_submitted(rider, store):
    other = await _other_rider(store)
    await other.to_confirmation(seed=7)
    await other.press("rep:submit")
    said = await rider.to_confirmation(seed=1, where=NEXT_DOOR)
    assert "rep:submit" in button_data(said)
    await rider.press("rep:submit")
    assert len(store.data.reports) == 2


async def test_the_same_photo_is_offered_as_a_duplicate_whatever_the_category(rider, store):
    other = await _other_rider(store)
    await other.photo(jpeg(9))
    await other.location(IN_G1)
    await other.press("rep:cat:0403")
    await other.press("rep:skip")
    await other.press("rep:submit")
    [first] = store.data.reports.values()
    said = await rider.to_confirmation(seed=9)
    assert f"rep:follow:{first.id}" in button_data(said)


# -- bad input -------------------------------------------------------------------------


async def test_a_forged_category_code_is_refused_with_a_message(rider):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    said = await rider.press("rep:cat:9999")
    assert "not valid" in alerts(said)
    assert rider.step() == "category" and rider.state().data["cat"] is None


@pytest.mark.parametrize("data", ["rep:explode", "rep:", "rep:cls:ZZ", "rep:cls:"])
async def test_forged_button_data_is_refused_not_raised(rider, data):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    said = await rider.press(data)
    assert "not valid" in alerts(said)
    assert "something went wrong" not in texts(said)
    assert rider.step() == "category"


@pytest.mark.parametrize("data", ["rep:follow:1", "rep:follow:x", "rep:follow:"])
async def test_following_a_report_that_was_not_offered_is_refused(rider, data):
    await rider.to_confirmation()
    said = await rider.press(data)
    assert "not valid" in alerts(said)
    assert rider.step() == "confirm" and rider.store.data.subscriptions == set()


async def test_a_button_from_an_earlier_step_has_expired(rider):
    await rider.to_confirmation()
    said = await rider.press(f"rep:cat:{GARBAGE}")
    assert "expired" in alerts(said) and rider.step() == "confirm"


async def test_start_in_the_middle_of_a_report_gets_the_mid_flow_answer_and_the_prompt(rider):
    await rider.photo(jpeg(1))
    said = await rider.command("start")
    assert "in the middle of something" in texts(said)
    assert asks_for_location(said) and rider.step() == "location"


async def test_typed_text_where_a_category_is_expected_reshows_the_categories(rider):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    said = await rider.text("garbage")
    assert f"rep:cat:{GARBAGE}" in button_data(said) and rider.step() == "category"


async def test_a_restart_mid_flow_resumes_where_the_rider_was(rider):
    await rider.photo(jpeg(1))
    await rider.location(IN_G1)
    rider.dispatcher = rider.new_dispatcher()
    await rider.press(f"rep:cat:{GARBAGE}")
    await rider.press("rep:skip")
    await rider.press("rep:submit")
    assert len(rider.store.data.reports) == 1


async def test_every_report_button_fits_telegrams_64_bytes(rider):
    said = await rider.photo(jpeg(1))
    said += await rider.location(IN_G1)
    said += await rider.press("rep:more")
    for cls in load_catalogue().by_class():
        said += await rider.press(f"rep:cls:{cls.code}")
    assert all(len(d.encode()) <= 64 for d in button_data(said))
    assert len(button_data(said)) > 30


# -- who may report --------------------------------------------------------------------


async def test_an_unregistered_rider_is_pointed_to_register(store):
    rider = Rider(store, User(platform="telegram", user_id="77", chat_id="77", language_code="en"))
    async with rider.uow as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    said = await rider.photo(jpeg(1))
    assert "/register" in texts(said) and rider.step() is None


async def test_a_pending_informant_is_told_to_wait(rider):
    async with rider.uow as uow:
        await uow.informants.decide(
            rider.account_id(), InformantStatus.PENDING, by=rider.account_id(), at=NOW
        )
        await uow.commit()
    said = await rider.command("report")
    assert "waiting for approval" in texts(said) and rider.step() is None


async def test_open_reporting_lets_anyone_submit(store):
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    rider = Rider(store, OTHER, open_reporting=True)
    await rider.command("report")  # the consent screen comes first (see the test below)
    await rider.press("reg:agree")
    await rider.to_confirmation()
    await rider.press("rep:submit")
    assert len(store.data.reports) == 1


async def test_open_reporting_asks_for_consent_before_keeping_a_location(store):
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    rider = Rider(store, OTHER, open_reporting=True)
    said = await rider.location(IN_G1)
    assert "Do you agree?" in texts(said)
    assert "loc" not in rider.state().data  # nothing of the location was kept
    said = await rider.press("reg:agree")
    assert "send the photo or the location" in texts(said) and rider.step() is None
    said = await rider.location(IN_G1)
    assert rider.state().data["loc"] is not None


# -- /myreports ------------------------------------------------------------------------


async def test_myreports_lists_reports_and_a_tap_shows_the_history(rider):
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    said = await rider.command("myreports")
    assert f"No. {report.number}" in texts(said) and "Exposed garbage" in texts(said)
    assert "Sent to the grid" in texts(said)
    said = await rider.press(f"my:{report.id}")
    assert "Submitted" in texts(said) and texts(said).count("Sent to the grid") == 2


async def test_the_reporter_can_withdraw_a_report_nobody_has_accepted(rider):
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = rider.store.data.reports.values()
    said = await rider.press(f"my:{report.id}")
    [withdraw] = [d for d in button_data(said) if d.startswith("my:w:")]
    said = await rider.press(withdraw)
    assert "withdrawn" in texts(said)
    assert rider.store.data.reports[report.id].status is ReportStatus.CANCELLED
    said = await rider.press(withdraw)  # the same button again: the case moved on
    assert "can no longer be withdrawn" in alerts(said)
    said = await rider.press(f"my:{report.id}")
    assert not [d for d in button_data(said) if d.startswith("my:w:")]


async def test_forged_withdraw_buttons_change_nothing(rider, store):
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = store.data.reports.values()
    other = await _other_rider(store)
    for data in (f"my:w:{report.id}:{report.version}", "my:w:abc:1", f"my:w:{report.id}:x"):
        said = await other.press(data)
        assert alerts(said) and texts(said) == ""
    assert store.data.reports[report.id].status is ReportStatus.DISPATCHED


async def test_myreports_with_no_reports_says_how_to_report(rider):
    said = await rider.command("myreports")
    assert "not sent any reports" in texts(said)


async def test_someone_elses_report_history_is_refused(rider, store):
    await rider.to_confirmation()
    await rider.press("rep:submit")
    [report] = store.data.reports.values()
    other = await _other_rider(store)
    for data in (f"my:{report.id}", "my:abc", "my:999"):
        said = await other.press(data)
        assert "not valid" in alerts(said) and texts(said) == ""


async def test_a_chinese_speaking_rider_is_answered_in_chinese(store):
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    user = User(platform="telegram", user_id="503", chat_id="503", language_code="zh-hans")
    rider = Rider(store, user, open_reporting=True)
    await rider.photo(jpeg(1))
    await rider.press("reg:agree")
    await rider.photo(jpeg(1))
    said = await rider.location(IN_G1)
    assert "请选择类别" in texts(said)
    labels = [b.text for m in said if m.keyboard for row in m.keyboard.rows for b in row]
    assert "暴露垃圾" in labels and "更多…" in labels


# -- one-tap repeats ---------------------------------------------------------------------


def reply_buttons(messages: list[Outgoing]) -> list[str]:
    """The ready-made replies a request offers (a reply keyboard's buttons on Telegram)."""
    return [option for m in messages if m.request for option in m.request.options]


async def test_the_next_report_offers_the_last_place_and_category_as_one_tap_each(rider):
    await rider.to_confirmation(seed=1)
    await rider.press("rep:submit")
    said = await rider.photo(jpeg(2))
    assert "↩️ Same place as last time" in reply_buttons(said)
    assert "Your last report was in 东环一网格." in texts(said)
    said = await rider.text("↩️ Same place as last time")
    assert rider.state().data["loc"] is not None and rider.step() == "category"
    # The last category leads the menu: one tap, then Skip and Submit.
    assert button_data(said)[0] == f"rep:cat:{GARBAGE}"


async def test_same_place_and_category_makes_a_report_of_a_photo_and_three_taps(rider):
    await rider.to_confirmation(seed=1)
    await rider.press("rep:submit")
    await rider.photo(jpeg(2))
    await rider.text("↩️ Same place and category as last time")  # tap 1
    assert rider.step() == "note"  # no category menu: straight to the note
    assert rider.state().data["cat"] == GARBAGE
    await rider.press("rep:skip")  # tap 2
    await rider.press("rep:submit")  # tap 3
    assert len(rider.store.data.reports) == 2


async def test_a_first_report_offers_no_last_place(rider):
    said = await rider.photo(jpeg(1))
    assert asks_for_location(said) and reply_buttons(said) == []
    said = await rider.text("↩️ Same place as last time")
    assert rider.step() == "location"  # asked again, nothing invented
