"""Complete report loops per second through the Bot API emulator, SQLite beside PostgreSQL.

One process holds the emulator, the real bot (python-telegram-bot long polling the emulator
over HTTP, the outbox sender, the scheduler) and the people pressing buttons. Per backend:
a few grids with one invited worker each and a few approved riders per grid; every rider
runs whole loops one after another, all riders at once:

  photo → location → category → Skip note → Submit (the rider gets the number)
  → the worker's alert → Accept → the rider is told → Resolve, a note, Skip or an
  after-photo (as the category demands) → the rider is asked "Fixed?" → 👍 → 5 stars → closed

Reported: loops/s, and the time from the rider's Submit press to the worker's alert being
recorded by the emulator (p50/p99), beside the bare round trip of one plain sendMessage
through PTB to the same emulator in the same run, and their ratio. The outbox's send rates
are raised far above Telegram's (30/s overall, 1/s per chat), which would otherwise be what
this measures. Nothing here asserts a timing; the run exits 0 unless the bot breaks a loop.

  .venv/bin/python bench/loop.py [--loops N] [--riders-per-grid R] [--grids G]
                                 [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.app import SAMPLE_MAP, Gridsnap, running
from bot.config import load_settings
from bot.domain.model import Crs, ReportStatus
from bot.geo.crs import converter
from bot.geo.router import RouteStatus
from bot.transports.emulator import BotApiEmulator, Entry
from tests.e2e.conftest import (
    Person,
    approved_informant,
    grid_codes,
    has_button,
    inline_buttons,
    jpeg,
    person,
    point_in,
)
from tests.e2e.workers import bind_worker

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# Far above Telegram's limits, so the outbox's pacing is not what gets measured.
RATES: dict[str, Any] = {
    "send_rate_global": 100_000.0,
    "send_rate_per_chat": 10_000.0,
    "send_burst_per_chat": 1000,
}
WAIT = 60.0  # per step; only a broken bot (or a machine far too busy) waits this long
BARE_TRIPS = 60
WARM_UP = 5
FILED = re.compile(r"\d{6}-\d{4}")
# Inset from a grid's edge so a scattered point routes strictly inside, not to a neighbour.
INSET_DEGREES = 0.0002


@dataclass
class Figures:
    backend: str
    loops: int = 0
    closed: int = 0  # of those, how many the database holds as closed afterwards
    seconds: float = 0.0
    submit_to_alert: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Scene:
    emu: BotApiEmulator
    app: Gridsnap
    workers: dict[str, Person]  # by grid code
    # A worker handles one case at a time in chat: the resolve flow is one conversation.
    desks: dict[str, asyncio.Lock]
    rng: random.Random


@dataclass(frozen=True)
class Loop:
    number: str
    submit_to_alert: float


# -- one loop ---------------------------------------------------------------------------


async def report_loop(scene: Scene, rider: Person, grid: str, seq: int) -> Loop:
    """One whole loop, from the rider's photo to the closed case."""
    rider.photo(jpeg(seq))
    await rider.expect(timeout=WAIT)
    rider.location(*scattered_point(scene, grid))
    menu = await rider.expect(has_button("rep:cat:"), timeout=WAIT)
    choices = [data for _text, data in inline_buttons(menu) if data.startswith("rep:cat:")]
    rider.press_data(menu, choices[seq % len(choices)])  # both Resolve paths get exercised
    note = await rider.expect(has_button("rep:skip"), timeout=WAIT)
    rider.press_data(note, "rep:skip")
    confirmation = await rider.expect(has_button("rep:submit"), timeout=WAIT)
    worker = scene.workers[grid]
    since, pressed = scene.emu.world.cursor, time.monotonic()
    rider.press_data(confirmation, "rep:submit")
    filed = await rider.expect(_filed(rider), timeout=WAIT)
    number = _number(filed)
    alert = await scene.emu.wait_for_message(
        worker.id, lambda e: number in e.text and has_button("w:acc:")(e), WAIT, since=since
    )
    async with scene.desks[grid]:
        report_id = await handle_case(worker, rider, alert, number)
    await confirm_fixed(rider, report_id, number)
    # Entry.at is when the emulator recorded the alert, on this process's monotonic clock.
    return Loop(number=number, submit_to_alert=alert.at - pressed)


async def handle_case(worker: Person, rider: Person, alert: Entry, number: str) -> str:
    """The worker's side: Accept (the rider is told), Resolve with a note, then Skip the
    after-photo where the category allows it, else send one. Returns the report id."""
    accept = next(data for _t, data in inline_buttons(alert) if data.startswith("w:acc:"))
    worker.press_data(alert, accept)
    edited = await worker.expect(
        lambda e: e.message_id == alert.message_id and has_button("w:res:")(e), timeout=WAIT
    )
    told = rider._("Report {number} ({category}) was accepted by a grid worker.").split(")")[-1]
    await rider.expect(lambda e: number in e.text and told in e.text, timeout=WAIT)
    resolve = next(data for _t, data in inline_buttons(edited) if data.startswith("w:res:"))
    worker.press_data(edited, resolve)
    await worker.expect(worker._("What was done? Write a short note."), timeout=WAIT)
    worker.say("Put a new one in")
    prompt = await worker.expect(worker._("Send a photo of the fixed problem"), timeout=WAIT)
    if has_button("wres:skip")(prompt):
        worker.press_data(prompt, "wres:skip")
    else:
        worker.photo(jpeg(alert.message_id))
    await worker.expect(worker._("Resolved. The reporter will be asked to confirm."), timeout=WAIT)
    return accept.split(":")[2]


async def confirm_fixed(rider: Person, report_id: str, number: str) -> None:
    """The rider's "Fixed?" → 👍 → five stars → closed."""
    asked = await rider.expect(has_button(f"fb:ok:{report_id}"), timeout=WAIT)
    rider.press_data(asked, f"fb:ok:{report_id}")
    stars = await rider.expect(has_button("fb:rate:"), timeout=WAIT)
    rider.press_data(stars, f"fb:rate:{report_id}:5")
    closed = rider._("Thank you! Report {number} is closed.").format(number=number)
    await rider.expect(closed, timeout=WAIT)


def _filed(rider: Person) -> Callable[[Entry], bool]:
    head = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    return lambda entry: head in entry.text and bool(FILED.search(entry.text))


def _number(entry: Entry) -> str:
    found = FILED.search(entry.text)
    if found is None:
        raise RuntimeError(f"no report number in {entry.text!r}")
    return found.group()


def scattered_point(scene: Scene, grid: str) -> tuple[float, float]:
    """A random WGS-84 point strictly inside ``grid`` (riders do not all stand on one spot,
    which would make every report a possible duplicate of the last)."""
    gridmap = scene.app.env.maps.current()
    inner = gridmap.geometry(grid).buffer(-INSET_DEGREES)
    to_wgs84 = converter(gridmap.crs, Crs.WGS84)
    west, south, east, north = inner.bounds if not inner.is_empty else (0, 0, 0, 0)
    for _ in range(100 if not inner.is_empty else 0):
        lat, lon = to_wgs84(scene.rng.uniform(south, north), scene.rng.uniform(west, east))
        routed = gridmap.route(lat, lon)
        if routed.status is RouteStatus.INSIDE and routed.grid and routed.grid.code == grid:
            return lat, lon
    return point_in(scene.app, grid)


# -- one backend ---------------------------------------------------------------------------


async def bare_round_trips(application: Any, chat: int) -> list[float]:
    """Plain sendMessage calls through PTB's bot to the emulator, one at a time."""
    trips = []
    for n in range(WARM_UP + BARE_TRIPS):
        start = time.perf_counter()
        await application.bot.send_message(chat_id=chat, text=f"ping {n}")
        trips.append(time.perf_counter() - start)
    return trips[WARM_UP:]


async def cast(
    emu: BotApiEmulator, app: Gridsnap, grids: int, riders_per_grid: int
) -> tuple[Scene, list[tuple[Person, str]]]:
    codes = await grid_codes(app)
    # Spread over the map: the first grid, the last and evenly between.
    chosen = [codes[i * (len(codes) - 1) // max(grids - 1, 1)] for i in range(grids)]
    scene = Scene(emu=emu, app=app, workers={}, desks={}, rng=random.Random(7))
    riders: list[tuple[Person, str]] = []
    for g, grid in enumerate(chosen):
        worker = person(emu, first_name=f"Worker{g}", language_code="en")
        await bind_worker(app, worker, grid)
        scene.workers[grid], scene.desks[grid] = worker, asyncio.Lock()
        for r in range(riders_per_grid):
            rider = person(emu, first_name=f"Rider{g}{r}", language_code="en")
            await approved_informant(app, rider)
            riders.append((rider, grid))
    return scene, riders


async def measure(backend: str, database_url: str, args: argparse.Namespace) -> Figures:
    figures = Figures(backend=backend)
    with tempfile.TemporaryDirectory(prefix="gridsnap-bench-") as tmp:
        async with BotApiEmulator() as emu:
            settings = load_settings(
                database_url=database_url,
                photo_dir=Path(tmp) / "photos",
                telegram_token=emu.token,
                telegram_api_url=emu.url,
                **RATES,
            )
            async with running(settings, sample_map=SAMPLE_MAP) as (app, application):
                scene, riders = await cast(emu, app, args.grids, args.riders_per_grid)
                figures.bare = await bare_round_trips(application, emu.user()["id"])
                start = time.perf_counter()
                loops = await run_loops(scene, riders, args.loops)
                figures.seconds = time.perf_counter() - start
                figures.loops = len(loops)
                figures.submit_to_alert = [loop.submit_to_alert for loop in loops]
                figures.closed = await count_closed(app, [loop.number for loop in loops])
    return figures


async def run_loops(scene: Scene, riders: list[tuple[Person, str]], total: int) -> list[Loop]:
    """``total`` loops shared out among the riders; each rider loops one after another,
    all riders at once."""
    share = [total // len(riders) + (i < total % len(riders)) for i in range(len(riders))]

    async def rider_loops(i: int, rider: Person, grid: str) -> list[Loop]:
        return [await report_loop(scene, rider, grid, i * 1000 + n) for n in range(share[i])]

    done = await asyncio.gather(*(rider_loops(i, r, g) for i, (r, g) in enumerate(riders)))
    return [loop for loops in done for loop in loops]


async def count_closed(app: Gridsnap, numbers: list[str]) -> int:
    async with app.uow_factory() as uow:
        reports = [await uow.reports.by_number(number) for number in numbers]
    return sum(1 for r in reports if r is not None and r.status is ReportStatus.CLOSED)


# -- PostgreSQL: a database of our own for the run ----------------------------------------------


async def _admin(url: str, statement: str) -> None:
    # AUTOCOMMIT: CREATE/DROP DATABASE refuse to run inside a transaction.
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database(server_url: str) -> AsyncIterator[str]:
    """A uniquely named empty database on ``server_url``'s server, dropped afterwards."""
    name = f"gridsnap_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure_postgres(args: argparse.Namespace) -> Figures:
    try:
        await _admin(args.postgres_url, "SELECT 1")
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        where = make_url(args.postgres_url).render_as_string()
        return Figures(backend="PostgreSQL", skipped=f"no PostgreSQL at {where}: {exc!r}")
    async with postgres_database(args.postgres_url) as url:
        return await measure("PostgreSQL", url, args)


# -- output ---------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(results: list[Figures]) -> None:
    shown = [r for r in results if r.skipped is None]
    rows: list[tuple[str, Callable[[Figures], str]]] = [
        ("loops", lambda f: str(f.loops)),
        ("closed in the database", lambda f: str(f.closed)),
        ("wall time s", lambda f: f"{f.seconds:.1f}"),
        ("loops/s", lambda f: f"{f.loops / f.seconds:.2f}"),
        ("submit→alert p50 ms", lambda f: ms(percentile(f.submit_to_alert, 50))),
        ("submit→alert p99 ms", lambda f: ms(percentile(f.submit_to_alert, 99))),
        ("bare sendMessage p50 ms", lambda f: ms(percentile(f.bare, 50))),
        ("bare sendMessage p99 ms", lambda f: ms(percentile(f.bare, 99))),
        (
            "submit→alert / bare (p50)",
            lambda f: f"{percentile(f.submit_to_alert, 50) / percentile(f.bare, 50):.1f}×",
        ),
    ]
    print(f"\n{'':28}" + "".join(f"{r.backend:>14}" for r in shown))
    for label, cell in rows:
        print(f"{label:28}" + "".join(f"{cell(r):>14}" for r in shown))
    for r in results:
        if r.skipped is not None:
            print(f"\n{r.backend} skipped: {r.skipped}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--loops", type=int, default=48, help="loops per backend (default 48)")
    parser.add_argument("--grids", type=int, default=3, help="grids, one worker each (default 3)")
    parser.add_argument(
        "--riders-per-grid", type=int, default=2, help="riders per grid, all looping at once"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GRIDSNAP_TEST_POSTGRES_URL", POSTGRES_URL),
        help="a PostgreSQL server to create a throw-away database on",
    )
    args = parser.parse_args(argv)
    if args.loops < 1 or args.grids < 1 or args.riders_per_grid < 1:
        parser.error("--loops, --grids and --riders-per-grid must be at least 1")
    return args


async def main(argv: list[str]) -> None:
    args = parse(argv)
    riders = args.grids * args.riders_per_grid
    print(
        f"{args.loops} loops per backend: {args.grids} grids × {args.riders_per_grid} riders "
        f"({riders} loops at once), one worker per grid, photos of 320×240.\n"
        f"Outbox send rates raised to {RATES['send_rate_global']:g}/s overall and "
        f"{RATES['send_rate_per_chat']:g}/s per chat (Telegram allows ≈30/s and 1/s), so this "
        "measures the bot, not Telegram's limits.\n"
        "Everything runs in this one process on one event loop: emulator, bot and riders.\n"
        f"The bare round trip is {BARE_TRIPS} plain sendMessage calls, one at a time, through "
        "the bot's own PTB client to the same emulator while the bot is idle."
    )
    with tempfile.TemporaryDirectory(prefix="gridsnap-bench-") as tmp:
        results = [await measure("SQLite", f"sqlite+aiosqlite:///{tmp}/gridsnap.db", args)]
    results.append(await measure_postgres(args))
    table(results)
    broken = [r.backend for r in results if r.skipped is None and r.closed != r.loops]
    if broken:
        sys.exit(f"\nnot every loop ended with a closed case in the database: {broken}")


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1:]))
