"""Bot API update JSON (tests/telegram_updates.py) mapped to ``Incoming``, as both Telegram
adapters map it; their round-trip tests show each library's ``Update`` arrives here intact.
"""

from __future__ import annotations

import pytest

from bot.chat import ChatType, Contact, Incoming, Kind, Location
from bot.transports.botapi import ALLOWED_UPDATES, incoming_from_update
from tests.telegram_updates import SAMPLES, UNSUPPORTED


def mapped(name: str, *, bot_username: str | None = None) -> Incoming:
    incoming = incoming_from_update(SAMPLES[name], bot_username=bot_username)
    assert incoming is not None, f"{name} mapped to nothing"
    return incoming


def test_plain_text_becomes_text_with_the_sender_and_chat():
    incoming = mapped("text")
    assert incoming.kind is Kind.TEXT
    assert incoming.text == "井盖没了"
    assert incoming.update_id == "900001"
    assert incoming.message_id == "77"
    assert incoming.user.platform == "telegram"
    assert incoming.user.user_id == "5550001"
    assert incoming.user.chat_id == "5550001"
    assert incoming.user.display_name == "Wei Zhang"
    assert incoming.user.language_code == "zh-hans"
    assert incoming.user.chat_type is ChatType.PRIVATE


def test_a_message_in_a_supergroup_says_it_was_written_in_a_group():
    incoming = mapped("group text")
    assert incoming.user.chat_type is ChatType.GROUP
    assert (incoming.user.user_id, incoming.user.chat_id) == ("5550001", "-1001234567890")


def test_a_message_written_as_a_channel_in_a_group_maps_to_nothing():
    # Its ``from`` is Telegram's stand-in bot; there is no person to answer.
    assert incoming_from_update(SAMPLES["as channel in group"]) is None


def test_a_channel_post_maps_to_nothing():
    assert incoming_from_update(SAMPLES["channel post update"]) is None


def test_a_command_is_split_into_name_and_payload():
    incoming = mapped("command")
    assert incoming.kind is Kind.COMMAND
    assert (incoming.command, incoming.payload) == ("report", "now please")


def test_a_start_deep_link_keeps_its_payload():
    incoming = mapped("deep link")
    assert (incoming.command, incoming.payload) == ("start", "inv_8f3Kq2")


def test_a_command_addressed_to_this_bot_in_a_group_is_kept():
    incoming = mapped("command to this bot", bot_username="gridsnap_bot")
    assert (incoming.command, incoming.payload) == ("help", "")
    assert incoming.user.chat_id == "-1001234567890"


def test_a_command_addressed_to_another_bot_is_ignored():
    update = SAMPLES["command to another bot"]
    assert incoming_from_update(update, bot_username="gridsnap_bot") is None


def test_a_slash_inside_text_is_not_a_command():
    assert mapped("slash inside text").kind is Kind.TEXT


def test_a_photo_maps_to_its_largest_size_with_caption_and_album():
    incoming = mapped("photo")
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
    incoming = mapped("document")
    assert incoming.kind is Kind.DOCUMENT
    assert incoming.document is not None
    assert incoming.document.file_name == "IMG_4012.HEIC"
    assert incoming.document.mime_type == "image/heic"
    assert incoming.document.size == 2_811_904
    assert incoming.media_group_id == "77"


def test_a_shared_location_is_a_static_location():
    incoming = mapped("location")
    assert incoming.kind is Kind.LOCATION
    assert incoming.location == Location(lat=39.9355, lon=119.6003)


def test_a_venue_becomes_a_location_with_title_and_address():
    assert mapped("venue").location == Location(
        lat=39.9301, lon=119.5889, title="秦皇岛站", address="海港区北环路"
    )


def test_a_live_location_is_marked_live():
    incoming = mapped("live location")
    assert incoming.location is not None
    assert incoming.location.live is True


def test_an_edited_live_location_maps_to_nothing_so_a_live_location_counts_once():
    # Each move of a live location is an edit; mapped, every move re-prompted the rider or,
    # outside a flow, opened a new report draft.
    assert incoming_from_update(SAMPLES["edited live location"]) is None
    assert "edited_message" not in ALLOWED_UPDATES


def test_an_edited_text_is_ignored():
    assert incoming_from_update(SAMPLES["edited text"]) is None


def test_a_contact_keeps_whose_card_it_is():
    incoming = mapped("contact")
    assert incoming.kind is Kind.CONTACT
    assert incoming.contact == Contact(phone="+8613800138000", first_name="Wei", user_id="5550001")


def test_a_contact_of_someone_off_telegram_has_no_user_id():
    incoming = mapped("contact off telegram")
    assert incoming.contact is not None
    assert incoming.contact.user_id is None


def test_a_button_press_carries_its_data_callback_id_and_message():
    incoming = mapped("button press")
    assert incoming.kind is Kind.BUTTON
    assert incoming.button_data == "rep:accept:250501-0007"
    assert incoming.callback_id == "4382bfdwdsb323b2d9"
    assert incoming.message_id == "310"
    assert incoming.user.chat_id == "-1001234567890"
    assert incoming.user.user_id == "5550001"
    assert incoming.user.chat_type is ChatType.GROUP


def test_a_button_on_a_message_too_old_to_read_still_names_its_chat_and_message():
    incoming = mapped("button on old message")
    assert (incoming.user.chat_id, incoming.message_id) == ("-1001234567890", "311")


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_stickers_voice_video_audio_dice_and_polls_map_to_unsupported(name):
    incoming = mapped(name)
    assert incoming.kind is Kind.UNSUPPORTED
    assert incoming.document is None  # an animation carries a document too
    assert incoming.user.user_id == "5550001"


def test_unknown_kinds_map_to_nothing():
    assert "message_reaction" in SAMPLES["reaction"]
    assert incoming_from_update(SAMPLES["reaction"]) is None


def test_a_channel_post_without_a_sender_maps_to_nothing():
    assert incoming_from_update(SAMPLES["channel post"]) is None
