"""What a rider is told where the map has no grids: the report is taken, and goes to the
finest unit the map has there — here a district — whose staff are named instead of a grid."""

from __future__ import annotations

from typing import Any

import pytest

from bot.chat import Location
from bot.domain.model import InformantStatus, Level, MapUnit, ReportStatus
from bot.services.maps import import_map
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.unit.test_report_flow import Rider, texts


def _square(x0: float, size: float) -> dict[str, Any]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


# 海港区 has one community with one grid in its west; 山海关区 has only its outline.
MAP = [
    MapUnit(
        code="130302",
        name="海港区",
        level=Level.DISTRICT,
        parent_code="130300",
        geometry=_square(119.50, 0.10),
    ),
    MapUnit(
        code="130303",
        name="山海关区",
        level=Level.DISTRICT,
        parent_code="130300",
        geometry=_square(119.60, 0.10),
    ),
    MapUnit(
        code="C1",
        name="东环社区",
        level=Level.COMMUNITY,
        parent_code="130302",
        geometry=_square(119.50, 0.03),
    ),
    MapUnit(
        code="G1",
        name="东环一网格",
        level=Level.GRID,
        parent_code="C1",
        geometry=_square(119.50, 0.03),
    ),
]
IN_SHANHAIGUAN = Location(lat=39.95, lon=119.65)  # WGS-84; the GCJ-02 shift stays inside
IN_G1 = Location(lat=39.915, lon=119.51)


@pytest.fixture
async def rider() -> Rider:
    store = FakeStore()
    await import_map(FakeUnitOfWork(store=store), MAP, replace=True)
    rider = Rider(store)
    await rider.register_as(InformantStatus.APPROVED)
    return rider


async def test_a_report_in_a_district_without_grids_is_filed_to_the_districts_staff(
    rider: Rider,
) -> None:
    said = texts(await rider.to_confirmation(where=IN_SHANHAIGUAN))
    assert "Goes to: 山海关区" in said
    assert "No grids are mapped here yet, so the staff of 山海关区 will handle it." in said

    said = texts(await rider.press("rep:submit"))
    assert "It went to the staff of 山海关区, who should accept it within" in said
    [report] = rider.store.data.reports.values()
    assert report.status is ReportStatus.DISPATCHED
    assert rider.store.data.regions[report.grid_id].code == "130303"


async def test_a_report_in_a_grid_of_the_same_map_still_names_its_grid(rider: Rider) -> None:
    said = texts(await rider.to_confirmation(where=IN_G1))
    assert "Goes to: 东环一网格, 东环社区" in said
    assert "No grids are mapped here" not in said
    said = texts(await rider.press("rep:submit"))
    assert "It went to 东环一网格." in said
