"""The aiogram transport over real HTTP against the local Bot API emulator.

The same cases as the PTB transport's test (test_telegram_transport.py): what one adapter
does, the other must do too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.chat import Button, FileRef, Incoming, Keyboard, Kind, Location, Outgoing, OutKind, inline
from bot.config import ConfigError, Settings
from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.services.photos import FileTooBig
from bot.transports.aiogram_transport import (
    AiogramFetcher,
    AiogramSender,
    build,
    polling,
    register_commands,
)
from bot.transports.emulator.server import BotApiEmulator

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "photos"
PHOTO_KEY = "a" * 64
USER = 7001
WAIT = 10.0  # seconds; an update normally arrives within milliseconds


class PhotoStore:
    """Counts reads, so a second upload of the same photo would show."""

    def __init__(self) -> None:
        self.data = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()
        self.reads = 0

    def load(self, key: str) -> bytes:
        if key != PHOTO_KEY:
            raise KeyError(key)
        self.reads += 1
        return self.data


@pytest.fixture
async def emulator():
    async with BotApiEmulator() as emu:
        emu.user(USER, first_name="Wei")
        yield emu


@pytest.fixture
async def bot(emulator):
    session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.url))
    async with Bot(emulator.token, session=session) as aiogram_bot:  # closes the session
        yield aiogram_bot


@pytest.fixture
def store():
    return PhotoStore()


@pytest.fixture
def sender(bot, store):
    return AiogramSender(bot=bot, photo_loader=store.load)


def out(kind: OutKind = OutKind.TEXT, **fields) -> Outgoing:
    return Outgoing(platform="telegram", chat_id=str(USER), kind=kind, **fields)


async def test_text_with_an_inline_keyboard_arrives_with_its_buttons(emulator, sender):
    message_id = await sender.send(
        out(text="确认？", keyboard=inline([("是", "yes"), ("否", "no")]))
    )
    entry = emulator.bot_messages(USER)[-1]
    assert str(entry.message_id) == message_id
    assert entry.message["text"] == "确认？"
    buttons = entry.reply_markup["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [("是", "yes"), ("否", "no")]


async def test_a_url_button_opens_its_link(emulator, sender):
    link = Keyboard(rows=((Button(text="地图", url="https://example.org/map"),),))
    await sender.send(out(text="位置", keyboard=link))
    button = emulator.bot_messages(USER)[-1].reply_markup["inline_keyboard"][0][0]
    assert button == {"text": "地图", "url": "https://example.org/map"}


async def test_a_reply_keyboard_asks_for_location_and_contact_and_can_be_removed(emulator, sender):
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


async def test_a_stored_photo_is_uploaded_once_then_sent_by_file_id(emulator, sender, store):
    first = await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY, text="现场照片"))
    second = await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY))
    assert first != second
    assert store.reads == 1
    entries = emulator.bot_messages(USER)
    assert entries[-2].message["caption"] == "现场照片"
    first_id = entries[-2].message["photo"][-1]["file_id"]
    assert entries[-1].message["photo"][-1]["file_id"] == first_id


async def test_a_stale_cached_file_id_falls_back_to_uploading_again(emulator, bot, store):
    sender = AiogramSender(bot=bot, photo_loader=store.load, file_ids={PHOTO_KEY: "gone"})
    await sender.send(out(OutKind.PHOTO, photo=PHOTO_KEY))
    assert store.reads == 1
    assert emulator.bot_messages(USER)[-1].message["photo"]


async def test_a_photo_missing_from_the_store_fails_permanently(sender):
    with pytest.raises(PermanentError):
        await sender.send(out(OutKind.PHOTO, photo="b" * 64))


async def test_a_location_is_sent_as_a_map_pin(emulator, sender):
    await sender.send(out(OutKind.LOCATION, location=Location(lat=39.93, lon=119.6)))
    pin = emulator.bot_messages(USER)[-1].message
    assert pin["location"]["latitude"] == pytest.approx(39.93)
    assert "venue" not in pin


async def test_a_location_with_a_title_is_sent_as_a_venue(emulator, sender):
    venue = Location(lat=39.9301, lon=119.5889, title="秦皇岛站", address="海港区北环路")
    await sender.send(out(OutKind.LOCATION, location=venue))
    assert emulator.bot_messages(USER)[-1].message["venue"]["title"] == "秦皇岛站"


async def test_edits_change_the_text_and_the_buttons_and_tolerate_no_change(emulator, sender):
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


async def test_editing_a_message_that_does_not_exist_fails_permanently(sender):
    with pytest.raises(PermanentError):
        await sender.send(out(OutKind.EDIT_TEXT, text="x", message_id="999999"))


async def test_a_button_press_is_answered(emulator, sender):
    message_id = await sender.send(out(text="?", keyboard=inline([("好", "ok")])))
    query_id = emulator.press(USER, int(message_id), "ok")
    assert await sender.send(out(OutKind.ANSWER_BUTTON, callback_id=query_id, text="收到")) is None
    assert emulator.callback_answer(query_id)["text"] == "收到"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RetryAfter), (500, TransientError), (502, TransientError), (403, PermanentError)],
)
async def test_platform_errors_become_neutral_delivery_errors(emulator, sender, status, error):
    emulator.inject_error("sendMessage", status=status, retry_after=3)
    with pytest.raises(error) as caught:
        await sender.send(out(text="hi"))
    if isinstance(caught.value, RetryAfter):
        assert caught.value.seconds == 3


async def test_an_unknown_chat_is_a_permanent_failure(sender):
    with pytest.raises(PermanentError):
        await sender.send(Outgoing(platform="telegram", chat_id="424242", text="hi"))


async def test_the_fetcher_downloads_a_document_by_file_id(emulator, bot, store):
    sent = emulator.send_document(USER, store.data, file_name="DSCN0010.jpg")
    ref = FileRef(file_id=sent["document"]["file_id"])
    assert await AiogramFetcher(bot=bot).fetch(ref, max_bytes=10_000_000) == store.data


async def test_the_fetcher_refuses_a_file_over_the_cap_before_downloading(emulator, bot, store):
    sent = emulator.send_document(USER, store.data, file_name="DSCN0010.jpg")
    fetcher = AiogramFetcher(bot=bot)
    with pytest.raises(FileTooBig):
        await fetcher.fetch(FileRef(file_id=sent["document"]["file_id"]), max_bytes=1000)
    sized = FileRef(file_id=sent["document"]["file_id"], size=len(store.data))
    calls_before = len(emulator.calls("getFile"))
    with pytest.raises(FileTooBig):
        await fetcher.fetch(sized, max_bytes=1000)
    assert len(emulator.calls("getFile")) == calls_before


async def test_the_fetcher_reports_an_unknown_file_as_permanent(bot):
    with pytest.raises(PermanentError):
        await AiogramFetcher(bot=bot).fetch(FileRef(file_id="no-such-file"), max_bytes=1000)


async def test_commands_are_registered_per_language(emulator, bot):
    await register_commands(
        bot,
        {None: [("start", "Start"), ("report", "Report")], "zh_CN": [("start", "开始")]},
    )
    assert [c["command"] for c in emulator.commands()] == ["start", "report"]
    assert [c["description"] for c in emulator.commands("zh")] == ["开始"]


def settings_for(emulator: BotApiEmulator, **overrides) -> Settings:
    return Settings(
        telegram_token=emulator.token, telegram_api_url=emulator.url, transport="aiogram"
    ).model_copy(update=overrides)


async def next_incoming(received: asyncio.Queue[Incoming]) -> Incoming:
    return await asyncio.wait_for(received.get(), WAIT)


async def test_polling_hands_each_kind_of_update_to_the_dispatcher_in_order(emulator, store):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    transport = build(settings_for(emulator), received.put)
    async with polling(transport):
        emulator.send_text(USER, "/start inv_8f3Kq2")
        emulator.send_photo(USER, store.data, caption="积水")
        emulator.send_album(USER, [store.data, store.data])
        emulator.send_location(USER, 39.93, 119.6)
        emulator.send_venue(USER, 39.9301, 119.5889, title="秦皇岛站", address="海港区北环路")
        emulator.send_contact(USER, "+8613800138000")
        got = [await next_incoming(received) for _ in range(7)]
    command, photo, first, second, location, venue, contact = got
    assert (command.kind, command.command, command.payload) == (Kind.COMMAND, "start", "inv_8f3Kq2")
    assert command.user.user_id == str(USER)
    assert photo.kind is Kind.PHOTO and photo.text == "积水"
    assert photo.photo is not None and photo.photo.size
    assert first.media_group_id is not None and first.media_group_id == second.media_group_id
    assert location.location == Location(lat=39.93, lon=119.6)
    assert venue.location is not None and venue.location.title == "秦皇岛站"
    assert contact.contact is not None and contact.contact.user_id == str(USER)


async def test_polling_hands_a_button_press_over_with_its_callback_id(emulator, bot):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    transport = build(settings_for(emulator), received.put)
    sender = AiogramSender(bot=transport.bot, photo_loader=lambda key: b"")
    async with polling(transport):
        message_id = await sender.send(out(text="?", keyboard=inline([("好", "ok")])))
        query_id = emulator.press(USER, int(message_id or 0), "ok")
        press = await next_incoming(received)
    assert (press.kind, press.button_data, press.callback_id) == (Kind.BUTTON, "ok", query_id)
    assert press.message_id == message_id


async def test_a_wrong_token_fails_at_start_instead_of_polling_forever(emulator):
    settings = settings_for(emulator, telegram_token="999:not-the-token")
    transport = build(settings, asyncio.Queue[Incoming]().put)
    with pytest.raises(ConfigError):
        async with polling(transport):
            pass


def test_building_without_a_token_names_the_setting():
    with pytest.raises(ConfigError, match="GRIDSNAP_TELEGRAM_TOKEN"):
        build(Settings(telegram_token=None, transport="aiogram"), asyncio.Queue[Incoming]().put)


async def test_stopping_lets_the_update_in_hand_finish(emulator):
    began, finished = asyncio.Event(), []

    async def slow(incoming: Incoming) -> None:
        began.set()
        await asyncio.sleep(0.2)  # a commit in progress, say
        finished.append(incoming.text)

    transport = build(settings_for(emulator), slow)
    async with polling(transport):
        emulator.send_text(USER, "井盖没了")
        await asyncio.wait_for(began.wait(), WAIT)
    assert finished == ["井盖没了"]
