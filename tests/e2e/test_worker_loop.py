"""The worker's side of the loop over real python-telegram-bot and the Bot API emulator.

An invite link made by the staff service is opened in chat; an approved rider's report
(filed through the report service, as the report flow does) alerts the worker with the
photo, a location pin and the map image; the worker accepts and resolves with an
after-photo, all by pressing the buttons the bot sent.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from bot.app import running
from bot.config import load_settings
from bot.domain.model import (
    Crs,
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    ReportPhoto,
    ReportStatus,
)
from bot.geo.crs import converter
from bot.services.alerts import alert_new_report
from bot.services.reports import submit_report
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import person
from tests.e2e.workers import bind_worker

WAIT = 15.0


def _jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((320, 240), 40 + seed).convert("RGB").save(out, format="JPEG")
    return out.getvalue()


def _buttons(entry: Entry) -> list[str]:
    markup = entry.reply_markup or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


async def _first_grid(app: Any) -> str:
    async with app.uow_factory() as uow:
        _version, units = await uow.regions.load_units()
    return str(min(u.code for u in units if u.level is Level.GRID))


async def _file_report(app: Any, rider_chat: int, grid: str) -> Any:
    gridmap = app.env.maps.current()
    inside = gridmap.geometry(grid).representative_point()
    lat, lon = converter(gridmap.crs, Crs.WGS84)(inside.y, inside.x)
    now = datetime.now(UTC)
    async with app.uow_factory() as uow:
        rider = await uow.accounts.find("telegram", str(rider_chat))
        assert rider is not None
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
        key = app.env.photos.put(_jpeg(1), "jpg")
        report = await submit_report(
            uow,
            reporter=rider.id,
            category_code="C0101",
            location=GeoPoint(lat=lat, lon=lon),
            photos=[ReportPhoto(sha256=key, phash="0" * 16, width=320, height=240)],
            note="井盖丢了",
            now=now,
            catalogue=app.env.catalogue,
            gridmap=gridmap,
            zone=app.env.zone,
        )
        await alert_new_report(uow, app.env, report)
        await uow.commit()
    app.outbox.wake()
    return report


async def test_an_invited_worker_gets_the_alert_accepts_and_resolves_with_a_photo(
    tmp_path: Path,
) -> None:
    async with BotApiEmulator() as emu:
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
            photo_dir=tmp_path / "photos",
            telegram_token=emu.token,
            telegram_api_url=emu.url,
        )
        async with running(settings) as (app, _application):
            rider = emu.user(first_name="Wang", language_code="zh-hans")
            emu.send_text(rider["id"], "/help")
            await emu.wait_for_message(rider["id"], timeout=WAIT)
            worker = person(emu, first_name="Li", language_code="en")
            grid = await _first_grid(app)
            welcome = await bind_worker(app, worker, grid)
            assert "grid worker" in welcome.text

            report = await _file_report(app, rider["id"], grid)
            alert = await emu.wait_for_message(
                worker.id, lambda e: report.number in e.text and bool(_buttons(e)), timeout=WAIT
            )
            assert "photo" in alert.message and "Wang" in alert.text
            await emu.wait_for_message(worker.id, lambda e: "location" in e.message, timeout=WAIT)
            await emu.wait_for_message(
                worker.id, lambda e: "photo" in e.message and "Map" in e.text, timeout=WAIT
            )

            accept = next(d for d in _buttons(alert) if d.startswith("w:acc:"))
            emu.press(worker.id, alert.message_id, accept)
            edited = await emu.wait_for_message(
                worker.id,
                lambda e: (
                    e.message_id == alert.message_id
                    and any(d.startswith("w:res:") for d in _buttons(e))
                ),
                timeout=WAIT,
            )
            resolve = next(d for d in _buttons(edited) if d.startswith("w:res:"))
            emu.press(worker.id, alert.message_id, resolve)
            await emu.wait_for_message(worker.id, lambda e: "What was done" in e.text, timeout=WAIT)
            emu.send_text(worker.id, "Put a new cover on")
            await emu.wait_for_message(
                worker.id, lambda e: "photo of the fixed" in e.text, timeout=WAIT
            )
            emu.send_photo(worker.id, _jpeg(2))
            await emu.wait_for_message(worker.id, lambda e: "Resolved" in e.text, timeout=WAIT)

            async with app.uow_factory() as uow:
                stored = await uow.reports.get(report.id)
            assert stored is not None and stored.status is ReportStatus.RESOLVED
            assert [p.kind for p in stored.photos] == ["before", "after"]
