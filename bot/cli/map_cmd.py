"""``gridsnap map``: import a boundary file, route a point, show statistics.

Every command brings the database to the newest schema first, like ``gridsnap run``, and
turns every failure into one ``error: …`` line on stderr with a non-zero exit: an operator
importing a county's boundaries should read what is wrong, not a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer

from bot.cli.database import with_database
from bot.config import ConfigError, Settings, load_settings
from bot.domain.model import Crs, Level
from bot.geo.geojson import LoadedMap, MapFileError, RepairableGeometryError, load_geojson
from bot.geo.router import RouteResult
from bot.services.maps import (
    ImportOutcome,
    MapProblem,
    MapStats,
    import_map,
    map_stats,
    route_document,
    route_point,
)
from bot.services.ports import BaseUnitOfWork, StorageError

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")

EXIT_BAD_INPUT = 2  # the same code click uses for a usage error
EXIT_FAILED = 1


class ImportLevel(enum.StrEnum):
    """The levels a boundary file may be forced to (a city outline is never routed to)."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"


UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Database URL; default GRIDSNAP_DATABASE_URL or the local file."),
]


class _Failure(Exception):
    """Carries a one-line message and exit code to ``_one_line_errors``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    # Imported here: SQLAlchemy and Alembic are only needed once a command runs.
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
        raise
    except _Failure as exc:
        _fail(str(exc), exc.code)
    except RepairableGeometryError as exc:
        _fail(
            f"{exc}; fix the file, or import with --repair to accept make_valid's repair",
            EXIT_BAD_INPUT,
        )
    except (MapFileError, MapProblem) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_BAD_INPUT)
    except (SQLAlchemyError, StorageError, CommandError, OSError) as exc:
        _fail(f"database error: {_first_line(exc)}", EXIT_FAILED)
    except Exception as exc:  # the promise is "never a traceback"; say what it was instead
        _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)}", EXIT_FAILED)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings(url: str | None) -> Settings:
    return load_settings(**({"database_url": url} if url else {}))


# -- import ----------------------------------------------------------------------------------


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="GeoJSON boundary file.", show_default=False)],
    crs: Annotated[
        Crs, typer.Option(case_sensitive=False, help="Coordinate system the file is drawn in.")
    ] = Crs.GCJ02,
    level: Annotated[
        ImportLevel | None,
        typer.Option(case_sensitive=False, help="Force every unit to this level."),
    ] = None,
    code_key: Annotated[str | None, typer.Option(help="Property holding the code.")] = None,
    name_key: Annotated[str | None, typer.Option(help="Property holding the name.")] = None,
    parent_key: Annotated[
        str | None, typer.Option(help="Property holding the parent's code.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Make the file the whole map (see above).")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Repair invalid rings with make_valid instead of refusing."),
    ] = False,
    url: UrlOption = None,
) -> None:
    """Import a GeoJSON boundary file as a new map version, in one transaction.

    Without --replace the file is merged into the stored map: a unit whose code is already
    stored is updated in place (roles and reports keep pointing at it), new codes are added,
    and every other stored unit stays. With --replace the file becomes the whole map: stored
    units missing from it are retired. Levels may come one file at a time, in any order: a
    unit whose parent is neither in the file nor stored goes under the finest coarser unit
    containing it, or at the top (a district naming a city nobody imported), with a warning;
    reports go to the finest unit the map has at their point, grids or not.
    Duplicate codes within the file are refused. A unit with an invalid ring (a
    self-intersection, say) is refused by name with the reason; with --repair it is repaired
    with shapely's make_valid and named in a warning. Overlaps between units of one level,
    within the file or with stored units the import keeps, are warnings with their area. An
    import that would mix coordinate systems is refused; the database is then unchanged.
    """
    with _one_line_errors():
        settings = _settings(url)
        # Read and validate before touching the database, so a bad file changes nothing.
        loaded = _read_with_progress(
            path,
            crs=crs,
            level=Level(level.value) if level else None,
            code_key=code_key,
            name_key=name_key,
            parent_key=parent_key,
            repair=repair,
        )
        for warning in loaded.warnings:
            typer.echo(f"warning: {warning}", err=True)

        async def work(uow_factory: Callable[[], BaseUnitOfWork]) -> ImportOutcome:
            return await import_map(
                uow_factory(),
                loaded.units,
                replace=replace,
                tolerance_m=settings.route_tolerance_m,
            )

        outcome = asyncio.run(with_database(settings.database_url, work))
    for warning in outcome.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"imported {sum(outcome.imported.values())} units: {_counts(outcome.imported)}")
    typer.echo(f"map version {outcome.version}; in force: {_counts(outcome.in_force)}")


def _read_with_progress(path: Path, **options: Any) -> LoadedMap:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    # On stderr, transient, and only on a terminal: the bar is for a person watching, never
    # part of the output a script reads (rich would leave a blank line in a pipe).
    console = Console(stderr=True)
    columns = (TextColumn("reading {task.description}"), BarColumn(), MofNCompleteColumn())
    bar = Progress(*columns, console=console, transient=True, disable=not console.is_terminal)
    with bar as progress:
        task = progress.add_task(path.name, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return load_geojson(path, progress=advance, **options)


def _counts(counts: dict[Level, int]) -> str:
    return ", ".join(f"{n} {level}" for level, n in counts.items()) or "nothing"


# -- route -----------------------------------------------------------------------------------


@app.command()
def route(
    lat: Annotated[float, typer.Argument(min=-90, max=90, help="Latitude.", show_default=False)],
    lon: Annotated[float, typer.Argument(min=-180, max=180, help="Longitude.", show_default=False)],
    crs: Annotated[
        Crs, typer.Option(case_sensitive=False, help="Coordinate system of the point.")
    ] = Crs.WGS84,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    url: UrlOption = None,
) -> None:
    """Show the unit a point is routed to (its grid, or the finest unit the map has there),
    and the path up to its district.

    The map is read from the database; with none imported it says so (as `map stats` does)
    and exits 2. Put `--` before a negative latitude: `route -- -33.9 151.2`.
    """
    with _one_line_errors():
        if not (math.isfinite(lat) and math.isfinite(lon)):
            raise _Failure("latitude and longitude must be numbers", EXIT_BAD_INPUT)
        settings = _settings(url)

        async def work(uow_factory: Callable[[], BaseUnitOfWork]) -> RouteResult:
            return await route_point(
                uow_factory(), lat, lon, crs, tolerance_m=settings.route_tolerance_m
            )

        result = asyncio.run(with_database(settings.database_url, work))
    if as_json:
        typer.echo(json.dumps(route_document(result), ensure_ascii=False))
    else:
        _print_route(result, settings.route_tolerance_m)


def _print_route(result: RouteResult, tolerance_m: float) -> None:
    if result.unit is None:
        typer.echo(f"{result.status}: no unit within {tolerance_m:.0f} m")
        return
    typer.echo(f"{result.status}: {result.unit.name} ({result.unit.code})")
    for ref in result.path:
        typer.echo(f"  {ref.level:<9} {ref.code:<16} {ref.name}")
    if result.distance_m:
        typer.echo(f"distance: {result.distance_m:.0f} m")


# -- stats -----------------------------------------------------------------------------------


@app.command()
def stats(url: UrlOption = None) -> None:
    """Show the map version, the number of units per level and the bounds of the units routed
    to (the grids, or the finest units the map has)."""
    with _one_line_errors():
        settings = _settings(url)

        async def work(uow_factory: Callable[[], BaseUnitOfWork]) -> MapStats:
            return await map_stats(uow_factory())

        found = asyncio.run(with_database(settings.database_url, work))
    if not found.version:
        typer.echo("no map imported yet (map version 0); see `gridsnap map import --help`")
        return
    typer.echo(f"map version {found.version} ({found.crs})")
    for level, n in found.counts.items():
        typer.echo(f"  {level:<9} {n}")
    if found.bounds is None:
        typer.echo("bounds: none (the map mixes coordinate systems)")
    else:
        x0, y0, x1, y1 = found.bounds
        typer.echo(f"bounds: longitude {x0:.6f} to {x1:.6f}, latitude {y0:.6f} to {y1:.6f}")
