"""The worker's side of the loop over real python-telegram-bot and the Bot API emulator.

An invite link made by the staff service is opened in chat; an approved rider's report
(filed through the report service, as the report flow does) alerts the worker with the
photo, a location pin and the map image; the worker accepts and resolves with an
after-photo, all by pressing the buttons the bot sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import Gridsnap
from bot.domain.model import (
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Report,
    ReportPhoto,
    ReportStatus,
)
from bot.services.alerts import alert_new_report
from bot.services.reports import submit_report
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import grid_codes, inline_buttons, jpeg, person, point_in
from tests.e2e.workers import bind_worker

WAIT = 15.0


def _buttons(entry: Entry) -> list[str]:
    return [data for _text, data in inline_buttons(entry)]


async def _file_report(app: Gridsnap, rider_chat: int, grid: str) -> Report:
    lat, lon = point_in(app, grid)
    now = datetime.now(UTC)
    async with app.uow_factory() as uow:
        # As registration in chat leaves it: consent given, so the chat name is kept.
        rider = await uow.accounts.get_or_create(
            platform="telegram",
            platform_user_id=str(rider_chat),
            chat_id=str(rider_chat),
            display_name="Wang",
            locale="zh_CN",
        )
        await uow.informants.upsert(
            InformantProfile(
                account_id=rider.id,
                real_name="王师傅",
                phone="+8613800000000",
                company="美团",
                status=InformantStatus.APPROVED,
                home_region_id=None,
                created_at=now,
            )
        )
        key = app.env.photos.put(jpeg(1), "jpg")
        report = await submit_report(
            uow,
            reporter=rider.id,
            category_code="C0101",
            location=GeoPoint(lat=lat, lon=lon),
            photos=[ReportPhoto(sha256=key, phash="0" * 16, width=320, height=240)],
            note="井盖丢了",
            now=now,
            catalogue=app.env.catalogue,
            gridmap=app.env.maps.current(),
            zone=app.env.zone,
        )
        await alert_new_report(uow, app.env, report)
        await uow.commit()
    app.outbox.wake()
    return report


async def test_an_invited_worker_gets_the_alert_accepts_and_resolves_with_a_photo(
    emulator: BotApiEmulator, app: Gridsnap
) -> None:
    rider = emulator.user(first_name="Wang", language_code="zh-hans")
    emulator.send_text(rider["id"], "/help")
    await emulator.wait_for_message(rider["id"], timeout=WAIT)
    worker = person(emulator, first_name="Li", language_code="en")
    grid = (await grid_codes(app))[0]
    welcome = await bind_worker(app, worker, grid)
    assert "grid worker" in welcome.text

    report = await _file_report(app, rider["id"], grid)
    alert = await emulator.wait_for_message(
        worker.id, lambda e: report.number in e.text and bool(_buttons(e)), timeout=WAIT
    )
    assert "photo" in alert.message and "Wang" in alert.text
    await emulator.wait_for_message(worker.id, lambda e: "location" in e.message, timeout=WAIT)
    await emulator.wait_for_message(
        worker.id, lambda e: "photo" in e.message and "Map" in e.text, timeout=WAIT
    )

    accept = next(d for d in _buttons(alert) if d.startswith("w:acc:"))
    emulator.press(worker.id, alert.message_id, accept)
    edited = await emulator.wait_for_message(
        worker.id,
        lambda e: (
            e.message_id == alert.message_id and any(d.startswith("w:res:") for d in _buttons(e))
        ),
        timeout=WAIT,
    )
    resolve = next(d for d in _buttons(edited) if d.startswith("w:res:"))
    emulator.press(worker.id, alert.message_id, resolve)
    await emulator.wait_for_message(worker.id, lambda e: "What was done" in e.text, timeout=WAIT)
    emulator.send_text(worker.id, "Put a new cover on")
    await emulator.wait_for_message(
        worker.id, lambda e: "photo of the fixed" in e.text, timeout=WAIT
    )
    emulator.send_photo(worker.id, jpeg(2))
    await emulator.wait_for_message(worker.id, lambda e: "Resolved" in e.text, timeout=WAIT)

    async with app.uow_factory() as uow:
        stored = await uow.reports.get(report.id)
    assert stored is not None and stored.status is ReportStatus.RESOLVED
    assert [p.kind for p in stored.photos] == ["before", "after"]
