"""The outbox sender: drains outbox rows through each platform's sender within its limits.

Every outgoing message is a row written in the same commit as the change that caused it,
so this is the single place that talks to a platform after the fact and the single place
that knows Telegram's limits (≈30 messages/s overall, 1 message/s per chat, 429 answers
with ``retry_after``). A row is marked sent in a commit started as soon as the platform
accepted it, and a chat's next row is not sent before that commit is done, so a restart
never sends a row twice (but for the one row per chat in flight at a crash); rows of other
chats accepted meanwhile share the commit. A row that cannot be sent is marked failed and
kept, never dropped.

Rows of one chat go out strictly in id order. The store guarantees it across batches (it
hands out a chat's earliest unsent rows, a few at a time, and nothing of a chat while some
of its rows are leased); within a batch, when the head row of a chat has to wait,
everything behind it in that chat waits too, while other chats carry on.

Pacing (1 message/s per chat after a burst) is for pushes and bulk sends. A reply to what
the person just did (a row written by their own update into their own chat) goes out at
once: Telegram tolerates short bursts in a private chat, and a rider tapping through a flow
must not wait seconds per step, nor answer a question still held back by the pacing. A
reply still waits behind any earlier row of its chat, so order within a chat stays strict.

A row that keeps failing is given up after ``max_attempts`` tries (an answer the library
cannot read, a 5xx), so one row never blocks its chat forever; failures to reach the
platform at all say nothing about the row and are not counted. A request that timed out
after it went out may have been carried out: a message is then not sent again (Telegram
is slow, not deaf; three duplicate replies were seen), only logged and marked ``unsure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.chat import Outgoing, OutKind
from bot.services.ports import NotFound, OutboxRow

if TYPE_CHECKING:
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

SendFn = Callable[[Outgoing], Awaitable[str | None]]
"""A platform sender: delivers one message and returns the platform's message id, if any."""

ChatKey = tuple[str, str]  # (platform, chat_id)


class DeliveryError(Exception):
    """Base of the neutral errors a platform sender raises; transports map theirs onto these."""


class RetryAfter(DeliveryError):
    """The platform asked us to wait (Telegram's 429 with ``retry_after``).

    ``whole_bot`` marks a limit on the bot as a whole rather than on this chat.
    """

    def __init__(self, seconds: float, *, whole_bot: bool = False) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = max(0.0, float(seconds))
        self.whole_bot = whole_bot


class TransientError(DeliveryError):
    """Network trouble or a server error: the same request may succeed later."""


class Unreachable(TransientError):
    """The platform could not be reached at all (no connection): nothing was sent, and it
    says nothing about the row, so it does not count towards the row's tries."""


class UnreadableAnswer(TransientError):
    """A 2xx whose body the library could not parse (a proxy's page, a truncated answer)."""


class MaybeSent(TransientError):
    """The request went out but its answer did not come in time: it may have been carried
    out. A message is not sent again (see ``OutboxSender``); edits and button answers are
    idempotent and are retried."""


class AwaitingUser(DeliveryError):
    """The platform takes no message to this chat until its person writes again (WeChat's
    48 h window): the row waits, uncounted, and is tried again after ``retry_in`` s."""

    def __init__(self, message: str, *, retry_in: float = 600.0) -> None:
        super().__init__(message)
        self.retry_in = max(1.0, float(retry_in))


class PermanentError(DeliveryError):
    """The platform refused the message for good (bad request, the user blocked the bot)."""


class OutboxStore(Protocol):
    """The outbox repository of the storage port, each call its own commit.

    ``claim`` returns due rows by id, up to ``per_chat`` of each chat's earliest unsent
    rows, leased (for longer than the sender's ``max_inline_wait``) to this store's owner;
    ``release_own`` hands back at once the leases a previous run of the same owner left.
    """

    async def claim(self, limit: int, now: datetime, per_chat: int) -> Sequence[OutboxRow]: ...

    async def release_own(self, now: datetime) -> int: ...

    async def mark_sent(self, sent: Sequence[tuple[int, str | None]]) -> None:
        """Mark (row id, platform message id) pairs sent, all in one commit."""

    async def mark_unsure(self, row_id: int, error: str) -> None: ...

    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None: ...

    async def give_up(self, row_id: int, error: str) -> None: ...


class UnitOfWorkOutbox:
    """An ``OutboxStore`` over the storage port: one unit of work, one commit, per call.

    ``owner`` names this bot process in its leases (``bot.instances``); with
    ``alive_since``, the leases of a process that stopped beating are taken over at once
    rather than when they run out. A row that vanished meanwhile (its person used
    /deletedata) is skipped, never allowed to fail the other rows' commit.
    """

    def __init__(
        self,
        uow_factory: Callable[[], BaseUnitOfWork],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        alive_since: Callable[[], datetime] | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._owner = owner
        self._lease = lease
        self._alive_since = alive_since

    async def claim(self, limit: int, now: datetime, per_chat: int) -> Sequence[OutboxRow]:
        alive_since = self._alive_since() if self._alive_since else None
        async with self._uow_factory() as uow:
            rows = await uow.outbox.claim(
                limit,
                now,
                per_chat=per_chat,
                lease=self._lease,
                owner=self._owner,
                alive_since=alive_since,
            )
            await uow.commit()  # the lease must be committed before sending
            return rows

    async def release_own(self, now: datetime) -> int:
        if self._owner is None:
            return 0
        async with self._uow_factory() as uow:
            released = await uow.outbox.release_leases(self._owner, now)
            await uow.commit()
            return released

    async def mark_sent(self, sent: Sequence[tuple[int, str | None]]) -> None:
        async with self._uow_factory() as uow:
            for row_id, platform_message_id in sent:
                await _unless_gone(row_id, uow.outbox.mark_sent(row_id, platform_message_id))
            await uow.commit()

    async def mark_unsure(self, row_id: int, error: str) -> None:
        async with self._uow_factory() as uow:
            await _unless_gone(row_id, uow.outbox.mark_unsure(row_id, error))
            await uow.commit()

    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None:
        async with self._uow_factory() as uow:
            await _unless_gone(row_id, uow.outbox.retry_later(row_id, at, error, failed=failed))
            await uow.commit()

    async def give_up(self, row_id: int, error: str) -> None:
        async with self._uow_factory() as uow:
            await _unless_gone(row_id, uow.outbox.give_up(row_id, error))
            await uow.commit()


async def _unless_gone(row_id: int, change: Awaitable[None]) -> None:
    try:
        await change
    except NotFound:
        log.info(
            "outbox row %s was deleted while being sent (its person erased their data)", row_id
        )


class SentMarks:
    """Group commit for sent rows: a row accepted while a commit is running goes into the
    next one, so a busy sender pays one commit per round of chats, not one per message."""

    def __init__(self, store: OutboxStore) -> None:
        self._store = store
        self._waiting: list[tuple[int, str | None, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def add(self, row_id: int, platform_message_id: str | None) -> asyncio.Future[None]:
        """Queue the mark; the future is done once it is committed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((row_id, platform_message_id, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="outbox-marks")
        return done

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._store.mark_sent([(row_id, mid) for row_id, mid, _ in batch])
            except Exception as exc:
                for *_, done in batch:
                    done.set_exception(exc)
            else:
                for *_, done in batch:
                    done.set_result(None)


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(slots=True)
class TokenBucket:
    """``burst`` sends at once, then ``rate`` per second; times are seconds on one clock."""

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, *, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, updated=now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def ready_at(self, now: float) -> float:
        self._refill(now)
        return now if self.tokens >= 1 else now + (1 - self.tokens) / self.rate

    def take(self, now: float, *, floor: bool = False) -> None:
        """Spend a token; with ``floor`` (a reply, sent without waiting) never below none,
        so the pushes after a burst of replies wait a second, not one per reply."""
        self._refill(now)
        self.tokens = max(0.0, self.tokens - 1) if floor else self.tokens - 1

    def set_rate(self, rate: float, now: float) -> None:
        self._refill(now)  # what was earned so far at the old rate
        self.rate = rate

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class OutboxSender:
    def __init__(
        self,
        *,
        store: OutboxStore,
        senders: Mapping[str, SendFn],
        clock: Clock | None = None,
        rate_global: float = 30.0,
        rate_per_chat: float = 1.0,
        burst_per_chat: int = 3,
        batch_size: int = 100,
        claim_per_chat: int = 10,
        poll_interval: float = 5.0,
        max_inline_wait: float = 30.0,
        backoff_base: float = 2.0,
        backoff_cap: float = 900.0,
        max_attempts: int = 10,
        fresh: Callable[[], bool] = lambda: True,
    ) -> None:
        self._store = store
        # Whether this process's heartbeat is recent (``Heartbeat.fresh``): a process that
        # has not beaten for a while may have had its leases taken over, and must not send.
        self._fresh = fresh
        self._rate_global = rate_global
        self._senders = dict(senders)
        self._clock = clock or SystemClock()
        self._rate_per_chat = rate_per_chat
        self._burst_per_chat = burst_per_chat
        self._batch_size = batch_size
        # Several rows of a chat per claim: an alert is three messages, and one claim
        # commit per message was most of its cost. At 1 message/s per chat ten rows still
        # go out well within max_inline_wait, so the lease is never outlived.
        self._claim_per_chat = claim_per_chat
        self._poll_interval = poll_interval
        # Longer waits are handed back to the table so claimed rows are not held for long.
        self._max_inline_wait = max_inline_wait
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        # With the backoff above, ten tries span about 17 minutes of a blocked chat.
        self._max_attempts = max_attempts
        self._epoch = self._clock.now()
        # Evenly spaced (burst 1) so no one-second window ever exceeds the global rate.
        self._global = TokenBucket.full(rate=rate_global, burst=1, now=0.0)
        self._chats: dict[ChatKey, TokenBucket] = {}
        self._global_paused = 0.0
        self._flood_until: dict[ChatKey, float] = {}  # pauses the platform asked for (429)
        self._failures: dict[ChatKey, int] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._marks = SentMarks(store)
        self._marking: dict[ChatKey, asyncio.Future[None]] = {}  # commits a chat waits on

    # -- running -------------------------------------------------------------------------

    def add_sender(self, platform: str, send: SendFn) -> None:
        """Attach a transport after construction (the composition root builds it later)."""
        self._senders[platform] = send

    def wake(self) -> None:
        """Send now: the dispatcher calls this after committing outbox rows."""
        self._wake.set()

    def share_rate(self, processes: int) -> None:
        """Send at most 1/``processes`` of the bot's overall rate: Telegram's limit is per
        bot, and ``processes`` senders share it (the heartbeat counts them every second).

        A fixed share rather than one token bucket in the database: no database round
        trip, and no single hot row, in front of every message; the cost is that a burst
        claimed by one process goes at its share while the others idle, and that for up
        to a heartbeat after a process joins the sum may exceed the limit (a 429 then
        pauses the sender, as for any 429)."""
        rate = self._rate_global / max(processes, 1)
        if rate != self._global.rate:
            self._global.set_rate(rate, self._seconds())

    def stop(self) -> None:
        """Finish the message in flight, hand the other claimed rows back, then ``run``
        returns. Await it rather than cancelling: a cancel between the platform's accepting
        a message and ``mark_sent`` leaves the row leased, and after the lease it is sent
        twice."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Drain until ``stop()``; sleep until woken, polling as a safety net for rows
        written by other processes. First take back the leases this instance left when
        it was killed, so its chats do not wait for them to run out."""
        await self._release_own()
        while not self._stopping:
            self._wake.clear()
            settled = 0
            try:
                settled = await self.drain_once()
            except Exception:
                log.exception("outbox drain failed; retrying after the poll interval")
            if settled:
                continue  # settling a row makes the next row of its chat claimable
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _release_own(self) -> None:
        try:
            released = await self._store.release_own(self._clock.now())
        except Exception:
            log.exception("could not release this instance's old outbox leases")
            return
        if released:
            log.info("took back %d outbox rows this instance had leased before a restart", released)

    async def drain_once(self) -> int:
        """Claim one batch of due rows, send or defer each; return how many were settled
        (sent or given up)."""
        rows = await self._store.claim(self._batch_size, self._clock.now(), self._claim_per_chat)
        queues: dict[ChatKey, deque[OutboxRow]] = {}
        for row in sorted(rows, key=lambda r: r.id):
            queues.setdefault(_key(row.message), deque()).append(row)
        settled = 0
        try:
            settled = await self._send_all(queues)
        finally:
            await self._settle_marks()
        self._forget_idle_chats()
        return settled

    async def _send_all(self, queues: dict[ChatKey, deque[OutboxRow]]) -> int:
        settled = 0
        while queues:
            if self._stopping:
                await self._release(queues)
                break
            if not self._fresh():
                # Another process may hold these rows now: hand back only what is still ours.
                log.warning("no recent heartbeat: claimed outbox rows handed back unsent")
                await self._release_own()
                break
            key, ready = self._next_chat(queues)
            now = self._seconds()
            if ready - now > self._max_inline_wait:
                await self._defer(queues.pop(key), now=now, until=ready, error="rate limited")
                continue
            if ready > now:
                await self._clock.sleep(ready - now)
            if await self._attempt(key, queues[key]):
                queues[key].popleft()
                settled += 1
            if not queues[key]:
                del queues[key]
        return settled

    async def _settle_marks(self) -> None:
        """Wait until every sent row's mark is committed; raise if a commit failed."""
        marking, self._marking = self._marking, {}
        results = await asyncio.gather(*marking.values(), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- scheduling ----------------------------------------------------------------------

    def _seconds(self) -> float:
        return (self._clock.now() - self._epoch).total_seconds()

    def _bucket(self, key: ChatKey) -> TokenBucket:
        if key not in self._chats:
            self._chats[key] = TokenBucket.full(
                rate=self._rate_per_chat, burst=self._burst_per_chat, now=self._seconds()
            )
        return self._chats[key]

    def _ready_at(self, key: ChatKey, now: float, *, reply: bool = False) -> float:
        """When the chat's head row may go: a reply skips the chat's pacing, not the
        platform's 429 pauses nor the bot's overall rate."""
        return max(
            now,
            self._global_paused,
            self._flood_until.get(key, 0.0),
            self._global.ready_at(now),
            now if reply else self._bucket(key).ready_at(now),
        )

    def _next_chat(self, queues: Mapping[ChatKey, deque[OutboxRow]]) -> tuple[ChatKey, float]:
        """The chat that may send soonest; ties go to a chat not waiting for its last row's
        sent mark to commit, then to the oldest row."""
        now = self._seconds()
        ready = {key: self._ready_at(key, now, reply=_unpaced(q[0])) for key, q in queues.items()}
        key = min(queues, key=lambda k: (ready[k], self._awaits_mark(k), queues[k][0].id))
        return key, ready[key]

    def _awaits_mark(self, key: ChatKey) -> bool:
        marking = self._marking.get(key)
        return marking is not None and not marking.done()

    # -- one attempt ---------------------------------------------------------------------

    async def _attempt(self, key: ChatKey, queue: deque[OutboxRow]) -> bool:
        """Try the head row of a chat; True when the row is settled (sent, unsure or failed)."""
        row = queue[0]
        if key in self._marking:
            # The chat's previous row must be recorded as sent before this one goes out.
            await self._marking.pop(key)
        now = self._seconds()
        self._global.take(now)
        if row.message.kind is not OutKind.ANSWER_BUTTON:  # not a message in the chat
            self._bucket(key).take(now, floor=row.reply)
        send = self._senders.get(row.message.platform)
        if send is None:
            await self._fail(row, f"no sender for platform {row.message.platform!r}")
            return True
        try:
            message_id = await send(row.message)
        except RetryAfter as exc:
            self._pause(key, exc, now)
            return False
        except AwaitingUser as exc:
            # Kept, never dropped: the whole chat waits (its order holds) without a try
            # counted against the row, however long the person stays away.
            log.info("outbox row %s waits for its person to write: %s", row.id, exc)
            await self._defer(queue, now=now, until=now + exc.retry_in, error=str(exc))
            queue.clear()
            return False
        except PermanentError as exc:
            await self._fail(row, str(exc) or type(exc).__name__)
            return True
        except MaybeSent as exc:
            if row.message.kind not in IDEMPOTENT:
                await self._unsure(row, f"{type(exc).__name__}: {exc}")
                return True
            return await self._failed(key, queue, now, exc)
        except Exception as exc:
            return await self._failed(key, queue, now, exc)
        self._failures.pop(key, None)
        self._marking[key] = self._marks.add(row.id, message_id)
        return True

    async def _failed(
        self, key: ChatKey, queue: deque[OutboxRow], now: float, exc: Exception
    ) -> bool:
        """Back off after a failed try; give the row up once it has used its tries."""
        row, error = queue[0], f"{type(exc).__name__}: {exc}"
        # Unknown errors count as transient: retrying costs little, losing a row a lot.
        if not isinstance(exc, TransientError):
            log.exception("outbox row %s: unexpected error from the sender", row.id)
        counted = not isinstance(exc, Unreachable)
        if counted and row.failures + 1 >= self._max_attempts:
            await self._fail(row, f"gave up after {row.failures + 1} tries: {error}")
            self._failures.pop(key, None)  # the rows behind it have not failed
            return True
        await self._back_off(key, queue, now, error, counted=counted)
        queue.clear()
        return False

    async def _unsure(self, row: OutboxRow, error: str) -> None:
        log.warning(
            "outbox row %s to %s:%s may have been sent (%s); not sending it again",
            row.id,
            *_key(row.message),
            error,
        )
        await self._store.mark_unsure(row.id, error)

    def _pause(self, key: ChatKey, exc: RetryAfter, now: float) -> None:
        until = now + exc.seconds
        # Two chats told to wait at once means the limit is on the bot, not on one chat.
        other_paused = any(t > now for k, t in self._flood_until.items() if k != key)
        if exc.whole_bot or other_paused:
            self._global_paused = max(self._global_paused, until)
        self._flood_until[key] = max(self._flood_until.get(key, 0.0), until)
        log.info("chat %s:%s rate limited for %g s", *key, exc.seconds)

    async def _back_off(
        self, key: ChatKey, queue: deque[OutboxRow], now: float, error: str, *, counted: bool
    ) -> None:
        # The row's own count survives a restart; the chat's covers rows not yet counted.
        failures = max(self._failures.get(key, 0), queue[0].failures)
        self._failures[key] = failures + 1
        delay = min(self._backoff_cap, self._backoff_base * 2**failures)
        log.warning("outbox row %s: %s; retrying in %g s", queue[0].id, error, delay)
        await self._defer(queue, now=now, until=now + delay, error=error, failed=counted)

    async def _defer(
        self,
        queue: deque[OutboxRow],
        *,
        now: float,
        until: float,
        error: str,
        failed: bool = False,
    ) -> None:
        """Hand a chat's rows back to the table, all due at one time so their order holds;
        ``failed`` counts a try against the head row."""
        at = self._clock.now() + timedelta(seconds=until - now)
        head, *rest = queue
        await self._store.retry_later(head.id, at, error, failed=failed)
        for row in rest:
            await self._store.retry_later(row.id, at, f"waiting behind row {head.id}")

    async def _fail(self, row: OutboxRow, error: str) -> None:
        log.error("outbox row %s to %s:%s failed: %s", row.id, *_key(row.message), error)
        await self._store.give_up(row.id, error)

    async def _release(self, queues: Mapping[ChatKey, deque[OutboxRow]]) -> None:
        """On stop, hand claimed rows back due now: left leased, they would hold up their
        chats in the next process until the lease ran out."""
        now = self._seconds()
        for queue in queues.values():
            await self._defer(queue, now=now, until=now, error="released at shutdown")

    def _forget_idle_chats(self) -> None:
        now = self._seconds()
        for key in [k for k, b in self._chats.items() if b.is_full(now)]:
            if self._flood_until.get(key, 0.0) <= now:
                del self._chats[key]
                self._flood_until.pop(key, None)


# Doing these twice changes nothing (an edit into the same text is a success), so a
# request that may have been carried out is simply made again.
IDEMPOTENT = frozenset({OutKind.EDIT_TEXT, OutKind.EDIT_MARKUP, OutKind.ANSWER_BUTTON})


def _unpaced(row: OutboxRow) -> bool:
    """A reply to the person's own action, or a button press's answer (which Telegram does
    not count as a message in the chat), skips the chat's pacing."""
    return row.reply or row.message.kind is OutKind.ANSWER_BUTTON


def _key(message: Outgoing) -> ChatKey:
    return (message.platform, message.chat_id)
