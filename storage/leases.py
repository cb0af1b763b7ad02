"""When a lease on an inbox or outbox row still holds: SQL predicates both tables share.

A lease holds until its time runs out, or until its holder stops beating (no heartbeat
in ``instances`` since ``alive_since``): a killed process's rows are taken over within
seconds instead of after the lease. A lease without a holder (a retry pause, or a claim
made without an instance id) holds by its time alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from storage.models import InstanceRow


def _holder_alive(by: Any, alive_since: Any) -> ColumnElement[bool]:
    return (
        select(InstanceRow.id)
        .where(InstanceRow.id == by, InstanceRow.seen_at >= alive_since)
        .exists()
    )


def lease_holds(
    until: Any, by: Any, now: datetime, alive_since: datetime | None
) -> ColumnElement[bool]:
    """The row is leased by someone still at work (or still pausing before a retry)."""
    if alive_since is None:
        return and_(until.is_not(None), until > now)
    return and_(until.is_not(None), until > now, or_(by.is_(None), _holder_alive(by, alive_since)))


def lease_free(until: Any, by: Any, now: Any, alive_since: Any | None) -> ColumnElement[bool]:
    """The row may be claimed: never leased, its lease ran out, or its holder is dead.
    ``now`` and ``alive_since``: datetimes, or bound parameters of a prebuilt statement."""
    free = or_(until.is_(None), until <= now)
    if alive_since is None:
        return free
    return or_(free, and_(by.is_not(None), ~_holder_alive(by, alive_since)))
