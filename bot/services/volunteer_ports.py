"""The storage port's volunteer, service-task and points-ledger parts (see ``ports``).

Kept in a module of their own so the unit of work's older repositories stay as they were;
``BaseUnitOfWork`` names them as ``volunteers``, ``tasks`` and ``points``.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from bot.domain.model import GeoPoint
from bot.domain.volunteer import (
    ServiceTask,
    ServiceType,
    Signup,
    Skill,
    Volunteer,
    VolunteerStatus,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PointsEntry:
    """One ledger line: every grant, with its reason and what earned it."""

    account_id: int
    points: int
    reason: str  # a lifecycle action, "service", "opening_balance", or an operator's reason
    at: datetime
    report_id: int | None = None
    task_id: int | None = None
    region_id: int | None = None  # the community where it was earned (leaderboards)
    granted_by: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RankLine:
    account_id: int
    display_name: str
    points: int


class BaseVolunteerRepository(ABC):
    @abstractmethod
    async def upsert(self, volunteer: Volunteer) -> Volunteer:
        """Insert or overwrite the registration (a rejected volunteer may apply again)."""

    @abstractmethod
    async def get(self, account_id: int) -> Volunteer | None: ...

    @abstractmethod
    async def list(
        self,
        *,
        status: VolunteerStatus | None = None,
        community_ids: Collection[int] | None = None,
    ) -> builtins.list[Volunteer]:
        """Oldest registration first; ``community_ids`` None: everywhere."""

    @abstractmethod
    async def decide(
        self, account_id: int, status: VolunteerStatus, *, by: int, at: datetime
    ) -> Volunteer:
        """Raise NotFound when the account never registered."""


class BaseTaskRepository(ABC):
    @abstractmethod
    async def add(
        self,
        *,
        community_id: int,
        title: str,
        kind: ServiceType,
        starts_at: datetime,
        ends_at: datetime,
        slots: int,
        skills: frozenset[Skill],
        place: GeoPoint | None,
        created_by: int,
        created_at: datetime,
    ) -> ServiceTask: ...

    @abstractmethod
    async def get(self, task_id: int, *, lock: bool = False) -> ServiceTask | None:
        """``lock``: hold the task row until commit (sign-ups count free slots under it)."""

    @abstractmethod
    async def list(
        self, *, community_ids: Collection[int] | None = None
    ) -> builtins.list[ServiceTask]:
        """Newest first; ``community_ids`` None: everywhere."""

    @abstractmethod
    async def sign_up(self, task_id: int, account_id: int, *, at: datetime) -> Signup:
        """Idempotent: signing up twice returns the first sign-up."""

    @abstractmethod
    async def signup(self, signup_id: int) -> Signup | None: ...

    @abstractmethod
    async def signup_of(self, task_id: int, account_id: int) -> Signup | None: ...

    @abstractmethod
    async def signups(self, task_ids: Collection[int]) -> builtins.list[Signup]:
        """The sign-ups of these tasks, in sign-up order."""

    @abstractmethod
    async def signups_of(self, account_id: int) -> builtins.list[Signup]:
        """The account's sign-ups, newest first."""

    @abstractmethod
    async def save_signup(self, signup: Signup) -> Signup:
        """Write status, check-in and confirmation; raise NotFound for an unknown id."""


class BasePointsRepository(ABC):
    @abstractmethod
    async def add(self, entry: PointsEntry) -> int:
        """Append the ledger line; return the account's new balance."""

    @abstractmethod
    async def balance(self, account_id: int) -> int:
        """The sum of the account's ledger lines (0 with none)."""

    @abstractmethod
    async def entries(self, account_id: int, *, limit: int = 10) -> builtins.list[PointsEntry]:
        """Newest first."""

    @abstractmethod
    async def ranking(
        self, region_ids: Collection[int], *, limit: int = 10
    ) -> builtins.list[RankLine]:
        """Accounts by the points they earned in these regions, highest first (ties by id);
        those who opted out, deleted their data or have nothing there are left out."""

    @abstractmethod
    async def set_hidden(self, account_id: int, hidden: bool) -> None:
        """Opt out of (or back into) the leaderboards."""

    @abstractmethod
    async def hidden(self, account_id: int) -> bool: ...
