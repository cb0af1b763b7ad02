"""The PTB transport over real HTTP against the local Bot API emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from telegram import Bot

from bot.chat import Button, FileRef, Incoming, Keyboard, Kind, Location, Outgoing, OutKind, inline
from bot.config import Settings
from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.services.photos import FileTooBig
from bot.transports.emulator.server import BotApiEmulator
from bot.transports.telegram import (
    TelegramFetcher,
    TelegramSender,
    build_application,
    polling,
    register_commands,
    webhook_route,
)

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "photos"
PHOTO_KEY = "a" * 64
USER = 7001


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


@pytest.fixture(autouse=True)
def ptb_timedeltas(monkeypatch):
    # PTB 22 warns about its int-to-timedelta migration while raising RetryAfter unless the
    # new behaviour is chosen; the transport reads both forms.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def emulator():
    async with BotApiEmulator() as emu:
        emu.user(USER, first_name="Wei")
        yield emu


@pytest.fixture
async def bot(emulator):
    async with Bot(
        emulator.token, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as tg_bot:
        yield tg_bot


@pytest.fixture
def store():
    return PhotoStore()


@pytest.fixture
def sender(bot, store):
    return TelegramSender(bot=bot, photo_loader=store.load)


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


async def test_a_reply_keyboard_asks_for_location_and_contact_and_can_be_removed(emulator, sender):
    share = Keyboard(
        rows=(
            (Button(text="发送位置", request_location=True),),
            (Button(text="发送手机号", request_contact=True),),
        ),
        inline=False,
    )
    await sender.send(out(text="请分享位置", keyboard=share))
    rows = emulator.reply_keyboard(USER)["keyboard"]
    assert rows[0][0]["request_location"] is True
    assert rows[1][0]["request_contact"] is True
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
    document = sent["document"]
    ref = FileRef(file_id=document["file_id"])
    assert await TelegramFetcher(bot=bot).fetch(ref, max_bytes=10_000_000) == store.data


async def test_the_fetcher_refuses_a_file_over_the_cap_before_downloading(emulator, bot, store):
    sent = emulator.send_document(USER, store.data, file_name="DSCN0010.jpg")
    fetcher = TelegramFetcher(bot=bot)
    with pytest.raises(FileTooBig):
        await fetcher.fetch(FileRef(file_id=sent["document"]["file_id"]), max_bytes=1000)
    sized = FileRef(file_id=sent["document"]["file_id"], size=len(store.data))
    calls_before = len(emulator.calls("getFile"))
    with pytest.raises(FileTooBig):
        await fetcher.fetch(sized, max_bytes=1000)
    assert len(emulator.calls("getFile")) == calls_before


async def test_commands_are_registered_per_language(emulator, bot):
    await register_commands(
        bot,
        {None: [("start", "Start"), ("report", "Report")], "zh_CN": [("start", "开始")]},
    )
    assert [c["command"] for c in emulator.commands()] == ["start", "report"]
    assert [c["description"] for c in emulator.commands("zh")] == ["开始"]


def settings_for(emulator: BotApiEmulator) -> Settings:
    return Settings(telegram_token=emulator.token, telegram_api_url=emulator.url)


async def test_polling_hands_each_update_to_the_dispatcher_as_incoming(emulator):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    application = build_application(settings_for(emulator), received.put)
    async with polling(application):
        emulator.send_text(USER, "/start inv_8f3Kq2")
        emulator.send_location(USER, 39.93, 119.6)
        command = await asyncio.wait_for(received.get(), 10)
        location = await asyncio.wait_for(received.get(), 10)
    assert (command.kind, command.command, command.payload) == (Kind.COMMAND, "start", "inv_8f3Kq2")
    assert command.user.user_id == str(USER)
    assert location.location == Location(lat=39.93, lon=119.6)


async def test_the_webhook_route_checks_the_secret_and_feeds_the_application(emulator):
    received: asyncio.Queue[Incoming] = asyncio.Queue()
    application = build_application(settings_for(emulator), received.put)
    app = Starlette(routes=[webhook_route(application, "s3cret-token")])
    update = {
        "update_id": 31,
        "message": {
            "message_id": 5,
            "date": 1746086400,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Wei"},
            "text": "井盖没了",
        },
    }
    async with application:
        await application.start()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            forged = await client.post("/telegram", json=update)
            wrong = await client.post(
                "/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
            )
            good = await client.post(
                "/telegram",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"},
            )
            incoming = await asyncio.wait_for(received.get(), 10)
        await application.stop()
    assert (forged.status_code, wrong.status_code, good.status_code) == (403, 403, 200)
    assert (incoming.kind, incoming.text, incoming.update_id) == (Kind.TEXT, "井盖没了", "31")
    assert received.empty()
