"""``gridsnap staff``: invite staff by one-time deep link, list them, remove a role."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.database import in_unit
from bot.config import ConfigError, Settings, load_settings
from bot.domain.model import RoleName
from bot.services import staff
from bot.services.ports import BaseUnitOfWork

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

RoleOption = Annotated[
    RoleName,
    typer.Option(
        "--role",
        help="grid_worker|grid_leader|community_admin|street_admin|city_admin|party_secretary"
        " (party_secretary: on a community)",
    ),
]
RegionOption = Annotated[str, typer.Option("--region", help="Region code from the grid map.")]


@app.command()
def invite(
    region: RegionOption,
    role: RoleOption,
    hours: Annotated[float, typer.Option("--hours", help="How long the link works.")] = 72,
) -> None:
    """Print a one-time Telegram deep link that grants ROLE on REGION to whoever opens it."""
    settings = _settings()

    async def create(uow: BaseUnitOfWork) -> staff.CreatedInvite:
        return await staff.create_invite(
            uow,
            region_code=region,
            role=role,
            now=datetime.now(UTC),
            bot_username=settings.bot_username,
            hours=hours,
        )

    created = _run(settings, create, commit=True)
    expires = created.invite.expires_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M %Z")
    typer.echo(
        f"{role.value} of {created.region.name} ({created.region.code}), once, until {expires}"
    )
    typer.echo(created.link)
    typer.echo(f"/start {created.payload}")


@app.command("list")
def list_() -> None:
    """Show every staff role and who holds it."""
    members = _run(_settings(), staff.list_staff)
    table = Table("Account", "Name", "Role", "Region", "On duty")
    for member in members:
        account = member.account
        table.add_row(
            str(member.grant.account_id),
            account.display_name if account else "",
            member.grant.role.value,
            member.grant.region_code,
            ("yes" if account.on_duty else "no") if account else "",
        )
    Console().print(table if members else "no staff yet")


@app.command()
def remove(
    account_id: Annotated[int, typer.Argument(metavar="ACCOUNT_ID")],
    role: RoleOption,
    region: RegionOption,
) -> None:
    """Take ROLE on REGION away from ACCOUNT_ID."""

    async def revoke(uow: BaseUnitOfWork) -> bool:
        return await staff.remove_staff(uow, account_id=account_id, role=role, region_code=region)

    if not _run(_settings(), revoke, commit=True):
        typer.echo(f"account {account_id} holds no {role.value} role on {region}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {role.value} on {region} from account {account_id}")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def _run(
    settings: Settings, work: Callable[[BaseUnitOfWork], Awaitable[T]], *, commit: bool = False
) -> T:
    try:
        return asyncio.run(in_unit(settings.database_url, work, commit=commit))
    except staff.StaffError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
