"""Bad input in every flow: forged buttons, commands mid-flow, the wrong kind of message.

The standard: bad input gets a clear answer in the user's language, and loses nothing
already accepted. Every update goes to a freshly built dispatcher over the same store (a
restart between any two messages), through every handler module, on the in-memory store.
Worlds are built once per (locale, position) by driving real updates, then copied per case.
"""

from __future__ import annotations

import copy
import io
import itertools
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.chat import Contact, FileRef, Incoming, Kind, Location, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import (
    ConversationState,
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    ReportStatus,
    RoleName,
)
from bot.i18n import translator
from bot.services.env import Env, MapHolder
from bot.services.reports import submit_report
from handlers.registry import Registry, collect
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
IN_G1 = Location(lat=39.925, lon=119.52)  # WGS-84, inside G1 after the GCJ-02 shift
NOISE = "0301"  # a category without an after-photo rule
GARBAGE = "0102"
LOCALES = ("en", "zh_CN")
APOLOGY = "Sorry, something went wrong on our side. Please try again."
MID_FLOW = "You are in the middle of something. Finish it first, or send /cancel to stop it."
UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do."
CJK = re.compile(r"[\u4e00-\u9fff]")
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SOME_TEXT = "hello?? 🚧 42"


def _unit(
    code: str, name: str, level: Level, parent: str | None, x0: float, size: float
) -> MapUnit:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    return MapUnit(code=code, name=name, level=level, parent_code=parent, geometry=geometry)


MAP = [
    _unit("D", "海港区", Level.DISTRICT, None, 119.50, 0.10),
    _unit("S1", "西港路街道", Level.STREET, "D", 119.50, 0.10),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1", 119.50, 0.05),
    _unit("C2", "西环社区", Level.COMMUNITY, "S1", 119.55, 0.05),
    _unit("G1", "东环一网格", Level.GRID, "C1", 119.50, 0.05),
    _unit("G2", "西环一网格", Level.GRID, "C2", 119.55, 0.05),
]


def jpeg(seed: int) -> bytes:
    """A small real JPEG; each seed a different scene, so no two photos are duplicates."""
    rng = random.Random(seed)
    small = Image.new("L", (8, 6))
    small.putdata([rng.choice((0, 255)) for _ in range(48)])
    out = io.BytesIO()
    small.resize((320, 240), Image.Resampling.NEAREST).convert("RGB").save(out, "JPEG")
    return out.getvalue()


class MemoryFiles:
    """The platform's file storage as the transport's fetcher sees it."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        return self.files[ref.file_id]


def person(name: str, locale: str) -> User:
    return User(
        platform="telegram", user_id=name, chat_id=name, display_name=name, language_code=locale
    )


@dataclass
class World:
    """A bot whose whole state is ``store``; each update meets a freshly started process."""

    locale: str
    store: FakeStore = field(default_factory=FakeStore)
    files: MemoryFiles = field(default_factory=MemoryFiles)
    photos: MemoryPhotoStore = field(default_factory=MemoryPhotoStore)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def copy(self) -> World:
        return World(
            self.locale,
            FakeStore(copy.deepcopy(self.store.data)),
            self.files,
            self.photos,
            # Update ids of each copy start past every id the original used, and far apart.
            itertools.count(next(self.ids) * 1000),
        )

    def user(self, name: str) -> User:
        return person(name, self.locale)

    @property
    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def send(self, who: str, kind: Kind, **fields: object) -> list[Outgoing]:
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=self.photos,
            clock=lambda: NOW,
        )
        dispatcher = dispatcher_on(self.store, env, fetchers={"telegram": self.files})
        update = Incoming(update_id=str(next(self.ids)), user=self.user(who), kind=kind, **fields)  # type: ignore[arg-type]
        return await deliver(dispatcher, self.store, update)

    async def command(self, who: str, name: str) -> list[Outgoing]:
        return await self.send(who, Kind.COMMAND, command=name, text=f"/{name}")

    async def text(self, who: str, text: str = SOME_TEXT) -> list[Outgoing]:
        return await self.send(who, Kind.TEXT, text=text)

    async def press(self, who: str, data: str) -> list[Outgoing]:
        return await self.send(who, Kind.BUTTON, button_data=data, callback_id="cb", message_id="9")

    async def location(self, who: str, where: Location = IN_G1) -> list[Outgoing]:
        return await self.send(who, Kind.LOCATION, location=where)

    async def contact(self, who: str, owner: str | None = None) -> list[Outgoing]:
        card = Contact(phone="+8613900000000", first_name="X", user_id=owner)
        return await self.send(who, Kind.CONTACT, contact=card)

    async def photo(self, who: str) -> list[Outgoing]:
        return await self.send(who, Kind.PHOTO, photo=self._file(jpeg(len(self.files.files))))

    async def document(self, who: str, data: bytes = PDF) -> list[Outgoing]:
        ref = self._file(data, name="invoice.pdf", mime="application/pdf")
        return await self.send(who, Kind.DOCUMENT, document=ref)

    def _file(self, data: bytes, *, name: str | None = None, mime: str | None = None) -> FileRef:
        file_id = f"f{len(self.files.files)}"
        self.files.files[file_id] = data
        return FileRef(file_id=file_id, size=len(data), file_name=name, mime_type=mime)

    def state(self, who: str) -> ConversationState:
        return self.store.data.conversations.get(("telegram", who), ConversationState())

    def account_id(self, who: str) -> int:
        return next(a.id for a in self.store.data.accounts.values() if a.platform_user_id == who)

    def report_marks(self) -> dict[int, tuple[ReportStatus, int]]:
        return {r.id: (r.status, r.version) for r in self.store.data.reports.values()}

    def the_report(self) -> tuple[int, int]:
        report = self.store.data.reports[1]
        return report.id, report.version


# -- the world: a submitted report, a registered rider, staff ---------------------------------


async def _account(world: World, name: str, role: RoleName | None = None, region: str = "") -> int:
    async with world.uow as uow:
        account = await uow.accounts.get_or_create(
            platform="telegram",
            platform_user_id=name,
            chat_id=name,
            display_name=name,
            locale=world.locale,
        )
        node = await uow.regions.get(region) if region else None
        if role is not None and node is not None:
            await uow.roles.grant(account.id, role, node.id)
        await uow.commit()
    return account.id


async def _informant(world: World, name: str) -> int:
    account_id = await _account(world, name)
    async with world.uow as uow:
        home = await uow.regions.get("C1")
        await uow.informants.upsert(
            InformantProfile(
                account_id=account_id,
                real_name=name,
                phone="+8613800000000",
                company="美团",
                status=InformantStatus.APPROVED,
                home_region_id=home.id if home else None,
                created_at=NOW,
            )
        )
        await uow.commit()
    return account_id


async def base_world(locale: str) -> World:
    """``rider`` filed report 1 in G1; ``courier`` is a registered rider with no report;
    ``w1`` works G1, ``w2`` works G2, ``admin`` runs community C1; ``newbie`` is unknown."""
    world = World(locale)
    catalogue = load_catalogue()
    maps = MapHolder(tolerance_m=300)
    async with world.uow as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await maps.refresh(uow)
        await uow.commit()
    rider = await _informant(world, "rider")
    await _informant(world, "courier")
    await _account(world, "w1", RoleName.GRID_WORKER, "G1")
    await _account(world, "w2", RoleName.GRID_WORKER, "G2")
    await _account(world, "admin", RoleName.COMMUNITY_ADMIN, "C1")
    async with world.uow as uow:
        await submit_report(
            uow,
            reporter=rider,
            category_code=NOISE,
            location=GeoPoint(lat=IN_G1.lat, lon=IN_G1.lon),
            photos=[],
            note="drilling at night",
            now=NOW,
            catalogue=catalogue,
            gridmap=maps.current(),
            zone=ZoneInfo("Asia/Shanghai"),
        )
        await uow.commit()
    return world


# -- every step of every flow, reached through real updates ----------------------------------

Script = Callable[[World], Awaitable[None]]


async def _accept(world: World) -> None:
    rid, ver = world.the_report()
    await world.press("w1", f"w:acc:{rid}:{ver}")


async def _start_resolve(world: World) -> None:
    await _accept(world)
    rid, ver = world.the_report()
    await world.press("w1", f"w:res:{rid}:{ver}")


async def _mark_duplicate(world: World) -> None:
    rid, ver = world.the_report()
    await world.press("w1", f"w:rr:{rid}:{ver}:dup")


async def _resolved_and_thumbs_down(world: World) -> None:
    await _start_resolve(world)
    await world.text("w1", "fixed it")
    await world.press("w1", "wres:skip")
    await world.press("rider", f"fb:no:{world.the_report()[0]}")


async def _reg_to_company(world: World) -> None:
    await world.command("newbie", "register")
    await world.press("newbie", "reg:agree")
    await world.text("newbie", "王小明")
    await world.contact("newbie", owner="newbie")


async def _rep_to_category(world: World) -> None:
    await world.command("courier", "report")
    await world.photo("courier")
    await world.location("courier")


def chain(*steps: Script) -> Script:
    async def run(world: World) -> None:
        for step in steps:
            await step(world)

    return run


def say(who: str, kind: str, arg: str = "") -> Script:
    async def run(world: World) -> None:
        if kind == "command":
            await world.command(who, arg)
        elif kind == "press":
            await world.press(who, arg)
        elif kind == "text":
            await world.text(who, arg)
        elif kind == "photo":
            await world.photo(who)
        elif kind == "location":
            await world.location(who)

    return run


@dataclass(frozen=True)
class Position:
    who: str
    flow: str
    step: str
    script: Script


POSITIONS: dict[str, Position] = {
    "reg.consent": Position("newbie", "reg", "consent", say("newbie", "command", "register")),
    "reg.name": Position(
        "newbie",
        "reg",
        "name",
        chain(say("newbie", "command", "register"), say("newbie", "press", "reg:agree")),
    ),
    "reg.phone": Position(
        "newbie",
        "reg",
        "phone",
        chain(
            say("newbie", "command", "register"),
            say("newbie", "press", "reg:agree"),
            say("newbie", "text", "王小明"),
        ),
    ),
    "reg.company": Position("newbie", "reg", "company", _reg_to_company),
    "reg.company_other": Position(
        "newbie",
        "reg",
        "company_other",
        chain(_reg_to_company, say("newbie", "press", "reg:co:other")),
    ),
    "reg.area": Position(
        "newbie", "reg", "area", chain(_reg_to_company, say("newbie", "press", "reg:co:0"))
    ),
    "reg.confirm": Position(
        "newbie",
        "reg",
        "confirm",
        chain(_reg_to_company, say("newbie", "press", "reg:co:0"), say("newbie", "location")),
    ),
    "rep.photo": Position("courier", "rep", "photo", say("courier", "command", "report")),
    "rep.location": Position(
        "courier",
        "rep",
        "location",
        chain(say("courier", "command", "report"), say("courier", "photo")),
    ),
    "rep.category": Position("courier", "rep", "category", _rep_to_category),
    "rep.note": Position(
        "courier",
        "rep",
        "note",
        chain(_rep_to_category, say("courier", "press", f"rep:cat:{NOISE}")),
    ),
    "rep.confirm": Position(
        "courier",
        "rep",
        "confirm",
        chain(
            _rep_to_category,
            say("courier", "press", f"rep:cat:{NOISE}"),
            say("courier", "press", "rep:skip"),
        ),
    ),
    "wres.note": Position("w1", "wres", "note", _start_resolve),
    "wres.photo": Position(
        "w1", "wres", "photo", chain(_start_resolve, say("w1", "text", "cleared the site"))
    ),
    "wdup.number": Position("w1", "wdup", "number", _mark_duplicate),
    "fbr.reason": Position("rider", "fbr", "reason", _resolved_and_thumbs_down),
}


class Worlds:
    """Built worlds by (locale, position), each built once and handed out as copies."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], World] = {}

    async def get(self, locale: str, position: str | None = None) -> World:
        key = (locale, position or "")
        if key not in self._built:
            world = await base_world(locale)
            if position is not None:
                where = POSITIONS[position]
                await where.script(world)
                reached = world.state(where.who)
                assert (reached.flow, reached.step) == (where.flow, where.step), position
            self._built[key] = world
        return self._built[key].copy()


@pytest.fixture(scope="module")
def worlds() -> Worlds:
    return Worlds()


# -- what an answer must look like -------------------------------------------------------------


def texts(said: list[Outgoing]) -> list[str]:
    return [m.text for m in said if m.text and m.kind is not OutKind.ANSWER_BUTTON]


def shown(said: list[Outgoing]) -> list[str]:
    """Everything the user reads: messages, edited texts and button answers."""
    return [m.text for m in said if m.text]


def no_apology(said: list[Outgoing]) -> bool:
    apologies = {translator(code)._(APOLOGY) for code in LOCALES}
    return not any(m.text in apologies for m in said)


def untranslated(world: World, said: list[Outgoing]) -> list[str]:
    """For a Chinese user, every text shown without a Chinese character."""
    if world.locale != "zh_CN":
        return []
    return [text for text in shown(said) if not CJK.search(text)]


# -- 1. forged button data, pressed by everyone ------------------------------------------------


@cache
def registry() -> Registry:
    return collect()


def prefixes() -> list[str]:
    """Every button prefix: the button handlers' and the flows' (the dispatcher routes both)."""
    return sorted({*registry().buttons, *(flow.name for flow in registry().flows)})


# The words each prefix's real buttons carry, so random data gets past each handler's first
# check instead of failing at the verb.
VERBS: dict[str, tuple[str, ...]] = {
    "w": ("acc", "res", "ret", "rr", "tr", "tg", "back", "open"),
    "my": ("w",),
    "fb": ("ok", "no", "rate"),
    "ia": ("ok", "no"),
    "ra": ("rd", "rj"),
    "lang": ("en", "zh_CN", "fr"),
    "deldata": ("no", "maybe"),
    "rep": ("cat", "more", "top", "cls", "skip", "edit", "cancel", "follow", "submit"),
    "reg": ("agree", "decline", "co", "streets", "street", "comm", "restart", "submit"),
    "wres": ("skip",),
    "fbr": ("skip",),
}
# Strings that pass str.isdigit() but not int(), and other near-numbers.
ODD_NUMBERS = ("²", "١٢", "³¹", "-1", " 1", "1.0", "0x1", "", "1_0")


@dataclass(frozen=True)
class Persona:
    who: str
    position: str | None = None  # None: in no flow
    # Button data this persona was really offered for an action it may take: not forged.
    genuine: Callable[[str, int, int], bool] = lambda data, rid, ver: False


def _case(rid: int, ver: int) -> str:
    # "01" is read as 1: a press with leading zeros is still the button that was offered.
    return f"0*{rid}:0*{ver}"


def _offered_to_reporter(data: str, rid: int, ver: int) -> bool:
    return re.fullmatch(rf"my:w:{_case(rid, ver)}", data) is not None


def _offered_to_grid_worker(data: str, rid: int, ver: int) -> bool:
    case = _case(rid, ver)
    return re.fullmatch(rf"w:(acc:{case}|rr:{case}:(grid|fake)|tg:{case}:[0-9]+)", data) is not None


def _offered_to_admin(data: str, rid: int, ver: int) -> bool:
    return re.fullmatch(rf"w:tg:{_case(rid, ver)}:[0-9]+", data) is not None


PERSONAS = {
    "a rider in no flow": Persona("courier"),
    "a rider mid-report": Persona("courier", "rep.confirm"),
    "a newcomer mid-registration": Persona("newbie", "reg.area"),
    "the reporter": Persona("rider", genuine=_offered_to_reporter),
    "a worker of another grid": Persona("w2"),
    "a worker of the report's grid": Persona("w1", genuine=_offered_to_grid_worker),
    "a community admin": Persona("admin", genuine=_offered_to_admin),
}


def button_data(world: World) -> st.SearchStrategy[str]:
    known = sorted({*world.store.data.last_ids.values(), *range(0, 6), 10**20})
    number = st.one_of(
        st.sampled_from(known).map(str),
        st.sampled_from(ODD_NUMBERS),
        st.integers(min_value=-3, max_value=10**13).map(str),
        st.text(max_size=8),
    )
    word = st.one_of(st.sampled_from([v for vs in VERBS.values() for v in vs]), st.text(max_size=6))
    prefixed = st.builds(
        lambda prefix, verb, rest: ":".join([prefix, verb, *rest]),
        st.sampled_from(prefixes()),
        st.one_of(word, number),
        st.lists(st.one_of(number, number, word), max_size=3),
    )
    shaped = st.sampled_from(sorted(VERBS)).flatmap(
        lambda prefix: st.builds(
            lambda verb, rest: ":".join([prefix, verb, *rest]),
            st.sampled_from(VERBS[prefix]),
            st.lists(number, min_size=1, max_size=3),
        )
    )
    anything = st.text(max_size=64)
    return st.one_of(shaped, shaped, prefixed, anything).filter(lambda d: len(d.encode()) <= 64)


def test_the_verbs_tried_belong_to_registered_button_prefixes() -> None:
    assert set(VERBS) <= set(prefixes())


@pytest.mark.parametrize("persona", PERSONAS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.data())
async def test_forged_button_data_is_answered_and_changes_no_report_or_profile(
    worlds: Worlds, persona: str, data: st.DataObject
) -> None:
    who = PERSONAS[persona]
    world = await worlds.get("en", who.position)
    rid, ver = world.the_report()
    reports, profiles = world.report_marks(), dict(world.store.data.informants)
    # A few presses per world: the world is the costly part, a press is cheap.
    for pressed in data.draw(st.lists(button_data(world), min_size=1, max_size=4), label="data"):
        if pressed == "deldata:yes" or who.genuine(pressed, rid, ver):
            continue  # the erasure confirmation and real buttons are allowed to act
        said = await world.press(who.who, pressed)
        assert no_apology(said), (pressed, [m.text for m in said])
        assert any(m.kind is OutKind.ANSWER_BUTTON for m in said), (pressed, said)
        after = world.report_marks()
        assert {k: after[k] for k in reports} == reports, pressed
        assert world.store.data.informants == profiles, pressed


# -- 2. every command, mid-way in every flow ---------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("position", POSITIONS)
async def test_every_command_mid_flow_answers_for_itself_or_says_finish_first_and_keeps_the_state(
    worlds: Worlds, position: str, locale: str
) -> None:
    where = POSITIONS[position]
    t = translator(locale)
    problems: list[str] = []
    for name in [*(c.name for c in registry().commands), "frobnicate"]:
        world = await worlds.get(locale, position)
        before = copy.deepcopy(world.state(where.who))
        said = await world.command(where.who, name)
        after = world.state(where.who)
        command = next((c for c in registry().commands if c.name == name), None)
        problems += [f"/{name}: {text!r} untranslated" for text in untranslated(world, said)]
        if not no_apology(said):
            problems.append(f"/{name}: apology")
        elif name == "cancel":
            if after.flow is not None or t._("Cancelled. Nothing was sent.") not in texts(said):
                problems.append(f"/cancel: state {after} said {texts(said)}")
        elif command is not None and command.allowed_mid_flow:
            idle = await worlds.get(locale, position)
            idle.store.data.conversations.pop(("telegram", where.who))
            expected = texts(await idle.command(where.who, name))
            if texts(said) != expected or after != before:
                problems.append(f"/{name}: said {texts(said)} not {expected}; state {after}")
        else:
            first = t._(UNKNOWN_COMMAND if command is None else MID_FLOW)
            said_texts = texts(said)
            if said_texts[:1] != [first] or len(said_texts) < 2 or after != before:
                problems.append(f"/{name}: said {said_texts}; state {after}")
    assert problems == []


# -- 3. the wrong kind of message in every step ------------------------------------------------

KINDS = ("text", "location", "contact", "document", "photo")
# (position, kind) → the (flow, step) the input rightly leads to; anything else keeps the state.
ADVANCES: dict[tuple[str, str], tuple[str | None, str | None]] = {
    ("reg.name", "text"): ("reg", "phone"),
    ("reg.company_other", "text"): ("reg", "area"),
    ("reg.area", "location"): ("reg", "confirm"),
    ("rep.photo", "photo"): ("rep", "location"),
    ("rep.photo", "location"): ("rep", "photo"),
    ("rep.location", "photo"): ("rep", "location"),
    ("rep.location", "location"): ("rep", "category"),
    ("rep.category", "photo"): ("rep", "category"),
    ("rep.category", "location"): ("rep", "category"),
    ("rep.note", "text"): ("rep", "confirm"),
    ("rep.note", "photo"): ("rep", "note"),
    ("rep.note", "location"): ("rep", "note"),
    ("rep.confirm", "photo"): ("rep", "confirm"),
    ("rep.confirm", "location"): ("rep", "confirm"),
    ("wres.note", "text"): ("wres", "photo"),
    ("wres.photo", "photo"): (None, None),  # resolved
    ("fbr.reason", "text"): (None, None),  # reopened
}


async def _send_kind(world: World, who: str, kind: str) -> list[Outgoing]:
    if kind == "text":
        return await world.text(who)
    if kind == "location":
        return await world.location(who)
    if kind == "contact":
        return await world.contact(who, owner="someone-else")
    if kind == "document":
        return await world.document(who)
    return await world.photo(who)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("position", POSITIONS)
async def test_any_kind_of_message_in_any_step_gets_a_clear_answer_and_keeps_or_advances_the_state(
    worlds: Worlds, position: str, locale: str
) -> None:
    where = POSITIONS[position]
    problems: list[str] = []
    for kind in KINDS:
        world = await worlds.get(locale, position)
        before = copy.deepcopy(world.state(where.who))
        reports = world.report_marks()
        said = await _send_kind(world, where.who, kind)
        after = world.state(where.who)
        problems += [f"{kind}: {text!r} untranslated" for text in untranslated(world, said)]
        if not no_apology(said) or not texts(said):
            problems.append(f"{kind}: no clear answer: {texts(said)}")
        expected = ADVANCES.get((position, kind))
        if expected is None and (after != before or world.report_marks() != reports):
            problems.append(f"{kind}: state {before} became {after}")
        elif expected is not None and (after.flow, after.step) != expected:
            problems.append(f"{kind}: reached {(after.flow, after.step)}, not {expected}")
    assert problems == []


# -- regressions: one test per bug the tests above found ---------------------------------------

NOT_VALID = "This button is not valid."


def _alerts(said: list[Outgoing]) -> list[str]:
    return [m.text for m in said if m.kind is OutKind.ANSWER_BUTTON and m.alert]


@pytest.mark.parametrize(
    ("who", "position", "data"),
    [
        ("w1", None, "w:acc:²:1"),
        ("w1", None, "w:tg:1:1:²"),
        ("courier", None, "my:²"),
        ("rider", None, "my:w:1:²"),
        ("newbie", "reg.company", "reg:co:²"),
        ("newbie", "reg.area", "reg:street:²:0"),
        ("newbie", "reg.area", "reg:comm:³"),
        ("courier", "rep.confirm", "rep:follow:²"),
    ],
)
async def test_superscript_digits_in_button_data_are_refused_instead_of_crashing(
    worlds: Worlds, who: str, position: str | None, data: str
) -> None:
    # "²".isdigit() is True but int("²") raises: the handlers checked with isdigit().
    world = await worlds.get("en", position)
    before = copy.deepcopy(world.state(who))
    said = await world.press(who, data)
    assert _alerts(said) == [NOT_VALID]
    assert world.state(who) == before


async def test_a_stale_reject_on_the_returned_list_does_not_reject_a_redispatched_case(
    worlds: Worlds,
) -> None:
    world = await worlds.get("en")
    rid, ver = world.the_report()
    await world.press("w1", f"w:rr:{rid}:{ver}:grid")
    await world.command("admin", "returned")
    g1 = next(n.id for n in world.store.data.regions.values() if n.code == "G1")
    await world.press("admin", f"ra:rd:{rid}:{g1}")
    assert world.store.data.reports[rid].status is ReportStatus.DISPATCHED
    said = await world.press("admin", f"ra:rj:{rid}")  # the Reject on the same old list
    assert _alerts(said) == ["This case has moved on; that button no longer applies."]
    assert world.store.data.reports[rid].status is ReportStatus.DISPATCHED


async def test_a_stale_reject_of_an_application_does_not_revoke_an_approved_rider(
    worlds: Worlds,
) -> None:
    world = await worlds.get("en")
    await _account(world, "admin2", RoleName.COMMUNITY_ADMIN, "C1")
    await world.command("newbie", "register")
    for step in ("reg:agree", "王小明", "contact", "reg:co:0", "location", "reg:submit"):
        if step == "contact":
            await world.contact("newbie", owner="newbie")
        elif step == "location":
            await world.location("newbie")
        elif step.startswith("reg:"):
            await world.press("newbie", step)
        else:
            await world.text("newbie", step)
    newbie = world.account_id("newbie")
    await world.press("admin", f"ia:ok:{newbie}")
    said = await world.press("admin2", f"ia:no:{newbie}")  # admin2's copy still had buttons
    assert _alerts(said) == ["This registration was already decided."]
    assert world.store.data.informants[newbie].status is InformantStatus.APPROVED


@pytest.mark.parametrize(
    ("position", "data"), [("wres.note", "wres:skip"), ("wdup.number", "wdup:x")]
)
async def test_a_button_pressed_while_a_worker_flow_waits_for_text_is_answered(
    worlds: Worlds, position: str, data: str
) -> None:
    where = POSITIONS[position]
    world = await worlds.get("en", position)
    before = copy.deepcopy(world.state(where.who))
    said = await world.press(where.who, data)
    assert _alerts(said) == [NOT_VALID]  # before, the client's spinner was never stopped
    assert world.state(where.who) == before


@pytest.mark.parametrize("locale", LOCALES)
async def test_a_command_while_a_duplicate_number_is_awaited_asks_for_the_number_again(
    worlds: Worlds, locale: str
) -> None:
    world = await worlds.get(locale, "wdup.number")
    t = translator(locale)
    said = await world.command("w1", "start")
    # Before, the re-prompt was "No report has that number", as if /start were a number.
    assert texts(said) == [
        t._(MID_FLOW),
        t._("Which report is this a duplicate of? Send its number."),
    ]
