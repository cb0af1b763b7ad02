"""``SqlUnitOfWork``: one session, one transaction, every repository bound to it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.ports import BaseUnitOfWork
from storage import repositories as r


class SqlUnitOfWork(BaseUnitOfWork):
    """Reusable: each ``async with`` opens a fresh session and transaction."""

    def __init__(self, *, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._session

    async def _begin(self) -> None:
        if self._session is not None:
            raise RuntimeError("unit of work is already open; units do not nest")
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
        self.invites = r.SqlInviteRepository(s)
        self.escalations = r.SqlEscalationRepository(s)

    async def _end(self) -> None:
        session, self._session = self.session, None
        await session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
