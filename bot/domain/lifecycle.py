"""The report lifecycle as a pure state machine (the 数字化城管 closed loop).

Every action is one row of ``TRANSITIONS``: the statuses it starts from, the status it
leads to, who may take it, what it needs and whom it tells. ``decide`` checks one request
against that row and answers with a ``Decision`` or a typed ``TransitionError`` whose
``code`` the handlers translate. The service turns a decision into the status change, an
audit event and outbox rows in one commit; ``replay`` rebuilds the status from those
audit events, so the log alone is enough to audit any case.

Who may act is judged on the roles that *hold on the case's grid or above*; the service
computes them from the region tree, so this module never sees geography. Once a worker has
accepted a case it is theirs: a colleague may not resolve, return, transfer or merge it
(``HeldByOther``), while grid leaders above still may, as they supervise (admins, who never
resolve or return, may still transfer, merge or reject it). A case is held only while its
worker still has a grid role on it (``holds_cases``): one removed from the grid holds
nothing, or the case would be stuck. Whoever holds a case hears when someone else moves it
on (``Audience.HOLDER``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from bot.domain.model import AuditEvent, ReportStatus, RoleName

S = ReportStatus
R = RoleName

RATING_RANGE = range(1, 6)


class Action(enum.StrEnum):
    SUBMIT = "submit"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RESOLVE = "resolve"
    CLOSE = "close"  # verified and closed by supervision, or auto-closed by the system
    CONFIRM = "confirm"  # the reporter says it is fixed and rates the work
    REOPEN = "reopen"  # the reporter says it is not fixed
    RETURN = "return"  # not ours: back to the community admin with a reason
    TRANSFER = "transfer"  # straight to another grid
    REDISPATCH = "redispatch"  # a returned case sent out again
    MERGE = "merge"  # a duplicate of an existing case
    REJECT = "reject"
    CANCEL = "cancel"
    ESCALATE = "escalate"  # recorded and pushed upwards; the status stays


class Need(enum.StrEnum):
    REASON = "reason"
    NOTE = "note"
    PHOTO = "photo"
    TARGET_GRID = "target_grid"
    DUPLICATE_OF = "duplicate_of"
    RATING = "rating"


class Audience(enum.StrEnum):
    REPORTER = "reporter"
    SUBSCRIBERS = "subscribers"  # riders who followed the case (their duplicate merged in)
    GRID_WORKERS = "grid_workers"
    GRID_LEADER = "grid_leader"
    COMMUNITY_ADMIN = "community_admin"
    STREET_ADMIN = "street_admin"
    HOLDER = "holder"  # the worker who accepted the case, when someone else moves it on


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    action: Action
    sources: frozenset[ReportStatus | None]  # None: the case does not exist yet
    target: ReportStatus | None  # None: the status stays as it is
    reporter: bool = False
    roles: frozenset[RoleName] = frozenset()
    system: bool = False
    needs: frozenset[Need] = frozenset()
    notify: frozenset[Audience] = frozenset()
    holder_only: bool = False  # on an accepted case, a grid worker acts only if they hold it


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks: ``roles`` are only those that hold on the case's grid or an ancestor."""

    account_id: int | None
    is_reporter: bool = False
    roles: frozenset[RoleName] = frozenset()
    is_system: bool = False

    @classmethod
    def system(cls) -> Actor:
        return cls(account_id=None, is_system=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionArgs:
    reason: str | None = None
    note: str | None = None
    photo: str | None = None  # reference to the stored "after" photo (its sha256)
    target_grid_id: int | None = None
    duplicate_of: int | None = None
    rating: int | None = None

    def given(self, need: Need) -> bool:
        value = getattr(self, _ARG_OF[need])
        return value is not None and (not isinstance(value, str) or bool(value.strip()))

    def as_data(self, needs: Iterable[Need]) -> dict[str, Any]:
        """The arguments worth keeping in the audit event: free text and photo whenever
        given, structured ones only where the action uses them (a stray rating on an
        accept would mislead whoever reads the log)."""
        keep = {*needs, Need.REASON, Need.NOTE, Need.PHOTO}
        return {_ARG_OF[n]: getattr(self, _ARG_OF[n]) for n in sorted(keep) if self.given(n)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    action: Action
    from_status: ReportStatus | None
    to_status: ReportStatus
    notify: frozenset[Audience]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def changes_status(self) -> bool:
        return self.from_status is not self.to_status


class TransitionError(Exception):
    """A refused request; ``code`` is stable so handlers can pick a translated message."""

    code: ClassVar[str] = "transition_error"

    def __init__(self, action: Action, status: ReportStatus | None, detail: str) -> None:
        super().__init__(f"{action} from {status}: {detail}")
        self.action = action
        self.status = status


class NotAllowed(TransitionError):
    code = "not_allowed"


class InvalidFromState(TransitionError):
    code = "invalid_from_state"


class HeldByOther(TransitionError):
    """A colleague accepted the case; only they, or a supervisor, may take this action."""

    code = "held_by_other"


class MissingArgument(TransitionError):
    code = "missing_argument"

    def __init__(self, action: Action, status: ReportStatus | None, need: Need) -> None:
        super().__init__(action, status, f"needs {need}")
        self.need = need


class InvalidArgument(TransitionError):
    code = "invalid_argument"

    def __init__(self, action: Action, status: ReportStatus | None, need: Need) -> None:
        super().__init__(action, status, f"invalid {need}")
        self.need = need


class ReplayError(ValueError):
    """The audit log does not describe a path through the state machine."""


_ARG_OF = {
    Need.REASON: "reason",
    Need.NOTE: "note",
    Need.PHOTO: "photo",
    Need.TARGET_GRID: "target_grid_id",
    Need.DUPLICATE_OF: "duplicate_of",
    Need.RATING: "rating",
}

_GRID = frozenset({R.GRID_WORKER, R.GRID_LEADER})
_ADMINS = frozenset({R.COMMUNITY_ADMIN, R.STREET_ADMIN, R.CITY_ADMIN})
_LEADER_UP = _ADMINS | {R.GRID_LEADER}
_UNRESOLVED = frozenset({S.SUBMITTED, S.DISPATCHED, S.ACCEPTED, S.RETURNED})
_TO_FOLLOWERS = frozenset({Audience.REPORTER, Audience.SUBSCRIBERS})
_TO_GRID = _TO_FOLLOWERS | {Audience.GRID_WORKERS, Audience.GRID_LEADER}
# A worker whose accepted case a leader resolves, returns, transfers, merges or rejects
# must not go on working on it unaware; the service leaves the holder out when they acted.
_TO_HOLDER = frozenset({Audience.HOLDER})


def _t(action: Action, sources: Iterable[ReportStatus | None], **kw: Any) -> Transition:
    return Transition(action=action, sources=frozenset(sources), **kw)


# The reporter and the riders following the case hear of every status change they did not
# cause themselves: reporters not being told is the first complaint users of comparable
# systems make.
TRANSITIONS: Mapping[Action, Transition] = MappingProxyType(
    {
        t.action: t
        for t in (
            _t(Action.SUBMIT, {None}, target=S.SUBMITTED, reporter=True),
            _t(
                Action.DISPATCH,
                {S.SUBMITTED},
                target=S.DISPATCHED,
                roles=_ADMINS,
                system=True,
                needs=frozenset({Need.TARGET_GRID}),
                notify=_TO_GRID,
            ),
            _t(Action.ACCEPT, {S.DISPATCHED}, target=S.ACCEPTED, roles=_GRID, notify=_TO_FOLLOWERS),
            _t(
                Action.RESOLVE,
                {S.ACCEPTED},
                target=S.RESOLVED,
                roles=_GRID,
                needs=frozenset({Need.NOTE}),
                notify=_TO_FOLLOWERS | _TO_HOLDER,
                holder_only=True,
            ),
            _t(
                Action.CLOSE,
                {S.RESOLVED},
                target=S.CLOSED,
                roles=_ADMINS,
                system=True,
                notify=_TO_FOLLOWERS | {Audience.GRID_WORKERS},
            ),
            _t(
                Action.CONFIRM,
                {S.RESOLVED},
                target=S.CLOSED,
                reporter=True,
                needs=frozenset({Need.RATING}),
                notify=frozenset(
                    {Audience.SUBSCRIBERS, Audience.GRID_WORKERS, Audience.GRID_LEADER}
                ),
            ),
            _t(
                Action.REOPEN,
                {S.RESOLVED, S.CLOSED},
                target=S.DISPATCHED,
                reporter=True,
                needs=frozenset({Need.REASON}),
                notify=frozenset(
                    {Audience.SUBSCRIBERS, Audience.GRID_WORKERS, Audience.GRID_LEADER}
                ),
            ),
            _t(
                Action.RETURN,
                {S.DISPATCHED, S.ACCEPTED},
                target=S.RETURNED,
                roles=_GRID,
                needs=frozenset({Need.REASON}),
                notify=_TO_FOLLOWERS | _TO_HOLDER | {Audience.COMMUNITY_ADMIN},
                holder_only=True,
            ),
            _t(
                Action.TRANSFER,
                {S.DISPATCHED, S.ACCEPTED},
                target=S.DISPATCHED,
                roles=_GRID | _ADMINS,
                needs=frozenset({Need.TARGET_GRID, Need.REASON}),
                notify=_TO_GRID | _TO_HOLDER,
                holder_only=True,
            ),
            _t(
                Action.REDISPATCH,
                {S.RETURNED},
                target=S.DISPATCHED,
                roles=_ADMINS,
                needs=frozenset({Need.TARGET_GRID}),
                notify=_TO_GRID,
            ),
            _t(
                Action.MERGE,
                _UNRESOLVED,
                target=S.MERGED,
                roles=_GRID | _ADMINS,
                needs=frozenset({Need.DUPLICATE_OF}),
                notify=_TO_FOLLOWERS | _TO_HOLDER,
                holder_only=True,
            ),
            _t(
                Action.REJECT,
                _UNRESOLVED,
                target=S.REJECTED,
                roles=_LEADER_UP,
                needs=frozenset({Need.REASON}),
                notify=_TO_FOLLOWERS | _TO_HOLDER,
            ),
            _t(
                Action.CANCEL,
                {S.SUBMITTED, S.DISPATCHED},
                target=S.CANCELLED,
                reporter=True,
                notify=frozenset(
                    {Audience.SUBSCRIBERS, Audience.GRID_WORKERS, Audience.GRID_LEADER}
                ),
            ),
            _t(
                Action.ESCALATE,
                _UNRESOLVED,
                target=None,
                roles=_LEADER_UP,
                system=True,
                needs=frozenset({Need.REASON}),
                notify=frozenset({Audience.COMMUNITY_ADMIN, Audience.STREET_ADMIN}),
            ),
        )
    }
)


def decide(
    state: ReportStatus | None,
    action: Action,
    actor: Actor,
    args: ActionArgs | None = None,
    *,
    assignee_id: int | None = None,
    after_photo_required: bool = False,
) -> Decision:
    """Judge one request. ``assignee_id`` is who holds the case, if anyone;
    ``after_photo_required`` comes from the case's category."""
    rule = TRANSITIONS[action]
    given = args or ActionArgs()
    if not may_act(rule, actor):
        raise NotAllowed(action, state, "actor has no right to this action here")
    to_status = next_status(state, action)
    if action is Action.REOPEN and assignee_id is not None:
        # "Not fixed" goes back to whoever fixed it, accepted already: nobody has to find it
        # in the queue and accept it again. Without a holder it is the grid's again.
        to_status = ReportStatus.ACCEPTED
    if held_by_other(action, actor, assignee_id):
        raise HeldByOther(action, state, f"account {assignee_id} holds the case")
    _check_needs(rule, state, given, after_photo_required=after_photo_required)
    return Decision(
        action=action,
        from_status=state,
        to_status=to_status,
        notify=rule.notify,
        data=given.as_data(rule.needs),
    )


def may_act(rule: Transition, actor: Actor) -> bool:
    if actor.is_system:
        return rule.system
    return (rule.reporter and actor.is_reporter) or bool(rule.roles & actor.roles)


def holds_cases(roles: Iterable[RoleName]) -> bool:
    """Whether someone with ``roles`` on a case's grid (or above) can hold it: the roles
    that may accept it. A holder who lost them — removed from staff, or moved to another
    grid — holds the case no more, so their colleagues may take it on."""
    return not TRANSITIONS[Action.ACCEPT].roles.isdisjoint(roles)


def held_by_other(action: Action, actor: Actor, assignee_id: int | None) -> bool:
    """True when a grid worker would act on a case a colleague accepted; ``assignee_id``
    is the holder still holding it (see ``holds_cases``), not merely the last to accept."""
    return (
        TRANSITIONS[action].holder_only
        and assignee_id is not None
        and assignee_id != actor.account_id
        and not actor.roles & _LEADER_UP
    )


def next_status(state: ReportStatus | None, action: Action) -> ReportStatus:
    """Where ``action`` leads from ``state``, ignoring who asks and with what."""
    rule = TRANSITIONS[action]
    if state not in rule.sources:
        raise InvalidFromState(action, state, "not possible from this status")
    if rule.target is not None:
        return rule.target
    if state is None:  # a status-keeping action on a case that does not exist
        raise InvalidFromState(action, state, "no case to act on")
    return state


def allowed_actions(
    state: ReportStatus | None, actor: Actor, *, assignee_id: int | None = None
) -> list[Action]:
    """The actions this actor may offer as buttons now (arguments are asked for later)."""
    return [
        action
        for action, rule in TRANSITIONS.items()
        if state in rule.sources
        and may_act(rule, actor)
        and not held_by_other(action, actor, assignee_id)
    ]


def replay(events: Iterable[AuditEvent]) -> ReportStatus | None:
    """Rebuild the status from an audit log; ``None`` for an empty log."""
    state: ReportStatus | None = None
    last_seq: int | None = None
    for event in events:
        if last_seq is not None and event.seq <= last_seq:
            raise ReplayError(f"event seq {event.seq} does not follow seq {last_seq}")
        last_seq = event.seq
        state = _replay_one(state, event)
    return state


def _replay_one(state: ReportStatus | None, event: AuditEvent) -> ReportStatus:
    where = f"event seq {event.seq}"
    try:
        action = Action(event.action)
    except ValueError:
        raise ReplayError(f"{where}: unknown action {event.action!r}") from None
    if event.from_status is not state:
        raise ReplayError(f"{where}: recorded from {event.from_status}, but the case was {state}")
    try:
        to_status = next_status(state, action)
    except InvalidFromState as exc:
        raise ReplayError(f"{where}: {exc}") from None
    if event.to_status is not to_status:
        raise ReplayError(
            f"{where}: recorded to {event.to_status}, but {action} leads to {to_status}"
        )
    return to_status


def _check_needs(
    rule: Transition, state: ReportStatus | None, args: ActionArgs, *, after_photo_required: bool
) -> None:
    needs = rule.needs | (
        {Need.PHOTO} if rule.action is Action.RESOLVE and after_photo_required else set()
    )
    for need in sorted(needs):  # sorted: the same request always names the same first gap
        if not args.given(need):
            raise MissingArgument(rule.action, state, need)
    rating = args.rating
    if Need.RATING in needs and (isinstance(rating, bool) or rating not in RATING_RANGE):
        raise InvalidArgument(rule.action, state, Need.RATING)
