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
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

from bot.chat import FileRef, Incoming, Kind, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    Report,
    ReportStatus,
    RoleName,
)
from bot.services.env import Env, MapHolder, PhotoStorePort
from bot.services.ports import BaseUnitOfWork
from bot.services.reports import submit_report
from handlers.dispatcher import Dispatcher
from handlers.register import CONSENT_VERSION
from handlers.registry import collect
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


def _unit(code: str, level: Level, parent: str | None, x0: float) -> MapUnit:
    ring = [[x0, 39.90], [x0 + 0.03, 39.90], [x0 + 0.03, 39.93], [x0, 39.93]]
    return MapUnit(
        code=code,
        name=code,
        level=level,
        parent_code=parent,
        geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    )


MAP = [_unit("C1", Level.COMMUNITY, None, 119.50), _unit("G1", Level.GRID, "C1", 119.50)]


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
    """Every flow over one store, as a freshly started bot process would run them."""

    def __init__(
        self,
        make_uow: Callable[[], BaseUnitOfWork],
        photos: PhotoStorePort,
        *,
        open_reporting: bool = False,
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
        registry = collect()
        self.dispatcher = Dispatcher(
            uow_factory=make_uow,
            env=self.env,
            flows=registry.flows,
            commands=registry.commands,
            button_handlers=registry.buttons,
            fallback=registry.dispatch_fallback,
            fetchers={"telegram": self.files},
        )
        self.ids = itertools.count(1)

    async def seed_map(self) -> None:
        async with self.make_uow() as uow:
            await uow.regions.replace_map(MAP, replace=True)
            await self.env.maps.refresh(uow)
            await uow.commit()

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[str]:
        update = Incoming(update_id=str(next(self.ids)), user=user, kind=kind, **fields)
        await self.dispatcher.handle(update)
        return [m.text for m in await self.drain() if m.text]

    async def photo(self, user: User) -> list[str]:
        return await self.send(user, Kind.PHOTO, photo=FileRef(file_id="f", size=20_000))

    async def press(self, user: User, data: str) -> list[str]:
        return await self.send(user, Kind.BUTTON, button_data=data, callback_id="c", message_id="7")

    async def drain(self) -> list[Outgoing]:
        """What the outbox sender would send now, in order (one row per chat per claim)."""
        taken: list[tuple[int, Outgoing]] = []
        while True:
            async with self.make_uow() as uow:
                rows = await uow.outbox.claim(100, NOW + timedelta(days=30))
                for row in rows:
                    await uow.outbox.mark_sent(row.id, None)
                await uow.commit()
            if not rows:
                return [message for _id, message in sorted(taken, key=lambda pair: pair[0])]
            taken += [(row.id, row.message) for row in rows]

    async def approved_informant(self, user: User) -> None:
        async with self.make_uow() as uow:
            account = await uow.accounts.get_or_create(
                platform=user.platform,
                platform_user_id=user.user_id,
                chat_id=user.chat_id,
                display_name="Wang",
                locale="en",
            )
            await uow.accounts.record_consent(account.id, CONSENT_VERSION, NOW)
            await uow.informants.upsert(
                InformantProfile(
                    account_id=account.id,
                    real_name="王师傅",
                    phone="+8613800000000",
                    company="美团",
                    status=InformantStatus.APPROVED,
                    home_region_id=None,
                    created_at=NOW,
                )
            )
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
        async with self.make_uow() as uow:
            account = await uow.accounts.find(reporter.platform, reporter.user_id)
            assert account is not None
            report = await submit_report(
                uow,
                reporter=account.id,
                category_code=NEEDS_AFTER_PHOTO,
                location=IN_G1,
                photos=[],
                note="cover missing",
                now=NOW,
                catalogue=self.env.catalogue,
                gridmap=self.env.maps.current(),
                zone=self.env.zone,
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
