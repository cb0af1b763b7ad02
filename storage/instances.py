"""``SqlInstanceRepository``: running bot processes and their heartbeats (bot.instances)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from bot.services import ports
from storage.models import InstanceRow
from storage.repositories import _Repo


class SqlInstanceRepository(_Repo, ports.BaseInstanceRepository):
    async def beat(self, instance: ports.Instance, now: datetime) -> None:
        insert = self._insert(InstanceRow).values(
            id=instance.id,
            host=instance.host,
            pid=instance.pid,
            started_at=instance.started_at,
            seen_at=now,
        )
        await self.s.execute(
            insert.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
        )

    async def live(self, since: datetime) -> int:
        count = await self.s.scalar(
            select(func.count()).select_from(InstanceRow).where(InstanceRow.seen_at >= since)
        )
        return int(count or 0)

    async def leave(self, instance_id: str) -> None:
        await self.s.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))

    async def forget_before(self, at: datetime) -> int:
        gone = await self.s.scalars(
            delete(InstanceRow).where(InstanceRow.seen_at < at).returning(InstanceRow.id)
        )
        return len(gone.all())
