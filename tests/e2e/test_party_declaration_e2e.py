"""Issue 9's party membership chain in chat, over real python-telegram-bot and the emulator.

The community's party organisation is bound through a ``party_secretary`` invite, a grid
worker and the community admin through theirs. A rider registers (and is approved by the
admin), declares membership with /party — its own consent first, then standing,
organisation, year and the offered work-area community — and the party secretary, who
reads Chinese, verifies it; the rider, who reads English, is told and turns the badge on.
The grid worker and the community admin never see the declaration: not in any message
they get, not by pressing a forged Verify, not in a report's alert; the admin's
/partystats gives counts only.
"""

from __future__ import annotations

from bot.app import Gridsnap
from bot.domain.model import RoleName
from bot.domain.party import DeclarationStatus
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import (
    Person,
    account_of,
    grid_codes,
    has_button,
    inline_buttons,
    person,
    point_in,
)
from tests.e2e.test_chain_register_approve_report import _register_in_chat, _report_in_chat
from tests.e2e.workers import bind_worker, community_of

ORGANISATION = "中共秦皇岛市顺丰速运第二支部"
YEAR = "1996"


async def _declare_in_chat(rider: Person, community: str) -> None:
    rider.say("/party")
    consent = await rider.expect(has_button("party:agree"))
    assert "only the party organisation of that community" in consent.text
    rider.press(consent, rider._("Agree"))
    rider.press(await rider.expect(has_button("party:st:")), rider._("Formal member"))
    await rider.expect("Which party organisation holds your membership?")
    rider.say(ORGANISATION)
    await rider.expect("In which year did you join the party?")
    rider.say(YEAR)
    offered = await rider.expect(has_button("party:comm:"))
    rider.press(offered, community)  # the work area's community, offered first
    summary = await rider.expect(has_button("party:submit"))
    assert ORGANISATION in summary.text and YEAR in summary.text
    rider.press(summary, rider._("Submit"))
    await rider.expect(f"sent to the party organisation of {community}")


def _everything_said_to(emulator: BotApiEmulator, who: Person) -> str:
    return "\n".join(e.text for e in emulator.world.entries(who.id))


async def test_a_rider_declares_the_party_secretary_verifies_and_case_staff_never_see_it(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    secretary = person(emulator, first_name="Zhao", language_code="zh-hans")
    admin = person(emulator, first_name="Chen", language_code="zh-hans")
    worker = person(emulator, first_name="Li", language_code="en")
    grid = (await grid_codes(app))[0]
    community = await community_of(app, grid)
    await bind_worker(app, secretary, community.code, role=RoleName.PARTY_SECRETARY)
    await bind_worker(app, admin, community.code, role=RoleName.COMMUNITY_ADMIN)
    await bind_worker(app, worker, grid)
    where = point_in(app, grid)

    await _register_in_chat(rider, where)
    admin.press(await admin.expect(has_button("ia:ok:")), admin._("Approve"))
    await rider.expect("registration was approved")

    await _declare_in_chat(rider, community.name)
    request = await secretary.expect(has_button("pmd:ok:"))
    verify = _verify_data(request)  # the press below takes the buttons away
    assert ORGANISATION in request.text and "王师傅" in request.text
    assert "正式党员" in request.text  # the secretary reads it in Chinese
    secretary.press(request, secretary._("Verify"))
    await secretary.expect(secretary._("Verified: {name}.").format(name="王师傅"))
    told = await rider.expect("Your party membership was verified")
    assert community.name in told.text
    account = await account_of(app, rider)
    async with app.uow_factory() as uow:
        stored = await uow.party.get(account.id)
    assert stored is not None and stored.status is DeclarationStatus.VERIFIED

    rider.say("/party")
    rider.press(await rider.expect(has_button("pms:badge:on")), rider._("Show my badge"))
    await rider.expect("Your badge is now shown")
    rider.say("/points")
    assert (await rider.expect("points")).text.startswith("🏅 Party member")

    # The community admin: a forged Verify is refused as if there were nothing to decide.
    admin.say("/partystats")
    counts = await admin.expect("已申报 1 人，已核实 1 人")
    assert ORGANISATION not in counts.text and "王师傅" not in counts.text
    forged = admin.press_data(counts, verify, force=True)
    assert (await admin.answer_to(forged))["text"] == admin._("This button is not valid.")

    # A report from the verified member reaches the worker without a trace of it.
    number = await _report_in_chat(rider, where)
    await worker.expect(lambda e: number in e.text and has_button("w:acc:")(e))
    worker.say(f"/case {number}")
    await worker.expect(number)
    for staff in (worker, admin):
        seen = _everything_said_to(emulator, staff)
        for giveaway in (ORGANISATION, YEAR, "🏅", "正式党员", "formal member"):
            assert giveaway not in seen, (staff.user["first_name"], giveaway)


def _verify_data(entry: Entry) -> str:
    return next(data for _text, data in inline_buttons(entry) if data.startswith("pmd:ok:"))
