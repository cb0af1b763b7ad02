"""SQL implementations of the storage port. Each repository works inside the unit's session."""

from __future__ import annotations

import builtins
import functools
import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import cast as typed

from geopy.distance import geodesic
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Exists,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Executable

from bot.chat import Outgoing
from bot.domain.model import (
    OPEN_STATUSES,
    Account,
    AuditEvent,
    Consent,
    ConversationState,
    Crs,
    EscalationKind,
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Invite,
    Level,
    MapUnit,
    RegionNode,
    Report,
    ReportPhoto,
    ReportStatus,
    RoleGrant,
    RoleName,
)
from bot.services import ports
from storage.hierarchy import Hierarchy, hierarchy_at
from storage.hierarchy import region_node as _region
from storage.leases import lease_free, lease_holds
from storage.models import (
    AccountRow,
    AuditRow,
    ConversationRow,
    EscalationRow,
    GroupNoticeRow,
    InboxRowModel,
    InformantRow,
    InviteRow,
    MapVersionRow,
    OutboxRowModel,
    PartyDeclarationRow,
    PointsLedgerRow,
    ProcessedUpdateRow,
    RankOptOutRow,
    RegionRow,
    ReportCounterRow,
    ReportPhotoRow,
    ReportRow,
    RoleGrantRow,
    SubscriptionRow,
    TaskSignupRow,
    VolunteerRow,
)

# Metres per degree of latitude, rounded down so the bounding box is never too small.
_M_PER_DEG = 110_000.0
# Keys per IN (...) list: far below SQLite's 32,766 and asyncpg's 32,767 bound parameters,
# and small enough that one statement never holds a large parse tree.
_IN_CHUNK = 500


def _table(model: type[Any]) -> Table:
    """The model's table, for Core statements: no ORM unit-of-work machinery on hot paths."""
    return typed(Table, model.__table__)


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    @property
    def _postgres(self) -> bool:
        return self.s.get_bind().dialect.name == "postgresql"

    def _insert(self, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
        # Both dialects spell upserts the same way (ON CONFLICT); only the class differs.
        return postgresql.insert(model) if self._postgres else sqlite.insert(model)

    def _locked(self, stmt: Select[Any], of: Any) -> Select[Any]:
        # SKIP LOCKED lets several processes sweep one table without waiting on each other.
        # SQLite has no row locks; its single writer (BEGIN IMMEDIATE) serialises claimers.
        return stmt.with_for_update(skip_locked=True, of=of) if self._postgres else stmt


def _now() -> datetime:
    return datetime.now(UTC)


def _chunks(values: Collection[str]) -> list[list[str]]:
    ordered = sorted(set(values))
    return [ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK)]


def _strings(value: Any) -> Iterator[str]:
    """Every string value nested anywhere in a JSON document (keys of objects excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# -- regions -------------------------------------------------------------------------------


class SqlRegionRepository(_Repo, ports.BaseRegionRepository):
    # The tree as this unit of work found it (storage.hierarchy): the stored map version is
    # checked once per unit. None after this unit wrote a map: read the rows themselves.
    _tree: Hierarchy | None = None
    _wrote_map = False

    async def _hierarchy(self) -> Hierarchy | None:
        if self._tree is None and not self._wrote_map:
            self._tree = await hierarchy_at(self.s, await self.map_version())
        return self._tree

    async def replace_map(self, units: list[MapUnit], *, replace: bool) -> int:
        self._tree, self._wrote_map = None, True
        version = MapVersionRow(imported_at=_now(), unit_count=len(units), replaced=replace)
        self.s.add(version)
        await self.s.flush()
        by_code = {r.code: r for r in (await self.s.scalars(select(RegionRow))).all()}
        # Parents get ids before their children need them: write one level at a time.
        for level in Level:
            for unit in (u for u in units if u.level is level):
                self._write_unit(unit, by_code, version.version)
            await self.s.flush()
        if replace:
            keep = {u.code for u in units}
            for row in by_code.values():
                if row.code not in keep:
                    row.active = False
        await self.s.flush()
        return version.version

    def _write_unit(self, unit: MapUnit, by_code: dict[str, RegionRow], version: int) -> None:
        parent_id = None
        if unit.parent_code is not None:
            parent = by_code.get(unit.parent_code)
            if parent is None or parent.id is None:
                raise ValueError(f"unit {unit.code}: parent {unit.parent_code} is unknown")
            parent_id = parent.id
        row = by_code.get(unit.code)
        if row is None:
            row = RegionRow(code=unit.code)
            self.s.add(row)
            by_code[unit.code] = row
        row.name, row.level, row.parent_id = unit.name, unit.level.value, parent_id
        row.geometry, row.crs = json.dumps(unit.geometry), unit.crs.value
        row.map_version, row.active = version, True

    async def load_units(self) -> tuple[int, list[MapUnit]]:
        rows = (await self.s.scalars(select(RegionRow).order_by(RegionRow.id))).all()
        code_of = {r.id: r.code for r in rows}
        units = [
            MapUnit(
                code=r.code,
                name=r.name,
                level=Level(r.level),
                parent_code=code_of.get(r.parent_id) if r.parent_id is not None else None,
                geometry=json.loads(r.geometry),
                crs=Crs(r.crs),
            )
            for r in rows
            if r.active
        ]
        units.sort(key=lambda u: u.level.depth)
        return await self.map_version(), units

    async def map_version(self) -> int:
        value = await self.s.scalar(select(func.max(MapVersionRow.version)))
        return int(value or 0)

    async def get(self, code: str) -> RegionNode | None:
        if (tree := await self._hierarchy()) is not None:
            return tree.by_code.get(code)
        row = await self.s.scalar(select(RegionRow).where(RegionRow.code == code))
        return _region(row) if row else None

    async def get_by_id(self, region_id: int) -> RegionNode | None:
        if (tree := await self._hierarchy()) is not None:
            return tree.by_id.get(region_id)
        row = await self.s.get(RegionRow, region_id)
        return _region(row) if row else None

    async def ancestors(self, region_id: int) -> list[RegionNode]:
        tree = await self._hierarchy()
        chain: list[RegionNode] = []
        next_id: int | None = region_id
        while next_id is not None and len(chain) <= len(Level):
            node = tree.by_id.get(next_id) if tree else await self.get_by_id(next_id)
            if node is None:
                break
            chain.append(node)
            next_id = node.parent_id
        return chain

    async def children(self, region_id: int) -> list[RegionNode]:
        rows = await self.s.scalars(
            select(RegionRow)
            .where(RegionRow.parent_id == region_id, RegionRow.active)
            .order_by(RegionRow.code)
        )
        return [_region(r) for r in rows]

    async def by_level(self, level: Level) -> list[RegionNode]:
        rows = await self.s.scalars(
            select(RegionRow)
            .where(RegionRow.level == level.value, RegionRow.active)
            .order_by(RegionRow.code)
        )
        return [_region(r) for r in rows]


# -- accounts and roles --------------------------------------------------------------------


def _account(row: AccountRow | Row[Any]) -> Account:
    """An account from its ORM row or from a Core row of ``_account_columns()``."""
    consent = None
    if row.consent_version is not None and row.consent_at is not None:
        consent = Consent(version=row.consent_version, given_at=row.consent_at)
    return Account(
        id=row.id,
        platform=row.platform,
        platform_user_id=row.platform_user_id,
        chat_id=row.chat_id,
        display_name=row.display_name,
        locale=row.locale,
        consent=consent,
        phone=row.phone,
        on_duty=row.on_duty,
    )


_ACCOUNT_FIELDS = (
    "id",
    "platform",
    "platform_user_id",
    "chat_id",
    "display_name",
    "locale",
    "consent_version",
    "consent_at",
    "phone",
    "on_duty",
)


def _account_columns() -> list[ColumnElement[Any]]:
    accounts = _table(AccountRow)
    return [accounts.c[name] for name in _ACCOUNT_FIELDS]


def _has_basis(
    platform: str | BindParameter[str], platform_user_id: str | BindParameter[str]
) -> ColumnElement[bool]:
    """The account has a consent, an informant registration or a staff role: a basis for
    keeping its display name (see ``BaseAccountRepository.upsert_from_chat``)."""

    def held(model: type[RoleGrantRow | InformantRow]) -> Exists:
        # Found by the account's key: an INSERT has no outer row to correlate with.
        return (
            select(model.account_id)
            .join(AccountRow, model.account_id == AccountRow.id)
            .where(AccountRow.platform == platform, AccountRow.platform_user_id == platform_user_id)
            .exists()
        )

    return or_(AccountRow.consent_version.is_not(None), held(RoleGrantRow), held(InformantRow))


# The hot path of every update (``SqlAccountRepository.from_chat``), built once: a statement
# built per call spends more CPU on its construction and cache key than on the database.


@functools.cache
def _account_and_state() -> Executable:
    """The account by its platform key, whether it has a basis for keeping a name (as
    ``_has_basis``), and its conversation state: one statement, on the tables alone (no ORM
    entity, so none of the ORM's loading machinery)."""
    a, c = _table(AccountRow), _table(ConversationRow)
    roles, informants = _table(RoleGrantRow), _table(InformantRow)
    basis = or_(
        a.c.consent_version.is_not(None),
        select(roles.c.id).where(roles.c.account_id == a.c.id).exists(),
        select(informants.c.account_id).where(informants.c.account_id == a.c.id).exists(),
    )
    return (
        select(*_account_columns(), basis.label("basis"), c.c.flow, c.c.step, c.c.data)
        .select_from(
            a.outerjoin(c, and_(c.c.platform == a.c.platform, c.c.user_id == a.c.platform_user_id))
        )
        .where(
            a.c.platform == bindparam("platform"),
            a.c.platform_user_id == bindparam("platform_user_id"),
        )
    )


@functools.cache
def _account_upsert(postgres: bool, keep_name_with_basis: bool) -> Executable:
    """Insert the account with ``new_name``, or refresh its chat id and set its name:
    ``name`` as given, or (``keep_name_with_basis``) only when it has a basis, else "".
    Returns the account's columns."""
    table = _table(AccountRow)
    name: ColumnElement[Any] = bindparam("name", type_=String())
    if keep_name_with_basis:
        basis = _has_basis(bindparam("platform"), bindparam("platform_user_id"))
        name = case((basis, name), else_="")
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    # ON CONFLICT: two first updates of one new user in parallel must not both insert.
    return (
        insert.values(
            platform=bindparam("platform"),
            platform_user_id=bindparam("platform_user_id"),
            chat_id=bindparam("chat_id"),
            display_name=bindparam("new_name"),
            locale=bindparam("locale"),
            on_duty=True,
        )
        .on_conflict_do_update(
            index_elements=["platform", "platform_user_id"],
            set_={"chat_id": bindparam("chat_id"), "display_name": name},
        )
        .returning(*_account_columns())
    )


class SqlAccountRepository(_Repo, ports.BaseAccountRepository):
    async def get_or_create(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        keys = {"platform": platform, "platform_user_id": platform_user_id, "locale": locale}
        params = {**keys, "chat_id": chat_id, "new_name": display_name, "name": display_name}
        return await self._upsert(params, keep_name_with_basis=False)

    async def upsert_from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        account, _state = await self.from_chat(
            platform=platform,
            platform_user_id=platform_user_id,
            chat_id=chat_id,
            display_name=display_name,
            locale=locale,
        )
        return account

    async def from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> tuple[Account, ConversationState]:
        """``upsert_from_chat`` and the conversation state in one statement when nothing
        changed (the usual update): it is looked up first and written only when it is new or
        its chat id or kept name differ."""
        keys = {"platform": platform, "platform_user_id": platform_user_id}
        found = (await self.s.execute(_account_and_state(), keys)).first()
        if found is not None:
            name = display_name if found.basis else ""
            if (found.chat_id, found.display_name) == (chat_id, name):
                return _account(found), _state(found)
        # A new user's first update, or a new chat id or name: the upsert decides as above.
        params = {
            **keys,
            "chat_id": chat_id,
            "locale": locale,
            "new_name": "",
            "name": display_name,
        }
        account = await self._upsert(params, keep_name_with_basis=True)
        if found is not None:
            return account, _state(found)
        return account, await SqlConversationRepository(self.s).load(platform, platform_user_id)

    async def _upsert(self, params: dict[str, str], *, keep_name_with_basis: bool) -> Account:
        upsert = _account_upsert(self._postgres, keep_name_with_basis)
        return _account((await self.s.execute(upsert, params)).one())

    async def get(self, account_id: int) -> Account | None:
        row = await self.s.get(AccountRow, account_id, populate_existing=True)
        return _account(row) if row else None

    async def find(self, platform: str, platform_user_id: str) -> Account | None:
        row = await self.s.scalar(
            select(AccountRow)
            .where(AccountRow.platform == platform, AccountRow.platform_user_id == platform_user_id)
            .execution_options(populate_existing=True)
        )
        return _account(row) if row else None

    async def may_keep_data(self, platform: str, platform_user_id: str) -> bool:
        found = await self.s.scalar(
            select(_has_basis(platform, platform_user_id)).where(
                AccountRow.platform == platform, AccountRow.platform_user_id == platform_user_id
            )
        )
        return bool(found)  # None: no account, so no basis

    async def _row(self, account_id: int) -> AccountRow:
        row = await self.s.get(AccountRow, account_id)
        if row is None:
            raise ports.NotFound(f"account {account_id}")
        return row

    async def set_locale(self, account_id: int, locale: str) -> None:
        (await self._row(account_id)).locale = locale
        await self.s.flush()

    async def record_consent(self, account_id: int, version: str, at: datetime) -> None:
        row = await self._row(account_id)
        row.consent_version, row.consent_at = version, at
        await self.s.flush()

    async def set_phone(self, account_id: int, phone: str | None) -> None:
        (await self._row(account_id)).phone = phone
        await self.s.flush()

    async def set_on_duty(self, account_id: int, on_duty: bool) -> None:
        (await self._row(account_id)).on_duty = on_duty
        await self.s.flush()

    async def delete_personal_data(self, account_id: int) -> None:
        row = await self._row(account_id)
        await self.s.execute(
            delete(ConversationRow).where(
                ConversationRow.platform == row.platform,
                ConversationRow.user_id == row.platform_user_id,
            )
        )
        await self.s.execute(
            delete(InboxRowModel).where(
                InboxRowModel.platform == row.platform,
                InboxRowModel.user_key == row.platform_user_id,
                InboxRowModel.state == "dead",
            )
        )
        # The points ledger goes too: its lines (what was earned where, for which case or
        # task) are the person's, and a deleted person's balance has no use.
        models = (
            InformantRow,
            PartyDeclarationRow,
            VolunteerRow,
            TaskSignupRow,  # check-in times and distances, hours of service
            RankOptOutRow,
            PointsLedgerRow,
            SubscriptionRow,
            RoleGrantRow,
        )
        for model in models:
            await self.s.execute(delete(model).where(model.account_id == account_id))
        row.platform_user_id = f"deleted:{account_id}"
        row.chat_id, row.display_name, row.phone = "", "", None
        row.consent_version, row.consent_at = None, None
        row.on_duty, row.deleted_at = False, _now()
        await self.s.flush()


class SqlRoleRepository(_Repo, ports.BaseRoleRepository):
    def _grants(self) -> Select[RoleGrantRow, str]:
        return select(RoleGrantRow, RegionRow.code).join(
            RegionRow, RegionRow.id == RoleGrantRow.region_id
        )

    @staticmethod
    def _grant(row: RoleGrantRow, code: str) -> RoleGrant:
        return RoleGrant(
            id=row.id,
            account_id=row.account_id,
            role=RoleName(row.role),
            region_id=row.region_id,
            region_code=code,
        )

    async def _find(self, account_id: int, role: RoleName, region_id: int) -> RoleGrant | None:
        found = (
            await self.s.execute(
                self._grants().where(
                    RoleGrantRow.account_id == account_id,
                    RoleGrantRow.role == role.value,
                    RoleGrantRow.region_id == region_id,
                )
            )
        ).first()
        return self._grant(*found) if found else None

    async def grant(self, account_id: int, role: RoleName, region_id: int) -> RoleGrant:
        await self.s.execute(
            self._insert(RoleGrantRow)
            .values(account_id=account_id, role=role.value, region_id=region_id)
            .on_conflict_do_nothing()
        )
        grant = await self._find(account_id, role, region_id)
        assert grant is not None  # inserted or already there
        return grant

    async def revoke(self, account_id: int, role: RoleName, region_id: int) -> bool:
        removed = await self.s.scalars(
            delete(RoleGrantRow)
            .where(
                RoleGrantRow.account_id == account_id,
                RoleGrantRow.role == role.value,
                RoleGrantRow.region_id == region_id,
            )
            .returning(RoleGrantRow.id)
        )
        return removed.first() is not None

    async def for_account(self, account_id: int) -> list[RoleGrant]:
        rows = await self.s.execute(
            self._grants().where(RoleGrantRow.account_id == account_id).order_by(RoleGrantRow.id)
        )
        return [self._grant(*r) for r in rows]

    async def holders(self, role: RoleName, region_ids: Collection[int]) -> list[Account]:
        rows = await self.s.scalars(
            select(AccountRow)
            .where(
                AccountRow.id.in_(
                    select(RoleGrantRow.account_id).where(
                        RoleGrantRow.role == role.value,
                        RoleGrantRow.region_id.in_(list(region_ids)),
                    )
                )
            )
            .order_by(AccountRow.id)
        )
        return [_account(r) for r in rows]

    async def list_all(self) -> list[RoleGrant]:
        rows = await self.s.execute(self._grants().order_by(RoleGrantRow.id))
        return [self._grant(*r) for r in rows]


# -- informants ----------------------------------------------------------------------------


def _informant(row: InformantRow) -> InformantProfile:
    return InformantProfile(
        account_id=row.account_id,
        real_name=row.real_name,
        phone=row.phone,
        company=row.company,
        status=InformantStatus(row.status),
        home_region_id=row.home_region_id,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
    )


class SqlInformantRepository(_Repo, ports.BaseInformantRepository):
    async def upsert(self, profile: InformantProfile) -> InformantProfile:
        row = await self.s.get(InformantRow, profile.account_id)
        if row is None:
            row = InformantRow(account_id=profile.account_id)
            self.s.add(row)
        row.real_name, row.phone, row.company = profile.real_name, profile.phone, profile.company
        row.status, row.home_region_id = profile.status.value, profile.home_region_id
        row.created_at, row.decided_at = profile.created_at, profile.decided_at
        row.decided_by = profile.decided_by
        await self.s.flush()
        return _informant(row)

    async def get(self, account_id: int) -> InformantProfile | None:
        row = await self.s.get(InformantRow, account_id)
        return _informant(row) if row else None

    async def list(self, status: InformantStatus | None = None) -> builtins.list[InformantProfile]:
        stmt = select(InformantRow).order_by(InformantRow.created_at, InformantRow.account_id)
        if status is not None:
            stmt = stmt.where(InformantRow.status == status.value)
        return [_informant(r) for r in await self.s.scalars(stmt)]

    async def _row(self, account_id: int) -> InformantRow:
        row = await self.s.get(InformantRow, account_id)
        if row is None:
            raise ports.NotFound(f"informant {account_id}")
        return row

    async def decide(
        self, account_id: int, status: InformantStatus, *, by: int, at: datetime
    ) -> InformantProfile:
        row = await self._row(account_id)
        row.status, row.decided_by, row.decided_at = status.value, by, at
        await self.s.flush()
        return _informant(row)


# -- reports -------------------------------------------------------------------------------


def _photo(row: ReportPhotoRow) -> ReportPhoto:
    return ReportPhoto(
        sha256=row.sha256, phash=row.phash, width=row.width, height=row.height, kind=row.kind
    )


def _report(row: ReportRow, photos: Sequence[ReportPhotoRow]) -> Report:
    return Report(
        id=row.id,
        number=row.number,
        reporter_id=row.reporter_id,
        category_code=row.category_code,
        status=ReportStatus(row.status),
        location=GeoPoint(lat=row.lat, lon=row.lon),
        grid_id=row.grid_id,
        note=row.note,
        created_at=row.created_at,
        updated_at=row.updated_at,
        ack_due_at=row.ack_due_at,
        resolve_due_at=row.resolve_due_at,
        assignee_id=row.assignee_id,
        merged_into_id=row.merged_into_id,
        photos=tuple(_photo(p) for p in photos),
        version=row.version,
    )


def _mutable_fields(report: Report) -> dict[str, Any]:
    return {
        "category_code": report.category_code,
        "status": report.status.value,
        "lat": report.location.lat,
        "lon": report.location.lon,
        "grid_id": report.grid_id,
        "note": report.note,
        "updated_at": report.updated_at,
        "ack_due_at": report.ack_due_at,
        "resolve_due_at": report.resolve_due_at,
        "assignee_id": report.assignee_id,
        "merged_into_id": report.merged_into_id,
    }


class _ReportReader(_Repo):
    async def _reports(self, stmt: Select[ReportRow]) -> list[Report]:
        rows = (await self.s.scalars(stmt.execution_options(populate_existing=True))).all()
        if not rows:
            return []
        photos = await self.s.scalars(
            select(ReportPhotoRow)
            .where(ReportPhotoRow.report_id.in_([r.id for r in rows]))
            .order_by(ReportPhotoRow.id)
        )
        by_report: dict[int, list[ReportPhotoRow]] = {}
        for photo in photos:
            by_report.setdefault(photo.report_id, []).append(photo)
        return [_report(r, by_report.get(r.id, [])) for r in rows]

    async def _one(self, stmt: Select[ReportRow]) -> Report | None:
        found = await self._reports(stmt)
        return found[0] if found else None


class SqlReportRepository(_ReportReader, ports.BaseReportRepository):
    async def add(
        self,
        *,
        reporter_id: int,
        category_code: str,
        location: GeoPoint,
        grid_id: int | None,
        note: str,
        status: ReportStatus,
        created_at: datetime,
        ack_due_at: datetime | None = None,
        resolve_due_at: datetime | None = None,
        photos: tuple[ReportPhoto, ...] = (),
    ) -> Report:
        row = ReportRow(
            number=await self._next_number(created_at),
            reporter_id=reporter_id,
            category_code=category_code,
            status=status.value,
            lat=location.lat,
            lon=location.lon,
            grid_id=grid_id,
            note=note,
            created_at=created_at,
            updated_at=created_at,
            ack_due_at=ack_due_at,
            resolve_due_at=resolve_due_at,
            version=0,
        )
        self.s.add(row)
        await self.s.flush()
        for photo in photos:
            await self.add_photo(row.id, photo)
        report = await self.get(row.id)
        assert report is not None  # inserted above
        return report

    async def _next_number(self, created_at: datetime) -> str:
        day = created_at.strftime("%y%m%d")
        # One statement increments or starts the day's counter; the row lock it takes
        # makes concurrent reports of one day queue for distinct numbers.
        stmt = (
            self._insert(ReportCounterRow)
            .values(day=day, last=1)
            .on_conflict_do_update(index_elements=["day"], set_={"last": ReportCounterRow.last + 1})
            .returning(ReportCounterRow.last)
        )
        last = (await self.s.execute(stmt)).scalar_one()
        return f"{day}-{last:04d}"

    async def get(self, report_id: int) -> Report | None:
        return await self._one(select(ReportRow).where(ReportRow.id == report_id))

    async def by_number(self, number: str) -> Report | None:
        return await self._one(select(ReportRow).where(ReportRow.number == number))

    async def for_reporter(self, account_id: int) -> list[Report]:
        return await self._reports(
            select(ReportRow)
            .where(ReportRow.reporter_id == account_id)
            .order_by(ReportRow.created_at.desc(), ReportRow.id.desc())
        )

    async def open_for_grids(self, grid_ids: Collection[int]) -> list[Report]:
        return await self._reports(
            select(ReportRow)
            .where(
                ReportRow.grid_id.in_(list(grid_ids)),
                ReportRow.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .order_by(ReportRow.created_at, ReportRow.id)
        )

    async def near(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        *,
        since: datetime,
        category: str | None = None,
        open_only: bool = True,
    ) -> list[Report]:
        dlat = radius_m / _M_PER_DEG
        dlon = radius_m / (_M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
        stmt = select(ReportRow).where(
            ReportRow.lat.between(lat - dlat, lat + dlat),
            ReportRow.lon.between(lon - dlon, lon + dlon),
            ReportRow.created_at >= since,
        )
        if category is not None:
            stmt = stmt.where(ReportRow.category_code == category)
        if open_only:
            stmt = stmt.where(ReportRow.status.in_([s.value for s in OPEN_STATUSES]))
        return _within(await self._reports(stmt), lat, lon, radius_m)

    async def by_phash(self, phash: str, since: datetime) -> list[Report]:
        having_photo = select(ReportPhotoRow.report_id).where(ReportPhotoRow.phash == phash)
        return await self._reports(
            select(ReportRow)
            .where(ReportRow.id.in_(having_photo), ReportRow.created_at >= since)
            .order_by(ReportRow.id)
        )

    async def category_counts(self, since: datetime) -> dict[str, int]:
        rows = await self.s.execute(
            select(ReportRow.category_code, func.count())
            .where(ReportRow.created_at >= since)
            .group_by(ReportRow.category_code)
        )
        return {code: count for code, count in rows}

    async def save(self, report: Report, expected_version: int) -> Report:
        # Compare-and-set on version: of two workers who read the same version, the second
        # UPDATE matches no row (on PostgreSQL it waits for the first, then re-checks).
        updated = await self.s.scalars(
            update(ReportRow)
            .where(ReportRow.id == report.id, ReportRow.version == expected_version)
            .values(**_mutable_fields(report), version=expected_version + 1)
            .returning(ReportRow.id)
            .execution_options(synchronize_session=False)
        )
        if updated.first() is None:
            raise ports.ConcurrentUpdate(f"report {report.number} moved past {expected_version}")
        saved = await self.get(report.id)
        assert saved is not None  # just updated
        return saved

    async def add_photo(self, report_id: int, photo: ReportPhoto) -> None:
        self.s.add(
            ReportPhotoRow(
                report_id=report_id,
                sha256=photo.sha256,
                phash=photo.phash,
                width=photo.width,
                height=photo.height,
                kind=photo.kind,
            )
        )
        await self.s.flush()

    async def subscribe(self, report_id: int, account_id: int) -> None:
        await self.s.execute(
            self._insert(SubscriptionRow)
            .values(report_id=report_id, account_id=account_id)
            .on_conflict_do_nothing()
        )

    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(candidates):
            stmt = select(ReportPhotoRow.sha256).where(ReportPhotoRow.sha256.in_(chunk)).distinct()
            found.update(await self.s.scalars(stmt))
        return found

    async def subscribers(self, report_id: int) -> list[Account]:
        rows = await self.s.scalars(
            select(AccountRow)
            .join(SubscriptionRow, SubscriptionRow.account_id == AccountRow.id)
            .where(SubscriptionRow.report_id == report_id)
            .order_by(AccountRow.id)
        )
        return [_account(r) for r in rows]


def _within(reports: list[Report], lat: float, lon: float, radius_m: float) -> list[Report]:
    """Exact geodesic filter after the coarse bounding box, nearest first."""
    measured = [
        (geodesic((lat, lon), (r.location.lat, r.location.lon)).meters, r.id, r) for r in reports
    ]
    return [r for d, _, r in sorted(measured, key=lambda m: (m[0], m[1])) if d <= radius_m]


# -- audit, outbox, conversations, updates ------------------------------------------------


class SqlAuditRepository(_Repo, ports.BaseAuditRepository):
    async def append(self, event: AuditEvent) -> AuditEvent:
        last = await self.s.scalar(
            select(func.max(AuditRow.seq)).where(AuditRow.report_id == event.report_id)
        )
        seq = int(last or 0) + 1
        self.s.add(
            AuditRow(
                report_id=event.report_id,
                seq=seq,
                action=event.action,
                actor_id=event.actor_id,
                from_status=event.from_status.value if event.from_status else None,
                to_status=event.to_status.value,
                at=event.at,
                data=event.data,
            )
        )
        await self.s.flush()
        return replace(event, seq=seq)

    async def history(self, report_id: int) -> list[AuditEvent]:
        rows = await self.s.scalars(
            select(AuditRow).where(AuditRow.report_id == report_id).order_by(AuditRow.seq)
        )
        return [
            AuditEvent(
                report_id=r.report_id,
                seq=r.seq,
                action=r.action,
                actor_id=r.actor_id,
                from_status=ReportStatus(r.from_status) if r.from_status else None,
                to_status=ReportStatus(r.to_status),
                at=r.at,
                data=r.data,
            )
            for r in rows
        ]


PENDING, SENT, UNSURE, FAILED = "pending", "sent", "unsure", "failed"


def _deleted(result: Result[Any]) -> int:
    """Rows a DELETE removed: counted by the driver, so none are fetched back."""
    return int(typed(CursorResult[Any], result).rowcount)


def _unbroken_chat_runs(found: Sequence[tuple[OutboxRowModel, int]]) -> list[OutboxRowModel]:
    """Keep a chat's rows only while they run unbroken from its earliest unsent row.

    SKIP LOCKED passes over rows another claimer is leasing right now (its lease not yet
    visible to us), so a later row of that chat could come back alone; taking it would
    send it before the rows the other claimer holds.
    """
    taken: dict[tuple[str, str], int] = {}
    kept = []
    for row, place in found:
        chat = (row.platform, row.chat_id)
        if place == taken.get(chat, 0):
            taken[chat] = place + 1
            kept.append(row)
    return kept


@functools.cache
def _outbox_row() -> Executable:
    # With RETURNING, a list of rows goes out as one multi-row INSERT (SQLAlchemy's
    # "insertmanyvalues"); without, as the driver's executemany: a statement per row.
    table = _table(OutboxRowModel)
    return insert(table).returning(table.c.id)


class SqlOutboxRepository(_Repo, ports.BaseOutboxRepository):
    async def add_all(self, messages: Sequence[tuple[Outgoing, bool]]) -> None:
        if not messages:
            return
        at = _now()
        rows = [
            {
                "platform": outgoing.platform,
                "chat_id": outgoing.chat_id,
                "payload": outgoing.to_dict(),
                "state": PENDING,
                "created_at": at,
                "attempts": 0,
                "failures": 0,
                "reply": reply,
            }
            for outgoing, reply in messages
        ]
        await self.s.execute(_outbox_row(), rows)

    async def add(
        self, outgoing: Outgoing, *, not_before: datetime | None = None, reply: bool = False
    ) -> int:
        row = OutboxRowModel(
            platform=outgoing.platform,
            chat_id=outgoing.chat_id,
            payload=outgoing.to_dict(),
            state=PENDING,
            created_at=_now(),
            next_attempt_at=not_before,
            attempts=0,
            failures=0,
            reply=reply,
        )
        self.s.add(row)
        await self.s.flush()
        return row.id

    async def claim(
        self,
        limit: int,
        now: datetime,
        *,
        lease: timedelta = timedelta(seconds=60),
        per_chat: int = 1,
        owner: str | None = None,
        alive_since: datetime | None = None,
    ) -> list[ports.OutboxRow]:
        o = OutboxRowModel
        earlier = aliased(OutboxRowModel)
        same_chat_before = and_(
            earlier.state == PENDING,
            earlier.platform == o.platform,
            earlier.chat_id == o.chat_id,
            earlier.id < o.id,
        )
        # An earlier row of the chat that is not due or leased holds back the rest of it.
        held_back = (
            select(earlier.id)
            .where(
                same_chat_before,
                or_(
                    earlier.next_attempt_at > now,
                    lease_holds(earlier.locked_until, earlier.locked_by, now, alive_since),
                ),
            )
            .exists()
        )
        place = select(func.count(earlier.id)).where(same_chat_before).scalar_subquery()
        stmt = (
            select(o, place)
            .where(
                o.state == PENDING,
                or_(o.next_attempt_at.is_(None), o.next_attempt_at <= now),
                lease_free(o.locked_until, o.locked_by, now, alive_since),
                ~held_back,
                place < per_chat,
            )
            .order_by(o.id)
            .limit(limit)
        )
        found = [(row, place) for row, place in await self.s.execute(self._locked(stmt, o))]
        rows = _unbroken_chat_runs(found)
        for row in rows:
            row.locked_until, row.locked_by = now + lease, owner
        await self.s.flush()
        return [
            ports.OutboxRow(
                id=r.id,
                message=Outgoing.from_dict(r.payload),
                attempts=r.attempts,
                created_at=r.created_at,
                reply=r.reply,
                failures=r.failures,
            )
            for r in rows
        ]

    async def release_leases(self, owner: str, now: datetime) -> int:
        o = OutboxRowModel
        released = await self.s.execute(
            update(o)
            .where(o.state == PENDING, o.locked_by == owner, o.locked_until > now)
            .values(locked_until=None, locked_by=None)
            .returning(o.id)
        )
        return len(released.all())

    async def _row(self, row_id: int) -> OutboxRowModel:
        row = await self.s.get(OutboxRowModel, row_id)
        if row is None:
            raise ports.NotFound(f"outbox row {row_id}")
        return row

    async def mark_sent(self, row_id: int, platform_message_id: str | None) -> None:
        # One UPDATE, no SELECT first: the sender marks every message it sends.
        marked = await self.s.execute(
            update(OutboxRowModel)
            .where(OutboxRowModel.id == row_id)
            .values(
                state=SENT,
                sent_at=_now(),
                locked_until=None,
                platform_message_id=platform_message_id,
            )
            .returning(OutboxRowModel.id)
        )
        if marked.first() is None:
            raise ports.NotFound(f"outbox row {row_id}")

    async def mark_unsure(self, row_id: int, error: str) -> None:
        row = await self._row(row_id)
        row.attempts += 1
        row.state, row.sent_at, row.last_error, row.locked_until = UNSURE, _now(), error, None
        await self.s.flush()

    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None:
        row = await self._row(row_id)
        row.attempts += 1
        row.failures += 1 if failed else 0
        row.next_attempt_at, row.last_error, row.locked_until = at, error, None
        await self.s.flush()

    async def give_up(self, row_id: int, error: str) -> None:
        row = await self._row(row_id)
        row.attempts += 1
        row.state, row.last_error, row.locked_until = FAILED, error, None
        await self.s.flush()

    async def pending_count(self) -> int:
        count = await self.s.scalar(select(func.count()).where(OutboxRowModel.state == PENDING))
        return int(count or 0)

    async def unsent_photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        # payload->>'photo' on PostgreSQL, json_extract(payload, '$.photo') on SQLite.
        photo = OutboxRowModel.payload["photo"].as_string()
        found: set[str] = set()
        for chunk in _chunks(candidates):
            stmt = select(photo).where(OutboxRowModel.state == PENDING, photo.in_(chunk))
            found.update(key for key in await self.s.scalars(stmt) if key is not None)
        return found

    async def purge_settled(self, before: datetime) -> int:
        o = OutboxRowModel
        # A row settles within its backoff of being written, so its age is near enough to
        # how long ago it was settled, and the (state, created_at) index answers it.
        purged = await self.s.execute(delete(o).where(o.state != PENDING, o.created_at < before))
        return _deleted(purged)

    async def forget_chat(self, platform: str, chat_id: str) -> int:
        o = OutboxRowModel
        forgotten = await self.s.execute(
            delete(o).where(o.platform == platform, o.chat_id == chat_id)
        )
        return _deleted(forgotten)


def _state(row: Row[Any] | None) -> ConversationState:
    """The state from a row with ``flow``, ``step`` and ``data`` (an outer join's row may
    have all three None: the user has no state yet)."""
    if row is None or row.data is None:
        return ConversationState()
    return ConversationState(flow=row.flow, step=row.step, data=dict(row.data))


@functools.cache
def _state_of() -> Executable:
    c = _table(ConversationRow).c
    return select(c.flow, c.step, c.data).where(
        c.platform == bindparam("platform"), c.user_id == bindparam("user_id")
    )


@functools.cache
def _state_upsert(postgres: bool) -> Executable:
    table = _table(ConversationRow)
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    changed: dict[str, Any] = {
        name: bindparam(name) for name in ("flow", "step", "data", "updated_at")
    }
    return insert.values(
        platform=bindparam("platform"), user_id=bindparam("user_id"), **changed
    ).on_conflict_do_update(index_elements=["platform", "user_id"], set_=changed)


def _stale_states(
    cutoff: datetime, keep: Collection[str], only: Collection[str] | None
) -> list[ColumnElement[bool]]:
    stale = [
        ConversationRow.flow.is_not(None),
        ConversationRow.flow.not_in(list(keep)),
        ConversationRow.updated_at < cutoff,
    ]
    if only is not None:
        stale.append(ConversationRow.flow.in_(list(only)))
    return stale


class SqlConversationRepository(_Repo, ports.BaseConversationRepository):
    async def stale(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
    ) -> list[tuple[str, str]]:
        found = await self.s.execute(
            select(ConversationRow.platform, ConversationRow.user_id)
            .where(*_stale_states(cutoff, keep, only))
            .order_by(ConversationRow.platform, ConversationRow.user_id)
        )
        return [(platform, user_id) for platform, user_id in found.all()]

    async def load(self, platform: str, user_id: str) -> ConversationState:
        found = await self.s.execute(_state_of(), {"platform": platform, "user_id": user_id})
        return _state(found.first())

    async def save(
        self, platform: str, user_id: str, state: ConversationState, *, at: datetime
    ) -> None:
        values = {"flow": state.flow, "step": state.step, "data": state.data, "updated_at": at}
        await self.s.execute(
            _state_upsert(self._postgres), {"platform": platform, "user_id": user_id, **values}
        )

    async def expire_before(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
        users: Collection[tuple[str, str]] | None = None,
    ) -> list[ports.ExpiredState]:
        stale = _stale_states(cutoff, keep, only)
        if users is not None:
            key = tuple_(ConversationRow.platform, ConversationRow.user_id)
            stale.append(key.in_(list(users)))
        # Locked and skipped by a concurrent twin (a second bot process), which then sees
        # them without a flow: each user is told once. RETURNING would give the new flow.
        found = await self.s.execute(
            select(
                ConversationRow.platform,
                ConversationRow.user_id,
                ConversationRow.flow,
                ConversationRow.data,
            )
            .where(*stale)
            .order_by(ConversationRow.platform, ConversationRow.user_id)
            .with_for_update(skip_locked=True)
        )
        states = [
            ports.ExpiredState(platform, user_id, flow, data or {})
            for platform, user_id, flow, data in found.all()
            if flow
        ]
        if not states:
            return []
        # The time stays: it is when the user last did something.
        await self.s.execute(
            update(ConversationRow)
            .where(
                tuple_(ConversationRow.platform, ConversationRow.user_id).in_(
                    [(e.platform, e.user_id) for e in states]
                )
            )
            .values(flow=None, step=None, data={})
            .execution_options(synchronize_session=False)
        )
        return states

    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        # Flows keep keys at places of their choosing, so every string of every state is
        # looked at; there is one row per user and a cleared state is an empty object.
        wanted = set(candidates)
        found: set[str] = set()
        if not wanted:
            return found
        stmt = select(ConversationRow.data).execution_options(yield_per=500)
        async for data in await self.s.stream_scalars(stmt):
            found.update(wanted.intersection(_strings(data)))
        return found


@functools.cache
def _update_mark(postgres: bool) -> Executable:
    # DO NOTHING instead of catching the unique violation: on PostgreSQL that error
    # would abort the whole transaction. A concurrent twin waits here for the first.
    table = _table(ProcessedUpdateRow)
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    return (
        insert.values(
            platform=bindparam("platform"), update_id=bindparam("update_id"), at=bindparam("at")
        )
        .on_conflict_do_nothing()
        .returning(table.c.update_id)
    )


class SqlUpdateRepository(_Repo, ports.BaseUpdateRepository):
    async def seen(self, platform: str, update_id: str) -> bool:
        return await self.s.get(ProcessedUpdateRow, (platform, update_id)) is not None

    async def mark(self, platform: str, update_id: str, at: datetime | None = None) -> None:
        params = {"platform": platform, "update_id": update_id, "at": at or _now()}
        inserted = await self.s.execute(_update_mark(self._postgres), params)
        if inserted.first() is None:
            raise ports.DuplicateUpdate(f"{platform} update {update_id}")

    async def highest(self, platform: str) -> int | None:
        # Stored as text (other platforms' ids need not be numbers): compare as numbers.
        return await self.s.scalar(
            select(func.max(cast(ProcessedUpdateRow.update_id, BigInteger))).where(
                ProcessedUpdateRow.platform == platform
            )
        )

    async def forget_before(self, at: datetime) -> int:
        gone = await self.s.scalars(
            delete(ProcessedUpdateRow)
            .where(ProcessedUpdateRow.at < at)
            .returning(ProcessedUpdateRow.update_id)
        )
        return len(gone.all())


class SqlGroupNoticeRepository(_Repo, ports.BaseGroupNoticeRepository):
    async def first(self, platform: str, chat_id: str, at: datetime) -> bool:
        # DO NOTHING, like marking an update: a unique violation would abort the
        # transaction on PostgreSQL, and the loser of a race must simply say nothing.
        inserted = await self.s.scalars(
            self._insert(GroupNoticeRow)
            .values(platform=platform, chat_id=chat_id, at=at)
            .on_conflict_do_nothing()
            .returning(GroupNoticeRow.chat_id)
        )
        return inserted.first() is not None


# -- invites and escalations ---------------------------------------------------------------


def _invite(row: InviteRow) -> Invite:
    return Invite(
        token=row.token,
        role=RoleName(row.role),
        region_id=row.region_id,
        expires_at=row.expires_at,
        created_by=row.created_by,
        used_by=row.used_by,
        used_at=row.used_at,
    )


class SqlInviteRepository(_Repo, ports.BaseInviteRepository):
    async def create(
        self,
        *,
        token: str,
        role: RoleName,
        region_id: int,
        expires_at: datetime,
        created_by: int | None = None,
    ) -> Invite:
        row = InviteRow(
            token=token,
            role=role.value,
            region_id=region_id,
            expires_at=expires_at,
            created_by=created_by,
        )
        self.s.add(row)
        await self.s.flush()
        return _invite(row)

    async def redeem(self, token: str, account_id: int, now: datetime) -> Invite:
        # One conditional UPDATE: two people tapping one link at once cannot both win.
        used = await self.s.scalars(
            update(InviteRow)
            .where(
                InviteRow.token == token, InviteRow.used_at.is_(None), InviteRow.expires_at > now
            )
            .values(used_by=account_id, used_at=now)
            .returning(InviteRow.token)
            .execution_options(synchronize_session=False)
        )
        if used.first() is not None:
            row = await self.s.get(InviteRow, token, populate_existing=True)
            assert row is not None
            return _invite(row)
        row = await self.s.get(InviteRow, token, populate_existing=True)
        if row is None:
            raise ports.InviteRefused(ports.InviteProblem.UNKNOWN)
        if row.used_at is not None:
            raise ports.InviteRefused(ports.InviteProblem.USED)
        raise ports.InviteRefused(ports.InviteProblem.EXPIRED)


class SqlEscalationRepository(_ReportReader, ports.BaseEscalationRepository):
    async def record(
        self, report_id: int, kind: EscalationKind, level: int, *, due_at: datetime, at: datetime
    ) -> bool:
        inserted = await self.s.scalars(
            self._insert(EscalationRow)
            .values(report_id=report_id, kind=kind.value, level=level, due_at=due_at, at=at)
            .on_conflict_do_nothing()
            .returning(EscalationRow.level)
        )
        return inserted.first() is not None

    async def lock_case(self, report_id: int) -> Report | None:
        stmt = select(ReportRow).where(ReportRow.id == report_id)
        # SQLite has no row locks; its single writer serialises the sweepers instead.
        return await self._one(stmt.with_for_update() if self._postgres else stmt)

    async def done(self, report_id: int, kind: EscalationKind, *, due_at: datetime) -> set[int]:
        levels = await self.s.scalars(
            select(EscalationRow.level).where(
                EscalationRow.report_id == report_id,
                EscalationRow.kind == kind.value,
                EscalationRow.due_at == due_at,
            )
        )
        return set(levels)

    async def due_for_ack(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        waiting = ReportRow.status == ReportStatus.DISPATCHED.value
        deadline = ReportRow.ack_due_at
        return await self._due(waiting, EscalationKind.ACK, deadline, now, levels, limit)

    async def due_for_resolve(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        unresolved = [ReportStatus.DISPATCHED.value, ReportStatus.ACCEPTED.value]
        waiting = ReportRow.status.in_(unresolved)
        deadline = ReportRow.resolve_due_at
        return await self._due(waiting, EscalationKind.RESOLVE, deadline, now, levels, limit)

    async def _due(
        self,
        waiting: Any,
        kind: EscalationKind,
        deadline: Any,
        now: datetime,
        levels: Mapping[int, timedelta],
        limit: int,
    ) -> list[Report]:
        if not levels:
            return []
        # A level is pending when its time has come and no row records it for the current
        # deadline; the delay moves to the parameter side, so no interval arithmetic in SQL.
        pending = [
            and_(deadline <= now - delay, ~self._recorded(kind, level, deadline))
            for level, delay in sorted(levels.items())
        ]
        stmt = (
            select(ReportRow)
            .where(waiting, or_(*pending))
            .order_by(deadline, ReportRow.id)
            .limit(limit)
        )
        return await self._reports(self._locked(stmt, ReportRow))

    @staticmethod
    def _recorded(kind: EscalationKind, level: int, deadline: Any) -> Any:
        return (
            select(EscalationRow.level)
            .where(
                EscalationRow.report_id == ReportRow.id,
                EscalationRow.kind == kind.value,
                EscalationRow.level == level,
                EscalationRow.due_at == deadline,
            )
            .exists()
        )
