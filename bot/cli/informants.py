"""``gridsnap informants``: list applications, approve or reject them.

The commands write to the database the running bot uses; a decision's notification goes to
the outbox in the same commit, and the bot's outbox sender delivers it.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.database import in_unit
from bot.config import ConfigError, load_settings
from bot.domain.model import Account, InformantProfile, InformantStatus
from bot.services import informants
from bot.services.ports import BaseUnitOfWork

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who decides (recorded with the decision); default: your login."),
]


@app.command("list")
def list_(
    pending: Annotated[bool, typer.Option("--pending", help="Only those awaiting review.")] = False,
) -> None:
    """Show informant applications, oldest first."""
    status = InformantStatus.PENDING if pending else None
    rows = _run(lambda uow: _listing(uow, status))
    table = Table(
        "ID", "Name", "Phone", "Company", "Area", "Status", "Applied (UTC)", "Decided (UTC)"
    )
    for profile, area in rows:
        table.add_row(
            str(profile.account_id),
            profile.real_name,
            profile.phone,
            profile.company,
            area,
            profile.status.value,
            _when(profile.created_at),
            _when(profile.decided_at),
        )
    Console().print(table if rows else "no informant applications")


@app.command()
def approve(
    informant_id: Annotated[int, typer.Argument(metavar="ID")], by: ByOption = None
) -> None:
    """Approve an application; the rider is notified."""

    async def decide(uow: BaseUnitOfWork) -> InformantProfile:
        operator = await _operator(uow, by)
        return await informants.approve(uow, informant_id, by=operator.id, now=_now())

    profile = _run(decide, commit=True)
    typer.echo(f"approved informant {profile.account_id} ({profile.real_name})")


@app.command()
def reject(
    informant_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason", help="Told to the rider.")] = None,
    by: ByOption = None,
) -> None:
    """Reject an application; the rider is notified (with the reason, if given)."""

    async def decide(uow: BaseUnitOfWork) -> InformantProfile:
        operator = await _operator(uow, by)
        return await informants.reject(uow, informant_id, by=operator.id, now=_now(), reason=reason)

    profile = _run(decide, commit=True)
    typer.echo(f"rejected informant {profile.account_id} ({profile.real_name})")


async def _listing(
    uow: BaseUnitOfWork, status: InformantStatus | None
) -> list[tuple[InformantProfile, str]]:
    rows = []
    for profile in await uow.informants.list(status):
        node = None
        if profile.home_region_id is not None:
            node = await uow.regions.get_by_id(profile.home_region_id)
        rows.append((profile, node.name if node else ""))
    return rows


async def _operator(uow: BaseUnitOfWork, name: str | None) -> Account:
    # Decisions name an account; an operator at the console gets one on the "cli" platform,
    # which no transport delivers to, so it is a record of who decided and nothing more.
    login = name or getpass.getuser()
    return await uow.accounts.get_or_create(
        platform="cli", platform_user_id=login, chat_id="", display_name=login, locale="en"
    )


def _run(work: Callable[[BaseUnitOfWork], Awaitable[T]], *, commit: bool = False) -> T:
    try:
        return asyncio.run(in_unit(load_settings().database_url, work, commit=commit))
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except informants.InformantError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
