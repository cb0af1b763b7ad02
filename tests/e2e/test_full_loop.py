"""The whole case loop over real python-telegram-bot and the Bot API emulator.

A Chinese-speaking rider reports in chat; the English-speaking worker of that grid, bound
by an invite deep link, gets the alert, accepts and resolves with an after-photo; the rider
says "not fixed", the case comes back to the worker, is resolved again, confirmed with a
rating and closed, and the rider's points show in /points. Every message each of them gets
is in their own language.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

from bot.app import Gridsnap
from bot.config import ROOT
from bot.domain.model import ReportStatus, RoleName
from bot.services import staff
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import (
    Person,
    approved_informant,
    grid_codes,
    has_button,
    jpeg,
    person,
    point_in,
    reports_of,
)

CATEGORY = "C0101"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _zh(rider: Person, source: str, **values: object) -> str:
    """The rider's Chinese text for ``source``; fails when the catalogue lacks it."""
    text = rider._(source)
    assert text != source and CJK.search(text), f"no Chinese for {source!r}"
    return text.format(**values) if values else text


async def _invite_worker(app: Gridsnap, worker: Person, grid: str) -> None:
    async with app.uow_factory() as uow:
        invite = await staff.create_invite(
            uow,
            region_code=grid,
            role=RoleName.GRID_WORKER,
            now=datetime.now(UTC),
            bot_username=app.settings.bot_username,
        )
        await uow.commit()
    payload = invite.link.split("?start=", 1)[1]  # what Telegram sends when the link is opened
    worker.say(f"/start {payload}")
    welcome = await worker.expect("Welcome")
    assert "grid worker" in welcome.text


async def _report_in_chat(rider: Person, where: tuple[float, float]) -> str:
    rider.photo(jpeg(21))
    where_is_it = (
        "Where is it? Tap the button below to share your location, or attach a "
        "location or place on the map."
    )
    await rider.expect(_zh(rider, where_is_it))
    rider.location(*where)
    menu = await rider.expect(has_button("rep:cat:"))
    rider.press_data(menu, f"rep:cat:{CATEGORY}")
    rider.press(await rider.expect(has_button("rep:skip")), _zh(rider, "Skip"))
    rider.press(await rider.expect(has_button("rep:submit")), _zh(rider, "Submit"))
    head = _zh(rider, "Thank you! Your report No. {number} has been filed.").split("{")[0]
    filed = await rider.expect(head)
    number = re.search(r"\d{6}-\d{4}", filed.text)
    assert number is not None
    return number.group()


def _alert_for(number: str, *, not_id: int | None = None) -> Callable[[Entry], bool]:
    def matches(entry: Entry) -> bool:
        return number in entry.text and has_button("w:acc:")(entry) and entry.message_id != not_id

    return matches


async def _accept_and_resolve(worker: Person, alert: Entry, photo_seed: int) -> None:
    query = worker.press(alert, "Accept")
    assert "is yours" in (await worker.answer_to(query))["text"]
    edited = await worker.expect(
        lambda e: e.message_id == alert.message_id and has_button("w:res:")(e)
    )
    worker.press(edited, "Resolve")
    await worker.expect("What was done?")
    worker.say("Put a new cover on")
    await worker.expect("photo of the fixed")
    worker.photo(jpeg(photo_seed))
    await worker.expect("Resolved. The reporter will be asked to confirm.")


async def _fixed_question(rider: Person, number: str, category: str) -> Entry:
    resolved = _zh(
        rider, "Report {number} ({category}) was marked as fixed.", number=number, category=category
    )
    question = await rider.expect(lambda e: resolved in e.text and has_button("fb:")(e))
    assert "photo" in question.message  # the worker's after-photo
    assert _zh(rider, "Is it fixed?") in question.text
    return question


def _points_for_a_fixed_report() -> int:
    rules = json.loads((ROOT / "bot" / "data" / "points.json").read_text())["rules"]
    return int(rules["accept"] + rules["resolve"] + rules["confirm"])


async def test_a_report_goes_round_the_whole_loop_in_each_persons_language(
    app: Gridsnap, emulator: BotApiEmulator
) -> None:
    rider = person(emulator, first_name="Wang", language_code="zh-hans")
    worker = person(emulator, first_name="Li", language_code="en")
    await approved_informant(app, rider)
    grid = (await grid_codes(app))[0]
    await _invite_worker(app, worker, grid)
    category = app.env.catalogue.name(CATEGORY, "zh_CN")

    number = await _report_in_chat(rider, point_in(app, grid))
    alert = await worker.expect(_alert_for(number))
    assert "photo" in alert.message and "Reported by: Wang" in alert.text
    await worker.expect(lambda e: "location" in e.message)
    await worker.expect(lambda e: "photo" in e.message and f"Map of report {number}" in e.text)
    to_worker = [c for c in emulator.calls() if c.params.get("chat_id") == str(worker.id)]
    assert sum(c.method == "sendPhoto" for c in to_worker) == 2
    assert sum(c.method == "sendLocation" for c in to_worker) == 1

    await _accept_and_resolve(worker, alert, photo_seed=22)
    accepted = _zh(
        rider,
        "Report {number} ({category}) was accepted by a grid worker.",
        number=number,
        category=category,
    )
    assert any(accepted in e.text for e in emulator.bot_messages(rider.id))
    question = await _fixed_question(rider, number, category)

    rider.press(question, "👎")
    reason = await rider.expect(has_button("fbr:skip"))
    rider.press(reason, _zh(rider, "Skip"))
    await rider.expect(
        _zh(rider, "Report {number} is reopened; the grid workers have been told.", number=number)
    )
    # Still Li's case: headed "reopened", with Resolve, not a new case to accept again.
    again = await worker.expect(
        lambda e: "Reopened, not fixed" in e.text and number in e.text and has_button("w:res:")(e)
    )
    assert "photo" in again.message and not has_button("w:acc:")(again)
    worker.press(again, "Resolve")
    await worker.expect("What was done?")
    worker.say("Put a new cover on, properly")
    await worker.expect("photo of the fixed")
    worker.photo(jpeg(23))
    await worker.expect("Resolved. The reporter will be asked to confirm.")
    question = await _fixed_question(rider, number, category)
    rider.press(question, "👍")
    rating = await rider.expect(has_button("fb:rate:"))
    rider.press(rating, "⭐⭐⭐⭐⭐")
    await rider.expect(_zh(rider, "Thank you! Report {number} is closed.", number=number))

    [report] = await reports_of(app, rider)
    assert report.status is ReportStatus.CLOSED
    points = _points_for_a_fixed_report()
    assert points > 0
    rider.say("/points")
    await rider.expect(_zh(rider, "You have {points} points.", points=points))

    # Everything the rider read was Chinese (the rating stars aside); the worker's English.
    rider_texts = [e.text for e in emulator.bot_messages(rider.id) if e.text]
    assert rider_texts and all(CJK.search(t) for t in rider_texts), rider_texts
    worker_texts = [e.text for e in emulator.bot_messages(worker.id) if "Report" in e.text]
    # Place names are the map's own, in Chinese in any language, like people's names.
    names = [category, *(u.name for u in app.env.maps.current().path(grid))]
    assert not any(CJK.search(_without(t, names)) for t in worker_texts)


def _without(text: str, names: list[str]) -> str:
    for name in names:
        text = text.replace(name, "")
    return text
