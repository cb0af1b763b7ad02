"""Routed alerts: a new (or newly dispatched) case reaches the people who fix it.

The on-duty grid workers of the report's unit get it (its grid, or the finest unit the map
has there: a district on a map without grids); when none is on duty, the grid leader; when
there is no leader, the community admin, then the street and the city admin. Each role is
looked for on the unit first and then upwards, and the nearest unit with anyone in that
role wins: once a district's communities are mapped, a report in one goes to that
community's workers, not also to the district's, which stay the fallback.

Each recipient gets, in their own language: the rider's photo (the metadata-free copy in the
photo store) with the case details and the buttons of the actions that apply
(``case_actions``, drawn by ``bot.ui.cases``), a location pin, and a small map
of the unit drawn from the map itself. Everything goes through the outbox inside the
caller's unit of work, so the alert commits with the case or not at all. The informant is
named by display name only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.chat import Keyboard, Location, Outgoing, OutKind
from bot.domain.lifecycle import Action, Actor, allowed_actions
from bot.domain.model import CASE_STAFF_ROLES, Account, Level, Report, ReportStatus, RoleName
from bot.geo.place import Part, Place, place_of
from bot.i18n import N_, Translator, translator
from bot.ui.cases import case_keyboard

if TYPE_CHECKING:
    from bot.services.env import Env
    from bot.services.ports import BaseUnitOfWork

NOT_FIXED = N_("not fixed")  # the reason on record when the rider gives none
NOTE_MAX = 300  # a Telegram photo caption holds 1024 characters; the note shares them
# Who is alerted, in order of preference: the first role with anyone to tell wins.
_FALLBACK = (
    RoleName.GRID_LEADER,
    RoleName.COMMUNITY_ADMIN,
    RoleName.STREET_ADMIN,
    RoleName.CITY_ADMIN,
)
PART_NAMES: dict[Part, str] = {
    Part.NORTH_WEST: N_("North-west part"),
    Part.NORTH: N_("North part"),
    Part.NORTH_EAST: N_("North-east part"),
    Part.WEST: N_("West part"),
    Part.CENTRE: N_("Centre"),
    Part.EAST: N_("East part"),
    Part.SOUTH_WEST: N_("South-west part"),
    Part.SOUTH: N_("South part"),
    Part.SOUTH_EAST: N_("South-east part"),
}


async def alert_new_report(uow: BaseUnitOfWork, env: Env, report: Report) -> None:
    """Queue the alert for ``report`` (already saved and dispatched to its grid)."""
    if report.grid_id is None or report.status is not ReportStatus.DISPATCHED:
        return  # nobody to route to: outside the map, or not waiting for a worker
    drawing = await _start_map(uow, env, report)  # drawn while the recipients are looked up
    chain = [node.id for node in await uow.regions.ancestors(report.grid_id)]
    recipients = await alert_recipients(uow, chain)
    await _send_alerts(uow, env, report, recipients, holder_id=None, reopened=None, drawing=drawing)


async def alert_reopened(
    uow: BaseUnitOfWork, env: Env, report: Report, *, reason: str | None
) -> None:
    """The rider said "not fixed": the case's holder gets it again, headed as reopened, with
    the rider's note, the new deadlines and their buttons; a case nobody held goes to the
    grid as a new one would. ``reason`` is the rider's note (None or ``NOT_FIXED``: none)."""
    if report.grid_id is None:
        return
    if report.status is ReportStatus.DISPATCHED:
        chain = [node.id for node in await uow.regions.ancestors(report.grid_id)]
        recipients = await alert_recipients(uow, chain)
        holder_id = None
    elif report.status is ReportStatus.ACCEPTED and report.assignee_id is not None:
        holder = await uow.accounts.get(report.assignee_id)
        if holder is None or not holder.chat_id:
            return
        recipients = [(holder, role) for role in await _grid_roles(uow, holder.id, report)][:1]
        holder_id = holder.id
    else:
        return
    await _send_alerts(
        uow, env, report, recipients, holder_id=holder_id, reopened=reason or NOT_FIXED
    )


async def _grid_roles(uow: BaseUnitOfWork, account_id: int, report: Report) -> list[RoleName]:
    assert report.grid_id is not None
    scope = {node.id for node in await uow.regions.ancestors(report.grid_id)}
    held = {g.role for g in await uow.roles.for_account(account_id) if g.region_id in scope}
    # Only case staff act on a case; the holder's working role first, as its buttons are the
    # ones they act with.
    return sorted(held & CASE_STAFF_ROLES, key=_WORKING_ORDER.index)


# Case-staff roles, nearest the street first (the enum's order means nothing).
_WORKING_ORDER = (
    RoleName.GRID_WORKER,
    RoleName.GRID_LEADER,
    RoleName.COMMUNITY_ADMIN,
    RoleName.STREET_ADMIN,
    RoleName.CITY_ADMIN,
)
assert frozenset(_WORKING_ORDER) == CASE_STAFF_ROLES


async def _send_alerts(
    uow: BaseUnitOfWork,
    env: Env,
    report: Report,
    recipients: Sequence[tuple[Account, RoleName]],
    *,
    holder_id: int | None,
    reopened: str | None,
    drawing: MapDrawing | None = None,
) -> None:
    if drawing is None and recipients:
        drawing = await _start_map(uow, env, report)
    if drawing is None:
        return
    grid_code, image = drawing
    map_key = await image  # awaited even with nobody to tell: no task is left behind
    if not recipients:
        return
    place = _place(env, grid_code, report)
    reporter = await uow.accounts.get(report.reporter_id)
    informant = reporter.display_name if reporter else ""
    for account, role in recipients:
        t = translator(account.locale, env.zone)
        actions = case_actions(
            report, frozenset({role}), holder_id=holder_id, account_id=account.id
        )
        keyboard = case_keyboard(t, report, actions)
        facts = AlertFacts(informant=informant, place=place, reopened=reopened)
        for message in compose_alert(t, env, account, report, facts, keyboard, map_key):
            await uow.outbox.add(message)


async def alert_recipients(
    uow: BaseUnitOfWork, chain: Sequence[int]
) -> list[tuple[Account, RoleName]]:
    """On-duty workers of the unit (or, failing that, of the nearest unit above it), else its
    leaders, else its admins, level by level up the ``chain`` (the unit first)."""
    workers = await _nearest_holders(uow, RoleName.GRID_WORKER, chain, on_duty_only=True)
    if workers:
        return [(a, RoleName.GRID_WORKER) for a in workers]
    for role in _FALLBACK:
        # A leader or admin is told even off duty: someone must hear of every case.
        holders = await _nearest_holders(uow, role, chain, on_duty_only=False)
        if holders:
            return [(a, role) for a in holders]
    return []


async def _nearest_holders(
    uow: BaseUnitOfWork, role: RoleName, chain: Sequence[int], *, on_duty_only: bool
) -> list[Account]:
    for region_id in chain:
        found = [
            a
            for a in await uow.roles.holders(role, [region_id])
            if a.chat_id and (a.on_duty or not on_duty_only)
        ]
        if found:
            return found
    return []


def case_actions(
    report: Report,
    roles: frozenset[RoleName],
    *,
    holder_id: int | None,
    account_id: int | None = None,
) -> list[Action]:
    """The case actions that still apply for ``account_id`` holding ``roles`` on the case's
    grid (a colleague's accepted case offers a worker none); the alert's buttons
    (``bot.ui.cases``) offer these. ``holder_id`` is who holds the case (``cases.holder_id``),
    which is not always its assignee: asked for, not read from the report, so the buttons
    offer exactly what ``cases.act`` will allow."""
    actor = Actor(account_id=account_id, roles=roles)
    return allowed_actions(report.status, actor, assignee_id=holder_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFacts:
    """What an alert says besides the report itself, the same for every recipient."""

    informant: str = ""  # the rider's display name
    place: Place | None = None  # where in which grid, from the map
    reopened: str | None = None  # a reopened case: the rider's note (NOT_FIXED: none)


def compose_alert(
    t: Translator,
    env: Env,
    account: Account,
    report: Report,
    facts: AlertFacts,
    keyboard: Keyboard | None,
    map_key: str | None,
) -> list[Outgoing]:
    text = "\n".join(alert_lines(t, env, report, facts))
    before = [p.sha256 for p in report.photos if p.kind == "before"]
    main = Outgoing(
        platform=account.platform,
        chat_id=account.chat_id,
        kind=OutKind.PHOTO if before else OutKind.TEXT,
        text=text,
        photo=before[0] if before else None,
        keyboard=keyboard,
        extra={"report_id": report.id},
    )
    pin = Location(lat=report.location.lat, lon=report.location.lon)
    messages = [main, _to(account, kind=OutKind.LOCATION, location=pin)]
    if map_key is not None:
        caption = t._("Map of report {number}").format(number=report.number)
        if facts.place is not None:
            caption += "\n" + facts.place.grid
        messages.append(_to(account, kind=OutKind.PHOTO, text=caption, photo=map_key))
    return messages


def _to(account: Account, **fields: Any) -> Outgoing:
    return Outgoing(platform=account.platform, chat_id=account.chat_id, **fields)


def alert_lines(t: Translator, env: Env, report: Report, facts: AlertFacts) -> Sequence[str]:
    category = env.catalogue.name(report.category_code, t.locale)
    if facts.reopened is None:
        head = t._("New report {number}: {category}")
    else:
        head = t._("Reopened, not fixed: report {number}: {category}")
    lines = [head.format(number=report.number, category=category)]
    if facts.reopened is not None and facts.reopened != NOT_FIXED:
        lines.append(t._("The reporter says: {note}").format(note=_clip(facts.reopened)))
    lines += place_lines(t, facts.place)
    if report.note:
        lines.append(t._("Note: {note}").format(note=_clip(report.note)))
    if report.ack_due_at is not None and report.status is ReportStatus.DISPATCHED:
        due = t.datetime(report.ack_due_at)
        lines.append(t._("Accept by: {when}").format(when=due))
    if report.resolve_due_at is not None:
        due = t.datetime(report.resolve_due_at)
        lines.append(t._("Resolve by: {when}").format(when=due))
    if facts.informant:
        lines.append(t._("Reported by: {name}").format(name=facts.informant))
    return lines


# What the unit a case went to is called in an alert, by its level: a map without grids
# routes to a community, street or district.
UNIT_LABELS: dict[Level, str] = {
    Level.GRID: N_("Grid: {grid}"),
    Level.COMMUNITY: N_("Community: {unit}"),
    Level.STREET: N_("Street: {unit}"),
    Level.DISTRICT: N_("District: {unit}"),
}
PART_OF: dict[Level, str] = {
    Level.GRID: N_("{part} of the grid"),
    Level.COMMUNITY: N_("{part} of the community"),
    Level.STREET: N_("{part} of the street"),
    Level.DISTRICT: N_("{part} of the district"),
}


def place_lines(t: Translator, place: Place | None) -> list[str]:
    """ "Grid: …" names the unit (by its level) and the community and street above it;
    "Where: …" the part of the unit."""
    if place is None:
        return []
    if place.community and place.street:
        name = t._("{grid} ({community}, {street})").format(
            grid=place.grid, community=place.community, street=place.street
        )
    elif place.community or place.street:
        name = t._("{grid} ({area})").format(grid=place.grid, area=place.community or place.street)
    else:
        name = place.grid
    where = t._(PART_NAMES[place.part])
    if place.level is Level.GRID and place.community:
        where = t._("{part} of the grid, {community}").format(part=where, community=place.community)
    else:
        where = t._(PART_OF[place.level]).format(part=where)
    label = t._(UNIT_LABELS[place.level])
    named = label.format(grid=name) if place.level is Level.GRID else label.format(unit=name)
    return [named, t._("Where: {place}").format(place=where)]


def _clip(text: str) -> str:
    return text if len(text) <= NOTE_MAX else text[:NOTE_MAX] + "…"


def _place(env: Env, grid_code: str | None, report: Report) -> Place | None:
    if grid_code is None:
        return None
    return place_of(env.maps.current(), grid_code, report.location.lat, report.location.lon)


# The unit's code on the map and the stored key of its picture, being drawn.
MapDrawing = tuple[str | None, "asyncio.Future[str | None]"]


async def _start_map(uow: BaseUnitOfWork, env: Env, report: Report) -> MapDrawing | None:
    """Start drawing the alert's map in a thread (a few milliseconds of CPU) so the unit of
    work, which holds the day's report-number lock, goes on with its queries meanwhile."""
    if report.grid_id is None:
        return None
    grid = await uow.regions.get_by_id(report.grid_id)
    grid_code = grid.code if grid and grid.code in env.maps.current() else None
    return grid_code, asyncio.ensure_future(asyncio.to_thread(_map_image, env, grid_code, report))


def _map_image(env: Env, grid_code: str | None, report: Report) -> str | None:
    """Draw the grid and the point once per report; every recipient gets the same image."""
    from bot.geo.render import render_map_png

    gridmap = env.maps.current()
    if grid_code is None or grid_code not in gridmap:
        return None
    png = render_map_png(grid_code, report.location.lat, report.location.lon, gridmap)
    return env.photos.put(png, "png")
