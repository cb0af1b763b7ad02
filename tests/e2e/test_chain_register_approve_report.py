"""Issue 3's whole chain in chat, over real python-telegram-bot and the Bot API emulator.

A new rider registers (consent → name → own contact → company → work area); the community
admin of that work area, bound through a staff invite deep link, gets the registration
alert and presses Approve; the rider is told, reports a hazard (photo, then location →
category → Skip → Submit) and gets a report number; the worker of the grid gets the alert.
Nobody is approved or bound behind the chat's back.
"""

from __future__ import annotations

import re

from bot.app import Gridsnap
from bot.domain.model import InformantStatus, RoleName
from bot.transports.emulator import BotApiEmulator
from tests.e2e.conftest import (
    Person,
    account_of,
    grid_codes,
    has_button,
    inline_buttons,
    jpeg,
    person,
    point_in,
    reports_of,
)
from tests.e2e.workers import bind_worker, community_of

NUMBER = re.compile(r"\d{6}-\d{4}")
PHONE = "+8613800001111"


async def _register_in_chat(rider: Person, where: tuple[float, float]) -> None:
    rider.say("/start")
    rider.press(await rider.expect(has_button("reg:agree")), rider._("Agree"))
    await rider.expect(rider._("What is your name?"))
    rider.say("王师傅")
    await rider.expect("type your phone number, or share it")
    rider.contact(PHONE)
    rider.press(await rider.expect(has_button("reg:co:")), "SF Express")  # stored as 顺丰
    await rider.expect("Where do you usually work?")
    rider.location(*where)
    summary = await rider.expect(has_button("reg:submit"))
    rider.press(summary, rider._("Submit"))
    await rider.expect("Your registration was sent")


async def _report_in_chat(rider: Person, where: tuple[float, float]) -> str:
    rider.photo(jpeg(31))
    await rider.expect("Where is it?")
    rider.location(*where)
    menu = await rider.expect(has_button("rep:cat:"))
    first = next(data for _text, data in inline_buttons(menu) if data.startswith("rep:cat:"))
    rider.press_data(menu, first)
    rider.press(await rider.expect(has_button("rep:skip")), rider._("Skip"))
    rider.press(await rider.expect(has_button("rep:submit")), rider._("Submit"))
    filed = await rider.expect(lambda e: "has been filed" in e.text and bool(NUMBER.search(e.text)))
    number = NUMBER.search(filed.text)
    assert number is not None
    return number.group()


async def test_a_new_rider_registers_is_approved_in_chat_by_the_admin_and_reports(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    admin = person(emulator, first_name="Zhou", language_code="zh-hans")
    worker = person(emulator, first_name="Li", language_code="en")
    grid = (await grid_codes(app))[0]
    community = await community_of(app, grid)
    await bind_worker(app, admin, community.code, role=RoleName.COMMUNITY_ADMIN)
    await bind_worker(app, worker, grid)
    where = point_in(app, grid)

    await _register_in_chat(rider, where)
    alert = await admin.expect(has_button("ia:ok:"))
    assert "王师傅" in alert.text and "顺丰" in alert.text and community.name in alert.text
    assert PHONE not in alert.text  # the phone stays with the application
    admin.press(alert, admin._("Approve"))
    await admin.expect(admin._("Approved: {name}.").format(name="王师傅"))
    await rider.expect("registration was approved")
    account = await account_of(app, rider)
    async with app.uow_factory() as uow:
        profile = await uow.informants.get(account.id)
    assert profile is not None and profile.status is InformantStatus.APPROVED

    number = await _report_in_chat(rider, where)
    [report] = await reports_of(app, rider)
    assert report.number == number
    worker_alert = await worker.expect(lambda e: number in e.text and has_button("w:acc:")(e))
    assert "photo" in worker_alert.message
