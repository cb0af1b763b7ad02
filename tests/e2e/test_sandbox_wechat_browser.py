"""The sandbox's WeChat and mixed modes in a real browser: the same page, its personas WeChat
followers of an Official Account whose server is the real bot, through the WeChat emulator
(mixed: the rider on WeChat, the staff on Telegram through the Bot API emulator).

The rider files a report from the page (photo, location picked on the map, category from a
msgmenu) and the grid worker gets the alert and accepts it: from its msgmenu on WeChat, from
its inline button on Telegram, the same case across both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.sandbox.demo import DEMO_GRID, DEMO_STREET
from bot.sandbox.runtime import WeChatSandbox, wechat_sandbox
from tests.e2e.test_sandbox_browser import (  # skips this module too where Chromium is missing
    CATEGORY,
    REPORT_NUMBER,
    WAIT_MS,
    _click_label,
    _expect_bot_says,
    _open_as,
    _SandboxThread,
    _send_sample,
    _shot,
    browser,
)

__all__ = ["browser"]  # the fixture, shared with the Telegram mode's browser tests

pytestmark = pytest.mark.browser


class _WeChatSandboxThread(_SandboxThread):
    def __init__(self, tmp: Path, *, mixed: bool = False) -> None:
        super().__init__(tmp)
        self.mixed = mixed

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with wechat_sandbox(self.settings, mixed=self.mixed) as running:
            self.running = running  # type: ignore[assignment]
            self.ready.set()
            await self._stop.wait()


@pytest.fixture(scope="module")
def wechat_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeChatSandbox]:
    thread = _WeChatSandboxThread(tmp_path_factory.mktemp("wechat-sandbox"))
    try:
        yield thread.start()  # type: ignore[misc]
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def mixed_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeChatSandbox]:
    thread = _WeChatSandboxThread(tmp_path_factory.mktemp("mixed-sandbox"), mixed=True)
    try:
        yield thread.start()  # type: ignore[misc]
    finally:
        thread.stop()


@pytest.fixture
def wechat_tabs(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 400, "height": 780}, locale="zh-CN")
    yield context
    context.close()


def _press_item(page: Page, prefix: str) -> None:
    """Tap the newest msgmenu item whose id starts with ``prefix``."""
    item = page.locator(f'.msg.bot button[data-callback^="{prefix}"]').last
    expect(item).to_be_visible(timeout=WAIT_MS)
    item.click()


def _report_on_wechat(rider: Page) -> str:
    """Photo, location from the + panel's map, category, Skip, Submit; the report number."""
    expect(rider.locator("body.wechat")).to_have_count(1)
    _send_sample(rider, "manhole.jpg")
    _expect_bot_says(rider, "To share a location: tap + below, then Location.")
    _send_location_from_the_map(rider)
    _press_item(rider, f"rep:cat:{CATEGORY}")
    _press_item(rider, "rep:skip")
    _press_item(rider, "rep:submit")
    filed = rider.locator(".msg.bot .bubble", has_text=REPORT_NUMBER)
    expect(filed.first).to_be_visible(timeout=WAIT_MS)
    number = REPORT_NUMBER.search(filed.last.inner_text())
    assert number is not None
    return number.group(0)


def _send_location_from_the_map(page: Page) -> None:
    page.click("#plus")
    page.click("#m-location")
    expect(page.locator("#mappicker")).to_be_visible()
    _click_label(page, DEMO_STREET)
    _click_label(page, DEMO_GRID)
    places = page.locator(".msg.me .bubble.place")
    before = places.count()
    page.click("#map-send")
    expect(places).to_have_count(before + 1)


def test_wechat_rider_reports_from_the_page_and_the_wechat_worker_accepts(
    wechat_running: WeChatSandbox, wechat_tabs: BrowserContext
) -> None:
    rider = _open_as(wechat_tabs, wechat_running.url, "rider", "小王")
    number = _report_on_wechat(rider)
    _shot(rider, "sandbox-wechat-rider-report", docs=True)

    worker = _open_as(wechat_tabs, wechat_running.url, "worker", "李芳")
    accept = worker.locator('.msg.bot button[data-callback^="w:acc:"]')
    expect(accept.last).to_be_visible(timeout=WAIT_MS)
    expect(worker.locator(".msg.bot", has_text=number).first).to_be_visible()
    expect(worker.locator(".msg.bot img").first).to_be_visible()  # the rider's photo
    accept.last.click()
    _expect_bot_says(
        rider, "Report {number} ({category}) was accepted by a grid worker.", number=number
    )
    _shot(worker, "sandbox-wechat-worker-alert")
    # Every push the emulator made was answered in time, with WeChat's signature checked.
    outcomes = {callback.outcome for callback in wechat_running.emulator.world.callbacks}
    assert outcomes == {"success"}


def test_a_new_wechat_rider_follows_the_account_and_registration_starts(
    wechat_running: WeChatSandbox, wechat_tabs: BrowserContext
) -> None:
    page = wechat_tabs.new_page()
    page.goto(f"{wechat_running.url}/?as=new")
    consent = page.locator('.msg.bot button[data-callback^="re"]')
    expect(consent.first).to_be_visible(timeout=WAIT_MS)
    # Following is WeChat's /start: the page sent no "/start" text of its own.
    expect(page.locator(".msg.me")).to_have_count(0)
    assert "as=u" in page.url


def test_mixed_mode_a_wechat_riders_report_is_accepted_by_a_telegram_worker(
    mixed_running: WeChatSandbox, wechat_tabs: BrowserContext
) -> None:
    picker = wechat_tabs.new_page()
    picker.goto(mixed_running.url + "/")
    expect(picker.locator('a[data-persona="rider"]')).to_contain_text("微信")
    expect(picker.locator('a[data-persona="worker"]')).to_contain_text("Telegram")

    rider = _open_as(wechat_tabs, mixed_running.url, "rider", "小王")
    number = _report_on_wechat(rider)

    worker = _open_as(wechat_tabs, mixed_running.url, "worker", "李芳")
    expect(worker.locator("body.wechat")).to_have_count(0)  # a Telegram chat
    accept = worker.locator('.msg.bot button[data-callback^="w:acc:"]')
    expect(accept).to_be_visible(timeout=WAIT_MS)
    expect(worker.locator(".msg.bot", has_text=number).first).to_be_visible()
    accept.click()
    expect(worker.locator("#toast")).to_contain_text(number, timeout=WAIT_MS)
    _expect_bot_says(
        rider, "Report {number} ({category}) was accepted by a grid worker.", number=number
    )
    _shot(rider, "sandbox-mixed-rider-accepted", docs=True)
    _shot(worker, "sandbox-mixed-telegram-worker")
