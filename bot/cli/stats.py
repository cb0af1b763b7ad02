"""``gridsnap stats``: aggregate counts for operators, one command per topic.

Counts only, never names. Each topic is a command on ``app`` that reads in one unit of
work through ``_run`` and prints a table (or one JSON object with ``--json``): add a topic
by adding a command here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.cli import stats_volunteers
from bot.cli.database import in_unit
from bot.config import ConfigError, load_settings
from bot.services import party
from bot.services.ports import BaseUnitOfWork

app = typer.Typer(no_args_is_help=True)
stats_volunteers.register(app)

T = TypeVar("T")

RegionOption = Annotated[
    str | None,
    typer.Option("--region", help="Only the communities at or below this region code."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


class StatsError(ValueError):
    """A stats command was given something that does not exist."""


@app.command("party")
def party_(region: RegionOption = None, as_json: JsonOption = False) -> None:
    """Party membership declarations: declared and verified, per community and street."""

    async def count(uow: BaseUnitOfWork) -> party.PartyStats:
        return await party.stats(uow, await _scope(uow, region))

    result = _run(count)
    if as_json:
        typer.echo(json.dumps(_party_document(result), ensure_ascii=False))
        return
    if not result.declared:
        typer.echo("no party membership declarations")
        return
    table = Table("Street", "Community", "Declared", "Verified")
    for street in result.streets:
        for row in (r for r in result.communities if r.street == street.street):
            table.add_row(row.street, row.community, str(row.declared), str(row.verified))
        table.add_row(street.street, "(street total)", str(street.declared), str(street.verified))
    table.add_row("", "(total)", str(result.declared), str(result.verified))
    Console().print(table)


def _party_document(result: party.PartyStats) -> dict[str, object]:
    def counts(row: party.CountRow) -> dict[str, object]:
        return {"declared": row.declared, "verified": row.verified}

    return {
        "declared": result.declared,
        "verified": result.verified,
        "streets": [{"street": s.street, **counts(s)} for s in result.streets],
        "communities": [
            {"street": c.street, "community": c.community, **counts(c)} for c in result.communities
        ],
    }


async def _scope(uow: BaseUnitOfWork, region: str | None) -> set[int] | None:
    if region is None:
        return None
    node = await uow.regions.get(region)
    if node is None:
        raise StatsError(f"no region with code {region!r}")
    return await party.communities_under(uow, node.id)


def _run(work: Callable[[BaseUnitOfWork], Awaitable[T]]) -> T:
    try:
        return asyncio.run(in_unit(load_settings().database_url, work))
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    except StatsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
