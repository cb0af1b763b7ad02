"""``GRIDSNAP_ESCALATE_AFTER_MIN``: how long after a missed acknowledge deadline the grid's
superiors hear of it, read from the environment and carried by the policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.categories import load_catalogue
from bot.domain.model import EscalationKind
from bot.services.env import Env, MapHolder
from bot.services.escalation import EscalationPolicy


@pytest.fixture(autouse=True)
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not decide these tests


class NoPhotos:
    def put(self, data: bytes, ext: str) -> str:
        raise AssertionError("not used")

    def get(self, key: str) -> bytes:
        raise KeyError(key)


def test_the_delay_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDSNAP_ESCALATE_AFTER_MIN", "12.5")
    assert load_settings().escalate_after_min == 12.5


def test_the_delay_defaults_to_half_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDSNAP_ESCALATE_AFTER_MIN", raising=False)
    assert load_settings().escalate_after_min == 30


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_delay_that_is_not_a_positive_number_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GRIDSNAP_ESCALATE_AFTER_MIN", value)
    with pytest.raises(ConfigError, match="GRIDSNAP_ESCALATE_AFTER_MIN"):
        load_settings()


def test_the_policy_for_an_env_puts_the_superiors_that_long_after_the_deadline() -> None:
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=NoPhotos(),
        escalate_after=timedelta(minutes=7),
    )
    policy = EscalationPolicy.for_env(env)
    assert policy.levels(EscalationKind.ACK) == {1: timedelta(0), 2: timedelta(minutes=7)}
    assert policy.levels(EscalationKind.RESOLVE) == {1: timedelta(0)}
