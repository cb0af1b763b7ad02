"""The whole bot on the aiogram transport (``GRIDSNAP_TRANSPORT=aiogram``) against the Bot
API emulator: the same flows as on python-telegram-bot, untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from bot.app import SAMPLE_MAP, Gridsnap, running
from bot.config import Settings
from bot.transports.aiogram_transport import AiogramTransport
from bot.transports.emulator import BotApiEmulator
from tests.e2e.conftest import (
    approved_informant,
    grid_codes,
    has_button,
    inline_buttons,
    jpeg,
    person,
    point_in,
    reports_of,
)


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[Gridsnap]:
    async with running(make_settings(transport="aiogram"), sample_map=SAMPLE_MAP) as (
        gridsnap,
        transport,
    ):
        assert isinstance(transport, AiogramTransport)  # not PTB under another name
        yield gridsnap


async def test_start_is_answered_and_the_menu_is_set_per_language(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    rider.say("/start")
    consent = await rider.expect(has_button("reg:agree"))
    assert "What we collect" in consent.text
    english = {c["command"]: c["description"] for c in emulator.commands("en")}
    chinese = {c["command"]: c["description"] for c in emulator.commands("zh")}
    assert "start" in english and english.keys() == chinese.keys()
    assert english["start"] != chinese["start"]
    # Other languages are answered in the default locale (zh_CN), so their menu is Chinese too.
    assert emulator.commands() == emulator.commands("zh")


async def test_a_photo_then_a_location_brings_the_category_buttons_and_files_a_report(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    await approved_informant(app, rider)
    lat, lon = point_in(app, (await grid_codes(app))[0])
    rider.photo(jpeg(1))
    await rider.expect("Where is it?")
    rider.location(lat, lon)
    menu = await rider.expect(has_button("rep:cat:"))
    categories = [data for _text, data in inline_buttons(menu) if data.startswith("rep:cat:")]
    assert len(categories) > 1
    rider.press_data(menu, categories[0])
    note = await rider.expect(has_button("rep:skip"))
    rider.press(note, rider._("Skip"))
    confirmation = await rider.expect(has_button("rep:submit"))
    rider.press(confirmation, rider._("Submit"))
    thanks = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    filed = await rider.expect(lambda entry: thanks in entry.text)
    [report] = await reports_of(app, rider)
    assert report.number in filed.text
    assert len(report.photos) == 1  # downloaded through the aiogram fetcher
    assert report.location.lat == pytest.approx(lat) and report.location.lon == pytest.approx(lon)


async def test_an_album_is_one_report_asked_for_its_place_once(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Liu", language_code="en")
    await approved_informant(app, rider)
    rider.album([jpeg(3), jpeg(4), jpeg(5)])
    await rider.expect("Where is it?")
    rider.location(*point_in(app, (await grid_codes(app))[1]))
    await rider.expect(has_button("rep:cat:"))
    asked = [e for e in emulator.bot_messages(rider.id) if "Where is it?" in e.text]
    assert len(asked) == 1
