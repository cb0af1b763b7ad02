"""A case can only be marked a duplicate of a report in a grid the worker works on.

Marking a case a duplicate makes its riders followers — and /case readers — of the target.
The target used to be checked only for being open, so a worker could hand riders anywhere
in the city a stranger's report. Driven through the real Dispatcher on the in-memory store:
the worker presses Return → "Duplicate of another report" and sends the target's number.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.chat import Kind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, MapUnit, Report, ReportStatus, RoleName
from bot.services.env import Env, MapHolder
from bot.ui.cases import Reason, return_with
from tests.chatkit import ChatBot, rectangle, square, submit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
NOISE = "0301"

# C1 holds the neighbouring grids G1 and G2; G3 lies in another community, C2.
MAP = [
    MapUnit(
        code="C1",
        name="C1",
        level=Level.COMMUNITY,
        parent_code=None,
        geometry=rectangle(119.5, 0.06, 0.03),
    ),
    MapUnit(code="G1", name="G1", level=Level.GRID, parent_code="C1", geometry=square(119.5)),
    MapUnit(code="G2", name="G2", level=Level.GRID, parent_code="C1", geometry=square(119.53)),
    MapUnit(code="C2", name="C2", level=Level.COMMUNITY, parent_code=None, geometry=square(119.6)),
    MapUnit(code="G3", name="G3", level=Level.GRID, parent_code="C2", geometry=square(119.6)),
]
POINT_IN = {"G1": 119.515, "G2": 119.545, "G3": 119.615}


class Town(ChatBot):
    def __init__(self) -> None:
        self.store = FakeStore()
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        super().__init__(lambda: FakeUnitOfWork(store=self.store), env)

    async def report(self, rider: User, grid: str) -> Report:
        reporter = await self.account_id(rider)
        async with self.make_uow() as uow:
            location = GeoPoint(lat=39.915, lon=POINT_IN[grid])
            report = await submit(
                uow, self.env, reporter, category=NOISE, location=location, note="loud at night"
            )
            await uow.commit()
        return report

    async def mark_duplicate(self, staff: User, case: Report, of: Report) -> list[str]:
        await self.press(
            staff, return_with(self.store.data.reports[case.id], Reason.DUPLICATE).pack()
        )
        said = await self.text(staff, of.number)
        return [m.text or "" for m in said if m.chat_id == staff.chat_id]

    def followers(self, report: Report) -> set[int]:
        return {a for r, a in self.store.data.subscriptions if r == report.id}


async def _town() -> tuple[Town, Report]:
    """A town with a rider's case in G1, waiting to be accepted."""
    town = Town()
    await town.seed_map(MAP)
    case = await town.report(await town.person("rider"), "G1")
    return town, case


async def test_a_worker_cannot_mark_a_case_a_duplicate_of_a_report_outside_their_grids() -> None:
    town, case = await _town()
    worker = await town.person("worker", RoleName.GRID_WORKER, "G1")
    stranger = await town.person("stranger")
    for grid in ("G2", "G3"):  # a neighbouring grid of the same community, another community
        elsewhere = await town.report(stranger, grid)
        before = town.store.data.reports[case.id]

        said = await town.mark_duplicate(worker, case, elsewhere)

        # The answer a number that does not exist gets: nothing about a case out of sight.
        assert said == [f"No case {elsewhere.number} that you can see."], grid
        assert town.store.data.reports[case.id] == before, grid
        assert town.store.data.reports[case.id].status is ReportStatus.DISPATCHED
        assert town.followers(elsewhere) == set(), grid
        assert town.store.data.reports[elsewhere.id].status is ReportStatus.DISPATCHED
        await town.send(worker, Kind.COMMAND, command="cancel", text="/cancel")


async def test_a_finished_case_outside_the_workers_grids_is_answered_like_a_missing_number() -> (
    None
):
    # It used to answer "cannot be a duplicate of ... a finished case": that a case of that
    # number exists anywhere in the city, and that it is finished.
    town, case = await _town()
    worker = await town.person("worker", RoleName.GRID_WORKER, "G1")
    elsewhere = await town.report(await town.person("stranger"), "G3")
    town.store.data.reports[elsewhere.id] = replace(
        town.store.data.reports[elsewhere.id], status=ReportStatus.CLOSED
    )
    said = await town.mark_duplicate(worker, case, elsewhere)
    assert said == [f"No case {elsewhere.number} that you can see."]
    await town.send(worker, Kind.COMMAND, command="cancel", text="/cancel")
    assert await town.mark_duplicate(worker, case, replace(elsewhere, number="261126-9999")) == [
        "No case 261126-9999 that you can see."
    ]


async def test_a_finished_case_in_the_workers_grid_is_refused_as_finished() -> None:
    town, case = await _town()
    worker = await town.person("worker", RoleName.GRID_WORKER, "G1")
    done = await town.report(await town.person("first"), "G1")
    town.store.data.reports[done.id] = replace(
        town.store.data.reports[done.id], status=ReportStatus.CLOSED
    )
    said = await town.mark_duplicate(worker, case, done)
    assert said == ["A report cannot be a duplicate of itself or of a finished case."]


async def test_a_worker_marks_a_case_a_duplicate_of_a_report_in_their_own_grid() -> None:
    town, case = await _town()
    worker = await town.person("worker", RoleName.GRID_WORKER, "G1")
    original = await town.report(await town.person("first"), "G1")

    said = await town.mark_duplicate(worker, case, original)

    assert "Marked as a duplicate." in said
    assert town.store.data.reports[case.id].status is ReportStatus.MERGED
    assert town.store.data.reports[case.id].merged_into_id == original.id
    rider_id = town.store.data.reports[case.id].reporter_id
    assert town.followers(original) == {rider_id}


async def test_a_community_admin_marks_a_duplicate_of_another_grid_of_their_community() -> None:
    town, case = await _town()
    admin = await town.person("admin", RoleName.COMMUNITY_ADMIN, "C1")
    original = await town.report(await town.person("first"), "G2")

    said = await town.mark_duplicate(admin, case, original)

    assert "Marked as a duplicate." in said
    assert town.store.data.reports[case.id].merged_into_id == original.id
    assert town.followers(original) == {town.store.data.reports[case.id].reporter_id}
