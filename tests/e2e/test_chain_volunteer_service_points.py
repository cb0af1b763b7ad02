"""Issue 9's volunteer half in chat, over real python-telegram-bot and the Bot API emulator.

An approved rider registers for volunteer service (双报到) with their community; the
community admin (speaking Chinese) approves, publishes a service task at a place they share
from their phone, the rider gets the offer, signs up with one tap, checks in by sharing a
location 30 m away during the window, the admin confirms the hours, the rider gets points
on the ledger, and ``/rank`` shows them on their community's and street's boards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import Gridsnap
from bot.domain.model import Level, RoleName
from bot.domain.points import default_points
from bot.domain.volunteer import SignupStatus, VolunteerStatus
from bot.transports.emulator import BotApiEmulator
from handlers.register import CONSENT_VERSION
from tests.e2e.conftest import (
    account_of,
    approved_informant,
    grid_codes,
    has_button,
    inline_buttons,
    person,
    point_in,
)
from tests.e2e.workers import bind_worker


def _window(app: Gridsnap) -> tuple[str, float]:
    """A window open now, as an admin types it, and its length in hours."""
    start = datetime.now(UTC).astimezone(app.env.zone).replace(second=0, microsecond=0)
    end = start + timedelta(hours=1)
    if end.date() != start.date():  # the typed form is one day's hours
        end = start.replace(hour=23, minute=59)
    text = f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}"
    return text, (end - start).total_seconds() / 3600


async def test_a_rider_volunteers_is_approved_serves_a_task_and_ranks_with_the_points(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    admin = person(emulator, first_name="Chen", language_code="zh-hans")
    grid = (await grid_codes(app))[0]
    async with app.uow_factory() as uow:
        node = await uow.regions.get(grid)
        assert node is not None
        chain = await uow.regions.ancestors(node.id)
    [community] = [n for n in chain if n.level is Level.COMMUNITY]
    [street] = [n for n in chain if n.level is Level.STREET]
    await bind_worker(app, admin, community.code, role=RoleName.COMMUNITY_ADMIN)
    account = await approved_informant(app, rider)
    async with app.uow_factory() as uow:  # the informant registration's consent
        await uow.accounts.record_consent(account.id, CONSENT_VERSION, datetime.now(UTC))
        await uow.commit()

    # The rider registers with the community's service centre.
    rider.say("/volunteer")
    rider.press_data(await rider.expect(has_button("vol:street:")), f"vol:street:{street.id}")
    rider.press_data(await rider.expect(has_button("vol:comm:")), f"vol:comm:{community.id}")
    skills = await rider.expect(has_button("vol:sk:"))
    rider.press_data(skills, "vol:sk:first_aid")
    rider.press_data(skills, "vol:next")
    services = await rider.expect(has_button("vol:sv:"))
    rider.press_data(services, "vol:sv:volunteer")
    rider.press_data(services, "vol:next")
    slots = await rider.expect(has_button("vol:sl:"))
    rider.press_data(slots, "vol:sl:wd_am")
    rider.press_data(slots, "vol:next")
    summary = await rider.expect(has_button("vol:submit"))
    assert "First aid" in summary.text and community.name in summary.text
    rider.press(summary, rider._("Submit"))
    await rider.expect("volunteer registration was sent")

    # The community admin approves in chat.
    ask = await admin.expect(has_button("va:ok:"))
    assert "Wang" in ask.text and community.name in ask.text
    admin.press(ask, admin._("Approve"))
    await admin.expect(admin._("Volunteer approved: {name}.").format(name="Wang"))
    await rider.expect("volunteer registration was approved")

    # The admin publishes a task at a place shared from the phone (WGS-84).
    lat, lon = point_in(app, grid)
    window, hours = _window(app)
    admin.say("/task new")
    await admin.expect(
        admin._("New service task. What is its title? (1 to {max} characters)").format(max=100)
    )
    admin.say("清理楼道杂物")
    await admin.expect(has_button("task:at:"))
    admin.location(lat, lon)
    await admin.expect(admin._("Place: {community}").format(community=community.name))
    admin.say(window)
    await admin.expect(admin._("How many volunteers are needed? (1 to {max})").format(max=100))
    admin.say("2")
    admin.press_data(await admin.expect(has_button("task:kind:")), "task:kind:volunteer")
    admin.press_data(await admin.expect(has_button("task:sk:")), "task:next")
    admin.press(await admin.expect(has_button("task:publish")), admin._("Publish"))
    await admin.expect("推送给 1 名匹配的志愿者")  # offered to the one matching volunteer

    # The rider signs up with one tap and checks in 30 m from the place.
    offer = await rider.expect(has_button("tk:up:"))
    assert "清理楼道杂物" in offer.text
    rider.press(offer, rider._("Sign up"))
    rider.press(await rider.expect(has_button("tk:in:")), rider._("Check in"))
    await rider.expect("Share your location")
    rider.location(lat + 0.0003, lon)
    await rider.expect("Checked in")

    # The admin confirms the hours; the rider's points are on the ledger.
    confirm = await admin.expect(has_button("tk:ok:"))
    assert "Wang" in confirm.text
    admin.press(confirm, admin._("Confirm hours"))
    earned = default_points().for_service(round(hours, 2))
    await rider.expect(f"+{earned} points")
    rider.say("/points")
    await rider.expect(f"You have {earned} points.")
    rider.say("/rank")
    board = await rider.expect(lambda e: community.name in e.text)
    assert board.text.count(f"1. Wang · {earned}") == 2  # the community's and the street's
    assert any(data == "rk:hide" for _label, data in inline_buttons(board))

    account = await account_of(app, rider)
    async with app.uow_factory() as uow:
        volunteer = await uow.volunteers.get(account.id)
        [signup] = await uow.tasks.signups_of(account.id)
        assert await uow.points.balance(account.id) == earned
    assert volunteer is not None and volunteer.status is VolunteerStatus.APPROVED
    assert signup.status is SignupStatus.CONFIRMED and signup.checkin_distance_m is not None
    assert signup.checkin_distance_m < 60
