"""Declining consent stores nothing personal, on real SQLite and PostgreSQL: the account a
rider's first message creates holds the chat's ids and the language, and their Telegram
name only once there is a basis for it (a consent or a staff role)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat import Incoming, Kind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    Account,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    RoleName,
)
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from handlers.dispatcher import Dispatcher
from handlers.registry import collect
from storage.photos import PhotoStore

MakeUow = Callable[[], BaseUnitOfWork]
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RIDER = User(
    platform="telegram", user_id="501", chat_id="c501", display_name="Xiaoming", language_code="en"
)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[119.5, 39.9], [119.6, 39.9], [119.6, 40.0], [119.5, 39.9]]],
}


class Rider:
    def __init__(self, make_uow: MakeUow, photos: Path) -> None:
        self.make_uow = make_uow
        self.ids = itertools.count(1)
        registry = collect(("common", "register"))
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=PhotoStore(photos),
            clock=lambda: NOW,
        )
        self.dispatcher = Dispatcher(
            uow_factory=make_uow,
            env=env,
            flows=registry.flows,
            commands=registry.commands,
            button_handlers=registry.buttons,
            fallback=registry.dispatch_fallback,
        )

    async def send(self, kind: Kind, **fields: object) -> None:
        update = Incoming(update_id=str(next(self.ids)), user=RIDER, kind=kind, **fields)  # type: ignore[arg-type]
        await self.dispatcher.handle(update)

    async def command(self, name: str) -> None:
        await self.send(Kind.COMMAND, command=name, text=f"/{name}")

    async def press(self, data: str) -> None:
        await self.send(Kind.BUTTON, button_data=data, callback_id="cb", message_id="m1")

    async def account(self) -> Account:
        async with self.make_uow() as uow:
            found = await uow.accounts.find(RIDER.platform, RIDER.user_id)
        assert found is not None
        return found

    async def told(self) -> str:
        async with self.make_uow() as uow:
            rows = await uow.outbox.claim(100, NOW, per_chat=100)
        return "\n".join(row.message.text for row in rows)


@pytest.fixture
def rider(make_uow: MakeUow, tmp_path: Path) -> Rider:
    return Rider(make_uow, tmp_path / "photos")


async def test_declining_consent_keeps_only_the_chat_id_and_the_language(rider):
    await rider.command("register")
    await rider.press("reg:decline")
    account = await rider.account()
    assert (account.chat_id, account.locale) == ("c501", "en")
    assert (account.display_name, account.phone, account.consent) == ("", None, None)
    assert "nothing about you except this chat's id and your language" in await rider.told()


async def test_a_name_stored_before_consent_is_erased_at_the_next_message(rider):
    # An account row written by an earlier version, which stored the name on first contact.
    async with rider.make_uow() as uow:
        await uow.accounts.get_or_create(
            platform=RIDER.platform,
            platform_user_id=RIDER.user_id,
            chat_id=RIDER.chat_id,
            display_name=RIDER.display_name,
            locale="en",
        )
        await uow.commit()
    await rider.command("help")
    assert (await rider.account()).display_name == ""


async def test_the_name_is_stored_from_the_first_message_after_consent(rider):
    await rider.command("register")
    await rider.press("reg:agree")
    assert (await rider.account()).display_name == ""
    await rider.command("help")
    assert (await rider.account()).display_name == "Xiaoming"


async def _grant_role(uow: BaseUnitOfWork, account_id: int) -> None:
    await uow.regions.replace_map(
        [MapUnit(code="G1", name="网格", level=Level.GRID, parent_code=None, geometry=SQUARE)],
        replace=True,
    )
    grid = await uow.regions.get("G1")
    assert grid is not None
    await uow.roles.grant(account_id, RoleName.GRID_WORKER, grid.id)


async def _register_informant(uow: BaseUnitOfWork, account_id: int) -> None:
    profile = InformantProfile(
        account_id=account_id,
        real_name="王小明",
        phone="+8613800000000",
        company="美团",
        status=InformantStatus.APPROVED,
        home_region_id=None,
        created_at=NOW,
    )
    await uow.informants.upsert(profile)


@pytest.mark.parametrize("basis", [_grant_role, _register_informant], ids=["staff", "informant"])
async def test_the_name_of_staff_and_registered_informants_is_kept_for_those_they_work_with(
    rider, basis
):
    await rider.command("help")
    account_id = (await rider.account()).id
    async with rider.make_uow() as uow:
        await basis(uow, account_id)
        await uow.commit()
    await rider.command("help")
    assert (await rider.account()).display_name == "Xiaoming"
