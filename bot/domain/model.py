"""Entities shared by every layer. Plain data; storage maps to and from these."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Level(enum.StrEnum):
    """Administrative levels, top down. A role granted on a node holds for its subtree."""

    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"

    @property
    def depth(self) -> int:
        return list(Level).index(self)


class Crs(enum.StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


class RoleName(enum.StrEnum):
    INFORMANT = "informant"
    GRID_WORKER = "grid_worker"
    GRID_LEADER = "grid_leader"
    COMMUNITY_ADMIN = "community_admin"
    STREET_ADMIN = "street_admin"
    CITY_ADMIN = "city_admin"
    # The community's party organisation: verifies riders' party membership declarations.
    # Not case staff: it sees no reports, and case staff never see party status.
    PARTY_SECRETARY = "party_secretary"


# The one rule for who handles cases (alerts, /queue, /case, duty, merge targets). Listed,
# not derived as "every role but informant", so a role added later is not case staff by
# accident.
CASE_STAFF_ROLES = frozenset(
    {
        RoleName.GRID_WORKER,
        RoleName.GRID_LEADER,
        RoleName.COMMUNITY_ADMIN,
        RoleName.STREET_ADMIN,
        RoleName.CITY_ADMIN,
    }
)
# Roles given by a staff invite: the case staff and the community party organisation.
INVITED_ROLES = CASE_STAFF_ROLES | {RoleName.PARTY_SECRETARY}
# The level each invited role is granted on when it must be one level only.
ROLE_LEVELS: dict[RoleName, Level] = {RoleName.PARTY_SECRETARY: Level.COMMUNITY}


def is_case_staff(roles: Iterable[RoleName]) -> bool:
    """Whether any of ``roles`` makes its holder case staff."""
    return not CASE_STAFF_ROLES.isdisjoint(roles)


class InformantStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReportStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"
    MERGED = "merged"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {
        ReportStatus.SUBMITTED,
        ReportStatus.DISPATCHED,
        ReportStatus.ACCEPTED,
        ReportStatus.RESOLVED,
        ReportStatus.RETURNED,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionNode:
    id: int
    code: str
    name: str
    level: Level
    parent_id: int | None
    map_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    version: str
    given_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    id: int
    platform: str
    platform_user_id: str
    chat_id: str
    display_name: str
    locale: str
    consent: Consent | None = None
    phone: str | None = None
    on_duty: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleGrant:
    id: int
    account_id: int
    role: RoleName
    region_id: int
    region_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InformantProfile:
    account_id: int
    real_name: str
    phone: str
    company: str
    status: InformantStatus
    home_region_id: int | None
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GeoPoint:
    """A WGS-84 point as the phone reported it."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportPhoto:
    sha256: str
    phash: str
    width: int
    height: int
    kind: str = "before"  # "before" (rider) or "after" (worker's proof of fix)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    id: int
    number: str
    reporter_id: int
    category_code: str
    status: ReportStatus
    location: GeoPoint
    grid_id: int | None
    note: str
    created_at: datetime
    updated_at: datetime
    ack_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    assignee_id: int | None = None
    merged_into_id: int | None = None
    photos: tuple[ReportPhoto, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    report_id: int
    seq: int
    action: str
    actor_id: int | None
    from_status: ReportStatus | None
    to_status: ReportStatus
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class ConversationState:
    """Where one user is in a flow; lives in the database so a restart resumes it."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def clear(self) -> None:
        self.flow, self.step, self.data = None, None, {}


@dataclass(frozen=True, slots=True, kw_only=True)
class MapUnit:
    """One administrative unit as imported: geometry is a GeoJSON geometry in ``crs``."""

    code: str
    name: str
    level: Level
    parent_code: str | None
    geometry: dict[str, Any]
    crs: Crs = Crs.GCJ02


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    """A staff deep link: whoever redeems ``token`` first (before expiry) gets ``role``."""

    token: str
    role: RoleName
    region_id: int
    expires_at: datetime
    created_by: int | None = None
    used_by: int | None = None
    used_at: datetime | None = None


class EscalationKind(enum.StrEnum):
    """Which SLA clock ran out: nobody accepted in time, or nobody resolved in time."""

    ACK = "ack"
    RESOLVE = "resolve"
