"""``SqlInboxRepository``: received updates, stored before they are confirmed (bot.inbox)."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Row, bindparam, cast, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Executable

from bot.services import ports
from storage.leases import lease_free
from storage.models import InboxRowModel
from storage.repositories import _Repo, _table

NEW, DEAD = "new", "dead"


def _item(row: InboxRowModel | Row[Any]) -> ports.InboxItem:
    return ports.InboxItem(
        id=row.id,
        platform=row.platform,
        update_id=row.update_id,
        payload=row.payload,
        attempts=row.attempts,
    )


@functools.cache
def _claim(postgres: bool, owned: bool) -> Executable:
    """Lease the oldest claimable rows; ``owned``: leases name their holder, and a holder
    that stopped beating (``alive_since``) no longer holds its rows."""
    table = _table(InboxRowModel)
    i, earlier = table.alias("i"), table.alias("earlier")
    when = table.c.leased_until.type
    now = bindparam("now", type_=when)
    alive_since = bindparam("alive_since", type_=when) if owned else None
    # Per-user order across processes: a row is claimable only while no earlier row of
    # its user is still here — leased, pausing before a retry, or free. A handled row
    # is deleted (a given-up one is dead), so a user's row k+1 becomes claimable only
    # after row k's outcome is committed; two claimers that both see row k free meet
    # on its row lock (SKIP LOCKED: one takes it, the other skips it, and on
    # PostgreSQL re-checks a row changed under it against its new version). A user is
    # never in two processes at once, but for a lease taken over from a process that
    # stopped beating while still at work (the dispatcher's update ids make that
    # second pass a no-op).
    held_back = (
        select(earlier.c.id)
        .where(
            earlier.c.state == NEW,
            earlier.c.platform == i.c.platform,
            earlier.c.user_key == i.c.user_key,
            earlier.c.id < i.c.id,
        )
        .exists()
    )
    claimable = (
        select(i.c.id)
        .where(
            i.c.state == NEW,
            lease_free(i.c.leased_until, i.c.leased_by, now, alive_since),
            ~held_back,
        )
        .order_by(i.c.id)
        .limit(bindparam("limit"))
    )
    if postgres:
        # SKIP LOCKED lets several processes claim at once without waiting on each other.
        # SQLite has no row locks; its single writer (BEGIN IMMEDIATE) serialises claimers.
        claimable = claimable.with_for_update(skip_locked=True, of=i)
    return (
        update(table)
        .where(table.c.id.in_(claimable.scalar_subquery()))
        .values(
            leased_until=bindparam("until", type_=when),
            leased_by=bindparam("owner", type_=table.c.leased_by.type),
            attempts=table.c.attempts + 1,
        )
        .returning(
            table.c.id, table.c.platform, table.c.update_id, table.c.payload, table.c.attempts
        )
    )


@functools.cache
def _add(postgres: bool) -> Executable:
    # A redelivery (a webhook retry, a batch polled again after a crash) is no error. With
    # RETURNING, a list of rows goes out as one multi-row INSERT (SQLAlchemy's
    # "insertmanyvalues"), compiled once for every batch size.
    table = _table(InboxRowModel)
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    return insert.on_conflict_do_nothing().returning(table.c.id)


@functools.cache
def _done() -> Executable:
    table = _table(InboxRowModel)
    return delete(table).where(table.c.id.in_(bindparam("ids", expanding=True)))


class SqlInboxRepository(_Repo, ports.BaseInboxRepository):
    async def add(self, platform: str, updates: Collection[ports.Received], *, at: datetime) -> int:
        if not updates:
            return 0
        rows = [
            {
                "platform": platform,
                "update_id": u.update_id,
                "user_key": u.user_key,
                "payload": dict(u.payload),
                "received_at": at,
                "state": NEW,
                "attempts": 0,
            }
            for u in updates
        ]
        inserted = await self.s.execute(_add(self._postgres), rows)
        return len(inserted.all())

    async def claim(
        self,
        limit: int,
        now: datetime,
        *,
        lease: timedelta,
        owner: str | None = None,
        alive_since: datetime | None = None,
    ) -> list[ports.InboxItem]:
        # One statement: lease the oldest claimable rows and return them.
        params: dict[str, Any] = {"now": now, "until": now + lease, "limit": limit, "owner": owner}
        if alive_since is not None:
            params["alive_since"] = alive_since
        claimed = await self.s.execute(_claim(self._postgres, alive_since is not None), params)
        return sorted((_item(row) for row in claimed), key=lambda item: item.id)

    async def renew(self, ids: Collection[int], until: datetime) -> None:
        if ids:
            await self.s.execute(
                update(InboxRowModel)
                .where(InboxRowModel.id.in_(list(ids)), InboxRowModel.state == NEW)
                .values(leased_until=until)
            )

    async def done(self, ids: Collection[int]) -> None:
        if ids:
            await self.s.execute(_done(), {"ids": list(ids)})

    async def retry_later(self, item_id: int, at: datetime, error: str) -> None:
        await self.s.execute(
            update(InboxRowModel)
            .where(InboxRowModel.id == item_id)
            .values(leased_until=at, leased_by=None, last_error=error)
        )

    async def give_up(self, item_id: int, error: str) -> None:
        await self.s.execute(
            update(InboxRowModel)
            .where(InboxRowModel.id == item_id)
            .values(state=DEAD, leased_until=None, leased_by=None, last_error=error)
        )

    async def release_leases(self) -> int:
        released = await self.s.scalars(
            update(InboxRowModel)
            .where(InboxRowModel.state == NEW, InboxRowModel.leased_until.is_not(None))
            .values(leased_until=None, leased_by=None)
            .returning(InboxRowModel.id)
        )
        return len(released.all())

    async def backlog(self) -> int:
        count = await self.s.scalar(select(func.count()).where(InboxRowModel.state == NEW))
        return int(count or 0)

    async def highest(self, platform: str) -> int | None:
        # Stored as text (other platforms' ids need not be numbers): compare as numbers.
        return await self.s.scalar(
            select(func.max(cast(InboxRowModel.update_id, BigInteger))).where(
                InboxRowModel.platform == platform
            )
        )

    async def dead(self) -> list[tuple[ports.InboxItem, str]]:
        rows = await self.s.scalars(
            select(InboxRowModel).where(InboxRowModel.state == DEAD).order_by(InboxRowModel.id)
        )
        return [(_item(row), row.last_error or "") for row in rows]

    async def forget_dead_before(self, at: datetime) -> int:
        gone = await self.s.scalars(
            delete(InboxRowModel)
            .where(InboxRowModel.state == DEAD, InboxRowModel.received_at < at)
            .returning(InboxRowModel.id)
        )
        return len(gone.all())
