"""The sandbox in a real browser: Debian's Chromium driven by Playwright, headless.

The sandbox runs in-process (emulator + real python-telegram-bot + web chat) on free ports
with a temporary SQLite database; the page is driven the way a person would use it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.sandbox.demo import DEMO_GRID
from bot.sandbox.runtime import Sandbox, sandbox

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
DOCS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPORT_NUMBER = re.compile(r"\d{6}-\d{4}")

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    if os.environ.get("GRIDSNAP_TEST_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run `make browser` (needs root)")
    pytest.skip(f"{CHROMIUM} is missing; `make browser` installs it", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


class _SandboxThread:
    """The sandbox on its own event loop: Playwright's sync API owns the test's thread."""

    def __init__(self, tmp: Path) -> None:
        self.settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{tmp / 'sandbox.db'}",
            photo_dir=tmp / "photos",
            telegram_token=None,
            webhook_url=None,
            sandbox_port=0,
        )
        self.ready = threading.Event()
        self.running: Sandbox | None = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:
            self.error = exc
            self.ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with sandbox(self.settings) as running:
            self.running = running
            self.ready.set()
            await self._stop.wait()

    def start(self) -> Sandbox:
        self._thread.start()
        self.ready.wait(60)
        if self.running is None:
            raise RuntimeError(f"the sandbox did not start: {self.error!r}")
        return self.running

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="module")
def running_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    thread = _SandboxThread(tmp_path_factory.mktemp("sandbox"))
    try:
        yield thread.start()
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 400, "height": 780}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def _shot(page: Page, name: str, *, docs: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{name}.png")


def _click_label(page: Page, code: str) -> None:
    """Click where a unit's name is drawn (its inner point), as a person aiming at it would."""
    label = page.locator(f'#map text[data-code="{code}"]')
    expect(label).to_be_visible()
    box = label.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_persona_picker_links_every_persona_to_its_own_tab(running_sandbox: Sandbox, phone: Page):
    phone.goto(running_sandbox.url + "/")
    links = phone.locator("#personas a")
    expect(links).to_have_count(6)
    expect(phone.locator('a[data-persona="worker"]')).to_contain_text("李芳")
    assert phone.locator('a[data-persona="rider"]').get_attribute("href") == "/?as=rider"
    _shot(phone, "sandbox-personas")


def test_rider_reports_from_the_page_and_gets_a_number(running_sandbox: Sandbox, phone: Page):
    phone.goto(running_sandbox.url + "/?as=rider")
    expect(phone.locator("#who")).to_have_text("小王")

    phone.click("#plus")
    phone.click("#m-samples")
    phone.click('img[data-sample="manhole.jpg"]')
    expect(phone.locator(".msg.me img")).to_have_count(1)
    location_button = phone.locator("#replykb button").first
    expect(location_button).to_be_visible(timeout=15_000)

    location_button.click()
    expect(phone.locator("#mappicker")).to_be_visible()
    _click_label(phone, "130302006")  # zoom to 燕山大街街道
    _click_label(phone, DEMO_GRID)
    _shot(phone, "sandbox-map-picker")
    phone.click("#map-send")
    expect(phone.locator(".msg.me .bubble.place")).to_have_count(1)

    phone.locator('button[data-callback^="rep:cat:"]').first.click(timeout=15_000)
    phone.locator('button[data-callback="rep:skip"]').click(timeout=15_000)
    submit = phone.locator('button[data-callback="rep:submit"]')
    expect(submit).to_be_visible(timeout=15_000)
    assert "天洋新城社区" in phone.locator(".msg.bot .bubble").last.inner_text()
    submit.click()

    filed = phone.locator(".msg.bot .bubble", has_text=REPORT_NUMBER)
    expect(filed).to_have_count(1, timeout=15_000)
    _shot(phone, "sandbox-rider-report", docs=True)
    number = REPORT_NUMBER.search(filed.inner_text())
    assert number is not None


@pytest.mark.skipif(
    importlib.util.find_spec("handlers.worker") is None,
    reason="the grid-worker flow (handlers/worker.py) is not in the tree yet",
)
def test_grid_worker_sees_the_alert_for_her_grid(running_sandbox: Sandbox, phone: Page):
    phone.goto(running_sandbox.url + "/?as=worker")
    expect(phone.locator("#who")).to_have_text("李芳")
    alert = phone.locator(".msg.bot", has_text=REPORT_NUMBER)
    expect(alert.first).to_be_visible(timeout=20_000)
    _shot(phone, "sandbox-worker-alert", docs=True)
