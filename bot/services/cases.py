"""The one use case behind every action on a case: accept, resolve, return, transfer, ...

``act`` loads the report, works out which of the actor's roles hold on the report's grid
(a role granted on a node holds for its whole subtree), lets ``lifecycle.decide`` judge the
request, checks what the state machine cannot know (a transfer goes to a neighbouring grid,
a merge never into the case itself), saves with the version it read — so of two workers
pressing Accept at once exactly one wins —, records the audit event, grants the reporter's
points and hands the change to ``notify.status_changed``. A merged case's reporter and
followers then follow the case it duplicates, so they hear how their problem ends. A
refusal is a ``CaseResult`` with a code the handler translates; nothing is written then.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.lifecycle import (
    Action,
    ActionArgs,
    Actor,
    Decision,
    HeldByOther,
    InvalidArgument,
    InvalidFromState,
    MissingArgument,
    Need,
    NotAllowed,
    decide,
    holds_cases,
)
from bot.domain.model import (
    Account,
    Report,
    ReportPhoto,
    ReportStatus,
    RoleName,
    is_case_staff,
)
from bot.domain.points import PointsTable, default_points
from bot.services import notify
from bot.services import points as ledger
from bot.services.alerts import alert_new_report
from bot.services.env import Env
from bot.services.ports import BaseUnitOfWork, ConcurrentUpdate
from bot.services.reports import record_decision

# Actions that send the case to a grid: the new grid's clock starts and nobody holds it yet.
_SENDS_TO_GRID = frozenset({Action.DISPATCH, Action.TRANSFER, Action.REDISPATCH})
# A reopened case is back on a grid's desk too: its clocks start over, and because
# escalations are keyed by deadline, so does its escalation ladder.
_RESTARTS_CLOCK = _SENDS_TO_GRID | {Action.REOPEN}


class Refusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    STALE = "stale"  # the case moved on since the button was made
    HELD_BY_OTHER = "held_by_other"  # a colleague accepted it (see ``CaseResult.holder``)
    MISSING = "missing"  # a note, photo, reason, ... is needed (see ``CaseResult.need``)
    INVALID_ARGUMENT = "invalid_argument"
    INVALID_TARGET = "invalid_target"  # transfer not to a neighbour, merge into itself
    # A merge into a case that does not exist or is outside the actor's grids: one answer
    # for both, so a number tells nobody whether a case exists elsewhere or is finished.
    UNKNOWN_TARGET = "unknown_target"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """``report`` is the case after the action, or as it stands when refused."""

    report: Report | None
    decision: Decision | None = None
    refusal: Refusal | None = None
    need: Need | None = None
    holder: Account | None = None  # on STALE and HELD_BY_OTHER: who holds the case now

    @property
    def ok(self) -> bool:
        return self.refusal is None


async def roles_in_scope(
    uow: BaseUnitOfWork, account_id: int, grid_id: int | None
) -> set[RoleName]:
    """The account's roles granted on the grid or one of its ancestors."""
    if grid_id is None:
        return set()
    scope = {node.id for node in await uow.regions.ancestors(grid_id)}
    return {g.role for g in await uow.roles.for_account(account_id) if g.region_id in scope}


async def holder_id(uow: BaseUnitOfWork, report: Report) -> int | None:
    """Who holds the case: its assignee while they still have a grid role on its grid.
    Removing a worker does not touch their cases, so without this check a case they had
    accepted would stay theirs, refused to every colleague. One rule for the action, the
    button precheck and the buttons offered."""
    if report.assignee_id is None:
        return None
    roles = await roles_in_scope(uow, report.assignee_id, report.grid_id)
    return report.assignee_id if holds_cases(roles) else None


async def actor_for(uow: BaseUnitOfWork, report: Report, account: Account | None) -> Actor:
    if account is None:
        return Actor.system()
    roles = await roles_in_scope(uow, account.id, report.grid_id)
    return Actor(
        account_id=account.id,
        is_reporter=account.id == report.reporter_id,
        roles=frozenset(roles),
    )


async def act(
    uow: BaseUnitOfWork,
    env: Env,
    *,
    report_id: int,
    actor_account: Account | None,
    action: Action,
    args: ActionArgs | None = None,
    expected_version: int | None = None,
    photo: ReportPhoto | None = None,
    points: PointsTable | None = None,
) -> CaseResult:
    """Take ``action`` on the report for ``actor_account`` (``None``: the system).

    ``expected_version`` is the version a button was made for; ``photo`` the stored
    after-photo of a resolve (its sha256 goes into ``args.photo`` for the audit log).
    """
    report = await uow.reports.get(report_id)
    if report is None:
        return CaseResult(report=None, refusal=Refusal.NOT_FOUND)
    if expected_version is not None and report.version != expected_version:
        return await _stale(uow, report)
    given = args or ActionArgs()
    if photo is not None:
        given = dataclasses.replace(given, photo=photo.sha256)
    actor = await actor_for(uow, report, actor_account)
    holder = await holder_id(uow, report)
    judged = await _judge(uow, env, report, action, actor, given, holder)
    if isinstance(judged, CaseResult):
        return judged
    now = env.clock()
    changed = await _changed(uow, env, report, judged, given, actor, now)
    try:
        saved = await uow.reports.save(changed, report.version)
    except ConcurrentUpdate:
        fresh = await uow.reports.get(report.id)
        return await _stale(uow, fresh or report)
    if photo is not None:
        await uow.reports.add_photo(saved.id, dataclasses.replace(photo, kind="after"))
        saved = await uow.reports.get(saved.id) or saved
    await record_decision(uow, saved, judged, actor, now)
    await _grant_points(uow, saved, judged, points or default_points(), now)
    await notify.status_changed(
        uow, env, report=saved, decision=judged, actor=actor, holder_id=holder
    )
    if judged.action is Action.MERGE and given.duplicate_of is not None:
        await _follow_original(uow, saved, given.duplicate_of)
    if judged.action in _SENDS_TO_GRID:
        await alert_new_report(uow, env, saved)
    return CaseResult(report=saved, decision=judged)


async def _judge(
    uow: BaseUnitOfWork,
    env: Env,
    report: Report,
    action: Action,
    actor: Actor,
    args: ActionArgs,
    holder: int | None,
) -> Decision | CaseResult:
    category = env.catalogue.get(report.category_code)
    try:
        decision = decide(
            report.status,
            action,
            actor,
            args,
            assignee_id=holder,
            after_photo_required=category.after_photo_required,
        )
    except NotAllowed:
        return CaseResult(report=report, refusal=Refusal.NOT_ALLOWED)
    except InvalidFromState:
        return await _stale(uow, report)
    except HeldByOther:
        held_by = await _holder(uow, report)
        return CaseResult(report=report, refusal=Refusal.HELD_BY_OTHER, holder=held_by)
    except MissingArgument as exc:
        return CaseResult(report=report, refusal=Refusal.MISSING, need=exc.need)
    except InvalidArgument as exc:
        return CaseResult(report=report, refusal=Refusal.INVALID_ARGUMENT, need=exc.need)
    if action is Action.MERGE and not await _may_see_target(uow, actor, args.duplicate_of):
        return CaseResult(report=report, refusal=Refusal.UNKNOWN_TARGET)
    if not await _target_ok(uow, env, report, action, actor, args):
        return CaseResult(report=report, refusal=Refusal.INVALID_TARGET)
    return decision


async def _target_ok(
    uow: BaseUnitOfWork, env: Env, report: Report, action: Action, actor: Actor, args: ActionArgs
) -> bool:
    if action is Action.MERGE:
        if args.duplicate_of is None or args.duplicate_of == report.id:
            return False
        into = await uow.reports.get(args.duplicate_of)
        if into is None or not into.status.is_open:
            return False
        if actor.is_system:
            return True
        # The merged case's riders become followers (and /case readers) of the target: only
        # a report in a grid the actor works on, not any report anywhere in the city.
        assert actor.account_id is not None
        into_roles = await roles_in_scope(uow, actor.account_id, into.grid_id)
        return is_case_staff(into_roles)
    if action not in _SENDS_TO_GRID or args.target_grid_id is None:
        return True
    target = await uow.regions.get_by_id(args.target_grid_id)
    # Any unit of the map: on a map without grids (or with grids in part of it) a case's
    # unit may be a district or a community, and so may its neighbours.
    if target is None or target.code not in env.maps.current():
        return False
    if action is Action.TRANSFER:
        return await _is_neighbour(uow, env, report, target.code)
    if actor.is_system:
        return True
    # An admin re-dispatches within the area where they are case staff, not into someone
    # else's (a party secretary's or informant's role there does not count).
    assert actor.account_id is not None
    return is_case_staff(await roles_in_scope(uow, actor.account_id, target.id))


async def _may_see_target(uow: BaseUnitOfWork, actor: Actor, target_id: int | None) -> bool:
    """Whether the merge target exists and is in a grid the actor works on; judged before
    whether it is open (``_target_ok``), which is said only to someone who may see it."""
    if target_id is None or actor.is_system:
        return True  # a missing target is refused as invalid; the system sees everything
    into = await uow.reports.get(target_id)
    if into is None:
        return False
    assert actor.account_id is not None
    return is_case_staff(await roles_in_scope(uow, actor.account_id, into.grid_id))


async def _is_neighbour(uow: BaseUnitOfWork, env: Env, report: Report, target_code: str) -> bool:
    current = await uow.regions.get_by_id(report.grid_id) if report.grid_id else None
    if current is None or current.code not in env.maps.current():
        return False
    return target_code in {ref.code for ref in env.maps.current().neighbours(current.code)}


async def _changed(
    uow: BaseUnitOfWork,
    env: Env,
    report: Report,
    decision: Decision,
    args: ActionArgs,
    actor: Actor,
    now: datetime,
) -> Report:
    changes: dict[str, object] = {"status": decision.to_status, "updated_at": now}
    if decision.action is Action.ACCEPT:
        changes["assignee_id"] = actor.account_id
    elif decision.to_status in (ReportStatus.DISPATCHED, ReportStatus.RETURNED):
        changes["assignee_id"] = None  # whoever held it gave it back, or it went elsewhere
    if decision.action in _SENDS_TO_GRID and args.target_grid_id is not None:
        changes["grid_id"] = args.target_grid_id
    if decision.action in _RESTARTS_CLOCK:
        category = env.catalogue.get(report.category_code)
        changes["ack_due_at"] = now + timedelta(minutes=category.ack_minutes)
        changes["resolve_due_at"] = now + timedelta(minutes=category.resolve_minutes)
    if decision.action is Action.MERGE:
        changes["merged_into_id"] = args.duplicate_of
    return dataclasses.replace(report, **changes)  # type: ignore[arg-type]


async def _follow_original(uow: BaseUnitOfWork, merged: Report, original_id: int) -> None:
    original = await uow.reports.get(original_id)
    if original is None:
        return
    riders = {merged.reporter_id} | {a.id for a in await uow.reports.subscribers(merged.id)}
    for rider in sorted(riders - {original.reporter_id}):  # its reporter hears anyway
        await uow.reports.subscribe(original.id, rider)


async def _grant_points(
    uow: BaseUnitOfWork, report: Report, decision: Decision, table: PointsTable, now: datetime
) -> None:
    amount = table.points_for(decision.action)
    if not amount or await uow.informants.get(report.reporter_id) is None:
        return
    # Each action pays once per report: a reopen → accept again loop must not farm points.
    earlier = [e for e in await uow.audit.history(report.id) if e.action == decision.action.value]
    if len(earlier) > 1:  # the event just recorded is one of them
        return
    await ledger.for_report(uow, report, decision.action, amount, at=now)


async def _stale(uow: BaseUnitOfWork, report: Report) -> CaseResult:
    return CaseResult(report=report, refusal=Refusal.STALE, holder=await _holder(uow, report))


async def _holder(uow: BaseUnitOfWork, report: Report) -> Account | None:
    return await uow.accounts.get(report.assignee_id) if report.assignee_id else None
