"""Nothing accepted is lost: received updates are stored before they are acknowledged.

A transport hands the platform's raw update JSON to ``Inbox.receive``, which stores the
batch in one commit (a redelivery is stored once). Only then does the poller ask for the
next offset — which is what confirms the batch to Telegram — or does the webhook answer
200. A process killed at any moment afterwards loses nothing: the rows are still there,
and the next start handles them first (or, on PostgreSQL, another process as soon as the
killed one's heartbeat is missed: ``bot.instances``).

``Inbox.run`` is the worker: it claims rows oldest first, at most one per user at a time
(so each person's updates keep their order even across processes), maps each through the
platform's mapper to an ``Incoming`` and hands it to the dispatcher, whose commit records
the update id with its effects. A handled row is deleted in the commit of the next claim
(one commit for both, not one more per update). A row that fails — the mapper
cannot read it, or the database is away — is retried with a growing pause (the user's later
rows wait for it) and, after ``max_attempts``, kept as dead with the reason and logged once,
so one malformed update never stops everyone else being served. The dispatcher is told which
try is the last: only then does it apologise to the user instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.chat import Incoming
from bot.services.ports import BaseUnitOfWork, InboxItem, Received

log = logging.getLogger(__name__)

JSON = Mapping[str, Any]
Mapper = Callable[[JSON], Incoming | None]


class OnIncoming(Protocol):
    """Handles one update (``Dispatcher.handle``). Raises when it failed and ``last_try`` is
    False (it is tried again); on the last try it tells the user and returns the error
    instead (the row is kept as dead with it); None when the update is handled."""

    def __call__(self, incoming: Incoming, *, last_try: bool) -> Awaitable[Exception | None]: ...


GetUpdates = Callable[[int | None, float], Awaitable[Sequence[JSON]]]


class PollingTurn(Protocol):
    """Which of the processes sharing the database polls (``storage.polling_turn``)."""

    async def take(self) -> bool:
        """True while this process holds the turn; tries to take it when it does not."""
        ...

    async def give_back(self) -> None: ...


class AlwaysPolls:
    """The turn of a process that is alone (a SQLite file's one process, tests)."""

    async def take(self) -> bool:
        return True

    async def give_back(self) -> None:
        return None


IDLE_S = 1.0  # how often an idle worker looks for rows other processes stored or retries
POLL_BACKOFF_S = (1.0, 30.0)  # first and longest pause after a failed getUpdates
TURN_RETRY_S = 1.0  # how often a process that does not poll asks for the turn


def now_utc() -> datetime:
    return datetime.now(UTC)


def user_key(update: JSON) -> str | None:
    """Who sent the update (the ``from`` of its one payload), or None when nobody did."""
    for value in update.values():
        if isinstance(value, Mapping):
            sender = value.get("from")
            if isinstance(sender, Mapping) and sender.get("id") is not None:
                return str(sender["id"])
    return None


def received(update: JSON) -> Received:
    """``update`` as an inbox row; raises ValueError when it has no usable ``update_id``."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int | str) or isinstance(update_id, bool) or update_id == "":
        raise ValueError("an update needs an update_id")
    return Received(update_id=str(update_id), user_key=user_key(update), payload=update)


class Inbox:
    def __init__(
        self,
        *,
        uow_factory: Callable[[], BaseUnitOfWork],
        handle: OnIncoming,
        concurrency: int = 8,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        retry_delay: float = 1.0,
        drain_s: float = 10.0,
        owner: str | None = None,
        alive_since: Callable[[], datetime] | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._uow_factory = uow_factory
        # This process in its leases, and since when a lease holder must have beaten to
        # count as alive (``bot.instances``): a dead process's rows are taken over at once.
        self._owner = owner
        self._alive_since = alive_since
        self._handle = handle
        self._mappers: dict[str, Mapper] = {}
        self._concurrency = concurrency
        self._lease = lease
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._drain_s = drain_s
        self._clock = clock
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._handled: list[int] = []  # rows handled, deleted with the next claim
        self._storing: set[asyncio.Future[bool]] = set()
        self._stop_at: float | None = None

    def add_mapper(self, platform: str, mapper: Mapper) -> None:
        self._mappers[platform] = mapper

    # -- receiving ----------------------------------------------------------------------

    async def receive(
        self, platform: str, updates: Sequence[JSON], *, max_backlog: int | None = None
    ) -> bool:
        """Store ``updates`` in one commit and wake the worker; False (nothing stored) when
        ``max_backlog`` rows already wait. Raises ValueError for an update without an id,
        and the database's error when it cannot store: then nothing may be acknowledged."""
        rows = [received(update) for update in updates]
        # Shielded: a caller cancelled mid-commit (the web server's shutdown grace ran out,
        # polling stopped) must not cut a transaction in half; the store finishes, unanswered
        # (Telegram sends it again, and it is stored once), and a stop waits for it.
        storing = asyncio.ensure_future(self._store(platform, rows, max_backlog))
        self._storing.add(storing)
        storing.add_done_callback(self._stored)
        return await asyncio.shield(storing)

    def _stored(self, storing: asyncio.Future[bool]) -> None:
        self._storing.discard(storing)
        self._wake.set()

    async def _store(self, platform: str, rows: list[Received], max_backlog: int | None) -> bool:
        async with self._uow_factory() as uow:
            if max_backlog is not None and await uow.inbox.backlog() >= max_backlog:
                return False
            await uow.inbox.add(platform, rows, at=self._clock())
            await uow.commit()
        self._wake.set()
        return True

    # -- handling -----------------------------------------------------------------------

    async def release_leases(self) -> None:
        """Make rows a killed process was handling claimable at once (only safe when no
        other process shares the database: SQLite)."""
        async with self._uow_factory() as uow:
            released = await uow.inbox.release_leases()
            await uow.commit()
        if released:
            log.info("inbox: %d update(s) a stopped process was handling are taken up", released)

    def stop(self) -> None:
        """Stop claiming once what is stored is handled, or after ``drain_s`` at most."""
        self._stop_at = asyncio.get_running_loop().time() + self._drain_s
        self._wake.set()

    async def run(self) -> None:
        renewing = asyncio.create_task(self._renew_leases(), name="inbox-leases")
        try:
            await self._work()
        finally:
            renewing.cancel()
            await self._cancel_in_flight()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._stop_at is not None and loop.time() >= self._stop_at:
                return
            self._wake.clear()
            free = self._concurrency - len(self._in_flight)
            claimed = await self._claim(free) if free > 0 or self._handled else []
            for item in claimed:
                self._in_flight[item.id] = asyncio.create_task(
                    self._process(item), name=f"inbox-{item.id}"
                )
            busy = claimed or self._in_flight or self._storing or self._handled
            if self._stop_at is not None and not busy:
                return  # drained: nothing left that may be handled now, handled rows gone
            wait = IDLE_S if self._stop_at is None else min(IDLE_S, self._stop_at - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(wait, 0.0))

    async def _claim(self, limit: int) -> list[InboxItem]:
        """Delete the rows handled since the last claim, then lease up to ``limit`` rows:
        one commit for both. Deleted first, so a user's next row is claimable at once.

        A handled row left undeleted (this fails, or the process stops first) is claimed
        again later; its update id, recorded in the dispatcher's commit, makes that a
        no-op, and the row goes then."""
        handled, self._handled = self._handled, []
        try:
            async with self._uow_factory() as uow:
                await uow.inbox.done(handled)
                items = await uow.inbox.claim(
                    limit,
                    self._clock(),
                    lease=self._lease,
                    owner=self._owner,
                    alive_since=self._alive_since() if self._alive_since else None,
                )
                await uow.commit()
        except Exception:
            self._handled.extend(handled)
            log.exception("inbox: could not claim updates; trying again")
            return []
        return items

    async def _process(self, item: InboxItem) -> None:
        try:
            if item.attempts > self._max_attempts:
                # Claimed that often without an outcome: the process died handling it.
                await self._give_up(item, "the process stopped while handling it")
                return
            try:
                told = await self._dispatch(item)
            except Exception as exc:
                await self._failed(item, exc)
                return
            if told is not None:  # its traceback is logged where it failed
                reason = f"{type(told).__name__}: {told}; the user was told"
                await self._give_up(item, reason)
                return
            self._handled.append(item.id)
        finally:
            self._in_flight.pop(item.id, None)
            self._wake.set()

    async def _dispatch(self, item: InboxItem) -> Exception | None:
        """The error the handler told the user about on the last try, or None."""
        mapper = self._mappers.get(item.platform)
        if mapper is None:
            raise LookupError(f"no transport reads {item.platform} updates")
        incoming = mapper(item.payload)
        if incoming is None:
            return None
        return await self._handle(incoming, last_try=item.attempts >= self._max_attempts)

    async def _failed(self, item: InboxItem, exc: Exception) -> None:
        if item.attempts >= self._max_attempts:
            await self._give_up(item, f"{type(exc).__name__}: {exc}", exc)
            return
        pause = self._retry_delay * 2 ** (item.attempts - 1)
        at = self._clock() + timedelta(seconds=pause)
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "inbox: %s update %s failed (attempt %d of %d), retried in %.0f s: %s",
            item.platform, item.update_id, item.attempts, self._max_attempts, pause, error,
        )  # fmt: skip
        await self._settle(item, lambda uow: uow.inbox.retry_later(item.id, at, error))

    async def _give_up(self, item: InboxItem, reason: str, exc: Exception | None = None) -> None:
        # Only the update's top-level keys: its payload holds what the person sent (name,
        # phone, location, text), which a log keeps out of reach of /deletedata.
        log.error(
            "inbox: %s update %s skipped after %d attempt(s), kept as dead: %s; update keys: %s",
            item.platform, item.update_id, item.attempts, reason, sorted(item.payload),
            exc_info=exc,
        )  # fmt: skip
        await self._settle(item, lambda uow: uow.inbox.give_up(item.id, reason))

    async def _settle(
        self, item: InboxItem, change: Callable[[BaseUnitOfWork], Awaitable[None]]
    ) -> None:
        # If this fails the row keeps its lease and is claimed again when it runs out; the
        # dispatcher's update ids make a second pass over a handled update a no-op.
        try:
            async with self._uow_factory() as uow:
                await change(uow)
                await uow.commit()
        except Exception:
            log.exception("inbox: could not settle %s update %s", item.platform, item.update_id)

    async def _renew_leases(self) -> None:
        every = max(self._lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            if not self._in_flight:
                continue
            try:
                async with self._uow_factory() as uow:
                    await uow.inbox.renew(list(self._in_flight), self._clock() + self._lease)
                    await uow.commit()
            except Exception:
                log.exception("inbox: could not renew leases")

    async def _cancel_in_flight(self) -> None:
        # Past the drain time: their rows stay stored and leased, and are handled again by
        # the next start (or another process once this one's heartbeat row is gone).
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if tasks:
            log.warning("inbox: %d update(s) left to the next start", len(tasks))


class Poller:
    """Long polling that confirms an offset only past updates the inbox has stored.

    Telegram's ``getUpdates`` confirms everything below the ``offset`` it is asked with, so
    the next offset is asked for only after ``Inbox.receive`` committed the batch. A failed
    store leaves the offset where it was: Telegram sends the batch again.

    Of several processes sharing the database, only the one holding the ``turn`` polls
    (Telegram answers a second concurrent getUpdates with 409); the others ask for it every
    ``TURN_RETRY_S`` and meanwhile only handle the shared inbox. A new poller starts with
    no offset: what its predecessor stored but had not confirmed comes again and is stored
    once (or, handled already, is a no-op for the dispatcher).
    """

    def __init__(
        self,
        *,
        inbox: Inbox,
        platform: str,
        get_updates: GetUpdates,
        timeout: float = 10.0,
        max_backlog: int | None = None,
        turn: PollingTurn | None = None,
    ) -> None:
        self._inbox = inbox
        self._platform = platform
        self._get_updates = get_updates
        self._timeout = timeout
        self._max_backlog = max_backlog
        self._turn = turn or AlwaysPolls()
        self.offset: int | None = None
        self.polling: bool | None = None  # whether this process holds the turn; None: not asked yet

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._turn.give_back()

    async def _run(self) -> None:
        failures = 0
        while True:
            if not await self._has_turn():
                await asyncio.sleep(TURN_RETRY_S)
                continue
            try:
                await self._poll_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                first, longest = POLL_BACKOFF_S
                pause = min(first * 2 ** (failures - 1), longest)
                # A traceback once; the same trouble again is one line each.
                log.warning(
                    "getUpdates or storing its batch failed; again in %.0f s: %r",
                    pause, exc, exc_info=failures == 1,
                )  # fmt: skip
                await asyncio.sleep(pause)

    async def _has_turn(self) -> bool:
        polling = await self._turn.take()
        if polling != self.polling:
            self.polling = polling
            if polling:
                log.info("this process polls %s", self._platform)
                self.offset = None  # what the last poller confirmed is gone anyway
            else:
                log.info(
                    "another process polls %s; this one handles the shared inbox", self._platform
                )
        return polling

    async def _poll_once(self) -> None:
        updates = await self._get_updates(self.offset, self._timeout)
        if not updates:
            return
        batch = [u for u in updates if isinstance(u.get("update_id"), int)]
        if not await self._inbox.receive(self._platform, batch, max_backlog=self._max_backlog):
            # Full: nothing stored or confirmed; Telegram keeps the batch while we catch up.
            log.info("inbox full (%s waiting); polling pauses", self._max_backlog)
            await asyncio.sleep(IDLE_S)
            return
        if batch:
            self.offset = max(u["update_id"] for u in batch) + 1
