"""What the flow tests share: a real ``Dispatcher`` on the in-memory store, fed real
``Incoming`` updates, with what it said read back from the outbox."""

from __future__ import annotations

import hashlib

from bot.chat import Incoming, Outgoing
from bot.services.env import Env
from bot.services.photos import FileFetcher
from handlers.dispatcher import Dispatcher
from handlers.registry import MODULES
from tests.chatkit import dispatcher_over
from tests.fakes import FakeStore, FakeUnitOfWork


class MemoryPhotoStore:
    """The photo store in a dict; every ``put`` gets its own key, as an upload would."""

    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    def put(self, data: bytes, ext: str, *, thumbnail: bytes | None = None) -> str:
        key = f"{len(self.saved)}-{hashlib.sha256(data).hexdigest()[:12]}"
        self.saved[key] = data
        return key

    def get(self, key: str) -> bytes:
        return self.saved[key]


def dispatcher_on(
    store: FakeStore,
    env: Env,
    *,
    modules: tuple[str, ...] = MODULES,
    fetchers: dict[str, FileFetcher] | None = None,
) -> Dispatcher:
    """A freshly started bot process over ``store``: nothing in memory, only stored state."""
    return dispatcher_over(
        lambda: FakeUnitOfWork(store=store), env, modules=modules, fetchers=fetchers
    )


async def deliver(dispatcher: Dispatcher, store: FakeStore, update: Incoming) -> list[Outgoing]:
    """Hand ``update`` to the dispatcher; the outbox rows it wrote."""
    before = len(FakeUnitOfWork(store=store).outbox.sent())
    await dispatcher.handle(update)
    return FakeUnitOfWork(store=store).outbox.sent()[before:]
