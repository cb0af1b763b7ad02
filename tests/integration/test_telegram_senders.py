"""What both Telegram adapters must do when sending, over real HTTP to the local Bot API
emulator: every test here runs once with python-telegram-bot and once with aiogram, through
the parametrized ``library`` fixture. Each library's own wiring (PTB's webhook, aiogram's
polling) is tested in test_telegram_transport.py and test_aiogram_transport.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiogram
import pytest
import telegram
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.chat import Button, FileRef, Keyboard, Location, Outgoing, OutKind, inline
from bot.delivery import OutboxSender, PermanentError, RetryAfter, TransientError, UnitOfWorkOutbox
from bot.services.photos import FileTooBig
from bot.transports import aiogram_transport
from bot.transports import telegram as ptb_transport
from bot.transports.emulator.server import BotApiEmulator
from storage.models import OutboxRowModel
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


async def test_a_send_slower_than_ptbs_own_read_timeout_is_waited_for(
    library, emulator, bot, store
):
    # PTB's default read timeout is 5 s: a send Telegram answered in 5.5 s was taken for a
    # failure and sent again. Sends now wait GRIDSNAP_SEND_TIMEOUT_S (30 s by default).
    sender = library.sender(bot=bot, photo_loader=store.load)
    emulator.inject_error("sendMessage", status=None, hang=5.5)
    message_id = await sender.send(out(text="慢"))
    assert [str(e.message_id) for e in emulator.bot_messages(USER)] == [message_id]


# -- through the outbox, on SQLite and PostgreSQL ------------------------------------------


class StepClock:
    """The sender's clock: sleeping moves it on, nothing waits for real."""

    def __init__(self) -> None:
        self.current = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


async def _queue(make_uow, *messages: Outgoing) -> list[int]:
    async with make_uow() as uow:
        ids = [await uow.outbox.add(message) for message in messages]
        await uow.commit()
    return ids


@dataclass(frozen=True)
class Stored:
    state: str
    last_error: str


async def _row(make_uow, row_id: int) -> Stored:
    """The stored row as an operator would query it."""
    async with make_uow() as uow:
        row = await uow.outbox.s.get(OutboxRowModel, row_id)
        assert row is not None
        return Stored(state=row.state, last_error=row.last_error or "")


async def _drain_for_an_hour(sender: OutboxSender, clock: StepClock) -> None:
    """What ``run`` does over an hour: drain, and again whenever a retry falls due."""
    for _ in range(60):
        while await sender.drain_once():
            pass
        clock.current += timedelta(minutes=1)


def _outbox(make_uow, send, clock: StepClock, **options: Any) -> OutboxSender:
    store = UnitOfWorkOutbox(make_uow, owner="test-instance")
    return OutboxSender(store=store, senders={"telegram": send}, clock=clock, **options)


async def test_an_unreadable_answer_is_tried_three_times_then_failed_and_the_chat_moves_on(
    emulator, sender, make_uow
):
    # A 2xx whose body was not JSON was retried for ever, and the chat behind it waited.
    text_row, pin_row = await _queue(
        make_uow,
        out(text="第一条"),
        out(OutKind.LOCATION, location=Location(lat=39.93, lon=119.6)),
    )
    emulator.inject_error("sendMessage", status=None, garbled=True, times=1000)
    clock = StepClock()
    await _drain_for_an_hour(_outbox(make_uow, sender.send, clock, max_attempts=3), clock)
    failed = await _row(make_uow, text_row)
    assert failed.state == "failed"
    assert "after 3 tries" in failed.last_error
    assert "UnreadableAnswer" in failed.last_error
    assert len(emulator.calls("sendMessage")) == 3
    assert (await _row(make_uow, pin_row)).state == "sent"
    assert [e.message.get("location") is not None for e in emulator.bot_messages(USER)] == [True]


async def test_a_send_carried_out_but_answered_after_the_timeout_is_not_sent_again(
    library, emulator, bot, store, make_uow
):
    # A slow sendMessage, delivered but answered past the read timeout, went out three times.
    slow = library.sender(bot=bot, photo_loader=store.load, timeout=1)
    [row_id] = await _queue(make_uow, out(text="只说一次"))
    emulator.inject_error("sendMessage", status=None, hang=6, carried_out=True)  # > PTB's 5 s
    clock = StepClock()
    await _drain_for_an_hour(_outbox(make_uow, slow.send, clock), clock)
    assert [e.message["text"] for e in emulator.bot_messages(USER)] == ["只说一次"]
    row = await _row(make_uow, row_id)
    assert row.state == "unsure"
    assert "MaybeSent" in row.last_error


async def test_an_edit_that_timed_out_is_made_again(library, emulator, bot, store, make_uow):
    # Unlike a message, an edit made twice changes nothing, so it is not left in doubt.
    slow = library.sender(bot=bot, photo_loader=store.load, timeout=1)
    message_id = await slow.send(out(text="待处理"))
    [row_id] = await _queue(make_uow, out(OutKind.EDIT_TEXT, text="已接单", message_id=message_id))
    emulator.inject_error("editMessageText", status=None, hang=4)
    clock = StepClock()
    await _drain_for_an_hour(_outbox(make_uow, slow.send, clock), clock)
    assert (await _row(make_uow, row_id)).state == "sent"
    assert emulator.bot_messages(USER)[-1].message["text"] == "已接单"
