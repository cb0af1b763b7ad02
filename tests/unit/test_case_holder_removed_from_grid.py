"""A worker who accepted a case and then left the grid holds it no more: the buttons their
colleagues press and the buttons they are offered follow ``cases.holder_id``, as the action
itself does. Driven through the real Dispatcher on the in-memory store.
"""

from __future__ import annotations

import pytest

from bot.chat import OutKind, User
from bot.domain.model import Report, ReportStatus, RoleName
from bot.services import staff
from tests.unit.test_worker_handlers import Bot, alerts, buttons_of


@pytest.fixture
async def bot() -> Bot:
    b = Bot()
    await b.seed()
    return b


async def _accepted_by_li(bot: Bot) -> tuple[User, Report]:
    """Li accepts a G1 case; Zhang, Li's colleague on G1, is returned with it."""
    holder = await bot.person("Li", RoleName.GRID_WORKER)
    colleague = await bot.person("Zhang", RoleName.GRID_WORKER)
    report = await bot.report()
    await bot.press(holder, f"w:acc:{report.id}:{report.version}")
    assert bot.stored(report).status is ReportStatus.ACCEPTED
    return colleague, bot.stored(report)


async def _remove_li(bot: Bot) -> None:
    async with bot.uow as uow:  # what `gridsnap staff remove` runs
        li = await uow.accounts.find("telegram", "Li")
        assert li is not None
        assert await staff.remove_staff(
            uow, account_id=li.id, role=RoleName.GRID_WORKER, region_code="G1"
        )
        await uow.commit()


async def test_a_colleague_may_resolve_a_case_whose_holder_was_removed(bot: Bot) -> None:
    colleague, report = await _accepted_by_li(bot)
    await _remove_li(bot)
    said = await bot.press(colleague, f"w:res:{report.id}:{report.version}")
    assert alerts(said) == []
    assert any("What was done?" in m.text for m in said if m.kind is OutKind.TEXT)
    await bot.text(colleague, "cover replaced")
    await bot.press(colleague, "wres:skip")
    assert bot.stored(report).status is ReportStatus.RESOLVED


async def test_a_colleague_is_offered_the_buttons_once_the_holder_was_removed(bot: Bot) -> None:
    colleague, report = await _accepted_by_li(bot)
    before = await bot.press(colleague, f"w:back:{report.id}:{report.version}")
    assert buttons_of(before) == []  # Li's case, while Li is on the grid
    await _remove_li(bot)
    after = await bot.press(colleague, f"w:back:{report.id}:{report.version}")
    assert buttons_of(after) == [
        f"w:res:{report.id}:{report.version}",
        f"w:ret:{report.id}:{report.version}",
        f"w:tr:{report.id}:{report.version}",
    ]


async def test_the_refusal_for_a_held_case_promises_no_admin_who_cannot_resolve(
    bot: Bot,
) -> None:
    colleague, report = await _accepted_by_li(bot)
    said = await bot.press(colleague, f"w:res:{report.id}:{report.version}")
    [refusal] = alerts(said)
    assert "Li has accepted this case" in refusal.text
    assert "grid leader" in refusal.text
    assert "admin" not in refusal.text
    assert bot.stored(report) == report
