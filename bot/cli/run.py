"""``gridsnap run`` and ``gridsnap sandbox run | reset``.

With a token, ``run`` polls Telegram, or serves a webhook when ``GRIDSNAP_WEBHOOK_URL`` is
set. With no token it starts the sandbox (emulator + real bot + web chat), but only when
``GRIDSNAP_DATABASE_URL`` is not set: the sandbox seeds demo accounts, staff roles and a
persona switch without a login, so it runs on its own SQLite file under
``GRIDSNAP_SANDBOX_DIR``, never on a configured database. ``gridsnap sandbox run`` starts it
explicitly, whatever else is configured. SIGINT and SIGTERM stop every part in order: web
server, bot, outbox, database; during start-up (say, while the Bot API is retried) they
cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import signal
from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.panel import Panel

from bot.config import ConfigError, Settings, load_settings
from bot.sandbox.history import history_folder
from bot.transports.embedded_http import CannotListen
from storage.database import sqlite_file

console = Console(highlight=False)
sandbox_app = typer.Typer(no_args_is_help=True, help="The local sandbox (no Telegram token).")

SANDBOX_DATABASE = "gridsnap.db"
PLATFORMS = ("telegram", "wechat", "mixed")


def run() -> None:
    """Run the bot: Telegram polling or webhook with a token, the sandbox without one."""
    settings = _settings_or_exit()
    if not settings.telegram_token and not settings.wechat_enabled:
        _refuse_a_configured_database(settings)
        settings = sandbox_settings(settings)
    _run_until_signalled(settings)


@sandbox_app.command("run")
def sandbox_run(
    platform: str | None = typer.Option(
        None,
        "--platform",
        help="telegram, wechat, or mixed (riders on WeChat, staff on Telegram): what the web"
        " chat plays (GRIDSNAP_SANDBOX_PLATFORM).",
    ),
) -> None:
    """Start the sandbox on its own SQLite file, whatever token or database is configured."""
    settings = _settings_or_exit()
    if platform is not None:
        if platform not in PLATFORMS:
            console.print(f"[red]--platform must be one of: {', '.join(PLATFORMS)}[/red]")
            raise typer.Exit(2)
        settings = settings.model_copy(update={"sandbox_platform": platform})
    _run_until_signalled(sandbox_settings(settings))


def sandbox_settings(settings: Settings) -> Settings:
    """``settings`` for the sandbox: no token, no WeChat account, its own database and
    photos in its folder (one pair per platform: their demo personas are different users)."""
    folder = settings.sandbox_dir.expanduser().resolve()
    suffix = "" if settings.sandbox_platform == "telegram" else f"-{settings.sandbox_platform}"
    database = Path(SANDBOX_DATABASE)
    database = folder / f"{database.stem}{suffix}{database.suffix}"
    return settings.model_copy(
        update={
            "telegram_token": None,
            "webhook_url": None,
            # A configured real account must not turn the sandbox into a real WeChat server.
            "wechat_appid": None,
            "wechat_secret": None,
            "wechat_token": None,
            "wechat_aes_key": None,
            "database_url": f"sqlite+aiosqlite:///{database}",
            "photo_dir": folder / f"photos{suffix}",
        }
    )


def _refuse_a_configured_database(settings: Settings) -> None:
    own = sqlite_file(sandbox_settings(settings).database_url)
    if not settings.database_configured or sqlite_file(settings.database_url) == own:
        return
    console.print(
        "GRIDSNAP_DATABASE_URL is set but GRIDSNAP_TELEGRAM_TOKEN is not: the sandbox (demo"
        " accounts, no login) runs only on its own SQLite file under GRIDSNAP_SANDBOX_DIR;"
        " set GRIDSNAP_TELEGRAM_TOKEN, unset GRIDSNAP_DATABASE_URL, or run `gridsnap sandbox"
        " run`",
        style="red",
        soft_wrap=True,
    )
    raise typer.Exit(2)


def _run_until_signalled(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Every Bot API call would be an INFO line: the libraries' chatter stays at WARNING.
    for noisy in ("httpx", "telegram", "aiogram", "apscheduler", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        asyncio.run(_serve_until_signalled(settings))
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    except CannotListen as exc:
        console.print(f"[red]{_port_variable(settings, exc.port)}: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        console.print(f"[red]cannot start: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None


def _port_variable(settings: Settings, port: int) -> str:
    if settings.wechat_enabled and port == settings.wechat_port:
        return "GRIDSNAP_WECHAT_PORT"
    if settings.telegram_token and port == settings.webhook_port:
        return "GRIDSNAP_WEBHOOK_PORT"
    return "GRIDSNAP_SANDBOX_PORT"


@sandbox_app.command("reset")
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete the sandbox database, photos and chats; the next run starts over with demo data.

    Only the sandbox's own files under GRIDSNAP_SANDBOX_DIR: never GRIDSNAP_DATABASE_URL's."""
    configured = _settings_or_exit()
    # Every platform's sandbox: each has its own database and photos.
    sandboxes = [
        sandbox_settings(configured.model_copy(update={"sandbox_platform": platform}))
        for platform in PLATFORMS
    ]
    databases = [sqlite_file(settings.database_url) for settings in sandboxes]
    photos = [settings.photo_dir for settings in sandboxes]
    chats = [history_folder(sandboxes[0].photo_dir, platform) for platform in PLATFORMS]
    listed = ", ".join(str(path) for path in [*databases, *photos, *chats])
    if not yes and not typer.confirm(f"Delete {listed}?"):
        console.print("Cancelled: nothing was deleted.")
        raise typer.Exit(1)
    for database in databases:
        assert database is not None  # sandbox_settings always names a file
        for path in _database_files(database):
            path.unlink(missing_ok=True)
    for folder in photos:
        shutil.rmtree(folder, ignore_errors=True)
    for folder in chats:
        shutil.rmtree(folder, ignore_errors=True)  # the web chat's conversations
    console.print("Sandbox reset: the next [bold]gridsnap run[/bold] starts with fresh demo data.")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        # soft_wrap: one line, which rich would otherwise fold at the terminal's width.
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def _database_files(database: Path) -> list[Path]:
    # SQLite keeps a journal or WAL beside the file; a stale one would resurrect old rows.
    return [
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal")),
    ]


async def _serve_until_signalled(settings: Settings) -> None:
    from bot.cli.database import ensure_reachable

    if settings.wechat_enabled:
        settings.require_wechat()  # a partly configured WeChat stops here, in one line
    if not settings.telegram_token and not settings.wechat_enabled:
        # The sandbox's own folder; any other database's folder must already exist.
        settings.sandbox_dir.mkdir(parents=True, exist_ok=True)
    await ensure_reachable(settings.database_url)
    stopping, started = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(serve(settings, stopping, started=started))

    def on_signal() -> None:
        stopping.set()
        if not started.is_set():  # still starting (retrying the Bot API, say): give up now
            serving.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await serving
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
        console.print("Stopped before start-up finished.")


async def serve(
    settings: Settings, stopping: asyncio.Event, *, started: asyncio.Event | None = None
) -> None:
    """What ``gridsnap run`` does, until ``stopping`` is set: the sandbox without a token,
    else a webhook server when ``webhook_url`` is set, else polling. ``started`` is set once
    everything runs.

    The caller owns the stop: the command sets it from SIGINT/SIGTERM, a test sets it itself.
    """
    started = started or asyncio.Event()
    if not settings.telegram_token and settings.wechat_enabled:
        await _serve_wechat(settings, stopping, started)
    elif not settings.telegram_token:
        await _serve_sandbox(settings, stopping, started)
    elif settings.webhook_url:
        await _serve_webhook(settings, stopping, started)
    else:
        await _serve_polling(settings, stopping, started)


async def _serve_sandbox(
    settings: Settings, stopping: asyncio.Event, started: asyncio.Event
) -> None:
    from bot.sandbox.runtime import sandbox, wechat_sandbox

    console.print(f"Starting the sandbox on {settings.database_url.split('///', 1)[-1]}…")
    async with contextlib.AsyncExitStack() as stack:
        if settings.sandbox_platform != "telegram":
            mixed = settings.sandbox_platform == "mixed"
            url = (await stack.enter_async_context(wechat_sandbox(settings, mixed=mixed))).url
        else:
            url = (await stack.enter_async_context(sandbox(settings))).url
        console.print(
            Panel.fit(
                f"[bold green]Gridsnap sandbox ({settings.sandbox_platform}): {url}[/bold green]\n"
                f"Rider 小王: {url}/?as=rider\n"
                f"Grid worker 李芳: {url}/?as=worker\n"
                "Open it in a browser. Ctrl-C stops.",
                title="Gridsnap",
            )
        )
        started.set()
        await stopping.wait()
        console.print("Stopping…")


async def _serve_polling(
    settings: Settings, stopping: asyncio.Event, started: asyncio.Event
) -> None:
    from bot.app import bot_username, running, serving_wechat

    async with running(settings) as (app, transport), contextlib.AsyncExitStack() as stack:
        if settings.wechat_enabled:
            await stack.enter_async_context(serving_wechat(app, settings))
        username = await bot_username(transport)
        console.print(f"Gridsnap is polling Telegram as @{username}. Ctrl-C stops.")
        started.set()
        await stopping.wait()
        console.print("Stopping…")


async def _serve_wechat(
    settings: Settings, stopping: asyncio.Event, started: asyncio.Event
) -> None:
    """WeChat alone: the callback server and the bot, no Telegram."""
    from bot.app import bootstrap, serving_wechat

    app = await bootstrap(settings)
    try:
        async with serving_wechat(app, settings) as wechat:
            await app.start_background()
            console.print(
                f"Gridsnap serves WeChat callbacks on {settings.wechat_host}:{wechat.port}/wechat"
                f" (API: {settings.wechat_api_url}). Ctrl-C stops."
            )
            started.set()
            await stopping.wait()
            console.print("Stopping…")
    finally:
        await app.close()


async def _serve_webhook(
    settings: Settings, stopping: asyncio.Event, started: asyncio.Event
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bot.app import attach_telegram, bootstrap, menu, serving_wechat
    from bot.transports.embedded_http import EmbeddedServer
    from bot.transports.telegram import (
        initialize_with_retries,
        register_commands,
        register_webhook,
        webhook_route,
    )

    assert settings.webhook_url is not None
    path = urlsplit(settings.webhook_url).path or "/telegram"

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = await bootstrap(settings)
    try:
        application = attach_telegram(app, settings)
        route = webhook_route(
            app.inbox,
            settings.webhook_secret or "",
            path=path,
            max_body_bytes=settings.webhook_max_body_bytes,
            max_backlog=settings.inbox_max_backlog,
        )
        web = Starlette(routes=[route, Route("/healthz", healthz, methods=["GET"])])
        host, port = settings.webhook_host, settings.webhook_port
        # Calls under way when the stop comes get time to be stored and answered.
        grace = max(math.ceil(settings.drain_s), 1)
        server = EmbeddedServer(web, host=host, port=port, grace_s=grace)
        # Listen first: a taken GRIDSNAP_WEBHOOK_PORT is refused at once, not after waiting for
        # the Bot API; a call that comes meanwhile is stored and waits for the worker.
        await server.start()
        # Left in reverse: the server stops taking calls first (answering those under way),
        # then what is stored is handled and sent (bounded), then the bot's session closes.
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(server.stop)  # should start-up fail below
            await initialize_with_retries(application)  # a Bot API not up yet is retried
            await stack.enter_async_context(application)
            stack.push_async_callback(app.close)
            if settings.wechat_enabled:
                await stack.enter_async_context(serving_wechat(app, settings))
            await app.start_background()
            stack.push_async_callback(server.stop)  # on the way out, first of all
            secret = settings.webhook_secret or ""
            await register_webhook(application.bot, url=settings.webhook_url, secret=secret)
            await register_commands(application.bot, menu(app.registry, settings.default_locale))
            console.print(f"Gridsnap webhook: {settings.webhook_url} → {host}:{port}{path}")
            started.set()
            await stopping.wait()
            console.print("Stopping…")
    finally:
        await app.close()
