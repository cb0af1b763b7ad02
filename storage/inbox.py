"""``SqlInboxRepository``: received updates, stored before they are confirmed (bot.inbox)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, cast, delete, func, select, update
from sqlalchemy.orm import aliased

from bot.services import ports
from storage.leases import lease_free
from storage.models import InboxRowModel
from storage.repositories import _Repo

NEW, DEAD = "new", "dead"


def _item(row: InboxRowModel) -> ports.InboxItem:
    return ports.InboxItem(
        id=row.id,
        platform=row.platform,
        update_id=row.update_id,
        payload=row.payload,
        attempts=row.attempts,
    )


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
        # A redelivery (a webhook retry, a batch polled again after a crash) is no error.
        inserted = await self.s.scalars(
            self._insert(InboxRowModel)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(InboxRowModel.id)
        )
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
        i = InboxRowModel
        earlier = aliased(InboxRowModel)
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
            select(earlier.id)
            .where(
                earlier.state == NEW,
                earlier.platform == i.platform,
                earlier.user_key == i.user_key,
                earlier.id < i.id,
            )
            .exists()
        )
        stmt = (
            select(i)
            .where(
                i.state == NEW,
                lease_free(i.leased_until, i.leased_by, now, alive_since),
                ~held_back,
            )
            .order_by(i.id)
            .limit(limit)
        )
        rows = list((await self.s.scalars(self._locked(stmt, i))).all())
        for row in rows:
            row.leased_until, row.leased_by = now + lease, owner
            row.attempts += 1
        await self.s.flush()
        return [_item(row) for row in rows]

    async def renew(self, ids: Collection[int], until: datetime) -> None:
        if ids:
            await self.s.execute(
                update(InboxRowModel)
                .where(InboxRowModel.id.in_(list(ids)), InboxRowModel.state == NEW)
                .values(leased_until=until)
            )

    async def done(self, ids: Collection[int]) -> None:
        if ids:
            await self.s.execute(delete(InboxRowModel).where(InboxRowModel.id.in_(list(ids))))

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
