"""Grid workers' buttons and flows, driven through the real Dispatcher on the in-memory store.

Every press is a real ``Incoming``; what the bot said is read from the outbox and what it
changed from the committed store, as the transport and the next update would see them.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from bot.chat import FileRef, Kind, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    ConversationState,
    GeoPoint,
    Level,
    Report,
    ReportStatus,
    RoleName,
)
from bot.services.alerts import alert_new_report
from bot.services.env import Env, MapHolder
from bot.ui.cases import Reason, return_with, transfer_to
from tests.chatkit import ChatBot, submit, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
IN_G1 = GeoPoint(lat=39.915, lon=119.515)
NEEDS_PHOTO, NO_PHOTO = "C0101", "0301"


MAP = [
    unit("C1", Level.COMMUNITY, None, 119.50, 0.06),
    unit("G1", Level.GRID, "C1", 119.50),
    unit("G2", Level.GRID, "C1", 119.53),
]


class JpegFetcher:
    """Stands in for the platform's file download: a small real JPEG."""

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        out = io.BytesIO()
        Image.effect_noise((640, 480), 64).convert("RGB").save(out, format="JPEG")
        return out.getvalue()


class Bot:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.photos = MemoryPhotoStore()
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=self.photos,
            clock=lambda: NOW,
        )
        self.chat = ChatBot(
            lambda: FakeUnitOfWork(store=self.store), self.env, fetchers={"telegram": JpegFetcher()}
        )

    @property
    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def seed(self) -> None:
        await self.chat.seed_map(MAP)

    async def person(self, name: str, role: RoleName | None = None, region: str = "G1") -> User:
        return await self.chat.person(name, role, region)

    async def report(self, category: str = NO_PHOTO) -> Report:
        reporter = await self.chat.account_id(await self.person("rider"))
        async with self.uow as uow:
            report = await submit(
                uow, self.env, reporter, category=category, location=IN_G1, note="cover missing"
            )
            await uow.commit()
        return report

    async def region_id(self, code: str) -> int:
        async with self.uow as uow:
            node = await uow.regions.get(code)
        assert node is not None
        return node.id

    def stored(self, report: Report) -> Report:
        return self.store.data.reports[report.id]

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[Outgoing]:
        return await self.chat.send(user, kind, **fields)

    async def press(self, user: User, data: str) -> list[Outgoing]:
        return await self.chat.press(user, data)

    async def text(self, user: User, text: str) -> list[Outgoing]:
        return await self.chat.text(user, text)

    async def photo(self, user: User) -> list[Outgoing]:
        return await self.send(user, Kind.PHOTO, photo=FileRef(file_id="f1", size=1000))


def alerts(said: list[Outgoing]) -> list[Outgoing]:
    return [m for m in said if m.kind is OutKind.ANSWER_BUTTON and m.alert]


def buttons_of(said: list[Outgoing]) -> list[str]:
    return [b.data or "" for m in said if m.keyboard for row in m.keyboard.rows for b in row]


@pytest.fixture
async def bot() -> Bot:
    b = Bot()
    await b.seed()
    return b


async def test_a_worker_accepting_takes_the_case_and_the_buttons_move_on(bot: Bot) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    report = await bot.report()
    said = await bot.press(worker, f"w:acc:{report.id}:{report.version}")
    stored = bot.stored(report)
    assert stored.status is ReportStatus.ACCEPTED
    edits = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert buttons_of(edits) == [
        f"w:res:{report.id}:{stored.version}",
        f"w:ret:{report.id}:{stored.version}",
        f"w:tr:{report.id}:{stored.version}",
    ]


@pytest.mark.parametrize(
    "data", ["w:acc:x:1", "w:acc:1", "w:zap:1:1", "w:acc:1:1:2:3", "w:tg:1:1", "w:acc:-1:1"]
)
async def test_forged_button_data_is_refused_and_changes_nothing(bot: Bot, data: str) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    report = await bot.report()
    said = await bot.press(worker, data.replace(":1:", f":{report.id}:", 1))
    assert alerts(said) and "not valid" in alerts(said)[0].text
    assert bot.stored(report) == report


async def test_another_grids_worker_pressing_accept_is_refused(bot: Bot) -> None:
    stranger = await bot.person("w2", RoleName.GRID_WORKER, "G2")
    report = await bot.report()
    for data in (f"w:acc:{report.id}:{report.version}", f"w:ret:{report.id}:{report.version}"):
        said = await bot.press(stranger, data)
        assert "not in your grids" in alerts(said)[0].text
    assert bot.stored(report) == report


async def test_a_stale_button_is_refused_naming_who_took_the_case(bot: Bot) -> None:
    first = await bot.person("Li", RoleName.GRID_WORKER)
    second = await bot.person("Zhang", RoleName.GRID_WORKER)
    report = await bot.report()
    await bot.press(first, f"w:acc:{report.id}:{report.version}")
    taken = bot.stored(report)
    said = await bot.press(second, f"w:acc:{report.id}:{report.version}")
    assert "moved on" in alerts(said)[0].text and "Li took it" in alerts(said)[0].text
    assert bot.stored(report) == taken


async def test_a_worker_transfers_a_case_to_a_neighbouring_grid_picked_from_a_list(
    bot: Bot,
) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    await bot.person("next", RoleName.GRID_WORKER, "G2")
    report = await bot.report()
    g2 = await bot.region_id("G2")
    said = await bot.press(worker, f"w:tr:{report.id}:{report.version}")
    choices = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert [b.text for m in choices for row in m.keyboard.rows for b in row] == ["G2", "Back"]
    pick = transfer_to(report, g2).pack()
    assert buttons_of(choices)[0] == pick
    said = await bot.press(worker, pick)
    stored = bot.stored(report)
    assert (stored.status, stored.grid_id) == (ReportStatus.DISPATCHED, g2)
    [alert] = [m for m in said if m.chat_id == "next" and m.keyboard]
    assert f"w:acc:{report.id}:{stored.version}" in buttons_of([alert])


async def test_a_colleague_pressing_resolve_or_return_on_an_accepted_case_is_told_who_holds_it(
    bot: Bot,
) -> None:
    holder = await bot.person("Li", RoleName.GRID_WORKER)
    colleague = await bot.person("Zhang", RoleName.GRID_WORKER)
    report = await bot.report()
    await bot.press(holder, f"w:acc:{report.id}:{report.version}")
    accepted = bot.stored(report)
    for verb in ("res", "ret", "tr"):
        said = await bot.press(colleague, f"w:{verb}:{report.id}:{accepted.version}")
        assert "Li has accepted this case" in alerts(said)[0].text, verb
    said = await bot.press(colleague, return_with(accepted, Reason.GRID).pack())
    assert "Li has accepted this case" in alerts(said)[0].text
    assert bot.stored(report) == accepted
    assert bot.store.data.conversations.get(("telegram", "Zhang")) in (None, ConversationState())


async def test_the_grid_leader_may_resolve_a_case_a_worker_accepted(bot: Bot) -> None:
    holder = await bot.person("Li", RoleName.GRID_WORKER)
    leader = await bot.person("lead", RoleName.GRID_LEADER, "C1")
    report = await bot.report()
    await bot.press(holder, f"w:acc:{report.id}:{report.version}")
    await bot.press(leader, f"w:res:{report.id}:{bot.stored(report).version}")
    await bot.text(leader, "cleared")
    await bot.press(leader, "wres:skip")
    assert bot.stored(report).status is ReportStatus.RESOLVED


async def test_resolve_of_a_category_needing_a_photo_offers_no_skip_and_refuses_one(
    bot: Bot,
) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    report = await bot.report(NEEDS_PHOTO)
    await bot.press(worker, f"w:acc:{report.id}:{report.version}")
    version = bot.stored(report).version
    await bot.press(worker, f"w:res:{report.id}:{version}")
    said = await bot.text(worker, "replaced the cover")
    assert "wres:skip" not in buttons_of(said)
    said = await bot.press(worker, "wres:skip")
    assert bot.stored(report).status is ReportStatus.ACCEPTED
    said = await bot.photo(worker)
    stored = bot.stored(report)
    assert stored.status is ReportStatus.RESOLVED
    assert [p.kind for p in stored.photos] == ["after"]
    assert any(m.kind is OutKind.EDIT_MARKUP and m.message_id == "7" for m in said)


async def test_resolve_of_a_category_without_photo_rule_can_skip_the_photo(bot: Bot) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    report = await bot.report(NO_PHOTO)
    await bot.press(worker, f"w:acc:{report.id}:{report.version}")
    await bot.press(worker, f"w:res:{report.id}:{bot.stored(report).version}")
    said = await bot.text(worker, "cleared")
    assert "wres:skip" in buttons_of(said)
    await bot.press(worker, "wres:skip")
    assert bot.stored(report).status is ReportStatus.RESOLVED


async def test_the_alert_goes_to_on_duty_workers_with_photo_pin_map_and_buttons(bot: Bot) -> None:
    await bot.person("w1", RoleName.GRID_WORKER)
    await bot.person("lead", RoleName.GRID_LEADER, "C1")
    report = await bot.report()
    async with bot.uow as uow:
        await alert_new_report(uow, bot.env, report)
        await uow.commit()
    sent = bot.uow.outbox.sent()
    assert {m.chat_id for m in sent} == {"w1"}
    kinds = [m.kind for m in sent]
    assert kinds == [OutKind.TEXT, OutKind.LOCATION, OutKind.PHOTO]
    assert "rider" in sent[0].text and "+86" not in sent[0].text
    assert buttons_of(sent[:1]) == [
        f"w:acc:{report.id}:{report.version}",
        f"w:ret:{report.id}:{report.version}",
        f"w:tr:{report.id}:{report.version}",
    ]
    assert sent[2].photo in bot.photos.saved


async def test_the_grid_leader_is_alerted_when_no_worker_is_on_duty(bot: Bot) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    await bot.person("lead", RoleName.GRID_LEADER, "C1")
    await bot.send(worker, Kind.COMMAND, command="duty", text="/duty")
    report = await bot.report()
    before = len(bot.uow.outbox.sent())
    async with bot.uow as uow:
        await alert_new_report(uow, bot.env, dataclasses.replace(report))
        await uow.commit()
    assert {m.chat_id for m in bot.uow.outbox.sent()[before:]} == {"lead"}


async def test_case_history_shows_a_chosen_return_reason_in_the_readers_language(
    bot: Bot,
) -> None:
    worker = await bot.person("w1", RoleName.GRID_WORKER)
    admin = await bot.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    report = await bot.report()
    await bot.press(worker, return_with(report, Reason.GRID).pack())
    assert bot.stored(report).status is ReportStatus.RETURNED
    async with bot.uow as uow:
        account = await uow.accounts.find("telegram", admin.user_id)
        assert account is not None
        await uow.accounts.set_locale(account.id, "zh_CN")
        await uow.commit()
    said = await bot.send(admin, Kind.COMMAND, command="case", payload=report.number)
    [history] = [m.text for m in said if m.text and report.number in m.text]
    assert "不属于本网格" in history and "Not this grid" not in history
