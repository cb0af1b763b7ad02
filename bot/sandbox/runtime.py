"""Start the whole sandbox: the emulator, the real bot polling it, the demo data, the web chat.

``sandbox`` plays Telegram (the Bot API emulator, the bot polling it); ``wechat_sandbox``
plays WeChat (the Official Account emulator pushing to the bot's ``/wechat`` callback in
safe mode, the bot calling the emulator's API)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.app import SAMPLE_MAP, Gridsnap, bootstrap, running, serving_wechat
from bot.config import Settings
from bot.sandbox import demo
from bot.sandbox.history import ChatHistory, history_folder
from bot.sandbox.mapview import MapView
from bot.sandbox.webchat import add_personas, create_app
from bot.sandbox.wechat_history import WeChatHistory
from bot.sandbox.wechatchat import add_followers, create_wechat_app
from bot.transports.embedded_http import serving
from bot.transports.emulator import BotApiEmulator
from bot.transports.wechat_emulator import WeChatEmulator

# The sandbox account's template message for pushes past the 48-hour window.
STATUS_TEMPLATE = "gridsnap-sandbox-status"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    url: str  # the web chat
    emulator: BotApiEmulator
    app: Gridsnap


@contextlib.asynccontextmanager
async def sandbox(settings: Settings, **boot: Any) -> AsyncIterator[Sandbox]:
    """Everything runs on this event loop; leaving the block stops it all, web chat first.

    The sandbox is the one place the bundled sample map is imported into an empty database.
    """
    boot = {"sample_map": SAMPLE_MAP, **boot}
    async with BotApiEmulator(bot_username=settings.bot_username) as emulator:
        history = ChatHistory(history_folder(settings.photo_dir))
        history.load(emulator.world)  # the chats as the last run left them
        add_personas(emulator.world)
        bot_settings = settings.model_copy(
            update={"telegram_token": emulator.token, "telegram_api_url": emulator.url}
        )
        async with running(bot_settings, **boot) as (app, _application):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class WeChatSandbox:
    url: str  # the web chat
    emulator: WeChatEmulator
    app: Gridsnap
    telegram: BotApiEmulator | None = None  # mixed mode's staff side


@contextlib.asynccontextmanager
async def wechat_sandbox(
    settings: Settings, *, mixed: bool = False, **boot: Any
) -> AsyncIterator[WeChatSandbox]:
    """The WeChat mode: the same web chat, its personas WeChat followers of an Official
    Account whose server is the real bot (its WeChat transport alone). ``mixed``: riders
    on WeChat and staff on Telegram, the bot serving both, as a city running both would."""
    boot = {"sample_map": SAMPLE_MAP, **boot}
    mode = demo.MIXED if mixed else demo.WECHAT
    async with contextlib.AsyncExitStack() as stack:
        templates = {STATUS_TEMPLATE: "{{content.DATA}}"}
        emulator = await stack.enter_async_context(WeChatEmulator(templates=templates))
        emulator.receiver.aes_key = _encoding_aes_key()  # safe mode, as accounts should run
        chats = history_folder(settings.photo_dir, mode)
        histories: list[Callable[[], Coroutine[Any, Any, None]]] = []
        kept = WeChatHistory(chats)
        kept.load(emulator.world)  # the chats as the last run left them
        histories.append(lambda: kept.keep(emulator.world))
        add_followers(emulator, mode)
        update = _wechat_settings(emulator)
        telegram = None
        if mixed:
            telegram = BotApiEmulator(bot_username=settings.bot_username)
            await stack.enter_async_context(telegram)
            kept_telegram, telegram_world = ChatHistory(chats), telegram.world
            kept_telegram.load(telegram_world)
            histories.append(lambda: kept_telegram.keep(telegram_world))
            add_personas(telegram.world)
            update |= {"telegram_token": telegram.token, "telegram_api_url": telegram.url}
        bot_settings = settings.model_copy(update=update)
        app = await _start_bot(stack, bot_settings, telegram, boot)
        transport = await stack.enter_async_context(serving_wechat(app, bot_settings))
        emulator.receiver.url = f"http://{bot_settings.wechat_host}:{transport.port}/wechat"
        if telegram is None:
            await app.start_background()
        await demo.seed(app.uow_factory, now=datetime.now(UTC), mode=mode)
        world = telegram.world if telegram is not None else None
        web = create_wechat_app(emulator=emulator, maps=await _map_view(app), world=world)
        host = settings.sandbox_host
        port = await stack.enter_async_context(serving(web, host=host, port=settings.sandbox_port))
        keepers = [asyncio.create_task(keep()) for keep in histories]
        try:
            yield WeChatSandbox(
                url=f"http://{host}:{port}", emulator=emulator, app=app, telegram=telegram
            )
        finally:
            await app.stop_receiving()  # the bot's own long poll first, then the worlds
            emulator.world.close()  # answers the pages' open long polls
            if world is not None:
                world.close()
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)  # their last saves


async def _start_bot(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    telegram: BotApiEmulator | None,
    boot: dict[str, Any],
) -> Gridsnap:
    """The bot, polling ``telegram`` when given (started), else not yet receiving."""
    if telegram is None:
        app = await bootstrap(settings, **boot)
        stack.push_async_callback(app.close)
        return app
    app, _application = await stack.enter_async_context(running(settings, **boot))
    telegram.world.number_updates_after(await _last_update_id(app))
    return app


def _wechat_settings(emulator: WeChatEmulator) -> dict[str, Any]:
    return {
        "telegram_token": None,
        "webhook_url": None,
        "wechat_appid": emulator.appid,
        "wechat_secret": emulator.secret,
        "wechat_token": emulator.receiver.token,
        "wechat_aes_key": emulator.receiver.aes_key,
        "wechat_api_url": emulator.url,
        "wechat_host": "127.0.0.1",
        "wechat_port": 0,
        "wechat_template_status": STATUS_TEMPLATE,
    }


def _encoding_aes_key() -> str:
    """A fresh EncodingAESKey: 32 random bytes in base64 without its trailing "="."""
    return base64.b64encode(secrets.token_bytes(32)).decode()[:-1]


async def _last_update_id(app: Gridsnap) -> int:
    async with app.uow_factory() as uow:
        # Stored but not yet handled ones count too: a new update must not reuse their ids.
        handled = await uow.updates.highest(demo.PLATFORM) or 0
        return max(handled, await uow.inbox.highest(demo.PLATFORM) or 0)


async def _map_view(app: Gridsnap) -> MapView:
    async with app.uow_factory() as uow:
        _version, units = await uow.regions.load_units()
    return MapView(units)
