"""Which process polls: Telegram answers 409 to a second concurrent getUpdates of one bot.

On PostgreSQL the poller holds a session advisory lock on a connection of its own: held
while that connection lives, so a killed poller's lock goes with its connection the moment
the server sees the socket close, and the next process to ask takes over within its
``Poller``'s retry pause. (A pooler in transaction mode, such as PgBouncer's, breaks
session locks: point ``GRIDSNAP_DATABASE_URL`` at PostgreSQL itself.) A SQLite file has a
single bot process, which always polls.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.inbox import AlwaysPolls

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` (PostgreSQL's bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryLockTurn:
    """PostgreSQL: the turn to poll is a session advisory lock on a dedicated connection."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._engine = engine
        self._key = lock_key(name)
        self._connection: AsyncConnection | None = None
        self._held = False

    async def take(self) -> bool:
        """True when this process holds the turn (taken now, or still held); asked before
        every getUpdates, so a lost connection stops polling before the next call."""
        try:
            if self._connection is None:
                self._connection = await self._engine.connect()
            if self._held:
                await self._connection.exec_driver_sql("SELECT 1")
            else:
                taken = await self._connection.scalar(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                )
                self._held = bool(taken)
            # Not left idle in a transaction for as long as this process polls.
            await self._connection.commit()
        except Exception:
            log.warning("lost the database connection that holds the polling turn", exc_info=True)
            await self._drop()
            return False
        return self._held

    async def give_back(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            try:
                # Discarded, never back into the pool: a pooled connection would keep
                # the session lock, and with it the turn, for good.
                await connection.invalidate()
                await connection.close()
            except Exception:
                log.debug("closing the polling turn's connection failed", exc_info=True)


def polling_turn(engine: AsyncEngine, name: str) -> AlwaysPolls | AdvisoryLockTurn:
    if engine.dialect.name == "postgresql":
        return AdvisoryLockTurn(engine, name)
    return AlwaysPolls()  # a SQLite file has one process
