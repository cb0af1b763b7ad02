"""The sandbox started again on the database a previous run left (``make run`` twice)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.config import load_settings
from bot.i18n import translator
from bot.sandbox.demo import LOCALE, PLATFORM, persona
from bot.sandbox.runtime import sandbox
from bot.services.ports import BaseUnitOfWork
from bot.transports.emulator.world import World

WAIT = 10.0  # seconds; an answer normally takes a few tens of milliseconds


async def test_issue5_a_restarted_sandbox_answers_the_first_message_on_a_kept_database(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'sandbox.db'}",
        photo_dir=tmp_path / "photos",
        telegram_token=None,
        webhook_url=None,
        sandbox_port=0,
    )
    rider = persona("rider")
    assert rider is not None
    answer = translator(LOCALE)._("Choose your language:")
    for _start in ("first", "second"):
        async with sandbox(settings) as running:
            running.emulator.send_text(rider.user_id, "/language")
            said = await running.emulator.wait_for_message(rider.user_id, timeout=WAIT)
            assert said.text == answer


async def test_the_highest_processed_update_id_is_compared_as_a_number_per_platform(
    make_uow: Callable[[], BaseUnitOfWork],
) -> None:
    async with make_uow() as uow:
        assert await uow.updates.highest(PLATFORM) is None
        for update_id in ("9", "10", "2"):
            await uow.updates.mark(PLATFORM, update_id)
        await uow.updates.mark("other", "99")
        await uow.commit()
    async with make_uow() as uow:
        assert await uow.updates.highest(PLATFORM) == 10


def test_numbering_updates_after_a_lower_id_never_reuses_one_the_emulator_made() -> None:
    world = World(token="123:abc", bot_username="gridsnap_bot")
    world.add_user(1)
    world.number_updates_after(41)
    world.user_text(1, "hello")
    world.number_updates_after(0)
    world.user_text(1, "again")
    assert [u["update_id"] for u in world.updates] == [42, 43]
