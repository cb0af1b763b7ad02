"""Issue 3: the report flow's first category menu shows what riders reported lately.

Driven through the real Dispatcher on the in-memory store. Earlier reports are stored
directly: the counts are city-wide, so only their categories and times matter.
"""

from __future__ import annotations

import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.chat import FileRef, Incoming, Kind, Location, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    ReportStatus,
)
from bot.services.env import Env, MapHolder
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RIDER = User(platform="telegram", user_id="601", chat_id="601", language_code="en")
IN_GRID = Location(lat=39.925, lon=119.52)
FIXED_TOP = ["0102", "0502", "0201", "C0101", "0403", "0404"]  # ranks 1-6 of the data file
BURST_PIPE = "0402"  # rank 27: never on the first screen by rank alone
VENDOR = "0501"  # rank 28
_SQUARE = [[119.5, 39.9], [119.6, 39.9], [119.6, 40.0], [119.5, 40.0], [119.5, 39.9]]
GRID = MapUnit(
    code="G1",
    name="一网格",
    level=Level.GRID,
    parent_code=None,
    geometry={"type": "Polygon", "coordinates": [_SQUARE]},
)


class MemoryFiles:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return self.files[ref.file_id]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


class Rider:
    def __init__(self, store: FakeStore) -> None:
        self.store, self.ids, self.files = store, itertools.count(1), MemoryFiles()
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        self.dispatcher = dispatcher_on(
            store, env, modules=("common", "report"), fetchers={"telegram": self.files}
        )

    async def send(self, kind: Kind, **fields: object) -> list[Outgoing]:
        update = Incoming(update_id=str(next(self.ids)), user=RIDER, kind=kind, **fields)  # type: ignore[arg-type]
        return await deliver(self.dispatcher, self.store, update)

    async def to_category_menu(self) -> list[Outgoing]:
        self.files.files["f1"] = data = jpeg()
        await self.send(Kind.PHOTO, photo=FileRef(file_id="f1", size=len(data)))
        return await self.send(Kind.LOCATION, location=IN_GRID)

    async def press(self, data: str) -> list[Outgoing]:
        return await self.send(Kind.BUTTON, button_data=data, callback_id="cb", message_id="m1")


def menu(messages: list[Outgoing]) -> list[str]:
    """The category codes on the last keyboard sent, in button order."""
    keyboard = next(m.keyboard for m in reversed(messages) if m.keyboard and m.keyboard.inline)
    data = [b.data or "" for row in keyboard.rows for b in row]
    return [d.removeprefix("rep:cat:") for d in data if d.startswith("rep:cat:")]


@pytest.fixture
async def rider() -> Rider:
    store = FakeStore()
    async with FakeUnitOfWork(store=store) as uow:
        await uow.regions.replace_map([GRID], replace=True)
        await uow.commit()
    rider = Rider(store)
    await rider.send(Kind.COMMAND, command="help", text="/help")  # creates the account
    account_id = next(iter(store.data.accounts))
    async with FakeUnitOfWork(store=store) as uow:
        await uow.informants.upsert(
            InformantProfile(
                account_id=account_id,
                real_name="王小明",
                phone="+8613800000000",
                company="美团",
                status=InformantStatus.APPROVED,
                home_region_id=None,
                created_at=NOW,
            )
        )
        await uow.commit()
    return rider


async def filed(
    store: FakeStore, category: str, times: int, *, days_ago: float, by_rider: bool = False
) -> None:
    """Reports by other riders of the city (``by_rider``: by the rider at the menu)."""
    async with FakeUnitOfWork(store=store) as uow:
        if by_rider:
            reporter = next(iter(store.data.accounts))
        else:
            other = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="other",
                chat_id="other",
                display_name="other",
                locale="zh_CN",
            )
            reporter = other.id
        for _ in range(times):
            await uow.reports.add(
                reporter_id=reporter,
                category_code=category,
                location=GeoPoint(lat=IN_GRID.lat, lon=IN_GRID.lon),
                grid_id=None,
                note="",
                status=ReportStatus.SUBMITTED,
                created_at=NOW - timedelta(days=days_ago),
            )
        await uow.commit()


async def test_with_no_reports_the_menu_is_the_fixed_top_list(rider: Rider) -> None:
    assert menu(await rider.to_category_menu()) == FIXED_TOP


async def test_a_category_reported_most_this_month_comes_first(rider: Rider) -> None:
    await filed(rider.store, BURST_PIPE, 3, days_ago=2)
    await filed(rider.store, "0102", 2, days_ago=1)
    assert menu(await rider.to_category_menu()) == [BURST_PIPE, *FIXED_TOP[:5]]


async def test_the_riders_own_last_category_comes_first(rider: Rider) -> None:
    await filed(rider.store, BURST_PIPE, 3, days_ago=2)
    await filed(rider.store, VENDOR, 1, days_ago=1, by_rider=True)
    assert menu(await rider.to_category_menu())[:2] == [VENDOR, BURST_PIPE]


async def test_reports_older_than_thirty_days_do_not_count(rider: Rider) -> None:
    await filed(rider.store, VENDOR, 5, days_ago=31)
    await filed(rider.store, BURST_PIPE, 1, days_ago=29)
    assert menu(await rider.to_category_menu()) == [BURST_PIPE, *FIXED_TOP[:5]]


async def test_back_from_more_shows_the_same_usage_order(rider: Rider) -> None:
    await filed(rider.store, BURST_PIPE, 2, days_ago=3)
    await rider.to_category_menu()
    await rider.press("rep:more")
    back = await rider.press("rep:top")
    assert [m.kind for m in back if m.keyboard] == [OutKind.EDIT_MARKUP]
    assert menu(back) == [BURST_PIPE, *FIXED_TOP[:5]]
