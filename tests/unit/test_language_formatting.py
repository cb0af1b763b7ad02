"""Dates through Babel in the rider's language and the configured time zone: one instant,
23:30 UTC, is the next morning in Shanghai, and reads differently in Chinese and English."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chat import Incoming, Kind, OutKind, User
from bot.domain.categories import load_catalogue
from bot.i18n import translator
from bot.services.env import Env, MapHolder
from tests.fakes import FakeStore
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

LATE_EVENING_UTC = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("locale", "zone", "shown"),
    [
        ("zh_CN", SHANGHAI, "2026/11/21 07:30"),
        ("en", SHANGHAI, "11/21/26, 7:30\u202fAM"),
        ("zh_CN", ZoneInfo("UTC"), "2026/11/20 23:30"),
        ("en", ZoneInfo("UTC"), "11/20/26, 11:30\u202fPM"),
    ],
)
def test_one_instant_is_shown_in_the_language_and_zone_of_the_reader(locale, zone, shown):
    assert translator(locale, zone).datetime(LATE_EVENING_UTC) == shown


def test_a_long_date_is_spelled_the_way_each_language_writes_it():
    assert (
        translator("zh_CN", SHANGHAI)
        .datetime(LATE_EVENING_UTC, "long")
        .startswith("2026年11月21日")
    )
    assert (
        translator("en", SHANGHAI)
        .datetime(LATE_EVENING_UTC, "long")
        .startswith("November 21, 2026")
    )


async def _consent_time_in_mydata(language_code: str, zone: ZoneInfo) -> str:
    """What /mydata says about a consent given at 23:30 UTC, with the bot set to ``zone``."""
    store = FakeStore()
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=MemoryPhotoStore(),
        zone=zone,
        clock=lambda: LATE_EVENING_UTC,
    )
    dispatcher = dispatcher_on(store, env, modules=("common", "register"))
    user = User(platform="telegram", user_id="701", chat_id="701", language_code=language_code)
    ids = itertools.count(1)

    async def send(kind: Kind, **fields: object) -> str:
        update = Incoming(update_id=str(next(ids)), user=user, kind=kind, **fields)  # type: ignore[arg-type]
        said = await deliver(dispatcher, store, update)
        return "\n".join(m.text for m in said if m.kind is OutKind.TEXT)

    await send(Kind.COMMAND, command="register", text="/register")
    await send(Kind.BUTTON, button_data="reg:agree", callback_id="cb", message_id="m1")
    return await send(Kind.COMMAND, command="mydata", text="/mydata")


@pytest.mark.parametrize(
    ("language_code", "zone", "shown", "not_shown"),
    [
        ("zh-hans", SHANGHAI, "2026/11/21 07:30", "11/21/26"),
        ("en", SHANGHAI, "11/21/26, 7:30\u202fAM", "2026/11/21"),
        ("en", ZoneInfo("UTC"), "11/20/26, 11:30\u202fPM", "11/21/26"),
    ],
)
async def test_mydata_shows_the_consent_time_in_the_riders_language_and_the_bots_zone(
    language_code, zone, shown, not_shown
):
    said = await _consent_time_in_mydata(language_code, zone)
    assert shown in said
    assert not_shown not in said
