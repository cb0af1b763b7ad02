"""``GRIDSNAP_TRANSPORT`` picks the Telegram library; a wrong choice names the variable."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_python_telegram_bot_is_the_default_transport(monkeypatch):
    monkeypatch.delenv("GRIDSNAP_TRANSPORT", raising=False)
    assert load_settings().transport == "ptb"


def test_aiogram_is_chosen_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRIDSNAP_TRANSPORT", "aiogram")
    assert load_settings().transport == "aiogram"


def test_an_unknown_transport_is_refused_naming_the_variable():
    with pytest.raises(ConfigError, match="GRIDSNAP_TRANSPORT"):
        load_settings(transport="telethon")


def test_aiogram_with_a_webhook_url_is_refused_rather_than_silently_run_on_ptb():
    with pytest.raises(ConfigError, match=r"GRIDSNAP_TRANSPORT.*polling only"):
        load_settings(transport="aiogram", webhook_url="https://bot.example.org/telegram")
    assert load_settings(transport="ptb", webhook_url="https://bot.example.org/telegram")
