"""In-memory implementation of the storage port, for unit tests of services and flows.

``FakeUnitOfWork`` behaves like the SQL one where services can tell: work is kept only on
``commit()``, versions are checked on save, update ids and invites are single use. The
storage contract tests in ``tests/storage_contract.py`` run against it to keep it honest.
Several units sharing one ``FakeStore`` see each other's committed data.
"""

from __future__ import annotations

import builtins
import copy
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from geopy.distance import geodesic

from bot.chat import Incoming, Outgoing
from bot.domain.model import (
    OPEN_STATUSES,
    Account,
    AuditEvent,
    Consent,
    ConversationState,
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
from bot.domain.party import CommunityCount, DeclarationStatus, PartyDeclaration, first_revision
from bot.domain.volunteer import ServiceTask, Signup, Volunteer
from bot.services import ports
from bot.services.volunteer_ports import PointsEntry
from tests.fake_volunteers import (
    FakePointsRepository,
    FakeTaskRepository,
    FakeVolunteerRepository,
)


@dataclass(slots=True)
class _Queued:
    id: int
    message: Outgoing
    created_at: datetime
    next_attempt_at: datetime | None = None
    locked_until: datetime | None = None
    locked_by: str | None = None
    attempts: int = 0
    failures: int = 0
    reply: bool = False
    state: str = "pending"
    platform_message_id: str | None = None
    last_error: str | None = None


@dataclass(slots=True)
class _Received:
    id: int
    platform: str
    update_id: str
    user_key: str | None
    payload: dict[str, object]
    received_at: datetime
    state: str = "new"
    attempts: int = 0
    leased_until: datetime | None = None
    leased_by: str | None = None
    last_error: str | None = None


@dataclass
class FakeData:
    last_ids: dict[str, int] = field(default_factory=dict)
    map_version: int = 0
    regions: dict[int, RegionNode] = field(default_factory=dict)
    units: dict[int, MapUnit] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)
    accounts: dict[int, Account] = field(default_factory=dict)
    grants: dict[int, RoleGrant] = field(default_factory=dict)
    informants: dict[int, InformantProfile] = field(default_factory=dict)
    ledger: list[PointsEntry] = field(default_factory=list)
    volunteers: dict[int, Volunteer] = field(default_factory=dict)
    tasks: dict[int, ServiceTask] = field(default_factory=dict)
    signups: dict[int, Signup] = field(default_factory=dict)
    hidden_from_rank: set[int] = field(default_factory=set)
    reports: dict[int, Report] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    subscriptions: set[tuple[int, int]] = field(default_factory=set)
    audit: list[AuditEvent] = field(default_factory=list)
    outbox: dict[int, _Queued] = field(default_factory=dict)
    conversations: dict[tuple[str, str], ConversationState] = field(default_factory=dict)
    conversations_saved_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    updates: dict[tuple[str, str], datetime] = field(default_factory=dict)
    group_notices: dict[tuple[str, str], datetime] = field(default_factory=dict)
    inbox: dict[int, _Received] = field(default_factory=dict)
    instances: dict[str, datetime] = field(default_factory=dict)  # id -> last heartbeat
    invites: dict[str, Invite] = field(default_factory=dict)
    escalations: dict[tuple[int, str, int, datetime], datetime] = field(default_factory=dict)
    party: dict[int, PartyDeclaration] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


@dataclass
class FakeStore:
    """The committed state, shared by every unit created on it."""

    data: FakeData = field(default_factory=FakeData)


def _lease_free(
    d: FakeData,
    until: datetime | None,
    by: str | None,
    now: datetime,
    alive_since: datetime | None,
) -> bool:
    """As storage.leases: free when never leased, run out, or its holder stopped beating."""
    if until is None or until <= now:
        return True
    if alive_since is None or by is None:
        return False
    seen = d.instances.get(by)
    return seen is None or seen < alive_since


class _FakeRepo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def d(self) -> FakeData:
        return self._uow.work


class FakeRegionRepository(_FakeRepo, ports.BaseRegionRepository):
    async def replace_map(self, units: list[MapUnit], *, replace: bool) -> int:
        self.d.map_version += 1
        version = self.d.map_version
        by_code = {n.code: n for n in self.d.regions.values()}
        for unit in sorted(units, key=lambda u: u.level.depth):
            parent = by_code.get(unit.parent_code) if unit.parent_code else None
            if unit.parent_code and parent is None:
                raise ValueError(f"unit {unit.code}: parent {unit.parent_code} is unknown")
            old = by_code.get(unit.code)
            node = RegionNode(
                id=old.id if old else self.d.next_id("regions"),
                code=unit.code,
                name=unit.name,
                level=unit.level,
                parent_id=parent.id if parent else None,
                map_version=version,
            )
            by_code[unit.code] = self.d.regions[node.id] = node
            self.d.units[node.id] = copy.deepcopy(unit)
            self.d.active.add(node.id)
        if replace:
            keep = {u.code for u in units}
            self.d.active -= {n.id for n in self.d.regions.values() if n.code not in keep}
        return version

    async def load_units(self) -> tuple[int, list[MapUnit]]:
        units = [copy.deepcopy(self.d.units[i]) for i in sorted(self.d.active)]
        return self.d.map_version, sorted(units, key=lambda u: u.level.depth)

    async def map_version(self) -> int:
        return self.d.map_version

    async def get(self, code: str) -> RegionNode | None:
        return next((n for n in self.d.regions.values() if n.code == code), None)

    async def get_by_id(self, region_id: int) -> RegionNode | None:
        return self.d.regions.get(region_id)

    async def ancestors(self, region_id: int) -> list[RegionNode]:
        chain: list[RegionNode] = []
        node = self.d.regions.get(region_id)
        while node is not None and len(chain) <= len(Level):
            chain.append(node)
            node = self.d.regions.get(node.parent_id) if node.parent_id else None
        return chain

    async def children(self, region_id: int) -> list[RegionNode]:
        found = [
            n for n in self.d.regions.values() if n.parent_id == region_id and n.id in self.d.active
        ]
        return sorted(found, key=lambda n: n.code)

    async def by_level(self, level: Level) -> list[RegionNode]:
        found = [n for n in self.d.regions.values() if n.level is level and n.id in self.d.active]
        return sorted(found, key=lambda n: n.code)


class FakeAccountRepository(_FakeRepo, ports.BaseAccountRepository):
    async def get_or_create(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        found = await self.find(platform, platform_user_id)
        if found is None:
            found = Account(
                id=self.d.next_id("accounts"),
                platform=platform,
                platform_user_id=platform_user_id,
                chat_id=chat_id,
                display_name=display_name,
                locale=locale,
            )
        found = replace(found, chat_id=chat_id, display_name=display_name)
        self.d.accounts[found.id] = found
        return found

    async def upsert_from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        found = await self.get_or_create(
            platform=platform,
            platform_user_id=platform_user_id,
            chat_id=chat_id,
            display_name="",
            locale=locale,
        )
        has_role = any(g.account_id == found.id for g in self.d.grants.values())
        has_basis = found.consent is not None or has_role or found.id in self.d.informants
        kept = display_name if has_basis else ""
        found = replace(found, display_name=kept)
        self.d.accounts[found.id] = found
        return found

    async def get(self, account_id: int) -> Account | None:
        return self.d.accounts.get(account_id)

    async def find(self, platform: str, platform_user_id: str) -> Account | None:
        return next(
            (
                a
                for a in self.d.accounts.values()
                if (a.platform, a.platform_user_id) == (platform, platform_user_id)
            ),
            None,
        )

    async def may_keep_data(self, platform: str, platform_user_id: str) -> bool:
        found = await self.find(platform, platform_user_id)
        if found is None:
            return False
        has_role = any(g.account_id == found.id for g in self.d.grants.values())
        return found.consent is not None or has_role or found.id in self.d.informants

    def _change(self, account_id: int, **changes: object) -> None:
        if account_id not in self.d.accounts:
            raise ports.NotFound(f"account {account_id}")
        self.d.accounts[account_id] = replace(self.d.accounts[account_id], **changes)  # type: ignore[arg-type]

    async def set_locale(self, account_id: int, locale: str) -> None:
        self._change(account_id, locale=locale)

    async def record_consent(self, account_id: int, version: str, at: datetime) -> None:
        self._change(account_id, consent=Consent(version=version, given_at=at))

    async def set_phone(self, account_id: int, phone: str | None) -> None:
        self._change(account_id, phone=phone)

    async def set_on_duty(self, account_id: int, on_duty: bool) -> None:
        self._change(account_id, on_duty=on_duty)

    async def delete_personal_data(self, account_id: int) -> None:
        account = self.d.accounts.get(account_id)
        if account is None:
            raise ports.NotFound(f"account {account_id}")
        self.d.conversations.pop((account.platform, account.platform_user_id), None)
        self.d.inbox = {
            k: r
            for k, r in self.d.inbox.items()
            if (r.platform, r.user_key) != (account.platform, account.platform_user_id)
            or r.state != "dead"
        }
        self.d.informants.pop(account_id, None)
        self.d.party.pop(account_id, None)
        self.d.volunteers.pop(account_id, None)
        self.d.signups = {k: s for k, s in self.d.signups.items() if s.account_id != account_id}
        self.d.hidden_from_rank.discard(account_id)
        self.d.ledger = [e for e in self.d.ledger if e.account_id != account_id]
        self.d.subscriptions = {s for s in self.d.subscriptions if s[1] != account_id}
        self.d.grants = {k: g for k, g in self.d.grants.items() if g.account_id != account_id}
        self._change(
            account_id,
            platform_user_id=f"deleted:{account_id}",
            chat_id="",
            display_name="",
            phone=None,
            consent=None,
            on_duty=False,
        )


class FakeRoleRepository(_FakeRepo, ports.BaseRoleRepository):
    async def grant(self, account_id: int, role: RoleName, region_id: int) -> RoleGrant:
        for g in self.d.grants.values():
            if (g.account_id, g.role, g.region_id) == (account_id, role, region_id):
                return g
        grant = RoleGrant(
            id=self.d.next_id("grants"),
            account_id=account_id,
            role=role,
            region_id=region_id,
            region_code=self.d.regions[region_id].code,
        )
        self.d.grants[grant.id] = grant
        return grant

    async def revoke(self, account_id: int, role: RoleName, region_id: int) -> bool:
        for key, g in list(self.d.grants.items()):
            if (g.account_id, g.role, g.region_id) == (account_id, role, region_id):
                del self.d.grants[key]
                return True
        return False

    async def for_account(self, account_id: int) -> list[RoleGrant]:
        return [g for _, g in sorted(self.d.grants.items()) if g.account_id == account_id]

    async def holders(self, role: RoleName, region_ids: Collection[int]) -> list[Account]:
        ids = {
            g.account_id
            for g in self.d.grants.values()
            if g.role is role and g.region_id in set(region_ids)
        }
        return [self.d.accounts[i] for i in sorted(ids)]

    async def list_all(self) -> list[RoleGrant]:
        return [g for _, g in sorted(self.d.grants.items())]


class FakeInformantRepository(_FakeRepo, ports.BaseInformantRepository):
    async def upsert(self, profile: InformantProfile) -> InformantProfile:
        self.d.informants[profile.account_id] = profile
        return profile

    async def get(self, account_id: int) -> InformantProfile | None:
        return self.d.informants.get(account_id)

    async def list(self, status: InformantStatus | None = None) -> builtins.list[InformantProfile]:
        found = [p for p in self.d.informants.values() if status is None or p.status is status]
        return sorted(found, key=lambda p: (p.created_at, p.account_id))

    def _profile(self, account_id: int) -> InformantProfile:
        if account_id not in self.d.informants:
            raise ports.NotFound(f"informant {account_id}")
        return self.d.informants[account_id]

    async def decide(
        self, account_id: int, status: InformantStatus, *, by: int, at: datetime
    ) -> InformantProfile:
        decided = replace(self._profile(account_id), status=status, decided_by=by, decided_at=at)
        self.d.informants[account_id] = decided
        return decided


class FakeReportRepository(_FakeRepo, ports.BaseReportRepository):
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
        day = created_at.strftime("%y%m%d")
        self.d.counters[day] = self.d.counters.get(day, 0) + 1
        report = Report(
            id=self.d.next_id("reports"),
            number=f"{day}-{self.d.counters[day]:04d}",
            reporter_id=reporter_id,
            category_code=category_code,
            status=status,
            location=location,
            grid_id=grid_id,
            note=note,
            created_at=created_at,
            updated_at=created_at,
            ack_due_at=ack_due_at,
            resolve_due_at=resolve_due_at,
            photos=photos,
        )
        self.d.reports[report.id] = report
        return report

    async def get(self, report_id: int) -> Report | None:
        return self.d.reports.get(report_id)

    async def by_number(self, number: str) -> Report | None:
        return next((r for r in self.d.reports.values() if r.number == number), None)

    async def for_reporter(self, account_id: int) -> list[Report]:
        mine = [r for r in self.d.reports.values() if r.reporter_id == account_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id), reverse=True)

    async def open_for_grids(self, grid_ids: Collection[int]) -> list[Report]:
        found = [
            r
            for r in self.d.reports.values()
            if r.grid_id in set(grid_ids) and r.status in OPEN_STATUSES
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

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
        measured = [
            (geodesic((lat, lon), (r.location.lat, r.location.lon)).meters, r.id, r)
            for r in self.d.reports.values()
            if r.created_at >= since
            and (category is None or r.category_code == category)
            and (not open_only or r.status in OPEN_STATUSES)
        ]
        return [r for m, _, r in sorted(measured, key=lambda x: x[:2]) if m <= radius_m]

    async def by_phash(self, phash: str, since: datetime) -> list[Report]:
        return [
            r
            for _, r in sorted(self.d.reports.items())
            if r.created_at >= since and any(p.phash == phash for p in r.photos)
        ]

    async def category_counts(self, since: datetime) -> dict[str, int]:
        recent = (r.category_code for r in self.d.reports.values() if r.created_at >= since)
        return dict(Counter(recent))

    async def save(self, report: Report, expected_version: int) -> Report:
        stored = self.d.reports.get(report.id)
        if stored is None or stored.version != expected_version:
            raise ports.ConcurrentUpdate(f"report {report.number} moved past {expected_version}")
        saved = replace(
            report, number=stored.number, photos=stored.photos, version=expected_version + 1
        )
        self.d.reports[report.id] = saved
        return saved

    async def add_photo(self, report_id: int, photo: ReportPhoto) -> None:
        stored = self.d.reports[report_id]
        self.d.reports[report_id] = replace(stored, photos=(*stored.photos, photo))

    async def subscribe(self, report_id: int, account_id: int) -> None:
        self.d.subscriptions.add((report_id, account_id))

    async def subscribers(self, report_id: int) -> list[Account]:
        ids = sorted(a for r, a in self.d.subscriptions if r == report_id)
        return [self.d.accounts[i] for i in ids]

    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        used = {p.sha256 for report in self.d.reports.values() for p in report.photos}
        return used.intersection(candidates)


class FakeAuditRepository(_FakeRepo, ports.BaseAuditRepository):
    async def append(self, event: AuditEvent) -> AuditEvent:
        seq = 1 + max((e.seq for e in self.d.audit if e.report_id == event.report_id), default=0)
        stored = replace(event, seq=seq, data=copy.deepcopy(event.data))
        self.d.audit.append(stored)
        return stored

    async def history(self, report_id: int) -> list[AuditEvent]:
        return sorted((e for e in self.d.audit if e.report_id == report_id), key=lambda e: e.seq)


class FakeOutboxRepository(_FakeRepo, ports.BaseOutboxRepository):
    async def add(
        self, outgoing: Outgoing, *, not_before: datetime | None = None, reply: bool = False
    ) -> int:
        row_id = self.d.next_id("outbox")
        # Through the dict form, as the SQL outbox does: a non-JSON payload fails here too.
        message = Outgoing.from_dict(copy.deepcopy(outgoing.to_dict()))
        self.d.outbox[row_id] = _Queued(
            id=row_id,
            message=message,
            created_at=datetime.now(UTC),
            next_attempt_at=not_before,
            reply=reply,
        )
        return row_id

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
        heads: dict[tuple[str, str], list[_Queued]] = {}
        blocked: set[tuple[str, str]] = set()
        for q in sorted(self.d.outbox.values(), key=lambda q: q.id):
            chat = (q.message.platform, q.message.chat_id)
            if q.state != "pending" or chat in blocked:
                continue
            ready = (q.next_attempt_at is None or q.next_attempt_at <= now) and _lease_free(
                self.d, q.locked_until, q.locked_by, now, alive_since
            )
            if not ready or len(heads.setdefault(chat, [])) >= per_chat:
                blocked.add(chat)
                continue
            heads[chat].append(q)
        due = sorted((q for rows in heads.values() for q in rows), key=lambda q: q.id)[:limit]
        for q in due:
            q.locked_until, q.locked_by = now + lease, owner
        return [
            ports.OutboxRow(
                id=q.id,
                message=q.message,
                attempts=q.attempts,
                created_at=q.created_at,
                reply=q.reply,
                failures=q.failures,
            )
            for q in due
        ]

    async def release_leases(self, owner: str, now: datetime) -> int:
        held = [
            q
            for q in self.d.outbox.values()
            if q.state == "pending" and q.locked_by == owner and q.locked_until is not None
            if q.locked_until > now
        ]
        for q in held:
            q.locked_until, q.locked_by = None, None
        return len(held)

    def _row(self, row_id: int) -> _Queued:
        if row_id not in self.d.outbox:
            raise ports.NotFound(f"outbox row {row_id}")
        return self.d.outbox[row_id]

    async def mark_sent(self, row_id: int, platform_message_id: str | None) -> None:
        row = self._row(row_id)
        row.state, row.platform_message_id, row.locked_until = "sent", platform_message_id, None

    async def mark_unsure(self, row_id: int, error: str) -> None:
        row = self._row(row_id)
        row.attempts += 1
        row.state, row.last_error, row.locked_until = "unsure", error, None

    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None:
        row = self._row(row_id)
        row.attempts += 1
        row.failures += 1 if failed else 0
        row.next_attempt_at, row.last_error, row.locked_until = at, error, None

    async def give_up(self, row_id: int, error: str) -> None:
        row = self._row(row_id)
        row.attempts += 1
        row.state, row.last_error, row.locked_until = "failed", error, None

    async def pending_count(self) -> int:
        return sum(1 for q in self.d.outbox.values() if q.state == "pending")

    async def unsent_photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        carried = {q.message.photo for q in self.d.outbox.values() if q.state == "pending"}
        return {key for key in carried if key is not None}.intersection(candidates)

    async def purge_settled(self, before: datetime) -> int:
        settled = [i for i, q in self.d.outbox.items() if q.state != "pending"]
        old = [i for i in settled if self.d.outbox[i].created_at < before]
        for row_id in old:
            del self.d.outbox[row_id]
        return len(old)

    async def forget_chat(self, platform: str, chat_id: str) -> int:
        chat = (platform, chat_id)
        rows = [
            i for i, q in self.d.outbox.items() if (q.message.platform, q.message.chat_id) == chat
        ]
        for row_id in rows:
            del self.d.outbox[row_id]
        return len(rows)

    def sent(self) -> list[Outgoing]:
        """Test helper: messages queued so far, in order, whatever their state."""
        return [q.message for _, q in sorted(self.d.outbox.items())]


class FakeConversationRepository(_FakeRepo, ports.BaseConversationRepository):
    async def load(self, platform: str, user_id: str) -> ConversationState:
        return copy.deepcopy(self.d.conversations.get((platform, user_id), ConversationState()))

    async def save(
        self, platform: str, user_id: str, state: ConversationState, *, at: datetime
    ) -> None:
        self.d.conversations[(platform, user_id)] = copy.deepcopy(state)
        self.d.conversations_saved_at[(platform, user_id)] = at

    async def expire_before(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
        users: Collection[tuple[str, str]] | None = None,
    ) -> list[ports.ExpiredState]:
        expired: list[ports.ExpiredState] = []
        for key in await self.stale(cutoff, keep=keep, only=only):
            if users is not None and key not in users:
                continue
            state = self.d.conversations[key]
            expired.append(ports.ExpiredState(*key, state.flow or "", copy.deepcopy(state.data)))
            state.clear()
        return expired

    async def stale(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
    ) -> list[tuple[str, str]]:
        found = []
        for key in sorted(self.d.conversations):
            state = self.d.conversations[key]
            stale = self.d.conversations_saved_at[key] < cutoff
            wanted = state.flow not in keep and (only is None or state.flow in only)
            if state.flow and wanted and stale:
                found.append(key)
        return found

    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        values: set[str] = set()
        for state in self.d.conversations.values():
            values.update(_string_values(state.data))
        return values.intersection(candidates)


def _string_values(value: object) -> set[str]:
    """String values nested anywhere in JSON-like data (object keys are not values)."""
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(_string_values(item) for item in items))


class FakeUpdateRepository(_FakeRepo, ports.BaseUpdateRepository):
    async def seen(self, platform: str, update_id: str) -> bool:
        return (platform, update_id) in self.d.updates

    async def mark(self, platform: str, update_id: str, at: datetime | None = None) -> None:
        if (platform, update_id) in self.d.updates:
            raise ports.DuplicateUpdate(f"{platform} update {update_id}")
        self.d.updates[(platform, update_id)] = at or datetime.now(UTC)

    async def highest(self, platform: str) -> int | None:
        return max((int(u) for p, u in self.d.updates if p == platform), default=None)

    async def forget_before(self, at: datetime) -> int:
        old = [k for k, when in self.d.updates.items() if when < at]
        for key in old:
            del self.d.updates[key]
        return len(old)


class FakeGroupNoticeRepository(_FakeRepo, ports.BaseGroupNoticeRepository):
    async def first(self, platform: str, chat_id: str, at: datetime) -> bool:
        if (platform, chat_id) in self.d.group_notices:
            return False
        self.d.group_notices[(platform, chat_id)] = at
        return True


class FakeInboxRepository(_FakeRepo, ports.BaseInboxRepository):
    def _item(self, row: _Received) -> ports.InboxItem:
        return ports.InboxItem(
            id=row.id,
            platform=row.platform,
            update_id=row.update_id,
            payload=copy.deepcopy(row.payload),
            attempts=row.attempts,
        )

    async def add(self, platform: str, updates: Collection[ports.Received], *, at: datetime) -> int:
        known = {(r.platform, r.update_id) for r in self.d.inbox.values()}
        added = 0
        for u in updates:
            if (platform, u.update_id) in known:
                continue
            known.add((platform, u.update_id))
            row_id = self.d.next_id("inbox")
            payload = copy.deepcopy(dict(u.payload))
            self.d.inbox[row_id] = _Received(
                row_id, platform, u.update_id, u.user_key, payload, received_at=at
            )
            added += 1
        return added

    async def claim(
        self,
        limit: int,
        now: datetime,
        *,
        lease: timedelta,
        owner: str | None = None,
        alive_since: datetime | None = None,
    ) -> list[ports.InboxItem]:
        waiting = sorted((r for r in self.d.inbox.values() if r.state == "new"), key=lambda r: r.id)
        users_before: set[tuple[str, str]] = set()
        claimed: list[ports.InboxItem] = []
        for row in waiting:
            user = (row.platform, row.user_key) if row.user_key is not None else None
            held_back = user is not None and user in users_before
            if user is not None:
                users_before.add(user)
            free = _lease_free(self.d, row.leased_until, row.leased_by, now, alive_since)
            if held_back or not free or len(claimed) >= limit:
                continue
            row.leased_until, row.leased_by = now + lease, owner
            row.attempts += 1
            claimed.append(self._item(row))
        return claimed

    async def renew(self, ids: Collection[int], until: datetime) -> None:
        for row_id in ids:
            row = self.d.inbox.get(row_id)
            if row is not None and row.state == "new":
                row.leased_until = until

    async def done(self, ids: Collection[int]) -> None:
        for row_id in ids:
            self.d.inbox.pop(row_id, None)

    async def retry_later(self, item_id: int, at: datetime, error: str) -> None:
        row = self.d.inbox[item_id]
        row.leased_until, row.leased_by, row.last_error = at, None, error

    async def give_up(self, item_id: int, error: str) -> None:
        row = self.d.inbox[item_id]
        row.state, row.leased_until, row.last_error = "dead", None, error

    async def release_leases(self) -> int:
        leased = [r for r in self.d.inbox.values() if r.state == "new" and r.leased_until]
        for row in leased:
            row.leased_until = None
        return len(leased)

    async def backlog(self) -> int:
        return sum(1 for r in self.d.inbox.values() if r.state == "new")

    async def highest(self, platform: str) -> int | None:
        ids = [int(r.update_id) for r in self.d.inbox.values() if r.platform == platform]
        return max(ids, default=None)

    async def dead(self) -> list[tuple[ports.InboxItem, str]]:
        rows = sorted((r for r in self.d.inbox.values() if r.state == "dead"), key=lambda r: r.id)
        return [(self._item(r), r.last_error or "") for r in rows]

    async def forget_dead_before(self, at: datetime) -> int:
        old = [k for k, r in self.d.inbox.items() if r.state == "dead" and r.received_at < at]
        for key in old:
            del self.d.inbox[key]
        return len(old)


class FakeInstanceRepository(_FakeRepo, ports.BaseInstanceRepository):
    async def beat(self, instance: ports.Instance, now: datetime) -> None:
        self.d.instances[instance.id] = now

    async def live(self, since: datetime) -> int:
        return sum(1 for seen in self.d.instances.values() if seen >= since)

    async def leave(self, instance_id: str) -> None:
        self.d.instances.pop(instance_id, None)

    async def forget_before(self, at: datetime) -> int:
        gone = [i for i, seen in self.d.instances.items() if seen < at]
        for instance_id in gone:
            del self.d.instances[instance_id]
        return len(gone)


class FakeInviteRepository(_FakeRepo, ports.BaseInviteRepository):
    async def create(
        self,
        *,
        token: str,
        role: RoleName,
        region_id: int,
        expires_at: datetime,
        created_by: int | None = None,
    ) -> Invite:
        if token in self.d.invites:
            raise ValueError(f"invite token {token} exists")
        invite = Invite(
            token=token,
            role=role,
            region_id=region_id,
            expires_at=expires_at,
            created_by=created_by,
        )
        self.d.invites[token] = invite
        return invite

    async def redeem(self, token: str, account_id: int, now: datetime) -> Invite:
        invite = self.d.invites.get(token)
        if invite is None:
            raise ports.InviteRefused(ports.InviteProblem.UNKNOWN)
        if invite.used_at is not None:
            raise ports.InviteRefused(ports.InviteProblem.USED)
        if invite.expires_at <= now:
            raise ports.InviteRefused(ports.InviteProblem.EXPIRED)
        used = replace(invite, used_by=account_id, used_at=now)
        self.d.invites[token] = used
        return used


class FakeEscalationRepository(_FakeRepo, ports.BaseEscalationRepository):
    async def record(
        self, report_id: int, kind: EscalationKind, level: int, *, due_at: datetime, at: datetime
    ) -> bool:
        key = (report_id, kind.value, level, due_at)
        if key in self.d.escalations:
            return False
        self.d.escalations[key] = at
        return True

    async def lock_case(self, report_id: int) -> Report | None:
        return self.d.reports.get(report_id)

    async def done(self, report_id: int, kind: EscalationKind, *, due_at: datetime) -> set[int]:
        return {
            lv
            for r, k, lv, due in self.d.escalations
            if (r, k, due) == (report_id, kind.value, due_at)
        }

    async def due_for_ack(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        waiting = {ReportStatus.DISPATCHED}
        return self._due(now, EscalationKind.ACK, waiting, levels, limit)

    async def due_for_resolve(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        waiting = {ReportStatus.DISPATCHED, ReportStatus.ACCEPTED}
        return self._due(now, EscalationKind.RESOLVE, waiting, levels, limit)

    def _due(
        self,
        now: datetime,
        kind: EscalationKind,
        waiting: set[ReportStatus],
        levels: Mapping[int, timedelta],
        limit: int,
    ) -> list[Report]:
        found: list[tuple[datetime, int, Report]] = []
        for report in self.d.reports.values():
            deadline = report.ack_due_at if kind is EscalationKind.ACK else report.resolve_due_at
            if report.status not in waiting or deadline is None:
                continue
            pending = any(
                deadline + delay <= now
                and (report.id, kind.value, level, deadline) not in self.d.escalations
                for level, delay in levels.items()
            )
            if pending:
                found.append((deadline, report.id, report))
        return [r for _, _, r in sorted(found, key=lambda f: f[:2])[:limit]]


class FakePartyRepository(_FakeRepo, ports.BasePartyRepository):
    def _declaration(self, account_id: int) -> PartyDeclaration:
        if account_id not in self.d.party:
            raise ports.NotFound(f"party declaration of account {account_id}")
        return self.d.party[account_id]

    async def submit(self, declaration: PartyDeclaration) -> PartyDeclaration:
        old = self.d.party.get(declaration.account_id)
        stored = replace(declaration, revision=old.revision + 1 if old else first_revision())
        self.d.party[declaration.account_id] = stored
        return stored

    async def get(self, account_id: int) -> PartyDeclaration | None:
        return self.d.party.get(account_id)

    async def decide(
        self,
        account_id: int,
        status: DeclarationStatus,
        *,
        revision: int,
        by: int,
        at: datetime,
        question: str = "",
    ) -> PartyDeclaration:
        old = self._declaration(account_id)
        if old.revision != revision or old.status is not DeclarationStatus.PENDING:
            raise ports.ConcurrentUpdate(f"party declaration of account {account_id}")
        badge = old.show_badge and status is DeclarationStatus.VERIFIED
        decided = replace(
            old, status=status, decided_by=by, decided_at=at, question=question, show_badge=badge
        )
        self.d.party[account_id] = decided
        return decided

    async def set_badge(self, account_id: int, show: bool) -> None:
        self.d.party[account_id] = replace(self._declaration(account_id), show_badge=show)

    async def withdraw(self, account_id: int) -> bool:
        return self.d.party.pop(account_id, None) is not None

    async def for_communities(
        self, community_ids: Collection[int], status: DeclarationStatus | None = None
    ) -> list[PartyDeclaration]:
        found = [
            d
            for d in self.d.party.values()
            if d.community_id in set(community_ids) and (status is None or d.status is status)
        ]
        return sorted(found, key=lambda d: (d.submitted_at, d.account_id))

    async def counts(self) -> list[CommunityCount]:
        stored = self.d.party.values()
        declared: Counter[int] = Counter(d.community_id for d in stored)
        verified: Counter[int] = Counter(d.community_id for d in stored if d.verified)
        return [
            CommunityCount(community_id=c, declared=declared[c], verified=verified[c])
            for c in sorted(declared)
        ]


class FakeUnitOfWork(ports.BaseUnitOfWork):
    """Each ``async with`` works on a private copy of the store; commit publishes it."""

    def __init__(self, *, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.work = self.store.data
        self.commits = 0
        self.regions = FakeRegionRepository(self)
        self.accounts = FakeAccountRepository(self)
        self.roles = FakeRoleRepository(self)
        self.informants = FakeInformantRepository(self)
        self.reports = FakeReportRepository(self)
        self.audit = FakeAuditRepository(self)
        self.outbox: FakeOutboxRepository = FakeOutboxRepository(self)
        self.conversations = FakeConversationRepository(self)
        self.updates = FakeUpdateRepository(self)
        self.group_notices = FakeGroupNoticeRepository(self)
        self.inbox = FakeInboxRepository(self)
        self.instances = FakeInstanceRepository(self)
        self.invites = FakeInviteRepository(self)
        self.escalations = FakeEscalationRepository(self)
        self.party = FakePartyRepository(self)
        self.volunteers = FakeVolunteerRepository(self)
        self.tasks = FakeTaskRepository(self)
        self.points = FakePointsRepository(self)

    async def _begin(self) -> None:
        self.work = copy.deepcopy(self.store.data)

    async def _end(self) -> None:
        # Outside a unit, reads see the committed state (handy for assertions).
        self.work = self.store.data

    async def commit(self) -> None:
        self.store.data = copy.deepcopy(self.work)
        self.commits += 1

    async def rollback(self) -> None:
        self.work = copy.deepcopy(self.store.data)


def every_try(
    handle: Callable[[Incoming], Awaitable[object]],
) -> Callable[..., Awaitable[None]]:
    """An inbox handler from a plain ``handle(incoming)``: it does not care which try it is
    (``last_try``), and raises as the dispatcher does when it fails before the last one."""

    async def on_incoming(incoming: Incoming, *, last_try: bool) -> None:
        await handle(incoming)

    return on_incoming
