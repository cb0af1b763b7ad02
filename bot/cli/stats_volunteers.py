"""``gridsnap stats volunteers``: volunteers, tasks, sign-ups and confirmed hours per
community and per street.

``register(app)`` adds the command to a ``stats`` Typer app; ``bot.cli.stats`` (the group)
calls it, so another module's ``stats`` commands sit beside this one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.database import in_unit
from bot.config import ConfigError, load_settings
from bot.domain.model import Level
from bot.services import volunteers
from bot.services.ports import BaseUnitOfWork


def register(app: typer.Typer) -> None:
    app.command("volunteers")(volunteers_command)


def volunteers_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Volunteers (approved and waiting), tasks, sign-ups and confirmed hours, per community
    and per street."""
    try:
        rows = asyncio.run(in_unit(load_settings().database_url, _statistics))
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("Level", "Code", "Name", "Volunteers", "Waiting", "Tasks", "Sign-ups", "Hours")
    for row in rows:
        table.add_row(
            str(row["level"]),
            str(row["code"]),
            str(row["name"]),
            *(str(row[k]) for k in ("volunteers", "pending", "tasks", "signups", "hours")),
        )
    Console().print(table if rows else "no communities on the map")


async def _statistics(uow: BaseUnitOfWork) -> list[dict[str, object]]:
    rows = await volunteers.statistics(uow)
    # Streets after their communities in the service's answer; here streets first, then
    # each street's communities, in code order.
    order = {Level.STREET: 0, Level.COMMUNITY: 1}
    return [
        {
            "level": row.region.level.value,
            "code": row.region.code,
            "name": row.region.name,
            "volunteers": row.volunteers,
            "pending": row.pending,
            "tasks": row.tasks,
            "signups": row.signups,
            "hours": round(row.hours, 2),
        }
        for row in sorted(rows, key=lambda r: (order.get(r.region.level, 2), r.region.code))
    ]
