"""What every implementation of the storage port must do, whatever stores the data.

Each ``*Contract`` class needs a ``make_uow`` fixture (a factory of units of work on one
store). ``tests/integration/test_storage.py`` runs them on SQLite and PostgreSQL,
``tests/unit/test_fakes.py`` on ``tests.fakes.FakeUnitOfWork``. Units are never nested:
on SQLite a second open writer would wait for the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat import Ask, Location, Outgoing, OutKind, Request, inline
from bot.domain.model import (
    Account,
    AuditEvent,
    ConversationState,
    EscalationKind,
    GeoPoint,
    InformantProfile,
    InformantStatus,
    Level,
    MapUnit,
    RegionNode,
    Report,
    ReportPhoto,
    ReportStatus,
    RoleName,
)
from bot.domain.party import CommunityCount, DeclarationStatus, PartyDeclaration, Standing
from bot.domain.volunteer import (
    ServiceType,
    SignupStatus,
    Skill,
    Slot,
    Volunteer,
    VolunteerStatus,
)
from bot.services.ports import (
    BaseUnitOfWork,
    ConcurrentUpdate,
    DuplicateUpdate,
    ExpiredState,
    Instance,
    InviteProblem,
    InviteRefused,
    NotFound,
    Received,
)
from bot.services.volunteer_ports import PointsEntry

MakeUow = Callable[[], BaseUnitOfWork]

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)
# A point in Qinhuangdao's Haigang district; offsets below are in degrees of latitude.
LAT, LON = 39.9354, 119.6005
M = 1 / 111_000  # about one metre of latitude


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def unit(code: str, level: Level, parent: str | None, name: str = "") -> MapUnit:
    return MapUnit(
        code=code, name=name or code, level=level, parent_code=parent, geometry=square(LON, LAT)
    )


CITY_MAP = [
    # Children listed before parents on purpose: import order must not matter.
    unit("G2", Level.GRID, "C1", "第二网格"),
    unit("G1", Level.GRID, "C1", "第一网格"),
    unit("C1", Level.COMMUNITY, "S1", "西港社区"),
    unit("S1", Level.STREET, "D1", "西港镇街道"),
    unit("D1", Level.DISTRICT, "QHD", "海港区"),
    unit("QHD", Level.CITY, None, "秦皇岛市"),
]


async def seed_map(make_uow: MakeUow) -> dict[str, RegionNode]:
    uow = make_uow()
    async with uow:
        await uow.regions.replace_map(CITY_MAP, replace=True)
        nodes = {u.code: await uow.regions.get(u.code) for u in CITY_MAP}
        await uow.commit()
    return {code: node for code, node in nodes.items() if node is not None}


async def seed_account(make_uow: MakeUow, user: str = "u1", locale: str = "zh_CN") -> Account:
    uow = make_uow()
    async with uow:
        account = await uow.accounts.get_or_create(
            platform="telegram",
            platform_user_id=user,
            chat_id=f"chat-{user}",
            display_name=f"Rider {user}",
            locale=locale,
        )
        await uow.commit()
    return account


async def seed_report(make_uow: MakeUow, reporter: Account, **overrides: Any) -> Report:
    fields: dict[str, Any] = {
        "reporter_id": reporter.id,
        "category_code": "0102",
        "location": GeoPoint(lat=LAT, lon=LON),
        "grid_id": None,
        "note": "井盖缺失",
        "status": ReportStatus.SUBMITTED,
        "created_at": T0,
    }
    fields.update(overrides)
    uow = make_uow()
    async with uow:
        report = await uow.reports.add(**fields)
        await uow.commit()
    return report


def message(chat: str, text: str = "hi") -> Outgoing:
    return Outgoing(platform="telegram", chat_id=chat, text=text)


class UnitOfWorkContract:
    async def test_work_not_committed_is_discarded(self, make_uow: MakeUow) -> None:
        uow = make_uow()
        async with uow:
            await uow.conversations.save("telegram", "u1", ConversationState(flow="report"), at=T0)
        async with uow:
            assert (await uow.conversations.load("telegram", "u1")).flow is None

    async def test_committed_work_is_seen_by_another_unit(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", ConversationState(flow="report"), at=T0)
            await uow.commit()
        async with make_uow() as other:
            assert (await other.conversations.load("telegram", "u1")).flow == "report"

    async def test_an_error_inside_the_unit_rolls_it_back(self, make_uow: MakeUow) -> None:
        with pytest.raises(RuntimeError):
            async with make_uow() as uow:
                await uow.updates.mark("telegram", "1")
                raise RuntimeError("handler crashed")
        async with make_uow() as uow:
            assert not await uow.updates.seen("telegram", "1")


class RegionsContract:
    async def test_an_empty_database_is_at_map_version_zero(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            assert await uow.regions.map_version() == 0
            assert await uow.regions.load_units() == (0, [])

    async def test_an_imported_map_loads_back_parents_first_with_geometry(
        self, make_uow: MakeUow
    ) -> None:
        await seed_map(make_uow)
        async with make_uow() as uow:
            version, units = await uow.regions.load_units()
        assert version == 1
        assert [u.level for u in units][:2] == [Level.CITY, Level.DISTRICT]
        assert {u.code: u for u in units}["G1"] == CITY_MAP[1]

    async def test_ancestors_run_from_the_node_itself_up_to_the_city(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        async with make_uow() as uow:
            chain = await uow.regions.ancestors(nodes["G1"].id)
        assert [n.code for n in chain] == ["G1", "C1", "S1", "D1", "QHD"]

    async def test_children_are_the_direct_subunits_by_code(self, make_uow: MakeUow) -> None:
        nodes = await seed_map(make_uow)
        async with make_uow() as uow:
            assert [n.code for n in await uow.regions.children(nodes["C1"].id)] == ["G1", "G2"]
            assert await uow.regions.children(nodes["G1"].id) == []

    async def test_units_of_one_level_come_in_code_order(self, make_uow: MakeUow) -> None:
        await seed_map(make_uow)
        async with make_uow() as uow:
            grids = await uow.regions.by_level(Level.GRID)
            streets = await uow.regions.by_level(Level.STREET)
        assert [n.code for n in grids] == sorted(n.code for n in grids)
        assert {"G1", "G2"} <= {n.code for n in grids}
        assert [n.code for n in streets] == ["S1"]

    async def test_reimport_keeps_ids_and_retires_units_missing_from_a_replacing_map(
        self, make_uow: MakeUow
    ) -> None:
        first = await seed_map(make_uow)
        without_g2 = [u for u in CITY_MAP if u.code != "G2"]
        async with make_uow() as uow:
            version = await uow.regions.replace_map(without_g2, replace=True)
            await uow.commit()
        async with make_uow() as uow:
            again = await uow.regions.get("G1")
            _, units = await uow.regions.load_units()
            children = await uow.regions.children(first["C1"].id)
        assert version == 2
        assert again is not None and again.id == first["G1"].id and again.map_version == 2
        assert "G2" not in {u.code for u in units}
        assert [n.code for n in children] == ["G1"]

    async def test_a_merging_import_keeps_units_it_does_not_mention(
        self, make_uow: MakeUow
    ) -> None:
        await seed_map(make_uow)
        async with make_uow() as uow:
            await uow.regions.replace_map([unit("G3", Level.GRID, "C1")], replace=False)
            await uow.commit()
        async with make_uow() as uow:
            _, units = await uow.regions.load_units()
        assert {"G1", "G2", "G3"} <= {u.code for u in units}

    async def test_parents_load_before_children_even_when_a_grid_moves_to_a_new_community(
        self, make_uow: MakeUow
    ) -> None:
        await seed_map(make_uow)
        moved = [unit("C2", Level.COMMUNITY, "S1"), unit("G1", Level.GRID, "C2")]
        async with make_uow() as uow:
            await uow.regions.replace_map(moved, replace=False)
            await uow.commit()
        async with make_uow() as uow:
            _, units = await uow.regions.load_units()
        order = [u.code for u in units]
        assert order.index("C2") < order.index("G1")
        assert {u.code: u.parent_code for u in units}["G1"] == "C2"

    async def test_a_unit_with_an_unknown_parent_is_refused(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            with pytest.raises(ValueError, match="NOPE"):
                await uow.regions.replace_map([unit("G9", Level.GRID, "NOPE")], replace=True)


class AccountsContract:
    async def test_get_or_create_refreshes_chat_and_name_but_keeps_the_chosen_locale(
        self, make_uow: MakeUow
    ) -> None:
        first = await seed_account(make_uow, "u1", locale="zh_CN")
        async with make_uow() as uow:
            await uow.accounts.set_locale(first.id, "en")
            again = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="u1",
                chat_id="new-chat",
                display_name="New name",
                locale="zh_CN",
            )
            await uow.commit()
        assert again.id == first.id
        assert (again.chat_id, again.display_name, again.locale) == ("new-chat", "New name", "en")

    async def test_the_same_user_id_on_another_platform_is_another_account(
        self, make_uow: MakeUow
    ) -> None:
        tg = await seed_account(make_uow, "42")
        async with make_uow() as uow:
            wx = await uow.accounts.get_or_create(
                platform="wechat",
                platform_user_id="42",
                chat_id="42",
                display_name="",
                locale="zh_CN",
            )
        assert wx.id != tg.id

    async def test_consent_phone_and_duty_are_stored(self, make_uow: MakeUow) -> None:
        account = await seed_account(make_uow)
        async with make_uow() as uow:
            await uow.accounts.record_consent(account.id, "2026-1", T0)
            await uow.accounts.set_phone(account.id, "+8613800000000")
            await uow.accounts.set_on_duty(account.id, False)
            await uow.commit()
        async with make_uow() as uow:
            stored = await uow.accounts.find("telegram", "u1")
        assert stored is not None and stored.consent is not None
        assert (stored.consent.version, stored.consent.given_at) == ("2026-1", T0)
        assert (stored.phone, stored.on_duty) == ("+8613800000000", False)

    async def test_data_may_be_kept_only_with_a_consent_a_registration_or_a_staff_role(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        users = ("stranger", "consented", "registered", "staff", "other")
        accounts = {u: await seed_account(make_uow, u) for u in users}
        async with make_uow() as uow:
            await uow.accounts.record_consent(accounts["consented"].id, "2026-1", T0)
            await uow.informants.upsert(profile(accounts["registered"].id))
            await uow.roles.grant(accounts["staff"].id, RoleName.GRID_WORKER, nodes["G1"].id)
            await uow.commit()
        async with make_uow() as uow:
            kept = {u: await uow.accounts.may_keep_data("telegram", u) for u in users}
            # The basis belongs to the account: the same id elsewhere, or no account, has none.
            assert not await uow.accounts.may_keep_data("wechat", "consented")
            assert not await uow.accounts.may_keep_data("telegram", "nobody")
        assert kept == {
            "stranger": False,
            "consented": True,
            "registered": True,
            "staff": True,
            "other": False,
        }

    async def test_an_update_starts_with_the_account_and_its_state_as_stored_or_refreshed(
        self, make_uow: MakeUow
    ) -> None:
        """``from_chat`` answers what ``upsert_from_chat`` and ``conversations.load`` do: a
        newcomer gets an account without a name and no state; a registered person's name
        and chat id are refreshed, their state read back."""

        async def from_chat(user: str, chat: str, name: str) -> tuple[Account, ConversationState]:
            async with make_uow() as uow:
                found = await uow.from_chat(
                    platform="telegram",
                    platform_user_id=user,
                    chat_id=chat,
                    display_name=name,
                    locale="en",
                )
                await uow.commit()
            return found

        newcomer, empty = await from_chat("new", "chat-new", "Newcomer")
        assert (newcomer.platform_user_id, newcomer.display_name, newcomer.locale) == (
            "new",
            "",
            "en",
        )
        assert empty == ConversationState()

        rider = await seed_account(make_uow, "u1")
        state = ConversationState(flow="rep", step="photo", data={"photos": ["k1"]})
        async with make_uow() as uow:
            await uow.informants.upsert(profile(rider.id))
            await uow.conversations.save("telegram", "u1", state, at=T0)
            await uow.commit()
        same, loaded = await from_chat("u1", rider.chat_id, rider.display_name)
        assert (same, loaded) == (rider, state)
        moved, _ = await from_chat("u1", "chat-2", "New name")
        assert (moved.id, moved.chat_id, moved.display_name) == (rider.id, "chat-2", "New name")
        async with make_uow() as uow:
            assert await uow.accounts.get(rider.id) == moved

    async def test_changing_an_unknown_account_raises_not_found(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            with pytest.raises(NotFound):
                await uow.accounts.set_locale(999, "en")

    async def test_deleting_personal_data_forgets_who_the_person_was(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        account = await seed_account(make_uow)
        report = await seed_report(make_uow, account)
        async with make_uow() as uow:
            await uow.accounts.record_consent(account.id, "2026-1", T0)
            await uow.informants.upsert(profile(account.id))
            await uow.roles.grant(account.id, RoleName.INFORMANT, nodes["G1"].id)
            await uow.conversations.save("telegram", "u1", ConversationState(flow="report"), at=T0)
            await uow.reports.subscribe(report.id, account.id)
            await uow.commit()
        async with make_uow() as uow:
            await uow.accounts.delete_personal_data(account.id)
            await uow.commit()
        async with make_uow() as uow:
            erased = await uow.accounts.get(account.id)
            assert erased is not None
            assert (erased.display_name, erased.phone, erased.consent) == ("", None, None)
            assert await uow.accounts.find("telegram", "u1") is None
            assert await uow.informants.get(account.id) is None
            assert await uow.roles.for_account(account.id) == []
            assert (await uow.conversations.load("telegram", "u1")).flow is None
            assert await uow.reports.subscribers(report.id) == []
            assert await uow.reports.get(report.id) is not None  # the city's case record stays
        assert (await seed_account(make_uow)).id != account.id

    async def test_deleting_personal_data_forgets_their_dead_updates_but_not_those_to_answer(
        self, make_uow: MakeUow
    ) -> None:
        account = await seed_account(make_uow)
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1), received(2)], at=T0)
            (unreadable,) = await uow.inbox.claim(5, T0, lease=LEASE)
            await uow.inbox.give_up(unreadable.id, "KeyError: 'chat'")  # dead: name, text …
            await uow.inbox.add("telegram", [received(3), received(4)], at=T0)
            await uow.inbox.add("telegram", [received(5, "u2"), received(6, None)], at=T0)
            await uow.inbox.add("wechat", [received(7)], at=T0)  # another platform's "u1"
            await uow.commit()
        async with make_uow() as uow:
            (deleting,) = await uow.inbox.claim(1, T0, lease=LEASE)  # the /deletedata press
            assert deleting.update_id == "2"
            await uow.commit()
        async with make_uow() as uow:
            await uow.accounts.delete_personal_data(account.id)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.dead() == []
            # The press itself and what u1 sent after it (3, 4) wait to be answered.
            assert await uow.inbox.backlog() == 6
            left = await uow.inbox.claim(10, T0 + 2 * LEASE, lease=LEASE)
        assert sorted((i.platform, i.update_id) for i in left) == [
            ("telegram", "2"),
            ("telegram", "5"),
            ("telegram", "6"),
            ("wechat", "7"),
        ]


def profile(account_id: int, **overrides: Any) -> InformantProfile:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "real_name": "张三",
        "phone": "13800000000",
        "company": "美团",
        "status": InformantStatus.PENDING,
        "home_region_id": None,
        "created_at": T0,
    }
    fields.update(overrides)
    return InformantProfile(**fields)


class RolesContract:
    async def test_granting_twice_keeps_one_grant_named_by_region_code(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        account = await seed_account(make_uow)
        async with make_uow() as uow:
            first = await uow.roles.grant(account.id, RoleName.GRID_WORKER, nodes["G1"].id)
            second = await uow.roles.grant(account.id, RoleName.GRID_WORKER, nodes["G1"].id)
            await uow.commit()
        async with make_uow() as uow:
            grants = await uow.roles.for_account(account.id)
        assert first == second
        assert [(g.role, g.region_code) for g in grants] == [(RoleName.GRID_WORKER, "G1")]

    async def test_holders_are_found_on_any_of_the_given_nodes_once_each(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        a, b, c = [await seed_account(make_uow, u) for u in ("a", "b", "c")]
        async with make_uow() as uow:
            await uow.roles.grant(a.id, RoleName.GRID_WORKER, nodes["G1"].id)
            await uow.roles.grant(b.id, RoleName.GRID_WORKER, nodes["G2"].id)
            await uow.roles.grant(c.id, RoleName.GRID_LEADER, nodes["G1"].id)
            await uow.roles.grant(a.id, RoleName.GRID_WORKER, nodes["C1"].id)
            await uow.commit()
        async with make_uow() as uow:
            workers = await uow.roles.holders(
                RoleName.GRID_WORKER, [nodes["G1"].id, nodes["C1"].id]
            )
        assert [w.platform_user_id for w in workers] == ["a"]

    async def test_revoking_removes_only_that_grant(self, make_uow: MakeUow) -> None:
        nodes = await seed_map(make_uow)
        account = await seed_account(make_uow)
        async with make_uow() as uow:
            await uow.roles.grant(account.id, RoleName.GRID_WORKER, nodes["G1"].id)
            await uow.roles.grant(account.id, RoleName.GRID_WORKER, nodes["G2"].id)
            assert await uow.roles.revoke(account.id, RoleName.GRID_WORKER, nodes["G1"].id)
            assert not await uow.roles.revoke(account.id, RoleName.GRID_WORKER, nodes["G1"].id)
            await uow.commit()
        async with make_uow() as uow:
            assert [g.region_code for g in await uow.roles.list_all()] == ["G2"]


class InformantsContract:
    async def test_applications_are_listed_oldest_first_and_filtered_by_status(
        self, make_uow: MakeUow
    ) -> None:
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        async with make_uow() as uow:
            await uow.informants.upsert(profile(b.id, created_at=T0 + timedelta(minutes=1)))
            await uow.informants.upsert(profile(a.id))
            await uow.informants.decide(b.id, InformantStatus.APPROVED, by=a.id, at=T0)
            await uow.commit()
        async with make_uow() as uow:
            everyone = await uow.informants.list()
            pending = await uow.informants.list(InformantStatus.PENDING)
            decided = await uow.informants.get(b.id)
        assert [p.account_id for p in everyone] == [a.id, b.id]
        assert [p.account_id for p in pending] == [a.id]
        assert decided is not None
        assert (decided.status, decided.decided_by, decided.decided_at) == (
            InformantStatus.APPROVED,
            a.id,
            T0,
        )

    async def test_points_add_up_and_survive_a_profile_update(self, make_uow: MakeUow) -> None:
        a = await seed_account(make_uow)
        async with make_uow() as uow:
            await uow.informants.upsert(profile(a.id))
            assert (
                await uow.points.add(
                    PointsEntry(account_id=a.id, points=10, reason="resolve", at=T0)
                )
                == 10
            )
            assert (
                await uow.points.add(
                    PointsEntry(account_id=a.id, points=-3, reason="duplicate", at=T0)
                )
                == 7
            )
            await uow.informants.upsert(profile(a.id, company="饿了么"))
            await uow.commit()
        async with make_uow() as uow:
            stored = await uow.informants.get(a.id)
            balance = await uow.points.balance(a.id)
        assert stored is not None and (balance, stored.company) == (7, "饿了么")

    async def test_deciding_on_someone_who_never_applied_raises_not_found(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            with pytest.raises(NotFound):
                await uow.informants.decide(5, InformantStatus.APPROVED, by=1, at=T0)


class ReportsContract:
    async def test_numbers_count_up_within_a_day_and_restart_the_next(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        first = await seed_report(make_uow, rider)
        second = await seed_report(make_uow, rider)
        tomorrow = await seed_report(make_uow, rider, created_at=T0 + timedelta(days=1))
        assert [first.number, second.number, tomorrow.number] == [
            "261126-0001",
            "261126-0002",
            "261127-0001",
        ]

    async def test_a_report_reads_back_as_stored_with_photos_and_aware_times(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        photo = ReportPhoto(sha256="a" * 64, phash="f0f0f0f0f0f0f0f0", width=800, height=600)
        stored = await seed_report(
            make_uow, rider, photos=(photo,), ack_due_at=T0 + timedelta(hours=1)
        )
        async with make_uow() as uow:
            by_id = await uow.reports.get(stored.id)
            by_number = await uow.reports.by_number(stored.number)
        assert by_id == by_number == stored
        assert stored.photos == (photo,) and stored.version == 0
        assert stored.created_at == T0 and stored.created_at.utcoffset() is not None

    async def test_saving_with_the_read_version_bumps_it(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        report = await seed_report(make_uow, rider)
        async with make_uow() as uow:
            accepted = await uow.reports.save(_moved(report, ReportStatus.ACCEPTED), report.version)
            await uow.commit()
        async with make_uow() as uow:
            stored = await uow.reports.get(report.id)
        assert accepted.version == 1 and stored == accepted
        assert stored.status is ReportStatus.ACCEPTED

    async def test_saving_with_a_stale_version_raises_and_changes_nothing(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        report = await seed_report(make_uow, rider)
        async with make_uow() as uow:
            await uow.reports.save(_moved(report, ReportStatus.ACCEPTED), 0)
            await uow.commit()
        async with make_uow() as uow:
            with pytest.raises(ConcurrentUpdate):
                await uow.reports.save(_moved(report, ReportStatus.REJECTED), 0)
        async with make_uow() as uow:
            stored = await uow.reports.get(report.id)
        assert stored is not None and stored.status is ReportStatus.ACCEPTED

    async def test_a_reporter_sees_their_reports_newest_first(self, make_uow: MakeUow) -> None:
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        old = await seed_report(make_uow, a)
        new = await seed_report(make_uow, a, created_at=T0 + timedelta(hours=1))
        await seed_report(make_uow, b)
        async with make_uow() as uow:
            assert [r.id for r in await uow.reports.for_reporter(a.id)] == [new.id, old.id]

    async def test_open_reports_of_the_given_grids_only(self, make_uow: MakeUow) -> None:
        nodes = await seed_map(make_uow)
        rider = await seed_account(make_uow)
        g1 = await seed_report(make_uow, rider, grid_id=nodes["G1"].id)
        await seed_report(make_uow, rider, grid_id=nodes["G2"].id)
        await seed_report(make_uow, rider, grid_id=nodes["G1"].id, status=ReportStatus.CLOSED)
        async with make_uow() as uow:
            assert [r.id for r in await uow.reports.open_for_grids([nodes["G1"].id])] == [g1.id]

    async def test_near_finds_open_reports_within_the_radius_nearest_first(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)

        async def at(metres_north: float, **kw: Any) -> Report:
            where = GeoPoint(lat=LAT + metres_north * M, lon=LON)
            return await seed_report(make_uow, rider, location=where, **kw)

        far, near, nearer = await at(80), await at(40), await at(10)
        await at(5, category_code="0201")
        await at(5, status=ReportStatus.CLOSED)
        await at(5, created_at=T0 - timedelta(days=10))
        async with make_uow() as uow:
            found = await uow.reports.near(
                LAT, LON, 50, since=T0 - timedelta(days=3), category="0102"
            )
        assert [r.id for r in found] == [nearer.id, near.id]
        assert far.id not in {r.id for r in found}

    async def test_by_phash_finds_reports_with_that_photo_since_the_cutoff(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        photo = ReportPhoto(sha256="b" * 64, phash="0123456789abcdef", width=1, height=1)
        match = await seed_report(make_uow, rider)
        old = await seed_report(make_uow, rider, created_at=T0 - timedelta(days=5))
        await seed_report(make_uow, rider)
        async with make_uow() as uow:
            await uow.reports.add_photo(match.id, photo)
            await uow.reports.add_photo(old.id, photo)
            await uow.commit()
        async with make_uow() as uow:
            found = await uow.reports.by_phash(photo.phash, T0 - timedelta(days=1))
        assert [r.id for r in found] == [match.id]

    async def test_subscribing_twice_lists_the_subscriber_once(self, make_uow: MakeUow) -> None:
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        report = await seed_report(make_uow, a)
        async with make_uow() as uow:
            await uow.reports.subscribe(report.id, b.id)
            await uow.reports.subscribe(report.id, b.id)
            await uow.reports.subscribe(report.id, a.id)
            await uow.commit()
        async with make_uow() as uow:
            assert [s.id for s in await uow.reports.subscribers(report.id)] == [a.id, b.id]


def _moved(report: Report, status: ReportStatus) -> Report:
    return replace(report, status=status, updated_at=T0 + timedelta(minutes=5))


class AuditContract:
    async def test_events_get_consecutive_numbers_per_report(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        r1, r2 = await seed_report(make_uow, rider), await seed_report(make_uow, rider)

        def event(report: Report, to: ReportStatus, **data: Any) -> AuditEvent:
            return AuditEvent(
                report_id=report.id,
                seq=0,
                action="status",
                actor_id=rider.id,
                from_status=ReportStatus.SUBMITTED,
                to_status=to,
                at=T0,
                data=data,
            )

        async with make_uow() as uow:
            await uow.audit.append(event(r1, ReportStatus.DISPATCHED, grid="G1"))
            await uow.audit.append(event(r2, ReportStatus.REJECTED))
            last = await uow.audit.append(event(r1, ReportStatus.ACCEPTED))
            await uow.commit()
        async with make_uow() as uow:
            history = await uow.audit.history(r1.id)
        assert last.seq == 2
        assert [(e.seq, e.to_status, e.data) for e in history] == [
            (1, ReportStatus.DISPATCHED, {"grid": "G1"}),
            (2, ReportStatus.ACCEPTED, {}),
        ]


class OutboxContract:
    async def test_claim_gives_each_chats_earliest_row_in_id_order(self, make_uow: MakeUow) -> None:
        rich = Outgoing(
            platform="telegram",
            chat_id="a",
            kind=OutKind.LOCATION,
            location=Location(lat=LAT, lon=LON),
            keyboard=inline([("接单", "accept:1"), ("退回", "return:1")]),
        )
        async with make_uow() as uow:
            first = await uow.outbox.add(rich)
            await uow.outbox.add(message("a", "second for a"))
            only_b = await uow.outbox.add(message("b"))
            await uow.commit()
        async with make_uow() as uow:
            claimed = await uow.outbox.claim(10, T0)
            await uow.commit()
        assert [c.id for c in claimed] == [first, only_b]
        assert claimed[0].message == rich and claimed[0].attempts == 0

    async def test_a_request_comes_back_from_the_outbox_as_it_was_asked(
        self, make_uow: MakeUow
    ) -> None:
        ask = Ask(wants=Request.PHOTO | Request.LOCATION, button="📍 发送位置", options=("同上",))
        asked = Outgoing(platform="wechat", chat_id="a", text="请发照片", request=ask)
        async with make_uow() as uow:
            await uow.outbox.add(asked)
            await uow.commit()
        async with make_uow() as uow:
            [claimed] = await uow.outbox.claim(10, T0)
            await uow.commit()
        assert claimed.message == asked

    async def test_messages_queued_together_keep_their_order_and_reply_flags(
        self, make_uow: MakeUow
    ) -> None:
        answers = [(message("a", "one"), True), (message("b", "two"), False)]
        async with make_uow() as uow:
            await uow.outbox.add_all([])
            await uow.outbox.add_all([*answers, (message("a", "three"), True)])
            await uow.commit()
        async with make_uow() as uow:
            claimed = await uow.outbox.claim(10, T0, per_chat=10)
        assert [(c.message.text, c.reply) for c in claimed] == [
            ("one", True),
            ("two", False),
            ("three", True),
        ]

    async def test_a_chats_next_row_waits_until_the_earlier_one_is_sent(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            first = await uow.outbox.add(message("a", "1"))
            second = await uow.outbox.add(message("a", "2"))
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [first]
            await uow.outbox.mark_sent(first, "m1")
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [second]
            assert await uow.outbox.pending_count() == 1

    async def test_a_row_not_yet_due_is_skipped_and_holds_back_its_chat(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            await uow.outbox.add(message("a", "later"), not_before=T0 + timedelta(minutes=1))
            await uow.outbox.add(message("a", "after it"))
            other = await uow.outbox.add(message("b"))
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [other]

    async def test_claimed_rows_are_leased_and_come_back_after_the_lease(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            row = await uow.outbox.add(message("a"))
            await uow.commit()
        async with make_uow() as uow:
            await uow.outbox.claim(10, T0, lease=timedelta(seconds=30))
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.claim(10, T0 + timedelta(seconds=29)) == []
            assert [c.id for c in await uow.outbox.claim(10, T0 + timedelta(seconds=30))] == [row]

    async def test_retry_later_counts_the_attempt_and_waits_until_then(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            row = await uow.outbox.add(message("a"))
            await uow.outbox.retry_later(row, T0 + timedelta(seconds=5), "429 retry_after=5")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.claim(10, T0) == []
            again = await uow.outbox.claim(10, T0 + timedelta(seconds=5))
        assert [(c.id, c.attempts) for c in again] == [(row, 1)]

    async def test_giving_up_on_a_row_unblocks_its_chat(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            blocked = await uow.outbox.add(message("a", "1"))
            nxt = await uow.outbox.add(message("a", "2"))
            await uow.outbox.give_up(blocked, "403 bot was blocked by the user")
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [nxt]
            assert await uow.outbox.pending_count() == 1

    async def test_claim_takes_up_to_per_chat_rows_of_each_chat_in_order(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            a = [await uow.outbox.add(message("a", str(n))) for n in range(4)]
            b = await uow.outbox.add(message("b"))
            await uow.commit()
        async with make_uow() as uow:
            claimed = await uow.outbox.claim(10, T0, per_chat=3)
            await uow.commit()
        assert [c.id for c in claimed] == [*a[:3], b]
        assert [c.message.text for c in claimed[:3]] == ["0", "1", "2"]

    async def test_claiming_several_rows_of_a_chat_stops_at_one_not_yet_due(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            first = await uow.outbox.add(message("a", "now"))
            await uow.outbox.add(message("a", "later"), not_before=T0 + timedelta(minutes=1))
            await uow.outbox.add(message("a", "after it"))
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0, per_chat=3)] == [first]

    async def test_a_chat_with_leased_rows_gives_no_more_until_they_are_settled(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            ids = [await uow.outbox.add(message("a", str(n))) for n in range(3)]
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0, per_chat=2)] == ids[:2]
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.claim(10, T0, per_chat=2) == []
            for row_id in ids[:2]:
                await uow.outbox.mark_sent(row_id, None)
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0, per_chat=2)] == ids[2:]

    async def test_claim_stops_at_the_limit(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            ids = [await uow.outbox.add(message(f"chat{i}")) for i in range(5)]
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(2, T0)] == ids[:2]

    async def test_a_reply_and_its_failed_tries_come_back_with_the_row(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            push = await uow.outbox.add(message("a", "push"))
            reply = await uow.outbox.add(message("b", "reply"), reply=True)
            await uow.outbox.retry_later(push, T0, "502 Bad Gateway", failed=True)
            await uow.outbox.retry_later(push, T0, "rate limited")  # a wait, not a failure
            await uow.commit()
        async with make_uow() as uow:
            claimed = {c.id: c for c in await uow.outbox.claim(10, T0)}
        assert (claimed[push].reply, claimed[push].failures, claimed[push].attempts) == (
            False,
            1,
            2,
        )
        assert (claimed[reply].reply, claimed[reply].failures) == (True, 0)

    async def test_an_owner_takes_back_its_own_running_leases_and_no_one_elses(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            mine = await uow.outbox.add(message("a"))
            theirs = await uow.outbox.add(message("b"))
            await uow.commit()
        async with make_uow() as uow:
            await uow.outbox.claim(1, T0, owner="host-1")
            await uow.outbox.claim(1, T0, owner="host-2")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.release_leases("host-1", T0 + timedelta(seconds=1)) == 1
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0 + timedelta(seconds=2))] == [mine]
        assert theirs != mine

    async def test_an_unsure_row_is_settled_and_no_longer_holds_its_chat(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            unsure = await uow.outbox.add(message("a", "1"))
            nxt = await uow.outbox.add(message("a", "2"))
            await uow.outbox.mark_unsure(unsure, "MaybeSent: read timeout")
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [nxt]
            assert await uow.outbox.pending_count() == 1

    async def test_settled_rows_are_purged_by_age_and_unsent_rows_never(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            sent = await uow.outbox.add(message("a"))
            failed = await uow.outbox.add(message("b"))
            unsure = await uow.outbox.add(message("c"))
            await uow.outbox.add(message("d"))  # still to send
            await uow.outbox.mark_sent(sent, "m1")
            await uow.outbox.give_up(failed, "blocked")
            await uow.outbox.mark_unsure(unsure, "read timeout")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.purge_settled(datetime.now(SHANGHAI) - timedelta(hours=1)) == 0
            assert await uow.outbox.purge_settled(datetime.now(SHANGHAI) + timedelta(hours=1)) == 3
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.pending_count() == 1
            assert await uow.outbox.purge_settled(datetime.now(SHANGHAI) + timedelta(hours=1)) == 0

    async def test_forgetting_a_chat_deletes_its_rows_sent_or_not_and_only_its(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            sent = await uow.outbox.add(message("a", "王师傅, your report"))
            await uow.outbox.add(message("a", "pending"))
            other = await uow.outbox.add(message("b"))
            await uow.outbox.mark_sent(sent, "m1")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.outbox.forget_chat("telegram", "a") == 2
            await uow.commit()
        async with make_uow() as uow:
            assert [c.id for c in await uow.outbox.claim(10, T0)] == [other]
            assert await uow.outbox.pending_count() == 1


class ConversationsContract:
    async def test_a_saved_state_loads_back_per_user(self, make_uow: MakeUow) -> None:
        state = ConversationState(flow="report", step="photo", data={"cat": "0102", "n": [1]})
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", state, at=T0)
            await uow.conversations.save("telegram", "u1", state, at=T0)  # overwrites
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.conversations.load("telegram", "u1") == state
            assert await uow.conversations.load("telegram", "u2") == ConversationState()

    async def test_a_cleared_state_is_stored_as_cleared(self, make_uow: MakeUow) -> None:
        state = ConversationState(flow="report", step="photo", data={"x": 1})
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", state, at=T0)
            state.clear()
            await uow.conversations.save("telegram", "u1", state, at=T0)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.conversations.load("telegram", "u1") == ConversationState()

    async def test_states_with_a_flow_last_saved_before_the_cutoff_are_cleared_and_named(
        self, make_uow: MakeUow
    ) -> None:
        draft = ConversationState(flow="rep", step="cat", data={"photos": [{"key": "k1"}]})
        old, cutoff = T0 - timedelta(hours=25), T0 - timedelta(hours=24)
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "old", draft, at=old)
            await uow.conversations.save("telegram", "fresh", draft, at=cutoff)
            await uow.conversations.save("telegram", "idle", ConversationState(), at=old)
            await uow.conversations.save("telegram", "kept", ConversationState(flow="fbr"), at=old)
            await uow.conversations.save("wechat", "old", ConversationState(flow="reg"), at=old)
            await uow.commit()
        async with make_uow() as uow:
            expired = await uow.conversations.expire_before(cutoff, keep={"fbr"})
            await uow.commit()
        assert expired == [
            ExpiredState("telegram", "old", "rep", draft.data),
            ExpiredState("wechat", "old", "reg", {}),
        ]
        async with make_uow() as uow:
            assert await uow.conversations.load("telegram", "old") == ConversationState()
            assert await uow.conversations.load("wechat", "old") == ConversationState()
            assert await uow.conversations.load("telegram", "fresh") == draft
            assert (await uow.conversations.load("telegram", "kept")).flow == "fbr"
            assert await uow.conversations.photo_keys_among(["k1"]) == {"k1"}  # fresh's

    async def test_an_expired_state_is_named_once(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", ConversationState(flow="rep"), at=T0)
            await uow.commit()
        later = T0 + timedelta(hours=1)
        for expected in ([ExpiredState("telegram", "u1", "rep", {})], []):
            async with make_uow() as uow:
                assert await uow.conversations.expire_before(later) == expected
                await uow.commit()

    async def test_only_the_named_flows_are_expired_when_asked(self, make_uow: MakeUow) -> None:
        old = T0 - timedelta(hours=2)
        prompt = ConversationState(flow="fbr", step="reason", data={"report": 7})
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "a", prompt, at=old)
            await uow.conversations.save("telegram", "b", ConversationState(flow="rep"), at=old)
            await uow.commit()
        async with make_uow() as uow:
            expired = await uow.conversations.expire_before(T0, only={"fbr"})
            await uow.commit()
        assert expired == [ExpiredState("telegram", "a", "fbr", {"report": 7})]
        async with make_uow() as uow:
            assert await uow.conversations.load("telegram", "a") == ConversationState()
            assert (await uow.conversations.load("telegram", "b")).flow == "rep"

    async def test_saving_again_restarts_the_age_of_a_state(self, make_uow: MakeUow) -> None:
        state = ConversationState(flow="rep", step="note")
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", state, at=T0 - timedelta(days=2))
            await uow.conversations.save("telegram", "u1", state, at=T0)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.conversations.expire_before(T0 - timedelta(hours=1)) == []
            assert await uow.conversations.load("telegram", "u1") == state


class UpdatesContract:
    async def test_an_update_id_is_seen_after_it_is_marked(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            assert not await uow.updates.seen("telegram", "100")
            await uow.updates.mark("telegram", "100")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.updates.seen("telegram", "100")
            assert not await uow.updates.seen("wechat", "100")

    async def test_marking_an_update_twice_is_refused(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            await uow.updates.mark("telegram", "100")
            await uow.commit()
        async with make_uow() as uow:
            with pytest.raises(DuplicateUpdate):
                await uow.updates.mark("telegram", "100")

    async def test_old_update_ids_are_forgotten(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            await uow.updates.mark("telegram", "old", T0 - timedelta(days=2))
            await uow.updates.mark("telegram", "new", T0)
            assert await uow.updates.forget_before(T0 - timedelta(days=1)) == 1
            await uow.commit()
        async with make_uow() as uow:
            assert not await uow.updates.seen("telegram", "old")
            assert await uow.updates.seen("telegram", "new")


class GroupNoticesContract:
    async def test_a_group_is_told_first_once_and_the_record_survives_the_unit(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            assert await uow.group_notices.first("telegram", "-100", T0)
            assert not await uow.group_notices.first("telegram", "-100", T0)
            await uow.commit()
        async with make_uow() as uow:
            assert not await uow.group_notices.first("telegram", "-100", T0)
            assert await uow.group_notices.first("telegram", "-200", T0)
            assert await uow.group_notices.first("wechat", "-100", T0)

    async def test_a_notice_rolled_back_was_not_given(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            assert await uow.group_notices.first("telegram", "-100", T0)
        async with make_uow() as uow:
            assert await uow.group_notices.first("telegram", "-100", T0)


class InvitesContract:
    async def _invite(self, make_uow: MakeUow) -> tuple[Account, Account]:
        nodes = await seed_map(make_uow)
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        async with make_uow() as uow:
            await uow.invites.create(
                token="tok",
                role=RoleName.GRID_WORKER,
                region_id=nodes["G1"].id,
                expires_at=T0 + timedelta(days=1),
                created_by=a.id,
            )
            await uow.commit()
        return a, b

    async def test_an_invite_works_once(self, make_uow: MakeUow) -> None:
        _, b = await self._invite(make_uow)
        async with make_uow() as uow:
            used = await uow.invites.redeem("tok", b.id, T0)
            await uow.commit()
        assert (used.used_by, used.used_at, used.role) == (b.id, T0, RoleName.GRID_WORKER)
        async with make_uow() as uow:
            with pytest.raises(InviteRefused) as refused:
                await uow.invites.redeem("tok", b.id, T0)
        assert refused.value.problem is InviteProblem.USED

    async def test_an_expired_or_unknown_invite_is_refused(self, make_uow: MakeUow) -> None:
        _, b = await self._invite(make_uow)
        async with make_uow() as uow:
            with pytest.raises(InviteRefused) as expired:
                await uow.invites.redeem("tok", b.id, T0 + timedelta(days=1))
            with pytest.raises(InviteRefused) as unknown:
                await uow.invites.redeem("nope", b.id, T0)
        assert (expired.value.problem, unknown.value.problem) == (
            InviteProblem.EXPIRED,
            InviteProblem.UNKNOWN,
        )


# Both ladders as the sweep climbs them: the grid at the deadline, its superiors later.
ACK_LEVELS = {1: timedelta(0), 2: timedelta(minutes=30)}
RESOLVE_LEVELS = {1: timedelta(0)}


async def record_levels(
    make_uow: MakeUow, report: Report, kind: EscalationKind, levels: list[int], due: datetime
) -> None:
    async with make_uow() as uow:
        for level in levels:
            await uow.escalations.record(report.id, kind, level, due_at=due, at=T0)
        await uow.commit()


class EscalationsContract:
    async def test_an_escalation_level_is_recorded_once_per_deadline(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        report = await seed_report(make_uow, rider)
        first, second = T0 - timedelta(hours=1), T0
        async with make_uow() as uow:
            escalations = uow.escalations
            assert await escalations.record(report.id, EscalationKind.ACK, 1, due_at=first, at=T0)
            assert not await escalations.record(
                report.id, EscalationKind.ACK, 1, due_at=first, at=T0
            )
            assert await escalations.record(
                report.id, EscalationKind.RESOLVE, 1, due_at=first, at=T0
            )
            assert await escalations.record(report.id, EscalationKind.ACK, 1, due_at=second, at=T0)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.escalations.done(report.id, EscalationKind.ACK, due_at=first) == {1}
            assert await uow.escalations.done(report.id, EscalationKind.ACK, due_at=T0) == {1}
            later = T0 + timedelta(hours=1)
            assert await uow.escalations.done(report.id, EscalationKind.ACK, due_at=later) == set()

    async def test_overdue_reports_are_found_by_which_clock_ran_out(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        due, later = T0 - timedelta(minutes=1), T0 + timedelta(hours=1)
        unaccepted = await seed_report(
            make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=due, resolve_due_at=later
        )
        unresolved = await seed_report(
            make_uow, rider, status=ReportStatus.ACCEPTED, ack_due_at=due, resolve_due_at=due
        )
        await seed_report(
            make_uow, rider, status=ReportStatus.RESOLVED, ack_due_at=due, resolve_due_at=due
        )
        await seed_report(make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=later)
        async with make_uow() as uow:
            ack = await uow.escalations.due_for_ack(T0, levels=ACK_LEVELS)
            resolve = await uow.escalations.due_for_resolve(T0, levels=RESOLVE_LEVELS)
        assert [r.id for r in ack] == [unaccepted.id]
        assert [r.id for r in resolve] == [unresolved.id]

    async def test_a_case_with_every_due_level_recorded_is_not_due_again(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        due = T0 - timedelta(hours=2)
        done, half, fresh = [
            await seed_report(
                make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=due, resolve_due_at=due
            )
            for _ in range(3)
        ]
        await record_levels(make_uow, done, EscalationKind.ACK, [1, 2], due)
        await record_levels(make_uow, done, EscalationKind.RESOLVE, [1], due)
        await record_levels(make_uow, half, EscalationKind.ACK, [1], due)
        async with make_uow() as uow:
            ack = await uow.escalations.due_for_ack(T0, levels=ACK_LEVELS)
            resolve = await uow.escalations.due_for_resolve(T0, levels=RESOLVE_LEVELS)
        assert [r.id for r in ack] == [half.id, fresh.id]
        assert [r.id for r in resolve] == [half.id, fresh.id]

    async def test_a_case_whose_later_level_is_not_yet_due_waits(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        due = T0 - timedelta(minutes=10)  # level 2 comes 30 minutes after the deadline
        report = await seed_report(make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=due)
        await record_levels(make_uow, report, EscalationKind.ACK, [1], due)
        async with make_uow() as uow:
            assert await uow.escalations.due_for_ack(T0, levels=ACK_LEVELS) == []
            later = await uow.escalations.due_for_ack(T0 + timedelta(minutes=20), levels=ACK_LEVELS)
        assert [r.id for r in later] == [report.id]

    async def test_levels_recorded_for_an_earlier_deadline_do_not_count_for_a_new_one(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        old = T0 - timedelta(hours=3)
        report = await seed_report(
            make_uow, rider, status=ReportStatus.DISPATCHED, ack_due_at=T0 - timedelta(hours=1)
        )
        await record_levels(make_uow, report, EscalationKind.ACK, [1, 2], old)
        async with make_uow() as uow:
            ack = await uow.escalations.due_for_ack(T0, levels=ACK_LEVELS)
        assert [r.id for r in ack] == [report.id]

    async def test_the_due_queries_take_the_earliest_deadlines_first_up_to_the_limit(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        reports = [
            await seed_report(
                make_uow,
                rider,
                status=ReportStatus.DISPATCHED,
                ack_due_at=T0 - timedelta(minutes=minutes),
            )
            for minutes in (5, 50, 20)
        ]
        async with make_uow() as uow:
            ack = await uow.escalations.due_for_ack(T0, levels=ACK_LEVELS, limit=2)
        assert [r.id for r in ack] == [reports[1].id, reports[2].id]


ALL_CONTRACTS = (
    UnitOfWorkContract,
    RegionsContract,
    AccountsContract,
    RolesContract,
    InformantsContract,
    ReportsContract,
    AuditContract,
    OutboxContract,
    ConversationsContract,
    UpdatesContract,
    GroupNoticesContract,
    InvitesContract,
    EscalationsContract,
)


def photo_key(n: int) -> str:
    return f"{n:064x}"


def photo_message(chat: str, key: str) -> Outgoing:
    return Outgoing(platform="telegram", chat_id=chat, kind=OutKind.PHOTO, photo=key, text="图")


class PhotoReferencesContract:
    """What the photo retention sweep asks before deleting a stored photo."""

    async def test_before_and_after_photos_of_reports_are_in_use(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        before = ReportPhoto(sha256=photo_key(1), phash="00ff00ff00ff00ff", width=4, height=3)
        report = await seed_report(make_uow, rider, photos=(before,))
        async with make_uow() as uow:
            after = replace(before, sha256=photo_key(2), kind="after")
            await uow.reports.add_photo(report.id, after)
            await uow.commit()
        async with make_uow() as uow:
            used = await uow.reports.photo_keys_among([photo_key(n) for n in (1, 2, 3)])
        assert used == {photo_key(1), photo_key(2)}

    async def test_a_batch_larger_than_one_in_list_is_answered_whole(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        for n in (7, 777, 1100):
            photo = ReportPhoto(sha256=photo_key(n), phash="00ff00ff00ff00ff", width=4, height=3)
            await seed_report(make_uow, rider, photos=(photo,))
        async with make_uow() as uow:
            used = await uow.reports.photo_keys_among([photo_key(n) for n in range(1, 1201)])
        assert used == {photo_key(7), photo_key(777), photo_key(1100)}

    async def test_only_rows_still_to_send_keep_their_photo_in_use(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            sent = await uow.outbox.add(photo_message("a", photo_key(1)))
            failed = await uow.outbox.add(photo_message("b", photo_key(2)))
            await uow.outbox.add(photo_message("c", photo_key(3)))
            await uow.outbox.add(message("d"))
            await uow.outbox.mark_sent(sent, "m1")
            await uow.outbox.give_up(failed, "blocked by the user")
            await uow.commit()
        async with make_uow() as uow:
            used = await uow.outbox.unsent_photo_keys_among([photo_key(n) for n in (1, 2, 3, 4)])
        assert used == {photo_key(3)}

    async def test_a_key_anywhere_in_a_conversation_is_in_use_until_the_state_is_cleared(
        self, make_uow: MakeUow
    ) -> None:
        draft = ConversationState(
            flow="report",
            step="cat",
            data={"photos": [{"key": photo_key(1), "w": 4}], "extra": {"photo": photo_key(2)}},
        )
        abandoned = ConversationState(flow="report", step="note", data={"photos": []})
        async with make_uow() as uow:
            await uow.conversations.save("telegram", "u1", draft, at=T0)
            await uow.conversations.save("telegram", "u2", abandoned, at=T0)
            await uow.commit()
        candidates = [photo_key(n) for n in (1, 2, 3)]
        async with make_uow() as uow:
            assert await uow.conversations.photo_keys_among(candidates) == {
                photo_key(1),
                photo_key(2),
            }
            draft.clear()
            await uow.conversations.save("telegram", "u1", draft, at=T0)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.conversations.photo_keys_among(candidates) == set()


def declaration(account_id: int, community_id: int, **overrides: Any) -> PartyDeclaration:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "standing": Standing.FORMAL,
        "organisation": "中共秦皇岛市顺丰速运有限公司支部委员会",
        "year_joined": 2015,
        "community_id": community_id,
        "status": DeclarationStatus.PENDING,
        "consent_version": "2026-12",
        "consented_at": T0,
        "submitted_at": T0,
    }
    fields.update(overrides)
    return PartyDeclaration(**fields)


class PartyContract:
    """Storage does not check a region's level, so C1 and S1 stand for two communities."""

    async def _declared(
        self, make_uow: MakeUow, user: str = "u1", community: str = "C1", **overrides: Any
    ) -> tuple[Account, PartyDeclaration, dict[str, RegionNode]]:
        nodes = await seed_map(make_uow)
        account = await seed_account(make_uow, user)
        async with make_uow() as uow:
            stored = await uow.party.submit(
                declaration(account.id, nodes[community].id, **overrides)
            )
            await uow.commit()
        return account, stored, nodes

    async def test_a_declaration_reads_back_as_stored_with_aware_times_and_a_fresh_revision(
        self, make_uow: MakeUow
    ) -> None:
        account, stored, nodes = await self._declared(make_uow)
        async with make_uow() as uow:
            found = await uow.party.get(account.id)
        expected = declaration(account.id, nodes["C1"].id, revision=stored.revision)
        assert found == stored == expected
        assert found is not None and found.consented_at.utcoffset() is not None
        assert 0 < stored.revision < 2**31 - 2**20  # room to count up in a 32-bit column

    async def test_a_declaration_made_after_a_withdrawal_never_reuses_a_revision(
        self, make_uow: MakeUow
    ) -> None:
        account, first, nodes = await self._declared(make_uow)
        async with make_uow() as uow:
            second = await uow.party.submit(declaration(account.id, nodes["C1"].id))
            await uow.party.withdraw(account.id)
            await uow.commit()
        async with make_uow() as uow:
            third = await uow.party.submit(declaration(account.id, nodes["C1"].id))
            await uow.commit()
        assert third.revision not in (first.revision, second.revision)
        async with make_uow() as uow:
            with pytest.raises(ConcurrentUpdate):
                await uow.party.decide(
                    account.id, DeclarationStatus.VERIFIED, revision=first.revision, by=1, at=T0
                )

    async def test_resubmitting_replaces_the_declaration_and_bumps_its_revision(
        self, make_uow: MakeUow
    ) -> None:
        account, stored, nodes = await self._declared(make_uow)
        changed = declaration(
            account.id, nodes["S1"].id, standing=Standing.PROBATIONARY, year_joined=2024
        )
        async with make_uow() as uow:
            again = await uow.party.submit(changed)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.party.get(account.id) == again
        assert again.revision == stored.revision + 1
        assert (again.standing, again.year_joined, again.community_id) == (
            Standing.PROBATIONARY,
            2024,
            nodes["S1"].id,
        )

    async def test_a_decision_is_recorded_on_the_revision_waiting_for_it(
        self, make_uow: MakeUow
    ) -> None:
        account, stored, _ = await self._declared(make_uow)
        secretary = await seed_account(make_uow, "sec")
        async with make_uow() as uow:
            decided = await uow.party.decide(
                account.id,
                DeclarationStatus.NEEDS_DETAILS,
                revision=stored.revision,
                by=secretary.id,
                at=T0 + timedelta(hours=1),
                question="哪个支部？",
            )
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.party.get(account.id) == decided
        assert (decided.status, decided.decided_by, decided.question) == (
            DeclarationStatus.NEEDS_DETAILS,
            secretary.id,
            "哪个支部？",
        )
        assert decided.decided_at == T0 + timedelta(hours=1)

    async def test_a_declaration_decided_or_resubmitted_meanwhile_is_not_decided_again(
        self, make_uow: MakeUow
    ) -> None:
        account, stored, nodes = await self._declared(make_uow)
        async with make_uow() as uow:
            await uow.party.decide(
                account.id, DeclarationStatus.VERIFIED, revision=stored.revision, by=1, at=T0
            )
            await uow.commit()
        async with make_uow() as uow:
            with pytest.raises(ConcurrentUpdate):
                await uow.party.decide(
                    account.id, DeclarationStatus.DECLINED, revision=stored.revision, by=1, at=T0
                )
            await uow.party.submit(declaration(account.id, nodes["C1"].id))  # the next revision
            with pytest.raises(ConcurrentUpdate):
                await uow.party.decide(
                    account.id, DeclarationStatus.DECLINED, revision=stored.revision, by=1, at=T0
                )
            await uow.commit()
        async with make_uow() as uow:
            found = await uow.party.get(account.id)
        assert found is not None and (found.status, found.revision) == (
            DeclarationStatus.PENDING,
            stored.revision + 1,
        )

    async def test_only_a_verified_declaration_keeps_its_badge(self, make_uow: MakeUow) -> None:
        verified, first, nodes = await self._declared(make_uow, "u1", show_badge=True)
        declined = await seed_account(make_uow, "u2")
        async with make_uow() as uow:
            second = await uow.party.submit(
                declaration(declined.id, nodes["C1"].id, show_badge=True)
            )
            await uow.party.decide(
                verified.id, DeclarationStatus.VERIFIED, revision=first.revision, by=1, at=T0
            )
            await uow.party.decide(
                declined.id, DeclarationStatus.DECLINED, revision=second.revision, by=1, at=T0
            )
            await uow.commit()
        async with make_uow() as uow:
            kept, taken = await uow.party.get(verified.id), await uow.party.get(declined.id)
        assert kept is not None and taken is not None
        assert (kept.show_badge, taken.show_badge) == (True, False)

    async def test_the_badge_is_the_riders_choice(self, make_uow: MakeUow) -> None:
        account, _, _ = await self._declared(make_uow)
        async with make_uow() as uow:
            await uow.party.set_badge(account.id, True)
            await uow.commit()
        async with make_uow() as uow:
            found = await uow.party.get(account.id)
            assert found is not None and found.show_badge
            await uow.party.set_badge(account.id, False)
            await uow.commit()
        async with make_uow() as uow:
            found = await uow.party.get(account.id)
        assert found is not None and not found.show_badge

    async def test_changing_a_declaration_nobody_made_raises_not_found(
        self, make_uow: MakeUow
    ) -> None:
        account = await seed_account(make_uow)
        async with make_uow() as uow:
            with pytest.raises(NotFound):
                await uow.party.set_badge(account.id, True)
            with pytest.raises(NotFound):
                await uow.party.decide(
                    account.id, DeclarationStatus.VERIFIED, revision=1, by=1, at=T0
                )

    async def test_withdrawing_deletes_the_declaration_once(self, make_uow: MakeUow) -> None:
        account, _, _ = await self._declared(make_uow)
        async with make_uow() as uow:
            assert await uow.party.withdraw(account.id) is True
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.party.get(account.id) is None
            assert await uow.party.withdraw(account.id) is False
            assert await uow.party.counts() == []

    async def test_declarations_to_given_communities_come_oldest_first_by_status(
        self, make_uow: MakeUow
    ) -> None:
        late, _, nodes = await self._declared(make_uow, "late", submitted_at=T0 + timedelta(1))
        early, other = await seed_account(make_uow, "early"), await seed_account(make_uow, "o")
        async with make_uow() as uow:
            await uow.party.submit(declaration(early.id, nodes["C1"].id))
            elsewhere = await uow.party.submit(declaration(other.id, nodes["S1"].id))
            await uow.party.decide(
                other.id, DeclarationStatus.VERIFIED, revision=elsewhere.revision, by=1, at=T0
            )
            await uow.commit()
        async with make_uow() as uow:
            c1 = await uow.party.for_communities([nodes["C1"].id])
            both = await uow.party.for_communities(
                [nodes["C1"].id, nodes["S1"].id], DeclarationStatus.VERIFIED
            )
        assert [d.account_id for d in c1] == [early.id, late.id]
        assert [d.account_id for d in both] == [other.id]

    async def test_counts_per_community_are_declared_and_verified_only(
        self, make_uow: MakeUow
    ) -> None:
        first, stored, nodes = await self._declared(make_uow, "a")
        second, third = await seed_account(make_uow, "b"), await seed_account(make_uow, "c")
        async with make_uow() as uow:
            await uow.party.submit(declaration(second.id, nodes["C1"].id))
            await uow.party.submit(declaration(third.id, nodes["S1"].id))
            await uow.party.decide(
                first.id, DeclarationStatus.VERIFIED, revision=stored.revision, by=1, at=T0
            )
            await uow.commit()
        async with make_uow() as uow:
            counts = await uow.party.counts()
        expected = sorted(
            [
                CommunityCount(community_id=nodes["C1"].id, declared=2, verified=1),
                CommunityCount(community_id=nodes["S1"].id, declared=1, verified=0),
            ],
            key=lambda c: c.community_id,
        )
        assert counts == expected

    async def test_deleting_personal_data_erases_the_declaration(self, make_uow: MakeUow) -> None:
        account, _, _ = await self._declared(make_uow)
        async with make_uow() as uow:
            await uow.accounts.delete_personal_data(account.id)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.party.get(account.id) is None
            assert await uow.party.counts() == []


# -- volunteers, service tasks, the points ledger ------------------------------------------


def volunteer(account_id: int, community_id: int, **overrides: Any) -> Volunteer:
    fields: dict[str, Any] = {
        "account_id": account_id,
        "community_id": community_id,
        "skills": frozenset({Skill.FIRST_AID, Skill.TRANSLATION}),
        "services": frozenset({ServiceType.VOLUNTEER}),
        "slots": frozenset({Slot.WEEKEND_MORNING}),
        "status": VolunteerStatus.PENDING,
        "created_at": T0,
    }
    return Volunteer(**(fields | overrides))


async def seed_task(make_uow: MakeUow, creator: Account, community_id: int, **kw: Any) -> Any:
    async with make_uow() as uow:
        task = await uow.tasks.add(
            community_id=community_id,
            title=kw.get("title", "社区义诊"),
            kind=kw.get("kind", ServiceType.VOLUNTEER),
            starts_at=T0,
            ends_at=T0 + timedelta(hours=2),
            slots=kw.get("slots", 2),
            skills=kw.get("skills", frozenset({Skill.FIRST_AID})),
            place=kw.get("place", GeoPoint(lat=LAT, lon=LON)),
            created_by=creator.id,
            created_at=T0,
        )
        await uow.commit()
    return task


class VolunteersContract:
    async def test_a_registration_reads_back_with_its_choices_and_aware_times(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        a = await seed_account(make_uow)
        async with make_uow() as uow:
            await uow.volunteers.upsert(volunteer(a.id, nodes["C1"].id))
            await uow.commit()
        async with make_uow() as uow:
            stored = await uow.volunteers.get(a.id)
        assert stored == volunteer(a.id, nodes["C1"].id)
        assert stored is not None and stored.created_at.tzinfo is not None

    async def test_registrations_are_listed_by_status_and_community_and_decided(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        a, b = await seed_account(make_uow, "a"), await seed_account(make_uow, "b")
        async with make_uow() as uow:
            await uow.volunteers.upsert(volunteer(a.id, nodes["C1"].id))
            await uow.volunteers.upsert(
                volunteer(b.id, nodes["C1"].id, created_at=T0 + timedelta(minutes=1))
            )
            decided = await uow.volunteers.decide(
                b.id, VolunteerStatus.APPROVED, by=a.id, at=T0 + timedelta(hours=1)
            )
            await uow.commit()
        assert (decided.status, decided.decided_by) == (VolunteerStatus.APPROVED, a.id)
        async with make_uow() as uow:
            pending = await uow.volunteers.list(status=VolunteerStatus.PENDING)
            everyone = await uow.volunteers.list(community_ids=[nodes["C1"].id])
            elsewhere = await uow.volunteers.list(community_ids=[nodes["S1"].id])
            with pytest.raises(NotFound):
                await uow.volunteers.decide(999, VolunteerStatus.APPROVED, by=a.id, at=T0)
        assert [v.account_id for v in pending] == [a.id]
        assert [v.account_id for v in everyone] == [a.id, b.id]
        assert elsewhere == []


class TasksContract:
    async def test_a_task_reads_back_with_its_place_and_skills(self, make_uow: MakeUow) -> None:
        nodes = await seed_map(make_uow)
        admin = await seed_account(make_uow)
        task = await seed_task(make_uow, admin, nodes["C1"].id)
        async with make_uow() as uow:
            stored = await uow.tasks.get(task.id, lock=True)
            listed = await uow.tasks.list(community_ids=[nodes["C1"].id])
            nowhere = await uow.tasks.list(community_ids=[nodes["S1"].id])
        assert stored == task
        assert stored is not None and stored.place == GeoPoint(lat=LAT, lon=LON)
        assert stored.skills == frozenset({Skill.FIRST_AID}) and stored.hours == 2
        assert [t.id for t in listed] == [task.id] and nowhere == []

    async def test_a_task_at_its_community_has_no_point(self, make_uow: MakeUow) -> None:
        nodes = await seed_map(make_uow)
        admin = await seed_account(make_uow)
        task = await seed_task(make_uow, admin, nodes["C1"].id, place=None, skills=frozenset())
        async with make_uow() as uow:
            stored = await uow.tasks.get(task.id)
        assert stored is not None and (stored.place, stored.skills) == (None, frozenset())

    async def test_signing_up_twice_keeps_one_sign_up_and_its_changes_are_saved(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        admin, rider = await seed_account(make_uow, "admin"), await seed_account(make_uow, "r")
        task = await seed_task(make_uow, admin, nodes["C1"].id)
        async with make_uow() as uow:
            first = await uow.tasks.sign_up(task.id, rider.id, at=T0)
            again = await uow.tasks.sign_up(task.id, rider.id, at=T0 + timedelta(minutes=5))
            await uow.commit()
        assert again == first and first.status is SignupStatus.SIGNED_UP
        confirmed = replace(
            first,
            status=SignupStatus.CONFIRMED,
            checked_in_at=T0,
            checkin_distance_m=12.5,
            hours=2.0,
            confirmed_by=admin.id,
            confirmed_at=T0 + timedelta(hours=2),
        )
        async with make_uow() as uow:
            await uow.tasks.save_signup(confirmed)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.tasks.signup(first.id) == confirmed
            assert await uow.tasks.signup_of(task.id, rider.id) == confirmed
            assert await uow.tasks.signups([task.id]) == [confirmed]
            assert await uow.tasks.signups_of(rider.id) == [confirmed]
            assert await uow.tasks.signups_of(admin.id) == []
            with pytest.raises(NotFound):
                await uow.tasks.sign_up(999, rider.id, at=T0)


class PointsLedgerContract:
    async def test_the_balance_is_the_sum_of_the_lines_newest_shown_first(
        self, make_uow: MakeUow
    ) -> None:
        a = await seed_account(make_uow)
        lines = [
            PointsEntry(account_id=a.id, points=5, reason="accept", at=T0),
            PointsEntry(account_id=a.id, points=20, reason="service", at=T0 + timedelta(hours=1)),
            PointsEntry(account_id=a.id, points=-1, reason="fix", at=T0 + timedelta(hours=2)),
        ]
        async with make_uow() as uow:
            totals = [await uow.points.add(line) for line in lines]
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.points.balance(a.id) == 24
            assert await uow.points.entries(a.id, limit=2) == lines[:0:-1]
            assert await uow.points.balance(a.id + 1000) == 0
            with pytest.raises(NotFound):
                await uow.points.add(replace(lines[0], account_id=a.id + 1000))
        assert totals == [5, 25, 24]

    async def test_the_ranking_adds_up_lines_earned_in_the_regions_and_leaves_out_opt_outs(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        a, b, c = [await seed_account(make_uow, u) for u in ("a", "b", "c")]
        here, there = nodes["C1"].id, nodes["S1"].id
        async with make_uow() as uow:
            for who, pts, where in ((a, 5, here), (b, 7, here), (a, 4, here), (c, 50, there)):
                await uow.points.add(
                    PointsEntry(account_id=who.id, points=pts, reason="x", at=T0, region_id=where)
                )
            await uow.commit()
        async with make_uow() as uow:
            board = await uow.points.ranking([here])
            both = await uow.points.ranking([here, there], limit=2)
            await uow.points.set_hidden(a.id, True)
            await uow.points.set_hidden(a.id, True)
            await uow.commit()
        assert [(r.display_name, r.points) for r in board] == [("Rider a", 9), ("Rider b", 7)]
        assert [r.account_id for r in both] == [c.id, a.id]
        async with make_uow() as uow:
            assert await uow.points.hidden(a.id)
            assert [r.account_id for r in await uow.points.ranking([here])] == [b.id]
            await uow.points.set_hidden(a.id, False)
            await uow.accounts.delete_personal_data(b.id)
            await uow.commit()
        async with make_uow() as uow:
            assert not await uow.points.hidden(a.id)
            assert [r.account_id for r in await uow.points.ranking([here])] == [a.id]

    async def test_deleting_personal_data_erases_volunteering_sign_ups_points_and_opt_out(
        self, make_uow: MakeUow
    ) -> None:
        nodes = await seed_map(make_uow)
        admin, rider = await seed_account(make_uow, "admin"), await seed_account(make_uow, "r")
        other = await seed_account(make_uow, "o")
        task = await seed_task(make_uow, admin, nodes["C1"].id)
        here = nodes["C1"].id
        async with make_uow() as uow:
            await uow.volunteers.upsert(volunteer(rider.id, here))
            signup = await uow.tasks.sign_up(task.id, rider.id, at=T0)
            await uow.tasks.save_signup(
                replace(
                    signup,
                    status=SignupStatus.CONFIRMED,
                    checked_in_at=T0,
                    checkin_distance_m=40.0,
                    hours=2.0,
                    confirmed_by=admin.id,
                    confirmed_at=T0,
                )
            )
            kept = await uow.tasks.sign_up(task.id, other.id, at=T0)
            for who, reason in ((rider, "service"), (rider, "accept"), (other, "service")):
                await uow.points.add(
                    PointsEntry(
                        account_id=who.id,
                        points=20,
                        reason=reason,
                        at=T0,
                        task_id=task.id,
                        region_id=here,
                        granted_by=admin.id,
                    )
                )
            await uow.points.set_hidden(rider.id, True)
            await uow.commit()
        async with make_uow() as uow:
            await uow.accounts.delete_personal_data(rider.id)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.volunteers.get(rider.id) is None
            assert await uow.tasks.signups_of(rider.id) == []
            assert await uow.tasks.signups([task.id]) == [kept]
            assert await uow.tasks.signup(signup.id) is None
            assert await uow.points.entries(rider.id) == []
            assert await uow.points.balance(rider.id) == 0
            assert not await uow.points.hidden(rider.id)
            assert await uow.points.balance(other.id) == 20  # nobody else's lines go
            assert await uow.tasks.get(task.id) is not None  # the community's task stays
            assert [r.account_id for r in await uow.points.ranking([here])] == [other.id]
            # The admin who confirmed and granted keeps their account: only ids point at it.
            assert await uow.accounts.get(admin.id) is not None


def received(update_id: int, user: str | None = "u1") -> Received:
    return Received(
        update_id=str(update_id), user_key=user, payload={"update_id": update_id, "x": [1]}
    )


LEASE = timedelta(seconds=30)


class InboxContract:
    async def test_a_redelivered_update_is_stored_once(self, make_uow: MakeUow) -> None:
        async with make_uow() as uow:
            assert await uow.inbox.add("telegram", [received(1), received(2)], at=T0) == 2
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.add("telegram", [received(2), received(3)], at=T0) == 1
            assert await uow.inbox.add("wechat", [received(2)], at=T0) == 1
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.backlog() == 4
            assert await uow.inbox.highest("telegram") == 3
            assert await uow.inbox.highest("line") is None

    async def test_rows_are_claimed_in_arrival_order_one_per_user_at_a_time(
        self, make_uow: MakeUow
    ) -> None:
        updates = [received(5, "a"), received(3, "b"), received(4, "a"), received(9, None)]
        async with make_uow() as uow:
            await uow.inbox.add("telegram", updates, at=T0)
            await uow.inbox.add("wechat", [received(1, "a")], at=T0)  # another platform's "a"
            await uow.commit()
        async with make_uow() as uow:
            first = await uow.inbox.claim(10, T0, lease=LEASE)
            await uow.commit()
        assert [(i.update_id, i.attempts) for i in first] == [
            ("5", 1),
            ("3", 1),
            ("9", 1),
            ("1", 1),
        ]
        assert first[0].payload == {"update_id": 5, "x": [1]}
        async with make_uow() as uow:
            # a's second update waits while the first is leased, and after the lease too.
            assert await uow.inbox.claim(10, T0, lease=LEASE) == []
            assert await uow.inbox.claim(10, T0 + 2 * LEASE, lease=LEASE) != []
        async with make_uow() as uow:
            await uow.inbox.done([first[0].id])
            await uow.commit()
        async with make_uow() as uow:
            assert [i.update_id for i in await uow.inbox.claim(10, T0, lease=LEASE)] == ["4"]

    async def test_an_expired_or_released_lease_lets_the_row_be_claimed_again(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1)], at=T0)
            (item,) = await uow.inbox.claim(1, T0, lease=LEASE)
            await uow.commit()
        async with make_uow() as uow:
            await uow.inbox.renew([item.id], T0 + 3 * LEASE)
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.claim(1, T0 + 2 * LEASE, lease=LEASE) == []
            again = await uow.inbox.claim(1, T0 + 4 * LEASE, lease=LEASE)
        assert [i.attempts for i in again] == [2]
        async with make_uow() as uow:
            assert await uow.inbox.release_leases() == 1
            assert [i.attempts for i in await uow.inbox.claim(1, T0, lease=LEASE)] == [2]

    async def test_a_row_to_retry_waits_and_a_dead_one_is_kept_with_its_reason(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1), received(2, "other")], at=T0)
            (first, second) = await uow.inbox.claim(2, T0, lease=LEASE)
            await uow.inbox.retry_later(first.id, T0 + LEASE, "flaky")
            await uow.inbox.give_up(second.id, "KeyError: 'chat'")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.claim(5, T0, lease=LEASE) == []
            assert [i.update_id for i in await uow.inbox.claim(5, T0 + LEASE, lease=LEASE)] == ["1"]
            assert await uow.inbox.backlog() == 1
            dead = await uow.inbox.dead()
        assert [(i.update_id, reason) for i, reason in dead] == [("2", "KeyError: 'chat'")]

    async def test_dead_rows_are_forgotten_after_a_while_and_waiting_ones_never(
        self, make_uow: MakeUow
    ) -> None:
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1, "a"), received(2, "b")], at=T0)
            await uow.inbox.add("telegram", [received(3, "c")], at=T0 + LEASE)
            for item in await uow.inbox.claim(5, T0, lease=LEASE):
                if item.update_id != "2":
                    await uow.inbox.give_up(item.id, "unreadable")
            await uow.commit()
        async with make_uow() as uow:
            assert await uow.inbox.forget_dead_before(T0 + timedelta(seconds=1)) == 1
            await uow.commit()
        async with make_uow() as uow:
            assert [i.update_id for i, _ in await uow.inbox.dead()] == ["3"]
            assert await uow.inbox.backlog() == 1


# -- several processes (issue 11) ----------------------------------------------------------

DEAD_AFTER = timedelta(seconds=5)


def instance(name: str) -> Instance:
    return Instance(id=name, host="host", pid=1, started_at=T0 - timedelta(hours=1))


async def beat(make_uow: MakeUow, name: str, at: datetime) -> None:
    async with make_uow() as uow:
        await uow.instances.beat(instance(name), at)
        await uow.commit()


async def claim_inbox(make_uow: MakeUow, owner: str, at: datetime, limit: int = 10) -> list[str]:
    async with make_uow() as uow:
        items = await uow.inbox.claim(
            limit, at, lease=LEASE, owner=owner, alive_since=at - DEAD_AFTER
        )
        await uow.commit()
    return [item.update_id for item in items]


class InstancesContract:
    async def test_live_instances_are_those_seen_lately_and_one_that_left_is_not(
        self, make_uow: MakeUow
    ) -> None:
        await beat(make_uow, "a", T0 - timedelta(seconds=1))
        await beat(make_uow, "b", T0 - timedelta(seconds=2))
        await beat(make_uow, "c", T0 - timedelta(seconds=9))
        async with make_uow() as uow:
            assert await uow.instances.live(T0 - DEAD_AFTER) == 2
            await uow.instances.leave("b")
            assert await uow.instances.forget_before(T0 - timedelta(seconds=8)) == 1
            await uow.commit()
        await beat(make_uow, "a", T0)  # a beat again: still one row
        async with make_uow() as uow:
            assert await uow.instances.live(T0 - timedelta(hours=2)) == 1

    async def test_a_dead_processes_inbox_leases_are_taken_over_at_once_a_live_ones_are_not(
        self, make_uow: MakeUow
    ) -> None:
        await beat(make_uow, "alive", T0 - timedelta(seconds=1))
        await beat(make_uow, "dead", T0 - timedelta(seconds=6))
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1, "a"), received(2, "b")], at=T0)
            await uow.commit()
        earlier = T0 - timedelta(seconds=10)
        assert await claim_inbox(make_uow, "alive", earlier, limit=1) == ["1"]
        assert await claim_inbox(make_uow, "dead", earlier, limit=1) == ["2"]
        # Both leases run for another 20 s; only the live holder keeps its row.
        assert await claim_inbox(make_uow, "newcomer", T0) == ["2"]

    async def test_a_row_pausing_before_its_retry_is_not_taken_when_its_process_dies(
        self, make_uow: MakeUow
    ) -> None:
        await beat(make_uow, "dead", T0 - timedelta(seconds=6))
        async with make_uow() as uow:
            await uow.inbox.add("telegram", [received(1, "a")], at=T0)
            await uow.commit()
        async with make_uow() as uow:
            earlier = T0 - timedelta(seconds=10)
            (item,) = await uow.inbox.claim(1, earlier, lease=LEASE, owner="dead")
            await uow.inbox.retry_later(item.id, T0 + timedelta(seconds=30), "boom")
            await uow.commit()
        assert await claim_inbox(make_uow, "newcomer", T0) == []
        assert await claim_inbox(make_uow, "newcomer", T0 + timedelta(seconds=31)) == ["1"]

    async def test_a_dead_processes_outbox_leases_are_taken_over_with_the_rows_behind_them(
        self, make_uow: MakeUow
    ) -> None:
        await beat(make_uow, "alive", T0 - timedelta(seconds=1))
        await beat(make_uow, "dead", T0 - timedelta(seconds=6))
        async with make_uow() as uow:
            await uow.outbox.add(message("a", "a1"))
            await uow.outbox.add(message("b", "b1"))
            await uow.commit()
        async with make_uow() as uow:
            await uow.outbox.claim(1, T0 - timedelta(seconds=10), owner="alive")
            await uow.outbox.claim(1, T0 - timedelta(seconds=10), owner="dead")
            await uow.commit()
        async with make_uow() as uow:  # queued behind the dead process's row in chat b
            await uow.outbox.add(message("b", "b2"))
            await uow.outbox.add(message("a", "a2"))
            await uow.commit()
        async with make_uow() as uow:
            rows = await uow.outbox.claim(
                10, T0, per_chat=5, owner="newcomer", alive_since=T0 - DEAD_AFTER
            )
            await uow.commit()
        assert [row.message.text for row in rows] == ["b1", "b2"]
