"""Real ``telegram.Update`` objects, built from Bot API JSON, mapped to ``Incoming``."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.error import RetryAfter as TgRetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.chat import Contact, Kind, Location
from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.transports.telegram import _neutral, to_incoming
from tests import telegram_updates as tg
from tests.telegram_updates import GROUP, PRIVATE


def parse(data: dict[str, Any]) -> Update:
    return Update.de_json(data, None)


def message_update(update_id: int = 900001, chat: dict[str, Any] = PRIVATE, **content: Any):
    return parse(tg.message(update_id, chat, **content))


def command_update(text: str, chat: dict[str, Any] = PRIVATE):
    return parse(tg.command(text, chat))


def test_plain_text_becomes_text_with_the_sender_and_chat():
    incoming = to_incoming(message_update(text="井盖没了"))
    assert incoming is not None
    assert incoming.kind is Kind.TEXT
    assert incoming.text == "井盖没了"
    assert incoming.update_id == "900001"
    assert incoming.message_id == "77"
    assert incoming.user.platform == "telegram"
    assert incoming.user.user_id == "5550001"
    assert incoming.user.chat_id == "5550001"
    assert incoming.user.display_name == "Wei Zhang"
    assert incoming.user.language_code == "zh-hans"


def test_a_command_is_split_into_name_and_payload():
    incoming = to_incoming(command_update("/Report now please"))
    assert incoming is not None
    assert incoming.kind is Kind.COMMAND
    assert (incoming.command, incoming.payload) == ("report", "now please")


def test_a_start_deep_link_keeps_its_payload():
    incoming = to_incoming(command_update("/start inv_8f3Kq2"))
    assert incoming is not None
    assert (incoming.command, incoming.payload) == ("start", "inv_8f3Kq2")


def test_a_command_addressed_to_this_bot_in_a_group_is_kept():
    update = command_update("/help@Gridsnap_Bot", chat=GROUP)
    incoming = to_incoming(update, bot_username="gridsnap_bot")
    assert incoming is not None
    assert (incoming.command, incoming.payload) == ("help", "")
    assert incoming.user.chat_id == "-1001234567890"


def test_a_command_addressed_to_another_bot_is_ignored():
    assert to_incoming(command_update("/help@other_bot"), bot_username="gridsnap_bot") is None


def test_a_slash_inside_text_is_not_a_command():
    entities = [{"type": "bot_command", "offset": 5, "length": 5}]
    incoming = to_incoming(message_update(text="see: /help", entities=entities))
    assert incoming is not None
    assert incoming.kind is Kind.TEXT


def test_a_photo_maps_to_its_largest_size_with_caption_and_album():
    update = message_update(
        photo=tg.PHOTO_SIZES, caption="积水", media_group_id="13612345678901234"
    )
    incoming = to_incoming(update)
    assert incoming is not None
    assert incoming.kind is Kind.PHOTO
    assert incoming.photo is not None
    assert incoming.photo.file_id == "AgACAgUAAxkBAAIBx"
    assert (incoming.photo.width, incoming.photo.height, incoming.photo.size) == (
        1280,
        960,
        131_220,
    )
    assert incoming.text == "积水"
    assert incoming.media_group_id == "13612345678901234"


def test_a_file_maps_to_a_document_with_name_type_and_size():
    incoming = to_incoming(message_update(document=tg.HEIC_DOCUMENT, media_group_id="77"))
    assert incoming is not None
    assert incoming.kind is Kind.DOCUMENT
    assert incoming.document is not None
    assert incoming.document.file_name == "IMG_4012.HEIC"
    assert incoming.document.mime_type == "image/heic"
    assert incoming.document.size == 2_811_904
    assert incoming.media_group_id == "77"


def test_a_shared_location_is_a_static_location():
    update = message_update(location={"latitude": 39.9355, "longitude": 119.6003})
    incoming = to_incoming(update)
    assert incoming is not None
    assert incoming.kind is Kind.LOCATION
    assert incoming.location == Location(lat=39.9355, lon=119.6003)


def test_a_venue_becomes_a_location_with_title_and_address():
    incoming = to_incoming(message_update(location=tg.STATION, venue=tg.STATION_VENUE))
    assert incoming is not None
    assert incoming.location == Location(
        lat=39.9301, lon=119.5889, title="秦皇岛站", address="海港区北环路"
    )


def test_a_live_location_is_marked_live():
    where = {"latitude": 39.93, "longitude": 119.6, "live_period": 900}
    incoming = to_incoming(message_update(location=where))
    assert incoming is not None
    assert incoming.location is not None
    assert incoming.location.live is True


def test_an_edited_live_location_arrives_as_a_live_location():
    incoming = to_incoming(parse(tg.edited_live_location()))
    assert incoming is not None
    assert incoming.kind is Kind.LOCATION
    assert incoming.location == Location(lat=39.9371, lon=119.6012, live=True)
    assert incoming.message_id == "80"


def test_an_edited_text_is_ignored():
    assert to_incoming(parse(tg.edited_text())) is None


def test_a_contact_keeps_whose_card_it_is():
    card = {"phone_number": "+8613800138000", "first_name": "Wei", "user_id": 5550001}
    incoming = to_incoming(message_update(contact=card))
    assert incoming is not None
    assert incoming.kind is Kind.CONTACT
    assert incoming.contact == Contact(phone="+8613800138000", first_name="Wei", user_id="5550001")


def test_a_contact_of_someone_off_telegram_has_no_user_id():
    incoming = to_incoming(
        message_update(contact={"phone_number": "0335-1234567", "first_name": "Li"})
    )
    assert incoming is not None
    assert incoming.contact is not None
    assert incoming.contact.user_id is None


def test_a_button_press_carries_its_data_callback_id_and_message():
    incoming = to_incoming(parse(tg.button_press()))
    assert incoming is not None
    assert incoming.kind is Kind.BUTTON
    assert incoming.button_data == "rep:accept:250501-0007"
    assert incoming.callback_id == "4382bfdwdsb323b2d9"
    assert incoming.message_id == "310"
    assert incoming.user.chat_id == "-1001234567890"
    assert incoming.user.user_id == "5550001"


def test_unknown_kinds_map_to_nothing():
    assert to_incoming(message_update(sticker=tg.STICKER)) is None
    update = parse(tg.reaction())
    assert update.message_reaction is not None
    assert to_incoming(update) is None


def test_a_channel_post_without_a_sender_maps_to_nothing():
    assert to_incoming(parse(tg.channel_post_as_message())) is None


def test_flood_control_becomes_a_neutral_retry_after_with_its_seconds():
    with warnings.catch_warnings():
        # PTB warns on its own int-vs-timedelta migration while building the error.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        flood = TgRetryAfter(14)
    error = _neutral(flood)
    assert isinstance(error, RetryAfter)
    assert error.seconds == 14


def test_flood_control_is_read_the_same_with_ptb_timedeltas(monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    error = _neutral(TgRetryAfter(timedelta(seconds=3)))
    assert isinstance(error, RetryAfter)
    assert error.seconds == 3


def test_network_trouble_is_transient_and_refusals_are_permanent():
    assert isinstance(_neutral(TimedOut()), TransientError)
    assert isinstance(_neutral(NetworkError("Bad Gateway")), TransientError)
    assert isinstance(_neutral(BadRequest("Chat not found")), PermanentError)
    assert isinstance(_neutral(Forbidden("bot was blocked by the user")), PermanentError)
