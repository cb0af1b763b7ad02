"""Complete report loops through the Bot API emulator, with the bot in processes of its own.

This process holds the Bot API emulator and the people pressing buttons; the bot runs as
one or two child processes (``gridsnap run``'s ``serve``, python-telegram-bot), so what is
measured of the bot is the bot alone. Per configuration (SQLite; PostgreSQL with 1 and
with 2 bot processes): a few grids with one invited worker each and a few approved riders
per grid; every loop is

  photo → location → category → Skip note → Submit (the rider gets the number)
  → the worker's alert → Accept → the rider is told → Resolve, a note, Skip or an
  after-photo (as the category demands) → the rider is asked "Fixed?" → 👍 → 5 stars → closed

Phases: a warm start (one loop per rider, not measured); closed loop (every rider loops
one after another, all at once: the capacity, in loops/s); open loop (loops start at a fixed
rate, ``--load`` × the capacity just measured, so Submit → alert measures latency rather
than queueing). Reported per phase: loops/s, the bot processes' CPU per complete loop (from
/proc/<pid>/stat), Submit → worker alert p50/p99 (both ends on this process's clock), and
the bare round trip of one plain PTB sendMessage to the same emulator from a process of its
own, measured in the same run. Several bot processes stand behind one webhook URL: the
emulator delivers round robin to their ports (a load balancer's stand-in).

The outbox's send rates are raised far above Telegram's (30/s overall, 1/s per chat), which
would otherwise be what this measures. Nothing here asserts a timing; the run exits non-zero
only if a loop breaks (a step not answered within a minute, or a case not closed).

  .venv/bin/python bench/loop.py [--quick] [--loops N] [--load 0.6 | --rate R]
        [--processes 1,2] [--backends sqlite,postgres] [--receive auto|polling|webhook]
        [--profile DIR] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import random
import re
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402 -- after the path is set
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
# Far above Telegram's limits, so the outbox's pacing is not what gets measured.
RATES: dict[str, str] = {
    "GRIDSNAP_SEND_RATE_GLOBAL": "100000",
    "GRIDSNAP_SEND_RATE_PER_CHAT": "10000",
    "GRIDSNAP_SEND_BURST_PER_CHAT": "1000",
}
TOKEN = "123456789:gridsnap-bench"
WAIT = 60.0  # per step; only a broken bot (or a machine far too busy) waits this long
READY_WAIT = 120.0  # a bot process's start: imports, migrations check, getMe, setWebhook
BARE_TRIPS = 60
WARM_UP_TRIPS = 5
FILED = re.compile(r"\d{6}-\d{4}")
# Inset from a grid's edge so a scattered point routes strictly inside, not to a neighbour.
INSET_DEGREES = 0.0002
CHILD, BARE = "_bot", "_bare"  # argv[1] of the child processes this file starts
PROFILE_ENV = "GRIDSNAP_BENCH_PROFILE"  # where a bot child dumps its profile on SIGUSR2
TICKS = os.sysconf("SC_CLK_TCK")


# -- the bot's process (argv[1] == "_bot") ------------------------------------------------------


def bot_child() -> None:
    """``gridsnap run``'s serve, configured from GRIDSNAP_* like the command; prints
    ``ready`` once serving. SIGTERM stops it; with GRIDSNAP_BENCH_PROFILE set, SIGUSR1
    starts a cProfile and SIGUSR2 stops it and writes it to that path."""
    from bot.config import load_settings

    settings = load_settings()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve_child(settings))


async def _serve_child(settings: Any) -> None:
    from bot.cli.run import serve

    stopping, started = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    profile_path = os.environ.get(PROFILE_ENV)
    if profile_path:
        # CPU time, not wall time: on a busy machine the wall clock charges the run-queue
        # waits to whatever call happened to be preempted (a socket send, say).
        profiler = cProfile.Profile(time.process_time)
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(profile_path)
            print("profiled", flush=True)

        loop.add_signal_handler(signal.SIGUSR2, dump)
    serving = asyncio.create_task(serve(settings, stopping, started=started))
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
    if ready.done():
        print("ready", flush=True)
    else:
        ready.cancel()
    await serving


def bare_child(api_url: str, chat: str) -> None:
    """Plain sendMessage calls through PTB to the emulator, one at a time; prints the
    seconds each took as JSON (the first few, connection set-up, left out)."""

    async def trips() -> list[float]:
        from telegram import Bot

        taken = []
        async with Bot(TOKEN, base_url=f"{api_url}/bot") as bot:
            for n in range(WARM_UP_TRIPS + BARE_TRIPS):
                start = time.perf_counter()
                await bot.send_message(chat_id=int(chat), text=f"ping {n}")
                taken.append(time.perf_counter() - start)
        return taken[WARM_UP_TRIPS:]

    print(json.dumps(asyncio.run(trips())), flush=True)


def progress(what: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


# -- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    backend: str  # SQLite | PostgreSQL
    processes: int
    receive: str  # polling | webhook

    @property
    def label(self) -> str:
        return f"{self.backend} {self.processes}p"


@dataclass(frozen=True)
class Loop:
    number: str
    submit_to_alert: float


@dataclass
class Phase:
    loops: list[Loop] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of all bot processes together
    runnable: float = 0.0  # seconds they were ready to run but waited for a CPU
    commits: int | None = None  # PostgreSQL: transactions committed in the bot's database
    late: int = 0  # open loop: starts that found no rider free and waited

    @property
    def per_s(self) -> float:
        return len(self.loops) / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms_per_loop(self) -> float:
        return 1000 * self.cpu / len(self.loops) if self.loops else float("nan")

    def latency(self, q: int) -> float:
        return percentile([loop.submit_to_alert for loop in self.loops], q)


@dataclass
class Figures:
    config: Config
    closed_loop: Phase = field(default_factory=Phase)
    open_loop: Phase | None = None
    rate: float = 0.0  # the open loop's starts per second
    bare: list[float] = field(default_factory=list)
    loops: int = 0  # all loops of the run, warm-up included
    closed: int = 0  # of those, how many the database holds as closed afterwards
    profile: str | None = None
    skipped: str | None = None


# -- the bot processes ----------------------------------------------------------------------


class Bots:
    """The bot's child processes: started, ready, their CPU, signalled, stopped."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self.processes = processes

    @classmethod
    async def start(cls, environments: list[dict[str, str]]) -> Bots:
        bots = cls([])
        try:
            for env in environments:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    CHILD,
                    env=env,
                    cwd=ROOT,
                    stdout=asyncio.subprocess.PIPE,
                )
                bots.processes.append(process)
            for process in bots.processes:
                await bots.expect(process, "ready", READY_WAIT)
        except BaseException:
            await bots.stop()
            raise
        return bots

    @staticmethod
    async def expect(process: asyncio.subprocess.Process, word: str, wait: float) -> None:
        """Until the process prints ``word`` on a line of its own (``serve`` prints more)."""
        assert process.stdout is not None
        async with asyncio.timeout(wait):
            while (line := await process.stdout.readline()) and line.decode().strip() != word:
                pass
        if not line:
            code = await process.wait()
            raise RuntimeError(f"bot process {process.pid} exited ({code}) instead of {word!r}")

    def cpu(self) -> float:
        """CPU seconds (user + system) the bot processes have used so far."""
        total = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / TICKS

    def runnable(self) -> float:
        """Seconds the bot processes have waited on a run queue (ready, no CPU free)."""
        total = 0
        for process in self.processes:
            total += int(Path(f"/proc/{process.pid}/schedstat").read_text().split()[1])
        return total / 1e9

    def signal(self, sig: int) -> None:
        for process in self.processes:
            process.send_signal(sig)

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_environments(
    config: Config,
    database_url: str,
    photos: Path,
    api_url: str,
    ports: list[int],
    profile: str | None,
) -> list[dict[str, str]]:
    base = {
        **os.environ,
        **RATES,
        "GRIDSNAP_DATABASE_URL": database_url,
        "GRIDSNAP_PHOTO_DIR": str(photos),  # shared: any process may send another's photo
        "GRIDSNAP_TELEGRAM_TOKEN": TOKEN,
        "GRIDSNAP_TELEGRAM_API_URL": api_url,
        "GRIDSNAP_LOG_LEVEL": "WARNING",
        "PTB_TIMEDELTA": "true",
    }
    if config.receive == "webhook":
        base["GRIDSNAP_WEBHOOK_URL"] = f"http://127.0.0.1:{ports[0]}/telegram"
        base["GRIDSNAP_WEBHOOK_SECRET"] = secrets.token_urlsafe(16)
        base["GRIDSNAP_WEBHOOK_HOST"] = "127.0.0.1"
    environments = []
    for n, port in enumerate(ports):
        env = {**base, "GRIDSNAP_INSTANCE_ID": f"bench-{n}", "GRIDSNAP_WEBHOOK_PORT": str(port)}
        if profile:
            env[PROFILE_ENV] = f"{profile}-{n}.prof"
        environments.append(env)
    return environments


async def bare_round_trips(api_url: str, chat: int) -> list[float]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, BARE, api_url, str(chat), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"the bare round trip process failed ({process.returncode})")
    return [float(t) for t in json.loads(out)]


# -- one loop ---------------------------------------------------------------------------


@dataclass
class Scene:
    emu: Any  # BotApiEmulator
    app: Any  # Gridsnap, bootstrapped here for set-up and the map only: it runs nothing
    workers: dict[str, Any]  # Person by grid code
    # A worker handles one case at a time in chat: the resolve flow is one conversation.
    desks: dict[str, asyncio.Lock]
    rng: random.Random


async def report_loop(scene: Scene, rider: Any, grid: str, seq: int) -> Loop:
    """One whole loop, from the rider's photo to the closed case."""
    from tests.e2e.conftest import has_button, inline_buttons, jpeg

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


async def handle_case(worker: Any, rider: Any, alert: Any, number: str) -> str:
    """The worker's side: Accept (the rider is told), Resolve with a note, then Skip the
    after-photo where the category allows it, else send one. Returns the report id."""
    from tests.e2e.conftest import has_button, inline_buttons, jpeg

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
    return str(accept.split(":")[2])


async def confirm_fixed(rider: Any, report_id: str, number: str) -> None:
    """The rider's "Fixed?" → 👍 → five stars → closed."""
    from tests.e2e.conftest import has_button

    asked = await rider.expect(has_button(f"fb:ok:{report_id}"), timeout=WAIT)
    rider.press_data(asked, f"fb:ok:{report_id}")
    stars = await rider.expect(has_button("fb:rate:"), timeout=WAIT)
    rider.press_data(stars, f"fb:rate:{report_id}:5")
    closed = rider._("Thank you! Report {number} is closed.").format(number=number)
    await rider.expect(closed, timeout=WAIT)


def _filed(rider: Any) -> Callable[[Any], bool]:
    head = rider._("Thank you! Your report No. {number} has been filed.").split("{")[0]
    return lambda entry: head in entry.text and bool(FILED.search(entry.text))


def _number(entry: Any) -> str:
    found = FILED.search(entry.text)
    if found is None:
        raise RuntimeError(f"no report number in {entry.text!r}")
    return found.group()


def scattered_point(scene: Scene, grid: str) -> tuple[float, float]:
    """A random WGS-84 point strictly inside ``grid`` (riders do not all stand on one spot,
    which would make every report a possible duplicate of the last)."""
    from bot.domain.model import Crs
    from bot.geo.crs import converter
    from bot.geo.router import RouteStatus
    from tests.e2e.conftest import point_in

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


# -- phases -----------------------------------------------------------------------------------

Rider = tuple[Any, str]  # a Person and their grid


async def closed_loop(scene: Scene, riders: list[Rider], total: int, seed: int) -> list[Loop]:
    """``total`` loops shared out among the riders; each rider loops one after another,
    all riders at once."""
    share = [total // len(riders) + (i < total % len(riders)) for i in range(len(riders))]

    async def rider_loops(i: int, rider: Any, grid: str) -> list[Loop]:
        seeds = range(seed + i * 1000, seed + i * 1000 + share[i])
        return [await report_loop(scene, rider, grid, s) for s in seeds]

    done = await asyncio.gather(*(rider_loops(i, r, g) for i, (r, g) in enumerate(riders)))
    return [loop for loops in done for loop in loops]


async def open_loop(
    scene: Scene, riders: list[Rider], total: int, rate: float, seed: int
) -> tuple[list[Loop], int]:
    """``total`` loops started ``rate`` per second by whichever rider is free (a rider is
    one conversation at a time); returns them and how many starts found no rider free."""
    free: asyncio.Queue[tuple[int, Rider]] = asyncio.Queue()
    for i, rider in enumerate(riders):
        free.put_nowait((i, rider))
    late, started, begin = 0, [], time.monotonic()

    async def one(i: int, rider: Rider, s: int) -> Loop:
        try:
            return await report_loop(scene, rider[0], rider[1], s)
        finally:
            free.put_nowait((i, rider))

    for n in range(total):
        await asyncio.sleep(max(0.0, begin + n / rate - time.monotonic()))
        late += free.empty()
        i, rider = await free.get()
        started.append(asyncio.create_task(one(i, rider, seed + 100_000 * (n % 7) + n)))
    return list(await asyncio.gather(*started)), late


# -- one configuration ------------------------------------------------------------------------


async def cast(scene: Scene, grids: int, riders_per_grid: int) -> list[Rider]:
    from tests.e2e.conftest import approved_informant, grid_codes, person
    from tests.e2e.workers import bind_worker

    codes = await grid_codes(scene.app)
    # Spread over the map: the first grid, the last and evenly between.
    chosen = [codes[i * (len(codes) - 1) // max(grids - 1, 1)] for i in range(grids)]
    riders: list[Rider] = []
    for g, grid in enumerate(chosen):
        worker = person(scene.emu, first_name=f"Worker{g}", language_code="en")
        await bind_worker(scene.app, worker, grid)
        scene.workers[grid], scene.desks[grid] = worker, asyncio.Lock()
        for r in range(riders_per_grid):
            riders.append((person(scene.emu, first_name=f"Rider{g}{r}", language_code="en"), grid))
    # Approved here, told by a bot process's outbox (it polls every few seconds): all at once.
    await asyncio.gather(*(approved_informant(scene.app, rider) for rider, _grid in riders))
    return riders


async def measure(config: Config, database_url: str, args: argparse.Namespace) -> Figures:
    from bot.app import SAMPLE_MAP, bootstrap
    from bot.config import load_settings
    from bot.transports.emulator import BotApiEmulator

    figures = Figures(config=config)
    ports = [free_port() for _ in range(config.processes)]
    backends = [f"http://127.0.0.1:{p}" for p in ports] if config.receive == "webhook" else []
    with tempfile.TemporaryDirectory(prefix="gridsnap-bench-") as tmp:
        photos = Path(tmp) / "photos"
        settings = load_settings(database_url=database_url, photo_dir=photos)
        # Migrates and imports the sample map before any bot process starts.
        app = await bootstrap(settings, sample_map=SAMPLE_MAP)
        # Nothing of ours open while a bot process migrates (SQLite: BEGIN EXCLUSIVE).
        await app.engine.dispose()
        async with BotApiEmulator(token=TOKEN, webhook_backends=backends) as emu:
            profile = (
                str(Path(args.profile) / config.label.replace(" ", "-")) if args.profile else None
            )
            envs = bot_environments(config, database_url, photos, emu.url, ports, profile)
            progress(f"{config.label}: starting the bot")
            bots = await Bots.start(envs)
            try:
                scene = Scene(emu=emu, app=app, workers={}, desks={}, rng=random.Random(7))
                progress(f"{config.label}: workers and riders")
                riders = await cast(scene, args.grids, args.riders_per_grid)
                progress(f"{config.label}: bare round trips")
                figures.bare = await bare_round_trips(emu.url, emu.user()["id"])
                numbers = await run_phases(scene, riders, bots, figures, args, profile)
            finally:
                await bots.stop()
        figures.loops = len(numbers)
        figures.closed = await count_closed(app, numbers)
        await app.engine.dispose()
    return figures


async def run_phases(
    scene: Scene,
    riders: list[Rider],
    bots: Bots,
    figures: Figures,
    args: argparse.Namespace,
    profile: str | None,
) -> list[str]:
    progress("warm-up")
    warm = await closed_loop(scene, riders, len(riders) * args.warm, seed=1)
    progress("closed loop")
    if profile:
        bots.signal(signal.SIGUSR1)
    measured = closed_loop(scene, riders, args.loops, seed=10_000)
    figures.closed_loop = await timed(bots, scene.app, measured)
    if profile:
        bots.signal(signal.SIGUSR2)
        for process in bots.processes:
            await Bots.expect(process, "profiled", 60)
        figures.profile = f"{profile}-0.prof"
    numbers = [loop.number for loop in warm + figures.closed_loop.loops]
    figures.rate = args.rate or args.load * figures.closed_loop.per_s
    if figures.rate > 0:
        progress(f"open loop at {figures.rate:.2f}/s")
        starts = open_loop(scene, riders, args.loops, figures.rate, 500_000)
        phase = await timed(bots, scene.app, starts)
        figures.open_loop = phase
        numbers += [loop.number for loop in phase.loops]
    return numbers


async def timed(bots: Bots, app: Any, loops: Any) -> Phase:
    """Run ``loops`` (a coroutine returning them, or a pair with the late starts) and what
    the bot processes spent meanwhile."""
    commits = await committed(app)
    cpu, runnable, start = bots.cpu(), bots.runnable(), time.perf_counter()
    done = await loops
    phase = Phase(seconds=time.perf_counter() - start, cpu=bots.cpu() - cpu)
    phase.runnable = bots.runnable() - runnable
    phase.loops, phase.late = done if isinstance(done, tuple) else (done, 0)
    after = await committed(app)
    if commits is not None and after is not None:
        phase.commits = after - commits
    return phase


async def committed(app: Any) -> int | None:
    """PostgreSQL's count of committed transactions in this database (None on SQLite). The
    statistics reach it within a second or so: noise of a few loops' worth at most."""
    if not app.settings.database_url.startswith("postgresql"):
        return None
    async with app.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        found = await conn.exec_driver_sql(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(found.scalar_one())


async def count_closed(app: Any, numbers: list[str]) -> int:
    from bot.domain.model import ReportStatus

    async with app.uow_factory() as uow:
        reports = [await uow.reports.by_number(number) for number in numbers]
    return sum(1 for r in reports if r is not None and r.status is ReportStatus.CLOSED)


# -- PostgreSQL: a database of our own per configuration ----------------------------------------


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


async def measure_on(config: Config, args: argparse.Namespace) -> Figures:
    if config.backend == "SQLite":
        with tempfile.TemporaryDirectory(prefix="gridsnap-bench-") as tmp:
            return await measure(config, f"sqlite+aiosqlite:///{tmp}/gridsnap.db", args)
    try:
        await _admin(args.postgres_url, "SELECT 1")
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        where = make_url(args.postgres_url).render_as_string()
        return Figures(config=config, skipped=f"no PostgreSQL at {where}: {exc!r}")
    async with postgres_database(args.postgres_url) as url:
        return await measure(config, url, args)


# -- output ---------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _open(f: Figures, cell: Callable[[Phase], str]) -> str:
    return cell(f.open_loop) if f.open_loop is not None else "-"


def _per_loop(count: int | None, phase: Phase) -> str:
    return f"{count / len(phase.loops):.0f}" if count is not None and phase.loops else "-"


ROWS: list[tuple[str, Callable[[Figures], str]]] = [
    ("updates received by", lambda f: f.config.receive),
    ("closed loop: loops", lambda f: str(len(f.closed_loop.loops))),
    ("  loops/s", lambda f: f"{f.closed_loop.per_s:.2f}"),
    ("  bot CPU ms per loop", lambda f: f"{f.closed_loop.cpu_ms_per_loop:.0f}"),
    (
        "  bot CPU busy %",
        lambda f: f"{100 * f.closed_loop.cpu / f.closed_loop.seconds / f.config.processes:.0f}",
    ),
    (
        "  bot waiting for a CPU %",
        lambda f: (
            f"{100 * f.closed_loop.runnable / f.closed_loop.seconds / f.config.processes:.0f}"
        ),
    ),
    ("  DB commits per loop", lambda f: _per_loop(f.closed_loop.commits, f.closed_loop)),
    ("  submit→alert p50 ms", lambda f: ms(f.closed_loop.latency(50))),
    ("  submit→alert p99 ms", lambda f: ms(f.closed_loop.latency(99))),
    ("open loop: starts/s", lambda f: f"{f.rate:.2f}" if f.open_loop else "-"),
    ("  loops/s", lambda f: _open(f, lambda p: f"{p.per_s:.2f}")),
    ("  bot CPU ms per loop", lambda f: _open(f, lambda p: f"{p.cpu_ms_per_loop:.0f}")),
    ("  submit→alert p50 ms", lambda f: _open(f, lambda p: ms(p.latency(50)))),
    ("  submit→alert p99 ms", lambda f: _open(f, lambda p: ms(p.latency(99)))),
    ("  starts with no rider free", lambda f: _open(f, lambda p: str(p.late))),
    ("bare sendMessage p50 ms", lambda f: ms(percentile(f.bare, 50))),
    ("bare sendMessage p99 ms", lambda f: ms(percentile(f.bare, 99))),
    (
        "submit→alert / bare (p50)",
        lambda f: f"{f.closed_loop.latency(50) / percentile(f.bare, 50):.0f}×",
    ),
    ("closed in the database", lambda f: f"{f.closed}/{f.loops}"),
]


def table(results: list[Figures]) -> None:
    shown = [r for r in results if r.skipped is None]
    print(f"\n{'':30}" + "".join(f"{r.config.label:>16}" for r in shown))
    for label, cell in ROWS:
        print(f"{label:30}" + "".join(f"{cell(r):>16}" for r in shown))
    for r in results:
        if r.skipped is not None:
            print(f"\n{r.config.label} skipped: {r.skipped}")
    by = {(r.config.backend, r.config.processes): r for r in shown}
    one, two = by.get(("PostgreSQL", 1)), by.get(("PostgreSQL", 2))
    if one and two:
        ratio = two.closed_loop.per_s / one.closed_loop.per_s
        print(f"\nPostgreSQL, 2 bot processes ÷ 1 (closed-loop loops/s): {ratio:.2f}×")
    for r in shown:
        if r.profile:
            print_profile(r)
    summary = " ".join(
        f"{r.config.label.replace(' ', '_')}:loops_s={r.closed_loop.per_s:.2f},"
        f"cpu_ms={r.closed_loop.cpu_ms_per_loop:.0f},"
        f"open_p99_ms={_open(r, lambda p: ms(p.latency(99)))}"
        for r in shown
    )
    print(f"\nRESULT {summary}")


def print_profile(figures: Figures, top: int = 25) -> None:
    assert figures.profile is not None
    out = io.StringIO()
    stats = pstats.Stats(figures.profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    label, path = figures.config.label, figures.profile
    print(f"\n{label}: bot process 0's CPU profile (process_time), closed loop ({path})")
    print("\n".join(out.getvalue().splitlines()[-top - 3 :]))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--loops", type=int, help="loops per phase (default 36; --quick 12)")
    parser.add_argument("--quick", action="store_true", help="fewer loops, for a quick look")
    parser.add_argument("--warm", type=int, default=1, help="warm-up loops per rider (default 1)")
    parser.add_argument("--grids", type=int, default=3, help="grids, one worker each (default 3)")
    parser.add_argument("--riders-per-grid", type=int, default=2, help="riders per grid")
    parser.add_argument(
        "--load", type=float, default=0.6, help="open loop at this share of capacity (0: none)"
    )
    parser.add_argument("--rate", type=float, help="open loop at this many starts/s instead")
    parser.add_argument(
        "--processes", default="1,2", help="bot processes on PostgreSQL: 1, 2 or 1,2 (default)"
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument(
        "--receive",
        choices=("auto", "polling", "webhook"),
        default="auto",
        help="auto: SQLite polls, PostgreSQL takes webhooks (needed for 2 processes)",
    )
    parser.add_argument("--profile", metavar="DIR", help="cProfile the bot during the closed loop")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GRIDSNAP_TEST_POSTGRES_URL", POSTGRES_URL),
        help="a PostgreSQL server to create a throw-away database on",
    )
    args = parser.parse_args(argv)
    args.loops = args.loops or (12 if args.quick else 36)
    if args.loops < 1 or args.grids < 1 or args.riders_per_grid < 1 or args.warm < 0:
        parser.error("--loops, --grids and --riders-per-grid must be at least 1")
    args.counts = sorted({int(n) for n in args.processes.split(",")})
    if not set(args.counts) <= {1, 2}:
        parser.error("--processes takes 1, 2 or 1,2")
    if args.receive == "polling" and 2 in args.counts:
        parser.error(
            "2 processes take webhooks (the emulator balances them); not --receive polling"
        )
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


def configs(args: argparse.Namespace) -> list[Config]:
    chosen: list[Config] = []
    backends = args.backends.split(",")
    if "sqlite" in backends:
        chosen.append(Config("SQLite", 1, "webhook" if args.receive == "webhook" else "polling"))
    if "postgres" in backends:
        receive = "polling" if args.receive == "polling" else "webhook"
        chosen += [Config("PostgreSQL", n, receive) for n in args.counts]
    return chosen


async def main(argv: list[str]) -> None:
    args = parse(argv)
    riders = args.grids * args.riders_per_grid
    load = f"{args.rate:g} starts/s" if args.rate else f"{args.load:.0%} of the closed loop's rate"
    print(
        f"{args.loops} loops per phase: {args.grids} grids × {args.riders_per_grid} riders "
        f"({riders} loops at once in the closed loop), one worker per grid, photos of 320×240; "
        f"{args.warm} warm-up loop(s) per rider first; open loop at {load}.\n"
        "Outbox send rates raised far above Telegram's (≈30/s overall, 1/s per chat), so this "
        "measures the bot, not Telegram's limits.\n"
        "The emulator and riders run in this process, the bot in child processes; bot CPU from "
        f"/proc/<pid>/stat. The bare round trip is {BARE_TRIPS} plain sendMessage calls, one at "
        "a time, from a PTB process of its own to the same emulator."
    )
    results = [await measure_on(config, args) for config in configs(args)]
    table(results)
    broken = [r.config.label for r in results if r.skipped is None and r.closed != r.loops]
    if broken:
        sys.exit(f"\nnot every loop ended with a closed case in the database: {broken}")


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    if sys.argv[1:2] == [CHILD]:
        bot_child()
    elif sys.argv[1:2] == [BARE]:
        bare_child(*sys.argv[2:4])
    else:
        logging.basicConfig(level=logging.WARNING)
        asyncio.run(main(sys.argv[1:]))
