"""Party membership (亮身份) in chat, through the real Dispatcher on the in-memory store.

A rider declares (consent first, Decline stores nothing), the party organisation of the
declared community verifies, asks for details or declines, the rider hears the outcome in
their own language; /party shows, corrects and withdraws; /mydata lists and /deletedata
erases; the badge is the rider's own; nobody else — case staff included — sees any of it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat import Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import ConversationState, GeoPoint, InformantStatus, Level, RoleName
from bot.domain.party import DeclarationStatus, PartyDeclaration
from bot.i18n import translator
from bot.services import party, staff
from bot.services.env import Env, MapHolder
from tests.chatkit import ChatBot, approve_informant, submit, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
ORGANISATION = "中共顺丰速运秦皇岛分公司支部"
MAP = [
    unit("S1", Level.STREET, None, 119.50, 0.12),
    unit("C1", Level.COMMUNITY, "S1", 119.50, 0.06),
    unit("G1", Level.GRID, "C1", 119.50),
    unit("C2", Level.COMMUNITY, "S1", 119.56, 0.06),
    unit("G2", Level.GRID, "C2", 119.56),
]
ZH = translator("zh_CN")
IN_G1 = GeoPoint(lat=39.915, lon=119.515)


class Town:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        self.chat = ChatBot(lambda: FakeUnitOfWork(store=self.store), self.env)

    def state(self, user_id: str) -> ConversationState:
        """The user's stored conversation state; none stored is an empty one."""
        return self.store.data.conversations.get(("telegram", user_id), ConversationState())

    async def rider(self, name: str = "rider", *, locale: str = "en") -> User:
        user = await self.chat.person(name, locale=locale)
        account_id = await self.chat.account_id(user)
        async with FakeUnitOfWork(store=self.store) as uow:
            home = await uow.regions.get("G1")
            assert home is not None
            await approve_informant(
                uow, account_id, at=NOW, real_name="王师傅", home_region_id=home.id
            )
            await uow.commit()
        return user

    async def declare(self, rider: User, *, year: str = "2015") -> list[Outgoing]:
        """/party through to Submit, choosing the offered work-area community (C1)."""
        await self.chat.command(rider, "party")
        await self.chat.press(rider, "party:agree")
        await self.chat.press(rider, "party:st:formal")
        await self.chat.text(rider, ORGANISATION)
        await self.chat.text(rider, year)
        c1 = await self.region_id("C1")
        await self.chat.press(rider, f"party:comm:{c1}")
        return await self.chat.press(rider, "party:submit")

    async def report(self, rider: User) -> None:
        account_id = await self.chat.account_id(rider)
        async with FakeUnitOfWork(store=self.store) as uow:
            await submit(uow, self.env, account_id, category="0102", location=IN_G1, note="")
            await uow.commit()

    async def region_id(self, code: str) -> int:
        async with FakeUnitOfWork(store=self.store) as uow:
            node = await uow.regions.get(code)
        assert node is not None
        return node.id

    async def declaration(self, rider: User) -> PartyDeclaration | None:
        return self.store.data.party.get(await self.chat.account_id(rider))

    async def decision(self, rider: User, verb: str) -> str:
        found = await self.declaration(rider)
        assert found is not None
        return f"pmd:{verb}:{found.account_id}:{found.revision}"


def to(user: User, said: list[Outgoing]) -> list[Outgoing]:
    return [m for m in said if m.chat_id == user.chat_id]


def texts(user: User, said: list[Outgoing]) -> str:
    return "\n".join(m.text or "" for m in to(user, said))


def button_data(said: list[Outgoing]) -> list[str]:
    return [b.data or "" for m in said if m.keyboard for row in m.keyboard.rows for b in row]


def alerts(said: list[Outgoing]) -> list[Outgoing]:
    return [m for m in said if m.kind is OutKind.ANSWER_BUTTON and m.alert]


@pytest.fixture
async def town() -> Town:
    t = Town()
    await t.chat.seed_map(MAP)
    return t


async def test_declining_the_party_consent_stores_nothing(town: Town) -> None:
    rider = await town.rider()
    consent = await town.chat.command(rider, "party")
    assert "Who sees it: only the party organisation" in texts(rider, consent)
    said = await town.chat.press(rider, "party:decline")
    assert "nothing about your party membership was stored" in texts(rider, said)
    assert town.store.data.party == {}
    state = town.store.data.conversations[("telegram", rider.user_id)]
    assert (state.flow, state.data) == (None, {})


async def test_someone_not_registered_cannot_declare(town: Town) -> None:
    stranger = await town.chat.person("stranger")
    said = await town.chat.command(stranger, "party")
    assert "Send /register" in texts(stranger, said)
    assert town.state("stranger").flow is None


async def test_a_rejected_rider_cannot_declare(town: Town) -> None:
    rider = await town.rider()
    account_id = await town.chat.account_id(rider)
    async with FakeUnitOfWork(store=town.store) as uow:
        await uow.informants.decide(account_id, InformantStatus.REJECTED, by=1, at=NOW)
        await uow.commit()
    assert "Send /register" in texts(rider, await town.chat.command(rider, "party"))


async def test_a_rider_rejected_after_declaring_can_still_see_and_withdraw_it(
    town: Town,
) -> None:
    rider = await town.rider()
    await town.declare(rider)
    account_id = await town.chat.account_id(rider)
    async with FakeUnitOfWork(store=town.store) as uow:
        await uow.informants.decide(account_id, InformantStatus.REJECTED, by=1, at=NOW)
        await uow.commit()
    assert button_data(await town.chat.command(rider, "help")) == ["pms:start"]
    shown = await town.chat.command(rider, "party")
    assert ORGANISATION in texts(rider, shown)
    assert button_data(shown) == ["pms:wd"]
    await town.chat.press(rider, "pms:wd:yes")
    assert await town.declaration(rider) is None


async def test_a_declaration_goes_to_the_communitys_party_organisation_only(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    other_secretary = await town.chat.person("sec2", RoleName.PARTY_SECRETARY, "C2")
    admin = await town.chat.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    worker = await town.chat.person("worker", RoleName.GRID_WORKER, "G1")
    rider = await town.rider()
    said = await town.declare(rider)
    stored = await town.declaration(rider)
    assert stored is not None
    assert (stored.status, stored.organisation, stored.year_joined, stored.community_id) == (
        DeclarationStatus.PENDING,
        ORGANISATION,
        2015,
        await town.region_id("C1"),
    )
    assert (stored.consent_version, stored.consented_at) == (party.CONSENT_VERSION, NOW)
    [request] = to(secretary, said)
    assert ORGANISATION in (request.text or "") and "王师傅" in (request.text or "")
    assert "+86" not in (request.text or "")  # the phone stays with the registration
    assert button_data([request]) == [
        f"pmd:{verb}:{stored.account_id}:{stored.revision}" for verb in ("ok", "ask", "no")
    ]
    assert "sent to the party organisation of C1" in texts(rider, said)
    for nobody in (other_secretary, admin, worker):
        assert to(nobody, town.chat.outbox) == []


async def test_the_offered_community_is_the_work_areas_and_another_can_be_chosen(
    town: Town,
) -> None:
    rider = await town.rider()
    await town.chat.command(rider, "party")
    await town.chat.press(rider, "party:agree")
    await town.chat.press(rider, "party:st:probationary")
    await town.chat.text(rider, ORGANISATION)
    asked = await town.chat.text(rider, "2024")
    c1, c2, s1 = [await town.region_id(c) for c in ("C1", "C2", "S1")]
    assert button_data(asked) == [f"party:comm:{c1}", "party:streets:0"]
    streets = await town.chat.press(rider, "party:streets:0")
    assert f"party:street:{s1}:0" in button_data(streets)
    communities = await town.chat.press(rider, f"party:street:{s1}:0")
    assert {f"party:comm:{c1}", f"party:comm:{c2}"} <= set(button_data(communities))
    refused = await town.chat.press(rider, f"party:comm:{s1}")  # a street is no community
    assert len(alerts(refused)) == 1
    await town.chat.press(rider, f"party:comm:{c2}")
    await town.chat.press(rider, "party:submit")
    stored = await town.declaration(rider)
    assert stored is not None and stored.community_id == c2
    assert "probationary" in stored.standing


@pytest.mark.parametrize("year", ["1900", "2027", "15", "２０１５", "twenty"])
async def test_an_impossible_year_is_asked_again_and_nothing_is_lost(town: Town, year: str) -> None:
    rider = await town.rider()
    await town.chat.command(rider, "party")
    await town.chat.press(rider, "party:agree")
    await town.chat.press(rider, "party:st:formal")
    await town.chat.text(rider, ORGANISATION)
    said = await town.chat.text(rider, year)
    assert "four digits, from 1921 to 2026" in texts(rider, said)
    state = town.store.data.conversations[("telegram", rider.user_id)]
    assert (state.step, state.data["organisation"]) == ("year", ORGANISATION)


async def test_verifying_tells_the_rider_in_their_own_language(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.rider(locale="zh_CN")
    await town.declare(rider)
    said = await town.chat.press(secretary, await town.decision(rider, "ok"))
    assert "Verified: 王师傅." in texts(secretary, said)
    told = texts(rider, said)
    assert told == ZH._(
        "Your party membership was verified by the party organisation of {community}. "
        "Send /party if you want a party member badge on your own /points and /myreports; "
        "grid workers never see it."
    ).format(community="C1")
    assert "已核实您的党员身份" in told
    stored = await town.declaration(rider)
    assert stored is not None and stored.status is DeclarationStatus.VERIFIED


async def test_asking_for_details_sends_the_question_and_a_correction_goes_back(
    town: Town,
) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.rider()
    await town.declare(rider)
    first = await town.decision(rider, "ask")
    await town.chat.press(secretary, first)
    said = await town.chat.text(secretary, "Which branch exactly? Please give its full name.")
    assert "Which branch exactly?" in texts(rider, said)
    assert "Your question was sent to 王师傅." in texts(secretary, said)
    status = await town.chat.command(rider, "party")
    assert "Question: Which branch exactly?" in texts(rider, status)
    assert "pms:fix" in button_data(status)
    await town.chat.press(rider, "pms:fix")  # the consent holds: straight to the questions
    await town.chat.press(rider, "party:st:formal")
    await town.chat.text(rider, ORGANISATION + "第三支部")
    await town.chat.text(rider, "2015")
    await town.chat.press(rider, f"party:comm:{await town.region_id('C1')}")
    again = await town.chat.press(rider, "party:submit")
    stored = await town.declaration(rider)
    assert stored is not None
    assert (stored.status, stored.question) == (DeclarationStatus.PENDING, "")
    assert first.endswith(f":{stored.revision - 1}")
    assert f"pmd:ok:{stored.account_id}:{stored.revision}" in button_data(to(secretary, again))
    stale = await town.chat.press(secretary, first.replace(":ask:", ":ok:"))
    assert "already decided or has changed" in (alerts(stale)[0].text or "")
    assert (await town.declaration(rider)).status is DeclarationStatus.PENDING  # type: ignore[union-attr]


async def test_declining_tells_the_rider_who_may_correct_or_withdraw(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.rider()
    await town.declare(rider)
    said = await town.chat.press(secretary, await town.decision(rider, "no"))
    assert "could not verify your party membership declaration" in texts(rider, said)
    pressed_again = await town.chat.press(secretary, await town.decision(rider, "ok"))
    assert len(alerts(pressed_again)) == 1
    stored = await town.declaration(rider)
    assert stored is not None and stored.status is DeclarationStatus.DECLINED


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (RoleName.GRID_WORKER, "G1"),
        (RoleName.GRID_LEADER, "G1"),
        (RoleName.COMMUNITY_ADMIN, "C1"),
        (RoleName.STREET_ADMIN, "S1"),
        (RoleName.PARTY_SECRETARY, "C2"),
        (None, "G1"),
    ],
)
async def test_only_the_declared_communitys_party_organisation_may_decide(
    town: Town, role: RoleName | None, region: str
) -> None:
    intruder = await town.chat.person("intruder", role, region)
    rider = await town.rider()
    await town.declare(rider)
    before = await town.declaration(rider)
    for verb in ("ok", "ask", "no"):
        said = await town.chat.press(intruder, await town.decision(rider, verb))
        # The same answer as for a declaration that does not exist: nothing is revealed.
        nobody = await town.chat.press(intruder, f"pmd:{verb}:9999:1")
        assert [m.text for m in alerts(said)] == [m.text for m in alerts(nobody)]
        assert ORGANISATION not in texts(intruder, said)
    assert await town.declaration(rider) == before
    assert town.state("intruder").flow is None


async def test_the_badge_is_shown_only_on_the_riders_own_views_and_only_if_chosen(
    town: Town,
) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.rider()
    await town.declare(rider)
    await town.report(rider)
    badge = "🏅 Party member"
    assert badge not in texts(rider, await town.chat.command(rider, "points"))
    await town.chat.press(secretary, await town.decision(rider, "ok"))
    assert badge not in texts(rider, await town.chat.command(rider, "points"))
    assert "pms:badge:on" in button_data(await town.chat.command(rider, "party"))
    await town.chat.press(rider, "pms:badge:on")
    assert texts(rider, await town.chat.command(rider, "points")).startswith(badge)
    assert texts(rider, await town.chat.command(rider, "myreports")).startswith(badge)
    await town.chat.press(rider, "pms:badge:off")
    assert badge not in texts(rider, await town.chat.command(rider, "points"))
    assert badge not in texts(rider, await town.chat.command(rider, "myreports"))


async def test_a_badge_cannot_be_chosen_before_verification(town: Town) -> None:
    rider = await town.rider()
    await town.declare(rider)
    said = await town.chat.press(rider, "pms:badge:on")
    assert len(alerts(said)) == 1
    stored = await town.declaration(rider)
    assert stored is not None and not stored.show_badge


async def test_withdrawing_deletes_the_declaration(town: Town) -> None:
    rider = await town.rider()
    await town.declare(rider)
    asked = await town.chat.press(rider, "pms:wd")
    assert "pms:wd:yes" in button_data(asked)
    said = await town.chat.press(rider, "pms:wd:yes")
    assert "declaration was deleted" in texts(rider, said)
    assert await town.declaration(rider) is None
    # /party again starts afresh, with the consent screen.
    assert "party:agree" in button_data(await town.chat.command(rider, "party"))


async def test_a_verify_button_of_a_withdrawn_declaration_does_not_verify_a_new_one(
    town: Town,
) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.rider()
    await town.declare(rider, year="2015")
    old = await town.decision(rider, "ok")  # its message shows the withdrawn details
    await town.chat.press(rider, "pms:wd")
    await town.chat.press(rider, "pms:wd:yes")
    again = await town.declare(rider, year="2019")
    new = await town.decision(rider, "ok")
    assert new != old and new in button_data(to(secretary, again))
    stale = await town.chat.press(secretary, old)
    assert "already decided or has changed" in (alerts(stale)[0].text or "")
    stored = await town.declaration(rider)
    assert stored is not None and stored.status is DeclarationStatus.PENDING
    said = await town.chat.press(secretary, new)
    assert "Verified: 王师傅." in texts(secretary, said)
    stored = await town.declaration(rider)
    assert stored is not None and (stored.status, stored.year_joined) == (
        DeclarationStatus.VERIFIED,
        2019,
    )


async def test_mydata_lists_the_declaration_and_deletedata_erases_it(town: Town) -> None:
    rider = await town.rider()
    await town.declare(rider)
    listed = texts(rider, await town.chat.command(rider, "mydata"))
    assert "Party membership declaration (waiting for verification)" in listed
    assert ORGANISATION in listed and "Year joined: 2015" in listed
    await town.chat.command(rider, "deletedata")
    await town.chat.press(rider, "deldata:yes")
    assert town.store.data.party == {}


async def test_help_offers_the_declaration_to_registered_riders_only(town: Town) -> None:
    rider = await town.rider()
    stranger = await town.chat.person("stranger")
    worker = await town.chat.person("worker", RoleName.GRID_WORKER, "G1")
    assert button_data(await town.chat.command(rider, "help")) == ["pms:start"]
    assert button_data(await town.chat.command(stranger, "help")) == []
    assert button_data(await town.chat.command(worker, "help")) == []
    consent = await town.chat.press(rider, "pms:start")
    assert "party:agree" in button_data(consent)


async def test_the_party_organisation_lists_what_waits_for_it(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    other = await town.chat.person("sec2", RoleName.PARTY_SECRETARY, "C2")
    admin = await town.chat.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    rider = await town.rider()
    await town.declare(rider)
    listed = await town.chat.command(secretary, "declarations")
    assert ORGANISATION in texts(secretary, listed)
    assert await town.decision(rider, "ok") in button_data(listed)
    assert ORGANISATION not in texts(other, await town.chat.command(other, "declarations"))
    refused = texts(admin, await town.chat.command(admin, "declarations"))
    assert "for community party organisations" in refused


async def test_admins_get_counts_of_their_own_area_and_never_names(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    admin = await town.chat.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    other_admin = await town.chat.person("admin2", RoleName.COMMUNITY_ADMIN, "C2")
    street_admin = await town.chat.person("street", RoleName.STREET_ADMIN, "S1")
    worker = await town.chat.person("worker", RoleName.GRID_WORKER, "G1")
    await town.declare(await town.rider("r1"))
    second = await town.rider("r2")
    await town.declare(second)
    await town.chat.press(secretary, await town.decision(second, "ok"))
    shown = texts(admin, await town.chat.command(admin, "partystats"))
    assert "Total: 2 declared, 1 verified" in shown
    assert "C1: 2 declared, 1 verified" in shown and "S1: 2 declared, 1 verified" in shown
    assert "王师傅" not in shown and ORGANISATION not in shown
    assert "Total: 2 declared" in texts(
        street_admin, await town.chat.command(street_admin, "partystats")
    )
    elsewhere = texts(other_admin, await town.chat.command(other_admin, "partystats"))
    assert "No party membership declarations in your area." in elsewhere
    refused = texts(worker, await town.chat.command(worker, "partystats"))
    assert "for community, street and city admins" in refused


async def test_a_party_secretary_is_no_case_staff(town: Town) -> None:
    secretary = await town.chat.person("sec", RoleName.PARTY_SECRETARY, "C1")
    assert "/queue is for grid staff." in texts(
        secretary, await town.chat.command(secretary, "queue")
    )
    assert "Only grid staff" in texts(secretary, await town.chat.command(secretary, "duty"))


async def test_a_party_secretary_is_invited_on_a_community_only(town: Town) -> None:
    async with FakeUnitOfWork(store=town.store) as uow:
        created = await staff.create_invite(
            uow, region_code="C1", role=RoleName.PARTY_SECRETARY, now=NOW, bot_username="b"
        )
        with pytest.raises(staff.StaffError, match="community"):
            await staff.create_invite(
                uow, region_code="G1", role=RoleName.PARTY_SECRETARY, now=NOW, bot_username="b"
            )
        await uow.commit()
    secretary = await town.chat.person("sec")
    welcome = texts(secretary, await town.chat.command(secretary, "start", created.payload))
    assert "verify party membership declarations" in welcome and "/queue" not in welcome
