"""Real ``telegram.Update`` objects, built from Bot API JSON, arrive at the shared mapping
intact; and PTB's errors become the neutral delivery errors."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest
from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.error import RetryAfter as TgRetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import PermanentError, RetryAfter, TransientError
from bot.transports.botapi import incoming_from_update
from bot.transports.telegram import _neutral, to_incoming
from tests.telegram_updates import SAMPLES


@pytest.mark.parametrize("name", SAMPLES)
def test_a_ptb_update_maps_as_its_bot_api_json_does(name):
    data = SAMPLES[name]
    expected = incoming_from_update(data, bot_username="gridsnap_bot")
    assert to_incoming(Update.de_json(data, None), bot_username="gridsnap_bot") == expected


def test_ptb_parses_the_kinds_the_mapping_ignores():
    assert Update.de_json(SAMPLES["reaction"], None).message_reaction is not None


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
