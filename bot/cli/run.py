"""``gridsnap run`` and ``gridsnap sandbox reset``.

With no bot token, ``run`` starts the sandbox (emulator + real bot + web chat); with a token
it polls Telegram, or serves a webhook when ``GRIDSNAP_WEBHOOK_URL`` is set. SIGINT and
SIGTERM stop every part in order: web server, bot, outbox, database.
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

console = Console(highlight=False)
sandbox_app = typer.Typer(no_args_is_help=True, help="The local sandbox (no Telegram token).")


def run() -> None:
    """Run the bot: the sandbox without a token, Telegram polling or webhook with one."""
    settings = _settings_or_exit()
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
    except OSError as exc:  # most often: the port is taken
        console.print(f"[red]cannot start: {exc}[/red]")
        raise typer.Exit(1) from None


@sandbox_app.command("reset")
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask.")) -> None:
    """Delete the sandbox database and photos; the next run starts over with demo data."""
    settings = _settings_or_exit()
    database = _sqlite_file(settings.database_url)
    if database is None:
        console.print("[red]GRIDSNAP_DATABASE_URL: reset only deletes a SQLite file[/red]")
        raise typer.Exit(2)
    chats = history_folder(settings.photo_dir)
    if not yes and not typer.confirm(f"Delete {database}, {settings.photo_dir} and {chats}?"):
        console.print("Cancelled: nothing was deleted.")
        raise typer.Exit(1)
    for path in _database_files(database):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.photo_dir, ignore_errors=True)
    shutil.rmtree(chats, ignore_errors=True)  # the web chat's conversations
    console.print("Sandbox reset: the next [bold]gridsnap run[/bold] starts with fresh demo data.")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        # soft_wrap: one line, which rich would otherwise fold at the terminal's width.
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _database_files(database: Path) -> list[Path]:
    # SQLite keeps a journal or WAL beside the file; a stale one would resurrect old rows.
    return [
        database,
        *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal")),
    ]


async def _serve_until_signalled(settings: Settings) -> None:
    from bot.cli.database import ensure_reachable

    await ensure_reachable(settings.database_url)
    await serve(settings, _stop_event())


async def serve(settings: Settings, stopping: asyncio.Event) -> None:
    """What ``gridsnap run`` does, until ``stopping`` is set: the sandbox without a token,
    else a webhook server when ``webhook_url`` is set, else polling.

    The caller owns the stop: the command sets it from SIGINT/SIGTERM, a test sets it itself.
    """
    if not settings.telegram_token:
        await _serve_sandbox(settings, stopping)
    elif settings.webhook_url:
        await _serve_webhook(settings, stopping)
    else:
        await _serve_polling(settings, stopping)


def _stop_event() -> asyncio.Event:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


async def _serve_sandbox(settings: Settings, stopping: asyncio.Event) -> None:
    from bot.sandbox.runtime import sandbox

    console.print("Starting the sandbox (no GRIDSNAP_TELEGRAM_TOKEN set)…")
    async with sandbox(settings) as running:
        console.print(
            Panel.fit(
                f"[bold green]Gridsnap sandbox: {running.url}[/bold green]\n"
                f"Rider 小王: {running.url}/?as=rider\n"
                f"Grid worker 李芳: {running.url}/?as=worker\n"
                "Open it in a browser. Ctrl-C stops.",
                title="Gridsnap",
            )
        )
        await stopping.wait()
        console.print("Stopping…")


async def _serve_polling(settings: Settings, stopping: asyncio.Event) -> None:
    from bot.app import bot_username, running

    async with running(settings) as (_app, transport):
        username = await bot_username(transport)
        console.print(f"Gridsnap is polling Telegram as @{username}. Ctrl-C stops.")
        await stopping.wait()
        console.print("Stopping…")


async def _serve_webhook(settings: Settings, stopping: asyncio.Event) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from bot.app import attach_telegram, bootstrap, menu
    from bot.transports.embedded_http import serving
    from bot.transports.telegram import register_commands, register_webhook, webhook_route

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
        # Left in reverse: the server stops taking calls first (answering those under way),
        # then what is stored is handled and sent (bounded), then the bot's session closes.
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(application)
            stack.push_async_callback(app.close)
            await app.start_background()
            # Calls under way when the stop comes get time to be stored and answered.
            grace = max(math.ceil(settings.drain_s), 1)
            await stack.enter_async_context(serving(web, host=host, port=port, grace_s=grace))
            secret = settings.webhook_secret or ""
            await register_webhook(application.bot, url=settings.webhook_url, secret=secret)
            await register_commands(application.bot, menu(app.registry, settings.default_locale))
            console.print(f"Gridsnap webhook: {settings.webhook_url} → {host}:{port}{path}")
            await stopping.wait()
            console.print("Stopping…")
    finally:
        await app.close()
