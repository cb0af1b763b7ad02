"""Report use cases: submit a report, find possible duplicates, follow one, cancel one.

Each takes the caller's unit of work and writes the status change, its audit events and
any subscription there, so they commit with the update that caused them or not at all.
Status changes go through ``bot.domain.lifecycle.decide``: the state machine, not this
module, says what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.domain.categories import Catalogue
from bot.domain.lifecycle import Action, ActionArgs, Actor, Decision, decide
from bot.domain.model import AuditEvent, GeoPoint, Level, Report, ReportPhoto
from bot.geo.router import GridMap, RouteResult, RouteStatus
from bot.media.intake import phash_distance
from bot.services.ports import BaseUnitOfWork, NotFound

# Perceptual hashes of one scene re-sent (recompressed, resized) differ by a few bits; two
# different scenes by dozens. 6 of 64 bits keeps re-sends together and scenes apart.
PHASH_MAX_DISTANCE = 6
# The port finds only exact hashes; near-identical ones are looked for among reports this
# close, because a re-sent photo of a hazard is nearly always reported from near the hazard.
PHOTO_NEIGHBOURHOOD_M = 1_000.0


class ReportError(Exception):
    """A report use case refused; ``code`` is stable for handlers to translate."""

    code = "report_error"


class OutsideServiceArea(ReportError):
    code = "outside"


class NotOpen(ReportError):
    """The report cannot be followed any more (closed, merged, rejected or cancelled)."""

    code = "not_open"


async def submit_report(
    uow: BaseUnitOfWork,
    *,
    reporter: int,
    category_code: str,
    location: GeoPoint,
    photos: Sequence[ReportPhoto],
    note: str,
    now: datetime,
    catalogue: Catalogue,
    gridmap: GridMap,
    zone: tzinfo | None = None,
) -> Report:
    """File a report and dispatch it to the unit the map routes its point to: its grid, or
    the finest unit the map has there (a district of a map without grids). The report's
    ``grid_id`` is that unit, whatever its level.

    ``zone`` is the city's time zone: the report number carries the local calendar day.
    Raises ``UnknownCategoryError`` for a code not in the catalogue and
    ``OutsideServiceArea`` when the point is in no unit's reach. Alerting the unit's staff is
    the caller's next step (``alerts.alert_new_report``, in the same unit of work).
    """
    category = catalogue.get(category_code)
    route = gridmap.route(location.lat, location.lon)
    if route.status is RouteStatus.OUTSIDE or route.unit is None:
        raise OutsideServiceArea(f"{location.lat}, {location.lon} is outside every unit")
    grid = await uow.regions.get(route.unit.code)
    actor = Actor(account_id=reporter, is_reporter=True)
    submitted = decide(None, Action.SUBMIT, actor)
    created = now.astimezone(zone) if zone is not None else now
    report = await uow.reports.add(
        reporter_id=reporter,
        category_code=category.code,
        location=location,
        grid_id=grid.id if grid else None,
        note=note.strip(),
        status=submitted.to_status,
        created_at=created,
        ack_due_at=now + timedelta(minutes=category.ack_minutes),
        resolve_due_at=now + timedelta(minutes=category.resolve_minutes),
        photos=tuple(photos),
    )
    await record_decision(uow, report, submitted, actor, now, extra=_route_data(route))
    if report.grid_id is not None:
        report = await _dispatch(uow, report, now)
    return report


async def _dispatch(uow: BaseUnitOfWork, report: Report, now: datetime) -> Report:
    assert report.grid_id is not None  # checked by the caller
    args = ActionArgs(target_grid_id=report.grid_id)
    decision = decide(report.status, Action.DISPATCH, Actor.system(), args)
    return await _apply(uow, report, decision, Actor.system(), now)


async def find_duplicates(
    uow: BaseUnitOfWork,
    *,
    category_code: str,
    location: GeoPoint,
    phash: str | Collection[str] | None,
    now: datetime,
    radius_m: float,
    window_h: float,
) -> list[Report]:
    """Open reports that may be the same problem: the same photo (perceptual hash within
    ``PHASH_MAX_DISTANCE``) first, then the same category within ``radius_m``, nearest
    first; all created within the last ``window_h`` hours."""
    since = now - timedelta(hours=window_h)
    hashes = _hashes(phash)
    found: dict[int, Report] = {}
    for report in await _same_photo(uow, hashes, location, since):
        found.setdefault(report.id, report)
    nearby = await uow.reports.near(
        location.lat, location.lon, radius_m, since=since, category=category_code
    )
    for report in nearby:
        found.setdefault(report.id, report)
    return list(found.values())


def _hashes(phash: str | Collection[str] | None) -> list[str]:
    if phash is None:
        return []
    return [phash] if isinstance(phash, str) else [h for h in phash if h]


async def _same_photo(
    uow: BaseUnitOfWork, hashes: list[str], location: GeoPoint, since: datetime
) -> list[Report]:
    if not hashes:
        return []
    exact = [r for h in hashes for r in await uow.reports.by_phash(h, since)]
    around = await uow.reports.near(location.lat, location.lon, PHOTO_NEIGHBOURHOOD_M, since=since)
    return [r for r in [*exact, *around] if r.status.is_open and _looks_alike(r, hashes)]


def _looks_alike(report: Report, hashes: list[str]) -> bool:
    return any(
        phash_distance(mine, photo.phash) <= PHASH_MAX_DISTANCE
        for mine in hashes
        for photo in report.photos
        if photo.phash
    )


async def follow(uow: BaseUnitOfWork, report_id: int, account_id: int) -> Report:
    """Subscribe the rider to an open report's updates instead of filing a new case."""
    report = await uow.reports.get(report_id)
    if report is None:
        raise NotFound(f"report {report_id}")
    if not report.status.is_open:
        raise NotOpen(f"report {report.number} is {report.status}")
    if report.reporter_id != account_id:  # the reporter hears of every change anyway
        await uow.reports.subscribe(report_id, account_id)
    return report


async def _apply(
    uow: BaseUnitOfWork, report: Report, decision: Decision, actor: Actor, now: datetime
) -> Report:
    changed = dataclasses.replace(report, status=decision.to_status, updated_at=now)
    saved = await uow.reports.save(changed, report.version)
    await record_decision(uow, saved, decision, actor, now)
    return saved


async def record_decision(
    uow: BaseUnitOfWork,
    report: Report,
    decision: Decision,
    actor: Actor,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Append the audit event for a decision; every status change is written through here."""
    await uow.audit.append(
        AuditEvent(
            report_id=report.id,
            seq=0,  # the repository assigns the next one
            action=decision.action.value,
            actor_id=actor.account_id,
            from_status=decision.from_status,
            to_status=decision.to_status,
            at=now,
            data={**decision.data, **(extra or {})},
        )
    )


def _route_data(route: RouteResult) -> dict[str, Any]:
    data: dict[str, Any] = {"route": route.status.value}
    if route.unit is not None:
        data["grid"] = route.unit.code  # the key predates maps without grids
        if route.unit.level is not Level.GRID:
            data["level"] = route.unit.level.value
    if route.status is RouteStatus.NEAREST and route.distance_m is not None:
        data["distance_m"] = round(route.distance_m)
    return data
