"""Volunteer service (双报到): registration and its review, service tasks, sign-up,
check-in on location, confirmed hours (which earn points), and the statistics.

Who may approve volunteers and who may publish tasks and confirm hours is one set of
roles held on the community or above (``DECIDERS``): its admins and party secretary.
Every message goes to the outbox in the caller's unit of work.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from geopy.distance import geodesic

from bot.chat import Choices, Outgoing, choices
from bot.domain.model import Account, GeoPoint, Level, RegionNode, RoleName
from bot.domain.points import SERVICE_REASON, PointsTable, default_points
from bot.domain.volunteer import (
    CHECKIN_RADIUS_M,
    ServiceTask,
    ServiceType,
    Signup,
    SignupStatus,
    Skill,
    Slot,
    TaskStatus,
    Volunteer,
    VolunteerStatus,
    matches,
)
from bot.i18n import Translator, translator
from bot.services import points
from bot.services.env import Env
from bot.services.maps import loaded_map
from bot.services.ports import BaseUnitOfWork
from bot.ui.approvals import VolunteerDecision, approval_choices
from bot.ui.tasks import TaskVerb, task_choice

log = logging.getLogger(__name__)

# Who approves volunteers, publishes tasks and confirms hours, on the community or above.
DECIDERS = frozenset(
    {
        RoleName.COMMUNITY_ADMIN,
        RoleName.PARTY_SECRETARY,  # the community's party organisation runs its service centre
        RoleName.STREET_ADMIN,
        RoleName.CITY_ADMIN,
    }
)
# A task is offered to at most this many volunteers; the outbox paces the sending.
OFFER_LIMIT = 200


class Refusal(enum.StrEnum):
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    NOT_VOLUNTEER = "not_volunteer"
    CLOSED = "closed"
    FULL = "full"
    NOT_SIGNED_UP = "not_signed_up"
    OUTSIDE_WINDOW = "outside_window"
    TOO_FAR = "too_far"
    NO_MAP = "no_map"  # no map imported yet: a location cannot be placed
    ALREADY = "already"


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    community_id: int
    skills: frozenset[Skill]
    services: frozenset[ServiceType]
    slots: frozenset[Slot]


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a sign-up, check-in or confirmation did, or why it was refused."""

    refusal: Refusal | None = None
    task: ServiceTask | None = None
    signup: Signup | None = None
    distance_m: float | None = None
    points: int = 0
    offered: int = 0


# -- registration ----------------------------------------------------------------------------


async def register(
    uow: BaseUnitOfWork, env: Env, account: Account, registration: Registration, *, now: datetime
) -> Volunteer:
    """Store the registration as pending and ask the community's deciders."""
    volunteer = await uow.volunteers.upsert(
        Volunteer(
            account_id=account.id,
            community_id=registration.community_id,
            skills=registration.skills,
            services=registration.services,
            slots=registration.slots,
            status=VolunteerStatus.PENDING,
            created_at=now,
        )
    )
    community = await uow.regions.get_by_id(registration.community_id)
    for decider in await deciders(uow, registration.community_id):
        t = translator(decider.locale, env.zone)
        text = t._("New volunteer registration in {community}: {name}. Approve or reject?").format(
            community=community.name if community else "?", name=account.display_name
        )
        await _send(uow, decider, text, approval_choices(t, VolunteerDecision, account.id))
    return volunteer


async def deciders(uow: BaseUnitOfWork, community_id: int) -> list[Account]:
    """The nearest level's deciders: the community's, else the street's, and so on up."""
    for node in await uow.regions.ancestors(community_id):
        found: list[Account] = []
        for role in sorted(DECIDERS):
            found += [a for a in await uow.roles.holders(role, [node.id]) if a.chat_id]
        if found:
            return sorted({a.id: a for a in found}.values(), key=lambda a: a.id)
    return []


async def may_decide(uow: BaseUnitOfWork, actor_id: int, region_id: int) -> bool:
    """True when the actor holds a deciding role on the region or above it."""
    scope = {n.id for n in await uow.regions.ancestors(region_id)}
    return any(
        g.role in DECIDERS and g.region_id in scope for g in await uow.roles.for_account(actor_id)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decided:
    volunteer: Volunteer | None
    refusal: Refusal | None = None


async def decide(
    uow: BaseUnitOfWork, account_id: int, *, approve: bool, actor: Account, now: datetime
) -> Decided:
    """Approve or reject a pending registration, for a decider of its community.

    Anyone else gets ``NOT_ALLOWED`` whether or not the account registered: a forged
    button must not tell who volunteered."""
    volunteer = await uow.volunteers.get(account_id)
    if volunteer is None or not await may_decide(uow, actor.id, volunteer.community_id):
        return Decided(volunteer=None, refusal=Refusal.NOT_ALLOWED)
    if volunteer.status is not VolunteerStatus.PENDING:
        # Left on another admin's copy, a Reject would quietly revoke an approved volunteer.
        return Decided(volunteer=volunteer, refusal=Refusal.ALREADY)
    status = VolunteerStatus.APPROVED if approve else VolunteerStatus.REJECTED
    decided = await uow.volunteers.decide(volunteer.account_id, status, by=actor.id, at=now)
    account = await uow.accounts.get(volunteer.account_id)
    if account is not None and account.chat_id:
        t = translator(account.locale)
        text = (
            t._(
                "Your volunteer registration was approved. You will be told here about service "
                "tasks that match what you offer."
            )
            if approve
            else t._(
                "Your volunteer registration was not approved. "
                "You can send /volunteer to apply again."
            )
        )
        await _send(uow, account, text)
    return Decided(volunteer=decided)


# -- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDraft:
    community_id: int
    title: str
    kind: ServiceType
    starts_at: datetime
    ends_at: datetime
    slots: int
    skills: frozenset[Skill]
    place: GeoPoint | None = None


async def create_task(
    uow: BaseUnitOfWork, env: Env, draft: TaskDraft, *, actor: Account, now: datetime
) -> Outcome:
    """Store the task for a decider of its community and offer it to matching volunteers
    (``offered`` says how many were told)."""
    if not await may_decide(uow, actor.id, draft.community_id):
        return Outcome(refusal=Refusal.NOT_ALLOWED)
    task = await uow.tasks.add(
        community_id=draft.community_id,
        title=draft.title,
        kind=draft.kind,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        slots=draft.slots,
        skills=draft.skills,
        place=draft.place,
        created_by=actor.id,
        created_at=now,
    )
    return Outcome(task=task, offered=await publish(uow, env, task))


async def publish(uow: BaseUnitOfWork, env: Env, task: ServiceTask) -> int:
    """Offer the task to matching approved volunteers nearby (its community's, then the rest
    of its street's); return how many were told."""
    nearby = await _nearby_communities(uow, task.community_id)
    offered = 0
    for volunteer in await uow.volunteers.list(
        status=VolunteerStatus.APPROVED, community_ids=nearby
    ):
        if offered >= OFFER_LIMIT or not matches(volunteer, task):
            continue
        account = await uow.accounts.get(volunteer.account_id)
        if account is None or not account.chat_id or account.id == task.created_by:
            continue
        t = translator(account.locale, env.zone)
        await _send(uow, account, describe(t, task), task_choice(t, TaskVerb.SIGN_UP, task.id))
        offered += 1
    log.info("task %s offered to %s volunteers", task.id, offered)
    return offered


def describe(t: Translator, task: ServiceTask) -> str:
    return t._("Service task: {title}\nWhen: {start} – {end}\nPlaces: {slots}").format(
        title=task.title,
        start=t.datetime(task.starts_at),
        end=t.datetime(task.ends_at),
        slots=task.slots,
    )


async def _nearby_communities(uow: BaseUnitOfWork, community_id: int) -> list[int]:
    chain = await uow.regions.ancestors(community_id)
    street = next((n for n in chain if n.level is Level.STREET), None)
    if street is None:
        return [community_id]
    return [community_id] + [
        c.id for c in await uow.regions.children(street.id) if c.id != community_id
    ]


async def sign_up(uow: BaseUnitOfWork, task_id: int, account: Account, *, now: datetime) -> Outcome:
    task = await uow.tasks.get(task_id, lock=True)  # free places are counted under the lock
    if task is None:
        return Outcome(refusal=Refusal.NOT_FOUND)
    volunteer = await uow.volunteers.get(account.id)
    if volunteer is None or volunteer.status is not VolunteerStatus.APPROVED:
        return Outcome(refusal=Refusal.NOT_VOLUNTEER, task=task)
    if task.status is not TaskStatus.OPEN or now > task.ends_at:
        return Outcome(refusal=Refusal.CLOSED, task=task)
    existing = await uow.tasks.signup_of(task.id, account.id)
    if existing is not None:
        return Outcome(refusal=Refusal.ALREADY, task=task, signup=existing)
    if len(await uow.tasks.signups([task.id])) >= task.slots:
        return Outcome(refusal=Refusal.FULL, task=task)
    return Outcome(task=task, signup=await uow.tasks.sign_up(task.id, account.id, at=now))


async def check_in(
    uow: BaseUnitOfWork, env: Env, task_id: int, account: Account, where: GeoPoint, *, now: datetime
) -> Outcome:
    """Check in from a shared (WGS-84) location during the task's window: within
    ``CHECKIN_RADIUS_M`` of the task's place, or inside its community when the community
    is the place. The task's creator is asked to confirm the hours."""
    task = await uow.tasks.get(task_id)
    signup = await uow.tasks.signup_of(task_id, account.id) if task else None
    if task is None or signup is None:
        return Outcome(refusal=Refusal.NOT_SIGNED_UP, task=task)
    if signup.status is not SignupStatus.SIGNED_UP:
        return Outcome(refusal=Refusal.ALREADY, task=task, signup=signup)
    if not task.check_in_window(now):
        return Outcome(refusal=Refusal.OUTSIDE_WINDOW, task=task, signup=signup)
    if task.place is None and loaded_map(env.maps) is None:
        return Outcome(refusal=Refusal.NO_MAP, task=task, signup=signup)
    distance = await _distance(uow, env, task, where)
    if distance is None or distance > CHECKIN_RADIUS_M:
        return Outcome(refusal=Refusal.TOO_FAR, task=task, signup=signup, distance_m=distance)
    saved = await uow.tasks.save_signup(
        replace(
            signup,
            status=SignupStatus.CHECKED_IN,
            checked_in_at=now,
            checkin_distance_m=round(distance, 1),
        )
    )
    creator = await uow.accounts.get(task.created_by)
    if creator is not None and creator.chat_id:
        t = translator(creator.locale, env.zone)
        text = t._("{name} checked in for “{title}”. Confirm {hours} h of service?").format(
            name=account.display_name, title=task.title, hours=_hours_text(task.hours)
        )
        await _send(uow, creator, text, task_choice(t, TaskVerb.CONFIRM_HOURS, saved.id))
    return Outcome(task=task, signup=saved, distance_m=distance)


async def _distance(
    uow: BaseUnitOfWork, env: Env, task: ServiceTask, where: GeoPoint
) -> float | None:
    if task.place is not None:
        # Both points are WGS-84 as phones report them; no map conversion in between.
        return float(geodesic((where.lat, where.lon), (task.place.lat, task.place.lon)).meters)
    community = await uow.regions.get_by_id(task.community_id)
    routed = env.maps.current().route(where.lat, where.lon)  # WGS-84 → the map's CRS
    inside = community is not None and any(u.code == community.code for u in routed.path)
    return (routed.distance_m or 0.0) if inside else None


async def confirm_hours(
    uow: BaseUnitOfWork,
    env: Env,
    signup_id: int,
    actor: Account,
    *,
    now: datetime,
    table: PointsTable | None = None,
) -> Outcome:
    signup = await uow.tasks.signup(signup_id)
    task = await uow.tasks.get(signup.task_id) if signup else None
    if signup is None or task is None:
        return Outcome(refusal=Refusal.NOT_FOUND)
    if not await may_decide(uow, actor.id, task.community_id):
        return Outcome(refusal=Refusal.NOT_ALLOWED, task=task, signup=signup)
    if signup.status is SignupStatus.CONFIRMED:
        return Outcome(refusal=Refusal.ALREADY, task=task, signup=signup)
    if signup.status is not SignupStatus.CHECKED_IN:
        return Outcome(refusal=Refusal.NOT_SIGNED_UP, task=task, signup=signup)
    hours = task.hours
    saved = await uow.tasks.save_signup(
        replace(
            signup,
            status=SignupStatus.CONFIRMED,
            hours=hours,
            confirmed_by=actor.id,
            confirmed_at=now,
        )
    )
    amount = (table or default_points()).for_service(hours)
    await points.grant(
        uow,
        account_id=signup.account_id,
        points=amount,
        reason=SERVICE_REASON,
        at=now,
        task_id=task.id,
        region_id=task.community_id,
        granted_by=actor.id,
    )
    volunteer = await uow.accounts.get(signup.account_id)
    if volunteer is not None and volunteer.chat_id:
        t = translator(volunteer.locale, env.zone)
        text = t._("{hours} h of service for “{title}” confirmed: +{points} points.").format(
            hours=_hours_text(hours), title=task.title, points=amount
        )
        await _send(uow, volunteer, text)
    return Outcome(task=task, signup=saved, points=amount)


def _hours_text(hours: float) -> str:
    return f"{hours:g}"


async def _send(
    uow: BaseUnitOfWork, account: Account, text: str, offered: Choices | None = None
) -> None:
    keyboard = choices(offered) if offered else None
    await uow.outbox.add(
        Outgoing(platform=account.platform, chat_id=account.chat_id, text=text, keyboard=keyboard)
    )


# -- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AreaStats:
    region: RegionNode
    volunteers: int
    pending: int
    tasks: int
    signups: int
    hours: float


async def statistics(uow: BaseUnitOfWork, *, under: int | None = None) -> list[AreaStats]:
    """Per community, then per street (the sum of its communities); ``under`` limits it to
    one region's communities."""
    communities = await uow.regions.by_level(Level.COMMUNITY)
    if under is not None:
        communities = [
            c for c in communities if under in {n.id for n in await uow.regions.ancestors(c.id)}
        ]
    ids = [c.id for c in communities]
    volunteers = await uow.volunteers.list(community_ids=ids)
    tasks = await uow.tasks.list(community_ids=ids)
    signups = await uow.tasks.signups([t.id for t in tasks])
    task_area = {t.id: t.community_id for t in tasks}
    rows: list[AreaStats] = []
    for community in communities:
        mine = [v for v in volunteers if v.community_id == community.id]
        done = [s for s in signups if task_area[s.task_id] == community.id]
        rows.append(
            AreaStats(
                region=community,
                volunteers=sum(v.status is VolunteerStatus.APPROVED for v in mine),
                pending=sum(v.status is VolunteerStatus.PENDING for v in mine),
                tasks=sum(t.community_id == community.id for t in tasks),
                signups=len(done),
                hours=sum(s.hours or 0.0 for s in done if s.status is SignupStatus.CONFIRMED),
            )
        )
    scope = await uow.regions.get_by_id(under) if under is not None else None
    if scope is not None and scope.level.depth >= Level.COMMUNITY.depth:
        return rows  # a street's line would add up only this one community
    return rows + await _by_street(uow, rows)


async def _by_street(uow: BaseUnitOfWork, rows: list[AreaStats]) -> list[AreaStats]:
    streets: dict[int, tuple[RegionNode, list[AreaStats]]] = {}
    for row in rows:
        street = row.region.parent_id
        node = await uow.regions.get_by_id(street) if street is not None else None
        if node is not None and node.level is Level.STREET:
            streets.setdefault(node.id, (node, []))[1].append(row)
    return [
        AreaStats(
            region=node,
            volunteers=sum(r.volunteers for r in part),
            pending=sum(r.pending for r in part),
            tasks=sum(r.tasks for r in part),
            signups=sum(r.signups for r in part),
            hours=sum(r.hours for r in part),
        )
        for node, part in streets.values()
    ]
