"""Before the city's first `gridsnap map import` (production starts with no map): a location
sent to the bot is answered with one line in the user's language saying the map is not set
up yet, and what the user sent is kept — a report draft keeps its photo, a registration its
answers. Before, every such location ended in "Sorry, something went wrong".

A real ``Dispatcher`` with every flow over the in-memory store (``tests/chatkit.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat import Contact, FileRef, Kind, Location, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from tests.chatkit import RIDER_PHONE, ChatBot, approve_informant
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore
from tests.unit.test_consent_photos_not_kept_before_consent import CountingFiles

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
SOMEWHERE = Location(lat=39.915, lon=119.515)
NO_MAP = {
    "en": "The city's map is not set up yet, so reports cannot be routed; please try again later.",
    "zh_CN": "本市的地图尚未设置，上报暂时无法分派；请稍后再试。",
}
LANGUAGE_CODES = {"en": "en", "zh_CN": "zh-CN"}


def bot_without_map() -> ChatBot:
    store = FakeStore()
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=100),
        photos=MemoryPhotoStore(),
        clock=lambda: NOW,
    )
    return ChatBot(lambda: FakeUnitOfWork(store=store), env, fetchers={"telegram": CountingFiles()})


def texts(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [m.text for m in messages if m.text]


def rider(locale: str) -> User:
    name = f"rider-{locale}"
    return User(
        platform="telegram", user_id=name, chat_id=name, language_code=LANGUAGE_CODES[locale]
    )


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
async def test_a_location_for_a_report_is_answered_that_the_map_is_not_set_up_and_the_photo_kept(
    locale: str,
) -> None:
    bot, user = bot_without_map(), rider(locale)
    async with bot.make_uow() as uow:
        account = await uow.accounts.get_or_create(
            platform=user.platform,
            platform_user_id=user.user_id,
            chat_id=user.chat_id,
            display_name="Wang",
            locale=locale,
        )
        await approve_informant(uow, account.id, at=NOW)
        await uow.commit()
    await bot.send(user, Kind.PHOTO, photo=FileRef(file_id="f", size=20_000))

    said = texts(await bot.send(user, Kind.LOCATION, location=SOMEWHERE))

    assert said == [NO_MAP[locale]]
    async with bot.make_uow() as uow:
        draft = await uow.conversations.load(user.platform, user.user_id)
    assert draft is not None and draft.step == "location"
    assert len(draft.data["photos"]) == 1
    assert draft.data["loc"] is None


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
async def test_a_location_for_the_work_area_is_answered_that_the_map_is_not_set_up(
    locale: str,
) -> None:
    bot, user = bot_without_map(), rider(locale)
    await bot.command(user, "register")
    await bot.press(user, "reg:agree")
    await bot.text(user, "王小明")
    await bot.send(user, Kind.CONTACT, contact=Contact(phone=RIDER_PHONE, user_id=user.user_id))
    await bot.press(user, "reg:co:0")

    said = texts(await bot.send(user, Kind.LOCATION, location=SOMEWHERE))

    assert said == [NO_MAP[locale]]
    async with bot.make_uow() as uow:
        state = await uow.conversations.load(user.platform, user.user_id)
    assert state is not None and state.step == "area"
    assert state.data["name"] == "王小明"
    assert state.data["phone"] == RIDER_PHONE
