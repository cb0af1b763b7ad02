"""What both Telegram adapters must do when sending, over real HTTP to the local Bot API
emulator: every test here runs once with python-telegram-bot and once with aiogram, through
the parametrized ``library`` fixture. Each library's own wiring (PTB's webhook, aiogram's
polling) is tested in test_telegram_transport.py and test_aiogram_transport.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiogram
import pytest
import telegram
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.chat import Button, FileRef, Keyboard, Location, Outgoing, OutKind, inline
from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.services.photos import FileTooBig
from bot.transports import aiogram_transport
from bot.transports import telegram as ptb_transport
from bot.transports.emulator.server import BotApiEmulator
from tests.telegram_kit import PHOTO_KEY, USER, PhotoStore, emulator_with_user, out

Commands = Mapping[str | None, Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Library:
    """One adapter's pieces, so a test can ask for them without naming the library."""

    name: str
    open_bot: Callable[[BotApiEmulator], contextlib.AbstractAsyncContextManager[Any]]
    sender: Callable[..., Any]
    fetcher: Callable[..., Any]
    register_commands: Callable[[Any, Commands], Awaitable[None]]


@contextlib.asynccontextmanager
async def _ptb_bot(emulator: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        emulator.token, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as bot:
        yield bot


@contextlib.asynccontextmanager
async def _aiogram_bot(emulator: BotApiEmulator) -> AsyncIterator[aiogram.Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.url))
    async with aiogram.Bot(emulator.token, session=session) as bot:  # closes the session
        yield bot


LIBRARIES = [
    Library(
        name="ptb",
        open_bot=_ptb_bot,
        sender=ptb_transport.TelegramSender,
        fetcher=ptb_transport.TelegramFetcher,
        register_commands=ptb_transport.register_commands,
    ),
    Library(
        name="aiogram",
        open_bot=_aiogram_bot,
        sender=aiogram_transport.AiogramSender,
        fetcher=aiogram_transport.AiogramFetcher,
        register_commands=aiogram_transport.register_commands,
    ),
]


@pytest.fixture(autouse=True)
def ptb_timedeltas(monkeypatch):
    # PTB 22 warns about its int-to-timedelta migration while raising RetryAfter unless the
    # new behaviour is chosen; the transport reads both forms.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture(params=LIBRARIES, ids=lambda library: library.name)
def library(request: pytest.FixtureRequest) -> Library:
    chosen: Library = request.param
    return chosen


@pytest.fixture
async def emulator():
    async with emulator_with_user() as emu:
        yield emu


@pytest.fixture
async def bot(library, emulator):
    async with library.open_bot(emulator) as opened:
        yield opened


@pytest.fixture
def store():
    return PhotoStore()


@pytest.fixture
def sender(library, bot, store):
    return library.sender(bot=bot, photo_loader=store.load)


@pytest.fixture
def fetcher(library, bot):
    return library.fetcher(bot=bot)


class TestSender:
    async def test_text_with_an_inline_keyboard_arrives_with_its_buttons(self, emulator, sender):
        message_id = await sender.send(
            out(text="确认？", keyboard=inline([("是", "yes"), ("否", "no")]))
        )
        entry = emulator.bot_messages(USER)[-1]
        assert str(entry.message_id) == message_id
        assert entry.message["text"] == "确认？"
        buttons = entry.reply_markup["inline_keyboard"][0]
        assert [(b["text"], b["callback_data"]) for b in buttons] == [("是", "yes"), ("否", "no")]

    async def test_a_url_button_opens_its_link(self, emulator, sender):
        link = Keyboard(rows=((Button(text="地图", url="https://example.org/map"),),))
        await sender.send(out(text="位置", keyboard=link))
        button = emulator.bot_messages(USER)[-1].reply_markup["inline_keyboard"][0][0]
        assert button == {"text": "地图", "url": "https://example.org/map"}

    async def test_a_reply_keyboard_asks_for_location_and_contact_and_can_be_removed(
        self, emulator, sender
    ):
        share = Keyboard(
            rows=(
                (Button(text="发送位置", request_location=True),),
                (Button(text="发送手机号", request_contact=True),),
                (Button(text="取消"),),
            ),
            inline=False,
        )
        await sender.send(out(text="请分享位置", keyboard=share))
        rows = emulator.reply_keyboard(USER)["keyboard"]
        assert rows[0][0]["request_location"] is True
        assert rows[1][0]["request_contact"] is True
        assert rows[2][0] == {"text": "取消"}
        await sender.send(out(OutKind.REMOVE_KEYBOARD, text="谢谢"))
        assert emulator.reply_keyboard(USER) is None

    async def test_a_stored_photo_is_uploaded_once_then_sent_by_file_id(
        self, emulator, sender, store
    ):
        first = await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY, text="现场照片"))
        second = await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY))
        assert first != second
        assert store.reads == 1
        entries = emulator.bot_messages(USER)
        assert entries[-2].message["caption"] == "现场照片"
        first_id = entries[-2].message["photo"][-1]["file_id"]
        assert entries[-1].message["photo"][-1]["file_id"] == first_id

    async def test_a_stale_cached_file_id_falls_back_to_uploading_again(
        self, library, emulator, bot, store
    ):
        sender = library.sender(bot=bot, photo_loader=store.load, file_ids={PHOTO_KEY: "gone"})
        await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY))
        assert store.reads == 1
        assert emulator.bot_messages(USER)[-1].message["photo"]

    async def test_a_photo_missing_from_the_store_leaves_its_caption_and_buttons_as_text(
        self, emulator, sender
    ):
        # The retention sweep (or an erasure) may have removed a case's photo; the alert
        # must still reach the worker with its Accept button.
        alert = out(OutKind.PHOTO, photo="b" * 64, text="新案件", keyboard=inline([("接单", "a")]))
        message_id = await sender.send(alert)
        entry = emulator.bot_messages(USER)[-1]
        assert str(entry.message_id) == message_id
        assert entry.message["text"] == "新案件"
        assert "photo" not in entry.message
        assert entry.reply_markup["inline_keyboard"][0][0]["callback_data"] == "a"

    async def test_a_missing_photo_without_a_caption_sends_nothing(self, emulator, sender):
        before = len(emulator.bot_messages(USER))
        assert await sender.send(out(OutKind.PHOTO, photo="b" * 64)) is None
        assert len(emulator.bot_messages(USER)) == before

    async def test_a_location_is_sent_as_a_map_pin(self, emulator, sender):
        await sender.send(out(OutKind.LOCATION, location=Location(lat=39.93, lon=119.6)))
        pin = emulator.bot_messages(USER)[-1].message
        assert pin["location"]["latitude"] == pytest.approx(39.93)
        assert "venue" not in pin

    async def test_a_location_with_a_title_is_sent_as_a_venue(self, emulator, sender):
        venue = Location(lat=39.9301, lon=119.5889, title="秦皇岛站", address="海港区北环路")
        await sender.send(out(OutKind.LOCATION, location=venue))
        assert emulator.bot_messages(USER)[-1].message["venue"]["title"] == "秦皇岛站"

    async def test_edits_change_the_text_and_the_buttons_and_tolerate_no_change(
        self, emulator, sender
    ):
        message_id = await sender.send(out(text="待处理", keyboard=inline([("接单", "take")])))
        edit = out(OutKind.EDIT_TEXT, text="已接单", message_id=message_id)
        assert await sender.send(edit) == message_id
        assert await sender.send(edit) == message_id  # "message is not modified" is fine
        await sender.send(
            out(OutKind.EDIT_MARKUP, message_id=message_id, keyboard=inline([("完成", "done")]))
        )
        entry = emulator.bot_messages(USER)[-1]
        assert entry.message["text"] == "已接单"
        assert entry.reply_markup["inline_keyboard"][0][0]["callback_data"] == "done"

    async def test_editing_a_message_that_does_not_exist_fails_permanently(self, sender):
        with pytest.raises(PermanentError):
            await sender.send(out(OutKind.EDIT_TEXT, text="x", message_id="999999"))

    async def test_a_button_press_is_answered(self, emulator, sender):
        message_id = await sender.send(out(text="?", keyboard=inline([("好", "ok")])))
        query_id = emulator.press(USER, int(message_id), "ok")
        answer = out(OutKind.ANSWER_BUTTON, callback_id=query_id, text="收到")
        assert await sender.send(answer) is None
        assert emulator.callback_answer(query_id)["text"] == "收到"

    @pytest.mark.parametrize(
        ("status", "error"),
        [(429, RetryAfter), (500, TransientError), (502, TransientError), (403, PermanentError)],
    )
    async def test_platform_errors_become_neutral_delivery_errors(
        self, emulator, sender, status, error
    ):
        emulator.inject_error("sendMessage", status=status, retry_after=3)
        with pytest.raises(error) as caught:
            await sender.send(out(text="hi"))
        if isinstance(caught.value, RetryAfter):
            assert caught.value.seconds == 3

    async def test_an_unknown_chat_is_a_permanent_failure(self, sender):
        with pytest.raises(PermanentError):
            await sender.send(Outgoing(platform="telegram", chat_id="424242", text="hi"))


class TestFetcher:
    async def test_the_fetcher_downloads_a_document_by_file_id(self, emulator, fetcher, store):
        sent = emulator.send_document(USER, store.data, file_name="DSCN0010.jpg")
        ref = FileRef(file_id=sent["document"]["file_id"])
        assert await fetcher.fetch(ref, max_bytes=10_000_000) == store.data

    async def test_the_fetcher_refuses_a_file_over_the_cap_before_downloading(
        self, emulator, fetcher, store
    ):
        sent = emulator.send_document(USER, store.data, file_name="DSCN0010.jpg")
        with pytest.raises(FileTooBig):
            await fetcher.fetch(FileRef(file_id=sent["document"]["file_id"]), max_bytes=1000)
        sized = FileRef(file_id=sent["document"]["file_id"], size=len(store.data))
        calls_before = len(emulator.calls("getFile"))
        with pytest.raises(FileTooBig):
            await fetcher.fetch(sized, max_bytes=1000)
        assert len(emulator.calls("getFile")) == calls_before

    async def test_the_fetcher_reports_an_unknown_file_as_permanent(self, fetcher):
        with pytest.raises(PermanentError):
            await fetcher.fetch(FileRef(file_id="no-such-file"), max_bytes=1000)


async def test_commands_are_registered_per_language(library, emulator, bot):
    await library.register_commands(
        bot,
        {None: [("start", "Start"), ("report", "Report")], "zh_CN": [("start", "开始")]},
    )
    assert [c["command"] for c in emulator.commands()] == ["start", "report"]
    assert [c["description"] for c in emulator.commands("zh")] == ["开始"]
