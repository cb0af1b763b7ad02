"""Start the whole sandbox: the emulator, the real bot polling it, the demo data, the web chat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.app import SAMPLE_MAP, Gridsnap, running
from bot.config import Settings
from bot.sandbox import demo
from bot.sandbox.history import ChatHistory, history_folder
from bot.sandbox.mapview import MapView
from bot.sandbox.webchat import add_personas, create_app
from bot.transports.embedded_http import serving
from bot.transports.emulator import BotApiEmulator


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    url: str  # the web chat
    emulator: BotApiEmulator
    app: Gridsnap


@contextlib.asynccontextmanager
async def sandbox(settings: Settings, **bootstrap: Any) -> AsyncIterator[Sandbox]:
    """Everything runs on this event loop; leaving the block stops it all, web chat first.

    The sandbox is the one place the bundled sample map is imported into an empty database.
    """
    bootstrap = {"sample_map": SAMPLE_MAP, **bootstrap}
    async with BotApiEmulator(bot_username=settings.bot_username) as emulator:
        history = ChatHistory(history_folder(settings.photo_dir))
        history.load(emulator.world)  # the chats as the last run left them
        add_personas(emulator.world)
        bot_settings = settings.model_copy(
            update={"telegram_token": emulator.token, "telegram_api_url": emulator.url}
        )
        async with running(bot_settings, **bootstrap) as (app, _application):
            # Before any persona acts: the database drops ids it has already processed.
            emulator.world.number_updates_after(await _last_update_id(app))
            await demo.seed(app.uow_factory, now=datetime.now(UTC))
            maps = await _map_view(app)
            web = create_app(world=emulator.world, maps=maps)
            host = settings.sandbox_host
            keeper = asyncio.create_task(history.keep(emulator.world))
            async with serving(web, host=host, port=settings.sandbox_port) as port:
                try:
                    yield Sandbox(url=f"http://{host}:{port}", emulator=emulator, app=app)
                finally:
                    # The bot's own long poll ends first, so it never polls a closed world.
                    await app.stop_receiving()
                    # Answers the pages' open long polls now, so the web server stops at once.
                    emulator.world.close()
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeper  # its last save


async def _last_update_id(app: Gridsnap) -> int:
    async with app.uow_factory() as uow:
        # Stored but not yet handled ones count too: a new update must not reuse their ids.
        handled = await uow.updates.highest(demo.PLATFORM) or 0
        return max(handled, await uow.inbox.highest(demo.PLATFORM) or 0)


async def _map_view(app: Gridsnap) -> MapView:
    async with app.uow_factory() as uow:
        _version, units = await uow.regions.load_units()
    return MapView(units)
