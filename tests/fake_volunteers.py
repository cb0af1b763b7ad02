"""In-memory volunteer, service-task and points-ledger repositories for ``tests.fakes``."""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain.model import GeoPoint
from bot.domain.volunteer import (
    ServiceTask,
    ServiceType,
    Signup,
    SignupStatus,
    Skill,
    Volunteer,
    VolunteerStatus,
)
from bot.services import ports
from bot.services.volunteer_ports import (
    BasePointsRepository,
    BaseTaskRepository,
    BaseVolunteerRepository,
    PointsEntry,
    RankLine,
)

if TYPE_CHECKING:
    from tests.fakes import FakeData, FakeUnitOfWork


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def d(self) -> FakeData:
        return self._uow.work


class FakeVolunteerRepository(_Repo, BaseVolunteerRepository):
    async def upsert(self, volunteer: Volunteer) -> Volunteer:
        self.d.volunteers[volunteer.account_id] = volunteer
        return volunteer

    async def get(self, account_id: int) -> Volunteer | None:
        return self.d.volunteers.get(account_id)

    async def list(
        self,
        *,
        status: VolunteerStatus | None = None,
        community_ids: Collection[int] | None = None,
    ) -> builtins.list[Volunteer]:
        found = [
            v
            for v in self.d.volunteers.values()
            if (status is None or v.status is status)
            and (community_ids is None or v.community_id in set(community_ids))
        ]
        return sorted(found, key=lambda v: (v.created_at, v.account_id))

    async def decide(
        self, account_id: int, status: VolunteerStatus, *, by: int, at: datetime
    ) -> Volunteer:
        if account_id not in self.d.volunteers:
            raise ports.NotFound(f"volunteer {account_id}")
        decided = replace(
            self.d.volunteers[account_id], status=status, decided_by=by, decided_at=at
        )
        self.d.volunteers[account_id] = decided
        return decided


class FakeTaskRepository(_Repo, BaseTaskRepository):
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
    ) -> ServiceTask:
        task = ServiceTask(
            id=self.d.next_id("tasks"),
            community_id=community_id,
            title=title,
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            slots=slots,
            skills=skills,
            place=place,
            created_by=created_by,
            created_at=created_at,
        )
        self.d.tasks[task.id] = task
        return task

    async def get(self, task_id: int, *, lock: bool = False) -> ServiceTask | None:
        return self.d.tasks.get(task_id)

    async def list(
        self, *, community_ids: Collection[int] | None = None
    ) -> builtins.list[ServiceTask]:
        found = [
            t
            for t in self.d.tasks.values()
            if community_ids is None or t.community_id in set(community_ids)
        ]
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)

    async def sign_up(self, task_id: int, account_id: int, *, at: datetime) -> Signup:
        if task_id not in self.d.tasks:
            raise ports.NotFound(f"task {task_id}")
        found = await self.signup_of(task_id, account_id)
        if found is not None:
            return found
        signup = Signup(
            id=self.d.next_id("signups"),
            task_id=task_id,
            account_id=account_id,
            status=SignupStatus.SIGNED_UP,
            signed_up_at=at,
        )
        self.d.signups[signup.id] = signup
        return signup

    async def signup(self, signup_id: int) -> Signup | None:
        return self.d.signups.get(signup_id)

    async def signup_of(self, task_id: int, account_id: int) -> Signup | None:
        return next(
            (
                s
                for s in self.d.signups.values()
                if (s.task_id, s.account_id) == (task_id, account_id)
            ),
            None,
        )

    async def signups(self, task_ids: Collection[int]) -> builtins.list[Signup]:
        ids = set(task_ids)
        return sorted((s for s in self.d.signups.values() if s.task_id in ids), key=lambda s: s.id)

    async def signups_of(self, account_id: int) -> builtins.list[Signup]:
        mine = [s for s in self.d.signups.values() if s.account_id == account_id]
        return sorted(mine, key=lambda s: s.id, reverse=True)

    async def save_signup(self, signup: Signup) -> Signup:
        if signup.id not in self.d.signups:
            raise ports.NotFound(f"signup {signup.id}")
        self.d.signups[signup.id] = signup
        return signup


class FakePointsRepository(_Repo, BasePointsRepository):
    async def add(self, entry: PointsEntry) -> int:
        if entry.account_id not in self.d.accounts:
            raise ports.NotFound(f"account {entry.account_id}")
        self.d.ledger.append(entry)
        return await self.balance(entry.account_id)

    async def balance(self, account_id: int) -> int:
        return sum(e.points for e in self.d.ledger if e.account_id == account_id)

    async def entries(self, account_id: int, *, limit: int = 10) -> builtins.list[PointsEntry]:
        mine = [(e.at, i, e) for i, e in enumerate(self.d.ledger) if e.account_id == account_id]
        return [e for _, _, e in sorted(mine, key=lambda x: (x[0], x[1]), reverse=True)[:limit]]

    async def ranking(
        self, region_ids: Collection[int], *, limit: int = 10
    ) -> builtins.list[RankLine]:
        ids = set(region_ids)
        totals: Counter[int] = Counter()
        for e in self.d.ledger:
            if e.region_id in ids:
                totals[e.account_id] += e.points
        lines = [
            RankLine(account_id=a, display_name=self.d.accounts[a].display_name, points=p)
            for a, p in totals.items()
            if a not in self.d.hidden_from_rank
            and self.d.accounts[a].display_name
            and not self.d.accounts[a].platform_user_id.startswith("deleted:")
        ]
        return sorted(lines, key=lambda line: (-line.points, line.account_id))[:limit]

    async def set_hidden(self, account_id: int, hidden: bool) -> None:
        if hidden:
            self.d.hidden_from_rank.add(account_id)
        else:
            self.d.hidden_from_rank.discard(account_id)

    async def hidden(self, account_id: int) -> bool:
        return account_id in self.d.hidden_from_rank
