"""A rider writes in a group chat, over real python-telegram-bot and the Bot API emulator.

Any message in a group used to repoint the rider's account to the group: /mydata posted
their name and phone there, and every later status push followed. Now the group gets one
"talk to me privately" with a t.me deep link, whatever is written there afterwards, and the
rider's pushes keep going to their private chat.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import Gridsnap
from bot.domain.lifecycle import Action
from bot.domain.model import GeoPoint, RoleName
from bot.services import cases
from bot.services.reports import submit_report
from bot.transports.emulator import BotApiEmulator
from tests.e2e.conftest import WAIT, account_of, approved_informant, grid_codes, person, point_in

LINK = "https://t.me/gridsnap_bot?start=private"


async def test_a_group_gets_one_pointer_to_the_private_chat_and_pushes_stay_private(
    emulator: BotApiEmulator, app: Gridsnap
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    await approved_informant(app, rider)
    friend = person(emulator, first_name="Zhao", language_code="en")
    group = emulator.group(title="Haigang riders")["id"]

    emulator.send_text(rider.id, "/mydata", chat_id=group)
    pointer = await emulator.wait_for_message(group, lambda e: LINK in e.text, WAIT)
    assert "talk to me privately" in pointer.text
    emulator.send_text(rider.id, "anyone there?", chat_id=group)
    emulator.send_text(friend.id, "/start", chat_id=group)

    # A private message after them: each person's updates are handled in order, so once it
    # is answered the rider's group messages are handled too.
    rider.say("/mydata")
    mydata = await rider.expect("What we hold about you")
    assert "+8613800000000" in mydata.text
    friend.say("/help")
    await friend.expect("/register")  # /help for a newcomer (issue 12)
    assert [e.text for e in emulator.bot_messages(group)] == [pointer.text]
    assert "+8613800000000" not in pointer.text

    account = await account_of(app, rider)
    assert account.chat_id == str(rider.id)
    grid = (await grid_codes(app))[0]
    lat, lon = point_in(app, grid)
    now = datetime.now(UTC)
    async with app.uow_factory() as uow:
        worker = await uow.accounts.get_or_create(
            platform="telegram", platform_user_id="w1", chat_id="w1", display_name="Li", locale="en"
        )
        node = await uow.regions.get(grid)
        assert node is not None
        await uow.roles.grant(worker.id, RoleName.GRID_WORKER, node.id)
        report = await submit_report(
            uow,
            reporter=account.id,
            category_code="C0101",
            location=GeoPoint(lat=lat, lon=lon),
            photos=[],
            note="",
            now=now,
            catalogue=app.env.catalogue,
            gridmap=app.env.maps.current(),
            zone=app.env.zone,
        )
        accepted = await cases.act(
            uow, app.env, report_id=report.id, actor_account=worker, action=Action.ACCEPT
        )
        assert accepted.ok, accepted.refusal
        await uow.commit()
    app.outbox.wake()
    push = await rider.expect(lambda e: report.number in e.text and "accepted" in e.text)
    assert push.message["chat"]["id"] == rider.id
    assert [e.text for e in emulator.bot_messages(group)] == [pointer.text]
