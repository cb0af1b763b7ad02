"""Registration as informant, driven through the real Dispatcher on the in-memory store.

Each test plays a rider sending real ``Incoming`` updates; what the bot said is read from the
outbox and what it kept from the committed store, exactly as the transport and the next
update would see them.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.chat import Contact, Incoming, Kind, Location, Outgoing, OutKind, Request, User
from bot.domain.categories import load_catalogue
from bot.domain.model import Account, Consent, InformantStatus, Level, MapUnit, RoleName
from bot.services.env import Env, MapHolder
from handlers.dispatcher import Dispatcher
from handlers.register import CONSENT_VERSION
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import deliver, dispatcher_on

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RIDER = User(
    platform="telegram", user_id="501", chat_id="501", display_name="Xiaoming", language_code="en"
)
# A WGS-84 point in grid G1 (squares are kilometres wide, so the GCJ-02 shift stays inside).
IN_G1 = Location(lat=39.925, lon=119.52)
IN_ITALY = Location(lat=41.9, lon=12.5)


def _square(x0: float, y0: float, size: float) -> dict[str, object]:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _unit(code: str, name: str, level: Level, parent: str | None, x0: float, size: float):
    return MapUnit(
        code=code,
        name=name,
        level=level,
        parent_code=parent,
        geometry=_square(x0, 39.90, size),
    )


MAP = [
    _unit("D", "海港区", Level.DISTRICT, None, 119.50, 0.10),
    _unit("S1", "西港路街道", Level.STREET, "D", 119.50, 0.10),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1", 119.50, 0.05),
    _unit("C2", "西环社区", Level.COMMUNITY, "S1", 119.55, 0.05),
    _unit("G1", "东环一网格", Level.GRID, "C1", 119.50, 0.05),
    _unit("G2", "西环一网格", Level.GRID, "C2", 119.55, 0.05),
    # A second street with more communities than fit on one page of buttons.
    _unit("S2", "文化路街道", Level.STREET, "D", 119.60, 0.10),
    *(_unit(f"K{i:02d}", f"社区{i:02d}", Level.COMMUNITY, "S2", 119.60, 0.01) for i in range(11)),
]


class NoPhotos:
    def put(self, data: bytes, ext: str) -> str:
        raise AssertionError("registration stores no photos")

    def get(self, key: str) -> bytes:
        raise AssertionError("registration reads no photos")


class Rider:
    """One rider talking to a bot whose state lives in ``store``."""

    def __init__(self, store: FakeStore, user: User = RIDER) -> None:
        self.store = store
        self.user = user
        self.ids = itertools.count(1)
        self.dispatcher = self.new_dispatcher()

    def new_dispatcher(self) -> Dispatcher:
        """A freshly started bot process: nothing in memory, only the stored state."""
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=NoPhotos(),
            clock=lambda: NOW,
        )
        return dispatcher_on(self.store, env, modules=("common", "register"))

    @property
    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(store=self.store)

    async def send(self, kind: Kind, **fields: object) -> list[Outgoing]:
        update = Incoming(update_id=str(next(self.ids)), user=self.user, kind=kind, **fields)  # type: ignore[arg-type]
        return await deliver(self.dispatcher, self.store, update)

    async def command(self, name: str, payload: str = "") -> list[Outgoing]:
        return await self.send(Kind.COMMAND, command=name, payload=payload, text=f"/{name}")

    async def text(self, text: str) -> list[Outgoing]:
        return await self.send(Kind.TEXT, text=text)

    async def press(self, data: str) -> list[Outgoing]:
        return await self.send(Kind.BUTTON, button_data=data, callback_id="cb", message_id="m1")

    async def location(self, where: Location) -> list[Outgoing]:
        return await self.send(Kind.LOCATION, location=where)

    async def contact(self, phone: str, user_id: str | None) -> list[Outgoing]:
        return await self.send(Kind.CONTACT, contact=Contact(phone=phone, user_id=user_id))

    async def to_step(self, step: str) -> None:
        """Walk the happy path until the flow stands at ``step``."""
        path: list[tuple[str, Callable[[], Awaitable[list[Outgoing]]]]] = [
            ("phone", lambda: self.text("王小明")),
            ("company", lambda: self.contact("+8613800000000", self.user.user_id)),
            ("area", lambda: self.press("reg:co:0")),
            ("confirm", lambda: self.location(IN_G1)),
        ]
        await self.command("register")
        await self.press("reg:agree")
        for reached, act in path:
            if self.step() == step:
                return
            await act()
            assert self.step() == reached
        assert self.step() == step

    def step(self) -> str | None:
        state = self.store.data.conversations.get((self.user.platform, self.user.user_id))
        return state.step if state else None

    def account(self) -> Account:
        return next(iter(self.store.data.accounts.values()))


def texts(messages: list[Outgoing]) -> str:
    return "\n".join(m.text for m in messages if m.kind is OutKind.TEXT)


def button_data(messages: list[Outgoing]) -> list[str]:
    return [
        b.data or ""
        for m in messages
        if m.keyboard
        for row in m.keyboard.rows
        for b in row
        if m.keyboard.inline
    ]


def asks_for_contact(messages: list[Outgoing]) -> bool:
    return any(m.request is not None and Request.PHONE in m.request.wants for m in messages)


@pytest.fixture
async def rider() -> Rider:
    store = FakeStore()
    uow = FakeUnitOfWork(store=store)
    async with uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    return Rider(store)


async def test_a_newcomer_starting_the_bot_is_welcomed_with_the_consent_screen(rider):
    said = await rider.command("start")
    assert "Welcome" in texts(said)
    assert {"reg:agree", "reg:decline"} <= set(button_data(said))
    assert rider.step() == "consent"


async def test_staff_starting_the_bot_get_help_instead_of_the_consent_screen(rider):
    await rider.command("help")  # creates the account
    async with rider.uow as uow:
        community = await uow.regions.get("C1")
        assert community is not None
        await uow.roles.grant(rider.account().id, RoleName.GRID_WORKER, community.id)
        await uow.commit()
    said = await rider.command("start")
    assert "reg:agree" not in button_data(said)
    assert rider.step() is None


async def test_the_consent_screen_names_what_is_collected_why_and_the_rights(rider):
    said = texts(await rider.command("register"))
    for needle in ("location", "photos", "phone", "company", "Why", "How long", "/mydata"):
        assert needle in said
    assert "/deletedata" in said and "Art. 44" in said


async def test_declining_consent_stores_nothing_and_says_so(rider):
    await rider.command("register")
    said = await rider.press("reg:decline")
    assert "nothing about you except this chat's id and your language" in texts(said)
    account = rider.account()
    assert (account.chat_id, account.locale) == ("501", "en")
    assert (account.display_name, account.phone, account.consent) == ("", None, None)
    assert rider.store.data.informants == {}
    assert rider.step() is None


async def test_the_chat_name_is_stored_only_from_the_first_message_after_consent(rider):
    await rider.command("register")
    await rider.press("reg:agree")
    assert rider.account().display_name == ""
    await rider.text("王小明")
    assert rider.account().display_name == "Xiaoming"
    assert "Xiaoming" in texts(await rider.command("mydata"))


async def test_declining_again_after_an_earlier_consent_does_not_claim_nothing_is_kept(rider):
    await rider.command("register")
    await rider.press("reg:agree")
    await rider.command("cancel")
    await rider.command("register")
    said = texts(await rider.press("reg:decline"))
    assert "nothing more was stored" in said and "/deletedata" in said
    assert "nothing about you except" not in said
    assert rider.account().consent == Consent(version=CONSENT_VERSION, given_at=NOW)


async def test_agreeing_stores_the_consent_version_and_time(rider):
    await rider.command("register")
    await rider.press("reg:agree")
    assert rider.account().consent == Consent(version=CONSENT_VERSION, given_at=NOW)
    assert rider.step() == "name"


async def test_a_name_longer_than_thirty_characters_is_asked_again(rider):
    await rider.to_step("name")
    said = await rider.text("王" * 31)
    assert "1 to 30 characters" in texts(said)
    assert rider.step() == "name"


async def test_someone_elses_contact_is_refused(rider):
    await rider.to_step("phone")
    said = await rider.contact("+8613911111111", user_id="999")
    assert "someone else's contact" in texts(said)
    assert asks_for_contact(said)
    assert rider.step() == "phone"
    assert "phone" not in rider.store.data.conversations[("telegram", "501")].data


async def test_a_contact_card_of_no_platform_user_is_refused(rider):
    await rider.to_step("phone")
    await rider.contact("+8613911111111", user_id=None)
    assert rider.step() == "phone"


RIDER_ZH = User(platform="telegram", user_id="502", chat_id="502", language_code="zh-hans")


@pytest.fixture
async def rider_zh(rider: Rider) -> Rider:
    return Rider(rider.store, RIDER_ZH)


def kept_phone(rider: Rider) -> str | None:
    state = rider.store.data.conversations[(rider.user.platform, rider.user.user_id)]
    return state.data.get("phone")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086 19912345678", "+8619912345678"),
        ("１３８００１３８０００", "+8613800138000"),  # full-width, from a Chinese keyboard
        ("+44 20 7946 0958", "+442079460958"),
        ("+14155552671", "+14155552671"),
    ],
)
async def test_a_typed_phone_number_is_accepted_and_stored_in_e164(rider, typed, stored):
    await rider.to_step("phone")
    said = await rider.text(typed)
    assert "your number is saved" in texts(said)
    assert rider.step() == "company"
    assert kept_phone(rider) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "hello",
        "12800138000",  # 12x is no mobile prefix
        "1380013800",  # a digit short
        "138001380001",  # a digit too many
        "+86 10 6552 9988",  # a Beijing landline
        "+0123456789",  # no country code starts with 0
        "+1234567890123456",  # longer than E.164 allows
        "0044 20 7946 0958",  # international, but not in E.164 form
        "138.0013.8000",
    ],
)
async def test_a_typed_text_that_is_no_phone_number_is_refused_in_english(rider, typed):
    await rider.to_step("phone")
    said = await rider.text(typed)
    assert "not a phone number I can use" in texts(said)
    assert "type your phone number" in texts(said)
    assert asks_for_contact(said)
    assert rider.step() == "phone"
    assert kept_phone(rider) is None


async def test_a_typed_phone_number_is_accepted_in_chinese(rider_zh):
    await rider_zh.to_step("phone")
    said = await rider_zh.text("+86 139-1234-5678")
    assert "手机号已保存" in texts(said)
    assert rider_zh.step() == "company"
    assert kept_phone(rider_zh) == "+8613912345678"


async def test_a_wrong_typed_phone_number_is_refused_in_chinese_and_asked_again(rider_zh):
    await rider_zh.to_step("phone")
    said = texts(await rider_zh.text("12345"))
    assert "不是可用的手机号码" in said
    assert "请输入手机号码" in said
    assert rider_zh.step() == "phone"
    assert kept_phone(rider_zh) is None


async def test_a_shared_contact_without_a_plus_is_stored_in_e164(rider):
    await rider.to_step("phone")
    await rider.contact("8613800138000", rider.user.user_id)
    assert rider.step() == "company"
    assert kept_phone(rider) == "+8613800138000"


async def test_the_phone_question_says_the_number_can_be_typed_or_shared(rider):
    await rider.to_step("name")
    said = await rider.text("王小明")
    assert "type your phone number, or share it" in texts(said)
    assert asks_for_contact(said)


async def test_an_unknown_command_mid_flow_is_answered_and_the_step_reprompted(rider):
    await rider.to_step("phone")
    said = await rider.command("frobnicate")
    assert "I don't know that command" in texts(said)
    assert asks_for_contact(said)
    assert rider.step() == "phone"


async def test_cancel_mid_flow_stops_registration(rider):
    await rider.to_step("company")
    said = await rider.command("cancel")
    assert "Cancelled" in texts(said)
    assert rider.step() is None
    assert rider.store.data.informants == {}


async def test_a_restarted_bot_resumes_where_the_rider_was(rider):
    await rider.to_step("company")
    rider.dispatcher = rider.new_dispatcher()
    await rider.press("reg:co:1")
    assert rider.step() == "area"
    assert rider.store.data.conversations[("telegram", "501")].data["company"] == "饿了么"


async def test_other_company_is_typed_in(rider):
    await rider.to_step("company")
    await rider.press("reg:co:other")
    await rider.text("闪送")
    assert rider.step() == "area"
    assert rider.store.data.conversations[("telegram", "501")].data["company"] == "闪送"


async def test_a_forged_company_button_is_refused(rider):
    await rider.to_step("company")
    said = await rider.press("reg:co:99")
    assert any(m.kind is OutKind.ANSWER_BUTTON and m.alert for m in said)
    assert rider.step() == "company"


async def test_a_shared_location_is_routed_to_its_community(rider):
    await rider.to_step("area")
    said = await rider.location(IN_G1)
    assert "东环社区" in texts(said)
    assert rider.step() == "confirm"


async def test_a_location_outside_the_service_area_is_refused(rider):
    await rider.to_step("area")
    said = await rider.location(IN_ITALY)
    assert "outside the service area" in texts(said)
    assert rider.step() == "area"


async def test_a_community_is_chosen_from_street_then_community_buttons(rider):
    await rider.to_step("area")
    async with rider.uow as uow:
        street = await uow.regions.get("S1")
        community = await uow.regions.get("C2")
    assert street is not None and community is not None
    streets = await rider.press("reg:streets:0")
    assert f"reg:street:{street.id}:0" in button_data(streets)
    communities = await rider.press(f"reg:street:{street.id}:0")
    assert f"reg:comm:{community.id}" in button_data(communities)
    said = await rider.press(f"reg:comm:{community.id}")
    assert "西环社区" in texts(said)
    assert rider.step() == "confirm"


async def test_a_street_cannot_be_chosen_as_the_community(rider):
    await rider.to_step("area")
    async with rider.uow as uow:
        street = await uow.regions.get("S1")
    assert street is not None
    await rider.press(f"reg:comm:{street.id}")
    assert rider.step() == "area"


async def test_submitting_stores_a_pending_profile_and_says_an_admin_will_review(rider):
    await rider.to_step("confirm")
    said = await rider.press("reg:submit")
    assert "community admin will review" in texts(said)
    profile = rider.store.data.informants[rider.account().id]
    assert (profile.real_name, profile.phone, profile.company) == (
        "王小明",
        "+8613800000000",
        "美团",
    )
    assert profile.status is InformantStatus.PENDING
    assert rider.store.data.regions[profile.home_region_id].code == "C1"
    assert rider.account().phone == "+8613800000000"
    assert rider.step() is None


async def test_a_registered_rider_sees_the_status_instead_of_the_flow(rider):
    await rider.to_step("confirm")
    await rider.press("reg:submit")
    said = await rider.command("register")
    assert "waiting for review" in texts(said)
    assert rider.step() is None


async def test_mydata_shows_what_we_hold(rider):
    await rider.to_step("confirm")
    await rider.press("reg:submit")
    said = texts(await rider.command("mydata"))
    assert "王小明" in said and "+8613800000000" in said and CONSENT_VERSION in said


async def test_deletedata_erases_the_profile_after_confirmation(rider):
    await rider.to_step("confirm")
    await rider.press("reg:submit")
    account_id = rider.account().id
    asked = await rider.command("deletedata")
    assert {"deldata:yes", "deldata:no"} <= set(button_data(asked))
    assert account_id in rider.store.data.informants
    await rider.press("deldata:yes")
    assert account_id not in rider.store.data.informants
    assert rider.store.data.accounts[account_id].phone is None
    assert rider.store.data.accounts[account_id].consent is None


async def test_deletedata_declined_keeps_everything(rider):
    await rider.to_step("confirm")
    await rider.press("reg:submit")
    await rider.command("deletedata")
    said = await rider.press("deldata:no")
    assert "Nothing was deleted" in texts(said)
    assert rider.account().id in rider.store.data.informants


async def test_a_long_community_list_is_paged(rider):
    await rider.to_step("area")
    async with rider.uow as uow:
        street = await uow.regions.get("S2")
        last = await uow.regions.get("K10")
    assert street is not None and last is not None
    first_page = await rider.press(f"reg:street:{street.id}:0")
    assert f"reg:comm:{last.id}" not in button_data(first_page)
    assert f"reg:street:{street.id}:1" in button_data(first_page)
    second_page = await rider.press(f"reg:street:{street.id}:1")
    assert f"reg:comm:{last.id}" in button_data(second_page)
    assert f"reg:street:{street.id}:0" in button_data(second_page)
    assert all(m.kind is not OutKind.TEXT for m in second_page)  # edited in place
    [edit] = [m for m in second_page if m.kind is OutKind.EDIT_TEXT]
    assert (edit.text, edit.message_id) == ("文化路街道: choose your community:", "m1")


async def test_opening_the_street_list_retitles_the_prompt_it_was_opened_from(rider):
    await rider.to_step("area")
    said = await rider.press("reg:streets:0")
    [edit] = [m for m in said if m.kind is OutKind.EDIT_TEXT]
    assert edit.text == "Choose your street:"
    assert "reg:streets:0" not in button_data(said)


async def test_the_company_chosen_stays_on_the_question_ticked(rider):
    await rider.to_step("company")
    said = await rider.press("reg:co:2")  # 顺丰
    [edit] = [m for m in said if m.kind is OutKind.EDIT_MARKUP]
    assert edit.keyboard is not None
    shown = [b.text for row in edit.keyboard.rows for b in row]
    assert shown == ["✓ SF Express"]  # 顺丰, in the rider's English
    assert rider.store.data.conversations[("telegram", "501")].data["company"] == "顺丰"


async def test_a_link_opened_at_the_consent_screen_is_followed_not_refused(rider):
    # Following a WeChat account is /start: registration is offered before the worker
    # opens the invite they were sent. Nothing was answered yet, so the link is followed.
    await rider.command("start")
    said = await rider.command("start", payload="reg")
    assert "middle of something" not in texts(said)
    assert "reg:agree" in button_data(said)
    assert rider.step() == "consent"


async def test_a_link_opened_after_the_name_was_given_is_refused_and_keeps_it(rider):
    await rider.to_step("phone")
    said = await rider.command("start", payload="reg")
    assert "middle of something" in texts(said)
    assert asks_for_contact(said)
    assert rider.step() == "phone"
    assert rider.store.data.conversations[("telegram", "501")].data["name"] == "王小明"
