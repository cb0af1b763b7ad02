"""The SQL party declaration repository (kept apart from the case tables' repositories)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import case, delete, func, select, update

from bot.domain.party import (
    CommunityCount,
    DeclarationStatus,
    PartyDeclaration,
    Standing,
    first_revision,
)
from bot.services import ports
from storage.models import PartyDeclarationRow
from storage.repositories import _Repo

_IN_CHUNK = 500


def _declaration(row: PartyDeclarationRow) -> PartyDeclaration:
    return PartyDeclaration(
        account_id=row.account_id,
        standing=Standing(row.standing),
        organisation=row.organisation,
        year_joined=row.year_joined,
        community_id=row.community_id,
        status=DeclarationStatus(row.status),
        consent_version=row.consent_version,
        consented_at=row.consented_at,
        submitted_at=row.submitted_at,
        revision=row.revision,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        question=row.question,
        show_badge=row.show_badge,
    )


class SqlPartyRepository(_Repo, ports.BasePartyRepository):
    async def _row(self, account_id: int) -> PartyDeclarationRow:
        row = await self.s.get(PartyDeclarationRow, account_id, populate_existing=True)
        if row is None:
            raise ports.NotFound(f"party declaration of account {account_id}")
        return row

    async def submit(self, declaration: PartyDeclaration) -> PartyDeclaration:
        row = await self.s.get(PartyDeclarationRow, declaration.account_id)
        revision = row.revision + 1 if row is not None else first_revision()
        if row is None:
            row = PartyDeclarationRow(account_id=declaration.account_id)
            self.s.add(row)
        row.standing = declaration.standing.value
        row.organisation = declaration.organisation
        row.year_joined = declaration.year_joined
        row.community_id = declaration.community_id
        row.status = declaration.status.value
        row.consent_version = declaration.consent_version
        row.consented_at = declaration.consented_at
        row.submitted_at = declaration.submitted_at
        row.revision = revision
        row.decided_at, row.decided_by = declaration.decided_at, declaration.decided_by
        row.question, row.show_badge = declaration.question, declaration.show_badge
        await self.s.flush()
        return _declaration(row)

    async def get(self, account_id: int) -> PartyDeclaration | None:
        row = await self.s.get(PartyDeclarationRow, account_id, populate_existing=True)
        return _declaration(row) if row else None

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
        await self._row(account_id)
        values: dict[str, object] = {
            "status": status.value,
            "decided_by": by,
            "decided_at": at,
            "question": question,
        }
        if status is not DeclarationStatus.VERIFIED:
            values["show_badge"] = False  # a badge only ever stands for a verified membership
        # One conditional UPDATE: of two secretaries deciding at once, the second matches
        # no row (PostgreSQL re-checks the condition after the first commits).
        changed = await self.s.scalars(
            update(PartyDeclarationRow)
            .where(
                PartyDeclarationRow.account_id == account_id,
                PartyDeclarationRow.revision == revision,
                PartyDeclarationRow.status == DeclarationStatus.PENDING.value,
            )
            .values(values)
            .returning(PartyDeclarationRow.account_id)
            .execution_options(synchronize_session=False)
        )
        if changed.first() is None:
            raise ports.ConcurrentUpdate(f"party declaration of account {account_id}")
        return _declaration(await self._row(account_id))

    async def set_badge(self, account_id: int, show: bool) -> None:
        (await self._row(account_id)).show_badge = show
        await self.s.flush()

    async def withdraw(self, account_id: int) -> bool:
        removed = await self.s.scalars(
            delete(PartyDeclarationRow)
            .where(PartyDeclarationRow.account_id == account_id)
            .returning(PartyDeclarationRow.account_id)
        )
        return removed.first() is not None

    async def for_communities(
        self, community_ids: Collection[int], status: DeclarationStatus | None = None
    ) -> list[PartyDeclaration]:
        ids = sorted(set(community_ids))
        found: list[PartyDeclaration] = []
        for start in range(0, len(ids), _IN_CHUNK):
            stmt = select(PartyDeclarationRow).where(
                PartyDeclarationRow.community_id.in_(ids[start : start + _IN_CHUNK])
            )
            if status is not None:
                stmt = stmt.where(PartyDeclarationRow.status == status.value)
            found += [_declaration(r) for r in await self.s.scalars(stmt)]
        return sorted(found, key=lambda d: (d.submitted_at, d.account_id))

    async def counts(self) -> list[CommunityCount]:
        is_verified = PartyDeclarationRow.status == DeclarationStatus.VERIFIED.value
        verified = case((is_verified, 1), else_=0)
        rows = await self.s.execute(
            select(
                PartyDeclarationRow.community_id,
                func.count(),
                func.coalesce(func.sum(verified), 0),
            )
            .group_by(PartyDeclarationRow.community_id)
            .order_by(PartyDeclarationRow.community_id)
        )
        return [
            CommunityCount(community_id=cid, declared=int(n), verified=int(v)) for cid, n, v in rows
        ]
