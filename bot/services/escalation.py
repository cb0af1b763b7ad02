"""Deadlines: the SLA sweep and the morning digest.

Both keep no state outside the database, so a restart or a second bot process neither loses
nor repeats anything:

* ``sweep`` asks for the cases past a deadline and sends each step once, because a step is
  sent only when ``escalations.record`` says it is new — in the same commit as its outbox
  rows and its ``escalate`` audit event (concurrent sweepers may list the same case; the
  record's key lets one of them through).
* ``digest`` claims each worker's digest of the day with a processed-update id, in the
  same commit as that worker's message, so two processes firing at 08:30 send one each.

Every case step and every worker's digest is a unit of work of its own: one that fails
(a case whose category left the catalogue) is logged, and the others still go out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.chat import Outgoing
from bot.domain.lifecycle import Action, ActionArgs, Actor, Audience, decide
from bot.domain.model import (
    Account,
    AuditEvent,
    EscalationKind,
    Report,
    ReportStatus,
    RoleName,
)
from bot.i18n import N_, Translator, translator
from bot.services.notify import recipients
from bot.services.ports import DuplicateUpdate

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

log = logging.getLogger(__name__)

UowFactory = Callable[[], "BaseUnitOfWork"]

DIGEST_PLATFORM = "digest"  # the processed-update namespace that marks a day's digest sent
DIGEST_MAX_LINES = 20  # a chat message, not a report: the rest is in /queue
# An escalation's reason is kept in the case history as a code ("<kind>_overdue"), stable
# for queries; people read it as this text, in their language (handlers/history.py).
REASON_TEXTS: dict[str, str] = {
    "ack_overdue": N_("not accepted by its deadline"),
    "resolve_overdue": N_("not resolved by its deadline"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One rung of the escalation ladder: when it is due (after the deadline) and whom it
    tells. ``escalations.record`` keys it by ``level`` and the deadline it is for."""

    kind: EscalationKind
    level: int
    delay: timedelta
    audiences: frozenset[Audience]
    text: str  # English source; {number}, {category}, {grid}, {due}


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationPolicy:
    # Reminding the grid first gives it a chance before its superiors hear of the delay.
    escalate_after: timedelta = timedelta(minutes=30)
    batch: int = 100

    @classmethod
    def for_env(cls, env: Env) -> EscalationPolicy:
        """The policy the operator configured (``GRIDSNAP_ESCALATE_AFTER_MIN``)."""
        return cls(escalate_after=env.escalate_after)

    def levels(self, kind: EscalationKind) -> dict[int, timedelta]:
        """Each level of ``kind`` and its delay after the deadline, as the due queries take."""
        return {step.level: step.delay for step in self.steps() if step.kind is kind}

    def steps(self) -> tuple[Step, ...]:
        return (
            Step(
                kind=EscalationKind.ACK,
                level=1,
                delay=timedelta(0),
                audiences=frozenset({Audience.GRID_WORKERS}),
                text=N_(
                    "Reminder: report {number} ({category}) in {grid} is still waiting to be "
                    "accepted; it was due by {due}. Send /queue to see it."
                ),
            ),
            Step(
                kind=EscalationKind.ACK,
                level=2,
                delay=self.escalate_after,
                audiences=frozenset({Audience.GRID_LEADER, Audience.COMMUNITY_ADMIN}),
                text=N_(
                    "Escalation: nobody accepted report {number} ({category}) in {grid}; "
                    "it was due by {due}."
                ),
            ),
            Step(
                kind=EscalationKind.RESOLVE,
                level=1,
                delay=timedelta(0),
                audiences=frozenset({Audience.STREET_ADMIN}),
                text=N_(
                    "Escalation: report {number} ({category}) in {grid} was not resolved by {due}."
                ),
            ),
        )


@dataclass(slots=True)
class SweepResult:
    sent: list[tuple[int, EscalationKind, int]]  # (report id, kind, level) newly done
    failed: list[tuple[int, EscalationKind, int]] = field(default_factory=list)  # logged

    def __len__(self) -> int:
        return len(self.sent)


async def sweep(
    uow_factory: UowFactory,
    env: Env,
    now: datetime,
    *,
    policy: EscalationPolicy | None = None,
) -> SweepResult:
    """Send every escalation step that is due and not yet done.

    One unit of work per case: a case that cannot be escalated (its category
    left the catalogue, say) is logged and every other case still is. Without ``policy``
    the delays come from ``env`` (the operator's settings)."""
    policy = policy or EscalationPolicy.for_env(env)
    result = SweepResult(sent=[], failed=[])
    async with uow_factory() as uow:
        escalations = uow.escalations
        overdue = {
            EscalationKind.ACK: await escalations.due_for_ack(
                now, levels=policy.levels(EscalationKind.ACK), limit=policy.batch
            ),
            EscalationKind.RESOLVE: await escalations.due_for_resolve(
                now, levels=policy.levels(EscalationKind.RESOLVE), limit=policy.batch
            ),
        }
    # Every step of a case in one unit, in the ladder's order: concurrent sweepers then
    # meet on the first step's record and never write two audit events of a case at once.
    cases: dict[int, tuple[Report, list[Step]]] = {}
    for step in policy.steps():
        for report in overdue[step.kind]:
            if _is_due(report, step, now):
                cases.setdefault(report.id, (report, []))[1].append(step)
    for report, steps in cases.values():
        try:
            async with uow_factory() as uow:
                taken = await _take_steps_if_unchanged(uow, env, report, steps, now)
                await uow.commit()
        except Exception:
            log.exception("escalating report %s failed; the other cases go on", report.id)
            result.failed += [(report.id, step.kind, step.level) for step in steps]
            continue
        result.sent += [(report.id, step.kind, step.level) for step in taken]
    return result


async def _take_steps_if_unchanged(
    uow: BaseUnitOfWork, env: Env, listed: Report, steps: list[Step], now: datetime
) -> list[Step]:
    # The list was read in a unit of its own; a case acted on since is left to the next
    # sweep, which sees it as it is now.
    report = await uow.escalations.lock_case(listed.id)
    if report is None or report.version != listed.version:
        return []
    return [step for step in steps if await _take_step(uow, env, report, step, now)]


def _deadline(report: Report, kind: EscalationKind) -> datetime | None:
    return report.ack_due_at if kind is EscalationKind.ACK else report.resolve_due_at


def _is_due(report: Report, step: Step, now: datetime) -> bool:
    deadline = _deadline(report, step.kind)
    return deadline is not None and now >= deadline + step.delay


async def _take_step(
    uow: BaseUnitOfWork, env: Env, report: Report, step: Step, now: datetime
) -> bool:
    deadline = _deadline(report, step.kind)
    if deadline is None or not _is_due(report, step, now):
        return False
    if not await uow.escalations.record(report.id, step.kind, step.level, due_at=deadline, at=now):
        return False  # done by an earlier sweep or a concurrent process
    await _record_history(uow, report, step, deadline, now)
    people = await recipients(uow, report, step.audiences)
    for account in _unique(a for _, a in people):
        if step.audiences == {Audience.GRID_WORKERS} and not account.on_duty:
            continue  # a reminder is for who is working now; the next step reaches the rest
        t = translator(account.locale, env.zone)
        text = await _step_text(uow, env, t, report, step, deadline)
        await uow.outbox.add(
            Outgoing(platform=account.platform, chat_id=account.chat_id, text=text)
        )
    return True


async def _record_history(
    uow: BaseUnitOfWork, report: Report, step: Step, deadline: datetime, now: datetime
) -> None:
    reason = f"{step.kind.value}_overdue"
    decision = decide(report.status, Action.ESCALATE, Actor.system(), ActionArgs(reason=reason))
    await uow.audit.append(
        AuditEvent(
            report_id=report.id,
            seq=0,  # the repository assigns the next one
            action=decision.action.value,
            actor_id=None,
            from_status=decision.from_status,
            to_status=decision.to_status,
            at=now,
            # "due" tells a second climb of the ladder (after a reopen) from the first.
            data={
                **decision.data,
                "kind": step.kind.value,
                "level": step.level,
                "due": deadline.isoformat(),
            },
        )
    )


async def _step_text(
    uow: BaseUnitOfWork, env: Env, t: Translator, report: Report, step: Step, due: datetime
) -> str:
    return t._(step.text).format(
        number=report.number,
        category=env.catalogue.name(report.category_code, t.locale),
        grid=await _grid_name(uow, report),
        due=t.datetime(due),
    )


async def _grid_name(uow: BaseUnitOfWork, report: Report) -> str:
    node = await uow.regions.get_by_id(report.grid_id) if report.grid_id else None
    return node.name if node else "?"


def _unique(accounts: Iterable[Account]) -> list[Account]:
    seen: dict[int, Account] = {}
    for account in accounts:
        if account.chat_id:
            seen.setdefault(account.id, account)
    return list(seen.values())


# -- the morning digest ---------------------------------------------------------------------

_WORKER_STATUSES = frozenset({ReportStatus.DISPATCHED, ReportStatus.ACCEPTED})


async def digest(uow_factory: UowFactory, env: Env, now: datetime) -> int:
    """Send each grid worker a summary of their open and overdue cases; return how many
    were sent. Once per local day and worker, however many processes run it: each
    worker's digest is one unit of work, marked with its own processed-update id, so one
    that fails is logged and the others still go out."""
    day = now.astimezone(env.zone).date().isoformat()
    async with uow_factory() as uow:
        if await uow.updates.seen(DIGEST_PLATFORM, day):
            return 0  # today's run finished already
        workers = await _workers_and_grids(uow)
    sent = 0
    for account, grid_ids in workers.items():
        try:
            async with uow_factory() as uow:
                sent += await _worker_digest(uow, env, now, day, account, grid_ids)
                await uow.commit()
        except DuplicateUpdate:
            continue  # a concurrent process sent this one
        except Exception:
            log.exception("the digest for account %s failed; the others go on", account.id)
    async with uow_factory() as uow:
        with contextlib.suppress(DuplicateUpdate):
            await uow.updates.mark(DIGEST_PLATFORM, day, at=now)
            await uow.commit()
    return sent


async def _worker_digest(
    uow: BaseUnitOfWork,
    env: Env,
    now: datetime,
    day: str,
    account: Account,
    grid_ids: list[int],
) -> int:
    cases = [r for r in await uow.reports.open_for_grids(grid_ids) if r.status in _WORKER_STATUSES]
    if not cases or not account.chat_id:
        return 0
    await uow.updates.mark(DIGEST_PLATFORM, f"{day}:{account.id}", at=now)  # once a day
    t = translator(account.locale, env.zone)
    text = digest_text(t, env, cases, now)
    await uow.outbox.add(Outgoing(platform=account.platform, chat_id=account.chat_id, text=text))
    return 1


def is_overdue(report: Report, now: datetime) -> bool:
    due = report.ack_due_at if report.status is ReportStatus.DISPATCHED else None
    return any(d is not None and d <= now for d in (due, report.resolve_due_at))


def digest_text(t: Translator, env: Env, cases: list[Report], now: datetime) -> str:
    overdue = [r for r in cases if is_overdue(r, now)]
    ordered = overdue + [r for r in cases if r not in overdue]
    lines = [
        t._("Good morning! Open cases in your grids: {open}, overdue: {overdue}.").format(
            open=len(cases), overdue=len(overdue)
        )
    ]
    for report in ordered[:DIGEST_MAX_LINES]:
        line = f"• {report.number} {env.catalogue.name(report.category_code, t.locale)}"
        lines.append(line + (" — " + t._("overdue") if report in overdue else ""))
    if len(ordered) > DIGEST_MAX_LINES:
        lines.append(
            t._("…and {n} more. Send /queue to see them all.").format(
                n=len(ordered) - DIGEST_MAX_LINES
            )
        )
    return "\n".join(lines)


async def _workers_and_grids(uow: BaseUnitOfWork) -> dict[Account, list[int]]:
    by_account: dict[int, set[int]] = {}
    for grant in await uow.roles.list_all():
        if grant.role is RoleName.GRID_WORKER:
            grids = await units_under(uow, grant.region_id)
            by_account.setdefault(grant.account_id, set()).update(grids)
    found: dict[Account, list[int]] = {}
    for account_id, grid_ids in sorted(by_account.items()):
        account = await uow.accounts.get(account_id)
        if account is not None:
            found[account] = sorted(grid_ids)
    return found


async def units_under(uow: BaseUnitOfWork, region_id: int) -> list[int]:
    """The region and every unit below it: the units whose cases someone with a role on the
    region sees (a role on a community covers its grids, and on a district-only or partly
    mapped map a case routed to a community or district stays with that unit itself)."""
    found = [region_id]
    for child in await uow.regions.children(region_id):
        found += await units_under(uow, child.id)
    return found
