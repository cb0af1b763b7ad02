"""Updates of different users run at once; one user's updates take turns, in arrival order.

Driven through the real Dispatcher on the in-memory store, with a file fetcher that holds a
download until the test lets it go (an event, not a sleep).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.chat import FileRef, Incoming, Kind, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from handlers.dispatcher import Dispatcher, Turns
from handlers.register import CONSENT_VERSION
from handlers.registry import collect
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.unit.test_report_flow import MemoryPhotoStore, jpeg

SLOW = User(platform="telegram", user_id="601", chat_id="601", language_code="en")
NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
QUICK = User(platform="telegram", user_id="602", chat_id="602", language_code="en")


class GatedFiles:
    """A platform whose downloads wait until ``release`` is set."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        self.started.set()
        await self.release.wait()
        return jpeg(1)


def dispatcher(store: FakeStore, files: GatedFiles) -> Dispatcher:
    registry = collect(("common", "report"))
    return Dispatcher(
        uow_factory=lambda: FakeUnitOfWork(store=store),
        env=Env(
            catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=MemoryPhotoStore()
        ),
        flows=registry.flows,
        commands=registry.commands,
        button_handlers=registry.buttons,
        fallback=registry.dispatch_fallback,
        fetchers={"telegram": files},
    )


def photo(user: User, update_id: str) -> Incoming:
    ref = FileRef(file_id=f"f{update_id}", size=1000)
    return Incoming(update_id=update_id, user=user, kind=Kind.PHOTO, photo=ref)


def help_command(user: User, update_id: str) -> Incoming:
    return Incoming(update_id=update_id, user=user, kind=Kind.COMMAND, command="help", text="/help")


async def consented(store: FakeStore, user: User) -> None:
    """Only the photo of someone with a basis for keeping it is downloaded at all."""
    async with FakeUnitOfWork(store=store) as uow:
        account = await uow.accounts.get_or_create(
            platform=user.platform,
            platform_user_id=user.user_id,
            chat_id=user.chat_id,
            display_name="",
            locale="en",
        )
        await uow.accounts.record_consent(account.id, CONSENT_VERSION, NOW)
        await uow.commit()


def said_to(store: FakeStore, user: User) -> list[Outgoing]:
    return [m for m in FakeUnitOfWork(store=store).outbox.sent() if m.chat_id == user.chat_id]


async def test_a_slow_photo_download_holds_up_only_its_own_rider() -> None:
    store, files = FakeStore(), GatedFiles()
    bot = dispatcher(store, files)
    await consented(store, SLOW)
    slow_photo = asyncio.create_task(bot.handle(photo(SLOW, "1")))
    slow_help = asyncio.create_task(bot.handle(help_command(SLOW, "2")))
    await files.started.wait()

    await bot.handle(help_command(QUICK, "3"))

    assert said_to(store, QUICK), "the other rider was answered during the download"
    assert said_to(store, SLOW) == [], "the slow rider's /help waited for their photo"
    files.release.set()
    await asyncio.gather(slow_photo, slow_help)
    slow = said_to(store, SLOW)
    help_text = said_to(store, QUICK)[-1].text
    assert [m.text for m in slow].index(help_text) == len(slow) - 1, "/help answered last"
    assert len(slow) > 1, "the photo was answered before /help"


async def test_one_users_updates_are_handled_in_the_order_they_arrived() -> None:
    store, files = FakeStore(), GatedFiles()
    bot = dispatcher(store, files)
    await consented(store, SLOW)
    first = asyncio.create_task(bot.handle(photo(SLOW, "1")))
    rest = [asyncio.create_task(bot.handle(help_command(SLOW, str(n)))) for n in range(2, 6)]
    await files.started.wait()
    files.release.set()
    await asyncio.gather(first, *rest)

    # The store keeps update ids in the order their units committed.
    assert [update_id for _platform, update_id in store.data.updates] == ["1", "2", "3", "4", "5"]


async def test_turns_forget_a_user_once_nobody_waits() -> None:
    turns = Turns()
    async with turns.hold(("telegram", "1")), turns.hold(("telegram", "2")):
        assert len(turns) == 2
    assert len(turns) == 0
