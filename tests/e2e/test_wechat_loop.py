"""The case loop over WeChat, through the WeChat emulator over real HTTP: the same flows as
on Telegram, rendered as msgmenu menus, fresh messages for edits and typed numbers.

A rider reports with a photo and a location (GCJ-02, as WeChat sends it); the grid's
worker — on WeChat in one scene, on Telegram in the other — is alerted, accepts and
resolves; the rider is asked and says 👍.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from geopy.distance import geodesic

from bot.app import Gridsnap
from bot.config import Settings
from bot.domain.model import Report, ReportStatus
from bot.transports.emulator import BotApiEmulator, Entry
from bot.transports.wechat_emulator import Received, Receiver, WeChatEmulator
from tests.e2e.conftest import Person, grid_codes, has_button, jpeg, person, point_in
from tests.e2e.wechat_people import (
    WxPerson,
    has_item,
    running_with_wechat,
    wechat_settings,
    wx_informant,
)
from tests.e2e.workers import bind_worker, new_invite

CATEGORY = "C0101"
WHERE_IS_IT = (
    "Where is it? Tap the button below to share your location, or attach a "
    "location or place on the map."
)


@pytest.fixture
async def wechat() -> AsyncIterator[WeChatEmulator]:
    async with WeChatEmulator(receiver=Receiver(reply_timeout=5.0)) as emu:
        yield emu


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings], wechat: WeChatEmulator
) -> AsyncIterator[Gridsnap]:
    settings = make_settings(**wechat_settings(wechat))
    async with running_with_wechat(settings, wechat) as gridsnap:
        yield gridsnap


async def _report_on_wechat(rider: WxPerson, where: tuple[float, float]) -> str:
    rider.photo(jpeg(31))
    asked = await rider.expect(rider._(WHERE_IS_IT))
    # The share-location button becomes how to send one from WeChat's + panel.
    assert rider._("To share a location: tap + below, then Location.") in asked.text
    rider.location_wgs84(*where, label="海港区")
    categories = await rider.expect(has_item("rep:cat:"))
    rider.tap(categories, app_category_label(categories))
    rider.tap(await rider.expect(has_item("rep:skip")), rider._("Skip"))
    rider.tap(await rider.expect(has_item("rep:submit")), rider._("Submit"))
    head = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    filed = await rider.expect(head)
    number = re.search(r"\d{6}-\d{4}", filed.text)
    assert number is not None
    return number.group()


def app_category_label(menu: Received) -> str:
    """The label of the menu item for ``CATEGORY``."""
    for item in menu.body["list"]:
        if item["id"] == f"rep:cat:{CATEGORY}":
            return str(item["content"]).split(". ", 1)[1]
    raise AssertionError(f"no {CATEGORY} in {menu.text}")


async def _rider_confirms(rider: WxPerson, number: str) -> None:
    question = await rider.expect(lambda r: has_item("fb:")(r) and number in r.text)
    assert rider._("Is it fixed?") in question.text
    rider.tap(question, "👍")
    rating = await rider.expect(has_item("fb:rate:"))
    rider.type_number_of(rating, "⭐⭐⭐⭐⭐")  # typed, not tapped: the number answers the menu
    closed = rider._("Thank you! Report {number} is closed.").format(number=number)
    await rider.expect(closed)


async def test_the_whole_loop_runs_over_wechat(app: Gridsnap, wechat: WeChatEmulator) -> None:
    rider = WxPerson(wechat, "oRiderWang000000000000000001", "王师傅")
    worker = WxPerson(wechat, "oWorkerLi0000000000000000001", "李芳")
    await wx_informant(app, rider)
    grid = (await grid_codes(app))[0]
    await _bind_wechat_worker(app, worker, grid)

    where = point_in(app, grid)
    number = await _report_on_wechat(rider, where)
    alert = await worker.expect(lambda r: has_item("w:acc:")(r) and number in r.text)
    pictures = [r for r in wechat.received(worker.openid) if r.msgtype == "image"]
    assert pictures, "the alert's photo was not sent as an image"

    worker.tap(alert, worker._("Accept"))
    resolve = await worker.expect(has_item("w:res:"))  # the edit, as a fresh menu
    worker.tap(resolve, worker._("Resolve"))
    await worker.expect(worker._("What was done? Write a short note."))
    worker.say("换了新井盖")
    await worker.expect(worker._("Send a photo of the fixed problem."))
    worker.photo(jpeg(32))
    await worker.expect(worker._("Resolved. The reporter will be asked to confirm."))

    await _rider_confirms(rider, number)
    [report] = await reports_of_wechat(app, rider)
    assert report.status is ReportStatus.CLOSED
    # The rider's GCJ-02 share was stored as the WGS-84 point it stands for, not shifted.
    assert geodesic(where, (report.location.lat, report.location.lon)).meters < 1.0


async def test_a_rider_on_wechat_and_a_worker_on_telegram_work_the_same_case(
    app: Gridsnap, wechat: WeChatEmulator, emulator: BotApiEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderZhao00000000000000001", "赵师傅")
    worker = person(emulator, first_name="Li", language_code="en")
    await wx_informant(app, rider)
    grid = (await grid_codes(app))[0]
    await bind_worker(app, worker, grid)

    where = point_in(app, grid)
    number = await _report_on_wechat(rider, where)
    alert = await worker.expect(lambda e: number in e.text and has_button("w:acc:")(e))
    pin = await worker.expect(lambda e: "location" in e.message)
    shared = pin.message["location"]
    # Telegram is sent WGS-84: the rider's GCJ-02 point comes back to where it was.
    assert geodesic(where, (shared["latitude"], shared["longitude"])).meters < 1.0

    await _accept_and_resolve_on_telegram(worker, alert)
    accepted = rider._("Report {number} ({category}) was accepted by a grid worker.")
    assert any(
        accepted.split("{")[0] in r.text and number in r.text for r in wechat.received(rider.openid)
    )
    await _rider_confirms(rider, number)
    [report] = await reports_of_wechat(app, rider)
    assert report.status is ReportStatus.CLOSED


async def _accept_and_resolve_on_telegram(worker: Person, alert: Entry) -> None:
    worker.press(alert, "Accept")
    edited = await worker.expect(
        lambda e: e.message_id == alert.message_id and has_button("w:res:")(e)
    )
    worker.press(edited, "Resolve")
    await worker.expect("What was done?")
    worker.say("Put a new cover on")
    await worker.expect("photo of the fixed")
    worker.photo(jpeg(33))
    await worker.expect("Resolved. The reporter will be asked to confirm.")


async def _bind_wechat_worker(app: Gridsnap, worker: WxPerson, grid: str) -> None:
    invite = await new_invite(app, grid)
    # A follower already (as after scanning the invite's QR code); the link's payload
    # comes as /start's, as Telegram's deep link does.
    worker.emu.user(worker.openid, nickname=worker.name)
    worker.say(f"/start {invite.payload}")
    await worker.expect(invite.region.name)


async def reports_of_wechat(app: Gridsnap, rider: WxPerson) -> list[Report]:
    async with app.uow_factory() as uow:
        account = await uow.accounts.find("wechat", rider.openid)
        assert account is not None
        return list(await uow.reports.for_reporter(account.id))
