"""SQLAlchemy tables. Rows never leave ``storage``; repositories map them to domain dataclasses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so migrations can drop and alter them by name on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite's INTEGER PRIMARY KEY autoincrements only when the type is exactly INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on both backends.

    SQLite keeps no offset, so values are stored as naive UTC text; comparing them as
    text is then correct because every value has the same offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to storage; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every datetime column is UTC-aware; dict columns are JSON on both backends.
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class MapVersionRow(Base):
    __tablename__ = "map_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    imported_at: Mapped[datetime]
    unit_count: Mapped[int]
    replaced: Mapped[bool] = mapped_column(Boolean)


class RegionRow(Base):
    __tablename__ = "regions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    # GeoJSON text: the same on SQLite and PostgreSQL; routing happens in memory (shapely).
    geometry: Mapped[str] = mapped_column(Text)
    crs: Mapped[str] = mapped_column(String(8))
    map_version: Mapped[int] = mapped_column(ForeignKey("map_versions.version"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(16))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    phone: Mapped[str | None] = mapped_column(String(32))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None]


class RoleGrantRow(Base):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("account_id", "role", "region_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    role: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)


class InformantRow(Base):
    __tablename__ = "informants"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    real_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32))
    company: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)
    home_region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


class PointsLedgerRow(Base):
    __tablename__ = "points_ledger"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    at: Mapped[datetime]
    # Added in 0010: the one ledger also holds service hours, and remembers where.
    task_id: Mapped[int | None] = mapped_column(ForeignKey("service_tasks.id"))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


class ReportCounterRow(Base):
    """Last number handed out per day; incremented in the inserting transaction."""

    __tablename__ = "report_counters"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int]


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_lat_lon", "lat", "lon"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    category_code: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    ack_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    version: Mapped[int] = mapped_column(Integer, default=0)


class ReportPhotoRow(Base):
    __tablename__ = "report_photos"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str] = mapped_column(String(32), index=True)
    width: Mapped[int]
    height: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))


class SubscriptionRow(Base):
    __tablename__ = "report_subscriptions"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)


class AuditRow(Base):
    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("report_id", "seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    seq: Mapped[int]
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]


class OutboxRowModel(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_chat", "state", "platform", "chat_id", "id"),
        Index("ix_outbox_state_created", "state", "created_at"),  # the retention purge
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(8))  # pending, sent, unsure, failed
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(128))  # the instance holding the lease
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)


class ConversationRow(Base):
    __tablename__ = "conversations"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    # Last save; a state with a flow saved before GRIDSNAP_DRAFT_HOURS ago is cleared.
    updated_at: Mapped[datetime] = mapped_column(index=True)


class ProcessedUpdateRow(Base):
    __tablename__ = "processed_updates"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)


class GroupNoticeRow(Base):
    """A group chat that was told, once, to talk to the bot privately."""

    __tablename__ = "group_notices"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class InboxRowModel(Base):
    """A received update, stored before it is confirmed to the platform (see bot.inbox)."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "update_id"),
        Index("ix_inbox_state_user", "state", "user_key", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # arrival order
    platform: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[str] = mapped_column(String(64))
    user_key: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(8))  # new, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    leased_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(128))  # the instance handling it
    last_error: Mapped[str | None] = mapped_column(Text)


class InstanceRow(Base):
    """A running bot process and its last heartbeat (see bot.instances)."""

    __tablename__ = "instances"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class InviteRow(Base):
    __tablename__ = "invites"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"))
    expires_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    used_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    used_at: Mapped[datetime | None]


class EscalationRow(Base):
    """One escalation step taken. Keyed by the deadline it was for, so a case whose clock
    restarts (reopened, transferred, re-dispatched) climbs the ladder again."""

    __tablename__ = "escalations"
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_at: Mapped[datetime] = mapped_column(primary_key=True)
    at: Mapped[datetime]


class PartyDeclarationRow(Base):
    """A rider's party membership declaration (sensitive: see ``bot.domain.party``)."""

    __tablename__ = "party_declarations"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    standing: Mapped[str] = mapped_column(String(16))
    organisation: Mapped[str] = mapped_column(String(200))
    year_joined: Mapped[int] = mapped_column(Integer)
    community_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    consent_version: Mapped[str] = mapped_column(String(32))
    consented_at: Mapped[datetime]
    submitted_at: Mapped[datetime]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    question: Mapped[str] = mapped_column(Text, default="")
    show_badge: Mapped[bool] = mapped_column(Boolean, default=False)


# -- volunteer service (双报到), added in 0010 ------------------------------------------------


class VolunteerRow(Base):
    __tablename__ = "volunteers"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    # Comma-separated enum values: small fixed vocabularies, read whole, never queried by part.
    skills: Mapped[str] = mapped_column(String(200))
    services: Mapped[str] = mapped_column(String(100))
    slots: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


class ServiceTaskRow(Base):
    __tablename__ = "service_tasks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    slots: Mapped[int]
    skills: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]


class TaskSignupRow(Base):
    __tablename__ = "task_signups"
    __table_args__ = (UniqueConstraint("task_id", "account_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("service_tasks.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    signed_up_at: Mapped[datetime]
    checked_in_at: Mapped[datetime | None]
    checkin_distance_m: Mapped[float | None] = mapped_column(Float)
    hours: Mapped[float | None] = mapped_column(Float)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    confirmed_at: Mapped[datetime | None]


class RankOptOutRow(Base):
    """Riders who asked to be left off the leaderboards."""

    __tablename__ = "rank_opt_outs"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)


class WeChatTokenRow(Base):
    """The Official Account's access_token, shared by every process (one row per appid).

    ``refreshing_until`` is the compare-and-set lock: a process sets it, in one UPDATE
    that only succeeds when no other process holds it, before asking WeChat for a token."""

    __tablename__ = "wechat_tokens"
    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str | None] = mapped_column(String(1024))
    expires_at: Mapped[datetime | None]
    refreshing_until: Mapped[datetime | None]


class WeChatMenuRow(Base):
    """The numbered options of the last message sent to a WeChat user, so a typed number
    answers it (WeChat has no inline buttons that survive in a chat)."""

    __tablename__ = "wechat_menus"
    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    options: Mapped[dict[str, Any]]
    sent_at: Mapped[datetime]
