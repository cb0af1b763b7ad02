"""Volunteer service (双报到): a rider registers with a community's party-and-people
service centre (党群服务中心), the community approves, admins publish service tasks,
volunteers sign up, check in on location, and the admin confirms their hours.

Plain data and the pure rules (who matches a task, whether a check-in is in its window);
distance is ``bot.geo``'s, storage maps to and from these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.model import GeoPoint


class Skill(enum.StrEnum):
    FIRST_AID = "first_aid"
    REPAIRS = "repairs"
    LEGAL_AID = "legal_aid"
    TRANSLATION = "translation"
    OTHER = "other"


class ServiceType(enum.StrEnum):
    VOLUNTEER = "volunteer"  # 志愿服务
    REQUEST = "request"  # 百姓点单: a resident's request, entered as a task by an admin
    SKILL = "skill"  # 特长服务


class Slot(enum.StrEnum):
    """When a volunteer is usually free."""

    WEEKDAY_MORNING = "wd_am"
    WEEKDAY_AFTERNOON = "wd_pm"
    WEEKDAY_EVENING = "wd_eve"
    WEEKEND_MORNING = "we_am"
    WEEKEND_AFTERNOON = "we_pm"
    WEEKEND_EVENING = "we_eve"


class VolunteerStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SignupStatus(enum.StrEnum):
    SIGNED_UP = "signed_up"
    CHECKED_IN = "checked_in"
    CONFIRMED = "confirmed"


# How far from a task's place a check-in still counts (phones in a building are often off
# by 50-100 m), and how early before the window opens a volunteer may check in.
CHECKIN_RADIUS_M = 300.0
CHECKIN_EARLY = timedelta(minutes=30)
MAX_TASK_HOURS = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Volunteer:
    account_id: int
    community_id: int
    skills: frozenset[Skill]
    services: frozenset[ServiceType]
    slots: frozenset[Slot]
    status: VolunteerStatus
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTask:
    id: int
    community_id: int
    title: str
    kind: ServiceType
    starts_at: datetime
    ends_at: datetime
    slots: int
    skills: frozenset[Skill]
    created_by: int
    created_at: datetime
    # A WGS-84 point as the admin's phone shared it; None: the community itself is the place.
    place: GeoPoint | None = None
    status: TaskStatus = TaskStatus.OPEN

    @property
    def hours(self) -> float:
        return round((self.ends_at - self.starts_at).total_seconds() / 3600, 2)

    def check_in_window(self, now: datetime) -> bool:
        return self.starts_at - CHECKIN_EARLY <= now <= self.ends_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Signup:
    id: int
    task_id: int
    account_id: int
    status: SignupStatus
    signed_up_at: datetime
    checked_in_at: datetime | None = None
    checkin_distance_m: float | None = None
    hours: float | None = None
    confirmed_by: int | None = None
    confirmed_at: datetime | None = None


def matches(volunteer: Volunteer, task: ServiceTask) -> bool:
    """A task is offered to an approved volunteer who offers its kind of service and, when
    the task asks for skills, has one of them."""
    if volunteer.status is not VolunteerStatus.APPROVED or task.kind not in volunteer.services:
        return False
    return not task.skills or bool(task.skills & volunteer.skills)
