"""WeChat's shared state: the access_token every process uses, and each user's last menu.

WeChat hands out one access_token per appid at a time (a new one invalidates the old after
a few minutes), so processes must not each fetch their own: the token lives in one row, and
a refresh is taken by a compare-and-set on ``refreshing_until`` (an UPDATE that matches only
when nobody else holds it), which works alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.database import SQLITE_BUSY_TIMEOUT_MS, writer_turn
from storage.models import OutboxRowModel, WeChatMenuRow, WeChatTokenRow

Sessions = async_sessionmaker[AsyncSession]


@contextlib.asynccontextmanager
async def _unit(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session that takes its turn with this process's other SQLite writers, as every
    unit of work does (``storage.uow``); on PostgreSQL just a session."""
    bind = sessions.kw.get("bind")
    turn = writer_turn(bind) if isinstance(bind, AsyncEngine) else None
    if turn is not None:
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
            await turn.acquire()
    try:
        async with sessions() as session:
            yield session
    finally:
        if turn is not None:
            turn.release()


class TokenRow:
    """The ``wechat_tokens`` row of one appid, each call its own commit."""

    def __init__(self, sessions: Sessions, *, appid: str) -> None:
        self._sessions = sessions
        self._appid = appid

    async def current(self) -> tuple[str, datetime] | None:
        """The stored token and when it expires, or None."""
        async with _unit(self._sessions) as s:
            row = await s.get(WeChatTokenRow, self._appid)
            if row is None or row.token is None or row.expires_at is None:
                return None
            return row.token, row.expires_at

    async def take_refresh(self, now: datetime, *, hold: timedelta, stale_at: datetime) -> bool:
        """True when this caller may fetch a new token (and holds it for ``hold``): nobody
        else holds the refresh and the stored token expires before ``stale_at`` (one saved
        since the caller looked is not replaced again)."""
        await self._ensure_row()
        async with _unit(self._sessions) as s:
            t = WeChatTokenRow
            taken = await s.execute(
                update(t)
                .where(t.appid == self._appid)
                .where(or_(t.refreshing_until.is_(None), t.refreshing_until < now))
                .where(or_(t.expires_at.is_(None), t.expires_at <= stale_at))
                .values(refreshing_until=now + hold)
            )
            await s.commit()
            return bool(getattr(taken, "rowcount", 0) == 1)

    async def save(self, token: str, expires_at: datetime) -> None:
        async with _unit(self._sessions) as s:
            await s.execute(
                update(WeChatTokenRow)
                .where(WeChatTokenRow.appid == self._appid)
                .values(token=token, expires_at=expires_at, refreshing_until=None)
            )
            await s.commit()

    async def release(self) -> None:
        async with _unit(self._sessions) as s:
            await s.execute(
                update(WeChatTokenRow)
                .where(WeChatTokenRow.appid == self._appid)
                .values(refreshing_until=None)
            )
            await s.commit()

    async def invalidate(self, token: str) -> None:
        """Forget ``token`` (WeChat refused it); a newer one someone saved meanwhile stays."""
        async with _unit(self._sessions) as s:
            t = WeChatTokenRow
            await s.execute(
                update(t)
                .where(t.appid == self._appid, t.token == token)
                .values(token=None, expires_at=None)
            )
            await s.commit()

    async def _ensure_row(self) -> None:
        async with _unit(self._sessions) as s:
            if await s.get(WeChatTokenRow, self._appid) is not None:
                return
            s.add(WeChatTokenRow(appid=self._appid))
            try:
                await s.commit()
            except IntegrityError:  # another process inserted it first
                await s.rollback()


class MenuRows:
    """The numbered options last sent to each WeChat user (``wechat_menus``)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    async def remember(self, openid: str, options: dict[str, Any], at: datetime) -> None:
        async with _unit(self._sessions) as s:
            await s.execute(delete(WeChatMenuRow).where(WeChatMenuRow.openid == openid))
            s.add(WeChatMenuRow(openid=openid, options=options, sent_at=at))
            await s.commit()

    async def forget(self, openid: str) -> None:
        async with _unit(self._sessions) as s:
            await s.execute(delete(WeChatMenuRow).where(WeChatMenuRow.openid == openid))
            await s.commit()

    async def options(self, openid: str) -> dict[str, Any] | None:
        async with _unit(self._sessions) as s:
            found = await s.scalar(
                select(WeChatMenuRow.options).where(WeChatMenuRow.openid == openid)
            )
            return dict(found) if found is not None else None


async def due_now(sessions: Sessions, *, platform: str, chat_id: str, now: datetime) -> int:
    """Make the chat's waiting outbox rows due at once (its person just wrote, so WeChat's
    48 h window is open again); rows being sent are left alone. How many."""
    o = OutboxRowModel
    async with _unit(sessions) as s:
        woken = await s.execute(
            update(o)
            .where(o.platform == platform, o.chat_id == chat_id, o.state == "pending")
            .where(o.next_attempt_at > now)
            .where(or_(o.locked_until.is_(None), o.locked_until < now))
            .values(next_attempt_at=now)
        )
        await s.commit()
        return int(getattr(woken, "rowcount", 0) or 0)
