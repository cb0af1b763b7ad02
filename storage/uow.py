"""``SqlUnitOfWork``: one session, one transaction, every repository bound to it."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.domain.model import Account, ConversationState
from bot.services.ports import BaseUnitOfWork
from storage import repositories as r
from storage import volunteer_repositories as v
from storage.database import SQLITE_BUSY_TIMEOUT_MS, writer_turn
from storage.inbox import SqlInboxRepository
from storage.instances import SqlInstanceRepository
from storage.party import SqlPartyRepository


class SqlUnitOfWork(BaseUnitOfWork):
    """Reusable: each ``async with`` opens a fresh session and transaction."""

    accounts: r.SqlAccountRepository  # with ``from_chat``, the one-statement start of an update

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory
        self._session: AsyncSession | None = None
        self._turn: asyncio.Lock | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    async def _begin(self) -> None:
        if self._session is not None:
            raise RuntimeError("unit of work is already open; units do not nest")
        await self._take_turn()
        s = self._session = self._factory()
        self.regions = r.SqlRegionRepository(s)
        self.accounts = r.SqlAccountRepository(s)
        self.roles = r.SqlRoleRepository(s)
        self.informants = r.SqlInformantRepository(s)
        self.reports = r.SqlReportRepository(s)
        self.audit = r.SqlAuditRepository(s)
        self.outbox = r.SqlOutboxRepository(s)
        self.conversations = r.SqlConversationRepository(s)
        self.updates = r.SqlUpdateRepository(s)
        self.group_notices = r.SqlGroupNoticeRepository(s)
        self.inbox = SqlInboxRepository(s)
        self.instances = SqlInstanceRepository(s)
        self.invites = r.SqlInviteRepository(s)
        self.escalations = r.SqlEscalationRepository(s)
        self.party = SqlPartyRepository(s)
        self.volunteers = v.SqlVolunteerRepository(s)
        self.tasks = v.SqlTaskRepository(s)
        self.points = v.SqlPointsRepository(s)

    async def _take_turn(self) -> None:
        bind = self._factory.kw.get("bind")
        turn = writer_turn(bind) if isinstance(bind, AsyncEngine) else None
        if turn is not None:
            # As long as SQLite itself would wait; a unit opened inside another unit of the
            # same task fails here rather than waiting for ever.
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await turn.acquire()
            self._turn = turn

    async def _end(self) -> None:
        session, self._session = self.session, None
        turn, self._turn = self._turn, None
        try:
            await session.close()
        finally:
            if turn is not None:
                turn.release()

    async def from_chat(
        self,
        *,
        platform: str,
        platform_user_id: str,
        chat_id: str,
        display_name: str,
        locale: str,
    ) -> tuple[Account, ConversationState]:
        return await self.accounts.from_chat(
            platform=platform,
            platform_user_id=platform_user_id,
            chat_id=chat_id,
            display_name=display_name,
            locale=locale,
        )

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
