"""The storage port: what the core needs from a database, in terms of domain dataclasses.

``storage.uow.SqlUnitOfWork`` implements it on SQLAlchemy; ``tests.fakes.FakeUnitOfWork``
in memory. A unit of work is one transaction: everything done inside ``async with uow:``
is kept only if ``commit()`` is called, so one incoming update changes state, writes its
audit event, queues its outbox rows and records its update id together or not at all.
"""

from __future__ import annotations

import builtins
import enum
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Self

from bot.chat import Outgoing
from bot.domain.model import (
    Account,
    AuditEvent,
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
from bot.domain.party import CommunityCount, DeclarationStatus, PartyDeclaration

if TYPE_CHECKING:
    from bot.services.volunteer_ports import (
        BasePointsRepository,
        BaseTaskRepository,
        BaseVolunteerRepository,
    )


class StorageError(Exception):
    """Base of the errors the port promises; callers never see driver exceptions for these."""


class NotFound(StorageError):
    """The row a mutation names does not exist."""


class ConcurrentUpdate(StorageError):
    """The row changed since it was read (two workers pressed Accept at once; one won)."""


class DuplicateUpdate(StorageError):
    """This platform update id was already processed; the unit must be rolled back."""


class InviteProblem(enum.StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InviteRefused(StorageError):
    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One queued message, claimed by the sender."""

    id: int
    message: Outgoing
    attempts: int
    created_at: datetime
    # Written by the person's own update into their own chat: sent without pacing.
    reply: bool = False
    # Tries that failed (not rate-limit waits, not an unreachable platform).
    failures: int = 0


@dataclass(frozen=True, slots=True)
class ExpiredState:
    """A conversation state cleared for its age, as it was before clearing."""

    platform: str
    user_id: str
    flow: str
    data: Mapping[str, object]


class BaseRegionRepository(ABC):
    @abstractmethod
    async def replace_map(self, units: list[MapUnit], *, replace: bool) -> int:
        """Store ``units`` as a new map version and return that version.

        Units are matched by code, so ids (which roles and reports point at) survive a
        re-import. With ``replace`` the units missing from ``units`` are retired; without
        it they stay. Parents must be in ``units`` or already stored.
        """

    @abstractmethod
    async def load_units(self) -> tuple[int, list[MapUnit]]:
        """The current version and every active unit, parents before children."""

    @abstractmethod
    async def map_version(self) -> int:
        """0 before the first import."""

    @abstractmethod
    async def get(self, code: str) -> RegionNode | None: ...

    @abstractmethod
    async def get_by_id(self, region_id: int) -> RegionNode | None: ...

    @abstractmethod
    async def ancestors(self, region_id: int) -> list[RegionNode]:
        """The node itself first, then its parent, up to the city."""

    @abstractmethod
    async def children(self, region_id: int) -> list[RegionNode]: ...

    @abstractmethod
    async def by_level(self, level: Level) -> list[RegionNode]:
        """Every active unit of one level, in code order (no geometry loaded)."""


class BaseAccountRepository(ABC):
    @abstractmethod
    async def get_or_create(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        """Find the account; refresh its chat id and name, which change. Locale is kept."""

    @abstractmethod
    async def upsert_from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> Account:
        """The account of someone writing to the bot, created on first contact.

        The platform's display name is personal information nothing needs before there is a
        basis for it (PIPL Art. 6, 13): it is stored only for an account with a consent, an
        informant registration or a staff role (colleagues see who acted), and refreshed from
        then on; otherwise it is kept empty. The ids and the locale are what answering the
        chat needs. Locale, once stored, is kept.
        """

    @abstractmethod
    async def get(self, account_id: int) -> Account | None: ...

    @abstractmethod
    async def find(self, platform: str, platform_user_id: str) -> Account | None: ...

    @abstractmethod
    async def may_keep_data(self, platform: str, platform_user_id: str) -> bool:
        """True when the account has a consent, an informant registration or a staff role:
        the same basis ``upsert_from_chat`` asks for before it keeps a name. Without one,
        nothing the person sends (a photo) may be kept; no account at all is no basis."""

    @abstractmethod
    async def set_locale(self, account_id: int, locale: str) -> None: ...

    @abstractmethod
    async def record_consent(self, account_id: int, version: str, at: datetime) -> None: ...

    @abstractmethod
    async def set_phone(self, account_id: int, phone: str | None) -> None: ...

    @abstractmethod
    async def set_on_duty(self, account_id: int, on_duty: bool) -> None: ...

    @abstractmethod
    async def delete_personal_data(self, account_id: int) -> None:
        """PIPL Art. 47: erase name, phone, consent, informant details, party membership
        declaration, volunteer service, points, conversation, subscriptions and the updates
        of theirs the inbox kept as dead, and unlink the platform identity (a later /start is
        a new person). Reports stay as the city's case records.

        Waiting inbox rows stay: one person's updates are handled in order, so every earlier
        one is done; the waiting ones are the update being handled and what they sent after
        it, which is still to be answered (nothing accepted is dropped)."""


class BaseRoleRepository(ABC):
    @abstractmethod
    async def grant(self, account_id: int, role: RoleName, region_id: int) -> RoleGrant:
        """Idempotent: granting twice returns the existing grant."""

    @abstractmethod
    async def revoke(self, account_id: int, role: RoleName, region_id: int) -> bool:
        """True when a grant was removed."""

    @abstractmethod
    async def for_account(self, account_id: int) -> list[RoleGrant]: ...

    @abstractmethod
    async def holders(self, role: RoleName, region_ids: Collection[int]) -> list[Account]:
        """Accounts holding ``role`` on any of ``region_ids``, each once, by id."""

    @abstractmethod
    async def list_all(self) -> list[RoleGrant]: ...


class BaseInformantRepository(ABC):
    @abstractmethod
    async def upsert(self, profile: InformantProfile) -> InformantProfile:
        """Insert or overwrite the profile (points are the ledger's: ``uow.points``)."""

    @abstractmethod
    async def get(self, account_id: int) -> InformantProfile | None: ...

    @abstractmethod
    async def list(self, status: InformantStatus | None = None) -> builtins.list[InformantProfile]:
        """Oldest application first."""

    @abstractmethod
    async def decide(
        self, account_id: int, status: InformantStatus, *, by: int, at: datetime
    ) -> InformantProfile: ...


class BaseReportRepository(ABC):
    @abstractmethod
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
        """Insert and give the report its number ``YYMMDD-NNNN``.

        The day is ``created_at``'s own calendar day, so pass the city's local time;
        the sequence restarts daily and is allocated inside the transaction.
        """

    @abstractmethod
    async def get(self, report_id: int) -> Report | None: ...

    @abstractmethod
    async def by_number(self, number: str) -> Report | None: ...

    @abstractmethod
    async def for_reporter(self, account_id: int) -> list[Report]:
        """Newest first."""

    @abstractmethod
    async def open_for_grids(self, grid_ids: Collection[int]) -> list[Report]:
        """Open reports routed to any of ``grid_ids``, oldest first."""

    @abstractmethod
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
        """Reports within ``radius_m`` (geodesic, WGS-84) created since ``since``, nearest first."""

    @abstractmethod
    async def by_phash(self, phash: str, since: datetime) -> list[Report]:
        """Reports created since ``since`` with a photo of exactly this perceptual hash."""

    @abstractmethod
    async def category_counts(self, since: datetime) -> dict[str, int]:
        """How many reports of each category were created since ``since`` (city-wide);
        categories with none are absent."""

    @abstractmethod
    async def save(self, report: Report, expected_version: int) -> Report:
        """Write the report's mutable fields; raise ConcurrentUpdate if the stored version
        is no longer ``expected_version``. Returns the report with its new version."""

    @abstractmethod
    async def add_photo(self, report_id: int, photo: ReportPhoto) -> None: ...

    @abstractmethod
    async def subscribe(self, report_id: int, account_id: int) -> None:
        """Idempotent."""

    @abstractmethod
    async def subscribers(self, report_id: int) -> list[Account]: ...

    @abstractmethod
    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        """The keys among ``candidates`` that some report's photo (before or after) uses."""


class BaseAuditRepository(ABC):
    @abstractmethod
    async def append(self, event: AuditEvent) -> AuditEvent:
        """Store the event with the next ``seq`` of its report (the given seq is ignored)."""

    @abstractmethod
    async def history(self, report_id: int) -> list[AuditEvent]:
        """In order of seq."""


class BaseOutboxRepository(ABC):
    @abstractmethod
    async def add(
        self, outgoing: Outgoing, *, not_before: datetime | None = None, reply: bool = False
    ) -> int:
        """Queue a message; ``reply`` marks the answer to the person's own action (sent
        without the per-chat pacing, see ``bot.delivery``)."""

    async def add_all(self, messages: Sequence[tuple[Outgoing, bool]]) -> None:
        """Queue messages in this order, each with its ``reply`` flag (see ``add``); a
        store may write them in one go."""
        for outgoing, reply in messages:
            await self.add(outgoing, reply=reply)

    @abstractmethod
    async def claim(
        self,
        limit: int,
        now: datetime,
        *,
        lease: timedelta = timedelta(seconds=60),
        per_chat: int = 1,
        owner: str | None = None,
        alive_since: datetime | None = None,
    ) -> list[OutboxRow]:
        """Rows to send now, by id, at most ``per_chat`` per chat: the chat's earliest
        unsent rows, consecutively, stopping at the first that is not due or is leased.

        A later row waits while an earlier one of its chat is unsent and not claimed with
        it, so per-chat order holds. Claimed rows are leased to ``owner`` until
        ``now + lease``; a sender that dies leaves them to be claimed again after that,
        or, with ``alive_since``, as soon as ``owner`` has sent no heartbeat since then.
        Concurrent claimers never get the same row, nor rows of one chat split between
        them.
        """

    @abstractmethod
    async def release_leases(self, owner: str, now: datetime) -> int:
        """End the running leases ``owner`` holds (it restarted after dying mid-send);
        how many. Other owners' leases are untouched."""

    @abstractmethod
    async def mark_sent(self, row_id: int, platform_message_id: str | None) -> None: ...

    @abstractmethod
    async def mark_unsure(self, row_id: int, error: str) -> None:
        """The request went out but its answer never came: settled, not sent again."""

    @abstractmethod
    async def retry_later(
        self, row_id: int, at: datetime, error: str, *, failed: bool = False
    ) -> None:
        """Due again at ``at``; ``failed`` counts a failed try (``OutboxRow.failures``)."""

    @abstractmethod
    async def give_up(self, row_id: int, error: str) -> None:
        """The platform refused for good (user blocked the bot); unblocks the chat's queue."""

    @abstractmethod
    async def pending_count(self) -> int: ...

    @abstractmethod
    async def unsent_photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        """The keys among ``candidates`` that a row still waiting to be sent carries as its
        photo (sent and given-up rows need their photo no more)."""

    @abstractmethod
    async def purge_settled(self, before: datetime) -> int:
        """Delete rows settled (sent, unsure, failed) before ``before``; how many. A
        payload holds names and case details, kept only as long as it helps operations."""

    @abstractmethod
    async def forget_chat(self, platform: str, chat_id: str) -> int:
        """Delete every row of the chat, unsent or not (/deletedata); how many."""


class BaseConversationRepository(ABC):
    @abstractmethod
    async def load(self, platform: str, user_id: str) -> ConversationState:
        """An empty state when the user has none."""

    @abstractmethod
    async def save(
        self, platform: str, user_id: str, state: ConversationState, *, at: datetime
    ) -> None:
        """Store the state as of ``at`` (the time drafts are aged from)."""

    @abstractmethod
    async def expire_before(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
        users: Collection[tuple[str, str]] | None = None,
    ) -> list[ExpiredState]:
        """Clear every state whose flow is not in ``keep`` (and is in ``only``, if given)
        and which was last saved before ``cutoff``; return each as it was. A state is
        cleared and returned once: a concurrent or later call finds it without a flow.
        ``users`` limits it to those (platform, user id) keys."""

    @abstractmethod
    async def stale(
        self,
        cutoff: datetime,
        *,
        keep: Collection[str] = (),
        only: Collection[str] | None = None,
    ) -> list[tuple[str, str]]:
        """The (platform, user id) keys ``expire_before`` would clear now, changing nothing;
        so a job can clear them one unit of work each."""

    @abstractmethod
    async def photo_keys_among(self, candidates: Collection[str]) -> set[str]:
        """The keys among ``candidates`` that appear as a value anywhere in some user's
        conversation data (a rider's draft keeps its photos there until it is submitted)."""


class BaseUpdateRepository(ABC):
    @abstractmethod
    async def seen(self, platform: str, update_id: str) -> bool: ...

    @abstractmethod
    async def mark(self, platform: str, update_id: str, at: datetime | None = None) -> None:
        """Raise DuplicateUpdate if already marked (a concurrent retry got there first)."""

    @abstractmethod
    async def highest(self, platform: str) -> int | None:
        """The largest id still remembered for a platform whose ids are whole numbers
        (Telegram's); None when none is."""

    @abstractmethod
    async def forget_before(self, at: datetime) -> int:
        """Drop ids older than any platform re-delivers (Telegram keeps updates ≤ 24 h)."""


class BaseGroupNoticeRepository(ABC):
    @abstractmethod
    async def first(self, platform: str, chat_id: str, at: datetime) -> bool:
        """Record that the group chat was told to talk privately; True only the first time
        for that chat, ever (two first messages at once: exactly one gets True)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxItem:
    """One received update waiting to be handled, as the platform sent it."""

    id: int  # arrival order
    platform: str
    update_id: str
    payload: Mapping[str, object]
    attempts: int  # claims so far, this one included


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One update to store in the inbox: its id, whose it is (None: nobody's), its JSON."""

    update_id: str
    user_key: str | None
    payload: Mapping[str, object]


class BaseInboxRepository(ABC):
    """Received updates, stored before they are confirmed to the platform and handled
    after, in arrival order per user. A handled row is deleted; one that kept failing is
    kept as dead, with the reason."""

    @abstractmethod
    async def add(self, platform: str, updates: Collection[Received], *, at: datetime) -> int:
        """Store what is not stored yet (a redelivery is not); return how many were new."""

    @abstractmethod
    async def claim(
        self,
        limit: int,
        now: datetime,
        *,
        lease: timedelta,
        owner: str | None = None,
        alive_since: datetime | None = None,
    ) -> list[InboxItem]:
        """Lease up to ``limit`` rows to ``owner`` for handling, oldest first, and count
        the attempt.

        A row is claimed only while no earlier row of the same user is waiting (leased or
        not, by any process), so one user's updates are handled one after another,
        whichever process claims them; rows of nobody (``user_key`` None) are not held
        back. A leased row is free again once its lease runs out or, with
        ``alive_since``, once its owner has sent no heartbeat since then (it died).
        """

    @abstractmethod
    async def renew(self, ids: Collection[int], until: datetime) -> None:
        """Extend the lease of rows still being handled."""

    @abstractmethod
    async def done(self, ids: Collection[int]) -> None:
        """Forget handled rows."""

    @abstractmethod
    async def retry_later(self, item_id: int, at: datetime, error: str) -> None:
        """Claimable again at ``at`` (by any process: the pause has no owner)."""

    @abstractmethod
    async def give_up(self, item_id: int, error: str) -> None:
        """Keep the row as dead, with the reason; it is never claimed again."""

    @abstractmethod
    async def release_leases(self) -> int:
        """Free every lease (one process owns the database and has just started)."""

    @abstractmethod
    async def backlog(self) -> int:
        """How many rows wait to be handled (dead ones not counted)."""

    @abstractmethod
    async def highest(self, platform: str) -> int | None:
        """The largest whole-number update id stored for ``platform``; None when none is."""

    @abstractmethod
    async def dead(self) -> list[tuple[InboxItem, str]]:
        """Rows given up on, with the reason, oldest first."""

    @abstractmethod
    async def forget_dead_before(self, at: datetime) -> int:
        """Delete rows given up on that were received before ``at`` (they hold what a
        person sent, kept only for an operator to look into)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """One running bot process: its id (unique per process), where it runs, since when."""

    id: str
    host: str
    pid: int
    started_at: datetime


class BaseInstanceRepository(ABC):
    """The bot processes sharing the database, each beating every second or so."""

    @abstractmethod
    async def beat(self, instance: Instance, now: datetime) -> None:
        """Record that ``instance`` is alive at ``now`` (its row is made on the first)."""

    @abstractmethod
    async def live(self, since: datetime) -> int:
        """How many instances beat at or after ``since``."""

    @abstractmethod
    async def leave(self, instance_id: str) -> None:
        """Forget a stopping instance: its leases are free, it no longer counts as live."""

    @abstractmethod
    async def forget_before(self, at: datetime) -> int:
        """Delete instances last seen before ``at``; how many."""


class BaseInviteRepository(ABC):
    @abstractmethod
    async def create(
        self,
        *,
        token: str,
        role: RoleName,
        region_id: int,
        expires_at: datetime,
        created_by: int | None = None,
    ) -> Invite: ...

    @abstractmethod
    async def redeem(self, token: str, account_id: int, now: datetime) -> Invite:
        """Use the invite once; raise InviteRefused when unknown, used or expired."""


class BaseEscalationRepository(ABC):
    """Escalation steps are keyed by the deadline they were for: when a case's clock
    restarts (reopen, transfer, re-dispatch) its ladder starts over."""

    @abstractmethod
    async def record(
        self, report_id: int, kind: EscalationKind, level: int, *, due_at: datetime, at: datetime
    ) -> bool:
        """True the first time ``level`` of this kind happens for the deadline ``due_at``."""

    @abstractmethod
    async def lock_case(self, report_id: int) -> Report | None:
        """The case, its row locked until the unit ends (waiting for a holder): the sweep
        takes a case's steps one sweeper at a time, so their audit events never collide."""

    @abstractmethod
    async def done(self, report_id: int, kind: EscalationKind, *, due_at: datetime) -> set[int]:
        """Levels of this kind already recorded for the report's deadline ``due_at``."""

    @abstractmethod
    async def due_for_ack(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        """Dispatched reports with a step still to take for their ``ack_due_at``; locked
        for this sweeper, earliest deadline first.

        ``levels`` maps each escalation level to its delay after the deadline; a report is
        returned only while some level is due (``ack_due_at + delay <= now``) and not yet
        recorded for the current ``ack_due_at``. So fully escalated cases never fill a batch
        and starve the newer ones behind them.
        """

    @abstractmethod
    async def due_for_resolve(
        self, now: datetime, *, levels: Mapping[int, timedelta], limit: int = 100
    ) -> list[Report]:
        """Dispatched or accepted reports with a step still to take for their
        ``resolve_due_at``; as ``due_for_ack`` otherwise."""


class BasePartyRepository(ABC):
    """Party membership declarations, one per account (see ``bot.domain.party``)."""

    @abstractmethod
    async def submit(self, declaration: PartyDeclaration) -> PartyDeclaration:
        """Store the declaration as given, replacing the account's earlier one; its
        revision becomes one more than the replaced one's (1 for a first declaration)."""

    @abstractmethod
    async def get(self, account_id: int) -> PartyDeclaration | None: ...

    @abstractmethod
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
        """Record the organisation's decision on ``revision`` of the declaration, which must
        still wait for one: raise ConcurrentUpdate when it was decided meanwhile (by another
        secretary, at once) or resubmitted, NotFound when there is none. A decision other
        than verified takes the badge away."""

    @abstractmethod
    async def set_badge(self, account_id: int, show: bool) -> None:
        """Raise NotFound without a declaration."""

    @abstractmethod
    async def withdraw(self, account_id: int) -> bool:
        """Delete the declaration; True when there was one."""

    @abstractmethod
    async def for_communities(
        self, community_ids: Collection[int], status: DeclarationStatus | None = None
    ) -> list[PartyDeclaration]:
        """Declarations made to any of ``community_ids``, oldest submission first."""

    @abstractmethod
    async def counts(self) -> list[CommunityCount]:
        """Per community with any declaration: how many are declared and how many verified;
        in community id order."""


class BaseUnitOfWork(ABC):
    regions: BaseRegionRepository
    accounts: BaseAccountRepository
    roles: BaseRoleRepository
    informants: BaseInformantRepository
    reports: BaseReportRepository
    audit: BaseAuditRepository
    outbox: BaseOutboxRepository
    conversations: BaseConversationRepository
    updates: BaseUpdateRepository
    group_notices: BaseGroupNoticeRepository
    inbox: BaseInboxRepository
    instances: BaseInstanceRepository
    invites: BaseInviteRepository
    escalations: BaseEscalationRepository
    party: BasePartyRepository
    volunteers: BaseVolunteerRepository
    tasks: BaseTaskRepository
    points: BasePointsRepository

    async def __aenter__(self) -> Self:
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving without commit() discards the work: a crash mid-update leaves no half state.
        try:
            await self.rollback()
        finally:
            await self._end()

    async def from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> tuple[Account, ConversationState]:
        """The account of someone writing to the bot (``accounts.upsert_from_chat``) and
        their conversation state (``conversations.load``): what every update starts with,
        so a store may answer both in one go."""
        account = await self.accounts.upsert_from_chat(
            platform=platform,
            platform_user_id=platform_user_id,
            chat_id=chat_id,
            display_name=display_name,
            locale=locale,
        )
        return account, await self.conversations.load(platform, platform_user_id)

    @abstractmethod
    async def _begin(self) -> None:
        """Open the transaction and build the repositories."""

    @abstractmethod
    async def _end(self) -> None:
        """Release the connection."""

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def rollback(self) -> None: ...
