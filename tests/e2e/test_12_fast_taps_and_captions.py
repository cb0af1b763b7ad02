"""Issue 12 over real python-telegram-bot and the Bot API emulator: a rider's replies are not
held behind the per-chat pacing, and a photo's caption is the report's note.

The pacing test sets the per-chat limit to one message an hour: a bot that paced its replies
to the rider's own taps could answer only the first step, and ``expect`` would give up on the
second. No timing is measured; the test only asks whether each answer comes at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.config import Settings
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import (
    approved_informant,
    grid_codes,
    has_button,
    inline_buttons,
    jpeg,
    person,
    point_in,
    reports_of,
    start_app,
)

NUMBER = re.compile(r"\d{6}-\d{4}")
ONE_AN_HOUR = {"send_rate_per_chat": 1 / 3600, "send_burst_per_chat": 1}


def _filed(_: Callable[[str], str]) -> Callable[[Entry], bool]:
    head = _("Thank you! Your report No. {number} has been filed.").split("{")[0]
    return lambda entry: head in entry.text and bool(NUMBER.search(entry.text))


async def test_12_each_tap_of_a_report_is_answered_at_once_whatever_the_pacing_of_pushes(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> None:
    async with start_app(make_settings(**ONE_AN_HOUR)) as (app, _application):
        rider = person(emulator, first_name="Wang", language_code="en")
        await approved_informant(app, rider)
        lat, lon = point_in(app, (await grid_codes(app))[0])

        rider.photo(jpeg(1))
        await rider.expect(rider._("Where is it?"))
        rider.location(lat, lon)
        menu = await rider.expect(has_button("rep:cat:"))
        first = next(d for _t, d in inline_buttons(menu) if d.startswith("rep:cat:"))
        rider.press_data(menu, first)
        note = await rider.expect(has_button("rep:skip"))
        rider.press(note, rider._("Skip"))
        confirmation = await rider.expect(has_button("rep:submit"))
        rider.press(confirmation, rider._("Submit"))
        filed = await rider.expect(_filed(rider._))

        # In the order the steps were taken: each question before the answer it asks for.
        assert menu.message_id < note.message_id < confirmation.message_id < filed.message_id
        number = NUMBER.search(filed.text)
        assert number is not None
        assert [r.number for r in await reports_of(app, rider)] == [number.group()]


async def test_12_a_photo_with_a_caption_files_the_caption_as_the_note(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> None:
    async with start_app(make_settings()) as (app, _application):
        rider = person(emulator, first_name="Li", language_code="en")
        await approved_informant(app, rider)
        lat, lon = point_in(app, (await grid_codes(app))[1])

        rider._act()
        emulator.send_photo(rider.id, jpeg(2), caption="学校门口井盖丢了")
        await rider.expect(rider._("Where is it?"))
        rider.location(lat, lon)
        menu = await rider.expect(has_button("rep:cat:"))
        first = next(d for _t, d in inline_buttons(menu) if d.startswith("rep:cat:"))
        rider.press_data(menu, first)
        # No note is asked for: the caption is the note, shown on the confirmation.
        confirmation = await rider.expect(has_button("rep:submit"))
        assert "学校门口井盖丢了" in confirmation.text
        rider.press(confirmation, rider._("Submit"))
        await rider.expect(_filed(rider._))

        [report] = await reports_of(app, rider)
        assert report.note == "学校门口井盖丢了"
