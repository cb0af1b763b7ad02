"""SQL repositories for volunteers, service tasks and the points ledger."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import GeoPoint
from bot.domain.volunteer import (
    ServiceTask,
    ServiceType,
    Signup,
    SignupStatus,
    Skill,
    Slot,
    TaskStatus,
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
from storage.models import (
    AccountRow,
    PointsLedgerRow,
    RankOptOutRow,
    ServiceTaskRow,
    TaskSignupRow,
    VolunteerRow,
)

E = TypeVar("E", Skill, ServiceType, Slot)


def _join(values: Collection[E]) -> str:
    return ",".join(sorted(v.value for v in values))


def _split(text: str, kind: type[E]) -> frozenset[E]:
    return frozenset(kind(v) for v in text.split(",") if v)


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session


def _volunteer(row: VolunteerRow) -> Volunteer:
    return Volunteer(
        account_id=row.account_id,
        community_id=row.community_id,
        skills=_split(row.skills, Skill),
        services=_split(row.services, ServiceType),
        slots=_split(row.slots, Slot),
        status=VolunteerStatus(row.status),
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
    )


class SqlVolunteerRepository(_Repo, BaseVolunteerRepository):
    async def upsert(self, volunteer: Volunteer) -> Volunteer:
        row = await self.s.get(VolunteerRow, volunteer.account_id)
        if row is None:
            row = VolunteerRow(account_id=volunteer.account_id)
            self.s.add(row)
        row.community_id = volunteer.community_id
        row.skills, row.services = _join(volunteer.skills), _join(volunteer.services)
        row.slots, row.status = _join(volunteer.slots), volunteer.status.value
        row.created_at, row.decided_at = volunteer.created_at, volunteer.decided_at
        row.decided_by = volunteer.decided_by
        await self.s.flush()
        return _volunteer(row)

    async def get(self, account_id: int) -> Volunteer | None:
        row = await self.s.get(VolunteerRow, account_id)
        return _volunteer(row) if row else None

    async def list(
        self,
        *,
        status: VolunteerStatus | None = None,
        community_ids: Collection[int] | None = None,
    ) -> builtins.list[Volunteer]:
        stmt = select(VolunteerRow).order_by(VolunteerRow.created_at, VolunteerRow.account_id)
        if status is not None:
            stmt = stmt.where(VolunteerRow.status == status.value)
        if community_ids is not None:
            stmt = stmt.where(VolunteerRow.community_id.in_(list(community_ids)))
        return [_volunteer(r) for r in await self.s.scalars(stmt)]

    async def decide(
        self, account_id: int, status: VolunteerStatus, *, by: int, at: datetime
    ) -> Volunteer:
        row = await self.s.get(VolunteerRow, account_id)
        if row is None:
            raise ports.NotFound(f"volunteer {account_id}")
        row.status, row.decided_by, row.decided_at = status.value, by, at
        await self.s.flush()
        return _volunteer(row)


def _task(row: ServiceTaskRow) -> ServiceTask:
    place = (
        GeoPoint(lat=row.lat, lon=row.lon) if row.lat is not None and row.lon is not None else None
    )
    return ServiceTask(
        id=row.id,
        community_id=row.community_id,
        title=row.title,
        kind=ServiceType(row.kind),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        slots=row.slots,
        skills=_split(row.skills, Skill),
        place=place,
        status=TaskStatus(row.status),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _signup(row: TaskSignupRow) -> Signup:
    return Signup(
        id=row.id,
        task_id=row.task_id,
        account_id=row.account_id,
        status=SignupStatus(row.status),
        signed_up_at=row.signed_up_at,
        checked_in_at=row.checked_in_at,
        checkin_distance_m=row.checkin_distance_m,
        hours=row.hours,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
    )


class SqlTaskRepository(_Repo, BaseTaskRepository):
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
        row = ServiceTaskRow(
            community_id=community_id,
            title=title,
            kind=kind.value,
            starts_at=starts_at,
            ends_at=ends_at,
            slots=slots,
            skills=_join(skills),
            lat=place.lat if place else None,
            lon=place.lon if place else None,
            status=TaskStatus.OPEN.value,
            created_by=created_by,
            created_at=created_at,
        )
        self.s.add(row)
        await self.s.flush()
        return _task(row)

    async def get(self, task_id: int, *, lock: bool = False) -> ServiceTask | None:
        stmt = select(ServiceTaskRow).where(ServiceTaskRow.id == task_id)
        if lock:
            stmt = stmt.with_for_update()  # SQLite has no row locks; its writers take turns
        row = await self.s.scalar(stmt)
        return _task(row) if row else None

    async def list(
        self, *, community_ids: Collection[int] | None = None
    ) -> builtins.list[ServiceTask]:
        stmt = select(ServiceTaskRow).order_by(
            ServiceTaskRow.created_at.desc(), ServiceTaskRow.id.desc()
        )
        if community_ids is not None:
            stmt = stmt.where(ServiceTaskRow.community_id.in_(list(community_ids)))
        return [_task(r) for r in await self.s.scalars(stmt)]

    async def sign_up(self, task_id: int, account_id: int, *, at: datetime) -> Signup:
        if await self.s.get(ServiceTaskRow, task_id) is None:
            raise ports.NotFound(f"task {task_id}")
        found = await self.signup_of(task_id, account_id)
        if found is not None:
            return found
        row = TaskSignupRow(
            task_id=task_id,
            account_id=account_id,
            status=SignupStatus.SIGNED_UP.value,
            signed_up_at=at,
        )
        self.s.add(row)
        await self.s.flush()
        return _signup(row)

    async def signup(self, signup_id: int) -> Signup | None:
        row = await self.s.get(TaskSignupRow, signup_id)
        return _signup(row) if row else None

    async def signup_of(self, task_id: int, account_id: int) -> Signup | None:
        row = await self.s.scalar(
            select(TaskSignupRow).where(
                TaskSignupRow.task_id == task_id, TaskSignupRow.account_id == account_id
            )
        )
        return _signup(row) if row else None

    async def signups(self, task_ids: Collection[int]) -> builtins.list[Signup]:
        if not task_ids:
            return []
        rows = await self.s.scalars(
            select(TaskSignupRow)
            .where(TaskSignupRow.task_id.in_(list(task_ids)))
            .order_by(TaskSignupRow.id)
        )
        return [_signup(r) for r in rows]

    async def signups_of(self, account_id: int) -> builtins.list[Signup]:
        rows = await self.s.scalars(
            select(TaskSignupRow)
            .where(TaskSignupRow.account_id == account_id)
            .order_by(TaskSignupRow.id.desc())
        )
        return [_signup(r) for r in rows]

    async def save_signup(self, signup: Signup) -> Signup:
        row = await self.s.get(TaskSignupRow, signup.id)
        if row is None:
            raise ports.NotFound(f"signup {signup.id}")
        row.status, row.checked_in_at = signup.status.value, signup.checked_in_at
        row.checkin_distance_m, row.hours = signup.checkin_distance_m, signup.hours
        row.confirmed_by, row.confirmed_at = signup.confirmed_by, signup.confirmed_at
        await self.s.flush()
        return _signup(row)


def _entry(row: PointsLedgerRow) -> PointsEntry:
    return PointsEntry(
        account_id=row.account_id,
        points=row.points,
        reason=row.reason,
        at=row.at,
        report_id=row.report_id,
        task_id=row.task_id,
        region_id=row.region_id,
        granted_by=row.granted_by,
    )


class SqlPointsRepository(_Repo, BasePointsRepository):
    async def add(self, entry: PointsEntry) -> int:
        if await self.s.get(AccountRow, entry.account_id) is None:
            raise ports.NotFound(f"account {entry.account_id}")
        self.s.add(
            PointsLedgerRow(
                account_id=entry.account_id,
                points=entry.points,
                reason=entry.reason,
                at=entry.at,
                report_id=entry.report_id,
                task_id=entry.task_id,
                region_id=entry.region_id,
                granted_by=entry.granted_by,
            )
        )
        await self.s.flush()
        return await self.balance(entry.account_id)

    async def balance(self, account_id: int) -> int:
        total = await self.s.scalar(
            select(func.coalesce(func.sum(PointsLedgerRow.points), 0)).where(
                PointsLedgerRow.account_id == account_id
            )
        )
        return int(total or 0)

    async def entries(self, account_id: int, *, limit: int = 10) -> builtins.list[PointsEntry]:
        rows = await self.s.scalars(
            select(PointsLedgerRow)
            .where(PointsLedgerRow.account_id == account_id)
            .order_by(PointsLedgerRow.at.desc(), PointsLedgerRow.id.desc())
            .limit(limit)
        )
        return [_entry(r) for r in rows]

    async def ranking(
        self, region_ids: Collection[int], *, limit: int = 10
    ) -> builtins.list[RankLine]:
        if not region_ids:
            return []
        total = func.sum(PointsLedgerRow.points).label("total")
        rows = await self.s.execute(
            select(AccountRow.id, AccountRow.display_name, total)
            .join(PointsLedgerRow, PointsLedgerRow.account_id == AccountRow.id)
            .where(
                PointsLedgerRow.region_id.in_(list(region_ids)),
                AccountRow.deleted_at.is_(None),
                AccountRow.display_name != "",
                AccountRow.id.not_in(select(RankOptOutRow.account_id)),
            )
            .group_by(AccountRow.id, AccountRow.display_name)
            .order_by(total.desc(), AccountRow.id)
            .limit(limit)
        )
        return [RankLine(account_id=a, display_name=n, points=int(p)) for a, n, p in rows]

    async def set_hidden(self, account_id: int, hidden: bool) -> None:
        present = await self.s.get(RankOptOutRow, account_id)
        if hidden and present is None:
            self.s.add(RankOptOutRow(account_id=account_id))
        elif not hidden:
            await self.s.execute(
                delete(RankOptOutRow).where(RankOptOutRow.account_id == account_id)
            )
        await self.s.flush()

    async def hidden(self, account_id: int) -> bool:
        return await self.s.get(RankOptOutRow, account_id) is not None
