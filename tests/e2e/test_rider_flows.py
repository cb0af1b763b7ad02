"""A rider over real python-telegram-bot and the Bot API emulator: registration, every way
to report, duplicates, bad input, a restart, a re-delivered update and a 429 storm."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import Gridsnap
from bot.config import Settings
from bot.domain.model import InformantStatus, Report
from bot.services import informants
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import (
    PHOTOS,
    Person,
    account_of,
    approved_informant,
    grid_codes,
    has_button,
    huge_png,
    inline_buttons,
    jpeg,
    person,
    point_in,
    reports_of,
    start_app,
    with_fresh_gps,
)

NUMBER = re.compile(r"\d{6}-\d{4}")
FLORENCE = (43.7696, 11.2558)


async def _rider(app: Gridsnap, emulator: BotApiEmulator, name: str = "Wang") -> Person:
    rider = person(emulator, first_name=name, language_code="en")
    await approved_informant(app, rider)
    return rider


async def _somewhere(app: Gridsnap, index: int = 0) -> tuple[float, float]:
    return point_in(app, (await grid_codes(app))[index])


def _filed(rider: Person) -> Callable[[Entry], bool]:
    head = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    return lambda entry: head in entry.text and bool(NUMBER.search(entry.text))


async def _choose_category_and_submit(rider: Person, category: str | None = None) -> str:
    """From the category question to the filed report; returns the report number."""
    menu = await rider.expect(has_button("rep:cat:"))
    codes = [data for _text, data in inline_buttons(menu) if data.startswith("rep:cat:")]
    rider.press_data(menu, f"rep:cat:{category}" if category else codes[0])
    note = await rider.expect(has_button("rep:skip"))
    rider.press(note, rider._("Skip"))
    confirmation = await rider.expect(has_button("rep:submit"))
    assert rider._("Goes to: {where}").split("{")[0] in confirmation.text
    rider.press(confirmation, rider._("Submit"))
    filed = await rider.expect(_filed(rider))
    match = NUMBER.search(filed.text)
    assert match is not None
    return match.group()


async def _only_report(app: Gridsnap, rider: Person, number: str) -> Report:
    reports = await reports_of(app, rider)
    assert [r.number for r in reports] == [number]
    return reports[0]


# -- registration ------------------------------------------------------------------------------


async def test_a_rider_registers_in_chat_refusing_a_strangers_contact_and_is_approved(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="en")
    stranger = emulator.user(first_name="Zhao", language_code="en")
    rider.say("/start")
    consent = await rider.expect(has_button("reg:agree"))
    assert "What we collect" in consent.text
    rider.press(consent, "Agree")
    await rider.expect("What is your name?")
    rider.say("王师傅")
    await rider.expect("type your phone number, or share it")
    assert emulator.reply_keyboard(rider.id) is not None  # the contact-share button

    rider.contact("+8613911112222", own=False, contact_user_id=stranger["id"])
    await rider.expect("someone else's contact")
    rider.say("138 0000 111")  # a digit short
    await rider.expect("not a phone number I can use")
    rider.contact("+8613800001111")
    companies = await rider.expect(has_button("reg:co:"))
    rider.press(companies, "SF Express")  # 顺丰, by its English name for an English reader
    await rider.expect("Where do you usually work?")
    rider.location(*await _somewhere(app))
    summary = await rider.expect(has_button("reg:submit"))
    assert "+8613800001111" in summary.text and "SF Express" in summary.text
    rider.press(summary, "Submit")
    await rider.expect("Your registration was sent")

    account = await account_of(app, rider)
    async with app.uow_factory() as uow:
        pending = await uow.informants.get(account.id)
        assert pending is not None and pending.status is InformantStatus.PENDING
        await informants.approve(uow, account.id, by=account.id, now=app.env.clock())
        await uow.commit()
    app.outbox.wake()
    await rider.expect("registration was approved")
    async with app.uow_factory() as uow:
        profile = await uow.informants.get(account.id)
        stored = await uow.accounts.get(account.id)
    assert profile is not None and profile.status is InformantStatus.APPROVED
    assert (profile.phone, profile.company, profile.real_name) == (
        "+8613800001111",
        "顺丰",
        "王师傅",
    )
    assert stored is not None and stored.consent is not None


# -- every way to report -----------------------------------------------------------------------


async def test_a_photo_then_a_location_files_a_numbered_report(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    lat, lon = await _somewhere(app)
    rider.photo(jpeg(1))
    await rider.expect("Where is it?")
    rider.location(lat, lon)
    number = await _choose_category_and_submit(rider)
    report = await _only_report(app, rider, number)
    assert len(report.photos) == 1
    assert report.location.lat == pytest.approx(lat) and report.location.lon == pytest.approx(lon)


async def test_a_location_then_a_photo_files_a_numbered_report(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.location(*await _somewhere(app))
    await rider.expect("Now send a photo")
    rider.photo(jpeg(2))
    number = await _choose_category_and_submit(rider)
    assert len((await _only_report(app, rider, number)).photos) == 1


async def test_a_photo_sent_as_a_file_with_fresh_exif_gps_needs_no_location(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    lat, lon = await _somewhere(app, 1)
    taken = datetime.now(app.env.zone)
    data = with_fresh_gps(PHOTOS / "gps" / "DSCN0010.jpg", lat, lon, taken)
    rider.document(data, file_name="DSCN0010.jpg", mime_type="image/jpeg")
    await rider.expect("I used the location stored in the photo")
    number = await _choose_category_and_submit(rider)
    report = await _only_report(app, rider, number)
    assert report.location.lat == pytest.approx(lat, abs=1e-5)
    assert report.location.lon == pytest.approx(lon, abs=1e-5)
    asked = [e for e in emulator.bot_messages(rider.id) if "Where is it?" in e.text]
    assert asked == []


async def test_an_album_of_three_photos_is_one_report_asked_for_its_location_once(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.album([jpeg(3), jpeg(4), jpeg(5)])
    await rider.expect("Where is it?")
    rider.location(*await _somewhere(app, 2))
    number = await _choose_category_and_submit(rider)
    assert len((await _only_report(app, rider, number)).photos) == 3
    asked = [e for e in emulator.bot_messages(rider.id) if "Where is it?" in e.text]
    assert len(asked) == 1


async def test_a_second_report_nearby_of_the_same_category_is_offered_to_follow(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    first, second = await _rider(app, emulator), await _rider(app, emulator, "Liu")
    lat, lon = await _somewhere(app)
    first.photo(jpeg(6))
    await first.expect("Where is it?")
    first.location(lat, lon)
    number = await _choose_category_and_submit(first, "C0101")

    second.location(lat + 0.0001, lon)  # about 11 m north
    await second.expect("Now send a photo")
    second.photo(jpeg(7))
    menu = await second.expect(has_button("rep:cat:"))
    second.press_data(menu, "rep:cat:C0101")
    second.press(await second.expect(has_button("rep:skip")), "Skip")
    confirmation = await second.expect(has_button("rep:follow:"))
    assert (
        "This may already have been reported" in confirmation.text and number in confirmation.text
    )
    assert any("A different problem" in text for text, _data in inline_buttons(confirmation))
    second.press(confirmation, "The same problem")
    await second.expect(f"You now follow report No. {number}")
    assert await reports_of(app, second) == []
    followed = await _only_report(app, first, number)
    async with app.uow_factory() as uow:
        followers = await uow.reports.subscribers(followed.id)
    assert [a.platform_user_id for a in followers] == [str(second.id)]


# -- bad input ---------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _truncated(path: Path) -> bytes:
    """A camera JPEG cut off halfway through its picture data, as a broken upload is."""
    data = path.read_bytes()
    return data[: len(data) // 2]


# what → (the file, its name, its MIME type, what the answer says); built when used.
BAD_FILES: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    "a PDF": (lambda: PDF, "hazard.pdf", "application/pdf", "That file is not a photo"),
    "a corrupt JPEG": (
        lambda: _truncated(PHOTOS / "gps" / "DSCN0012.jpg"),
        "broken.jpg",
        "image/jpeg",
        "That photo is damaged",
    ),
    "a 20,000×20,000 PNG": (huge_png, "huge.png", "image/png", "too many pixels"),
}


async def test_bad_files_get_a_clear_answer_and_start_no_report(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    for what, (make, name, mime, refusal) in BAD_FILES.items():
        rider.document(make(), file_name=name, mime_type=mime)
        answer = await rider.expect()
        assert refusal in answer.text, f"{what}: {answer.text!r}"
    async with app.uow_factory() as uow:
        state = await uow.conversations.load("telegram", str(rider.id))
    assert state.flow is None
    assert await reports_of(app, rider) == []


async def test_a_location_in_italy_is_refused_as_outside_the_service_area(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.photo(jpeg(8))
    await rider.expect("Where is it?")
    rider.location(*FLORENCE)
    await rider.expect("outside the service area")
    rider.location(*await _somewhere(app))  # the report goes on with a good location
    await rider.expect(has_button("rep:cat:"))


async def test_a_forged_button_is_refused_and_changes_nothing(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.photo(jpeg(9))
    prompt = await rider.expect("Where is it?")
    for forged in ("rep:submit", "rep:cat:NOPE", "w:acc:1:1", "fb:ok:1", "zz:anything"):
        query = rider.press_data(prompt, forged, force=True)
        answer = await rider.answer_to(query)
        assert answer["show_alert"] and answer["text"], f"{forged}: {answer}"
    async with app.uow_factory() as uow:
        state = await uow.conversations.load("telegram", str(rider.id))
    assert (state.flow, state.step) == ("rep", "location")
    assert await reports_of(app, rider) == []


async def test_start_in_the_middle_of_a_report_says_so_and_repeats_the_question(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.photo(jpeg(10))
    await rider.expect("Where is it?")
    rider.say("/start")
    await rider.expect("You are in the middle of something")
    await rider.expect("Where is it?")
    rider.location(*await _somewhere(app))
    await rider.expect(has_button("rep:cat:"))  # the report carries on


# -- robustness --------------------------------------------------------------------------------


async def test_a_restart_mid_report_resumes_where_the_rider_was(
    make_settings: Callable[..., Settings], emulator: BotApiEmulator
) -> None:
    settings = make_settings()
    async with start_app(settings) as (app, _application):
        rider = await _rider(app, emulator)
        where = await _somewhere(app)
        rider.photo(jpeg(11))
        await rider.expect("Where is it?")
    async with start_app(settings) as (app, _application):
        rider.location(*where)
        number = await _choose_category_and_submit(rider)
        assert len((await _only_report(app, rider, number)).photos) == 1


async def test_updates_delivered_twice_are_handled_once_and_file_one_report(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = await _rider(app, emulator)
    rider.photo(jpeg(12))
    photo_update = emulator.last_update_id
    await rider.expect("Where is it?")
    emulator.redeliver(photo_update)
    rider.location(*await _somewhere(app))
    menu = await rider.expect(has_button("rep:cat:"))
    rider.press_data(menu, "rep:cat:C0101")
    rider.press(await rider.expect(has_button("rep:skip")), "Skip")
    rider.press(await rider.expect(has_button("rep:submit")), "Submit")
    submit_update = emulator.last_update_id
    await rider.expect(_filed(rider))

    emulator.redeliver(submit_update)
    rider.say("/myreports")  # one rider's updates are handled in order: this one comes last
    await rider.expect(lambda e: NUMBER.search(e.text) is not None and not _filed(rider)(e))
    assert emulator.times_served(photo_update) == emulator.times_served(submit_update) == 2
    texts = [e.text for e in emulator.bot_messages(rider.id)]
    assert sum("Where is it?" in t for t in texts) == 1
    assert sum(_filed(rider)(e) for e in emulator.bot_messages(rider.id)) == 1
    assert len(await reports_of(app, rider)) == 1


async def test_a_429_on_send_message_delays_replies_but_loses_none(
    make_settings: Callable[..., Settings], emulator: BotApiEmulator
) -> None:
    # The default per-chat rate (1 message/s after a burst of 3), as in production.
    defaults = Settings.model_fields
    settings = make_settings(
        send_rate_per_chat=defaults["send_rate_per_chat"].default,
        send_burst_per_chat=defaults["send_burst_per_chat"].default,
    )
    async with start_app(settings) as (_app, _application):
        rider = person(emulator, first_name="Wang", language_code="en")
        rider.say("/help")
        await rider.expect("Gridsnap sends hazards")
        emulator.inject_error(method="sendMessage", status=429, retry_after=1, times=2)
        before = len(emulator.calls("sendMessage"))
        rider.say("/help")
        rider.say("/language")
        rider.say("/points")
        await rider.expect("You have no points yet")
    texts = [e.text for e in emulator.bot_messages(rider.id)]
    assert sum("Gridsnap sends hazards" in t for t in texts) == 2
    assert sum("Choose your language" in t for t in texts) == 1
    statuses = [call.status for call in emulator.calls("sendMessage")[before:]]
    assert statuses == [429, 429, 200, 200, 200]
    assert [t.split()[0] for t in texts[-3:]] == ["Gridsnap", "Choose", "You"]
