"""Shared pieces of the end-to-end tests: the Bot API emulator, a running Gridsnap polling it
through real python-telegram-bot on a temporary SQLite database, and people to play.

A ``Person`` remembers where the chat stood when they last did something, so ``expect``
finds the bot's answer to *that* action (a new message or an edit), not an older message
that happens to match as well.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.ExifTags import GPS, IFD, Base

from bot.app import SAMPLE_MAP, Gridsnap, running
from bot.config import Settings, load_settings
from bot.domain.model import Account, Crs, Level, Report
from bot.geo.crs import converter
from bot.i18n import normalize, translator
from bot.services import informants
from bot.transports.emulator import BotApiEmulator, Entry

WAIT = 10.0  # seconds; a reply normally takes a few tens of milliseconds
REALWORLD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld"
PHOTOS = REALWORLD / "photos"
# Fast enough that no test waits on the per-chat limit; one test keeps the defaults.
QUICK_RATES: dict[str, Any] = {"send_rate_per_chat": 200.0, "send_burst_per_chat": 50}
Predicate = Callable[[Entry], bool]


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        yield emu


@pytest.fixture
def make_settings(tmp_path: Path, emulator: BotApiEmulator) -> Callable[..., Settings]:
    """Settings for an app on this test's SQLite file, talking to this test's emulator."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}",
            "photo_dir": tmp_path / "photos",
            "telegram_token": emulator.token,
            "telegram_api_url": emulator.url,
            **QUICK_RATES,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[Gridsnap]:
    async with running(make_settings(), sample_map=SAMPLE_MAP) as (gridsnap, _application):
        yield gridsnap


def start_app(settings: Settings) -> contextlib.AbstractAsyncContextManager[Any]:
    """For tests that stop and start the app themselves (a restart mid-flow). Like every
    e2e app, it routes on the sample map, given explicitly (only the sandbox loads it)."""
    return running(settings, sample_map=SAMPLE_MAP)


# -- people ----------------------------------------------------------------------------------


@dataclass
class Person:
    emu: BotApiEmulator
    user: dict[str, Any]
    mark: int = 0  # the emulator's change cursor when this person last acted
    locale: str = field(init=False)

    def __post_init__(self) -> None:
        self.locale = normalize(self.user.get("language_code"), "zh_CN")

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _(self, source: str) -> str:
        """What the bot says for ``source`` in this person's language."""
        return translator(self.locale)._(source)

    def _act(self) -> None:
        self.mark = self.emu.world.cursor

    def say(self, text: str) -> None:
        self._act()
        self.emu.send_text(self.id, text)

    def photo(self, data: bytes) -> None:
        self._act()
        self.emu.send_photo(self.id, data)

    def album(self, photos: list[bytes]) -> None:
        self._act()
        self.emu.send_album(self.id, photos)

    def document(self, data: bytes, *, file_name: str, mime_type: str | None = None) -> None:
        self._act()
        self.emu.send_document(self.id, data, file_name=file_name, mime_type=mime_type)

    def location(self, lat: float, lon: float) -> None:
        self._act()
        self.emu.send_location(self.id, lat, lon)

    def contact(self, phone: str, *, own: bool = True, contact_user_id: int | None = None) -> None:
        self._act()
        self.emu.send_contact(self.id, phone, own=own, contact_user_id=contact_user_id)

    def press(self, entry: Entry, label: str) -> str:
        """Press the inline button whose text contains ``label``; the callback query id."""
        matches = [data for text, data in inline_buttons(entry) if label in text]
        assert matches, f"no button {label!r} among {inline_buttons(entry)}"
        self._act()
        return self.emu.press(self.id, entry.message_id, matches[0])

    def press_data(self, entry: Entry, data: str, *, force: bool = False) -> str:
        self._act()
        return self.emu.press(self.id, entry.message_id, data, force=force)

    async def expect(
        self,
        predicate: Predicate | str | None = None,
        *,
        timeout: float = WAIT,  # noqa: ASYNC109 -- like wait_for_message: raises on expiry
    ) -> Entry:
        """The first bot message since this person last acted that matches; a string
        matches messages whose text or caption contains it."""
        check = _text_contains(predicate) if isinstance(predicate, str) else predicate
        return await self.emu.wait_for_message(self.id, check, timeout, since=self.mark)

    async def answer_to(
        self,
        query_id: str,
        *,
        timeout: float = WAIT,  # noqa: ASYNC109 -- asserts on expiry, like expect()
    ) -> dict[str, Any]:
        """What the bot answered to a button press (answerCallbackQuery's parameters)."""
        world = self.emu.world
        answer = await world.wait_until(lambda: world.callback_answers.get(query_id), timeout)
        assert answer is not None, f"button press {query_id} was never answered"
        return answer


def _text_contains(text: str) -> Predicate:
    return lambda entry: text in entry.text


def inline_buttons(entry: Entry) -> list[tuple[str, str]]:
    markup = entry.message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", [])
    return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


def has_button(prefix: str) -> Predicate:
    return lambda entry: any(data.startswith(prefix) for _text, data in inline_buttons(entry))


def person(emu: BotApiEmulator, *, first_name: str, language_code: str) -> Person:
    return Person(emu, emu.user(first_name=first_name, language_code=language_code))


# -- the world inside the app ----------------------------------------------------------------


async def grid_codes(app: Gridsnap) -> list[str]:
    async with app.uow_factory() as uow:
        _version, units = await uow.regions.load_units()
    return sorted(u.code for u in units if u.level is Level.GRID)


def point_in(app: Gridsnap, grid: str) -> tuple[float, float]:
    """A WGS-84 point (what a phone shares) well inside ``grid``."""
    gridmap = app.env.maps.current()
    inside = gridmap.geometry(grid).representative_point()
    lat, lon = converter(gridmap.crs, Crs.WGS84)(inside.y, inside.x)
    return lat, lon


async def account_of(app: Gridsnap, who: Person) -> Account:
    async with app.uow_factory() as uow:
        account = await uow.accounts.find("telegram", str(who.id))
    assert account is not None, f"{who.user['first_name']} has no account"
    return account


APPROVED = (
    "Your informant registration was approved. Send a photo of a hazard, "
    "or /report, to report it to the grid workers."
)


async def approved_informant(app: Gridsnap, who: Person) -> Account:
    """Register and approve ``who`` through the services; registration in chat has its own
    test. Waits for the approval message so later ``expect`` calls start after it."""
    account = await register_and_approve(
        app,
        platform="telegram",
        user_id=str(who.id),
        name=who.user["first_name"],
        locale=who.locale,
    )
    await who.expect(who._(APPROVED))
    who.mark = who.emu.world.cursor
    return account


async def register_and_approve(
    app: Gridsnap, *, platform: str, user_id: str, name: str, locale: str
) -> Account:
    """An approved informant account made through the services (the approval is queued)."""
    now = datetime.now(UTC)
    async with app.uow_factory() as uow:
        account = await uow.accounts.get_or_create(
            platform=platform,
            platform_user_id=user_id,
            chat_id=user_id,
            display_name=name,
            locale=locale,
        )
        application = informants.Application(
            real_name=name, phone="+8613800000000", company="美团", home_region_id=None
        )
        await informants.register(uow, account, application, now=now)
        await informants.approve(uow, account.id, by=account.id, now=now)
        await uow.commit()
    app.outbox.wake()
    return account


async def reports_of(app: Gridsnap, who: Person) -> list[Report]:
    account = await account_of(app, who)
    async with app.uow_factory() as uow:
        return list(await uow.reports.for_reporter(account.id))


# -- pictures --------------------------------------------------------------------------------


def jpeg(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A distinct noise photo per seed (distinct perceptual hashes, so no photo duplicates)."""
    out = io.BytesIO()
    Image.effect_noise(size, 30 + 7 * seed).convert("RGB").rotate(seed * 37).save(out, "JPEG")
    return out.getvalue()


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of ``width``×``height`` pixels in a few tens of kilobytes:
    every row is zeros, compressed row block by row block, never held whole in memory."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter type 0, then the packed pixels
    packer = zlib.compressobj(9)
    block = row * 1000
    body = b"".join(packer.compress(block) for _ in range(height // 1000))
    body += packer.compress(row * (height % 1000)) + packer.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def with_fresh_gps(original: Path, lat: float, lon: float, taken: datetime) -> bytes:
    """A real camera photo whose EXIF now says it was taken at ``taken`` at (lat, lon).

    The sample camera photos were taken in Italy years ago; Pillow rewrites just the GPS
    and time tags, the rest of the camera's EXIF stays."""
    image = Image.open(original)
    exif = image.getexif()
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.clear()
    gps.update(
        {
            GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
            GPS.GPSLatitude: _dms(abs(lat)),
            GPS.GPSLongitudeRef: "E" if lon >= 0 else "W",
            GPS.GPSLongitude: _dms(abs(lon)),
            GPS.GPSMapDatum: "WGS-84",
        }
    )
    details = exif.get_ifd(IFD.Exif)
    details[Base.DateTimeOriginal] = taken.strftime("%Y:%m:%d %H:%M:%S")
    details[Base.OffsetTimeOriginal] = taken.strftime("%z")[:3] + ":" + taken.strftime("%z")[3:]
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _dms(degrees: float) -> tuple[float, float, float]:
    # Round once, in hundredths of a second, so the seconds never round up to 60.
    hundredths = round(degrees * 360_000)
    whole, rest = divmod(hundredths, 360_000)
    minutes, seconds = divmod(rest, 6_000)
    return float(whole), float(minutes), seconds / 100
