"""The outbox across a restart and an erasure, on real SQLite and PostgreSQL (issue 8).

A bot killed mid-send leaves its claimed rows leased; restarted with the same instance name
(GRIDSNAP_INSTANCE_ID) it takes them back at once instead of leaving its chats silent for
the lease (~1 minute), while another instance's leases still run out as usual (without a
heartbeat table to say it died: test_11_several_processes covers the takeover). Sent
payloads leave the table after the keep period, and /deletedata takes the person's rows
with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.chat import Kind, Outgoing
from bot.delivery import OutboxSender, UnitOfWorkOutbox
from bot.domain.categories import load_catalogue
from bot.domain.model import Level
from bot.scheduler import JobScheduler
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from handlers.dispatcher import is_reply
from storage.models import OutboxRowModel
from storage.photos import PhotoStore
from tests.chatkit import ChatBot, unit

MakeUow = Callable[[], BaseUnitOfWork]
NEVER = 30.0  # a guard against a hang, not a timing


def text(chat: str, body: str) -> Outgoing:
    return Outgoing(platform="telegram", chat_id=chat, text=body)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class Platform:
    """Accepts everything; remembers what, and says when a chat got something."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.got: dict[str, asyncio.Event] = {}

    def arrived(self, chat: str) -> asyncio.Event:
        return self.got.setdefault(chat, asyncio.Event())

    async def send(self, out: Outgoing) -> str:
        self.sent.append(out)
        self.arrived(out.chat_id).set()
        return str(len(self.sent))


async def _queue(make_uow: MakeUow, *messages: Outgoing) -> None:
    async with make_uow() as uow:
        for message in messages:
            await uow.outbox.add(message)
        await uow.commit()


async def _rows(make_uow: MakeUow) -> list[tuple[str, str, str]]:
    """(chat, text, state) of every stored row, in order."""
    async with make_uow() as uow:
        found = await uow.outbox.s.scalars(select(OutboxRowModel).order_by(OutboxRowModel.id))
        return [(r.chat_id, r.payload.get("text", ""), r.state) for r in found]


async def test_a_restarted_instance_takes_back_its_own_leases_at_once_but_not_anothers(
    make_uow: MakeUow,
) -> None:
    now = datetime.now(UTC)
    await _queue(make_uow, text("a", "to a"), text("b", "to b"))
    async with make_uow() as uow:  # two instances claim, then both are killed -9
        await uow.outbox.claim(1, now, owner="host-1:db")
        await uow.outbox.claim(1, now, owner="host-2:db")
        await uow.commit()
    platform = Platform()
    restarted = OutboxSender(
        store=UnitOfWorkOutbox(make_uow, owner="host-1:db"),
        senders={"telegram": platform.send},
        clock=Clock(now + timedelta(seconds=2)),  # well within the lease
    )
    running = asyncio.create_task(restarted.run())
    await asyncio.wait_for(platform.arrived("a").wait(), NEVER)
    restarted.stop()
    await asyncio.wait_for(running, NEVER)
    assert [m.chat_id for m in platform.sent] == ["a"]
    assert await _rows(make_uow) == [("a", "to a", "sent"), ("b", "to b", "pending")]


def _env(now: datetime, tmp_path: Path, *, keep: timedelta) -> Env:
    return Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=PhotoStore(tmp_path / "photos"),
        clock=lambda: now,
        outbox_keep=keep,
    )


@pytest.mark.parametrize(("days_later", "left"), [(6, 3), (8, 1)])
async def test_sent_and_failed_rows_are_purged_after_the_keep_period(
    make_uow: MakeUow, tmp_path: Path, days_later: int, left: int
) -> None:
    await _queue(make_uow, text("a", "sent"), text("b", "failed"), text("c", "waiting"))
    async with make_uow() as uow:
        await uow.outbox.mark_sent(1, "m1")
        await uow.outbox.give_up(2, "blocked")
        await uow.commit()
    later = datetime.now(UTC) + timedelta(days=days_later)
    jobs = JobScheduler(uow_factory=make_uow, env=_env(later, tmp_path, keep=timedelta(days=7)))
    await jobs.run_outbox_retention()
    rows = await _rows(make_uow)
    assert len(rows) == left
    assert ("c", "waiting", "pending") in rows


async def test_deletedata_deletes_what_was_sent_to_the_person_and_what_waits_for_them(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    bot = ChatBot(make_uow, _env(datetime.now(UTC), tmp_path, keep=timedelta(days=7)))
    await bot.seed_map([unit("G1", Level.GRID, None, 119.5)])
    rider = await bot.person("rider")
    await bot.command(rider, "help")  # sent
    await _queue(make_uow, text("rider", "王师傅, report 12 is resolved"), text("worker", "new"))
    async with make_uow() as uow:
        await uow.outbox.claim(10, datetime.now(UTC), per_chat=10)  # the worker's: in flight
        await uow.commit()
    await bot.press(rider, "deldata:yes")
    kept = await _rows(make_uow)
    assert [chat for chat, _, _ in kept] == ["worker", "rider", "rider", "rider"]
    assert "deleted" in kept[-1][1]  # only this update's answers are left to send


def test_what_goes_back_to_the_chat_of_the_update_is_a_reply_and_nothing_else_is() -> None:
    from bot.chat import Incoming, User

    rider = User(platform="telegram", user_id="1", chat_id="1", display_name="r")
    update = Incoming(update_id="9", user=rider, kind=Kind.TEXT, text="hi")
    assert is_reply(text("1", "answer"), update)
    assert not is_reply(text("2", "alert to a worker"), update)
    assert not is_reply(Outgoing(platform="wechat", chat_id="1", text="x"), update)
