"""The composition root: the one place that builds the real world from settings.

``bootstrap`` brings the database to the current schema (the sandbox also has it import
the bundled sample map into an empty database; nothing else does), and wires the core
(flows, use cases, inbox, outbox). ``attach_telegram`` adds the python-telegram-bot transport,
``attach_aiogram`` the aiogram one (``GRIDSNAP_TRANSPORT`` picks). ``running`` runs the whole
thing against the Bot API at ``telegram_api_url``: Telegram, or the sandbox's emulator.
Nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from bot.config import ROOT, ConfigError, Settings
from bot.delivery import OutboxSender, UnitOfWorkOutbox
from bot.domain.categories import Catalogue, load_catalogue
from bot.i18n import SUPPORTED, translator
from bot.inbox import Inbox, Poller, PollingTurn
from bot.instances import Heartbeat, this_process
from bot.scheduler import JobScheduler
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from handlers.dispatcher import Dispatcher
from handlers.registry import Registry, collect

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.routing import Route
    from telegram.ext import Application

    from bot.transports.aiogram_transport import AiogramTransport
    from bot.transports.wechat.api import WeChatApi
    from storage.photos import PhotoStore

    # What ``running`` yields beside the app: the PTB application or the aiogram pair.
    Transport: TypeAlias = Application[Any, Any, Any, Any, Any, Any] | AiogramTransport

log = logging.getLogger(__name__)

SAMPLE_MAP = ROOT / "bot" / "data" / "sample_map.geojson"
NO_MAP_WARNING = (
    "no grid map imported: reports cannot be routed to a grid until `gridsnap map import`"
)
OUTBOX_STOP_WAIT = 10.0  # seconds; longer than one Bot API request normally takes
# How often the stored map version is looked up: a map imported by `gridsnap map import`
# is routed on within a second, and an update does not pay a statement for it.
MAP_RECHECK_S = 1.0


@dataclass(kw_only=True)
class Gridsnap:
    settings: Settings
    engine: AsyncEngine
    uow_factory: Callable[[], BaseUnitOfWork]
    env: Env
    registry: Registry
    dispatcher: Dispatcher
    outbox: OutboxSender
    inbox: Inbox  # received updates, stored before they are acknowledged (bot/inbox.py)
    heartbeat: Heartbeat  # this process among those sharing the database (bot/instances.py)
    poller: Poller | None = None  # long polling into the inbox; None with a webhook
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    receiving: list[asyncio.Task[Any]] = field(default_factory=list)
    scheduler: JobScheduler | None = None
    photo_store: PhotoStore | None = None  # swept hourly of photos nothing refers to

    async def start_background(self) -> None:
        # Before the first update: its one-time costs are paid here, not by a rider.
        try:
            await asyncio.to_thread(warm_up, self.env, self.settings)
        except Exception:  # only a speed-up: the first photo or map would fail the same way
            log.exception("warm-up failed; the first photo or alert map pays its start-up cost")
        if self.settings.database_url.startswith("sqlite"):
            # One process owns a SQLite file: what a killed run was handling is ours now.
            await self.inbox.release_leases()
        # Beat before the first claim: the leases taken carry an id others see alive.
        await self.heartbeat.beat()
        self.tasks.append(asyncio.create_task(self.heartbeat.run(), name="heartbeat"))
        self.receiving.append(asyncio.create_task(self.inbox.run(), name="inbox"))
        if self.poller is not None:
            self.receiving.append(asyncio.create_task(self.poller.run(), name="polling"))
        self.tasks.append(asyncio.create_task(self.outbox.run(), name="outbox"))
        # The SLA sweep and the digest; they keep no state, so every process may run them.
        self.scheduler = JobScheduler(
            uow_factory=self.uow_factory,
            env=self.env,
            on_commit=self.outbox.wake,
            photo_store=self.photo_store,
        )
        self.scheduler.start()
        await self.scheduler.catch_up()

    async def close(self) -> None:
        """Stop in order: take nothing new, handle what is stored (bounded), send, close.
        Called again (the webhook server closes it before the bot's session), it returns."""
        await self.stop_receiving()
        if self.scheduler is not None:
            self.scheduler.shutdown()
            self.scheduler = None
        self.outbox.stop()
        # Let the outbox settle the row in flight (see OutboxSender.stop); cancel only a
        # sender stuck longer than that, e.g. on a hanging request.
        working = [t for t in self.tasks if t.get_name() != "heartbeat"]
        if working:
            # A send in flight may take up to its timeout; cut short, its row stays leased
            # and goes out again after a restart.
            wait = max(OUTBOX_STOP_WAIT, self.settings.send_timeout_s + 5)
            await asyncio.wait(working, timeout=wait)
        stopped = bool(self.tasks)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        if stopped:
            # Last: until now this process was still at work on what it holds.
            await self.heartbeat.leave()
        await self.engine.dispose()

    async def stop_receiving(self) -> None:
        """Stop polling, then handle what is stored (bounded by ``drain_s``)."""
        if not self.receiving:
            return
        polling, working = self.receiving[1:], self.receiving[0]
        for task in polling:
            task.cancel()
        self.inbox.stop()
        # The inbox hands back what it has not handled by its drain time; never wait longer.
        await asyncio.wait([working], timeout=self.settings.drain_s + OUTBOX_STOP_WAIT)
        for task in self.receiving:
            task.cancel()
        for task in self.receiving:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.receiving.clear()


def warm_up(env: Env, settings: Settings) -> None:
    """Take a photo in and draw an alert's map once, at start: the first of each had paid
    one-time costs of ~0.1–0.4 s (imagehash loads SciPy's FFT on its first hash; Pillow its
    encoders and the map's fonts) inside a rider's update."""
    import io

    from PIL import Image

    from bot.domain.model import Crs
    from bot.geo.crs import converter
    from bot.geo.render import render_map_png
    from bot.media.intake import PhotoRejected, process_photo

    sample = io.BytesIO()
    Image.effect_noise((320, 240), 40).convert("RGB").save(sample, "JPEG")
    with contextlib.suppress(PhotoRejected):
        process_photo(
            sample.getvalue(),
            max_bytes=settings.max_download_bytes,
            max_pixels=settings.max_photo_pixels,
        )
    if not env.maps.loaded:
        return
    gridmap = env.maps.current()
    west, south, east, north = gridmap.bounds
    lat, lon = converter(gridmap.crs, Crs.WGS84)((south + north) / 2, (west + east) / 2)
    routed = gridmap.route(lat, lon)
    if routed.unit is not None:
        render_map_png(routed.unit.code, lat, lon, gridmap)


async def prepare_database(settings: Settings) -> None:
    """Migrate to head (one process at a time; see ``storage.migrate``)."""
    from storage.migrate import upgrade_async

    await upgrade_async(settings.database_url)


async def ensure_sample_map(uow_factory: Callable[[], BaseUnitOfWork], path: Path) -> int:
    """Import the bundled map into an empty database; return the map version in force."""
    from bot.geo.geojson import load_geojson

    async with uow_factory() as uow:
        version = await uow.regions.map_version()
    if version:
        return version
    loaded = await asyncio.to_thread(load_geojson, path)
    async with uow_factory() as uow:
        version = await uow.regions.replace_map(loaded.units, replace=True)
        await uow.commit()
    log.info("imported the sample map %s (%d units), version %d", path, len(loaded.units), version)
    return version


async def bootstrap(
    settings: Settings, *, catalogue: Catalogue | None = None, sample_map: Path | None = None
) -> Gridsnap:
    """The core wired to ``settings``' database. ``sample_map`` is imported into a database
    with no map (the sandbox's); a real deployment imports its city with ``gridsnap map
    import``, and until then is told so in one line at start."""
    from storage.database import create_engine, create_session_factory
    from storage.photos import PhotoStore
    from storage.uow import SqlUnitOfWork

    # PTB 22 warns on every RetryAfter unless durations are timedeltas; we read both forms.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    _require_catalogues(settings)
    await prepare_database(settings)
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)

    def uow_factory() -> BaseUnitOfWork:
        return SqlUnitOfWork(session_factory=session_factory)

    if sample_map is not None:
        await ensure_sample_map(uow_factory, sample_map)
    photos: PhotoStore = PhotoStore(settings.photo_dir)
    env = Env(
        catalogue=catalogue or load_catalogue(),
        maps=MapHolder(tolerance_m=settings.route_tolerance_m, recheck_s=MAP_RECHECK_S),
        photos=photos,
        zone=settings.zone,
        open_reporting=settings.open_reporting,
        duplicate_radius_m=settings.duplicate_radius_m,
        duplicate_window_h=settings.duplicate_window_h,
        max_download_bytes=settings.max_download_bytes,
        max_photo_pixels=settings.max_photo_pixels,
        bot_username=settings.bot_username,
        default_locale=settings.default_locale,
        escalate_after=timedelta(minutes=settings.escalate_after_min),
        photo_orphan_age=timedelta(days=settings.photo_orphan_days),
        draft_age=timedelta(hours=settings.draft_hours),
        outbox_keep=timedelta(days=settings.outbox_keep_days),
    )
    async with uow_factory() as uow:
        if await env.maps.refresh(uow) is None:
            log.warning(NO_MAP_WARNING)
    heartbeat = Heartbeat(
        uow_factory=uow_factory,
        instance=this_process(settings.instance_id),
        every=timedelta(seconds=settings.heartbeat_s),
        dead_after=timedelta(seconds=settings.instance_dead_s),
    )
    owner = heartbeat.instance.id
    outbox = OutboxSender(
        store=UnitOfWorkOutbox(
            uow_factory,
            owner=owner,
            lease=outbox_lease(settings.send_timeout_s),
            alive_since=heartbeat.alive_since,
        ),
        fresh=heartbeat.fresh,
        senders={},
        rate_global=settings.send_rate_global,
        rate_per_chat=settings.send_rate_per_chat,
        burst_per_chat=settings.send_burst_per_chat,
        max_attempts=settings.send_max_attempts,
    )
    heartbeat.on_live = outbox.share_rate
    registry = collect()
    dispatcher = Dispatcher(
        uow_factory=uow_factory,
        env=env,
        flows=registry.flows,
        commands=registry.commands,
        button_handlers=registry.buttons,
        fallback=registry.dispatch_fallback,
        on_commit=outbox.wake,
    )
    inbox = Inbox(
        uow_factory=uow_factory,
        handle=dispatcher.handle,
        concurrency=settings.concurrent_updates,
        lease=timedelta(seconds=settings.inbox_lease_s),
        max_attempts=settings.inbox_max_attempts,
        drain_s=settings.drain_s,
        owner=owner,
        alive_since=heartbeat.alive_since,
    )
    return Gridsnap(
        settings=settings,
        engine=engine,
        uow_factory=uow_factory,
        env=env,
        registry=registry,
        dispatcher=dispatcher,
        outbox=outbox,
        inbox=inbox,
        heartbeat=heartbeat,
        photo_store=photos,
    )


def _require_catalogues(settings: Settings) -> None:
    """Every locale the bot speaks, the configured default first, has its catalogue."""
    from bot.i18n import MissingCatalogue, require_catalogues

    try:
        require_catalogues((settings.default_locale, *SUPPORTED))
    except MissingCatalogue as exc:
        raise ConfigError(f"GRIDSNAP_DEFAULT_LOCALE={settings.default_locale}: {exc}") from None


def outbox_lease(send_timeout_s: float) -> timedelta:
    """How long claimed rows are held: past the longest inline wait plus a slow send, so a
    live sender never has a row claimed from under it (and sent twice) by another."""
    return timedelta(seconds=max(60.0, 30.0 + 2 * send_timeout_s))


def menu(registry: Registry, default_locale: str) -> dict[str | None, list[tuple[str, str]]]:
    """The command menu per locale; users of other languages get the ``default_locale`` one,
    the language their replies come in (bot.i18n.normalize)."""
    by_locale: dict[str | None, list[tuple[str, str]]] = {}
    for locale in SUPPORTED:
        t = translator(locale)
        by_locale[locale] = [(c.name, t._(c.description)) for c in registry.commands if c.menu]
    by_locale[None] = by_locale[default_locale]
    return by_locale


def polling_turn(app: Gridsnap, settings: Settings) -> PollingTurn:
    """Which process polls this bot (the token's public part, before the colon, names it:
    several bots may share one database)."""
    from storage.polling_turn import polling_turn as turn

    bot_id = (settings.telegram_token or "").split(":", 1)[0]
    return turn(app.engine, f"gridsnap:poll:telegram:{bot_id}")


def attach_telegram(app: Gridsnap, settings: Settings) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the PTB application for ``settings`` (token and Bot API URL) and wire it in."""
    from bot.transports.telegram import (
        TelegramFetcher,
        TelegramSender,
        build_application,
        get_updates,
        mapper,
    )

    application = build_application(settings)
    app.inbox.add_mapper("telegram", mapper(application))
    if not settings.webhook_url:
        app.poller = Poller(
            inbox=app.inbox,
            platform="telegram",
            get_updates=get_updates(application.bot),
            max_backlog=settings.inbox_max_backlog,
            turn=polling_turn(app, settings),
        )
    photos = app.env.photos
    sender = TelegramSender(
        bot=application.bot, photo_loader=photos.get, timeout=settings.send_timeout_s
    )
    app.outbox.add_sender("telegram", sender.send)
    app.dispatcher.add_fetcher("telegram", TelegramFetcher(bot=application.bot))
    return application


def attach_aiogram(app: Gridsnap, settings: Settings) -> AiogramTransport:
    """Build the aiogram Bot for ``settings`` and wire it in, as ``attach_telegram`` does
    for PTB: the same platform name and inbox, so the same flows and rows."""
    from bot.transports.aiogram_transport import (
        AiogramFetcher,
        AiogramSender,
        build,
        get_updates,
        mapper,
    )

    transport = build(settings)
    app.inbox.add_mapper("telegram", mapper(transport))
    app.poller = Poller(
        inbox=app.inbox,
        platform="telegram",
        get_updates=get_updates(transport),
        max_backlog=settings.inbox_max_backlog,
        turn=polling_turn(app, settings),
    )
    sender = AiogramSender(
        bot=transport.bot, photo_loader=app.env.photos.get, timeout=settings.send_timeout_s
    )
    app.outbox.add_sender("telegram", sender.send)
    app.dispatcher.add_fetcher("telegram", AiogramFetcher(bot=transport.bot))
    return transport


@dataclass(kw_only=True)
class WeChatTransport:
    """What ``attach_wechat`` wired in: the API client and the ``/wechat`` route."""

    api: WeChatApi
    route: Route
    port: int = 0  # where the route listens, once served

    async def aclose(self) -> None:
        await self.api.aclose()


def attach_wechat(app: Gridsnap, settings: Settings) -> WeChatTransport:
    """Wire the WeChat Official Account in beside (or instead of) Telegram: its mapper,
    sender and fetcher under the platform name ``wechat``; serve ``route`` to receive."""
    from wechatpy.crypto import WeChatCrypto

    from bot.transports.wechat import PLATFORM as WECHAT
    from bot.transports.wechat.api import WeChatApi
    from bot.transports.wechat.mapper import to_incoming
    from bot.transports.wechat.receiver import wechat_route
    from bot.transports.wechat.sender import WeChatFetcher, WeChatSender
    from storage.database import create_session_factory
    from storage.wechat import MenuRows, TokenRow, due_now

    appid, secret, token = settings.require_wechat()
    sessions = create_session_factory(app.engine)
    menus = MenuRows(sessions)
    api = WeChatApi(
        base_url=settings.wechat_api_url,
        appid=appid,
        secret=secret,
        tokens=TokenRow(sessions, appid=appid),
        timeout=settings.send_timeout_s,
    )
    aes_key = settings.wechat_aes_key
    crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None

    async def window_opened(openid: str) -> None:
        now = datetime.now(UTC)
        if await due_now(sessions, platform=WECHAT, chat_id=openid, now=now):
            app.outbox.wake()

    route = wechat_route(
        app.inbox,
        token=token,
        crypto=crypto,
        menus=menus,
        max_body_bytes=settings.webhook_max_body_bytes,
        max_backlog=settings.inbox_max_backlog,
        on_wrote=window_opened,
    )
    app.inbox.add_mapper(WECHAT, to_incoming)
    sender = WeChatSender(
        api=api,
        menus=menus,
        photo_loader=app.env.photos.get,
        locale=settings.default_locale,
        template_id=settings.wechat_template_status,
    )
    app.outbox.add_sender(WECHAT, sender.send)
    app.dispatcher.add_fetcher(WECHAT, WeChatFetcher(api=api))
    return WeChatTransport(api=api, route=route)


@contextlib.asynccontextmanager
async def serving_wechat(app: Gridsnap, settings: Settings) -> AsyncIterator[WeChatTransport]:
    """``attach_wechat``, its route served on ``GRIDSNAP_WECHAT_PORT`` for the block.

    Listening starts at once (a taken port is one line before anything else waits); a
    callback that comes before the worker runs is stored and waits. On the way out the
    server stops taking callbacks, then ``app`` is closed (what is stored is handled and
    sent), and only then the API client."""
    from starlette.applications import Starlette

    from bot.transports.embedded_http import EmbeddedServer

    transport = attach_wechat(app, settings)
    grace = max(int(settings.drain_s), 1)
    server = EmbeddedServer(
        Starlette(routes=[transport.route]),
        host=settings.wechat_host,
        port=settings.wechat_port,
        grace_s=grace,
    )
    try:
        port = await server.start()
        try:
            log.info("WeChat callbacks on %s:%d/wechat", settings.wechat_host, port)
            transport.port = port
            yield transport
        finally:
            await server.stop()
            await app.close()
    finally:
        await transport.aclose()


@contextlib.asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[tuple[Gridsnap, Transport]]:
    """Bootstrap, attach Telegram (``settings.transport``), start polling and the outbox;
    stop all on exit."""
    app = await bootstrap(settings, **kwargs)
    polling = _aiogram_polling if settings.transport == "aiogram" else _ptb_polling
    try:
        async with polling(app, settings) as transport:
            await app.start_background()
            try:
                yield app, transport
            finally:
                # Before the transport closes: the drain may still download and send.
                await app.close()
    finally:
        await app.close()


@contextlib.asynccontextmanager
async def _ptb_polling(
    app: Gridsnap, settings: Settings
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    from bot.transports.telegram import polling, register_commands

    application = attach_telegram(app, settings)
    async with polling(application):
        await register_commands(application.bot, menu(app.registry, settings.default_locale))
        yield application


@contextlib.asynccontextmanager
async def _aiogram_polling(app: Gridsnap, settings: Settings) -> AsyncIterator[AiogramTransport]:
    from bot.transports.aiogram_transport import polling, register_commands

    transport = attach_aiogram(app, settings)
    async with polling(transport):
        await register_commands(transport.bot, menu(app.registry, settings.default_locale))
        yield transport


async def bot_username(transport: Transport) -> str | None:
    """The username Telegram reports for the bot, whichever library is talking to it."""
    from bot.transports.aiogram_transport import AiogramTransport

    if isinstance(transport, AiogramTransport):
        return (await transport.bot.me()).username
    username: str | None = transport.bot.username  # PTB read it with getMe at start
    return username
