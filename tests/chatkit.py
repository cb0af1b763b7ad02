"""The chat harness the flow tests share, on any store: a real ``Dispatcher`` with every flow
over a unit-of-work factory (the in-memory fakes, or real SQLite and PostgreSQL through
``tests/integration/conftest.py``), fed real ``Incoming`` updates, with what it said taken
from the outbox as the sender would take it.

``tests/flowkit.py`` is the older in-memory-only kit; this one does not care which store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.chat import Incoming, Kind, Outgoing, User
from bot.domain.model import (
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    Report,
    RoleName,
)
from bot.services.env import Env
from bot.services.photos import FileFetcher
from bot.services.ports import BaseUnitOfWork
from bot.services.reports import submit_report
from handlers.dispatcher import Dispatcher
from handlers.register import CONSENT_VERSION
from handlers.registry import MODULES, collect

MakeUow = Callable[[], BaseUnitOfWork]
RIDER_PHONE = "+8613800000000"


def rectangle(x0: float, width: float, height: float) -> dict[str, object]:
    """A closed GeoJSON polygon from ``(x0, 39.90)``, where every test map lies."""
    ring = [[x0, 39.90], [x0 + width, 39.90], [x0 + width, 39.90 + height], [x0, 39.90 + height]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def square(x0: float, size: float = 0.03) -> dict[str, object]:
    return rectangle(x0, size, size)


def unit(code: str, level: Level, parent: str | None, x0: float, size: float = 0.03) -> MapUnit:
    """A square map unit named by its code."""
    return MapUnit(code=code, name=code, level=level, parent_code=parent, geometry=square(x0, size))


async def submit(
    uow: BaseUnitOfWork,
    env: Env,
    reporter_id: int,
    *,
    category: str,
    location: GeoPoint,
    note: str,
) -> Report:
    """A report filed as the report flow files it, at the env's clock (not committed)."""
    return await submit_report(
        uow,
        reporter=reporter_id,
        category_code=category,
        location=location,
        photos=[],
        note=note,
        now=env.clock(),
        catalogue=env.catalogue,
        gridmap=env.maps.current(),
        zone=env.zone,
    )


async def approve_informant(
    uow: BaseUnitOfWork,
    account_id: int,
    *,
    at: datetime,
    real_name: str = "王师傅",
    home_region_id: int | None = None,
) -> None:
    """Record the consent and an approved informant profile for ``account_id``."""
    await uow.accounts.record_consent(account_id, CONSENT_VERSION, at)
    await uow.informants.upsert(
        InformantProfile(
            account_id=account_id,
            real_name=real_name,
            phone=RIDER_PHONE,
            company="美团",
            status=InformantStatus.APPROVED,
            home_region_id=home_region_id,
            created_at=at,
        )
    )


def dispatcher_over(
    make_uow: MakeUow,
    env: Env,
    *,
    modules: tuple[str, ...] = MODULES,
    fetchers: dict[str, FileFetcher] | None = None,
) -> Dispatcher:
    """A freshly started bot process over ``make_uow``: nothing in memory, only stored state."""
    registry = collect(modules)
    return Dispatcher(
        uow_factory=make_uow,
        env=env,
        flows=registry.flows,
        commands=registry.commands,
        button_handlers=registry.buttons,
        fallback=registry.dispatch_fallback,
        fetchers=fetchers,
    )


class ChatBot:
    """A freshly started bot process over one store, and the people who talk to it."""

    def __init__(
        self, make_uow: MakeUow, env: Env, *, fetchers: dict[str, FileFetcher] | None = None
    ) -> None:
        self.make_uow = make_uow
        self.env = env
        self.dispatcher = dispatcher_over(make_uow, env, fetchers=fetchers)
        self.ids = itertools.count(1)
        self.outbox: list[Outgoing] = []  # everything sent so far, in order

    async def seed_map(self, units: list[MapUnit]) -> None:
        async with self.make_uow() as uow:
            await uow.regions.replace_map(units, replace=True)
            await self.env.maps.refresh(uow)
            await uow.commit()

    async def person(
        self, name: str, role: RoleName | None = None, region: str = "G1", *, locale: str = "en"
    ) -> User:
        """An account named ``name`` (with ``role`` on ``region``); its user, who tells no
        language of their own."""
        async with self.make_uow() as uow:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=name,
                chat_id=name,
                display_name=name,
                locale=locale,
            )
            node = await uow.regions.get(region)
            assert node is not None
            if role is not None:
                await uow.roles.grant(account.id, role, node.id)
            await uow.commit()
        return User(platform="telegram", user_id=name, chat_id=name, display_name=name)

    async def account_id(self, user: User) -> int:
        async with self.make_uow() as uow:
            account = await uow.accounts.find(user.platform, user.user_id)
        assert account is not None
        return account.id

    async def stored(self, report: Report) -> Report:
        async with self.make_uow() as uow:
            found = await uow.reports.get(report.id)
        assert found is not None
        return found

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[Outgoing]:
        """Hand one update to the dispatcher; everything it queued, to anyone."""
        update = Incoming(update_id=str(next(self.ids)), user=user, kind=kind, **fields)
        await self.dispatcher.handle(update)
        return await self.drain()

    async def command(self, user: User, name: str, payload: str = "") -> list[Outgoing]:
        text = f"/{name} {payload}".strip()
        return await self.send(user, Kind.COMMAND, command=name, payload=payload, text=text)

    async def text(self, user: User, text: str) -> list[Outgoing]:
        return await self.send(user, Kind.TEXT, text=text)

    async def press(self, user: User, data: str, *, message_id: str = "7") -> list[Outgoing]:
        return await self.send(
            user, Kind.BUTTON, button_data=data, callback_id="cb", message_id=message_id
        )

    async def drain(self) -> list[Outgoing]:
        """Take every queued row as the outbox sender would, in the order they were queued
        (a claim hands out one row per chat at a time, so claim until nothing is left)."""
        taken: list[tuple[int, Outgoing]] = []
        while True:
            async with self.make_uow() as uow:
                rows = await uow.outbox.claim(100, self.env.clock() + timedelta(days=30))
                for row in rows:
                    await uow.outbox.mark_sent(row.id, None)
                await uow.commit()
            if not rows:
                break
            taken += [(row.id, row.message) for row in rows]
        messages = [message for _, message in sorted(taken, key=lambda pair: pair[0])]
        self.outbox += messages
        return messages
