"""The fixed cost of an update: simple updates per second through the real path, beside a bare
python-telegram-bot Application in the same run, on a SQLite file and on PostgreSQL.

The real path, as ``gridsnap run`` wires it (``bootstrap`` with the sample map, the PTB
transport's mapper): raw Bot API update JSON → ``Inbox.receive`` (stored in one commit per
batch of ≤ 100, getUpdates' largest) → the inbox worker claims rows (one per user at a time,
8 at once) → the mapper → ``Dispatcher.handle`` (its one unit of work) → the row is settled.
The outbox sender is not started: the answers stay in the outbox, which is where the
update's handling ends.

Per database: 20 approved informants, each in the report flow at its first step (they sent
/report before the timing starts). Then three phases, each N updates round-robin over the
people, stored while the worker handles them, timed until the inbox is drained:
  /help     the command (allowed mid-flow): the flow reads the profile, roles and party rows
  button    a press on the /language menu's button for the language the person already has
  text      text typed at the report flow's first step: the same prompt again
Per phase and over all three: updates/s (wall time from the first store to the drained
inbox), CPU ms per update (``time.process_time`` of this process — the bot and SQLite's
thread; the PostgreSQL server's own CPU is not in it), SQL statements and commits per update
(counted by SQLAlchemy events on the engine: ``before_cursor_execute`` and ``commit``;
SQLite's ``BEGIN IMMEDIATE`` goes through the cursor too and is counted apart, as "begins").

Bare: the same update JSON, one at a time, through ``Application.process_update(
Update.de_json(...))`` of a python-telegram-bot Application with handlers that do nothing
(a CommandHandler, a CallbackQueryHandler, a MessageHandler). Its bot is initialised against
the Bot API emulator (getMe), as ours is, so command filtering by bot name is the same.
ratio = ours / bare in updates/s, over the three phases. Wall time on a shared machine moves
with everyone else's load (and ours waits for the PostgreSQL server, which competes for the
same cores), so each row also gives the CPU ratio, bare CPU ms / ours: steadier from run to
run, and what one core's worth of updates per second follows.

The last line is the headline, from PostgreSQL (from SQLite when no PostgreSQL answers):
``RESULT ratio_to_bare_ptb=<r> updates_per_s=<n> sql_per_update=<k>``. Goals (issue 11):
ratio ≥ 0.15, ≤ 4 statements per simple update. Nothing here asserts a timing; it exits 0.

  .venv/bin/python bench/updates.py [--quick] [--updates N] [--postgres-url URL]
                                    [--profile DIR]

``--profile DIR`` writes a cProfile dump per database (``DIR/updates-<database>.pstats``,
the three timed phases, timed by the event loop thread's CPU clock, so waiting for the
database and other processes' load are not in it) and prints its top functions; profiling
slows everything, so its run's figures are not comparable with a plain run's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import logging
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bench.loop import POSTGRES_URL, _admin, postgres_database
from bot.app import SAMPLE_MAP, Gridsnap, attach_telegram, bootstrap
from bot.config import Settings, load_settings
from bot.inbox import Inbox
from bot.services import informants
from bot.transports.emulator import BotApiEmulator
from bot.transports.telegram import mapper

USERS = 20
BATCH = 100  # getUpdates returns at most 100 updates
FIRST_USER = 7_000_001
KINDS = ("/help", "button", "text")
TOP = 25  # functions shown from a profile
PHONE = "+8613800000000"


# -- the updates ----------------------------------------------------------------------------


class Updates:
    """Bot API update JSON as Telegram sends it, numbered in the order made."""

    def __init__(self) -> None:
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    @staticmethod
    def _person(user: int) -> dict[str, Any]:
        return {"id": user, "is_bot": False, "first_name": f"Rider{user}", "language_code": "en"}

    def message(self, user: int, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": self.next_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": f"Rider{user}"},
            "from": self._person(user),
            "text": text,
        }
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return {"update_id": self._id(), "message": body}

    def press(self, user: int, data: str) -> dict[str, Any]:
        shown = self.message(user, "Choose your language:")["message"]
        self.next_id -= 1  # the message pressed on is no update of its own
        shown["from"] = {"id": 1, "is_bot": True, "first_name": "Gridsnap"}
        callback = {
            "id": f"cb{self.next_id}",
            "from": self._person(user),
            "message": shown,
            "chat_instance": f"ci{user}",
            "data": data,
        }
        return {"update_id": self._id(), "callback_query": callback}

    def of_kind(self, kind: str, user: int) -> dict[str, Any]:
        if kind == "/help":
            return self.message(user, "/help")
        if kind == "button":
            return self.press(user, "lang:en")
        return self.message(user, "where is the bridge?")

    def phase(self, kind: str, users: list[int], count: int) -> list[dict[str, Any]]:
        return [self.of_kind(kind, users[n % len(users)]) for n in range(count)]


# -- counting -------------------------------------------------------------------------------


@dataclass
class Counts:
    statements: int = 0
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0

    def minus(self, other: Counts) -> Counts:
        return Counts(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def plus(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def count_sql(engine: Any) -> Counts:
    """Counts kept up to date by events on ``engine`` (an AsyncEngine) from now on."""
    counts = Counts()
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _statement(*args: Any) -> None:
        statement = args[2]
        if statement.lstrip().upper().startswith("BEGIN"):
            counts.begins += 1
        else:
            counts.statements += 1

    @event.listens_for(sync_engine, "commit")
    def _commit(_conn: Any) -> None:
        counts.commits += 1

    @event.listens_for(sync_engine, "rollback")
    def _rollback(_conn: Any) -> None:
        counts.rollbacks += 1

    return counts


@dataclass
class Phase:
    kind: str
    updates: int
    seconds: float
    cpu: float
    sql: Counts

    @property
    def per_s(self) -> float:
        return self.updates / self.seconds

    def per_update(self, value: float) -> float:
        return value / self.updates


@dataclass
class Figures:
    database: str
    ours: list[Phase] = field(default_factory=list)
    bare: list[Phase] = field(default_factory=list)
    skipped: str | None = None

    @staticmethod
    def total(phases: list[Phase]) -> Phase:
        sql = Counts()
        for p in phases:
            sql = sql.plus(p.sql)
        return Phase(
            "all",
            sum(p.updates for p in phases),
            sum(p.seconds for p in phases),
            sum(p.cpu for p in phases),
            sql,
        )

    @property
    def ratio(self) -> float:
        return self.total(self.ours).per_s / self.total(self.bare).per_s


# -- ours -----------------------------------------------------------------------------------


@contextlib.contextmanager
def profiled(profile: cProfile.Profile | None) -> Iterator[None]:
    if profile is not None:
        profile.enable()
    try:
        yield
    finally:
        if profile is not None:
            profile.disable()


async def through_the_inbox(app: Gridsnap, application: Any, updates: list[dict[str, Any]]) -> None:
    """Store ``updates`` in getUpdates-sized batches while a worker, built as ``bootstrap``
    builds the app's, handles them; return once it has drained the inbox."""
    settings = app.settings
    inbox = Inbox(
        uow_factory=app.uow_factory,
        handle=app.dispatcher.handle,
        concurrency=settings.concurrent_updates,
        lease=timedelta(seconds=settings.inbox_lease_s),
        max_attempts=settings.inbox_max_attempts,
        drain_s=3600.0,  # stop() below means "when drained", however long that takes
    )
    inbox.add_mapper("telegram", mapper(application))
    working = asyncio.create_task(inbox.run(), name="bench-inbox")
    try:
        for start in range(0, len(updates), BATCH):
            await inbox.receive("telegram", updates[start : start + BATCH])
        inbox.stop()
        await working
    finally:
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working


async def enrol(app: Gridsnap, users: list[int], made: Updates, application: Any) -> None:
    """Approved informants, each sent /report (through the real path): at its first step."""
    now = datetime.now(UTC)
    async with app.uow_factory() as uow:
        for user in users:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=str(user),
                chat_id=str(user),
                display_name=f"Rider{user}",
                locale="en",
            )
            form = informants.Application(
                real_name=f"Rider{user}", phone=PHONE, company="美团", home_region_id=None
            )
            await informants.register(uow, account, form, now=now)
            await informants.approve(uow, account.id, by=account.id, now=now)
        await uow.commit()
    await through_the_inbox(app, application, [made.message(user, "/report") for user in users])


async def measure_ours(
    app: Gridsnap, application: Any, count: int, profile: cProfile.Profile | None
) -> list[Phase]:
    made = Updates()
    users = [FIRST_USER + n for n in range(USERS)]
    await enrol(app, users, made, application)
    # A warm-up of each kind: first-call imports, statement caches, the pool's connections.
    await through_the_inbox(
        app, application, [u for kind in KINDS for u in made.phase(kind, users, len(users))]
    )
    counts = count_sql(app.engine)
    phases = []
    for kind in KINDS:
        updates = made.phase(kind, users, count)
        before, cpu, wall = counts.plus(Counts()), time.process_time(), time.perf_counter()
        with profiled(profile):
            await through_the_inbox(app, application, updates)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        phases.append(Phase(kind, count, wall, cpu, counts.minus(before)))
    await every_update_handled(app, made.next_id - 1)
    return phases


async def every_update_handled(app: Gridsnap, sent: int) -> None:
    """Raise unless the inbox is empty and every update sent left its id recorded."""
    async with app.uow_factory() as uow:
        waiting, dead = await uow.inbox.backlog(), await uow.inbox.dead()
        highest = await uow.updates.highest("telegram")
    if waiting or dead or highest != sent:
        reasons = sorted({reason for _item, reason in dead})[:3]
        raise SystemExit(
            f"not every update was handled: {waiting} waiting, {len(dead)} dead {reasons}, "
            f"highest update id recorded {highest} of {sent}"
        )


# -- bare python-telegram-bot ---------------------------------------------------------------


async def measure_bare(settings: Settings, count: int) -> list[Phase]:
    async def nothing(_update: Update, _context: Any) -> None:
        return None

    assert settings.telegram_token is not None  # the emulator's
    bare = (
        Application.builder()
        .token(settings.telegram_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .updater(None)
        .build()
    )
    bare.add_handler(CommandHandler("help", nothing))
    bare.add_handler(CallbackQueryHandler(nothing))
    bare.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, nothing))
    made = Updates()
    users = [FIRST_USER + n for n in range(USERS)]
    phases = []
    async with bare:  # initialize (getMe) … shutdown
        for kind in KINDS:
            for update in made.phase(kind, users, len(users)):  # warm-up
                await bare.process_update(Update.de_json(update, bare.bot))
            updates = made.phase(kind, users, count)
            cpu, wall = time.process_time(), time.perf_counter()
            for update in updates:
                await bare.process_update(Update.de_json(update, bare.bot))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            phases.append(Phase(kind, count, wall, cpu, Counts()))
    return phases


# -- one database ---------------------------------------------------------------------------


async def measure(database: str, database_url: str, args: argparse.Namespace, tmp: Path) -> Figures:
    figures = Figures(database=database)
    profile = cProfile.Profile(time.thread_time) if args.profile else None
    async with BotApiEmulator() as emu:
        settings = load_settings(
            database_url=database_url,
            photo_dir=tmp / f"photos-{database}",
            telegram_token=emu.token,
            telegram_api_url=emu.url,
        )
        app = await bootstrap(settings, sample_map=SAMPLE_MAP)
        try:
            application = attach_telegram(app, settings)
            async with application:  # getMe: the mapper filters /command@otherbot by name
                figures.ours = await measure_ours(app, application, args.updates, profile)
        finally:
            await app.close()
        figures.bare = await measure_bare(settings, args.updates)
    if profile is not None:
        dump(profile, Path(args.profile) / f"updates-{database.lower()}.pstats", database)
    return figures


async def measure_postgres(args: argparse.Namespace, tmp: Path) -> Figures:
    try:
        await _admin(args.postgres_url, "SELECT 1")
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        where = make_url(args.postgres_url).render_as_string()
        return Figures(database="PostgreSQL", skipped=f"no PostgreSQL at {where}: {exc!r}")
    async with postgres_database(args.postgres_url) as url:
        return await measure("PostgreSQL", url, args, tmp)


def dump(profile: cProfile.Profile, path: Path, database: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(TOP)
    print(f"\n{database} profile written to {path}; top {TOP} by own time:")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


# -- output ---------------------------------------------------------------------------------


def table(figures: Figures) -> None:
    print(f"\n{figures.database}: {figures.ours[0].updates} updates per phase, {USERS} people")
    head = "               updates/s  CPU ms/upd  stmts/upd  commits/upd  begins/upd"
    print(head + "   bare PTB/s  bare CPU ms  ratio  CPU ratio")
    rows = [*zip(figures.ours, figures.bare, strict=True)]
    rows.append((figures.total(figures.ours), figures.total(figures.bare)))
    for ours, bare in rows:
        print(
            f"  {ours.kind:10} {ours.per_s:10.0f} {ours.per_update(ours.cpu) * 1000:11.2f}"
            f" {ours.per_update(ours.sql.statements):10.2f}"
            f" {ours.per_update(ours.sql.commits):12.2f} {ours.per_update(ours.sql.begins):11.2f}"
            f" {bare.per_s:12.0f} {bare.per_update(bare.cpu) * 1000:12.3f}"
            f" {ours.per_s / bare.per_s:6.3f} {bare.cpu / ours.cpu:10.3f}"
        )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--updates", type=int, default=1000, help="updates per phase (1000)")
    parser.add_argument("--quick", action="store_true", help="200 updates per phase (< 40 s)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GRIDSNAP_TEST_POSTGRES_URL", POSTGRES_URL),
        help="a PostgreSQL server to create a throw-away database on",
    )
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile dump per database")
    args = parser.parse_args(argv)
    if args.quick:
        args.updates = 200
    if args.updates < 1:
        parser.error("--updates must be at least 1")
    return args


async def main(argv: list[str]) -> None:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="gridsnap-bench-") as tmp:
        where = Path(tmp)
        results = [await measure("SQLite", f"sqlite+aiosqlite:///{where}/gridsnap.db", args, where)]
        results.append(await measure_postgres(args, where))
    for figures in results:
        if figures.skipped is None:
            table(figures)
        else:
            print(f"\n{figures.database} skipped: {figures.skipped}")
    headline = next(f for f in reversed(results) if f.skipped is None)
    total = headline.total(headline.ours)
    print(f"\nheadline: {headline.database}, all three phases")
    print(
        f"RESULT ratio_to_bare_ptb={headline.ratio:.3f} updates_per_s={total.per_s:.0f} "
        f"sql_per_update={total.per_update(total.sql.statements):.2f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1:]))
