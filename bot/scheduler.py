"""The periodic jobs: the SLA sweep every minute, the 08:30 digest, hourly housekeeping
(old update ids, sent outbox rows, abandoned drafts, orphan photos).

APScheduler only decides *when*; it keeps no state (memory job store, nothing persisted).
Each run reads its work from the database and guards every message by a row written in the
same commit, so a restart, a missed run or a second bot process loses or repeats nothing.
Jobs read the time from ``env.clock`` so tests drive them with a controlled clock. A process
started after the day's digest time, but before noon, sends it once on start (``catch_up``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time, timedelta
from typing import TYPE_CHECKING, Any

from bot.services.drafts import expire_drafts, finish_reason_prompts
from bot.services.escalation import EscalationPolicy, UowFactory, digest, sweep
from bot.services.retention import SweepablePhotoStore, sweep_orphan_photos

if TYPE_CHECKING:
    from bot.services.env import Env

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60
DIGEST_AT = (8, 30)  # local time (env.zone)
# A process started later than this skips the day's catch-up: a "Good morning" digest in the
# afternoon or at midnight is noise, and the next 08:30 run brings the same cases anyway.
DIGEST_CATCH_UP_UNTIL = (12, 0)  # local time (env.zone)
# Telegram keeps an undelivered update for 24 h and WeChat retries within seconds; a week of
# processed ids is ample to recognise any redelivery, and the table stays small.
UPDATE_IDS_KEPT = timedelta(days=7)
HOUSEKEEPING_SECONDS = 3600


class JobScheduler:
    """Owns one ``AsyncIOScheduler``; built and started inside the running event loop."""

    def __init__(
        self,
        *,
        uow_factory: UowFactory,
        env: Env,
        policy: EscalationPolicy | None = None,
        on_commit: Callable[[], None] | None = None,
        photo_store: SweepablePhotoStore | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._photo_store = photo_store
        self._env = env
        self._policy = policy or EscalationPolicy.for_env(env)
        self._on_commit = on_commit
        self._scheduler: Any = None

    async def run_sweep(self) -> None:
        now = self._env.clock()
        result = await sweep(self._uow_factory, self._env, now, policy=self._policy)
        if result.sent:
            log.info("sweep sent %d escalation steps", len(result))
        reopened = await finish_reason_prompts(self._uow_factory, self._env, now)
        if reopened:
            log.info("reopened %d cases whose not-fixed reason never came", reopened)
        if result.sent or reopened:
            self._wake()

    async def run_housekeeping(self) -> int:
        """Forget processed update ids, and received updates given up on, older than
        ``UPDATE_IDS_KEPT``; returns how many ids."""
        cutoff = self._env.clock() - UPDATE_IDS_KEPT
        async with self._uow_factory() as uow:
            forgotten = await uow.updates.forget_before(cutoff)
            dead = await uow.inbox.forget_dead_before(cutoff)
            await uow.commit()
        if forgotten or dead:
            log.info("forgot %d processed update ids, %d dead received updates", forgotten, dead)
        return forgotten

    async def run_outbox_retention(self) -> int:
        """Delete outbox rows settled longer than ``env.outbox_keep`` ago; how many. Their
        payloads name people and cases, and a sent message needs them no more."""
        async with self._uow_factory() as uow:
            purged = await uow.outbox.purge_settled(self._env.clock() - self._env.outbox_keep)
            await uow.commit()
        if purged:
            log.info("purged %d sent or failed outbox rows", purged)
        return purged

    async def run_photo_retention(self) -> int:
        """Delete stored photos older than ``env.photo_orphan_age`` that nothing refers to."""
        if self._photo_store is None:
            return 0
        cutoff = self._env.clock() - self._env.photo_orphan_age
        deleted = await sweep_orphan_photos(self._uow_factory, self._photo_store, cutoff=cutoff)
        if deleted:
            log.info("deleted %d stored photos nothing referred to", deleted)
        return deleted

    async def run_draft_expiry(self) -> int:
        """Discard states idle longer than ``env.draft_age`` and tell their users; how many."""
        expired = await expire_drafts(self._uow_factory, self._env, self._env.clock())
        if expired:
            log.info("discarded %d abandoned drafts", expired)
            self._wake()
        return expired

    async def run_digest(self) -> None:
        sent = await digest(self._uow_factory, self._env, self._env.clock())
        if sent:
            log.info("digest sent to %d workers", sent)
            self._wake()

    async def catch_up(self) -> None:
        """Run today's digest now if its time has passed this morning. The jobs live in
        memory, so a process that was down at 08:30 would otherwise skip the day; the day's
        marker in the database keeps a digest already sent from going out twice."""
        now = self._env.clock().astimezone(self._env.zone).time()
        if now < time(*DIGEST_AT):
            return  # the cron job will send it
        if now >= time(*DIGEST_CATCH_UP_UNTIL):
            return  # too late for a morning digest; tomorrow's job sends the next one
        try:
            await self.run_digest()
        except Exception:
            # Start-up goes on: a missed digest must not keep the bot from answering.
            log.exception("catching up on today's digest failed")

    def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        # coalesce + one instance: a slow run or a suspended laptop never piles up sweeps.
        scheduler = AsyncIOScheduler(
            timezone=self._env.zone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        scheduler.add_job(
            self.run_sweep, IntervalTrigger(seconds=SWEEP_SECONDS), id="sweep", name="SLA sweep"
        )
        hour, minute = DIGEST_AT
        scheduler.add_job(
            self.run_digest,
            CronTrigger(hour=hour, minute=minute, timezone=self._env.zone),
            id="digest",
            name="morning digest",
        )
        scheduler.add_job(
            self.run_housekeeping,
            IntervalTrigger(seconds=HOUSEKEEPING_SECONDS),
            id="housekeeping",
            name="forget old update ids",
        )
        scheduler.add_job(
            self.run_outbox_retention,
            IntervalTrigger(seconds=HOUSEKEEPING_SECONDS),
            id="outbox_retention",
            name="purge settled outbox rows",
        )
        # Hourly is fine-grained enough: a draft lives at most an hour past its age.
        scheduler.add_job(
            self.run_draft_expiry,
            IntervalTrigger(seconds=HOUSEKEEPING_SECONDS),
            id="draft_expiry",
            name="discard abandoned drafts",
        )
        if self._photo_store is not None:
            # A job of its own: a slow walk of a large photo folder never delays the
            # update-id cleanup, and a failure of one is logged apart from the other.
            scheduler.add_job(
                self.run_photo_retention,
                IntervalTrigger(seconds=HOUSEKEEPING_SECONDS),
                id="photo_retention",
                name="delete photos nothing refers to",
            )
        scheduler.start()
        self._scheduler = scheduler

    @property
    def scheduler(self) -> Any:
        """The running ``AsyncIOScheduler`` (None before ``start``), to inspect its jobs."""
        return self._scheduler

    def jobs(self) -> list[str]:
        return [] if self._scheduler is None else [job.id for job in self._scheduler.get_jobs()]

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def _wake(self) -> None:
        if self._on_commit is not None:
            self._on_commit()
