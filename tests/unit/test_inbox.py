"""The inbox worker over the in-memory store: stored updates are handled in arrival order per
user and concurrently across users; one that cannot be read is skipped past a bounded
number of tries and logged once; a stop handles what is stored first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.chat import Incoming, Kind, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.i18n import translator
from bot.inbox import Inbox, received, user_key
from bot.services.env import Env, MapHolder
from bot.transports.botapi import incoming_from_update
from handlers.dispatcher import Dispatcher
from handlers.registry import collect
from tests.fakes import FakeStore, FakeUnitOfWork, every_try
from tests.unit.test_report_flow import MemoryPhotoStore

WAIT = 10.0


def text(update_id: int, user: int, words: str = "hi") -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": f"U{user}"}
    return {
        "update_id": update_id,
        "message": {"message_id": update_id, "chat": {"id": user}, "from": sender, "text": words},
    }


def inbox_for(
    store: FakeStore, handle: Callable[[Incoming], Awaitable[None]], **options: Any
) -> Inbox:
    inbox = Inbox(
        uow_factory=lambda: FakeUnitOfWork(store=store), handle=every_try(handle), **options
    )
    inbox.add_mapper("telegram", incoming_from_update)
    return inbox


async def until(check: Callable[[], object]) -> None:
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 -- the handlers below signal no event of their own
            await asyncio.sleep(0.001)


async def stopped(inbox: Inbox, worker: asyncio.Task[None]) -> None:
    inbox.stop()
    await asyncio.wait_for(worker, WAIT)


async def test_8_an_update_that_cannot_be_read_is_skipped_after_bounded_tries_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, handled = FakeStore(), []

    async def handle(incoming: Incoming) -> None:
        handled.append(incoming.text)

    inbox = inbox_for(store, handle, max_attempts=3, retry_delay=0.001)
    # No "id"; what the person sent ("data") stays out of the log.
    poison = {"update_id": 1, "callback_query": {"from": {"id": 5}, "data": "13800000000"}}
    await inbox.receive("telegram", [poison, text(2, 6, "next one")])
    worker = asyncio.create_task(inbox.run())
    with caplog.at_level(logging.INFO, logger="bot.inbox"):
        await until(lambda: any(r.state == "dead" for r in store.data.inbox.values()))
        await inbox.receive("telegram", [text(3, 5, "same rider, later")])
        await until(lambda: len(handled) == 2)
        await stopped(inbox, worker)

    assert handled == ["next one", "same rider, later"]
    (dead,) = store.data.inbox.values()
    assert (dead.update_id, dead.attempts, dead.state) == ("1", 3, "dead")
    assert dead.last_error is not None and "KeyError" in dead.last_error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "update 1 " in errors[0].getMessage()
    assert "callback_query" in errors[0].getMessage()  # the update's keys, for an operator
    assert not any("13800000000" in r.getMessage() for r in caplog.records)
    assert len(caplog.records) <= 3  # two retries and the one error, not a line a poll


class Outage:
    """How many more commits of a unit handling an update the database refuses."""

    def __init__(self, commits: int) -> None:
        self.commits = commits


class FlakyUnitOfWork(FakeUnitOfWork):
    """The connection is lost at the commit of a unit that handles an update (one that
    records its id), ``outage.commits`` times; other units (the apology) commit."""

    def __init__(self, *, store: FakeStore, outage: Outage) -> None:
        super().__init__(store=store)
        self.outage = outage

    async def commit(self) -> None:
        handling = self.work.updates.keys() - self.store.data.updates.keys()
        if handling and self.outage.commits > 0:
            self.outage.commits -= 1
            raise ConnectionError("connection lost")
        await super().commit()


def dispatcher_on(store: FakeStore, outage: Outage) -> Dispatcher:
    registry = collect(("common", "register"))
    return Dispatcher(
        uow_factory=lambda: FlakyUnitOfWork(store=store, outage=outage),
        env=Env(
            catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=MemoryPhotoStore()
        ),
        flows=registry.flows,
        commands=registry.commands,
        button_handlers=registry.buttons,
        fallback=registry.dispatch_fallback,
    )


def queued(store: FakeStore) -> list[Outgoing]:
    return FakeUnitOfWork(store=store).outbox.sent()


async def test_8_an_update_whose_commit_failed_is_handled_on_the_retry_once_and_in_order() -> None:
    updates = [text(1, 5, "/help"), text(2, 5, "and then this")]
    clean = FakeStore()  # the same updates, no outage, handled straight away
    plain = dispatcher_on(clean, Outage(0))
    for update in updates:
        incoming = incoming_from_update(update)
        assert incoming is not None
        await plain.handle(incoming)

    store = FakeStore()
    dispatcher = dispatcher_on(store, Outage(1))
    inbox = Inbox(
        uow_factory=lambda: FakeUnitOfWork(store=store),
        handle=dispatcher.handle,
        max_attempts=3,
        retry_delay=0.001,
    )
    inbox.add_mapper("telegram", incoming_from_update)
    await inbox.receive("telegram", updates)
    worker = asyncio.create_task(inbox.run())
    await until(lambda: not store.data.inbox)
    await stopped(inbox, worker)

    # Both answered once, the first before the second, and no apology.
    assert [m.text for m in queued(store)] == [m.text for m in queued(clean)]
    assert len(queued(store)) == 2
    assert set(store.data.updates) == {("telegram", "1"), ("telegram", "2")}


async def test_8_an_update_that_fails_every_try_gets_one_apology_and_is_kept_dead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    dispatcher = dispatcher_on(store, Outage(99))
    inbox = Inbox(
        uow_factory=lambda: FakeUnitOfWork(store=store),
        handle=dispatcher.handle,
        max_attempts=3,
        retry_delay=0.001,
    )
    inbox.add_mapper("telegram", incoming_from_update)
    await inbox.receive("telegram", [text(1, 5, "/help")])
    worker = asyncio.create_task(inbox.run())
    with caplog.at_level(logging.INFO, logger="bot.inbox"):
        await until(lambda: any(r.state == "dead" for r in store.data.inbox.values()))
        await stopped(inbox, worker)

    sorry = translator("zh_CN")._("Sorry, something went wrong on our side. Please try again.")
    assert [(m.chat_id, m.text) for m in queued(store)] == [("5", sorry)]
    (dead,) = store.data.inbox.values()
    assert (dead.update_id, dead.attempts, dead.state) == ("1", 3, "dead")
    assert dead.last_error is not None and "ConnectionError: connection lost" in dead.last_error
    assert store.data.updates == {}
    errors = [r for r in caplog.records if r.name == "bot.inbox" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "update 1 " in errors[0].getMessage()


def press(update_id: int, user: int, data: str) -> dict[str, Any]:
    sender = {"id": user, "is_bot": False, "first_name": f"U{user}"}
    message = {"message_id": 1, "chat": {"id": user}}
    query = {"id": f"q{update_id}", "from": sender, "message": message, "data": data}
    return {"update_id": update_id, "callback_query": query}


async def test_deletedata_through_the_inbox_erases_the_persons_dead_updates_too() -> None:
    store = FakeStore()
    dispatcher = dispatcher_on(store, Outage(0))
    inbox = Inbox(uow_factory=lambda: FakeUnitOfWork(store=store), handle=dispatcher.handle)
    inbox.add_mapper("telegram", incoming_from_update)
    await inbox.receive("telegram", [text(1, 5, "my phone is 13800000000")])
    async with FakeUnitOfWork(store=store) as uow:  # it kept failing: kept as dead
        (item,) = await uow.inbox.claim(1, inbox._clock(), lease=timedelta(hours=1))
        await uow.inbox.give_up(item.id, "ConnectionError: connection lost")
        await uow.commit()
    await inbox.receive("telegram", [text(2, 6, "someone else"), press(3, 5, "deldata:yes")])
    worker = asyncio.create_task(inbox.run())
    await until(lambda: {("telegram", "2"), ("telegram", "3")} <= set(store.data.updates))
    await stopped(inbox, worker)

    assert store.data.inbox == {}
    deleted = translator("zh_CN")._(
        "Your personal data was deleted. Send /start if you want to begin again."
    )
    assert deleted in [m.text for m in queued(store) if m.chat_id == "5"]


async def test_one_users_updates_are_handled_in_order_while_another_user_is_not_held_up() -> None:
    store, finished = FakeStore(), []
    release = asyncio.Event()

    async def handle(incoming: Incoming) -> None:
        if incoming.text == "slow photo":
            await release.wait()
        finished.append(incoming.text)

    inbox = inbox_for(store, handle)
    await inbox.receive(
        "telegram", [text(1, 5, "slow photo"), text(2, 5, "its location"), text(3, 6, "other")]
    )
    worker = asyncio.create_task(inbox.run())
    await until(lambda: finished == ["other"])
    release.set()
    await until(lambda: len(finished) == 3)
    await stopped(inbox, worker)
    assert finished == ["other", "slow photo", "its location"]
    assert store.data.inbox == {}


async def test_a_stop_handles_what_is_stored_before_the_worker_returns() -> None:
    store, finished = FakeStore(), []

    async def handle(incoming: Incoming) -> None:
        await asyncio.sleep(0.01)
        finished.append(incoming.update_id)

    inbox = inbox_for(store, handle, concurrency=2)
    await inbox.receive("telegram", [text(n, 100 + n % 3) for n in range(1, 10)])
    worker = asyncio.create_task(inbox.run())
    await stopped(inbox, worker)
    assert sorted(finished, key=int) == [str(n) for n in range(1, 10)]


async def test_rows_a_killed_process_held_are_taken_up_at_the_next_start() -> None:
    store, finished = FakeStore(), []

    async def handle(incoming: Incoming) -> None:
        finished.append(incoming.update_id)

    before = inbox_for(store, handle, lease=timedelta(hours=1))
    await before.receive("telegram", [text(1, 5)])
    async with FakeUnitOfWork(store=store) as uow:  # claimed, then the process died
        await uow.inbox.claim(10, before._clock(), lease=timedelta(hours=1))
        await uow.commit()

    after = inbox_for(store, handle)
    await after.release_leases()
    worker = asyncio.create_task(after.run())
    await until(lambda: finished)
    await stopped(after, worker)
    assert finished == ["1"]


def test_an_update_is_filed_under_its_sender_and_needs_an_id() -> None:
    assert user_key(text(1, 42)) == "42"
    assert user_key({"update_id": 1, "poll": {"id": "p"}}) is None
    assert received(text(7, 42)).update_id == "7"
    for bad in ({}, {"update_id": None}, {"update_id": True}, {"update_id": ""}):
        with pytest.raises(ValueError):
            received(bad)


def test_the_mapper_reads_a_callback_without_chat_instance() -> None:
    """PTB refused this one (it requires ``chat_instance``); no flow needs it."""
    press = {
        "update_id": 9,
        "callback_query": {
            "id": "q",
            "from": {"id": 5, "is_bot": False, "first_name": "Wei"},
            "message": {"message_id": 3, "chat": {"id": 5}},
            "data": "ok",
        },
    }
    incoming = incoming_from_update(press)
    assert incoming is not None and (incoming.kind, incoming.button_data) == (Kind.BUTTON, "ok")
    assert incoming.user == User(
        platform="telegram", user_id="5", chat_id="5", display_name="Wei", language_code=None
    )
