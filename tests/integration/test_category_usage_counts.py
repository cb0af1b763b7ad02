"""Issue 3: reports per category since a cutoff, on SQLite, PostgreSQL and the fake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.domain.model import ReportStatus
from bot.services.ports import BaseUnitOfWork
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.storage_contract import T0, MakeUow, seed_account, seed_report


class CategoryCountsContract:
    async def test_counts_reports_per_category_since_the_cutoff_only(
        self, make_uow: MakeUow
    ) -> None:
        rider = await seed_account(make_uow)
        for _ in range(3):
            await seed_report(make_uow, rider, category_code="0402")
        await seed_report(make_uow, rider, category_code="0102", status=ReportStatus.CLOSED)
        await seed_report(make_uow, rider, category_code="0102", created_at=T0 - timedelta(days=1))
        await seed_report(make_uow, rider, category_code="0501", created_at=T0 - timedelta(days=31))
        async with make_uow() as uow:
            counts = await uow.reports.category_counts(T0 - timedelta(days=30))
        assert counts == {"0402": 3, "0102": 2}

    async def test_a_report_exactly_at_the_cutoff_counts(self, make_uow: MakeUow) -> None:
        rider = await seed_account(make_uow)
        await seed_report(make_uow, rider, category_code="0402")
        async with make_uow() as uow:
            assert await uow.reports.category_counts(T0) == {"0402": 1}
            assert await uow.reports.category_counts(T0 + timedelta(seconds=1)) == {}


class TestSqlCategoryCounts(CategoryCountsContract): ...  # make_uow from conftest


class TestFakeCategoryCounts(CategoryCountsContract):
    @pytest.fixture
    def make_uow(self) -> Callable[[], BaseUnitOfWork]:
        store = FakeStore()
        return lambda: FakeUnitOfWork(store=store)
