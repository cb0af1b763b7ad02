"""A message written in a group chat, on real SQLite and PostgreSQL.

Any message in a group used to repoint the sender's account to the group: ``/mydata`` then
posted the rider's name and phone there, and every later status push and worker alert
followed. The bot serves private chats only now: a group message creates no account,
changes no account's chat and no conversation, and the group is told once — ever, across
restarts — to talk to the bot privately, with a t.me link that opens the private chat.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chat import ChatType, Kind, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import ConversationState, Level, MapUnit, RoleName
from bot.services.env import Env, MapHolder
from tests.chatkit import RIDER_PHONE, ChatBot, MakeUow, approve_informant, square
from tests.flowkit import MemoryPhotoStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
GROUP_CHAT = "-1001234567890"
MAP = [MapUnit(code="G1", name="G1", level=Level.GRID, parent_code=None, geometry=square(119.5))]
PRIVATELY = "Please talk to me privately: https://t.me/gridsnap_bot?start=private"


def bot_over(make_uow: MakeUow) -> ChatBot:
    """A freshly started bot process: only what is stored carries over."""
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=MemoryPhotoStore(),
        zone=SHANGHAI,
        clock=lambda: NOW,
    )
    return ChatBot(make_uow, env)


def in_group(user: User) -> User:
    return replace(user, chat_id=GROUP_CHAT, chat_type=ChatType.GROUP, language_code="en")


@pytest.fixture
async def chat(make_uow: MakeUow) -> ChatBot:
    bot = bot_over(make_uow)
    await bot.seed_map(MAP)
    return bot


async def registered_rider(chat: ChatBot) -> User:
    rider = await chat.person("Wang Rider")
    account_id = await chat.account_id(rider)
    async with chat.make_uow() as uow:
        await approve_informant(uow, account_id, at=NOW, real_name="王小明")
        await uow.conversations.save(
            "telegram", rider.user_id, ConversationState(flow="rep", step="note"), at=NOW
        )
        await uow.commit()
    return rider


async def test_mydata_in_a_group_posts_nothing_personal_and_leaves_the_account_and_state_alone(
    chat: ChatBot,
) -> None:
    rider = await registered_rider(chat)
    said = await chat.command(in_group(rider), "mydata")
    assert [(m.chat_id, m.kind) for m in said] == [(GROUP_CHAT, OutKind.TEXT)]
    assert PRIVATELY in said[0].text
    assert "王小明" not in said[0].text and RIDER_PHONE not in said[0].text
    async with chat.make_uow() as uow:
        account = await uow.accounts.find("telegram", rider.user_id)
        state = await uow.conversations.load("telegram", rider.user_id)
    assert account is not None and account.chat_id == rider.chat_id
    assert (state.flow, state.step) == ("rep", "note")
    # And the private chat still answers as before.
    private = await chat.command(rider, "mydata")
    assert [m.chat_id for m in private] == [rider.chat_id]
    assert "王小明" in private[0].text


async def test_a_stranger_writing_in_a_group_gets_no_account(chat: ChatBot) -> None:
    stranger = User(platform="telegram", user_id="777", chat_id=GROUP_CHAT, display_name="Zhou")
    said = await chat.text(in_group(stranger), "井盖没了")
    assert [m.chat_id for m in said] == [GROUP_CHAT]
    async with chat.make_uow() as uow:
        assert await uow.accounts.find("telegram", "777") is None


async def test_a_group_is_told_once_whoever_writes_and_even_after_a_restart(
    chat: ChatBot, make_uow: MakeUow
) -> None:
    rider = await registered_rider(chat)
    worker = await chat.person("Li Worker", RoleName.GRID_WORKER)
    first = await chat.text(in_group(rider), "有人吗")
    assert [m.text for m in first if PRIVATELY in m.text] != []
    assert await chat.command(in_group(worker), "queue") == []
    assert await chat.send(in_group(rider), Kind.UNSUPPORTED) == []
    restarted = bot_over(make_uow)
    restarted.ids = chat.ids  # new update ids, as Telegram would send
    assert await restarted.command(in_group(rider), "start") == []


async def test_a_button_pressed_in_a_group_is_answered_to_the_presser_only(chat: ChatBot) -> None:
    rider = await registered_rider(chat)
    said = await chat.press(in_group(rider), "w:acc:1:1")
    assert [(m.kind, m.alert) for m in said] == [(OutKind.ANSWER_BUTTON, True)]
    assert "talk to me privately" in said[0].text
    async with chat.make_uow() as uow:
        state = await uow.conversations.load("telegram", rider.user_id)
    assert state.flow == "rep"


async def test_the_link_a_group_is_given_starts_the_private_chat_like_a_plain_start(
    chat: ChatBot,
) -> None:
    newcomer = User(platform="telegram", user_id="888", chat_id="888", language_code="en")
    said = await chat.command(newcomer, "start", "private")
    assert [m.chat_id for m in said] == ["888", "888"]
    assert said[0].text.startswith("Welcome to Gridsnap!")  # then the consent screen
