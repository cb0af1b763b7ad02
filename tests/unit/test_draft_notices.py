"""The dispatcher stamps each changed state with the update's time (an unchanged one is not
saved); every flow the bot has gets a discard notice of its own (or is deliberately never
discarded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.chat import Incoming, Kind, User
from bot.domain.categories import load_catalogue
from bot.i18n import translator
from bot.services.drafts import KEPT_FLOWS, NOTICES, notice
from bot.services.env import Env, MapHolder
from handlers.dispatcher import Dispatcher
from handlers.registry import collect
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

RIDER = User(platform="telegram", user_id="701", chat_id="701", language_code="en")
T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def command(update_id: str, name: str) -> Incoming:
    return Incoming(
        update_id=update_id, user=RIDER, kind=Kind.COMMAND, command=name, text=f"/{name}"
    )


async def test_the_dispatcher_saves_a_changed_state_at_the_time_of_the_update() -> None:
    store, now = FakeStore(), [T0]
    registry = collect(("common", "register"))
    bot = Dispatcher(
        uow_factory=lambda: FakeUnitOfWork(store=store),
        env=Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=MemoryPhotoStore(),
            clock=lambda: now[0],
        ),
        flows=registry.flows,
        commands=registry.commands,
        button_handlers=registry.buttons,
        fallback=registry.dispatch_fallback,
    )

    def saved_at(key: tuple[str, str]) -> datetime:
        return store.data.conversations_saved_at[key]  # a commit replaces store.data

    await bot.handle(command("1", "register"))
    assert store.data.conversations[("telegram", "701")].flow == "reg"
    assert saved_at(("telegram", "701")) == T0

    # /help mid-flow leaves the state as it was: the draft still ages from its last step.
    now[0] = T0 + timedelta(hours=5)
    await bot.handle(command("2", "help"))
    assert saved_at(("telegram", "701")) == T0

    now[0] = T0 + timedelta(hours=6)
    await bot.handle(command("3", "cancel"))
    assert store.data.conversations[("telegram", "701")].flow is None
    assert saved_at(("telegram", "701")) == T0 + timedelta(hours=6)


def test_every_flow_of_the_bot_has_its_own_notice_or_is_never_discarded() -> None:
    names = {flow.name for flow in collect().flows}
    assert names - KEPT_FLOWS == set(NOTICES)


def test_the_notice_fills_in_the_hours_in_singular_and_plural() -> None:
    en = translator("en")
    assert "after 1 hour," in notice("rep", en, timedelta(hours=1))
    assert "after 36 hours," in notice("rep", en, timedelta(hours=36))
    assert "36 小时" in notice("rep", translator("zh_CN"), timedelta(hours=36))


def test_a_flow_without_a_notice_of_its_own_gets_the_general_one() -> None:
    text = notice("gone", translator("en"), timedelta(hours=24))
    assert text.startswith("What you had started was discarded after 24 hours")
