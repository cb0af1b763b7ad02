"""The case loop over WeChat, through the WeChat emulator over real HTTP: the same flows as
on Telegram, rendered as msgmenu menus, fresh messages for edits and typed numbers.

A rider reports with a photo and a location (GCJ-02, as WeChat sends it); the grid's
worker — on WeChat in one scene, on Telegram in the other — is alerted, accepts and
resolves; the rider is asked and says 👍.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from geopy.distance import geodesic

from bot.app import Gridsnap
from bot.config import Settings
from bot.domain.model import ConversationState, InformantStatus, ReportStatus, RoleName
from bot.transports.emulator import BotApiEmulator, Entry
from bot.transports.wechat_emulator import Receiver, WeChatEmulator
from tests.e2e.conftest import APPROVED, Person, grid_codes, has_button, jpeg, person, point_in
from tests.e2e.wechat_people import (
    WxPerson,
    account_of_wechat,
    bind_wechat_worker,
    has_item,
    report_on_wechat,
    reports_of_wechat,
    rider_confirms,
    running_with_wechat,
    wechat_settings,
    worker_accepts_and_resolves,
    worker_follows_then_types_the_invite,
    wx_informant,
)
from tests.e2e.workers import bind_worker, community_of, new_invite

PHONE = "+8613800001111"
WHERE_DO_YOU_WORK = (
    "Where do you usually work? Share a location there with the button below, "
    "or choose your community from the list."
)
MIDDLE = "You are in the middle of something. Finish it first, or send /cancel to stop it."
SENT = (
    "Thank you! Your registration was sent. A community admin will review it, "
    "and I will tell you here as soon as it is decided."
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


async def test_the_whole_loop_runs_over_wechat(app: Gridsnap, wechat: WeChatEmulator) -> None:
    rider = WxPerson(wechat, "oRiderWang000000000000000001", "王师傅")
    worker = WxPerson(wechat, "oWorkerLi0000000000000000001", "李芳")
    await wx_informant(app, rider)
    grid = (await grid_codes(app))[0]
    await bind_wechat_worker(app, worker, grid)

    where = point_in(app, grid)
    number = await report_on_wechat(rider, where)
    alert = await worker.expect(lambda r: has_item("w:acc:")(r) and number in r.text)
    pictures = [r for r in wechat.received(worker.openid) if r.msgtype == "image"]
    assert pictures, "the alert's photo was not sent as an image"

    await worker_accepts_and_resolves(worker, alert)

    await rider_confirms(rider, number)
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
    number = await report_on_wechat(rider, where)
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
    await rider_confirms(rider, number)
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


async def _register_on_wechat(rider: WxPerson, where: tuple[float, float]) -> None:
    """Following the account starts registration; every step is answered the WeChat way."""
    rider.follow()
    rider.tap(await rider.expect(has_item("reg:agree")), rider._("Agree"))
    await rider.expect(rider._("What is your name? (1 to {max} characters)").format(max=30))
    rider.say(rider.name)
    phone = await rider.expect(rider._("Type your mobile phone number."))
    assert rider._("Please type your phone number, or share it with the button below.") in (
        phone.text
    )
    rider.say("138 0000 1111")
    companies = await rider.expect(has_item("reg:co:"))
    rider.type_number_of(companies, "顺丰")  # the menu's number, typed
    area = await rider.expect(rider._("To share a location: tap + below, then Location."))
    assert rider._(WHERE_DO_YOU_WORK) in area.text
    rider.location_wgs84(*where, label="海港区")
    summary = await rider.expect(has_item("reg:submit"))
    assert PHONE in summary.text and "顺丰" in summary.text
    rider.tap(summary, rider._("Submit"))
    await rider.expect(rider._(SENT))


async def test_a_rider_registers_in_chat_on_wechat_is_approved_and_the_loop_closes(
    app: Gridsnap, wechat: WeChatEmulator, emulator: BotApiEmulator
) -> None:
    rider = WxPerson(wechat, "oRiderSun0000000000000000001", "孙师傅")
    worker = WxPerson(wechat, "oWorkerZhou000000000000000001", "周敏")
    admin = person(emulator, first_name="Zhou", language_code="zh-hans")
    grid = (await grid_codes(app))[0]
    community = await community_of(app, grid)
    await bind_worker(app, admin, community.code, role=RoleName.COMMUNITY_ADMIN)
    welcome = await worker_follows_then_types_the_invite(app, worker, grid)
    assert worker._(MIDDLE) not in welcome.text
    assert await conversation_of(app, worker) == ConversationState()
    # Following granted three messages for a minute (welcome, consent, the worker's
    # welcome); that lapses, and the typed invite's five are what the alert may use.
    wechat.world.clock.advance(61)
    where = point_in(app, grid)

    await _register_on_wechat(rider, where)
    application = await admin.expect(has_button("ia:ok:"))
    assert rider.name in application.text and community.name in application.text
    admin.press(application, admin._("Approve"))
    await rider.expect(rider._(APPROVED))
    account = await account_of_wechat(app, rider)
    async with app.uow_factory() as uow:
        profile = await uow.informants.get(account.id)
    assert profile is not None and profile.status is InformantStatus.APPROVED
    assert profile.phone == PHONE and profile.home_region_id is not None

    number = await report_on_wechat(rider, where)
    alert = await worker.expect(lambda r: has_item("w:acc:")(r) and number in r.text)
    # The whole alert (photo, case and options, pin, map and its caption) fits in the five.
    await worker.expect(worker._("Map of report {number}").format(number=number))
    await worker_accepts_and_resolves(worker, alert)
    await rider_confirms(rider, number)
    [report] = await reports_of_wechat(app, rider)
    assert report.status is ReportStatus.CLOSED


async def conversation_of(app: Gridsnap, who: WxPerson) -> ConversationState:
    async with app.uow_factory() as uow:
        return await uow.conversations.load("wechat", who.openid)


async def test_a_worker_joins_by_scanning_the_invite_qr_code_following_or_not(
    app: Gridsnap, wechat: WeChatEmulator
) -> None:
    newcomer = WxPerson(wechat, "oWorkerQian000000000000000001", "钱进")
    follower = WxPerson(wechat, "oWorkerSong000000000000000001", "宋歌")
    grid = (await grid_codes(app))[0]
    first, second = await new_invite(app, grid), await new_invite(app, grid)

    newcomer.follow(scene=first.payload)  # following by the code: subscribe, qrscene_<scene>
    welcome = await newcomer.expect(first.region.name)
    assert not has_item("reg:agree")(welcome)  # a worker, not offered registration
    follower.follow()
    await follower.expect(has_item("reg:agree"))
    follower.scan(second.payload)  # already following: a SCAN event
    await follower.expect(second.region.name)
    for worker in (newcomer, follower):
        assert await conversation_of(app, worker) == ConversationState()
