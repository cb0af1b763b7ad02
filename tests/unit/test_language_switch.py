"""/language through the real Dispatcher on the in-memory store: the rider presses a language
button, the choice is stored, and from the next update on the bot answers in that language
(even though Telegram keeps reporting the phone's language)."""

from __future__ import annotations

import itertools

import pytest

from bot.chat import Incoming, Kind, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from tests.fakes import FakeStore
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

RIDER = User(platform="telegram", user_id="601", chat_id="601", language_code="zh-hans")
HELP_EN = "Gridsnap sends hazards you see on the road"
HELP_ZH = "随手拍把您在路上看到的隐患"


class Rider:
    def __init__(self) -> None:
        self.store = FakeStore()
        env = Env(
            catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=MemoryPhotoStore()
        )
        self.dispatcher = dispatcher_on(self.store, env, modules=("common",))
        self.ids = itertools.count(1)

    async def send(self, kind: Kind, **fields: object) -> str:
        update = Incoming(update_id=str(next(self.ids)), user=RIDER, kind=kind, **fields)  # type: ignore[arg-type]
        said: list[Outgoing] = await deliver(self.dispatcher, self.store, update)
        return "\n".join(m.text for m in said if m.kind is OutKind.TEXT)

    async def command(self, name: str) -> str:
        return await self.send(Kind.COMMAND, command=name, text=f"/{name}")

    async def press(self, data: str) -> str:
        return await self.send(Kind.BUTTON, button_data=data, callback_id="cb", message_id="m1")

    def locale(self) -> str:
        [account] = self.store.data.accounts.values()
        return account.locale


@pytest.fixture
def rider() -> Rider:
    return Rider()


async def test_a_rider_starts_in_the_language_of_their_phone(rider):
    assert HELP_ZH in await rider.command("help")
    assert rider.locale() == "zh_CN"


async def test_pressing_english_stores_it_and_the_next_reply_is_in_english(rider):
    assert "请选择语言" in await rider.command("language")
    assert "Language set to English." in await rider.press("lang:en")
    assert rider.locale() == "en"
    said = await rider.command("help")
    assert HELP_EN in said and HELP_ZH not in said


async def test_pressing_chinese_switches_back_and_the_next_reply_is_in_chinese(rider):
    await rider.press("lang:en")
    assert "语言已设为中文" in await rider.press("lang:zh_CN")
    assert rider.locale() == "zh_CN"
    said = await rider.command("help")
    assert HELP_ZH in said and HELP_EN not in said


async def test_a_forged_language_button_changes_nothing(rider):
    await rider.press("lang:en")
    await rider.press("lang:fr")
    assert rider.locale() == "en"
    assert HELP_EN in await rider.command("help")
