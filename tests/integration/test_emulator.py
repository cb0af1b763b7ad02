"""The Bot API emulator, driven by real python-telegram-bot over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Conflict, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes, TypeHandler

from bot.transports.emulator import ApiError, BotApiEmulator

TOKEN = "123456789:emulator-test-token"
PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "photos"
GPS_PHOTO = PHOTOS / "gps" / "DSCN0010.jpg"
COURIER = 4242
SECRET = "webhook-secret_1"
App = Application[Any, Any, Any, Any, Any, Any]
WAIT = 5.0  # a guard against hanging, not a speed assertion


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(token=TOKEN, webhook_retry_delay=0.05) as emu:
        emu.user(COURIER, first_name="Li", language_code="zh-hans")
        yield emu


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN, base_url=emulator.base_url, base_file_url=emulator.base_file_url
    ) as client:
        yield client


def build_app(emulator: BotApiEmulator) -> tuple[App, asyncio.Queue[Update]]:
    received: asyncio.Queue[Update] = asyncio.Queue()

    async def collect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await received.put(update)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, f"hello {context.args}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .job_queue(None)
        .build()
    )
    app.add_handler(TypeHandler(Update, collect), group=0)
    app.add_handler(CommandHandler("start", start), group=1)
    return app, received


@pytest.fixture
async def polling(emulator: BotApiEmulator) -> AsyncIterator[asyncio.Queue[Update]]:
    app, received = build_app(emulator)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        yield received
        await app.updater.stop()
        await app.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def webhook(emulator: BotApiEmulator) -> AsyncIterator[asyncio.Queue[Update]]:
    """PTB's own webhook server, which rejects requests without the right secret header."""
    app, received = build_app(emulator)
    port = free_port()
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token=SECRET,
        )
        yield received
        await app.updater.stop()
        await app.stop()


async def next_update(received: asyncio.Queue[Update]) -> Update:
    return await asyncio.wait_for(received.get(), WAIT)


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


# --- the basics ---------------------------------------------------------------------------------


async def test_get_me_describes_the_emulated_bot(bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (123456789, "gridsnap_bot", True)


async def test_a_wrong_token_is_unauthorized(emulator: BotApiEmulator) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{emulator.base_url}1:wrong/getMe")

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


# --- what users send reaches a polling bot -------------------------------------------------------


async def test_polling_receives_a_text_and_a_command_the_bot_answers(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    emulator.send_text(COURIER, "manhole open")
    emulator.send_text(COURIER, "/start invite42")

    text, command = await next_update(polling), await next_update(polling)
    reply = await emulator.wait_for_message(COURIER, lambda e: e.text.startswith("hello"))

    assert text.message is not None and text.message.text == "manhole open"
    assert text.message.from_user is not None and text.message.from_user.language_code == "zh-hans"
    assert command.message is not None
    assert command.message.entities[0].type == MessageEntity.BOT_COMMAND
    assert command.message.entities[0].length == len("/start")
    assert reply.text == "hello ['invite42']"


async def test_polling_receives_a_photo_recompressed_and_stripped_of_exif(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    original = GPS_PHOTO.read_bytes()
    emulator.send_photo(COURIER, original, caption="tree down")

    update = await next_update(polling)
    assert update.message is not None
    sizes = update.message.photo
    largest = sizes[-1]
    downloaded = bytes(await (await largest.get_file()).download_as_bytearray())

    assert [(s.width, s.height) for s in sizes] == [(90, 68), (320, 240), (640, 480)]
    assert update.message.caption == "tree down"
    assert downloaded == emulator.file_bytes(largest.file_id)
    assert downloaded != original
    assert exif_of(original) and not exif_of(downloaded)


async def test_polling_receives_a_document_byte_identical_with_its_exif(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    original = GPS_PHOTO.read_bytes()
    emulator.send_document(COURIER, original, file_name="DSCN0010.jpg")

    update = await next_update(polling)
    assert update.message is not None and update.message.document is not None
    document = update.message.document
    downloaded = bytes(await (await document.get_file()).download_as_bytearray())

    assert (document.file_name, document.mime_type) == ("DSCN0010.jpg", "image/jpeg")
    assert downloaded == original


async def test_polling_receives_an_album_as_photos_sharing_one_media_group(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    photos = [(PHOTOS / "gps" / name).read_bytes() for name in ("DSCN0012.jpg", "DSCN0021.jpg")]
    emulator.send_album(COURIER, photos, caption="two angles")

    first, second = await next_update(polling), await next_update(polling)

    assert first.message is not None and second.message is not None
    assert first.message.media_group_id is not None
    assert first.message.media_group_id == second.message.media_group_id
    assert first.message.photo and second.message.photo
    assert (first.message.caption, second.message.caption) == ("two angles", None)


async def test_polling_receives_a_location(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    emulator.send_location(COURIER, 39.9354, 119.6005)

    update = await next_update(polling)

    assert update.message is not None and update.message.location is not None
    assert (update.message.location.latitude, update.message.location.longitude) == (
        39.9354,
        119.6005,
    )


async def test_polling_receives_a_venue_with_its_location(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    emulator.send_venue(COURIER, 39.93, 119.6, title="Haigang Station", address="Hebei Ave 1")

    update = await next_update(polling)

    assert update.message is not None and update.message.venue is not None
    assert update.message.venue.title == "Haigang Station"
    assert update.message.location is not None and update.message.location.latitude == 39.93


async def test_polling_receives_own_and_someone_elses_contact(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    emulator.send_contact(COURIER, "+8613800000000")
    emulator.send_contact(COURIER, "+8613900000000", own=False, first_name="Wang")

    own, other = await next_update(polling), await next_update(polling)

    assert own.message is not None and own.message.contact is not None
    assert (own.message.contact.user_id, own.message.contact.first_name) == (COURIER, "Li")
    assert other.message is not None and other.message.contact is not None
    assert (other.message.contact.user_id, other.message.contact.first_name) == (None, "Wang")


async def test_polling_receives_a_button_press_and_the_bot_answers_it(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update], bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Fixed", callback_data="fixed:7")]])
    sent = await bot.send_message(COURIER, "Is it fixed?", reply_markup=keyboard)

    query_id = emulator.press(COURIER, sent.message_id, "fixed:7")
    update = await next_update(polling)
    assert update.callback_query is not None
    await update.callback_query.answer("Thanks", show_alert=True)

    assert update.callback_query.data == "fixed:7"
    assert update.callback_query.message is not None
    assert update.callback_query.message.message_id == sent.message_id
    assert emulator.callback_answer(query_id) == {"text": "Thanks", "show_alert": True, "url": None}
    with pytest.raises(ApiError, match="no button"):
        emulator.press(COURIER, sent.message_id, "not-a-button")


# --- what the bot sends lands in the chat --------------------------------------------------------


async def test_send_message_with_inline_keyboard_then_edit_text_drops_the_keyboard(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Accept", callback_data="accept")]])
    sent = await bot.send_message(COURIER, "New report", reply_markup=keyboard, parse_mode="HTML")
    before = emulator.messages(COURIER)[-1].message

    edited = await bot.edit_message_text("Accepted", chat_id=COURIER, message_id=sent.message_id)
    after = emulator.messages(COURIER)[-1]

    assert before["reply_markup"] == keyboard.to_dict()
    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    assert (after.message_id, after.text) == (sent.message_id, "Accepted")
    assert "reply_markup" not in after.message
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("Accepted", chat_id=COURIER, message_id=sent.message_id)


async def test_reply_keyboards_are_shown_until_removed(emulator: BotApiEmulator, bot: Bot) -> None:
    share = ReplyKeyboardMarkup([[KeyboardButton("Share location", request_location=True)]])
    await bot.send_message(COURIER, "Where is it?", reply_markup=share)
    shown = emulator.reply_keyboard(COURIER)
    await bot.send_message(COURIER, "Got it", reply_markup=ReplyKeyboardRemove())

    assert shown is not None and shown["keyboard"][0][0]["request_location"] is True
    assert emulator.reply_keyboard(COURIER) is None


async def test_send_photo_by_upload_then_by_file_id_reuses_the_sizes(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    uploaded = await bot.send_photo(COURIER, GPS_PHOTO.read_bytes(), caption="map")
    resent = await bot.send_photo(COURIER, uploaded.photo[-1].file_id)

    chat = emulator.bot_messages(COURIER)
    assert [s.file_unique_id for s in resent.photo] == [s.file_unique_id for s in uploaded.photo]
    assert [e.message_id for e in chat] == [uploaded.message_id, resent.message_id]
    assert chat[0].text == "map" and chat[0].file_id() == uploaded.photo[-1].file_id


async def test_send_media_group_posts_one_message_per_item(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    first = (PHOTOS / "gps" / "DSCN0025.jpg").read_bytes()
    second = (PHOTOS / "gps" / "DSCN0027.jpg").read_bytes()

    sent = await bot.send_media_group(
        COURIER, [InputMediaPhoto(first, caption="before"), InputMediaPhoto(second)]
    )

    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    assert [e.text for e in emulator.bot_messages(COURIER)] == ["before", ""]


async def test_other_sends_edits_and_deletes_are_applied(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    await bot.send_chat_action(COURIER, "upload_photo")
    location = await bot.send_location(COURIER, 39.93, 119.6)
    document = await bot.send_document(COURIER, b"a,b\n1,2\n", filename="report.csv", caption="v1")
    await bot.edit_message_caption(chat_id=COURIER, message_id=document.message_id, caption="v2")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", callback_data="open")]])
    await bot.edit_message_reply_markup(COURIER, document.message_id, reply_markup=keyboard)
    await bot.delete_message(COURIER, location.message_id)

    messages = emulator.messages(COURIER)
    assert emulator.world.chat(COURIER).last_action == "upload_photo"
    assert [e.message_id for e in messages] == [document.message_id]
    assert messages[0].text == "v2" and messages[0].message["reply_markup"] == keyboard.to_dict()
    assert emulator.file_bytes(messages[0].message["document"]["file_id"]) == b"a,b\n1,2\n"


async def test_commands_are_kept_per_language(emulator: BotApiEmulator, bot: Bot) -> None:
    await bot.set_my_commands([("report", "Report a hazard")], language_code="en")
    await bot.set_my_commands([("report", "上报隐患")], language_code="zh")

    english = await bot.get_my_commands(language_code="en")

    assert [(c.command, c.description) for c in english] == [("report", "Report a hazard")]
    assert emulator.commands("zh") == [{"command": "report", "description": "上报隐患"}]
    assert await bot.get_my_commands() == ()


# --- faults -------------------------------------------------------------------------------------


async def test_an_injected_429_raises_retry_after_then_the_call_succeeds(
    emulator: BotApiEmulator, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22's forward-compatible retry_after type
    emulator.inject_error("sendMessage", status=429, retry_after=7)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(COURIER, "first try")
    await bot.send_message(COURIER, "second try")

    assert raised.value.retry_after == dtm.timedelta(seconds=7)
    assert [c.status for c in emulator.calls("sendMessage")] == [429, 200]
    assert [e.text for e in emulator.bot_messages(COURIER)] == ["second try"]


async def test_an_injected_server_error_hits_only_the_named_method(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    emulator.inject_error("sendPhoto", status=502)

    await bot.send_message(COURIER, "unaffected")
    with pytest.raises(Exception, match="Bad Gateway"):
        await bot.send_photo(COURIER, GPS_PHOTO.read_bytes())

    assert [c.status for c in emulator.calls()] == [200, 200, 502]  # getMe, sendMessage, ...


async def test_an_injected_hang_times_the_bot_out_but_the_message_still_arrives(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    emulator.inject_error("sendMessage", status=None, hang=0.5)

    with pytest.raises(TimedOut):
        await bot.send_message(COURIER, "slow", read_timeout=0.05)
    arrived = await emulator.wait_for_message(COURIER, lambda e: e.text == "slow")

    assert arrived.from_bot  # so a sender that retries after a timeout must expect duplicates


async def test_a_carried_out_fault_delivers_the_message_before_it_answers_late(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    emulator.inject_error("sendMessage", status=None, hang=5, carried_out=True)
    with pytest.raises(TimedOut):
        await bot.send_message(COURIER, "slow but there", read_timeout=0.2)
    # Already there when the bot gave up waiting: no waiting for the hang to end.
    assert [e.text for e in emulator.bot_messages(COURIER)][-1] == "slow but there"


async def test_a_garbled_fault_answers_200_with_a_body_that_is_not_json(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    emulator.inject_error("sendMessage", status=None, garbled=True)
    with pytest.raises(TelegramError, match="Invalid server response"):
        await bot.send_message(COURIER, "lost in a proxy")
    assert emulator.calls("sendMessage")[-1].status == 200
    assert "lost in a proxy" not in [e.text for e in emulator.bot_messages(COURIER)]


# --- webhook ------------------------------------------------------------------------------------


async def test_webhook_delivers_updates_with_the_secret_header(
    emulator: BotApiEmulator, webhook: asyncio.Queue[Update]
) -> None:
    emulator.send_text(COURIER, "via webhook")

    update = await next_update(webhook)

    assert update.message is not None and update.message.text == "via webhook"
    delivery = emulator.webhook_deliveries[-1]
    assert delivery.headers == {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert delivery.status == 200


async def test_webhook_retries_until_the_bot_answers_2xx(
    emulator: BotApiEmulator, webhook: asyncio.Queue[Update], bot: Bot
) -> None:
    info = await bot.get_webhook_info()
    await bot.set_webhook(info.url, secret_token="wrong-secret")  # PTB answers 403 to it
    emulator.send_text(COURIER, "retried")
    await emulator.world.wait_until(lambda: emulator.webhook_deliveries, WAIT)
    await bot.set_webhook(info.url, secret_token=SECRET)

    update = await next_update(webhook)

    assert update.message is not None and update.message.text == "retried"
    assert emulator.webhook_deliveries[0].status == 403
    assert emulator.webhook_deliveries[-1].status == 200
    with pytest.raises(Conflict):
        await bot.get_updates()


# --- control API over HTTP ------------------------------------------------------------------------


async def test_control_api_plays_a_user_and_reads_the_bot_reply(
    emulator: BotApiEmulator, polling: asyncio.Queue[Update]
) -> None:
    async with httpx.AsyncClient(base_url=emulator.url) as control:
        user = (await control.post("/control/users", json={"id": 77, "first_name": "Zhao"})).json()
        empty = (await control.get("/control/chats/77/messages")).json()["result"]
        await control.post("/control/users/77/text", json={"text": "/start"})
        seen = await read_until_bot_reply(control, 77, since=empty["cursor"])

    assert user["result"]["first_name"] == "Zhao"
    assert empty["messages"] == []
    assert [(m["from_bot"], m["message"]["text"]) for m in seen] == [
        (False, "/start"),
        (True, "hello []"),
    ]


async def read_until_bot_reply(
    control: httpx.AsyncClient, chat_id: int, since: int
) -> list[dict[str, Any]]:
    """Long-poll the chat the way the web sandbox does, until the bot has said something."""
    seen: list[dict[str, Any]] = []
    while not any(m["from_bot"] for m in seen):
        params = {"since": since, "wait": WAIT}
        page = (await control.get(f"/control/chats/{chat_id}/messages", params=params)).json()
        assert page["result"]["messages"], "the long poll ended without news"
        seen += page["result"]["messages"]
        since = page["result"]["cursor"]
    return seen


async def test_control_api_uploads_a_photo_and_serves_the_recompressed_file(
    emulator: BotApiEmulator,
) -> None:
    original = GPS_PHOTO.read_bytes()
    async with httpx.AsyncClient(base_url=emulator.url) as control:
        files = {"file": ("tree.jpg", original, "image/jpeg")}
        await control.post(f"/control/users/{COURIER}/photo", files=files)
        listed = (await control.get(f"/control/chats/{COURIER}/messages")).json()["result"]
        photo = await control.get(listed["messages"][0]["file_url"])
        fault = await control.post("/control/faults", json={"method": "getMe", "status": 500})

    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.content != original and not exif_of(photo.content)
    assert fault.json()["result"]["status"] == 500


async def test_control_api_routes_play_every_kind_of_user_message(
    emulator: BotApiEmulator, bot: Bot
) -> None:
    photo = GPS_PHOTO.read_bytes()
    jpeg = ("a.jpg", photo, "image/jpeg")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    asked = await bot.send_message(COURIER, "Fixed?", reply_markup=keyboard)
    user = f"/control/users/{COURIER}"
    async with httpx.AsyncClient(base_url=emulator.url) as control:
        await control.post(f"{user}/document", files={"file": jpeg}, data={"caption": "raw"})
        await control.post(f"{user}/album", files=[("file", jpeg), ("file", jpeg)])
        await control.post(f"{user}/location", json={"latitude": 39.9, "longitude": 119.6})
        venue = {"latitude": 39.9, "longitude": 119.6, "title": "Pier", "address": "Sea Rd"}
        await control.post(f"{user}/venue", json=venue)
        await control.post(f"{user}/contact", json={"phone_number": "+86138", "own": True})
        pressed = await control.post(f"{user}/press", json={"message_id": 1, "data": "yes"})
        missing = await control.post("/control/users/999/text", json={"text": "hi"})
        calls = (await control.get("/control/calls", params={"method": "sendMessage"})).json()

    kinds = [
        next(k for k in ("document", "photo", "venue", "location", "contact") if k in e.message)
        for e in emulator.messages(COURIER)
        if not e.from_bot
    ]
    assert kinds == ["document", "photo", "photo", "location", "venue", "contact"]
    assert (
        emulator.file_bytes(emulator.messages(COURIER)[1].message["document"]["file_id"]) == photo
    )
    assert pressed.json()["result"]["callback_query_id"] in emulator.world.callback_answers
    assert asked.message_id == 1
    assert missing.status_code == 404
    assert [c["status"] for c in calls["result"]] == [200]


async def test_json_bodies_are_accepted_like_form_bodies(emulator: BotApiEmulator) -> None:
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    body = {"chat_id": COURIER, "text": "json", "reply_markup": markup}
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{emulator.base_url}{TOKEN}/sendMessage", json=body)
        bad = await client.post(f"{emulator.base_url}{TOKEN}/sendMessage", json={"chat_id": 1})

    assert answer.json()["result"]["reply_markup"] == markup
    assert bad.status_code == 400
    assert bad.json()["description"] == "Bad Request: chat not found"
