"""U+0000 typed into any text field of any flow, on real SQLite and PostgreSQL.

PostgreSQL refuses U+0000 in text and in JSON; SQLite stores it. So on PostgreSQL a NUL
in a name, a note, a case number or a deep-link payload rolled the whole update back and
the person was told "something went wrong" — found by sending one in every text field of
every flow, as this test does. All nine fields below failed so on PostgreSQL: four flows
keep the text in the conversation state (registration name and company, report note,
resolve note), the others look it up or store it (duplicate number, /case, the /start
invite payload, the not-fixed reason, the chat name Telegram sends). On SQLite the NUL
was stored. It is now stripped from the update before any flow sees it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chat import Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.lifecycle import Action, ActionArgs
from bot.domain.model import (
    ConversationState,
    GeoPoint,
    Level,
    MapUnit,
    Report,
    ReportPhoto,
    RoleName,
)
from bot.i18n import translator
from bot.services import cases
from bot.services.env import Env, MapHolder
from bot.ui.cases import Verb, press
from tests.chatkit import ChatBot, MakeUow, approve_informant, square, submit
from tests.flowkit import MemoryPhotoStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
GARBAGE = "0102"
MAP = [MapUnit(code="G1", name="G1", level=Level.GRID, parent_code=None, geometry=square(119.5))]
APOLOGY = "Sorry, something went wrong on our side. Please try again."
APOLOGIES = {translator(locale)._(APOLOGY) for locale in ("en", "zh_CN")}
PHOTO = {"key": "a" * 64, "phash": "0" * 16, "w": 4, "h": 3}


class Town(ChatBot):
    def __init__(self, make_uow: MakeUow) -> None:
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=MemoryPhotoStore(),
            zone=SHANGHAI,
            clock=lambda: NOW,
        )
        super().__init__(make_uow, env)

    async def rider(self) -> User:
        rider = await self.person("rider")
        account_id = await self.account_id(rider)
        async with self.make_uow() as uow:
            await approve_informant(uow, account_id, at=NOW)
            await uow.commit()
        return rider

    async def in_state(self, user: User, flow: str, step: str, **data: object) -> None:
        async with self.make_uow() as uow:
            state = ConversationState(flow=flow, step=step, data=dict(data))
            await uow.conversations.save("telegram", user.user_id, state, at=NOW)
            await uow.commit()

    async def accepted_case(self, worker: User) -> Report:
        reporter = await self.account_id(await self.rider())
        async with self.make_uow() as uow:
            where = GeoPoint(lat=39.915, lon=119.515)
            report = await submit(
                uow, self.env, reporter, category=GARBAGE, location=where, note=""
            )
            await uow.commit()
        await self.press(worker, press(Verb.ACCEPT, report).pack())
        return await self.stored(report)

    async def stored_text(self, user: User) -> str:
        """Everything kept about ``user``'s conversation and account, as one string."""
        async with self.make_uow() as uow:
            state = await uow.conversations.load("telegram", user.user_id)
            account = await uow.accounts.find("telegram", user.user_id)
        return json.dumps([state.data, account.display_name if account else ""])


Scenario = Callable[[Town], Awaitable[tuple[User, list[Outgoing]]]]


async def registration_name(town: Town) -> tuple[User, list[Outgoing]]:
    rider = await town.person("newcomer")
    await town.in_state(rider, "reg", "name", only=False)
    return rider, await town.text(rider, "王\x00小明")


async def registration_company(town: Town) -> tuple[User, list[Outgoing]]:
    rider = await town.person("newcomer")
    await town.in_state(rider, "reg", "company_other", only=False, name="王", phone="+86138")
    return rider, await town.text(rider, "闪\x00送")


async def report_note(town: Town) -> tuple[User, list[Outgoing]]:
    rider = await town.rider()
    draft = {"photos": [PHOTO], "loc": {"lat": 39.915, "lon": 119.515}, "cat": GARBAGE}
    await town.in_state(rider, "rep", "note", **draft, groups=[], full=[], note=None, dups=[])
    return rider, await town.text(rider, "by the\x00 gate")


async def resolve_note(town: Town) -> tuple[User, list[Outgoing]]:
    worker = await town.person("worker", RoleName.GRID_WORKER)
    case = await town.accepted_case(worker)
    await town.press(worker, press(Verb.RESOLVE, case).pack())
    return worker, await town.text(worker, "swept\x00")


async def duplicate_number(town: Town) -> tuple[User, list[Outgoing]]:
    worker = await town.person("worker", RoleName.GRID_WORKER)
    case = await town.accepted_case(worker)
    await town.in_state(worker, "wdup", "number", rid=case.id, ver=case.version)
    return worker, await town.text(worker, "261126-\x000001")


async def not_fixed_reason(town: Town) -> tuple[User, list[Outgoing]]:
    worker = await town.person("worker", RoleName.GRID_WORKER)
    case = await town.accepted_case(worker)
    async with town.make_uow() as uow:
        staff = await uow.accounts.find("telegram", worker.user_id)
        after = ReportPhoto(sha256="b" * 64, phash="0" * 16, width=4, height=3)
        args = ActionArgs(note="swept")
        resolved = await cases.act(
            uow, town.env, report_id=case.id, actor_account=staff, action=Action.RESOLVE,
            args=args, photo=after,
        )  # fmt: skip
        assert resolved.ok, resolved.refusal
        await uow.commit()
    rider = User(platform="telegram", user_id="rider", chat_id="rider", display_name="rider")
    await town.press(rider, f"fb:no:{case.id}")
    return rider, await town.text(rider, "still\x00 there")


async def case_number(town: Town) -> tuple[User, list[Outgoing]]:
    worker = await town.person("worker", RoleName.GRID_WORKER)
    return worker, await town.command(worker, "case", "261126-\x000001")


async def start_payload(town: Town) -> tuple[User, list[Outgoing]]:
    rider = await town.person("newcomer")
    return rider, await town.command(rider, "start", "inv_\x00abc")


async def chat_name(town: Town) -> tuple[User, list[Outgoing]]:
    rider = await town.rider()  # consented: the chat name is kept
    return rider, await town.text(replace(rider, display_name="Wang\x00 Wei"), "hello")


SCENARIOS: dict[str, Scenario] = {
    "registration name": registration_name,
    "registration company": registration_company,
    "report note": report_note,
    "resolve note": resolve_note,
    "duplicate number": duplicate_number,
    "not-fixed reason": not_fixed_reason,
    "case number": case_number,
    "start payload": start_payload,
    "chat name": chat_name,
}


@pytest.fixture
async def town(make_uow: MakeUow) -> Town:
    town = Town(make_uow)
    await town.seed_map(MAP)
    return town


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_nul_in_any_text_field_is_stripped_not_a_failure(town: Town, scenario: str) -> None:
    user, said = await SCENARIOS[scenario](town)
    to_them = [m.text for m in said if m.chat_id == user.chat_id]
    assert to_them, "no answer at all"
    assert APOLOGIES.isdisjoint(to_them)
    assert not [m for m in town.outbox if "\\u0000" in json.dumps(m.to_dict())]
    assert "\\u0000" not in await town.stored_text(user)
