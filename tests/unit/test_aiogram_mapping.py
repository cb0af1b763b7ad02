"""Real ``aiogram.types.Update`` objects, validated from Bot API JSON, arrive at the shared
mapping intact; and aiogram's errors become the neutral delivery errors."""

from __future__ import annotations

import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import Update

from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.transports.aiogram_transport import _neutral, to_incoming
from bot.transports.botapi import incoming_from_update
from tests.telegram_updates import SAMPLES


@pytest.mark.parametrize("name", SAMPLES)
def test_an_aiogram_update_maps_as_its_bot_api_json_does(name):
    data = SAMPLES[name]
    expected = incoming_from_update(data, bot_username="gridsnap_bot")
    assert to_incoming(Update.model_validate(data), bot_username="gridsnap_bot") == expected


def test_aiogram_parses_the_kinds_the_mapping_ignores():
    assert Update.model_validate(SAMPLES["reaction"]).message_reaction is not None


METHOD = SendMessage(chat_id=5550001, text="hi")


def test_flood_control_becomes_a_neutral_retry_after_with_its_seconds():
    error = _neutral(TelegramRetryAfter(METHOD, "Too Many Requests: retry after 14", 14))
    assert isinstance(error, RetryAfter)
    assert error.seconds == 14


def test_network_trouble_server_errors_and_garbled_answers_are_transient():
    assert isinstance(_neutral(TelegramNetworkError(METHOD, "Request timeout")), TransientError)
    assert isinstance(_neutral(TelegramServerError(METHOD, "Bad Gateway")), TransientError)
    garbled = ClientDecodeError("Failed to decode object", ValueError("x"), "<html>")
    assert isinstance(_neutral(garbled), TransientError)


def test_a_wrong_token_is_transient_so_rows_wait_for_the_operator():
    assert isinstance(_neutral(TelegramUnauthorizedError(METHOD, "Unauthorized")), TransientError)


def test_refusals_and_a_file_too_large_to_send_are_permanent():
    assert isinstance(_neutral(TelegramBadRequest(METHOD, "chat not found")), PermanentError)
    blocked = TelegramForbiddenError(METHOD, "bot was blocked by the user")
    assert isinstance(_neutral(blocked), PermanentError)
    # aiogram files a 413 under network errors; the same file would never fit.
    too_large = TelegramEntityTooLarge(METHOD, "Request Entity Too Large")
    assert isinstance(_neutral(too_large), PermanentError)
