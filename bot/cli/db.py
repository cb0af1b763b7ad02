"""``gridsnap db``: schema migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli.database import ensure_reachable
from bot.config import ConfigError, load_settings
from storage import migrate

app = typer.Typer(no_args_is_help=True)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Database URL; default GRIDSNAP_DATABASE_URL or the local file."),
]


def _url(url: str | None) -> str:
    """The configured database URL, once a connection to it has been opened."""
    try:
        target = load_settings(**({"database_url": url} if url else {})).database_url
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    asyncio.run(ensure_reachable(target))  # DatabaseUnreachable ends in bot.cli.main
    return target


@app.command()
def upgrade(url: UrlOption = None, revision: str = "head") -> None:
    """Bring the database schema up to REVISION (default: the newest)."""
    target = _url(url)
    migrate.upgrade(target, revision)
    typer.echo(f"database at revision {asyncio.run(migrate.current(target))}")


@app.command()
def downgrade(revision: str, url: UrlOption = None) -> None:
    """Step the schema back to REVISION ("base" empties the database)."""
    target = _url(url)
    migrate.downgrade(target, revision)
    typer.echo(f"database at revision {asyncio.run(migrate.current(target))}")


@app.command()
def current(url: UrlOption = None) -> None:
    """Show the revision the database is at, and the newest one."""
    at = asyncio.run(migrate.current(_url(url)))
    typer.echo(f"database at revision {at}; newest is {migrate.head()}")
