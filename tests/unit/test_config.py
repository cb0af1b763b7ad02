"""Settings: the defaults issue 2 names, and a bad value refused by its variable's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import ROOT, ConfigError, load_settings


@pytest.fixture(autouse=True)
def _bare_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither the shell's GRIDSNAP_* variables nor a developer's .env may decide these tests.
    for name in [n for n in os.environ if n.startswith("GRIDSNAP_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_the_database_defaults_to_a_sqlite_file_under_var() -> None:
    url = make_url(load_settings().database_url)
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database is not None
    assert Path(url.database).parent == ROOT / "var"


def test_the_bot_api_server_defaults_to_the_official_one() -> None:
    assert load_settings().telegram_api_url == "https://api.telegram.org"


def test_replies_default_to_chinese_in_shanghai_time() -> None:
    settings = load_settings()
    assert settings.default_locale == "zh_CN"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.zone.key == "Asia/Shanghai"


def test_a_point_within_300_m_of_a_grid_is_routed_to_it_by_default() -> None:
    assert load_settings().route_tolerance_m == 300


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgresql://u:p%40ss@db.example.org/gridsnap",
            "postgresql+asyncpg://u:p%40ss@db.example.org/gridsnap",
        ),
        (
            "postgres://u@db.example.org:5433/gridsnap",
            "postgresql+asyncpg://u@db.example.org:5433/gridsnap",
        ),
        ("sqlite:///other.db", "sqlite+aiosqlite:///other.db"),
        ("sqlite+aiosqlite:////tmp/gridsnap.db", "sqlite+aiosqlite:////tmp/gridsnap.db"),
        ("postgresql+asyncpg://u@h/db?ssl=require", "postgresql+asyncpg://u@h/db?ssl=require"),
    ],
)
def test_a_plain_database_url_is_given_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv("GRIDSNAP_DATABASE_URL", given)
    assert load_settings().database_url == used


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDSNAP_TIMEZONE", "Mars/Olympus"),
        ("GRIDSNAP_DEFAULT_LOCALE", "fr"),
        ("GRIDSNAP_ROUTE_TOLERANCE_M", "three hundred"),
        ("GRIDSNAP_ROUTE_TOLERANCE_M", "-5"),
        ("GRIDSNAP_SANDBOX_PORT", "eighty"),
        ("GRIDSNAP_DATABASE_URL", "nonsense"),
        ("GRIDSNAP_DATABASE_URL", ""),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h:port/db"),
        ("GRIDSNAP_DATABASE_URL", "mysql://u@h/db"),
        ("GRIDSNAP_DATABASE_URL", "postgresql+psycopg2://u@h/db"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?application_name=gridsnap"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?channel_binding=require"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?sslmode=sometimes"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?sslmode=require&ssl=disable"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?connect_timeout=soon"),
        ("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?ssl=require&ssl=disable"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message


def test_a_refused_database_url_does_not_repeat_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDSNAP_DATABASE_URL", "mysql://gridsnap:s3cret@db.example.org/gridsnap")
    with pytest.raises(ConfigError, match="GRIDSNAP_DATABASE_URL: unsupported database") as refused:
        load_settings()
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
)
def test_libpq_sslmode_is_given_to_asyncpg_as_ssl(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("GRIDSNAP_DATABASE_URL", f"postgresql://u:p%40ss@h/db?sslmode={mode}")
    url = make_url(load_settings().database_url)
    assert dict(url.query) == {"ssl": mode}
    assert url.password == "p@ss"


def test_libpq_connect_timeout_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?connect_timeout=10&sslmode=require"
    )
    query = dict(make_url(load_settings().database_url).query)
    assert query == {"ssl": "require", "connect_timeout": "10"}  # storage.database uses it


def test_an_unknown_database_url_option_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSNAP_DATABASE_URL", "postgresql://u@h/db?application_name=gridsnap")
    with pytest.raises(ConfigError, match="GRIDSNAP_DATABASE_URL: unsupported option"):
        load_settings()


def test_an_unencoded_at_in_the_password_is_refused_without_repeating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDSNAP_DATABASE_URL", "postgresql://postgres:p@ss@127.0.0.1:5432/test")
    with pytest.raises(ConfigError, match=r"^GRIDSNAP_DATABASE_URL: .*as %40$") as refused:
        load_settings()
    assert "ss@" not in str(refused.value)


def test_the_outbox_keeps_sent_payloads_a_week_and_waits_longer_than_ptbs_5_s_per_send() -> None:
    settings = load_settings()
    assert settings.outbox_keep_days == 7
    assert settings.send_timeout_s > 5
    assert settings.send_max_attempts == 10


def test_heartbeats_come_at_least_three_times_within_the_dead_time() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(heartbeat_s=2.0, instance_dead_s=5.0)
    assert "instance_dead_s" in str(refused.value).lower()
    assert load_settings(heartbeat_s=1.0, instance_dead_s=3.0).instance_dead_s == 3.0
