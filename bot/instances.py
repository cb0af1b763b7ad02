"""Several bot processes on one database: who each one is, and which of them are alive.

Every ``gridsnap run`` process gets its own instance id (host, pid and a random part;
``GRIDSNAP_INSTANCE_ID`` overrides it) and writes a heartbeat row every ``every`` seconds.
The id goes into the leases it takes on inbox and outbox rows; a lease whose holder has not
beaten for ``dead_after`` is taken over at once by whoever claims next, so a killed
process's work waits seconds, not the lease's minute. A process that stops cleanly deletes
its row, which frees what it still held the same moment.

The heartbeat also counts the live processes, and the outbox sender takes that share of the
bot's overall send rate (Telegram's limit is per bot, not per process): see
``OutboxSender.share_rate`` for why a share rather than a bucket in the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.services.ports import BaseUnitOfWork, Instance

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(hours=1)  # a dead process's row is kept this long, for operators


def now_utc() -> datetime:
    return datetime.now(UTC)


def this_process(
    instance_id: str | None = None, *, clock: Callable[[], datetime] = now_utc
) -> Instance:
    """This process as an instance: ``instance_id`` when given, else a new unique id."""
    host = socket.gethostname()[:80]
    pid = os.getpid()
    # The random part: a pid is reused after a restart (a container is always pid 1).
    chosen = instance_id or f"{host}:{pid}:{secrets.token_hex(4)}"
    return Instance(id=chosen, host=host, pid=pid, started_at=clock())


class Heartbeat:
    """Beats for ``instance`` until cancelled; tells ``on_live`` how many instances live."""

    def __init__(
        self,
        *,
        uow_factory: Callable[[], BaseUnitOfWork],
        instance: Instance,
        every: timedelta,
        dead_after: timedelta,
        on_live: Callable[[int], None] = lambda live: None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._uow_factory = uow_factory
        self.instance = instance
        self._every = every.total_seconds()
        self.dead_after = dead_after
        self.on_live = on_live
        self._clock = clock
        self._last_beat: float | None = None  # monotonic time of the last committed beat
        self.live = 1

    def alive_since(self) -> datetime:
        """A lease holder not seen since this is dead."""
        return self._clock() - self.dead_after

    def fresh(self) -> bool:
        """Whether this process's last heartbeat is recent enough that no other process
        can have taken its leases over: half the dead time, so a send started now still
        finishes well inside it."""
        if self._last_beat is None:
            return False
        return time.monotonic() - self._last_beat < self.dead_after.total_seconds() / 2

    async def beat(self) -> int:
        """One heartbeat; the number of live instances (this one included)."""
        now = self._clock()
        async with self._uow_factory() as uow:
            await uow.instances.beat(self.instance, now)
            live = await uow.instances.live(now - self.dead_after)
            await uow.instances.forget_before(now - FORGET_AFTER)
            await uow.commit()
        self._last_beat = time.monotonic()
        if live != self.live:
            log.info("%d bot process(es) share the database", live)
        self.live = max(live, 1)
        self.on_live(self.live)
        return self.live

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.beat()
                failures = 0
            except Exception:
                failures += 1
                # A traceback once; the same trouble again is one line each.
                log.warning("heartbeat failed (%d in a row)", failures, exc_info=failures == 1)
            await asyncio.sleep(self._every)

    async def leave(self) -> None:
        """Forget this instance (a clean stop): what it still holds is free at once."""
        try:
            async with self._uow_factory() as uow:
                await uow.instances.leave(self.instance.id)
                await uow.commit()
        except Exception:
            log.exception("could not remove this instance's heartbeat; it expires by itself")
