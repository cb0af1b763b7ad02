"""Nothing is stored before consent: a stranger's photo is not even fetched.

Before, the dispatcher downloaded, cleaned and stored every incoming photo (and its
thumbnail) before it knew who sent it; a stranger told "Only registered grid informants
can send reports" still left the photo in the photo store until the orphan sweep a week
later, while the decline message says only the chat id and language are kept. Now the
early check before the download also asks whether the sender has a basis for keeping data
(a consent, an informant registration or a staff role).

A real ``Dispatcher`` with every flow, fed real ``Incoming`` updates; the platform's file
download counts its calls and gives a real JPEG. ``tests/integration`` runs the same
``Bot`` on real SQLite and PostgreSQL with the real photo store.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from bot.chat import FileRef, Kind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, Report, ReportStatus, RoleName
from bot.services.env import Env, MapHolder, PhotoStorePort
from tests.chatkit import ChatBot, MakeUow, approve_informant, submit, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
STRANGER = User(platform="telegram", user_id="901", chat_id="901", language_code="en")
RIDER = User(platform="telegram", user_id="902", chat_id="902", language_code="en")
STAFF = User(platform="telegram", user_id="903", chat_id="903", language_code="en")
IN_G1 = GeoPoint(lat=39.915, lon=119.515)
NEEDS_AFTER_PHOTO = "C0101"
REFUSED = "Only registered grid informants can send reports. Send /register to sign up."
WHERE_IS_IT = "Where is it?"
MAP = [unit("C1", Level.COMMUNITY, None, 119.50), unit("G1", Level.GRID, "C1", 119.50)]


class CountingFiles:
    """The platform's file download: counts what it was asked for, gives a real JPEG."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        self.fetched.append(ref.file_id)
        rng = random.Random(len(self.fetched))
        small = Image.new("L", (8, 6))
        small.putdata([rng.choice((0, 255)) for _ in range(48)])
        out = io.BytesIO()
        small.resize((320, 240), Image.Resampling.NEAREST).convert("RGB").save(out, "JPEG")
        return out.getvalue()


class Bot:
    """Every flow over one store, as a freshly started bot process would run them; what it
    said, as texts."""

    def __init__(
        self, make_uow: MakeUow, photos: PhotoStorePort, *, open_reporting: bool = False
    ) -> None:
        self.make_uow = make_uow
        self.files = CountingFiles()
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=photos,
            clock=lambda: NOW,
            open_reporting=open_reporting,
        )
        self.chat = ChatBot(make_uow, self.env, fetchers={"telegram": self.files})

    async def seed_map(self) -> None:
        await self.chat.seed_map(MAP)

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[str]:
        return [m.text for m in await self.chat.send(user, kind, **fields) if m.text]

    async def photo(self, user: User) -> list[str]:
        return await self.send(user, Kind.PHOTO, photo=FileRef(file_id="f", size=20_000))

    async def press(self, user: User, data: str) -> list[str]:
        return [m.text for m in await self.chat.press(user, data) if m.text]

    async def approved_informant(self, user: User) -> None:
        async with self.make_uow() as uow:
            account = await uow.accounts.get_or_create(
                platform=user.platform,
                platform_user_id=user.user_id,
                chat_id=user.chat_id,
                display_name="Wang",
                locale="en",
            )
            await approve_informant(uow, account.id, at=NOW)
            await uow.commit()

    async def invite(self, token: str) -> None:
        async with self.make_uow() as uow:
            grid = await uow.regions.get("G1")
            assert grid is not None
            await uow.invites.create(
                token=token,
                role=RoleName.GRID_WORKER,
                region_id=grid.id,
                expires_at=NOW + timedelta(days=1),
            )
            await uow.commit()

    async def filed_report(self, reporter: User) -> Report:
        await self.approved_informant(reporter)
        reporter_id = await self.chat.account_id(reporter)
        async with self.make_uow() as uow:
            report = await submit(
                uow,
                self.env,
                reporter_id,
                category=NEEDS_AFTER_PHOTO,
                location=IN_G1,
                note="cover missing",
            )
            await uow.commit()
        return report

    async def report(self, report_id: int) -> Report:
        async with self.make_uow() as uow:
            found = await uow.reports.get(report_id)
        assert found is not None
        return found

    async def has_consent(self, user: User) -> bool:
        async with self.make_uow() as uow:
            account = await uow.accounts.find(user.platform, user.user_id)
        return account is not None and account.consent is not None


async def staff_resolves_with_an_after_photo(bot: Bot) -> Report:
    """A grid worker invited by deep link (a role, no consent) resolves a case with a photo."""
    await bot.seed_map()
    await bot.invite("tok")
    report = await bot.filed_report(RIDER)
    welcome = await bot.send(STAFF, Kind.COMMAND, command="start", payload="inv_tok", text="/start")
    assert any("You are now a grid worker" in t for t in welcome), welcome
    assert not await bot.has_consent(STAFF)
    await bot.press(STAFF, f"w:acc:{report.id}:{report.version}")
    await bot.press(STAFF, f"w:res:{report.id}:{(await bot.report(report.id)).version}")
    asked = await bot.send(STAFF, Kind.TEXT, text="replaced the cover")
    assert "Send a photo of the fixed problem." in asked
    await bot.photo(STAFF)
    return await bot.report(report.id)


def in_memory(*, open_reporting: bool = False) -> tuple[Bot, MemoryPhotoStore]:
    store, photos = FakeStore(), MemoryPhotoStore()
    bot = Bot(lambda: FakeUnitOfWork(store=store), photos, open_reporting=open_reporting)
    return bot, photos


async def test_a_strangers_photo_is_not_fetched_nor_kept_and_they_are_told_to_register() -> None:
    bot, photos = in_memory()
    await bot.seed_map()

    said = await bot.photo(STRANGER)

    assert said == [REFUSED]
    assert bot.files.fetched == []
    assert photos.saved == {}


async def test_someone_who_declined_consent_has_a_chat_but_their_photo_is_not_kept() -> None:
    bot, photos = in_memory()
    await bot.seed_map()
    await bot.send(STRANGER, Kind.COMMAND, command="register", text="/register")
    await bot.press(STRANGER, "reg:decline")

    said = await bot.photo(STRANGER)

    assert said == [REFUSED]
    assert (bot.files.fetched, photos.saved) == ([], {})


async def test_open_reporting_asks_consent_first_and_keeps_only_the_photo_sent_after_it() -> None:
    bot, photos = in_memory(open_reporting=True)
    await bot.seed_map()

    said = await bot.photo(STRANGER)

    assert any("Do you agree?" in t for t in said), said  # the consent screen
    assert (bot.files.fetched, photos.saved) == ([], {})
    thanked = await bot.press(STRANGER, "reg:agree")
    assert "Thank you. Now send the photo or the location of the problem." in thanked
    asked = await bot.photo(STRANGER)
    assert any(WHERE_IS_IT in t for t in asked), asked
    assert len(bot.files.fetched) == len(photos.saved) == 1


async def test_an_approved_informants_photo_is_kept_and_the_report_goes_on() -> None:
    bot, photos = in_memory()
    await bot.seed_map()
    await bot.approved_informant(RIDER)

    said = await bot.photo(RIDER)

    assert any(WHERE_IS_IT in t for t in said), said
    assert len(photos.saved) == 1


async def test_staff_invited_by_deep_link_without_consent_can_send_an_after_photo() -> None:
    bot, photos = in_memory()

    resolved = await staff_resolves_with_an_after_photo(bot)

    assert resolved.status is ReportStatus.RESOLVED
    [after] = resolved.photos
    assert after.kind == "after"
    assert after.sha256 in photos.saved
