"""/help fits the person asking, /mydata names languages, company names read in English,
and a choice stays visible where it was made: through the real Dispatcher on the in-memory
store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat import Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import InformantProfile, InformantStatus, Level, RoleName
from bot.services.env import Env, MapHolder
from tests.chatkit import ChatBot, approve_informant, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 12, 3, 1, 30, tzinfo=UTC)
MAP = [unit("C1", Level.COMMUNITY, None, 119.5), unit("G1", Level.GRID, "C1", 119.5)]


@pytest.fixture
async def chat() -> ChatBot:
    store = FakeStore()
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=100),
        photos=MemoryPhotoStore(),
        clock=lambda: NOW,
    )
    bot = ChatBot(lambda: FakeUnitOfWork(store=store), env)
    await bot.seed_map(MAP)
    return bot


def text_to(out: list[Outgoing], user: User) -> str:
    return "\n".join(m.text for m in out if m.chat_id == user.chat_id and m.kind is OutKind.TEXT)


async def _help(chat: ChatBot, user: User) -> str:
    return text_to(await chat.command(user, "help"), user)


async def test_help_for_an_approved_rider_offers_reporting_and_no_registration(chat: ChatBot):
    rider = await chat.person("rider")
    async with chat.make_uow() as uow:
        await approve_informant(uow, await chat.account_id(rider), at=NOW)
        await uow.commit()
    said = await _help(chat, rider)
    assert "/report" in said and "/myreports" in said
    assert "/register" not in said
    assert "/mydata" in said and "/deletedata" in said


async def test_help_for_a_newcomer_offers_registration_and_not_reporting(chat: ChatBot):
    newcomer = await chat.person("newcomer")
    said = await _help(chat, newcomer)
    assert "/register" in said and "/report" not in said and "/queue" not in said
    assert "/mydata" in said and "/deletedata" in said


async def test_help_for_a_pending_applicant_says_it_is_waiting(chat: ChatBot):
    applicant = await chat.person("applicant")
    async with chat.make_uow() as uow:
        await uow.informants.upsert(
            InformantProfile(
                account_id=await chat.account_id(applicant),
                real_name="赵",
                phone="+8613800000001",
                company="美团",
                status=InformantStatus.PENDING,
                home_region_id=None,
                created_at=NOW,
            )
        )
        await uow.commit()
    said = await _help(chat, applicant)
    assert "waiting" in said and "/register" not in said


async def test_help_for_a_grid_worker_offers_the_queue_and_no_registration(chat: ChatBot):
    worker = await chat.person("worker", RoleName.GRID_WORKER)
    said = await _help(chat, worker)
    assert "/queue" in said and "/register" not in said and "/returned" not in said


async def test_mydata_names_the_language_in_the_readers_language(chat: ChatBot):
    english = await chat.person("en-reader", locale="en")
    chinese = await chat.person("zh-reader", locale="zh_CN")
    assert "Language: English" in text_to(await chat.command(english, "mydata"), english)
    said = text_to(await chat.command(chinese, "mydata"), chinese)
    assert "中文" in said and "zh_CN" not in said


async def test_mydata_shows_a_known_company_by_its_english_name_in_english(chat: ChatBot):
    rider = await chat.person("rider")
    async with chat.make_uow() as uow:
        await approve_informant(uow, await chat.account_id(rider), at=NOW)  # company 美团
        await uow.commit()
    assert "Company: Meituan" in text_to(await chat.command(rider, "mydata"), rider)


async def test_the_chosen_language_stays_on_the_language_message(chat: ChatBot):
    reader = await chat.person("reader")
    out = await chat.press(reader, "lang:zh_CN")
    [edit] = [m for m in out if m.kind is OutKind.EDIT_MARKUP]
    assert edit.keyboard is not None
    assert [b.text for row in edit.keyboard.rows for b in row] == ["✓ 中文"]
    out = await chat.press(reader, edit.keyboard.rows[0][0].data or "")
    assert [m.kind for m in out] == [OutKind.ANSWER_BUTTON]  # pressing it again: nothing
